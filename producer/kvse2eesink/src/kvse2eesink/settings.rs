//! The element's property values and their validation into the producer's
//! [`StreamSettings`] and the AWS client options, at state change, each mistake named
//! after its property (`kvssink`'s names where they mean the same thing).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kvs_e2ee_aws::config::{ConfigOptions, CredentialSource};
use kvs_e2ee_aws::iot::IotConfig;
use kvs_e2ee_aws::settings::{self as common, SecretText, SettingError};
use kvs_e2ee_keys::{Identity, KeyKind, KeyList};
use kvs_e2ee_producer::config::{MAX_RETENTION_HOURS, MIN_BUFFER_BYTES, StreamSettings};
use kvs_e2ee_producer::fragmenter::KVS_MAX_FRAGMENT_DURATION_MS;

/// Name of the `iot-certificate` structure, as `kvssink` expects it.
pub(super) const IOT_STRUCTURE: &str = "iot-certificate";

/// Fields of the `iot-certificate` structure we use (`kvssink`'s names).
const IOT_FIELDS: &[&str] = &[
    "endpoint",
    "cert-path",
    "key-path",
    "ca-path",
    "role-aliases",
    "iot-thing-name",
];
/// `kvssink`'s HTTP timeouts for the credentials call: accepted so that its
/// property strings work unchanged; our IoT provider uses its own timeouts.
const IOT_IGNORED_FIELDS: &[&str] = &["connection-timeout", "completion-timeout"];

/// What the properties hold (see `imp.rs` for defaults and descriptions).
/// The secret key and session token are [`SecretText`]: zeroized when
/// dropped and printed as `<redacted>` by `Debug` (the start-up log prints
/// these settings).
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub stream_name: String,
    pub aws_region: String,
    pub iot_certificate: Option<gst::Structure>,
    pub access_key: Option<String>,
    pub secret_key: Option<SecretText>,
    pub session_token: Option<SecretText>,
    pub fragment_duration_ms: u32,
    pub storage_size_mb: u32,
    pub retention_period_hours: u32,
    pub restart_on_error: bool,
    pub recipients: Option<String>,
    pub identity: Option<String>,
    pub endpoint_url: Option<String>,
    pub ca_bundle: Option<String>,
    pub frame_cipher: String,
}

/// A property value that cannot work (the message names the property).
pub(super) type SettingsError = SettingError;

fn invalid(property: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingError::new(property, reason)
}

/// The validated settings of one streaming session.
#[derive(Debug)]
pub(super) struct Validated {
    /// The stream and the engine's settings (the element is the source; `client` carries
    /// region, endpoint and credentials).
    pub config: StreamSettings,
    /// Region, endpoint and credentials for the AWS clients.
    pub client: ConfigOptions,
    /// Whether to reconnect after a retryable failure (else end with an error).
    pub restart_on_error: bool,
}

impl Settings {
    /// Checks every property and builds the producer's configuration.
    pub fn validate(&self) -> Result<Validated, SettingsError> {
        common::stream_name(&self.stream_name)?;
        common::region(&self.aws_region)?;
        let identity = common::key_path("identity", self.identity.as_deref())?;
        Identity::load_kind(&identity, KeyKind::Camera)
            .map_err(|e| invalid("identity", e.to_string()))?;
        let recipients = common::key_path("recipients", self.recipients.as_deref())?;
        let list = KeyList::load(&recipients, KeyKind::Viewer)
            .map_err(|e| invalid("recipients", e.to_string()))?;
        if list.entries().is_empty() {
            return Err(invalid(
                "recipients",
                format!(
                    "{} lists no viewer; add at least one viewer public key",
                    recipients.display()
                ),
            ));
        }
        let endpoint_url = common::endpoint_url(self.endpoint_url.as_deref())?;
        let ca_bundle = self
            .ca_bundle
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from);
        if let Some(path) = &ca_bundle {
            kvs_e2ee_aws::config::CaBundle::load(path)
                .map_err(|e| invalid("ca-bundle", e.to_string()))?;
        }
        let config = StreamSettings {
            stream_name: self.stream_name.clone(),
            identity,
            recipients,
            // Like kvssink: create the stream when it is missing.
            create_stream: Some(self.retention()?),
            fragment_duration: self.fragment_duration()?,
            frame_cipher: common::frame_cipher(Some(&self.frame_cipher))?,
            buffer_size: self.storage_size()?,
            spool: None,
            stats_interval: None,
        };
        Ok(Validated {
            client: ConfigOptions {
                region: Some(self.aws_region.clone()),
                endpoint_url,
                credentials: self.credentials()?,
                media_stall_grace: None,
                ca_bundle,
            },
            config,
            restart_on_error: self.restart_on_error,
        })
    }

    fn fragment_duration(&self) -> Result<Duration, SettingsError> {
        let ms = self.fragment_duration_ms;
        if ms == 0 || i64::from(ms) >= KVS_MAX_FRAGMENT_DURATION_MS {
            return Err(invalid(
                "fragment-duration",
                format!(
                    "{ms} ms is outside 1..{KVS_MAX_FRAGMENT_DURATION_MS} ms (KVS's fragment limit)"
                ),
            ));
        }
        Ok(Duration::from_millis(u64::from(ms)))
    }

    fn storage_size(&self) -> Result<u64, SettingsError> {
        let bytes = u64::from(self.storage_size_mb) << 20;
        if bytes < MIN_BUFFER_BYTES {
            return Err(invalid(
                "storage-size",
                "must be at least 1 (MB): the buffer must hold whole fragments",
            ));
        }
        Ok(bytes)
    }

    fn retention(&self) -> Result<u32, SettingsError> {
        let hours = self.retention_period_hours;
        if hours > MAX_RETENTION_HOURS {
            return Err(invalid(
                "retention-period",
                format!("{hours} hours is more than KVS's maximum of {MAX_RETENTION_HOURS}"),
            ));
        }
        Ok(hours)
    }

    /// `kvssink`'s order: the IoT certificate, else the keys, else the
    /// standard chain (environment, profile, instance role).
    fn credentials(&self) -> Result<CredentialSource, SettingsError> {
        if let Some(iot) = &self.iot_certificate {
            return iot_config(iot, &self.stream_name).map(CredentialSource::Iot);
        }
        common::static_credentials(
            self.access_key.as_deref(),
            self.secret_key.as_ref(),
            self.session_token.as_ref(),
            "kvse2eesink-properties",
        )
    }
}

/// The `iot-certificate` structure as `kvssink` takes it:
/// `iot-certificate,endpoint=…,cert-path=…,key-path=…,ca-path=…,role-aliases=…`
/// (and optionally `iot-thing-name`, else the stream name).
fn iot_config(s: &gst::StructureRef, stream_name: &str) -> Result<IotConfig, SettingsError> {
    const P: &str = "iot-certificate";
    if s.name() != IOT_STRUCTURE {
        return Err(invalid(
            P,
            format!(
                "the structure is named {:?}; write \"{IOT_STRUCTURE},endpoint=…,cert-path=…,key-path=…,ca-path=…,role-aliases=…\"",
                s.name().as_str()
            ),
        ));
    }
    if let Some(unknown) = s
        .fields()
        .find(|f| !IOT_FIELDS.contains(&f.as_str()) && !IOT_IGNORED_FIELDS.contains(&f.as_str()))
    {
        return Err(invalid(
            P,
            format!(
                "unknown field {:?} (known: {})",
                unknown.as_str(),
                IOT_FIELDS.join(", ")
            ),
        ));
    }
    let field = |name: &str| -> Result<Option<String>, SettingsError> {
        let Ok(value) = s.value(name) else {
            return Ok(None);
        };
        // gst-launch types `endpoint=1.2.3.4` etc. by their look; take any
        // value that has a string form.
        let text = value
            .get::<String>()
            .ok()
            .or_else(|| value.transform::<String>().ok().and_then(|v| v.get().ok()))
            .ok_or_else(|| invalid(P, format!("field {name} is not a string")))?;
        Ok(Some(text).filter(|t| !t.is_empty()))
    };
    let required =
        |name: &str| field(name)?.ok_or_else(|| invalid(P, format!("field {name} is missing")));
    let endpoint = required("endpoint")?;
    let role_alias = required("role-aliases")?;
    let mut files = Vec::new();
    for name in ["cert-path", "key-path", "ca-path"] {
        let path = PathBuf::from(required(name)?);
        readable(&path).map_err(|e| invalid(P, format!("{name} {}: {e}", path.display())))?;
        files.push(path);
    }
    let thing = field("iot-thing-name")?.unwrap_or_else(|| stream_name.to_owned());
    let [cert, key, ca] = <[PathBuf; 3]>::try_from(files).expect("three paths were pushed");
    Ok(IotConfig::new(endpoint, role_alias, thing, cert, key, ca))
}

fn readable(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path).map(drop)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // `Debug` of these settings (the start-up log line) is checked with the
    // secrets in tests/secrets.rs, at every debug level.

    #[test]
    fn half_a_key_pair_names_the_missing_property() {
        let s = Settings {
            access_key: Some("AKIAEXAMPLE".into()),
            ..Settings::default()
        };
        let e = s.credentials().unwrap_err();
        assert_eq!(
            e.to_string(),
            "property secret-key: required with access-key"
        );
    }
}
