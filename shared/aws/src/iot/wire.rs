//! The AWS IoT credentials provider's HTTP format (request path, headers, success and error
//! bodies), shared by our client and kvs-local's server so both speak the same bytes.
//!
//! Sources: AWS IoT developer guide "Authorizing direct calls to AWS services using AWS IoT
//! Core credential provider" (request, header, success body); producer-c
//! `src/source/Common/IotCredentialProvider.c` (`parseIotResponse` reads `accessKeyId`,
//! `secretAccessKey`, `sessionToken`, `expiration`; the SDK sends the thing name header);
//! awslabs `aws-iot-core-credential-provider-session-helper` dev notes (a captured error
//! response: status 403, header `x-amzn-ErrorType: AccessDeniedException`, body
//! `{"message":"Certificate is invalid on this endpoint"}`).

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Request header naming the IoT thing (must be attached to the certificate).
pub const THING_NAME_HEADER: &str = "x-amzn-iot-thingname";

/// Response header carrying the error type on failures (e.g. `AccessDeniedException`).
pub const ERROR_TYPE_HEADER: &str = "x-amzn-ErrorType";

/// Path of the credentials request for `role_alias`: `/role-aliases/{alias}/credentials`.
///
/// Role aliases match `[\w=,@-]+` (IoT `CreateRoleAlias`), so no escaping is needed for a
/// valid alias; callers validate with [`is_valid_role_alias`] first.
pub fn credentials_path(role_alias: &str) -> String {
    format!("/role-aliases/{role_alias}/credentials")
}

/// Whether `alias` is a syntactically valid role alias (1–128 chars of `[A-Za-z0-9_=,@-]`,
/// IoT API reference `CreateRoleAlias`).
pub fn is_valid_role_alias(alias: &str) -> bool {
    (1..=128).contains(&alias.len())
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'=' | b',' | b'@' | b'-'))
}

/// The success body: `{"credentials":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IotCredentialsResponse {
    /// The temporary credentials.
    pub credentials: IotCredentials,
}

/// Temporary AWS credentials issued for a role alias. Secrets are zeroized on drop and never
/// printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
pub struct IotCredentials {
    /// Access key id (`ASIA…`); not secret.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token.
    pub session_token: String,
    /// When the credentials stop working, `2023-10-30T07:22:31Z` on the wire.
    #[serde(with = "expiration_format")]
    #[zeroize(skip)]
    pub expiration: OffsetDateTime,
}

impl fmt::Debug for IotCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IotCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &"** redacted **")
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl IotCredentials {
    /// Converts into the AWS SDK's credentials type (which also redacts its secrets).
    pub fn to_aws(&self, provider_name: &'static str) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.clone(),
            Some(self.session_token.clone()),
            Some(SystemTime::from(self.expiration)),
            provider_name,
        )
    }
}

/// The error body: `{"message":"…"}`, with the type in the [`ERROR_TYPE_HEADER`] header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IotErrorBody {
    /// Human-readable reason from the server.
    pub message: String,
}

impl IotCredentialsResponse {
    /// Encodes the body as the service sends it (compact JSON).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("serializing strings and a formatted date cannot fail")
    }

    /// Decodes a body; the error names the problem but never echoes the body (it holds secrets).
    pub fn from_json(bytes: &[u8]) -> Result<Self, IotFormatError> {
        serde_json::from_slice(bytes).map_err(|e| IotFormatError {
            line: e.line(),
            column: e.column(),
            category: format!("{:?}", e.classify()),
        })
    }
}

impl IotErrorBody {
    /// Encodes the body as the service sends it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("serializing a string cannot fail")
    }

    /// Decodes an error body, if it has the expected shape.
    pub fn from_json(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// A credentials body that is not the documented JSON. Carries only the position, never the
/// text, because the body contains secrets.
#[derive(Debug, Clone, thiserror::Error)]
#[error("IoT credentials response is not valid: {category} error at line {line}, column {column}")]
pub struct IotFormatError {
    /// Line of the problem (1-based).
    pub line: usize,
    /// Column of the problem (1-based).
    pub column: usize,
    /// serde_json's category (Syntax, Data, Eof).
    pub category: String,
}

/// `expiration` as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds) on output; any RFC 3339
/// timestamp on input.
mod expiration_format {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{OffsetDateTime, UtcOffset};

    pub(super) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        let text = t
            .to_offset(UtcOffset::UTC)
            .format(&fmt)
            .map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map_err(|e| D::Error::custom(format!("expiration {text:?} is not RFC 3339: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use time::macros::datetime;

    const DOC_BODY: &str = r#"{"credentials":{"accessKeyId":"ASIAEXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG","sessionToken":"IQoJb3JpZ2luX2Vj","expiration":"2023-10-30T07:22:31Z"}}"#;

    #[test]
    fn credentials_body_round_trips_byte_exact() {
        let parsed = IotCredentialsResponse::from_json(DOC_BODY.as_bytes()).unwrap();
        assert_eq!(parsed.credentials.access_key_id, "ASIAEXAMPLE");
        assert_eq!(
            parsed.credentials.expiration,
            datetime!(2023-10-30 07:22:31 UTC)
        );
        assert_eq!(parsed.to_json(), DOC_BODY);
    }

    #[test]
    fn expiration_with_offset_is_normalised_to_utc() {
        let body = DOC_BODY.replace("2023-10-30T07:22:31Z", "2023-10-30T09:22:31+02:00");
        let parsed = IotCredentialsResponse::from_json(body.as_bytes()).unwrap();
        assert_eq!(parsed.to_json(), DOC_BODY);
    }

    #[test]
    fn debug_and_errors_never_show_secrets() {
        let parsed = IotCredentialsResponse::from_json(DOC_BODY.as_bytes()).unwrap();
        let dbg = format!("{parsed:?}");
        assert!(
            !dbg.contains("wJalrXUtnFEMI") && !dbg.contains("IQoJb3JpZ2luX2Vj"),
            "{dbg}"
        );
        let broken = DOC_BODY.replace(
            "\"expiration\":\"2023-10-30T07:22:31Z\"",
            "\"expiration\":1",
        );
        let err = IotCredentialsResponse::from_json(broken.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("wJalrXUtnFEMI") && !err.contains("IQoJb3JpZ2luX2Vj"),
            "{err}"
        );
        assert!(IotCredentialsResponse::from_json(b"{\"credentials\":{}}").is_err());
    }

    #[test]
    fn error_body_matches_service_shape() {
        let body = IotErrorBody {
            message: "Certificate is invalid on this endpoint".into(),
        };
        assert_eq!(
            body.to_json(),
            r#"{"message":"Certificate is invalid on this endpoint"}"#
        );
        assert_eq!(
            IotErrorBody::from_json(body.to_json().as_bytes()),
            Some(body)
        );
    }

    #[test]
    fn role_alias_validation_and_path() {
        assert!(is_valid_role_alias("KvsCameraIoTRoleAlias"));
        assert!(is_valid_role_alias("a=b,c@d-e_f"));
        assert!(!is_valid_role_alias(""));
        assert!(!is_valid_role_alias("../x"));
        assert!(!is_valid_role_alias(&"a".repeat(129)));
        assert_eq!(credentials_path("alias"), "/role-aliases/alias/credentials");
    }
}
