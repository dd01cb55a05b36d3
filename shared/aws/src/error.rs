//! Errors of KVS API calls: one classification of AWS error types shared by our PutMedia
//! client and the SDK-based wrappers (control plane, GetMedia, archive), so the producer and
//! consumer decide "retry or give up" the same way whichever API failed.

use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// AWS error classes KVS APIs answer with (API reference "Errors" sections plus the
/// common authentication errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceErrorKind {
    /// 401/403 `NotAuthorizedException`/`AccessDeniedException`: credentials lack permission.
    NotAuthorized,
    /// 404 `ResourceNotFoundException`: no such stream.
    ResourceNotFound,
    /// `ResourceInUseException`: e.g. creating a stream that exists.
    ResourceInUse,
    /// 400 `ClientLimitExceededException`/`ThrottlingException`: calls throttled.
    ClientLimitExceeded,
    /// 400 `ConnectionLimitExceededException`: too many concurrent media connections.
    ConnectionLimitExceeded,
    /// 403 `ExpiredTokenException`: the session token expired; refresh and retry.
    ExpiredToken,
    /// 403 `InvalidSignatureException`/`SignatureDoesNotMatch`: signing or clock problem.
    InvalidSignature,
    /// 400 `InvalidArgumentException`.
    InvalidArgument,
    /// 400 `InvalidEndpointException`: wrong data endpoint; call GetDataEndpoint again.
    InvalidEndpoint,
    /// The request never got an answer (connect, TLS, timeout).
    Transport,
    /// 5xx.
    Server,
    /// Anything else.
    Other,
}

impl ServiceErrorKind {
    /// Classifies an AWS error code (`NotAuthorizedException`) and HTTP status.
    pub fn classify(code: Option<&str>, status: Option<u16>) -> Self {
        match code {
            Some(
                "NotAuthorizedException" | "AccessDeniedException" | "UnrecognizedClientException",
            ) => Self::NotAuthorized,
            Some("ResourceNotFoundException") => Self::ResourceNotFound,
            Some("ResourceInUseException") => Self::ResourceInUse,
            Some("ClientLimitExceededException" | "ThrottlingException") => {
                Self::ClientLimitExceeded
            }
            Some("ConnectionLimitExceededException") => Self::ConnectionLimitExceeded,
            Some("ExpiredTokenException") => Self::ExpiredToken,
            Some(
                "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "IncompleteSignatureException",
            ) => Self::InvalidSignature,
            Some("InvalidArgumentException") => Self::InvalidArgument,
            Some("InvalidEndpointException") => Self::InvalidEndpoint,
            _ if status.is_some_and(|s| s >= 500) => Self::Server,
            _ => Self::Other,
        }
    }

    /// Whether trying again (after backoff, refreshed credentials or a new endpoint) can help:
    /// throttling, connection limits, expired tokens, a moved endpoint, transport failures and
    /// 5xx. Permission, missing stream, conflicts, bad arguments and bad signatures are not.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::ClientLimitExceeded
                | Self::ConnectionLimitExceeded
                | Self::ExpiredToken
                | Self::InvalidEndpoint
                | Self::Transport
                | Self::Server
        )
    }
}

/// A failed SDK call, with what was asked and what AWS answered.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ApiError {
    /// The operation (`DescribeStream`).
    pub operation: &'static str,
    /// What it was about (stream name/ARN).
    pub target: String,
    /// Classification.
    pub kind: ServiceErrorKind,
    /// AWS error code, if the service answered.
    pub code: Option<String>,
    /// AWS message, or the transport error chain.
    pub message: Option<String>,
    /// HTTP status, if any.
    pub status: Option<u16>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for {} failed", self.operation, self.target)?;
        if let Some(status) = self.status {
            write!(f, ": HTTP {status}")?;
        }
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl ApiError {
    /// Whether retrying can help ([`ServiceErrorKind::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// Maps an SDK error, keeping the AWS code/message or the transport cause.
    pub fn from_sdk<E>(
        operation: &'static str,
        target: impl Into<String>,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let (kind, code, message) = match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().map(str::to_owned);
                (
                    ServiceErrorKind::classify(e.code(), status),
                    code,
                    e.message().map(str::to_owned),
                )
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => (
                ServiceErrorKind::Transport,
                None,
                Some(DisplayErrorContext(&err).to_string()),
            ),
            _ => (
                ServiceErrorKind::classify(None, status),
                None,
                Some(DisplayErrorContext(&err).to_string()),
            ),
        };
        Self {
            operation,
            target: target.into(),
            kind,
            code,
            message,
            status,
        }
    }

    /// An error found in a response the SDK accepted (missing field, bad value).
    pub fn invalid_response(
        operation: &'static str,
        target: impl Into<String>,
        what: impl Into<String>,
    ) -> Self {
        Self {
            operation,
            target: target.into(),
            kind: ServiceErrorKind::Other,
            code: None,
            message: Some(format!("invalid response: {}", what.into())),
            status: None,
        }
    }
}

/// An error and its causes as one line for a user: `outer: cause: …`, each cause added
/// only if the text so far does not already say it (many errors print their source in
/// their own message, so walking the chain naively says it twice).
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_and_retry_policy() {
        let cases = [
            (
                "NotAuthorizedException",
                403,
                ServiceErrorKind::NotAuthorized,
                false,
            ),
            (
                "ResourceNotFoundException",
                404,
                ServiceErrorKind::ResourceNotFound,
                false,
            ),
            (
                "ResourceInUseException",
                400,
                ServiceErrorKind::ResourceInUse,
                false,
            ),
            (
                "ClientLimitExceededException",
                400,
                ServiceErrorKind::ClientLimitExceeded,
                true,
            ),
            (
                "ConnectionLimitExceededException",
                400,
                ServiceErrorKind::ConnectionLimitExceeded,
                true,
            ),
            (
                "ExpiredTokenException",
                403,
                ServiceErrorKind::ExpiredToken,
                true,
            ),
            (
                "InvalidSignatureException",
                403,
                ServiceErrorKind::InvalidSignature,
                false,
            ),
            (
                "InvalidArgumentException",
                400,
                ServiceErrorKind::InvalidArgument,
                false,
            ),
            (
                "InvalidEndpointException",
                400,
                ServiceErrorKind::InvalidEndpoint,
                true,
            ),
            ("SomethingNew", 503, ServiceErrorKind::Server, true),
            ("SomethingNew", 400, ServiceErrorKind::Other, false),
        ];
        for (code, status, kind, retry) in cases {
            let k = ServiceErrorKind::classify(Some(code), Some(status));
            assert_eq!((k, k.is_retryable()), (kind, retry), "{code}");
        }
    }

    #[test]
    fn report_says_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading x.key: {source}")]
        struct Outer {
            source: std::io::Error,
        }
        #[derive(Debug, thiserror::Error)]
        #[error("loading the identity")]
        struct Top {
            #[source]
            inner: Outer,
        }
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Top {
            inner: Outer { source: io },
        };
        assert_eq!(
            report(&e),
            "loading the identity: reading x.key: no such file"
        );
    }
}
