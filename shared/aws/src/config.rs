//! Client configuration shared by the SDK clients and our hand-built PutMedia client:
//! region, endpoint override and one credentials provider; and the process-wide rustls
//! crypto provider.
//!
//! Resolution order (what `aws-config` does, plus the IoT provider):
//! - region: explicit value, else `AWS_REGION` / profile;
//! - endpoint: explicit value, else `AWS_ENDPOINT_URL` (and the service-specific
//!   `AWS_ENDPOINT_URL_KINESIS_VIDEO…` variables, applied per client by the SDK);
//! - credentials: explicit static keys, the AWS IoT credentials provider, or the standard
//!   chain (environment, `AWS_SHARED_CREDENTIALS_FILE` / `AWS_PROFILE` profiles, …);
//! - trusted CAs: the system roots, plus a PEM bundle given explicitly or in
//!   `AWS_CA_BUNDLE` (the AWS CLI's and boto3's setting; the Rust SDK has none), for an
//!   endpoint behind a private CA such as kvs-local's HTTPS listener. Every client made
//!   here — the SDK clients and the PutMedia client — trusts the same set.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig;

use super::iot::{IotConfig, IotCredentialsProvider, IotError};

/// Installs aws-lc-rs as the process-default rustls crypto provider, once.
///
/// rustls panics when it must pick a default while more than one provider is compiled in
/// (ring arrives through some dependency trees); reqwest and our test servers take the
/// default. Calling this at start-up, and again from any library entry point, is harmless:
/// an already installed provider (ours or the application's) is kept.
pub fn install_crypto_provider() {
    // `Err` means a default is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Default grace period of GetMedia's stalled-stream protection. A live GetMedia of an idle
/// camera legitimately receives nothing for long stretches; the SDK default (~20 s) would
/// cut it.
pub const DEFAULT_MEDIA_STALL_GRACE: Duration = Duration::from_secs(300);

/// Where credentials come from.
#[derive(Debug, Clone, Default)]
pub enum CredentialSource {
    /// The standard chain; optionally a named profile.
    #[default]
    DefaultChain,
    /// A named profile of the shared config/credentials files.
    Profile(String),
    /// Fixed keys (tests, kvs-local).
    Static(Credentials),
    /// The AWS IoT credentials provider with a device certificate.
    Iot(IotConfig),
}

/// What the caller chose explicitly (command-line flags); `None` defers to the environment.
#[derive(Debug, Clone, Default)]
pub struct ConfigOptions {
    /// Region.
    pub region: Option<String>,
    /// Endpoint URL of the control plane (KVS or kvs-local).
    pub endpoint_url: Option<String>,
    /// Credentials.
    pub credentials: CredentialSource,
    /// GetMedia stalled-stream grace period; `None` uses [`DEFAULT_MEDIA_STALL_GRACE`].
    pub media_stall_grace: Option<Duration>,
    /// PEM file of CAs to trust besides the system roots; `None` defers to
    /// [`CA_BUNDLE_ENV`].
    pub ca_bundle: Option<PathBuf>,
}

/// The environment variable naming a CA bundle, as the AWS CLI and boto3 read it.
pub const CA_BUNDLE_ENV: &str = "AWS_CA_BUNDLE";

/// CA certificates trusted besides the system roots, read from a PEM file.
#[derive(Debug, Clone)]
pub struct CaBundle {
    path: PathBuf,
    pem: Arc<[u8]>,
}

impl CaBundle {
    /// Reads `path`, which must hold at least one PEM certificate.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject as _;
        let bad = |reason: String| ConfigError::CaBundle {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let mut count = 0usize;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            cert.map_err(|e| bad(format!("not a PEM certificate: {e}")))?;
            count += 1;
        }
        if count == 0 {
            return Err(bad("holds no PEM certificate".into()));
        }
        Ok(Self {
            path: path.to_owned(),
            pem: pem.into(),
        })
    }

    /// The PEM bytes.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The SDK clients' HTTPS client (rustls on aws-lc, as the default one) trusting the
    /// system roots and this bundle.
    fn sdk_http_client(
        &self,
    ) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, ConfigError> {
        use aws_smithy_http_client::tls;
        let trust = tls::TrustStore::default().with_pem_certificate(self.pem.to_vec());
        let context = tls::TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| ConfigError::CaBundle {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        Ok(aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context)
            .build_https())
    }
}

/// Configuration could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No region from flags, environment or profile.
    #[error("no AWS region: pass one explicitly or set AWS_REGION / a profile region")]
    NoRegion,
    /// No credentials provider could be set up.
    #[error("no AWS credentials provider configured")]
    NoCredentials,
    /// The IoT provider could not be built.
    #[error(transparent)]
    Iot(#[from] IotError),
    /// The CA bundle (`--ca-bundle` / `AWS_CA_BUNDLE`) is unusable.
    #[error("CA bundle {path}: {reason}")]
    CaBundle {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Resolved configuration for all KVS clients.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    sdk: SdkConfig,
    region: String,
    endpoint_url: Option<String>,
    credentials: SharedCredentialsProvider,
    media_stall_grace: Duration,
    ca_bundle: Option<CaBundle>,
}

impl ClientConfig {
    /// Resolves region, endpoint and credentials (module docs for the order).
    pub async fn load(opts: ConfigOptions) -> Result<Self, ConfigError> {
        install_crypto_provider();
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &opts.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &opts.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let ca_path = opts.ca_bundle.clone().or_else(|| {
            std::env::var_os(CA_BUNDLE_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let ca_bundle = ca_path.as_deref().map(CaBundle::load).transpose()?;
        if let Some(bundle) = &ca_bundle {
            loader = loader.http_client(bundle.sdk_http_client()?);
        }
        loader = match &opts.credentials {
            CredentialSource::DefaultChain => loader,
            CredentialSource::Profile(name) => loader.profile_name(name),
            CredentialSource::Static(creds) => loader.credentials_provider(creds.clone()),
            CredentialSource::Iot(cfg) => {
                loader.credentials_provider(IotCredentialsProvider::new(cfg)?)
            }
        };
        let sdk = loader.load().await;
        let region = sdk.region().ok_or(ConfigError::NoRegion)?.to_string();
        let credentials = sdk
            .credentials_provider()
            .ok_or(ConfigError::NoCredentials)?;
        Ok(Self {
            endpoint_url: sdk.endpoint_url().map(str::to_owned),
            region,
            credentials,
            media_stall_grace: opts.media_stall_grace.unwrap_or(DEFAULT_MEDIA_STALL_GRACE),
            ca_bundle,
            sdk,
        })
    }

    /// The signing region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The control-plane endpoint override, if any.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }

    /// The shared credentials provider (also used by the SDK clients).
    pub fn credentials_provider(&self) -> &SharedCredentialsProvider {
        &self.credentials
    }

    /// Current credentials, e.g. to sign a PutMedia request.
    pub async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        self.credentials.provide_credentials().await
    }

    /// The PutMedia HTTP client ([`PutMediaConnection::http_client`]), trusting the same
    /// CAs as the SDK clients.
    ///
    /// [`PutMediaConnection::http_client`]: super::putmedia::PutMediaConnection::http_client
    pub fn put_media_http_client(
        &self,
        connect_timeout: Duration,
    ) -> Result<reqwest::Client, super::putmedia::PutMediaError> {
        super::putmedia::PutMediaConnection::http_client_trusting(
            connect_timeout,
            self.ca_bundle.as_ref().map(CaBundle::pem),
        )
    }

    /// Control-plane client (DescribeStream, CreateStream, GetDataEndpoint).
    pub fn control_client(&self) -> aws_sdk_kinesisvideo::Client {
        let conf = aws_sdk_kinesisvideo::config::Builder::from(&self.sdk).build();
        aws_sdk_kinesisvideo::Client::from_conf(conf)
    }

    /// GetMedia client for a `GET_MEDIA` data endpoint, with stalled-stream protection
    /// relaxed for long idle live reads.
    pub fn media_client(&self, data_endpoint: &str) -> aws_sdk_kinesisvideomedia::Client {
        let stall = StalledStreamProtectionConfig::enabled()
            .upload_enabled(false)
            .grace_period(self.media_stall_grace)
            .build();
        let conf = aws_sdk_kinesisvideomedia::config::Builder::from(&self.sdk)
            .endpoint_url(data_endpoint)
            .stalled_stream_protection(stall)
            .build();
        aws_sdk_kinesisvideomedia::Client::from_conf(conf)
    }

    /// Archived-media client for a `LIST_FRAGMENTS` / `GET_MEDIA_FOR_FRAGMENT_LIST` endpoint.
    pub fn archive_client(&self, data_endpoint: &str) -> aws_sdk_kinesisvideoarchivedmedia::Client {
        let stall = StalledStreamProtectionConfig::enabled()
            .upload_enabled(false)
            .grace_period(self.media_stall_grace)
            .build();
        let conf = aws_sdk_kinesisvideoarchivedmedia::config::Builder::from(&self.sdk)
            .endpoint_url(data_endpoint)
            .stalled_stream_protection(stall)
            .build();
        aws_sdk_kinesisvideoarchivedmedia::Client::from_conf(conf)
    }
}
