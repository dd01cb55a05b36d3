//! Configuration: [`Config`] (how to run the server) and [`ConfigFile`] (the optional JSON
//! file with further users and the IoT role aliases).
//!
//! Config file format (every field optional):
//!
//! ```json
//! {
//!   "users": [
//!     { "name": "viewer", "access_key_id": "AKIAVIEWER0000000001",
//!       "secret_access_key": "…40 chars…",
//!       "policy": { "Version": "2012-10-17", "Statement": [
//!         { "Effect": "Allow",
//!           "Action": ["kinesisvideo:DescribeStream", "kinesisvideo:GetDataEndpoint",
//!                      "kinesisvideo:GetMedia", "kinesisvideo:ListFragments",
//!                      "kinesisvideo:GetMediaForFragmentList"],
//!           "Resource": "arn:aws:kinesisvideo:*:*:stream/cam-*/*" } ] } }
//!   ],
//!   "role_aliases": [
//!     { "name": "KvsCameraIoTRoleAlias", "role_name": "KVSCameraCertificateBasedIAMRole",
//!       "credential_duration_seconds": 3600 }
//!   ]
//! }
//! ```
//!
//! A role alias without `policy` gets the KVS guide's camera policy
//! ([`PolicyDocument::iot_camera_role`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::{PolicyDocument, Secret};
use crate::context::DataPlane;
use crate::error::Error;

/// Default region (written to the credentials/config files).
pub const DEFAULT_REGION: &str = "us-east-1";

/// Default account id (the one AWS documentation uses in examples).
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// Default role alias (the name used by the KVS guide's IoT walkthrough).
pub const DEFAULT_ROLE_ALIAS: &str = "KvsCameraIoTRoleAlias";

/// Role behind the default alias.
pub const DEFAULT_ROLE_NAME: &str = "KVSCameraCertificateBasedIAMRole";

/// Default credential lifetime of a role alias (IoT `CreateRoleAlias` default, 3600 s).
pub const DEFAULT_CREDENTIAL_DURATION: Duration = Duration::from_secs(3600);

/// How to run kvs-local.
#[derive(Clone)]
pub struct Config {
    /// Control/data-plane listen address (port 0: any free port).
    pub listen: SocketAddr,
    /// IoT credentials provider (HTTPS, mutual TLS) listen address; `None` disables it.
    pub iot_listen: Option<SocketAddr>,
    /// Data directory (created if missing).
    pub data_dir: PathBuf,
    /// Region in ARNs and the SigV4 scope.
    pub region: String,
    /// Account id in ARNs.
    pub account_id: String,
    /// Config file with users and role aliases (default: `DATA_DIR/kvs-local.json` if present).
    pub config_file: Option<PathBuf>,
    /// Overrides every role alias's credential duration (short values let tests exercise
    /// refresh; AWS allows 900–43200 s).
    pub credential_duration_override: Option<Duration>,
    /// The data-plane handler (PutMedia, GetMedia, …): [`crate::media::MediaPlane`] by
    /// default; `None` answers its paths with `UnknownOperationException`.
    pub data_plane: Option<Arc<dyn DataPlane>>,
    /// How long `shutdown` waits for open connections before dropping them.
    pub shutdown_grace: Duration,
    /// A second listener serving the control and data planes over HTTPS (port 0: any
    /// free port); `None` serves plain HTTP only. AWS's producer SDK samples put
    /// `https://` in front of any endpoint they are given, so they need this.
    pub tls_listen: Option<SocketAddr>,
    /// The HTTPS listener's certificate chain and key (PEM files); `None` issues one for
    /// `localhost`/`127.0.0.1`/`::1` from the data dir's CA (`DATA_DIR/ca.pem`).
    pub tls_identity: Option<TlsIdentity>,
}

/// A server certificate chain and its private key, as PEM files.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    /// Certificate chain, leaf first.
    pub certificate_chain: PathBuf,
    /// The leaf's private key (PKCS#8, SEC1 or PKCS#1).
    pub private_key: PathBuf,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("iot_listen", &self.iot_listen)
            .field("data_dir", &self.data_dir)
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("config_file", &self.config_file)
            .field(
                "credential_duration_override",
                &self.credential_duration_override,
            )
            .field("data_plane", &self.data_plane.as_ref().map(|d| d.name()))
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tls_listen", &self.tls_listen)
            .field("tls_identity", &self.tls_identity)
            .finish()
    }
}

impl Config {
    /// Defaults for `data_dir`: both endpoints on `127.0.0.1:0`, `us-east-1`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            iot_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            data_dir: data_dir.into(),
            region: DEFAULT_REGION.to_owned(),
            account_id: DEFAULT_ACCOUNT_ID.to_owned(),
            config_file: None,
            credential_duration_override: None,
            data_plane: Some(Arc::new(crate::media::MediaPlane::default())),
            shutdown_grace: Duration::from_secs(5),
            tls_listen: None,
            tls_identity: None,
        }
    }

    /// Checks the values that would otherwise fail later and obscurely.
    pub fn validate(&self) -> Result<(), Error> {
        let region_ok = !self.region.is_empty()
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(Error::Config(format!(
                "region {:?} is not a region name like us-east-1",
                self.region
            )));
        }
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Config(format!(
                "account id {:?} must be 12 digits",
                self.account_id
            )));
        }
        if self.credential_duration_override == Some(Duration::ZERO) {
            return Err(Error::Config(
                "credential duration must be at least 1 s".into(),
            ));
        }
        Ok(())
    }

    /// The config file to read: the explicit one, else `DATA_DIR/kvs-local.json` if present.
    pub fn config_file_path(&self) -> Option<PathBuf> {
        self.config_file.clone().or_else(|| {
            let p = self.data_dir.join("kvs-local.json");
            p.exists().then_some(p)
        })
    }
}

/// The JSON config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Long-term users.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// IoT role aliases (default: one, [`DEFAULT_ROLE_ALIAS`]).
    #[serde(default)]
    pub role_aliases: Vec<RoleAliasConfig>,
}

/// A long-term user of the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// User name.
    pub name: String,
    /// Access key id (`AKIA` + 16 chars of `[A-Z2-7]` to look like AWS; any 16–128 chars
    /// of `[A-Z0-9]` are accepted).
    pub access_key_id: String,
    /// Secret access key.
    #[serde(deserialize_with = "secret")]
    pub secret_access_key: Secret,
    /// The user's policy.
    pub policy: PolicyDocument,
}

/// An IoT role alias.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleAliasConfig {
    /// Alias name (`[\w=,@-]+`, 1–128 chars).
    pub name: String,
    /// Role the alias points to.
    #[serde(default = "default_role_name")]
    pub role_name: String,
    /// Credential lifetime in seconds (AWS: 900–43200; kvs-local accepts ≥ 1).
    #[serde(default = "default_duration_secs")]
    pub credential_duration_seconds: u64,
    /// The role's policy (default: the KVS guide's camera policy).
    #[serde(default = "PolicyDocument::iot_camera_role")]
    pub policy: PolicyDocument,
}

impl RoleAliasConfig {
    /// The default alias.
    pub fn default_alias() -> Self {
        Self {
            name: DEFAULT_ROLE_ALIAS.to_owned(),
            role_name: DEFAULT_ROLE_NAME.to_owned(),
            credential_duration_seconds: DEFAULT_CREDENTIAL_DURATION.as_secs(),
            policy: PolicyDocument::iot_camera_role(),
        }
    }
}

fn default_role_name() -> String {
    DEFAULT_ROLE_NAME.to_owned()
}

fn default_duration_secs() -> u64 {
    DEFAULT_CREDENTIAL_DURATION.as_secs()
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    String::deserialize(d).map(Secret::new)
}

impl ConfigFile {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        let file: Self =
            serde_json::from_str(&text).map_err(|e| Error::json(path, "config file", &e))?;
        file.validate(path)?;
        Ok(file)
    }

    fn validate(&self, path: &Path) -> Result<(), Error> {
        let bad = |msg: String| Error::Config(format!("{}: {msg}", path.display()));
        for u in &self.users {
            let key_ok = (16..=128).contains(&u.access_key_id.len())
                && u.access_key_id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !key_ok {
                return Err(bad(format!(
                    "user {:?}: access_key_id must be 16-128 characters of [A-Z0-9]",
                    u.name
                )));
            }
            if u.secret_access_key.expose().is_empty() {
                return Err(bad(format!("user {:?}: empty secret_access_key", u.name)));
            }
        }
        for a in &self.role_aliases {
            if !kvs_e2ee_aws::iot::wire::is_valid_role_alias(&a.name) {
                return Err(bad(format!(
                    "role alias {:?} is not [\\w=,@-]{{1,128}}",
                    a.name
                )));
            }
            if a.credential_duration_seconds == 0 {
                return Err(bad(format!(
                    "role alias {:?}: credential_duration_seconds must be at least 1",
                    a.name
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_parses_users_and_aliases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.json");
        std::fs::write(
            &path,
            r#"{"users":[{"name":"viewer","access_key_id":"AKIAVIEWER0000000001",
                "secret_access_key":"s3cr3t",
                "policy":{"Statement":{"Effect":"Allow","Action":"kinesisvideo:GetMedia","Resource":"*"}}}],
               "role_aliases":[{"name":"Cams","credential_duration_seconds":5}]}"#,
        )
        .expect("write");
        let c = ConfigFile::load(&path).expect("valid");
        assert_eq!(c.users[0].name, "viewer");
        assert_eq!(c.role_aliases[0].role_name, DEFAULT_ROLE_NAME);
        assert_eq!(c.role_aliases[0].policy, PolicyDocument::iot_camera_role());
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn config_file_errors_do_not_echo_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.json");
        std::fs::write(
            &path,
            r#"{"users":[{"name":"v","secret_access_key":"s3cr3t"}]}"#,
        )
        .expect("write");
        let err = ConfigFile::load(&path)
            .expect_err("missing fields")
            .to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        std::fs::write(&path, r#"{"role_aliases":[{"name":"../x"}]}"#).expect("write");
        assert!(ConfigFile::load(&path).is_err());
    }

    #[test]
    fn config_validation() {
        let mut c = Config::new("/tmp/x");
        c.validate().expect("defaults are valid");
        c.region = "US EAST".into();
        assert!(c.validate().is_err());
    }
}
