//! SigV4 verification of incoming requests — the one verifier, which kvs-local runs on every
//! request and our tests run on what our clients send: parse the `Authorization` header
//! strictly (exactly `Credential`, `SignedHeaders` and `Signature`, each once; anything else
//! is refused), check scope and clock skew, then recompute the signature with `aws-sigv4`
//! over exactly the headers the client signed and compare in constant time.
//!
//! Works from the request head alone ([`http::request::Parts`]) plus a [`PayloadHash`], so a
//! streaming handler (PutMedia) can authenticate before reading its body: producer-c signs
//! the SHA-256 of the empty string for the streamed body ("Streaming treats this portion as
//! if the body were empty", `AwsV4Signer.c`), the Java producer signs `UNSIGNED-PAYLOAD`;
//! [`PayloadHash::Streaming`] accepts both.
//!
//! Error texts are those AWS sends (captured in producer SDK issues, e.g. producer-sdk-cpp
//! #1099 for "Signature expired"), each under the AWS exception it comes with
//! ([`VerifyError::code`]). Looking up the secret for the access key id, and the session
//! token rules, are the server's (kvs-local's `auth`).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::request::Parts;
use sha2::{Digest as _, Sha256};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Why a signature was refused: the AWS exception and AWS's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No `Authorization` header (`MissingAuthenticationTokenException`).
    #[error("{0}")]
    MissingAuthenticationToken(String),
    /// A malformed `Authorization` header or `x-amz-date` (`IncompleteSignatureException`).
    #[error("{0}")]
    IncompleteSignature(String),
    /// A well-formed signature that does not verify: scope, clock, signed headers, value
    /// (`InvalidSignatureException`).
    #[error("{0}")]
    InvalidSignature(String),
}

impl VerifyError {
    /// The AWS exception name.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
        }
    }

    fn missing_authentication_token(m: impl Into<String>) -> Self {
        Self::MissingAuthenticationToken(m.into())
    }

    fn incomplete_signature(m: impl Into<String>) -> Self {
        Self::IncompleteSignature(m.into())
    }

    fn invalid_signature(m: impl Into<String>) -> Self {
        Self::InvalidSignature(m.into())
    }
}

/// The only algorithm kvs-local (and KVS for these APIs) accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The SigV4 service name of every KVS API.
pub const SERVICE: &str = "kinesisvideo";

/// How far the request time may be from the server clock (AWS: 5 minutes).
pub const MAX_CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// `x-amz-content-sha256` value of an unsigned payload.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Which payload hash(es) the signature may cover.
#[derive(Debug, Clone, Copy)]
pub enum PayloadHash<'a> {
    /// The whole body was read: the hash is its SHA-256.
    Body(&'a [u8]),
    /// A streamed body (PutMedia): the client signed the empty-string hash or
    /// `UNSIGNED-PAYLOAD`; both are accepted, as AWS does.
    Streaming,
}

/// What a request's `Authorization` and `x-amz-*` headers claim.
#[derive(Debug, Clone)]
pub struct SignatureClaims {
    /// Access key id from the credential scope.
    pub access_key_id: String,
    /// Scope date (`YYYYMMDD`).
    pub scope_date: String,
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
    /// Signed header names, lowercase, in the client's order.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
    /// Request time from `x-amz-date`.
    pub request_time: OffsetDateTime,
    /// `x-amz-date` as sent.
    pub amz_date: String,
    /// `x-amz-security-token`, if sent.
    pub security_token: Option<String>,
}

impl SignatureClaims {
    /// Parses the SigV4 headers of `parts`. Errors are AWS's: `MissingAuthenticationToken`
    /// without an `Authorization` header, `IncompleteSignature` when it is malformed.
    pub fn parse(parts: &Parts) -> Result<Self, VerifyError> {
        let Some(auth) = parts.headers.get(http::header::AUTHORIZATION) else {
            return Err(VerifyError::missing_authentication_token(
                "Missing Authentication Token",
            ));
        };
        let auth = auth
            .to_str()
            .map_err(|_| VerifyError::incomplete_signature("Authorization header is not ASCII"))?;
        let rest = auth.strip_prefix(ALGORITHM).ok_or_else(|| {
            VerifyError::incomplete_signature(format!(
                "Unsupported authorization type; only {ALGORITHM} is accepted"
            ))
        })?;
        let rest = rest.strip_prefix(' ').ok_or_else(|| {
            VerifyError::incomplete_signature(format!(
                "Unsupported authorization type; only {ALGORITHM} is accepted"
            ))
        })?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            let (key, value) = part.split_once('=').ok_or_else(|| {
                VerifyError::incomplete_signature(format!(
                    "Authorization header requires 'Credential', 'SignedHeaders' and \
                     'Signature' parameters as key=value pairs, got '{part}'"
                ))
            })?;
            let slot = match key {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => {
                    return Err(VerifyError::incomplete_signature(format!(
                        "Authorization header has an unknown parameter '{key}'"
                    )));
                }
            };
            if slot.replace(value).is_some() {
                return Err(VerifyError::incomplete_signature(format!(
                    "Authorization header has the parameter '{key}' twice"
                )));
            }
        }
        let missing = |what: &str| {
            VerifyError::incomplete_signature(format!(
                "Authorization header requires '{what}' parameter. Authorization={auth_type}",
                auth_type = ALGORITHM
            ))
        };
        let credential = credential.ok_or_else(|| missing("Credential"))?;
        let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| missing("Signature"))?;
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(VerifyError::incomplete_signature(format!(
                "Signature must be 64 hexadecimal digits, got '{signature}'"
            )));
        }

        let scope: Vec<&str> = credential.split('/').collect();
        let [akid, date, region, service, terminator] = scope.as_slice() else {
            return Err(VerifyError::incomplete_signature(format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
            )));
        };
        if *terminator != "aws4_request" {
            return Err(VerifyError::invalid_signature(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            )));
        }
        let amz_date = header_str(parts, "x-amz-date").ok_or_else(|| {
            VerifyError::incomplete_signature(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        })?;
        let request_time = parse_amz_date(amz_date).ok_or_else(|| {
            VerifyError::incomplete_signature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
            ))
        })?;
        Ok(Self {
            access_key_id: (*akid).to_owned(),
            scope_date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
            signed_headers: signed.split(';').map(str::to_ascii_lowercase).collect(),
            signature: signature.to_owned(),
            request_time,
            amz_date: amz_date.to_owned(),
            security_token: header_str(parts, "x-amz-security-token").map(str::to_owned),
        })
    }

    /// Checks the credential scope names `region` and the KVS service, dated the request day.
    pub fn check_scope(&self, region: &str) -> Result<(), VerifyError> {
        if self.service != SERVICE {
            return Err(VerifyError::invalid_signature(format!(
                "Credential should be scoped to correct service: '{SERVICE}'. "
            )));
        }
        if self.region != region {
            return Err(VerifyError::invalid_signature(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                self.region
            )));
        }
        if !self.amz_date.starts_with(&self.scope_date) {
            return Err(VerifyError::invalid_signature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                self.scope_date,
                self.amz_date.get(..8).unwrap_or(&self.amz_date),
                self.amz_date
            )));
        }
        Ok(())
    }

    /// Checks the request time is within [`MAX_CLOCK_SKEW`] of `now` (AWS's message texts).
    pub fn check_clock_skew(&self, now: OffsetDateTime) -> Result<(), VerifyError> {
        let earliest = now - MAX_CLOCK_SKEW;
        let latest = now + MAX_CLOCK_SKEW;
        if self.request_time < earliest {
            return Err(VerifyError::invalid_signature(format!(
                "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                self.amz_date,
                format_amz_date(earliest),
                format_amz_date(now)
            )));
        }
        if self.request_time > latest {
            return Err(VerifyError::invalid_signature(format!(
                "Signature not yet current: {} is still later than {} ({} + 5 min.)",
                self.amz_date,
                format_amz_date(latest),
                format_amz_date(now)
            )));
        }
        Ok(())
    }

    /// Recomputes the signature with `secret_access_key` (and `session_token` when the caller
    /// uses temporary credentials) and compares it with the one sent.
    pub fn verify_signature(
        &self,
        parts: &Parts,
        secret_access_key: &str,
        session_token: Option<&str>,
        payload: PayloadHash<'_>,
    ) -> Result<(), VerifyError> {
        let mismatch = || {
            VerifyError::invalid_signature(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details.",
            )
        };
        if !self.signed_headers.iter().any(|h| h == "host") {
            return Err(VerifyError::invalid_signature(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            ));
        }
        if !self.signed_headers.iter().any(|h| h == "x-amz-date") {
            return Err(VerifyError::invalid_signature(
                "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.",
            ));
        }
        let candidates: Vec<String> = match payload {
            PayloadHash::Body(body) => vec![hex::encode(Sha256::digest(body))],
            PayloadHash::Streaming => vec![EMPTY_SHA256.to_owned(), UNSIGNED_PAYLOAD.to_owned()],
        };
        for hash in candidates {
            let expected = self
                .compute_signature(parts, secret_access_key, session_token, hash)
                .ok_or_else(mismatch)?;
            if constant_time_eq(expected.as_bytes(), self.signature.as_bytes()) {
                return Ok(());
            }
        }
        Err(mismatch())
    }

    /// The signature `aws-sigv4` computes for this request, or `None` if the signed headers
    /// cannot form a canonical request (non-ASCII value, signed header absent).
    fn compute_signature(
        &self,
        parts: &Parts,
        secret_access_key: &str,
        session_token: Option<&str>,
        payload_hash: String,
    ) -> Option<String> {
        // aws-sigv4 adds x-amz-date (from `time`) and x-amz-security-token (from the
        // credentials) itself; every other signed header is passed through as sent.
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(self.signed_headers.len());
        for name in &self.signed_headers {
            if name == "x-amz-date" || name == "x-amz-security-token" {
                continue;
            }
            let values = parts.headers.get_all(name.as_str());
            let mut any = false;
            for v in values {
                headers.push((name.as_str(), v.to_str().ok()?));
                any = true;
            }
            if !any {
                return None;
            }
        }
        let token_signed = self
            .signed_headers
            .iter()
            .any(|h| h == "x-amz-security-token");
        let mut settings = SigningSettings::default();
        // Sign exactly what the client listed: no default exclusions (producer-c signs
        // user-agent, which the SDK's defaults would skip).
        settings.excluded_headers = Some(Vec::new());
        settings.session_token_mode = if token_signed {
            SessionTokenMode::Include
        } else {
            SessionTokenMode::Exclude
        };
        let identity: Identity = Credentials::new(
            &self.access_key_id,
            secret_access_key,
            session_token.map(str::to_owned),
            None,
            "kvs-local-verifier",
        )
        .into();
        let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(SystemTime::from(self.request_time))
            .settings(settings)
            .build()
            .ok()?
            .into();
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let request = SignableRequest::new(
            parts.method.as_str(),
            path_and_query,
            headers.into_iter(),
            SignableBody::Precomputed(payload_hash),
        )
        .ok()?;
        let output = sign(request, &params).ok()?;
        Some(output.signature().to_owned())
    }
}

fn header_str<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(s, &fmt)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// Formats `t` as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

/// Compares two byte strings in time independent of where they differ, so the signature
/// check leaks nothing about a forged signature's correct prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use aws_sigv4::http_request::SigningSettings;

    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    /// Signs a request the way a client does (aws-sigv4 with default settings) and returns
    /// its parts.
    fn signed_parts(
        body: &[u8],
        signable: SignableBody<'_>,
        token: Option<&str>,
        at: OffsetDateTime,
        extra: &[(&str, &str)],
    ) -> Parts {
        let identity: Identity =
            Credentials::new(AKID, SECRET, token.map(str::to_owned), None, "test").into();
        let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("kinesisvideo")
            .time(SystemTime::from(at))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut req = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:4567/describeStream")
            .header("host", "127.0.0.1:4567")
            .header("content-type", "application/json");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let mut req = req.body(body.to_vec()).unwrap();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let signable_req = SignableRequest::new(
            "POST",
            "http://127.0.0.1:4567/describeStream",
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            signable,
        )
        .unwrap();
        let (instructions, _) = sign(signable_req, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut req);
        req.into_parts().0
    }

    #[test]
    fn accepts_a_body_signed_by_aws_sigv4() {
        let now = OffsetDateTime::now_utc();
        let body = br#"{"StreamName":"cam1"}"#;
        let parts = signed_parts(body, SignableBody::Bytes(body), None, now, &[]);
        let claims = SignatureClaims::parse(&parts).unwrap();
        claims.check_scope("us-east-1").unwrap();
        claims.check_clock_skew(now).unwrap();
        claims
            .verify_signature(&parts, SECRET, None, PayloadHash::Body(body))
            .unwrap();
        let err = claims
            .verify_signature(&parts, SECRET, None, PayloadHash::Body(b"{}"))
            .unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        let err = claims
            .verify_signature(&parts, "wrong", None, PayloadHash::Body(body))
            .unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
    }

    #[test]
    fn streaming_accepts_empty_hash_and_unsigned_payload() {
        let now = OffsetDateTime::now_utc();
        for signable in [SignableBody::Bytes(&[]), SignableBody::UnsignedPayload] {
            let parts = signed_parts(b"", signable, Some("tok"), now, &[("user-agent", "x")]);
            let claims = SignatureClaims::parse(&parts).unwrap();
            assert_eq!(claims.security_token.as_deref(), Some("tok"));
            claims
                .verify_signature(&parts, SECRET, Some("tok"), PayloadHash::Streaming)
                .unwrap();
            let err = claims
                .verify_signature(&parts, SECRET, Some("other"), PayloadHash::Streaming)
                .unwrap_err();
            assert_eq!(err.code(), "InvalidSignatureException");
        }
        // A streamed body signed over real bytes is not what PutMedia clients send.
        let parts = signed_parts(b"x", SignableBody::Bytes(b"x"), None, now, &[]);
        let claims = SignatureClaims::parse(&parts).unwrap();
        assert!(
            claims
                .verify_signature(&parts, SECRET, None, PayloadHash::Streaming)
                .is_err()
        );
    }

    #[test]
    fn skew_and_scope_errors_have_aws_texts() {
        let now = OffsetDateTime::now_utc();
        let old = now - time::Duration::minutes(6);
        let parts = signed_parts(b"", SignableBody::Bytes(b""), None, old, &[]);
        let claims = SignatureClaims::parse(&parts).unwrap();
        let err = claims.check_clock_skew(now).unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        assert!(err.to_string().starts_with("Signature expired: "), "{err}");
        assert!(err.to_string().ends_with(" - 5 min.)"), "{err}");
        let future = now + time::Duration::minutes(6);
        let parts = signed_parts(b"", SignableBody::Bytes(b""), None, future, &[]);
        let err = SignatureClaims::parse(&parts)
            .unwrap()
            .check_clock_skew(now)
            .unwrap_err();
        assert!(
            err.to_string().starts_with("Signature not yet current"),
            "{err}"
        );
        let err = claims.check_scope("eu-west-1").unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
    }

    #[test]
    fn malformed_authorization_is_rejected_without_panic() {
        let mut parts = http::Request::new(()).into_parts().0;
        let err = SignatureClaims::parse(&parts).unwrap_err();
        assert_eq!(err.code(), "MissingAuthenticationTokenException");
        for bad in [
            "Basic abc",
            "AWS4-HMAC-SHA256 Credential=a/b",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
            // Strict: exactly the three parameters, each once, and a 64-digit hex signature.
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31, Extra=1",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, Credential=x/b/c/d/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=zz",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature",
            "AWS4-HMAC-SHA256Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ] {
            parts
                .headers
                .insert("authorization", http::HeaderValue::from_static(bad));
            let err = SignatureClaims::parse(&parts).unwrap_err();
            assert_eq!(err.code(), "IncompleteSignatureException", "{bad}");
        }
        assert!(parse_amz_date("20240101T000000Z").is_some());
        assert!(parse_amz_date("2024-01-01").is_none());
    }
}
