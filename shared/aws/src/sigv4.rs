//! AWS Signature Version 4 for the requests we build by hand (PutMedia), and the matching
//! verification that kvs-local runs, both on the `aws-sigv4` crate so neither side carries a
//! hand-written signer.
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
//! The Java producer signs `UNSIGNED-PAYLOAD` instead; [`verify_request`] accepts a list of
//! payload conventions so kvs-local can accept what AWS accepts.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SessionTokenMode, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use time::OffsetDateTime;
use time::macros::format_description;

/// SigV4 service name of Kinesis Video Streams (control and data plane).
pub const KVS_SERVICE: &str = "kinesisvideo";

/// How long a signature stays valid around the server's clock (AWS: 15 minutes, after which
/// it answers `InvalidSignatureException` "Signature expired").
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

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

/// Signing or verification failed.
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
    /// The `authorization` header is missing.
    #[error("SigV4: missing authorization header")]
    MissingAuthorization,
    /// The `authorization` header is not `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    #[error("SigV4: malformed authorization header: {reason}")]
    MalformedAuthorization {
        /// What is wrong.
        reason: &'static str,
    },
    /// `x-amz-date` is missing, malformed or disagrees with the credential scope.
    #[error("SigV4: bad x-amz-date: {reason}")]
    BadDate {
        /// What is wrong.
        reason: &'static str,
    },
    /// The signature is older or newer than [`MAX_CLOCK_SKEW`] allows.
    #[error(
        "SigV4: signature expired or from the future (signed at {signed_at}, skew limit {limit_secs} s)"
    )]
    Expired {
        /// The request's `x-amz-date`.
        signed_at: String,
        /// Allowed skew in seconds.
        limit_secs: u64,
    },
    /// The credential scope names another key, region or service.
    #[error("SigV4: credential scope mismatch: {what} is {found:?}, expected {expected:?}")]
    ScopeMismatch {
        /// Which part of the scope.
        what: &'static str,
        /// Value in the request.
        found: String,
        /// Value the server expects.
        expected: String,
    },
    /// `host` or `x-amz-date` is not among the signed headers.
    #[error("SigV4: required header {name} is not signed")]
    RequiredHeaderUnsigned {
        /// The header.
        name: &'static str,
    },
    /// A header listed in `SignedHeaders` is absent from the request.
    #[error("SigV4: signed header {name} is missing from the request")]
    SignedHeaderMissing {
        /// The header.
        name: String,
    },
    /// Session token absent, unexpected or different from the one issued with the key.
    #[error("SigV4: security token {0}")]
    Token(&'static str),
    /// The recomputed signature differs.
    #[error("SigV4: signature does not match")]
    SignatureMismatch,
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

/// A parsed `authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id from the credential scope.
    pub access_key_id: String,
    /// `YYYYMMDD` from the scope.
    pub date: String,
    /// Region from the scope.
    pub region: String,
    /// Service from the scope.
    pub service: String,
    /// Signed header names, lower case, in the order given.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

impl Authorization {
    /// Parses `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request,
    /// SignedHeaders=host;x-amz-date, Signature=…`.
    pub fn parse(value: &str) -> Result<Self, SigV4Error> {
        let bad = |reason| SigV4Error::MalformedAuthorization { reason };
        let rest = value
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(bad("algorithm is not AWS4-HMAC-SHA256"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (key, val) = part
                .trim()
                .split_once('=')
                .ok_or(bad("component without '='"))?;
            let slot = match key {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(bad("unknown component")),
            };
            if slot.replace(val).is_some() {
                return Err(bad("duplicate component"));
            }
        }
        let credential = credential.ok_or(bad("no Credential"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [akid, date, region, service, "aws4_request"] = scope[..] else {
            return Err(bad(
                "Credential is not AKID/date/region/service/aws4_request",
            ));
        };
        let signature = signature.ok_or(bad("no Signature"))?;
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("Signature is not 64 hex digits"));
        }
        Ok(Self {
            access_key_id: akid.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_headers: signed
                .ok_or(bad("no SignedHeaders"))?
                .split(';')
                .map(str::to_owned)
                .collect(),
            signature: signature.to_owned(),
        })
    }
}

/// Reads the `authorization` header of a request (to look up the secret by access key id).
pub fn authorization_of(headers: &HeaderMap) -> Result<Authorization, SigV4Error> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(SigV4Error::MissingAuthorization)?
        .to_str()
        .map_err(|_| SigV4Error::MalformedAuthorization {
            reason: "not visible ASCII",
        })?;
    Authorization::parse(value)
}

/// What the verifier expects of a request.
#[derive(Debug, Clone)]
pub struct VerifyParams<'a> {
    /// The credentials issued for the access key id in the request.
    pub credentials: &'a Credentials,
    /// Expected region.
    pub region: &'a str,
    /// Expected service.
    pub service: &'a str,
    /// Server time.
    pub now: SystemTime,
    /// Payload conventions tried in order when `x-amz-content-sha256` is absent.
    pub payloads: &'a [PayloadSigning<'a>],
}

/// Verifies a SigV4-signed request by recomputing its signature with `aws-sigv4` over exactly
/// the headers it lists as signed. `uri` may be origin-form (`/putMedia`).
pub fn verify_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    params: &VerifyParams<'_>,
) -> Result<Authorization, SigV4Error> {
    let auth = authorization_of(headers)?;
    check_scope(&auth, params)?;
    let signed_at = signing_time(headers, &auth, params.now)?;
    for required in ["host", X_AMZ_DATE] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(SigV4Error::RequiredHeaderUnsigned { name: required });
        }
    }
    let token_signed = auth
        .signed_headers
        .iter()
        .any(|h| h == X_AMZ_SECURITY_TOKEN);
    check_token(headers, params.credentials)?;
    let copied = signed_header_values(headers, &auth)?;
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let policy = SigningPolicy {
        unsigned_headers: vec![],
        token: if token_signed {
            TokenPlacement::Signed
        } else {
            TokenPlacement::AppendedUnsigned
        },
    };
    let precomputed = headers
        .get(X_AMZ_CONTENT_SHA256)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bodies: Vec<SignableBody<'_>> = match &precomputed {
        Some(hash) => vec![SignableBody::Precomputed(hash.clone())],
        None => params.payloads.iter().map(|p| p.signable()).collect(),
    };
    let identity = identity(params.credentials);
    for body in bodies {
        let signing = v4::SigningParams::builder()
            .identity(&identity)
            .region(params.region)
            .name(params.service)
            .time(signed_at)
            .settings(policy.settings())
            .build()
            .map_err(|e| SigV4Error::Signing(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            path,
            copied.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            body,
        )
        .map_err(|e| SigV4Error::Signing(e.to_string()))?;
        let (_, signature) = sign(signable, &signing)
            .map_err(|e| SigV4Error::Signing(e.to_string()))?
            .into_parts();
        if constant_time_eq(signature.as_bytes(), auth.signature.as_bytes()) {
            return Ok(auth);
        }
    }
    Err(SigV4Error::SignatureMismatch)
}

fn check_scope(auth: &Authorization, params: &VerifyParams<'_>) -> Result<(), SigV4Error> {
    let checks = [
        (
            "access key id",
            &auth.access_key_id,
            params.credentials.access_key_id(),
        ),
        ("region", &auth.region, params.region),
        ("service", &auth.service, params.service),
    ];
    for (what, found, expected) in checks {
        if found != expected {
            return Err(SigV4Error::ScopeMismatch {
                what,
                found: found.clone(),
                expected: expected.to_owned(),
            });
        }
    }
    Ok(())
}

/// Parses `x-amz-date`, checks it against the scope date and the skew limit.
fn signing_time(
    headers: &HeaderMap,
    auth: &Authorization,
    now: SystemTime,
) -> Result<SystemTime, SigV4Error> {
    let bad = |reason| SigV4Error::BadDate { reason };
    let text = headers
        .get(X_AMZ_DATE)
        .ok_or(bad("header missing"))?
        .to_str()
        .map_err(|_| bad("not ASCII"))?;
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    let parsed = time::PrimitiveDateTime::parse(text, &format)
        .map_err(|_| bad("not YYYYMMDDTHHMMSSZ"))?
        .assume_utc();
    if text.get(..8) != Some(auth.date.as_str()) {
        return Err(bad("date differs from the credential scope date"));
    }
    let signed_at = SystemTime::from(parsed);
    let skew = match now.duration_since(signed_at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > MAX_CLOCK_SKEW {
        return Err(SigV4Error::Expired {
            signed_at: text.to_owned(),
            limit_secs: MAX_CLOCK_SKEW.as_secs(),
        });
    }
    Ok(signed_at)
}

fn check_token(headers: &HeaderMap, creds: &Credentials) -> Result<(), SigV4Error> {
    let sent = headers.get(X_AMZ_SECURITY_TOKEN).map(HeaderValue::as_bytes);
    match (creds.session_token(), sent) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(SigV4Error::Token("sent for long-term credentials")),
        (Some(_), None) => Err(SigV4Error::Token("missing for temporary credentials")),
        (Some(expected), Some(sent)) if constant_time_eq(expected.as_bytes(), sent) => Ok(()),
        (Some(_), Some(_)) => Err(SigV4Error::Token("does not match the access key")),
    }
}

/// The signed headers' values, except those the signer inserts itself.
fn signed_header_values(
    headers: &HeaderMap,
    auth: &Authorization,
) -> Result<Vec<(String, String)>, SigV4Error> {
    let mut out = Vec::new();
    for name in &auth.signed_headers {
        if name == X_AMZ_DATE || name == X_AMZ_SECURITY_TOKEN {
            continue;
        }
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            SigV4Error::MalformedAuthorization {
                reason: "SignedHeaders holds an invalid header name",
            }
        })?;
        let mut found = false;
        for value in headers.get_all(&header) {
            let value = value
                .to_str()
                .map_err(|_| SigV4Error::HeaderNotAscii { name: name.clone() })?;
            out.push((name.clone(), value.to_owned()));
            found = true;
        }
        if !found {
            return Err(SigV4Error::SignedHeaderMissing { name: name.clone() });
        }
    }
    Ok(out)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    fn signature_of<B>(req: &Request<B>) -> String {
        authorization_of(req.headers()).unwrap().signature
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
        let auth = authorization_of(req.headers()).unwrap();
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

    fn verify_params<'a>(
        creds: &'a Credentials,
        now: SystemTime,
        payloads: &'a [PayloadSigning<'a>],
    ) -> VerifyParams<'a> {
        VerifyParams {
            credentials: creds,
            region: "us-west-2",
            service: KVS_SERVICE,
            now,
            payloads,
        }
    }

    #[test]
    fn verify_accepts_both_token_placements_and_payload_conventions() {
        let creds = Credentials::new("ASIAEXAMPLE", "s3cr3t", Some("tok".into()), None, "test");
        let t = SystemTime::from(time::macros::datetime!(2024-01-02 03:04:05 UTC));
        let payloads = [PayloadSigning::EmptyBody, PayloadSigning::UnsignedPayload];
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
                t,
                payload,
                &policy,
            )
            .unwrap();
            let (parts, ()) = req.into_parts();
            let origin: Uri = "/putMedia".parse().unwrap();
            verify_request(
                &parts.method,
                &origin,
                &parts.headers,
                &verify_params(&creds, t + Duration::from_secs(60), &payloads),
            )
            .unwrap();
        }
    }

    #[test]
    fn verify_rejects_tampering_wrong_secret_token_and_old_signature() {
        let creds = Credentials::new("ASIAEXAMPLE", "s3cr3t", Some("tok".into()), None, "test");
        let t = SystemTime::from(time::macros::datetime!(2024-01-02 03:04:05 UTC));
        let payloads = [PayloadSigning::EmptyBody];
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
        let (parts, ()) = req.into_parts();
        let origin: Uri = "/putMedia".parse().unwrap();
        let params = verify_params(&creds, t, &payloads);

        let mut tampered = parts.headers.clone();
        tampered.insert("x-amzn-stream-name", HeaderValue::from_static("camera-2"));
        assert!(matches!(
            verify_request(&parts.method, &origin, &tampered, &params),
            Err(SigV4Error::SignatureMismatch)
        ));

        let other = Credentials::new("ASIAEXAMPLE", "other", Some("tok".into()), None, "test");
        assert!(matches!(
            verify_request(
                &parts.method,
                &origin,
                &parts.headers,
                &verify_params(&other, t, &payloads)
            ),
            Err(SigV4Error::SignatureMismatch)
        ));

        let mut no_token = parts.headers.clone();
        no_token.remove("x-amz-security-token");
        assert!(matches!(
            verify_request(&parts.method, &origin, &no_token, &params),
            Err(SigV4Error::Token(_))
        ));

        let late = verify_params(
            &creds,
            t + MAX_CLOCK_SKEW + Duration::from_secs(1),
            &payloads,
        );
        assert!(matches!(
            verify_request(&parts.method, &origin, &parts.headers, &late),
            Err(SigV4Error::Expired { .. })
        ));

        let unsigned_only = [PayloadSigning::UnsignedPayload];
        assert!(matches!(
            verify_request(
                &parts.method,
                &origin,
                &parts.headers,
                &verify_params(&creds, t, &unsigned_only)
            ),
            Err(SigV4Error::SignatureMismatch)
        ));
        let wrong_region = VerifyParams {
            region: "eu-west-1",
            ..params.clone()
        };
        assert!(matches!(
            verify_request(&parts.method, &origin, &parts.headers, &wrong_region),
            Err(SigV4Error::ScopeMismatch { what: "region", .. })
        ));
    }

    #[test]
    fn authorization_parser_rejects_malformed_headers() {
        let ok = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let parsed = Authorization::parse(ok).unwrap();
        assert_eq!(parsed.signed_headers, vec!["host", "x-amz-date"]);
        assert_eq!(parsed.region, "us-east-1");
        for bad in [
            "",
            "AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host, Signature=zz",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, Credential=x, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ] {
            assert!(Authorization::parse(bad).is_err(), "{bad}");
        }
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
