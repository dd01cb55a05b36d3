//! The element's property values and their validation into the producer's
//! [`Config`] and the AWS client options, at state change, each mistake named
//! after its property (`kvssink`'s names where they mean the same thing).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_credential_types::Credentials as AwsCredentials;
use kvs_e2ee_keys::{Identity, KeyKind, KeyList};
use kvs_e2ee_producer::config::{
    Config, Credentials, MAX_RETENTION_HOURS, MIN_BUFFER_BYTES, Source,
};
use kvs_e2ee_producer::fragmenter::KVS_MAX_FRAGMENT_DURATION_MS;
use kvs_e2ee_shared::envelope::FrameCipher;
use kvs_e2ee_shared::kvs::config::{ConfigOptions, CredentialSource};
use kvs_e2ee_shared::kvs::iot::IotConfig;

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
#[derive(Clone)]
pub(super) struct Settings {
    pub stream_name: String,
    pub aws_region: String,
    pub iot_certificate: Option<gst::Structure>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub session_token: Option<String>,
    pub fragment_duration_ms: u32,
    pub storage_size_mb: u32,
    pub retention_period_hours: u32,
    pub restart_on_error: bool,
    pub recipients: Option<String>,
    pub identity: Option<String>,
    pub endpoint_url: Option<String>,
}

impl fmt::Debug for Settings {
    // The secret key and session token are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("stream_name", &self.stream_name)
            .field("aws_region", &self.aws_region)
            .field("iot_certificate", &self.iot_certificate)
            .field("access_key", &self.access_key)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<set>"))
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<set>"),
            )
            .field("fragment_duration_ms", &self.fragment_duration_ms)
            .field("storage_size_mb", &self.storage_size_mb)
            .field("retention_period_hours", &self.retention_period_hours)
            .field("restart_on_error", &self.restart_on_error)
            .field("recipients", &self.recipients)
            .field("identity", &self.identity)
            .field("endpoint_url", &self.endpoint_url)
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

/// The validated settings of one streaming session.
#[derive(Debug)]
pub(super) struct Validated {
    /// The producer configuration (its credential and source fields are unused:
    /// `client` carries the credentials, the element is the source).
    pub config: Config,
    /// Region, endpoint and credentials for the AWS clients.
    pub client: ConfigOptions,
    /// Whether to reconnect after a retryable failure (else end with an error).
    pub restart_on_error: bool,
}

impl Settings {
    /// Checks every property and builds the producer's configuration.
    pub fn validate(&self) -> Result<Validated, SettingsError> {
        validate_stream_name(&self.stream_name)?;
        validate_region(&self.aws_region)?;
        let identity = key_path("identity", self.identity.as_deref())?;
        Identity::load_kind(&identity, KeyKind::Camera)
            .map_err(|e| invalid("identity", e.to_string()))?;
        let recipients = key_path("recipients", self.recipients.as_deref())?;
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
        let endpoint_url = self.endpoint_url.clone().filter(|u| !u.is_empty());
        if let Some(url) = &endpoint_url {
            validate_url(url)?;
        }
        let config = Config {
            stream_name: self.stream_name.clone(),
            identity,
            recipients,
            source: Source::GStreamer {
                pipeline: super::ELEMENT_NAME.into(),
            },
            endpoint_url: endpoint_url.clone(),
            region: Some(self.aws_region.clone()),
            // Like kvssink: create the stream when it is missing.
            create_stream: Some(self.retention()?),
            fragment_duration: self.fragment_duration()?,
            frame_cipher: FrameCipher::fastest_here(),
            buffer_size: self.storage_size()?,
            spool: None,
            stats_interval: None,
            credentials: Credentials::DefaultChain,
        };
        Ok(Validated {
            client: ConfigOptions {
                region: Some(self.aws_region.clone()),
                endpoint_url,
                credentials: self.credentials()?,
                media_stall_grace: None,
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
        let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        match (set(&self.access_key), set(&self.secret_key)) {
            (Some(access), Some(secret)) => Ok(CredentialSource::Static(AwsCredentials::new(
                access,
                secret,
                set(&self.session_token),
                None,
                "kvse2eesink-properties",
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

fn key_path(property: &'static str, value: Option<&str>) -> Result<PathBuf, SettingsError> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) => Ok(PathBuf::from(v)),
        None => Err(invalid(
            property,
            "required: the path of the key file (see `kvs-e2ee-keys`)",
        )),
    }
}

/// KVS stream names: 1–256 characters of `[a-zA-Z0-9_.-]` (CreateStream API).
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
