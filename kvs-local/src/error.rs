//! Errors: [`Error`] for starting and running kvs-local, [`ApiError`] for the AWS error
//! shapes (status, `x-amzn-ErrorType`, JSON body) that clients receive.
//!
//! Service errors carry `{"Message": …}` (KVS API reference "Errors" sections; the SDK's
//! `json_errors::parse_error_metadata` reads `Message`/`message` and the code from the
//! `x-amzn-ErrorType` header). Authentication errors raised by AWS's front door carry a
//! lowercase `{"message": …}` (captured producer-c logs, e.g. producer-c issue #196:
//! `{"message":"The security token included in the request is expired"}`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use http::StatusCode;

/// Failure to start or run kvs-local (files, sockets, certificates, configuration).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read, written or created.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was attempted ("read", "write", "create directory", …).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON or INI file is malformed (only the position is reported: such files hold secrets).
    #[error("{path}: malformed {what} at line {line}, column {column}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the file was expected to be ("JSON", "stream metadata", "credentials file").
        what: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The configuration is inconsistent or out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// Generating, signing or parsing a certificate or key failed.
    #[error("certificate error ({what}): {message}")]
    Certificate {
        /// Which certificate or key.
        what: String,
        /// The underlying library's message (never key material).
        message: String,
    },
    /// Building the TLS configuration failed.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

impl Error {
    /// Shorthand for an [`Error::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A JSON decoding failure in `path`, reduced to its position (no content echoed).
    pub(crate) fn json(
        path: impl Into<PathBuf>,
        what: &'static str,
        e: &serde_json::Error,
    ) -> Self {
        Self::Malformed {
            path: path.into(),
            what,
            line: e.line(),
            column: e.column(),
        }
    }
}

/// Which key the error body uses for its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageKey {
    /// `{"Message": …}`: KVS service errors.
    Upper,
    /// `{"message": …}`: errors from AWS's authentication front door and the IoT endpoint.
    Lower,
}

/// An error answered to a client in AWS's shape.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiError {
    code: &'static str,
    status: StatusCode,
    message: String,
    key: MessageKey,
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

macro_rules! service_errors {
    ($( $(#[$doc:meta])* $fn:ident => $code:literal, $status:ident; )*) => {
        impl ApiError {
            $(
                $(#[$doc])*
                pub fn $fn(message: impl Into<String>) -> Self {
                    Self::new($code, StatusCode::$status, message, MessageKey::Upper)
                }
            )*
        }
    };
}

macro_rules! auth_errors {
    ($( $(#[$doc:meta])* $fn:ident => $code:literal, $status:ident; )*) => {
        impl ApiError {
            $(
                $(#[$doc])*
                pub fn $fn(message: impl Into<String>) -> Self {
                    Self::new($code, StatusCode::$status, message, MessageKey::Lower)
                }
            )*
        }
    };
}

// Status codes: KVS API reference, "Errors" of each operation and "Common Errors".
service_errors! {
    /// `ResourceNotFoundException` (404): no such stream.
    resource_not_found => "ResourceNotFoundException", NOT_FOUND;
    /// `ResourceInUseException` (400): the stream exists or is being deleted.
    resource_in_use => "ResourceInUseException", BAD_REQUEST;
    /// `InvalidArgumentException` (400): a parameter is missing or out of range.
    invalid_argument => "InvalidArgumentException", BAD_REQUEST;
    /// `ClientLimitExceededException` (400): throttled.
    client_limit_exceeded => "ClientLimitExceededException", BAD_REQUEST;
    /// `AccountStreamLimitExceededException` (400): too many streams.
    account_stream_limit_exceeded => "AccountStreamLimitExceededException", BAD_REQUEST;
    /// `NotAuthorizedException` (401): the caller may not use this stream.
    not_authorized => "NotAuthorizedException", UNAUTHORIZED;
    /// `AccessDeniedException` (403): an IAM policy denies the action.
    access_denied => "AccessDeniedException", FORBIDDEN;
    /// `TagsPerResourceExceededLimitException` (400): more than 50 tags.
    tags_per_resource_exceeded => "TagsPerResourceExceededLimitException", BAD_REQUEST;
    /// `VersionMismatchException` (400): `CurrentVersion` is not the stream's version.
    version_mismatch => "VersionMismatchException", BAD_REQUEST;
    /// `InvalidResourceFormatException` (400): the ARN is not a stream ARN.
    invalid_resource_format => "InvalidResourceFormatException", BAD_REQUEST;
    /// `SerializationException` (400): the body is not the expected JSON (guessed shape).
    serialization => "SerializationException", BAD_REQUEST;
    /// `UnknownOperationException` (404): no operation at this path (guessed shape).
    unknown_operation => "UnknownOperationException", NOT_FOUND;
    /// `InternalFailure` (500): server fault (also injected by fault rules).
    internal_failure => "InternalFailure", INTERNAL_SERVER_ERROR;
    /// `ServiceUnavailable` (503): server overloaded (injected by fault rules).
    service_unavailable => "ServiceUnavailable", SERVICE_UNAVAILABLE;
}

auth_errors! {
    /// `MissingAuthenticationTokenException` (403): no `Authorization` header.
    missing_authentication_token => "MissingAuthenticationTokenException", FORBIDDEN;
    /// `IncompleteSignatureException` (400): the `Authorization` header is malformed.
    incomplete_signature => "IncompleteSignatureException", BAD_REQUEST;
    /// `InvalidSignatureException` (403): wrong signature, scope or clock skew.
    invalid_signature => "InvalidSignatureException", FORBIDDEN;
    /// `UnrecognizedClientException` (403): unknown access key or session token.
    unrecognized_client => "UnrecognizedClientException", FORBIDDEN;
    /// `ExpiredTokenException` (403): temporary credentials past their expiration.
    expired_token => "ExpiredTokenException", FORBIDDEN;
}

impl ApiError {
    fn new(
        code: &'static str,
        status: StatusCode,
        message: impl Into<String>,
        key: MessageKey,
    ) -> Self {
        Self {
            code,
            status,
            message: message.into(),
            key,
        }
    }

    /// An IoT credentials-provider error: lowercase `message`, the given code and status.
    pub fn iot(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(code, status, message, MessageKey::Lower)
    }

    /// The error code sent in `x-amzn-ErrorType` (e.g. `ResourceNotFoundException`).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON body as AWS sends it.
    pub fn body_json(&self) -> String {
        let key = match self.key {
            MessageKey::Upper => "Message",
            MessageKey::Lower => "message",
        };
        let mut map = serde_json::Map::new();
        map.insert(
            key.to_owned(),
            serde_json::Value::String(self.message.clone()),
        );
        serde_json::Value::Object(map).to_string()
    }
}

impl From<kvs_e2ee_aws::sigv4::verify::VerifyError> for ApiError {
    fn from(e: kvs_e2ee_aws::sigv4::verify::VerifyError) -> Self {
        use kvs_e2ee_aws::sigv4::verify::VerifyError as V;
        match e {
            V::MissingAuthenticationToken(m) => Self::missing_authentication_token(m),
            V::IncompleteSignature(m) => Self::incomplete_signature(m),
            V::InvalidSignature(m) => Self::invalid_signature(m),
            other => Self::invalid_signature(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_and_auth_errors_use_their_message_keys() {
        let e = ApiError::resource_not_found("The requested stream is not found or not active.");
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            e.body_json(),
            r#"{"Message":"The requested stream is not found or not active."}"#
        );
        let e = ApiError::expired_token("The security token included in the request is expired");
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(e.code(), "ExpiredTokenException");
        assert_eq!(
            e.body_json(),
            r#"{"message":"The security token included in the request is expired"}"#
        );
    }

    #[test]
    fn message_with_quotes_is_escaped() {
        let e = ApiError::invalid_argument("bad \"name\"");
        assert_eq!(e.body_json(), r#"{"Message":"bad \"name\""}"#);
    }
}
