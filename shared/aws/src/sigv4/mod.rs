//! AWS Signature Version 4 for the requests we build by hand (PutMedia), and in [`verify`]
//! the one verifier — kvs-local runs it on every request, our tests on what our clients
//! send — both on the `aws-sigv4` crate so neither side carries a hand-written signer.
//!
//! # What the C producer signs (producer-c `src/source/Common/AwsV4Signer.{c,h}`)
//! - Every request header except `authorization`, `content-type`, `content-length` and
//!   `x-amz-security-token` (`IS_CANONICAL_HEADER_NAME`). So for PutMedia: `connection`,
//!   `host`, `transfer-encoding`, `user-agent`, `x-amz-date` and the `x-amzn-*` headers.
//!   (`aws-sigv4`'s defaults would skip `user-agent` and `transfer-encoding`; we do not.)
//! - The payload hash of a streaming kinesisvideo request is SHA-256 of the **empty string**
//!   ("Streaming treats this portion as if the body were empty"); no
//!   `x-amz-content-sha256` header is sent.
//! - `x-amz-security-token` is added *after* signing, i.e. sent but not signed.
//! - It also sends `content-type: application/json` (unsigned) on every request.
//!
//! The Java producer signs `UNSIGNED-PAYLOAD` instead; [`verify::PayloadHash::Streaming`]
//! accepts both, as AWS does.

pub mod verify;

use std::borrow::Cow;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SessionTokenMode, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, Request};
use time::OffsetDateTime;
use time::macros::format_description;

/// SigV4 service name of Kinesis Video Streams (control and data plane).
pub const KVS_SERVICE: &str = "kinesisvideo";

/// Which payload hash goes into the canonical request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadSigning<'a> {
    /// SHA-256 of the empty string: what producer-c does for streaming PutMedia.
    EmptyBody,
    /// The literal `UNSIGNED-PAYLOAD` (Java producer).
    UnsignedPayload,
    /// SHA-256 of these bytes (ordinary requests with a known body).
    Bytes(&'a [u8]),
}

impl<'a> PayloadSigning<'a> {
    fn signable(self) -> SignableBody<'a> {
        match self {
            Self::EmptyBody => SignableBody::Bytes(&[]),
            Self::UnsignedPayload => SignableBody::UnsignedPayload,
            Self::Bytes(b) => SignableBody::Bytes(b),
        }
    }
}

/// Whether the session token is part of the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPlacement {
    /// Sent as `x-amz-security-token` but not signed (producer-c).
    AppendedUnsigned,
    /// Sent and listed in `SignedHeaders` (AWS SDKs).
    Signed,
}

/// Signing choices. [`SigningPolicy::producer_c`] is what [`sign_request`] uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningPolicy {
    /// Headers present on the request that are left out of the signature (lower case).
    pub unsigned_headers: Vec<&'static str>,
    /// Where the session token goes.
    pub token: TokenPlacement,
}

impl SigningPolicy {
    /// The C producer SDK's choices (module docs).
    pub fn producer_c() -> Self {
        Self {
            unsigned_headers: vec!["authorization", "content-type", "content-length"],
            token: TokenPlacement::AppendedUnsigned,
        }
    }

    /// AWS SDK defaults: token signed; `user-agent`/`transfer-encoding` unsigned.
    pub fn aws_sdk() -> Self {
        Self {
            unsigned_headers: vec![
                "authorization",
                "user-agent",
                "x-amzn-trace-id",
                "transfer-encoding",
            ],
            token: TokenPlacement::Signed,
        }
    }

    fn settings(&self) -> SigningSettings {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.excluded_headers = Some(
            self.unsigned_headers
                .iter()
                .map(|h| Cow::Borrowed(*h))
                .collect(),
        );
        settings.session_token_mode = match self.token {
            TokenPlacement::AppendedUnsigned => SessionTokenMode::Exclude,
            TokenPlacement::Signed => SessionTokenMode::Include,
        };
        settings
    }
}

/// Signing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// A header value is not visible ASCII, so it cannot be canonicalised.
    #[error("SigV4: header {name} has a value that is not visible ASCII")]
    HeaderNotAscii {
        /// The header.
        name: String,
    },
    /// The request has neither a `host` header nor an absolute URI.
    #[error("SigV4: request to {uri} has no host (absolute URI or host header needed)")]
    NoHost {
        /// The URI.
        uri: String,
    },
    /// aws-sigv4 refused the request or parameters.
    #[error("SigV4: signing failed: {0}")]
    Signing(String),
}

fn identity(creds: &Credentials) -> Identity {
    creds.clone().into()
}

/// Signs `req` the way the C producer SDK signs PutMedia: adds `x-amz-date`,
/// `authorization` and (temporary credentials) `x-amz-security-token`.
pub fn sign_request<B>(
    req: &mut Request<B>,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    payload: PayloadSigning<'_>,
) -> Result<(), SigV4Error> {
    sign_request_with(
        req,
        creds,
        region,
        service,
        time,
        payload,
        &SigningPolicy::producer_c(),
    )
}

/// [`sign_request`] with an explicit [`SigningPolicy`].
pub fn sign_request_with<B>(
    req: &mut Request<B>,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    payload: PayloadSigning<'_>,
    policy: &SigningPolicy,
) -> Result<(), SigV4Error> {
    if !req.headers().contains_key(http::header::HOST) && req.uri().host().is_none() {
        return Err(SigV4Error::NoHost {
            uri: req.uri().to_string(),
        });
    }
    let headers = ascii_headers(req.headers())?;
    let uri = req.uri().to_string();
    let identity = identity(creds);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(policy.settings())
        .build()
        .map_err(|e| SigV4Error::Signing(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri.as_str(),
        headers.iter().map(|(n, v)| (*n, *v)),
        payload.signable(),
    )
    .map_err(|e| SigV4Error::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SigV4Error::Signing(e.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

fn ascii_headers(headers: &HeaderMap) -> Result<Vec<(&str, &str)>, SigV4Error> {
    headers
        .iter()
        .map(|(name, value)| {
            value
                .to_str()
                .map(|v| (name.as_str(), v))
                .map_err(|_| SigV4Error::HeaderNotAscii {
                    name: name.as_str().to_owned(),
                })
        })
        .collect()
}

/// Formats `t` as SigV4's `YYYYMMDDTHHMMSSZ` (handy for tests and logs).
pub fn amz_date(t: SystemTime) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    OffsetDateTime::from(t)
        .format(&format)
        .expect("formatting a UTC date with numeric components cannot fail")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::verify::{PayloadHash, SignatureClaims, VerifyError};
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};

    /// Credentials and time of the AWS SigV4 test suite (`aws-signing-test-suite/v4`).
    fn suite_creds(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        )
    }

    fn suite_time() -> SystemTime {
        SystemTime::from(time::macros::datetime!(2015-08-30 12:36:00 UTC))
    }

    /// The request's head, as a server receives it at `path`.
    fn parts_of<B>(req: &Request<B>, path: &str) -> http::request::Parts {
        let mut r = Request::builder()
            .method(req.method())
            .uri(path)
            .body(())
            .unwrap();
        *r.headers_mut() = req.headers().clone();
        r.into_parts().0
    }

    fn claims_of<B>(req: &Request<B>) -> SignatureClaims {
        SignatureClaims::parse(&parts_of(req, "/")).unwrap()
    }

    fn signature_of<B>(req: &Request<B>) -> String {
        claims_of(req).signature
    }

    #[test]
    fn matches_aws_test_suite_get_vanilla_and_session_token() {
        // Published vectors: get-vanilla and get-vanilla-with-session-token.
        let mut req = Request::get("https://example.amazonaws.com/")
            .body(())
            .unwrap();
        let policy = SigningPolicy::aws_sdk();
        sign_request_with(
            &mut req,
            &suite_creds(None),
            "us-east-1",
            "service",
            suite_time(),
            PayloadSigning::EmptyBody,
            &policy,
        )
        .unwrap();
        assert_eq!(
            signature_of(&req),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );

        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let mut req = Request::get("https://example.amazonaws.com/")
            .body(())
            .unwrap();
        sign_request_with(
            &mut req,
            &suite_creds(Some(token)),
            "us-east-1",
            "service",
            suite_time(),
            PayloadSigning::EmptyBody,
            &policy,
        )
        .unwrap();
        assert_eq!(
            signature_of(&req),
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        );
    }

    #[test]
    fn matches_aws_test_suite_post_vanilla() {
        let mut req = Request::post("https://example.amazonaws.com/")
            .body(())
            .unwrap();
        sign_request(
            &mut req,
            &suite_creds(None),
            "us-east-1",
            "service",
            suite_time(),
            PayloadSigning::EmptyBody,
        )
        .unwrap();
        assert_eq!(
            signature_of(&req),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }

    fn putmedia_request() -> Request<()> {
        Request::post("https://s-1234abcd.kinesisvideo.us-west-2.amazonaws.com/putMedia")
            .header("host", "s-1234abcd.kinesisvideo.us-west-2.amazonaws.com")
            .header("user-agent", "kvs-e2ee/0.1.0")
            .header("x-amzn-stream-name", "camera-1")
            .header("x-amzn-producer-start-timestamp", "1511852108.513")
            .header("x-amzn-fragment-acknowledgment-required", "1")
            .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
            .header("transfer-encoding", "chunked")
            .header("connection", "keep-alive")
            .header("content-type", "application/json")
            .body(())
            .unwrap()
    }

    fn hmac(key: &[u8], msg: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(msg.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The SigV4 algorithm written out independently (as botocore / the KVS Python PutMedia
    /// examples do) for producer-c's header choice, to check our policy, not aws-sigv4.
    fn independent_putmedia_signature(secret: &str, amz_date: &str) -> String {
        let canonical_headers = [
            "connection:keep-alive",
            "host:s-1234abcd.kinesisvideo.us-west-2.amazonaws.com",
            "transfer-encoding:chunked",
            "user-agent:kvs-e2ee/0.1.0",
            &format!("x-amz-date:{amz_date}"),
            "x-amzn-fragment-acknowledgment-required:1",
            "x-amzn-fragment-timecode-type:ABSOLUTE",
            "x-amzn-producer-start-timestamp:1511852108.513",
            "x-amzn-stream-name:camera-1",
        ]
        .map(|h| format!("{h}\n"))
        .concat();
        let signed = "connection;host;transfer-encoding;user-agent;x-amz-date;x-amzn-fragment-acknowledgment-required;x-amzn-fragment-timecode-type;x-amzn-producer-start-timestamp;x-amzn-stream-name";
        let empty_hash = hex::encode(Sha256::digest(b""));
        let creq = format!("POST\n/putMedia\n\n{canonical_headers}\n{signed}\n{empty_hash}");
        let scope = format!("{}/us-west-2/kinesisvideo/aws4_request", &amz_date[..8]);
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(creq.as_bytes()))
        );
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), &amz_date[..8]);
        let k_region = hmac(&k_date, "us-west-2");
        let k_service = hmac(&k_region, "kinesisvideo");
        let k_signing = hmac(&k_service, "aws4_request");
        hex::encode(hmac(&k_signing, &sts))
    }

    #[test]
    fn putmedia_signature_matches_independent_producer_c_computation() {
        let creds = Credentials::new(
            "ASIAEXAMPLE",
            "secretKEY/123",
            Some("TOKEN+/=".into()),
            None,
            "test",
        );
        let t = SystemTime::from(time::macros::datetime!(2017-11-28 07:08:28 UTC));
        let mut req = putmedia_request();
        sign_request(
            &mut req,
            &creds,
            "us-west-2",
            KVS_SERVICE,
            t,
            PayloadSigning::EmptyBody,
        )
        .unwrap();
        let auth = claims_of(&req);
        assert_eq!(
            auth.signature,
            independent_putmedia_signature("secretKEY/123", "20171128T070828Z")
        );
        assert!(
            !auth
                .signed_headers
                .iter()
                .any(|h| h == "x-amz-security-token" || h == "content-type")
        );
        assert_eq!(req.headers()["x-amz-security-token"], "TOKEN+/=");
        assert_eq!(req.headers()["x-amz-date"], "20171128T070828Z");
        assert!(!req.headers().contains_key("x-amz-content-sha256"));
    }

    #[test]
    fn verify_accepts_both_token_placements_and_payload_conventions() {
        let t = time::macros::datetime!(2024-01-02 03:04:05 UTC);
        let creds = Credentials::new("ASIAEXAMPLE", "s3cr3t", Some("tok".into()), None, "test");
        for (policy, payload) in [
            (SigningPolicy::producer_c(), PayloadSigning::EmptyBody),
            (SigningPolicy::aws_sdk(), PayloadSigning::UnsignedPayload),
        ] {
            let mut req = putmedia_request();
            sign_request_with(
                &mut req,
                &creds,
                "us-west-2",
                KVS_SERVICE,
                SystemTime::from(t),
                payload,
                &policy,
            )
            .unwrap();
            let parts = parts_of(&req, "/putMedia");
            let claims = SignatureClaims::parse(&parts).unwrap();
            claims.check_scope("us-west-2").unwrap();
            claims
                .check_clock_skew(t + time::Duration::seconds(60))
                .unwrap();
            claims
                .verify_signature(&parts, "s3cr3t", Some("tok"), PayloadHash::Streaming)
                .unwrap();
        }
    }

    #[test]
    fn verify_rejects_tampering_wrong_secret_wrong_payload_old_signature_and_scope() {
        let t = time::macros::datetime!(2024-01-02 03:04:05 UTC);
        let creds = Credentials::new("ASIAEXAMPLE", "s3cr3t", Some("tok".into()), None, "test");
        let mut req = putmedia_request();
        sign_request(
            &mut req,
            &creds,
            "us-west-2",
            KVS_SERVICE,
            SystemTime::from(t),
            PayloadSigning::EmptyBody,
        )
        .unwrap();
        let parts = parts_of(&req, "/putMedia");
        let claims = SignatureClaims::parse(&parts).unwrap();
        let invalid = |r: Result<(), VerifyError>| {
            assert!(matches!(r, Err(VerifyError::InvalidSignature(_))), "{r:?}");
        };

        let mut tampered = parts.clone();
        tampered.headers.insert(
            "x-amzn-stream-name",
            http::HeaderValue::from_static("camera-2"),
        );
        invalid(claims.verify_signature(&tampered, "s3cr3t", Some("tok"), PayloadHash::Streaming));
        invalid(claims.verify_signature(&parts, "other", Some("tok"), PayloadHash::Streaming));
        invalid(claims.verify_signature(
            &parts,
            "s3cr3t",
            Some("tok"),
            PayloadHash::Body(b"not the empty body"),
        ));
        invalid(claims.check_clock_skew(t + verify::MAX_CLOCK_SKEW + time::Duration::seconds(1)));
        invalid(claims.check_scope("eu-west-1"));
        claims
            .verify_signature(&parts, "s3cr3t", Some("tok"), PayloadHash::Streaming)
            .unwrap();
    }

    #[test]
    fn sign_refuses_request_without_host() {
        let mut req = Request::post("/putMedia").body(()).unwrap();
        let err = sign_request(
            &mut req,
            &suite_creds(None),
            "us-east-1",
            KVS_SERVICE,
            suite_time(),
            PayloadSigning::EmptyBody,
        );
        assert!(matches!(err, Err(SigV4Error::NoHost { .. })));
    }

    #[test]
    fn amz_date_formats_utc() {
        assert_eq!(amz_date(suite_time()), "20150830T123600Z");
    }
}
