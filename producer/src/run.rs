//! One producer run, as the binary performs it: keys, credentials (the AWS
//! IoT provider or the standard chain), DescribeStream (CreateStream with
//! `--create-stream`), GetDataEndpoint, then the [`crate::engine`] until the
//! source ends and every fragment is PERSISTED. [`RunError::exit_code`] maps
//! each failure to the binary's exit status.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::config::{
    ClientConfig, ConfigError as ClientConfigError, ConfigOptions, CredentialSource,
};
use kvs_e2ee_aws::control::{self, DataApi, StreamStatus};
use kvs_e2ee_aws::error::{ApiError, ServiceErrorKind};
use kvs_e2ee_aws::iot::IotError;
use kvs_e2ee_keys::{Identity, KeyError, KeyKind, KeyList, PublicKey, SecretKey};
use tokio::sync::{Notify, mpsc};

use crate::buffer::FragmentBuffer;
use crate::config::{Config, Credentials, StreamSettings};
use crate::engine::link::{ConnectError, KvsConnector};
use crate::engine::package::Packager;
use crate::engine::{Engine, EngineConfig, EngineError, EngineStats, SourceItem};
use crate::fragmenter::KVS_MAX_FRAGMENT_DURATION_MS;
use crate::recipients::{self, watch_recipients};
use crate::source::{MediaReader, SourceError, spawn_pump};
use crate::spool::{Spool, SpoolError};
use crate::store::FragmentStore;

/// Exit status: every fragment persisted.
pub const EXIT_OK: u8 = 0;
/// Exit status: KVS refused the stream (non-retryable error) mid-run.
pub const EXIT_STREAM: u8 = 1;
/// Exit status: a setup mistake (keys, credentials, stream, flags).
pub const EXIT_SETUP: u8 = 2;
/// Exit status: bad input; what was accepted before it was persisted.
pub const EXIT_INPUT: u8 = 3;
/// Exit status: the run ended but fragments were dropped (buffer full).
pub const EXIT_INCOMPLETE: u8 = 4;

/// How long to wait for a stream created with `--create-stream` to become ACTIVE.
const CREATE_WAIT: Duration = Duration::from_secs(60);
/// Source events buffered between the reader task and the engine.
const SOURCE_CHANNEL: usize = 64;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The camera identity or recipients file is unusable.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The recipients file lists no viewer.
    #[error("{0}: no recipients listed; add at least one viewer public key")]
    NoRecipients(String),
    /// The IoT credentials provider refused or could not be reached.
    #[error("cannot get AWS credentials from the IoT credentials provider: {detail}{hint}")]
    IotCredentials {
        /// The provider's error (endpoint, role alias, thing, server message).
        detail: String,
        /// Which setting to check.
        hint: &'static str,
    },
    /// Region or credentials could not be resolved.
    #[error("AWS configuration: {0}")]
    ClientConfig(#[from] ClientConfigError),
    /// A control-plane call failed.
    #[error("{0}{hint}", hint = api_hint(.0))]
    Api(ApiError),
    /// The stream exists but is not ACTIVE.
    #[error("stream {name:?} is {status} (not ACTIVE); wait or recreate it")]
    NotActive {
        /// Stream name.
        name: String,
        /// Its status.
        status: String,
    },
    /// The spool directory could not be opened.
    #[error("--spool: {0}")]
    Spool(#[from] SpoolError),
    /// The source could not be opened.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The PutMedia client could not be built.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Streaming failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The source ended without a single video frame.
    #[error("the source produced no video fragments (empty input, or no key frame)")]
    NothingSent,
    /// The run ended, but fragments were dropped because the buffer was full.
    #[error(
        "{dropped} fragments were dropped because the buffer was full while KVS was unreachable; raise --buffer-size or use --spool"
    )]
    Incomplete {
        /// Fragments dropped.
        dropped: u64,
        /// What was achieved.
        stats: EngineStats,
    },
}

fn api_hint(e: &ApiError) -> &'static str {
    match e.kind {
        ServiceErrorKind::ResourceNotFound => " (pass --create-stream to create it)",
        ServiceErrorKind::NotAuthorized => {
            " (check the IAM policy of these credentials, or the IoT role alias' role)"
        }
        ServiceErrorKind::Transport => " (check --endpoint-url / the network)",
        _ => "",
    }
}

impl RunError {
    /// The binary's exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Engine(
                EngineError::Source(_) | EngineError::Package(_) | EngineError::InputStopped { .. },
            )
            | Self::Source(_) => EXIT_INPUT,
            Self::Engine(_) => EXIT_STREAM,
            Self::Incomplete { .. } => EXIT_INCOMPLETE,
            _ => EXIT_SETUP,
        }
    }
}

fn credential_source(config: &Config) -> Result<CredentialSource, RunError> {
    match &config.credentials {
        Credentials::DefaultChain => Ok(CredentialSource::DefaultChain),
        Credentials::Iot(iot) => Ok(CredentialSource::Iot(iot.clone())),
    }
}

/// DescribeStream; creates the stream when missing and allowed, and waits
/// until it is ACTIVE.
async fn ensure_stream(
    client: &aws_sdk_kinesisvideo::Client,
    name: &str,
    create: Option<u32>,
) -> Result<(), RunError> {
    let id = StreamId::Name(name.to_owned());
    let deadline = tokio::time::Instant::now() + CREATE_WAIT;
    let mut created = false;
    loop {
        match control::describe_stream(client, &id).await {
            Ok(d) if d.status == StreamStatus::Active => return Ok(()),
            Ok(d)
                if d.status == StreamStatus::Creating && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(d) => {
                return Err(RunError::NotActive {
                    name: name.to_owned(),
                    status: format!("{:?}", d.status).to_uppercase(),
                });
            }
            Err(e) if e.kind == ServiceErrorKind::ResourceNotFound && !created => {
                let Some(hours) = create else {
                    return Err(RunError::Api(e));
                };
                let hours = i32::try_from(hours).unwrap_or(i32::MAX);
                let arn = control::create_stream(client, name, hours, Some("video/h264"))
                    .await
                    .map_err(RunError::Api)?;
                tracing::info!(%arn, retention_hours = hours, "created the stream");
                created = true;
            }
            Err(e) => return Err(RunError::Api(e)),
        }
    }
}

/// The camera's active secret key and the viewers' public keys, read once per run (the
/// recipients file is then watched for changes by [`watch_recipients`]).
struct CameraKeys {
    camera: SecretKey,
    recipients: Vec<PublicKey>,
}

impl CameraKeys {
    fn load(config: &StreamSettings) -> Result<Self, RunError> {
        let identity = Identity::load_kind(&config.identity, KeyKind::Camera)?;
        let recipients = KeyList::load(&config.recipients, KeyKind::Viewer)?;
        let recipients: Vec<_> = recipients.entries().iter().map(|e| e.key).collect();
        if recipients.is_empty() {
            return Err(RunError::NoRecipients(
                config.recipients.display().to_string(),
            ));
        }
        Ok(Self {
            camera: identity.active().clone(),
            recipients,
        })
    }
}

fn open_store(config: &StreamSettings) -> Result<Box<dyn FragmentStore>, RunError> {
    match &config.spool {
        None => Ok(Box::new(FragmentBuffer::<Bytes>::new(config.buffer_size))),
        Some(dir) => {
            let (spool, report) = Spool::open(dir, config.buffer_size)?;
            tracing::info!(dir = %dir.display(), ?report, "spool opened");
            Ok(Box::new(spool))
        }
    }
}

/// Signals that end input gracefully: SIGINT, and SIGTERM on Unix.
fn watch_signals(stop: Arc<Notify>) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stop requested: flushing and waiting for the last PERSISTED acks");
        stop.notify_one();
    });
}

/// Runs the producer with a validated configuration.
/// SIGINT/SIGTERM end the input gracefully.
pub async fn run(config: Config) -> Result<EngineStats, RunError> {
    let stop = Arc::new(Notify::new());
    watch_signals(stop.clone());
    run_with(config, EngineConfig::default(), stop).await
}

/// [`run`] with engine settings and a stop handle (notify it to end the
/// input gracefully, as SIGINT does).
pub async fn run_with(
    config: Config,
    engine_config: EngineConfig,
    stop: Arc<Notify>,
) -> Result<EngineStats, RunError> {
    // Keys first: a bad key file is named before any AWS setup can fail.
    let keys = CameraKeys::load(&config.stream)?;
    let client = ClientConfig::load(ConfigOptions {
        region: config.region.clone(),
        endpoint_url: config.endpoint_url.clone(),
        credentials: credential_source(&config)?,
        media_stall_grace: None,
        ca_bundle: config.ca_bundle.clone(),
    })
    .await?;
    if matches!(config.credentials, Credentials::Iot(_)) {
        // Fetch once now: a setup mistake is named here, not buried in the
        // SDK's dispatch error of the first DescribeStream. The provider caches it.
        client
            .credentials()
            .await
            .map_err(|e| iot_credentials_error(&e))?;
    }
    stream_with_keys(config, keys, client, engine_config, stop).await
}

/// Names the IoT setting behind a failed credentials fetch.
fn iot_credentials_error(err: &(dyn std::error::Error + 'static)) -> RunError {
    let iot =
        std::iter::successors(Some(err), |e| e.source()).find_map(|e| e.downcast_ref::<IotError>());
    let Some(iot) = iot else {
        return RunError::IotCredentials {
            detail: err.to_string(),
            hint: "",
        };
    };
    let hint = match iot {
        IotError::Unreachable { .. } => {
            "; check --iot-endpoint (AWS_IOT_CORE_CREDENTIAL_ENDPOINT): it is the account's \
             credentials endpoint from `aws iot describe-endpoint --endpoint-type iot:CredentialProvider`, \
             and --iot-ca must hold the root CA that endpoint chains to"
        }
        IotError::Refused(r) if r.status == 404 => {
            "; check --iot-role-alias (AWS_IOT_CORE_ROLE_ALIAS) against `aws iot list-role-aliases` \
             in the stream's region"
        }
        IotError::Refused(r)
            if r.status == 403
                && r.message
                    .as_deref()
                    .is_some_and(|m| m.contains("thing name")) =>
        {
            "; check --iot-thing-name (AWS_IOT_CORE_THING_NAME, default: the stream name): the \
             certificate must be attached to that thing (`aws iot attach-thing-principal`)"
        }
        IotError::Refused(r) if r.status == 403 => {
            "; check that --iot-cert is ACTIVE in AWS IoT and its IoT policy allows \
             iot:AssumeRoleWithCertificate on the role alias"
        }
        _ => "",
    };
    RunError::IotCredentials {
        detail: iot.to_string(),
        hint,
    }
}

/// [`run_with`] with an already resolved client configuration (e.g. static
/// credentials in tests); `config`'s region, endpoint and credential
/// settings are not used.
pub async fn stream_with(
    config: Config,
    client: ClientConfig,
    engine_config: EngineConfig,
    stop: Arc<Notify>,
) -> Result<EngineStats, RunError> {
    // Keys first: a bad key file is reported before the source is opened.
    let keys = CameraKeys::load(&config.stream)?;
    stream_with_keys(config, keys, client, engine_config, stop).await
}

async fn stream_with_keys(
    config: Config,
    keys: CameraKeys,
    client: ClientConfig,
    engine_config: EngineConfig,
    stop: Arc<Notify>,
) -> Result<EngineStats, RunError> {
    let reader = MediaReader::open(&config.source).await?;
    stream_source_with_keys(config, keys, client, reader, engine_config, stop).await
}

/// [`stream_with`] reading `reader` instead of `config.source` (e.g. an
/// in-memory pipe in tests).
pub async fn stream_source(
    config: Config,
    client: ClientConfig,
    reader: MediaReader,
    engine_config: EngineConfig,
    stop: Arc<Notify>,
) -> Result<EngineStats, RunError> {
    let keys = CameraKeys::load(&config.stream)?;
    stream_source_with_keys(config, keys, client, reader, engine_config, stop).await
}

async fn stream_source_with_keys(
    config: Config,
    keys: CameraKeys,
    client: ClientConfig,
    mut reader: MediaReader,
    engine_config: EngineConfig,
    stop: Arc<Notify>,
) -> Result<EngineStats, RunError> {
    let prepared = prepare_with_keys(config.stream, keys, client).await?;
    if let Some(ms) = prepared.not_before_ms() {
        reader.not_before(ms);
    }
    let source = spawn_pump(reader, SOURCE_CHANNEL, stop);
    prepared.stream(source, engine_config).await
}

/// A stream ready to be fed, made by [`prepare`]: keys loaded, the stream
/// ACTIVE (created if allowed), the PutMedia endpoint known, the fragment
/// store open. [`Prepared::stream`] then runs the engine on any event source,
/// e.g. frames pushed by a GStreamer element through a channel.
pub struct Prepared {
    connector: KvsConnector,
    packager: Packager<rand::rand_core::UnwrapErr<rand::rngs::SysRng>>,
    store: Box<dyn FragmentStore>,
    stats_interval: Option<Duration>,
    recipients: std::path::PathBuf,
    not_before_ms: Option<i64>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The packager holds the camera's secret key: show nothing of it.
        f.debug_struct("Prepared").finish_non_exhaustive()
    }
}

/// Everything [`stream_source`] does before the first frame: loads the keys,
/// checks (or creates) the stream, asks for the PutMedia endpoint and opens
/// the fragment store. Setup mistakes surface here, before any media flows.
pub async fn prepare(config: StreamSettings, client: ClientConfig) -> Result<Prepared, RunError> {
    let keys = CameraKeys::load(&config)?;
    prepare_with_keys(config, keys, client).await
}

async fn prepare_with_keys(
    config: StreamSettings,
    keys: CameraKeys,
    client: ClientConfig,
) -> Result<Prepared, RunError> {
    let CameraKeys { camera, recipients } = keys;
    let control_client = client.control_client();
    ensure_stream(&control_client, &config.stream_name, config.create_stream).await?;
    let stream = StreamId::Name(config.stream_name.clone());
    let endpoint = control::get_data_endpoint(&control_client, &stream, DataApi::PutMedia)
        .await
        .map_err(RunError::Api)?;
    tracing::info!(stream = %config.stream_name, %endpoint, "stream is active");
    let store = open_store(&config)?;
    let connector = KvsConnector::new(client, stream, Some(endpoint))?;
    let fragment_ms = i64::try_from(config.fragment_duration.as_millis()).unwrap_or(i64::MAX);
    let packager = Packager::new(
        config.stream_name.clone(),
        camera,
        recipients,
        fragment_ms,
        rand::rand_core::UnwrapErr(rand::rngs::SysRng),
    )
    .with_frame_cipher(config.frame_cipher);
    let not_before_ms = store
        .newest_timecode()
        // The newest spooled fragment may span up to KVS's longest fragment.
        .map(|newest| newest.saturating_add(KVS_MAX_FRAGMENT_DURATION_MS));
    Ok(Prepared {
        connector,
        packager,
        store,
        stats_interval: config.stats_interval,
        recipients: config.recipients,
        not_before_ms,
    })
}

impl Prepared {
    /// When fragments recovered from a spool are pending: the time (ms since
    /// the epoch) new frames must start after, for a source that invents its
    /// timeline (see [`MediaReader::not_before`]).
    pub fn not_before_ms(&self) -> Option<i64> {
        self.not_before_ms
    }

    /// Runs the engine on `source` until it closes (the end of input: the
    /// last fragment is flushed) and every fragment is PERSISTED, or a
    /// non-retryable error. Dropping the sender is the graceful stop. The
    /// recipients file is watched and re-read, as in [`run`].
    pub async fn stream(
        self,
        source: mpsc::Receiver<SourceItem>,
        mut engine_config: EngineConfig,
    ) -> Result<EngineStats, RunError> {
        engine_config.stats_interval = engine_config.stats_interval.or(self.stats_interval);
        let updates = watch_recipients(self.recipients, recipients::DEFAULT_POLL);
        let stats = Engine::new(engine_config, self.connector, self.packager, self.store)
            .with_recipient_updates(updates)
            .run(source)
            .await?;
        if stats.dropped_fragments > 0 {
            return Err(RunError::Incomplete {
                dropped: stats.dropped_fragments,
                stats,
            });
        }
        if stats.fragments == 0 {
            return Err(RunError::NothingSent);
        }
        Ok(stats)
    }
}
