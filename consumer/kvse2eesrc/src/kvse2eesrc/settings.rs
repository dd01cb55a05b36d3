//! The element's property values and their validation into the viewer's
//! [`Config`], at state change, each mistake named after its property.

use std::time::Duration;

use kvs_e2ee_aws::config::{ConfigOptions, CredentialSource};
use kvs_e2ee_aws::settings::{self as common, SecretText, SettingError};
use kvs_e2ee_consumer::run::{Config, DEFAULT_CATCH_UP_IDLE, Mode, Start};
use kvs_e2ee_keys::{Identity, KeyKind, KeyList};

/// What the properties hold (see `imp.rs` for defaults and descriptions).
/// The secret key and session token are [`SecretText`]: zeroized when
/// dropped and printed as `<redacted>` by `Debug`.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub stream_name: String,
    pub aws_region: String,
    pub identity: Option<String>,
    pub trusted_cameras: Option<String>,
    pub start: String,
    pub until_current: bool,
    pub endpoint_url: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<SecretText>,
    pub session_token: Option<SecretText>,
}

/// A property value that cannot work (the message names the property).
pub(super) type SettingsError = SettingError;

fn invalid(property: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingError::new(property, reason)
}

impl Settings {
    /// Checks every property, loads the keys, and builds the viewer's configuration.
    pub fn validate(&self) -> Result<Config, SettingsError> {
        common::stream_name(&self.stream_name)?;
        common::region(&self.aws_region)?;
        let identity = common::key_path("identity", self.identity.as_deref())?;
        let identities: Vec<_> = Identity::load_kind(&identity, KeyKind::Viewer)
            .map_err(|e| invalid("identity", e.to_string()))?
            .secrets()
            .cloned()
            .collect();
        let cameras = common::key_path("trusted-cameras", self.trusted_cameras.as_deref())?;
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
        let endpoint_url = common::endpoint_url(self.endpoint_url.as_deref())?;
        Ok(Config {
            stream: self.stream_name.clone(),
            identities,
            trusted_cameras,
            mode: Mode::Live {
                start,
                until_current: self.until_current,
            },
            max_duration: None,
            keep_going: false,
            inspect: false,
            client: ConfigOptions {
                region: Some(self.aws_region.clone()),
                endpoint_url,
                credentials: self.credentials()?,
                media_stall_grace: None,
                ca_bundle: None,
            },
            catch_up_idle: catch_up_idle(),
            progress: None,
            stop: None,
        })
    }

    /// The keys when both are set, else the standard chain (environment,
    /// profile, instance role).
    fn credentials(&self) -> Result<CredentialSource, SettingsError> {
        common::static_credentials(
            self.access_key.as_deref(),
            self.secret_key.as_ref(),
            self.session_token.as_ref(),
            "kvse2eesrc-properties",
        )
    }
}

/// How long a live read with `until-current` waits for a new fragment before it
/// considers itself caught up (the viewer's default).
fn catch_up_idle() -> Duration {
    DEFAULT_CATCH_UP_IDLE
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
            secret_key: Some(SecretText::new("wJalrXUtnFEMI".into())),
            session_token: Some(SecretText::new("FwoGZXIvYXdzE".into())),
            ..Settings::default()
        };
        let text = format!("{s:?}");
        assert!(!text.contains("wJalrXUtnFEMI") && !text.contains("FwoGZXIvYXdzE"));
        assert!(text.contains("secret_key: Some(<redacted>)"), "{text}");
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
}
