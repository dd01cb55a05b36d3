//! The IoT settings as a front end collects them (command-line flags with their
//! `AWS_IOT_CORE_*` environment variables, GStreamer properties), and the one rule that
//! turns them into an [`IotConfig`]: none given selects other credentials; some given must
//! be all of endpoint, role alias, certificate, key and CA (the provider trusts only that
//! CA), each file present — otherwise one error naming every missing setting. The camera
//! and the viewer apply the same rule, so a partial set is never silently ignored and a
//! missing CA is caught before any connection.

use std::path::{Path, PathBuf};

use super::IotConfig;

/// One IoT setting, named as the command lines and the AWS SDK samples name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IotSetting {
    /// The account's credentials endpoint.
    Endpoint,
    /// The role alias.
    RoleAlias,
    /// The thing name.
    ThingName,
    /// The device certificate.
    Cert,
    /// The device private key.
    Key,
    /// The root CA of the endpoint.
    Ca,
}

impl IotSetting {
    /// The command-line flag.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Endpoint => "--iot-endpoint",
            Self::RoleAlias => "--iot-role-alias",
            Self::ThingName => "--iot-thing-name",
            Self::Cert => "--iot-cert",
            Self::Key => "--iot-key",
            Self::Ca => "--iot-ca",
        }
    }

    /// The environment variable (the AWS SDK samples' names).
    pub fn env(self) -> &'static str {
        match self {
            Self::Endpoint => "AWS_IOT_CORE_CREDENTIAL_ENDPOINT",
            Self::RoleAlias => "AWS_IOT_CORE_ROLE_ALIAS",
            Self::ThingName => "AWS_IOT_CORE_THING_NAME",
            Self::Cert => "AWS_IOT_CORE_CERT",
            Self::Key => "AWS_IOT_CORE_PRIVATE_KEY",
            Self::Ca => "AWS_IOT_CORE_CA",
        }
    }
}

impl std::fmt::Display for IotSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.flag(), self.env())
    }
}

/// Why the IoT settings do not make a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IotSettingsError {
    /// Some IoT settings were given, not all the required ones.
    #[error("IoT credentials are partly configured: missing {}", join(missing))]
    Incomplete {
        /// Every missing setting.
        missing: Vec<IotSetting>,
    },
    /// The endpoint is not a host name, `host:port` or `https://` URL.
    #[error("{setting}: {endpoint:?} is not a host name (or https:// URL)", setting = IotSetting::Endpoint)]
    BadEndpoint {
        /// What was given.
        endpoint: String,
    },
    /// A file setting names no file.
    #[error("{setting}: IoT {what} file {} does not exist or is not a file{note}", path.display())]
    NoFile {
        /// Which setting.
        setting: IotSetting,
        /// What the file is.
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// A hint.
        note: &'static str,
    },
}

fn join(missing: &[IotSetting]) -> String {
    missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The IoT settings as given (each `None` when not set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IotSettings {
    /// Credentials endpoint.
    pub endpoint: Option<String>,
    /// Role alias.
    pub role_alias: Option<String>,
    /// Thing name (defaults to the stream name).
    pub thing_name: Option<String>,
    /// Device certificate (PEM).
    pub cert: Option<PathBuf>,
    /// Device private key (PEM).
    pub key: Option<PathBuf>,
    /// Root CA of the endpoint (PEM).
    pub ca: Option<PathBuf>,
}

impl IotSettings {
    /// `Ok(None)` when no IoT setting is given (a thing name alone, e.g. left in the
    /// environment, selects nothing); the configuration when all are; otherwise the error
    /// naming every missing setting, or the bad endpoint, or the missing file.
    pub fn resolve(&self, stream_name: &str) -> Result<Option<IotConfig>, IotSettingsError> {
        let given = self.endpoint.is_some()
            || self.role_alias.is_some()
            || self.cert.is_some()
            || self.key.is_some()
            || self.ca.is_some();
        if !given {
            return Ok(None);
        }
        let missing: Vec<IotSetting> = [
            (IotSetting::Endpoint, self.endpoint.is_none()),
            (IotSetting::RoleAlias, self.role_alias.is_none()),
            (IotSetting::Cert, self.cert.is_none()),
            (IotSetting::Key, self.key.is_none()),
            (IotSetting::Ca, self.ca.is_none()),
        ]
        .into_iter()
        .filter_map(|(s, absent)| absent.then_some(s))
        .collect();
        let (Some(endpoint), Some(role_alias), Some(cert), Some(key), Some(ca)) = (
            &self.endpoint,
            &self.role_alias,
            &self.cert,
            &self.key,
            &self.ca,
        ) else {
            return Err(IotSettingsError::Incomplete { missing });
        };
        if endpoint.trim().is_empty() || endpoint.contains('/') && !endpoint.starts_with("https://")
        {
            return Err(IotSettingsError::BadEndpoint {
                endpoint: endpoint.clone(),
            });
        }
        require_file(IotSetting::Cert, "device certificate", cert, "")?;
        require_file(IotSetting::Key, "private key", key, "")?;
        require_file(
            IotSetting::Ca,
            "CA",
            ca,
            "; for AWS this is Amazon Root CA 1, https://www.amazontrust.com/repository/AmazonRootCA1.pem",
        )?;
        Ok(Some(IotConfig::new(
            endpoint,
            role_alias,
            self.thing_name.as_deref().unwrap_or(stream_name),
            cert,
            key,
            ca,
        )))
    }
}

fn require_file(
    setting: IotSetting,
    what: &'static str,
    path: &Path,
    note: &'static str,
) -> Result<(), IotSettingsError> {
    if path.is_file() {
        return Ok(());
    }
    Err(IotSettingsError::NoFile {
        setting,
        what,
        path: path.to_owned(),
        note,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn none_partial_and_complete_settings() {
        let dir = tempfile::tempdir().unwrap();
        let file = |n: &str| {
            let p = dir.path().join(n);
            std::fs::write(&p, "pem").unwrap();
            p
        };
        let thing_only = IotSettings {
            thing_name: Some("cam".into()),
            ..IotSettings::default()
        };
        assert!(matches!(thing_only.resolve("s"), Ok(None)));
        let mut s = IotSettings {
            endpoint: Some("abc.credentials.iot.eu-west-1.amazonaws.com".into()),
            cert: Some(file("cert.pem")),
            ..IotSettings::default()
        };
        let err = s.resolve("s").unwrap_err();
        assert_eq!(
            err,
            IotSettingsError::Incomplete {
                missing: vec![IotSetting::RoleAlias, IotSetting::Key, IotSetting::Ca]
            }
        );
        assert_eq!(
            err.to_string(),
            "IoT credentials are partly configured: missing --iot-role-alias \
             (AWS_IOT_CORE_ROLE_ALIAS), --iot-key (AWS_IOT_CORE_PRIVATE_KEY), --iot-ca \
             (AWS_IOT_CORE_CA)"
        );
        s.role_alias = Some("KvsCameraRole".into());
        s.key = Some(file("key.pem"));
        s.ca = Some(dir.path().join("missing-ca.pem"));
        let err = s.resolve("s").unwrap_err();
        assert!(
            matches!(
                err,
                IotSettingsError::NoFile {
                    setting: IotSetting::Ca,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("--iot-ca (AWS_IOT_CORE_CA): IoT CA file")
        );
        s.ca = Some(file("ca.pem"));
        let config = s.resolve("front-door").unwrap().unwrap();
        assert_eq!(config.thing_name, "front-door", "defaults to the stream");
        s.endpoint = Some("host/path".into());
        assert!(matches!(
            s.resolve("s"),
            Err(IotSettingsError::BadEndpoint { .. })
        ));
    }
}
