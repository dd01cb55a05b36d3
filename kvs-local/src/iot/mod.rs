//! The AWS IoT credentials provider stand-in: `GET /role-aliases/{alias}/credentials` over
//! mutual TLS, with `x-amzn-iot-thingname`, answering the real JSON
//! ([`kvs_e2ee_aws::iot::wire`]) and the real errors; plus device provisioning.
//!
//! Error answers (awslabs `aws-iot-core-credential-provider-session-helper`, docs/dev_notes.md,
//! responses captured from AWS):
//! - certificate unknown / not from the CA / inactive: 403 `{"message":"Certificate is invalid on this endpoint"}`, `x-amzn-ErrorType: AccessDeniedException`;
//! - thing not attached to the certificate: 403 `{"message":"Invalid thing name passed"}`;
//! - unknown alias: 404 `{"message":"Role alias does not exist"}`.
//!
//! # Layout
//! - [`ca`]: the data dir's CA, device and server certificates.
//! - [`registry`]: registered certificates and thing attachments.
//! - [`tls`]: rustls configuration and client-chain verification.
//! - [`server`]: the HTTPS handler.

pub mod ca;
pub mod registry;
pub mod server;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use kvs_e2ee_aws::iot::wire::is_valid_role_alias;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::{CredentialStore, NewSession, Session};
use crate::config::RoleAliasConfig;
use crate::error::{ApiError, Error};
use crate::fsutil;
pub use ca::{CertificateAuthority, IssuedCertificate, KeyType};
pub use registry::{CertificateRecord, CertificateRegistry, CertificateStatus};
use tls::ChainVerifier;

/// `DATA_DIR/iot`.
pub fn iot_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("iot")
}

/// `DATA_DIR/endpoints.json`: written by a running server so `iot provision` can tell a
/// camera where to connect.
pub fn endpoints_path(data_dir: &Path) -> PathBuf {
    data_dir.join("endpoints.json")
}

/// The endpoints of the last server started on a data dir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// Control-plane URL (`http://127.0.0.1:PORT`).
    pub control_plane: String,
    /// IoT credentials endpoint as `host:port` (what a camera's "endpoint" setting takes).
    pub iot_credentials: Option<String>,
    /// The HTTPS listener's URL (`https://127.0.0.1:PORT`), if one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<String>,
}

/// Whether `name` is a valid thing name (AWS IoT `CreateThing`: 1–128 of `[a-zA-Z0-9:_-]`).
pub fn is_valid_thing_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// The credentials provider's state.
#[derive(Debug)]
pub struct IotProvider {
    ca: CertificateAuthority,
    certificates: CertificateRegistry,
    role_aliases: Vec<RoleAliasConfig>,
    duration_override: Option<Duration>,
    store: Arc<CredentialStore>,
    chain_verifier: ChainVerifier,
}

impl IotProvider {
    /// Opens the IoT state of `data_dir` (creating the CA on first use).
    pub fn open(
        data_dir: &Path,
        role_aliases: Vec<RoleAliasConfig>,
        duration_override: Option<Duration>,
        store: Arc<CredentialStore>,
    ) -> Result<Self, Error> {
        let dir = iot_dir(data_dir);
        let ca = CertificateAuthority::load_or_create(&dir)?;
        let chain_verifier = ChainVerifier::new(ca.certificate_der())?;
        let role_aliases = if role_aliases.is_empty() {
            vec![RoleAliasConfig::default_alias()]
        } else {
            role_aliases
        };
        Ok(Self {
            certificates: CertificateRegistry::open(&dir)?,
            ca,
            role_aliases,
            duration_override,
            store,
            chain_verifier,
        })
    }

    /// The CA.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The first configured role alias (what provisioning tells cameras to use).
    pub fn default_role_alias(&self) -> &str {
        self.role_aliases
            .first()
            .map_or(crate::config::DEFAULT_ROLE_ALIAS, |a| a.name.as_str())
    }

    /// Issues a device certificate and attaches it to `thing`.
    pub fn provision(&self, thing: &str, key_type: KeyType) -> Result<IssuedCertificate, Error> {
        provision_with(&self.ca, &self.certificates, thing, key_type)
    }

    /// Serves one credentials request: `chain` is the client's certificate chain from the
    /// TLS handshake, `alias` the role alias from the path, `thing` the
    /// `x-amzn-iot-thingname` header.
    pub fn issue_credentials(
        &self,
        chain: &[CertificateDer<'static>],
        alias: &str,
        thing: Option<&str>,
    ) -> Result<Arc<Session>, ApiError> {
        let invalid_cert = || {
            ApiError::iot(
                "AccessDeniedException",
                StatusCode::FORBIDDEN,
                "Certificate is invalid on this endpoint",
            )
        };
        if !self.chain_verifier.verify(chain) {
            return Err(invalid_cert());
        }
        let ee = chain.first().ok_or_else(invalid_cert)?;
        let cert_id = ca::certificate_id(ee);
        let record = self
            .certificates
            .lookup(&cert_id)
            .filter(|r| r.status == CertificateStatus::Active)
            .ok_or_else(invalid_cert)?;
        if let Some(t) = thing
            && (!is_valid_thing_name(t) || !record.things.iter().any(|x| x == t))
        {
            return Err(ApiError::iot(
                "AccessDeniedException",
                StatusCode::FORBIDDEN,
                "Invalid thing name passed",
            ));
        }
        let alias_cfg = self
            .role_aliases
            .iter()
            .find(|a| is_valid_role_alias(alias) && a.name == alias)
            .ok_or_else(|| {
                ApiError::iot(
                    "ResourceNotFoundException",
                    StatusCode::NOT_FOUND,
                    "Role alias does not exist",
                )
            })?;
        let duration = self
            .duration_override
            .unwrap_or(Duration::from_secs(alias_cfg.credential_duration_seconds));
        let duration = time::Duration::try_from(duration)
            .map_err(|_| ApiError::internal_failure("credential duration out of range"))?;
        // The wire format has whole seconds; truncate so the client sees the real expiry.
        let now = OffsetDateTime::now_utc();
        let expires_at = (now + duration)
            .replace_nanosecond(0)
            .unwrap_or(now + duration);
        let session = self.store.issue_session(NewSession {
            role_name: alias_cfg.role_name.clone(),
            session_name: cert_id,
            thing_name: thing.map(str::to_owned),
            policy: alias_cfg.policy.clone(),
            expires_at,
        });
        tracing::info!(
            alias,
            thing = thing.unwrap_or("-"),
            access_key_id = %session.access_key_id,
            expires = %expires_at,
            "IoT credentials issued"
        );
        Ok(session)
    }
}

fn provision_with(
    ca: &CertificateAuthority,
    registry: &CertificateRegistry,
    thing: &str,
    key_type: KeyType,
) -> Result<IssuedCertificate, Error> {
    if !is_valid_thing_name(thing) {
        return Err(Error::Config(format!(
            "thing name {thing:?} must be 1-128 characters of [a-zA-Z0-9:_-]"
        )));
    }
    let issued = ca.issue_device(thing, key_type)?;
    registry.register(&issued.certificate_id, key_type.as_str(), thing)?;
    Ok(issued)
}

/// What `kvs-local iot provision` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedThing {
    /// Thing name.
    pub thing_name: String,
    /// Certificate id.
    pub certificate_id: String,
    /// Device certificate (PEM).
    pub certificate_path: PathBuf,
    /// Device private key (PEM, mode 0600).
    pub private_key_path: PathBuf,
    /// kvs-local's CA (PEM), to pin as the endpoint's root.
    pub ca_path: PathBuf,
    /// Role alias to request.
    pub role_alias: String,
    /// IoT credentials endpoint (`host:port`) of the last server on the data dir, if known.
    pub endpoint: Option<String>,
}

impl ProvisionedThing {
    /// The `iot-certificate` property for GStreamer's `kvssink`.
    pub fn kvssink_iot_certificate(&self) -> String {
        format!(
            "iot-certificate,endpoint={},cert-path={},key-path={},ca-path={},role-aliases={}",
            self.endpoint.as_deref().unwrap_or("HOST:PORT"),
            self.certificate_path.display(),
            self.private_key_path.display(),
            self.ca_path.display(),
            self.role_alias
        )
    }
}

/// Provisions `thing` in `data_dir` (works with or without a running server) and writes
/// the camera's files to `out_dir`: `certificate.pem`, `private.key`, `ca.pem`,
/// `role-alias`, `thing-name` and, if a server has run, `iot-credential-endpoint`.
pub fn provision(
    data_dir: &Path,
    thing: &str,
    key_type: KeyType,
    role_alias: Option<&str>,
    out_dir: &Path,
) -> Result<ProvisionedThing, Error> {
    let dir = iot_dir(data_dir);
    let ca = CertificateAuthority::load_or_create(&dir)?;
    let registry = CertificateRegistry::open(&dir)?;
    let issued = provision_with(&ca, &registry, thing, key_type)?;
    let endpoint = fsutil::read_optional(&endpoints_path(data_dir))?
        .and_then(|t| serde_json::from_str::<Endpoints>(&t).ok())
        .and_then(|e| e.iot_credentials);
    let alias = role_alias.unwrap_or(crate::config::DEFAULT_ROLE_ALIAS);
    write_device_files(
        out_dir,
        thing,
        &issued,
        ca.certificate_pem(),
        alias,
        endpoint,
    )
}

/// Writes a provisioned device's files to `out_dir`.
pub fn write_device_files(
    out_dir: &Path,
    thing: &str,
    issued: &IssuedCertificate,
    ca_pem: &str,
    role_alias: &str,
    endpoint: Option<String>,
) -> Result<ProvisionedThing, Error> {
    fsutil::create_dir_private(out_dir)?;
    let certificate_path = out_dir.join("certificate.pem");
    let private_key_path = out_dir.join("private.key");
    let ca_path = out_dir.join("ca.pem");
    fsutil::write_atomic(&certificate_path, issued.certificate_pem.as_bytes())?;
    fsutil::write_private(
        &private_key_path,
        issued.private_key_pem.expose().as_bytes(),
    )?;
    fsutil::write_atomic(&ca_path, ca_pem.as_bytes())?;
    fsutil::write_atomic(
        &out_dir.join("role-alias"),
        format!("{role_alias}\n").as_bytes(),
    )?;
    fsutil::write_atomic(&out_dir.join("thing-name"), format!("{thing}\n").as_bytes())?;
    if let Some(e) = &endpoint {
        fsutil::write_atomic(
            &out_dir.join("iot-credential-endpoint"),
            format!("{e}\n").as_bytes(),
        )?;
    }
    Ok(ProvisionedThing {
        thing_name: thing.to_owned(),
        certificate_id: issued.certificate_id.clone(),
        certificate_path,
        private_key_path,
        ca_path,
        role_alias: role_alias.to_owned(),
        endpoint,
    })
}
