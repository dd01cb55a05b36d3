//! The element's property values and their validation into the viewer's
//! [`Config`], at state change, each mistake named after its property.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use aws_credential_types::Credentials as AwsCredentials;
use kvs_e2ee_consumer::run::{Config, DEFAULT_CATCH_UP_IDLE, Mode, OutputTarget, Start};
use kvs_e2ee_keys::{Identity, KeyKind, KeyList};
use kvs_e2ee_shared::kvs::config::{ConfigOptions, CredentialSource};

/// What the properties hold (see `imp.rs` for defaults and descriptions).
#[derive(Clone)]
pub(super) struct Settings {
    pub stream_name: String,
    pub aws_region: String,
    pub identity: Option<String>,
    pub trusted_cameras: Option<String>,
    pub start: String,
    pub until_current: bool,
    pub endpoint_url: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub session_token: Option<String>,
}

impl fmt::Debug for Settings {
    // The secret key and session token are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("stream_name", &self.stream_name)
            .field("aws_region", &self.aws_region)
            .field("identity", &self.identity)
            .field("trusted_cameras", &self.trusted_cameras)
            .field("start", &self.start)
            .field("until_current", &self.until_current)
            .field("endpoint_url", &self.endpoint_url)
            .field("access_key", &self.access_key)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<set>"))
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

/// A property value that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("property {property}: {reason}")]
pub(super) struct SettingsError {
    /// The property, e.g. `identity`.
    pub property: &'static str,
    /// What is wrong and what is expected.
    pub reason: String,
}

fn invalid(property: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        property,
        reason: reason.into(),
    }
}

impl Settings {
    /// Checks every property, loads the keys, and builds the viewer's configuration.
    pub fn validate(&self) -> Result<Config, SettingsError> {
        validate_stream_name(&self.stream_name)?;
        validate_region(&self.aws_region)?;
        let identity = key_path("identity", self.identity.as_deref())?;
        let identities: Vec<_> = Identity::load_kind(&identity, KeyKind::Viewer)
            .map_err(|e| invalid("identity", e.to_string()))?
            .secrets()
            .cloned()
            .collect();
        let cameras = key_path("trusted-cameras", self.trusted_cameras.as_deref())?;
        let trusted_cameras: Vec<_> = KeyList::load(&cameras, KeyKind::Camera)
            .map_err(|e| invalid("trusted-cameras", e.to_string()))?
            .keys()
            .cloned()
            .collect();
        if trusted_cameras.is_empty() {
            return Err(invalid(
                "trusted-cameras",
                format!(
                    "{} lists no camera: nothing would verify",
                    cameras.display()
                ),
            ));
        }
        let start = self
            .start
            .parse::<Start>()
            .map_err(|e| invalid("start", e.to_string()))?;
        let endpoint_url = self.endpoint_url.clone().filter(|u| !u.is_empty());
        if let Some(url) = &endpoint_url {
            validate_url(url)?;
        }
        Ok(Config {
            stream: self.stream_name.clone(),
            identities,
            trusted_cameras,
            mode: Mode::Live {
                start,
                until_current: self.until_current,
            },
            max_duration: None,
            // Ignored: the element passes its own output to `run_with_output`.
            output: OutputTarget::Stdout,
            keep_going: false,
            inspect: false,
            client: ConfigOptions {
                region: Some(self.aws_region.clone()),
                endpoint_url,
                credentials: self.credentials()?,
                media_stall_grace: None,
            },
            catch_up_idle: catch_up_idle(),
            progress: false,
        })
    }

    /// The keys when both are set, else the standard chain (environment,
    /// profile, instance role).
    fn credentials(&self) -> Result<CredentialSource, SettingsError> {
        let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        match (set(&self.access_key), set(&self.secret_key)) {
            (Some(access), Some(secret)) => Ok(CredentialSource::Static(AwsCredentials::new(
                access,
                secret,
                set(&self.session_token),
                None,
                "kvse2eesrc-properties",
            ))),
            (Some(_), None) => Err(invalid("secret-key", "required with access-key")),
            (None, Some(_)) => Err(invalid("access-key", "required with secret-key")),
            (None, None) if set(&self.session_token).is_some() => Err(invalid(
                "session-token",
                "given without access-key and secret-key",
            )),
            (None, None) => Ok(CredentialSource::DefaultChain),
        }
    }
}

/// How long a live read with `until-current` waits for a new fragment before it
/// considers itself caught up (the viewer's default).
fn catch_up_idle() -> Duration {
    DEFAULT_CATCH_UP_IDLE
}

fn key_path(property: &'static str, value: Option<&str>) -> Result<PathBuf, SettingsError> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) => Ok(PathBuf::from(v)),
        None => Err(invalid(
            property,
            "required: the path of the key file (see `kvs-e2ee-keys`)",
        )),
    }
}

/// KVS stream names: 1–256 characters of `[a-zA-Z0-9_.-]`.
fn validate_stream_name(name: &str) -> Result<(), SettingsError> {
    if !kvs_e2ee_shared::kvs::is_valid_stream_name(name) {
        return Err(invalid(
            "stream-name",
            format!("{name:?} is not a KVS stream name (1-256 of a-z A-Z 0-9 _ . -)"),
        ));
    }
    Ok(())
}

fn validate_region(region: &str) -> Result<(), SettingsError> {
    if !kvs_e2ee_shared::kvs::is_valid_region(region) {
        return Err(invalid(
            "aws-region",
            format!("{region:?} is not an AWS region name like eu-west-1"),
        ));
    }
    Ok(())
}

fn validate_url(url: &str) -> Result<(), SettingsError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        return Err(invalid(
            "endpoint-url",
            format!("{url:?} is not an http:// or https:// URL"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn property_of(s: &Settings) -> &'static str {
        s.validate().err().unwrap().property
    }

    #[test]
    fn debug_never_prints_the_secrets() {
        let s = Settings {
            secret_key: Some("wJalrXUtnFEMI".into()),
            session_token: Some("FwoGZXIvYXdzE".into()),
            ..Settings::default()
        };
        let text = format!("{s:?}");
        assert!(!text.contains("wJalrXUtnFEMI") && !text.contains("FwoGZXIvYXdzE"));
        assert!(text.contains("<set>"), "{text}");
    }

    #[test]
    fn each_mistake_names_its_property() {
        // Checked in order: stream-name, aws-region, identity (required) …
        let bad_stream = Settings {
            stream_name: "a b".into(),
            ..Settings::default()
        };
        assert_eq!(property_of(&bad_stream), "stream-name");
        let bad_region = Settings {
            aws_region: "Mars".into(),
            ..Settings::default()
        };
        assert_eq!(property_of(&bad_region), "aws-region");
        assert_eq!(property_of(&Settings::default()), "identity");
    }

    #[test]
    fn urls_must_be_http_or_https() {
        assert!(validate_url("http://127.0.0.1:4566").is_ok());
        assert!(validate_url("https://kinesisvideo.eu-west-1.amazonaws.com").is_ok());
        for bad in ["ftp://x", "http://", "127.0.0.1:4566", "https:///path"] {
            assert_eq!(validate_url(bad).err().unwrap().property, "endpoint-url");
        }
    }
}
