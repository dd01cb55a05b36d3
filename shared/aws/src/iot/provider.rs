//! The AWS IoT credentials provider client: fetches temporary AWS credentials for a role
//! alias over mutual TLS with the device certificate, caches them and refreshes them
//! before they expire. One instance serves the AWS SDK clients and our PutMedia signer.
//!
//! Refresh policy: a cached credential is reused while more than `refresh_margin` (default
//! 5 minutes) remains. The C producer refreshes when less than 38 s remain
//! (`docs/auth.md` in producer-sdk-cpp); a few minutes leaves room for a slow or failing
//! endpoint before a long PutMedia connection needs a new signature. Only one fetch runs at a
//! time: concurrent callers wait on the same lock and then reuse the fresh value.

use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::Mutex;

use super::wire::{
    ERROR_TYPE_HEADER, IotCredentialsResponse, IotErrorBody, IotFormatError, THING_NAME_HEADER,
    credentials_path, is_valid_role_alias,
};

/// Default time before expiry at which cached credentials are refreshed.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Default timeout of one credentials request (connect + TLS + response).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest response body read from the endpoint (a real one is ~1.5 KiB).
const MAX_BODY: usize = 64 * 1024;

/// Name reported in the SDK's `Credentials::provider_name`.
const PROVIDER_NAME: &str = "IotCredentialsProvider";

/// Where and how to ask for credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IotConfig {
    /// `xxxx.credentials.iot.<region>.amazonaws.com`, `host:port`, or `https://host[:port]`.
    pub endpoint: String,
    /// The role alias (`[\w=,@-]{1,128}`).
    pub role_alias: String,
    /// Thing name sent as `x-amzn-iot-thingname`.
    pub thing_name: String,
    /// Device certificate (PEM).
    pub cert_path: PathBuf,
    /// Device private key (PEM: `RSA PRIVATE KEY`, `EC PRIVATE KEY` or `PRIVATE KEY`).
    pub key_path: PathBuf,
    /// Root CA(s) the endpoint's certificate must chain to (PEM); the only roots trusted.
    pub ca_path: PathBuf,
    /// Refresh when less than this remains.
    pub refresh_margin: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl IotConfig {
    /// A config with the default margin and timeout.
    pub fn new(
        endpoint: impl Into<String>,
        role_alias: impl Into<String>,
        thing_name: impl Into<String>,
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
        ca_path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            role_alias: role_alias.into(),
            thing_name: thing_name.into(),
            cert_path: cert_path.into(),
            key_path: key_path.into(),
            ca_path: ca_path.into(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why credentials could not be obtained. Messages name the file or endpoint at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IotError {
    /// A certificate/key/CA file could not be read.
    #[error("IoT {what} file {path} cannot be read: {source}")]
    FileUnreadable {
        /// Which file ("CA", "certificate", "private key").
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM file holds no usable item of the expected kind.
    #[error("IoT {what} file {path} has no {expected}")]
    NoPemItem {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// What was looked for.
        expected: &'static str,
    },
    /// The private key is not an RSA, ECDSA (P-256/384/521) or Ed25519 key we can use.
    #[error("IoT private key {path} is not a supported RSA or ECDSA key: {reason}")]
    UnsupportedKey {
        /// The key file.
        path: PathBuf,
        /// rustls' reason.
        reason: String,
    },
    /// The device certificate's public key is not the private key's.
    #[error(
        "IoT device certificate {cert} and private key {key} do not match (the certificate was issued for another key)"
    )]
    KeyMismatch {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
    },
    /// The device certificate is outside its validity period (the server would refuse it
    /// with an opaque TLS alert).
    #[error(
        "IoT device certificate {path} is not valid now: valid from {not_before} to {not_after}"
    )]
    CertificateNotValidNow {
        /// Certificate file.
        path: PathBuf,
        /// Start of validity (RFC 2822 text).
        not_before: String,
        /// End of validity.
        not_after: String,
    },
    /// The device certificate could not be parsed.
    #[error("IoT device certificate {path} is not a valid X.509 certificate: {reason}")]
    BadCertificate {
        /// Certificate file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Bad configuration value.
    #[error("IoT provider configuration: {0}")]
    Config(String),
    /// The HTTPS client could not be built from the given certificate/key/CA.
    #[error("IoT provider: cannot build the TLS client: {0}")]
    TlsClient(String),
    /// The endpoint could not be reached or the TLS handshake failed.
    #[error("IoT credentials endpoint {endpoint} unreachable: {detail}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The transport error chain.
        detail: String,
    },
    /// The endpoint answered with an HTTP error (boxed: the details are large).
    #[error("{0}")]
    Refused(Box<Refusal>),
    /// The success body is not the documented JSON.
    #[error("IoT credentials endpoint {endpoint}: {source}")]
    BadResponse {
        /// The endpoint.
        endpoint: String,
        /// What was wrong.
        source: IotFormatError,
    },
    /// The endpoint issued credentials that are already expired or inside the refresh margin.
    #[error(
        "IoT credentials endpoint {endpoint} issued credentials expiring at {expiration}, within the refresh margin of {margin_secs} s"
    )]
    ExpiresTooSoon {
        /// The endpoint.
        endpoint: String,
        /// The expiration received.
        expiration: String,
        /// Margin in seconds.
        margin_secs: u64,
    },
}

/// An HTTP error from the credentials endpoint, with the server's explanation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("IoT credentials endpoint {endpoint} refused role alias {role_alias:?} for thing {thing:?}: HTTP {status}{}{}; {hint}",
    error_type.as_deref().map(|t| format!(" {t}")).unwrap_or_default(),
    message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
pub struct Refusal {
    /// The endpoint.
    pub endpoint: String,
    /// Role alias asked for.
    pub role_alias: String,
    /// Thing name sent.
    pub thing: String,
    /// HTTP status.
    pub status: u16,
    /// `x-amzn-ErrorType`, if sent.
    pub error_type: Option<String>,
    /// The server's `message`, if any.
    pub message: Option<String>,
    /// What usually causes this status.
    pub hint: &'static str,
}

/// Cached, refreshing credentials from the AWS IoT credentials provider.
#[derive(Clone)]
pub struct IotCredentialsProvider {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    url: reqwest::Url,
    endpoint: String,
    role_alias: String,
    thing_name: String,
    margin: Duration,
    ca_path: PathBuf,
    cache: Mutex<Option<Credentials>>,
}

impl fmt::Debug for IotCredentialsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IotCredentialsProvider")
            .field("url", &self.inner.url.as_str())
            .field("thing_name", &self.inner.thing_name)
            .field("margin", &self.inner.margin)
            .finish_non_exhaustive()
    }
}

impl IotCredentialsProvider {
    /// Reads and checks the certificate, key and CA files and builds the mTLS client. No
    /// request is made until credentials are first needed.
    pub fn new(config: &IotConfig) -> Result<Self, IotError> {
        if !is_valid_role_alias(&config.role_alias) {
            return Err(IotError::Config(format!(
                "role alias {:?} is not 1-128 characters of [A-Za-z0-9_=,@-]",
                config.role_alias
            )));
        }
        if config.thing_name.is_empty()
            || reqwest::header::HeaderValue::from_str(&config.thing_name).is_err()
        {
            return Err(IotError::Config(format!(
                "thing name {:?} is empty or not a valid header value",
                config.thing_name
            )));
        }
        let url = credentials_url(&config.endpoint, &config.role_alias)?;
        let client = build_client(config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                endpoint: url.authority().to_owned(),
                url,
                role_alias: config.role_alias.clone(),
                thing_name: config.thing_name.clone(),
                margin: config.refresh_margin,
                ca_path: config.ca_path.clone(),
                cache: Mutex::new(None),
            }),
        })
    }

    /// Current credentials, from the cache or freshly fetched.
    pub async fn credentials(&self) -> Result<Credentials, IotError> {
        let mut cache = self.inner.cache.lock().await;
        if let Some(creds) = cache.as_ref().filter(|c| self.still_fresh(c)) {
            return Ok(creds.clone());
        }
        let fresh = self.fetch().await?;
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    fn still_fresh(&self, creds: &Credentials) -> bool {
        creds
            .expiry()
            .is_some_and(|exp| SystemTime::now() + self.inner.margin < exp)
    }

    async fn fetch(&self) -> Result<Credentials, IotError> {
        let inner = &self.inner;
        tracing::debug!(url = %inner.url, thing = %inner.thing_name, "fetching IoT credentials");
        let response = inner
            .client
            .get(inner.url.clone())
            .header(THING_NAME_HEADER, &inner.thing_name)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let error_type = response
            .headers()
            .get(ERROR_TYPE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_bounded(response)
            .await
            .map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            return Err(IotError::Refused(Box::new(Refusal {
                endpoint: inner.endpoint.clone(),
                role_alias: inner.role_alias.clone(),
                thing: inner.thing_name.clone(),
                status: status.as_u16(),
                error_type,
                message: IotErrorBody::from_json(&body).map(|b| b.message),
                hint: hint_for(status.as_u16()),
            })));
        }
        let parsed =
            IotCredentialsResponse::from_json(&body).map_err(|source| IotError::BadResponse {
                endpoint: inner.endpoint.clone(),
                source,
            })?;
        let creds = parsed.credentials.to_aws(PROVIDER_NAME);
        if !self.still_fresh(&creds) {
            return Err(IotError::ExpiresTooSoon {
                endpoint: inner.endpoint.clone(),
                expiration: parsed.credentials.expiration.to_string(),
                margin_secs: inner.margin.as_secs(),
            });
        }
        Ok(creds)
    }

    fn unreachable(&self, err: &reqwest::Error) -> IotError {
        let mut detail = error_chain(err);
        if detail.contains("UnknownIssuer") {
            detail.push_str(&format!(
                " (the endpoint's certificate does not chain to a root in {})",
                self.inner.ca_path.display()
            ));
        }
        IotError::Unreachable {
            endpoint: self.inner.endpoint.clone(),
            detail,
        }
    }
}

impl ProvideCredentials for IotCredentialsProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.credentials()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

/// What usually causes an HTTP error from the credentials endpoint.
fn hint_for(status: u16) -> &'static str {
    match status {
        400 => "the request is malformed (check the thing name)",
        401 | 403 => {
            "the certificate is not active/registered, is not attached to the thing, or its IoT policy does not allow iot:AssumeRoleWithCertificate on the role alias"
        }
        404 => "the role alias does not exist in this account and region",
        429 => "throttled; retry later",
        500..=599 => "server error; retry later",
        _ => "unexpected status",
    }
}

/// `https://{endpoint}/role-aliases/{alias}/credentials`, accepting a bare host or a URL.
fn credentials_url(endpoint: &str, role_alias: &str) -> Result<reqwest::Url, IotError> {
    let base = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("https://{endpoint}")
    };
    let mut url = reqwest::Url::parse(&base).map_err(|e| {
        IotError::Config(format!(
            "endpoint {endpoint:?} is not a host name or URL: {e}"
        ))
    })?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(IotError::Config(format!(
            "endpoint {endpoint:?} must be an https host"
        )));
    }
    url.set_path(&credentials_path(role_alias));
    url.set_query(None);
    Ok(url)
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, IotError> {
    std::fs::read(path).map_err(|source| IotError::FileUnreadable {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Loads the three files, checks the certificate/key pair, and builds the client.
fn build_client(config: &IotConfig) -> Result<reqwest::Client, IotError> {
    let ca_pem = read_file("CA", &config.ca_path)?;
    let cert_pem = read_file("certificate", &config.cert_path)?;
    let key_pem = read_file("private key", &config.key_path)?;
    let certs = pem_certs(&cert_pem, "certificate", &config.cert_path)?;
    // Fail early with a clear reason: reqwest reports a bad CA file only as "builder error".
    pem_certs(&ca_pem, "CA", &config.ca_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| IotError::NoPemItem {
        what: "private key",
        path: config.key_path.clone(),
        expected: "RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY block",
    })?;
    check_validity(&certs[0], &config.cert_path)?;
    check_key_pair(certs, &key, config)?;
    let mut identity_pem = cert_pem;
    identity_pem.push(b'\n');
    identity_pem.extend_from_slice(&key_pem);
    let identity = reqwest::Identity::from_pem(&identity_pem)
        .map_err(|e| IotError::TlsClient(error_chain(&e)))?;
    let roots = reqwest::Certificate::from_pem_bundle(&ca_pem)
        .map_err(|e| IotError::TlsClient(error_chain(&e)))?;
    reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only(roots)
        .identity(identity)
        .https_only(true)
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .build()
        .map_err(|e| IotError::TlsClient(error_chain(&e)))
}

fn pem_certs(
    pem: &[u8],
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, IotError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(IotError::NoPemItem {
            what,
            path: path.to_owned(),
            expected: "CERTIFICATE block",
        });
    }
    Ok(certs)
}

/// Refuses an expired or not-yet-valid device certificate with its dates.
fn check_validity(cert: &CertificateDer<'_>, path: &Path) -> Result<(), IotError> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert).map_err(|e| IotError::BadCertificate {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let validity = parsed.validity();
    if validity.is_valid() {
        return Ok(());
    }
    Err(IotError::CertificateNotValidNow {
        path: path.to_owned(),
        not_before: validity.not_before.to_string(),
        not_after: validity.not_after.to_string(),
    })
}

/// Compares the certificate's SubjectPublicKeyInfo with the one derived from the key.
fn check_key_pair(
    certs: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'_>,
    config: &IotConfig,
) -> Result<(), IotError> {
    let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(key).map_err(|e| {
        IotError::UnsupportedKey {
            path: config.key_path.clone(),
            reason: e.to_string(),
        }
    })?;
    match CertifiedKey::new(certs, signing_key).keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(IotError::KeyMismatch {
                cert: config.cert_path.clone(),
                key: config.key_path.clone(),
            })
        }
        Err(e) => Err(IotError::BadCertificate {
            path: config.cert_path.clone(),
            reason: e.to_string(),
        }),
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    Ok(body)
}

/// `error: cause: cause` — reqwest's top-level message alone ("error sending request") hides
/// the reason (connection refused, unknown issuer, …).
pub(crate) fn error_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
