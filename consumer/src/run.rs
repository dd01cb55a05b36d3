//! Reading a stream from KVS (or kvs-local): live through GetMedia with resume, or a time
//! range through ListFragments + GetMediaForFragmentList, into the pipeline or inspector.
//!
//! The live reader is a small state machine: requesting → reading → (connection dropped)
//! resuming from the last continuation token, so the output has no gap and no duplicate.

use std::sync::Arc;

use kvs_e2ee_aws::retry::Backoff;
use std::io::Write;
use std::path::PathBuf;
use std::pin::pin;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::archive::{self, MAX_FRAGMENTS_PER_CALL, TimestampKind};
use kvs_e2ee_aws::config::{ClientConfig, ConfigError, ConfigOptions};
use kvs_e2ee_aws::control::{DataApi, get_data_endpoint};
use kvs_e2ee_aws::error::ApiError;
use kvs_e2ee_aws::getmedia::{MediaStream, StartSelector, get_media};
use kvs_e2ee_envelope::{OpenerConfig, PublicKey, SecretKey};
use tokio::time::Instant;

use crate::inspect::Inspector;
use crate::pipeline::{DEFAULT_MAX_BUFFERED_BYTES, Pipeline, PipelineConfig, PipelineError};
use kvs_e2ee_envelope::Summary;

/// Consecutive failed (re)connections before a live read gives up.
const MAX_RECONNECTS: u32 = 5;
/// Pause before reconnecting (doubling per failed attempt).
const RECONNECT_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(200),
    max: Duration::from_secs(5),
};
/// Default quiet period after which `--until-current` considers the read caught up.
pub const DEFAULT_CATCH_UP_IDLE: Duration = Duration::from_secs(3);

/// Where a live read starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The newest fragment.
    Now,
    /// The oldest stored fragment.
    Earliest,
    /// GetMedia's `AfterFragmentNumber`: the fragment from which the service starts returning.
    Fragment(String),
    /// The first fragment with a producer timestamp at or after this time.
    ProducerTime(SystemTime),
    /// The first fragment with a server timestamp at or after this time.
    ServerTime(SystemTime),
}

/// A start selector that is not one of `now`, `earliest`, `fragment:N`,
/// `producer-time:T` or `server-time:T`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "start {0:?}: expected now, earliest, fragment:N, producer-time:T or server-time:T (T: RFC 3339 or epoch seconds)"
)]
pub struct ParseStartError(String);

impl std::str::FromStr for Start {
    type Err = ParseStartError;

    /// `now`, `earliest`, `fragment:N`, `producer-time:T` or `server-time:T`, where `T` is
    /// RFC 3339 (`2026-11-23T10:00:00Z`) or epoch seconds (`1764000000.5`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseStartError(s.to_owned());
        Ok(match s.split_once(':') {
            None if s == "now" => Self::Now,
            None if s == "earliest" => Self::Earliest,
            Some(("fragment", n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                Self::Fragment(n.to_owned())
            }
            Some(("producer-time", t)) => Self::ProducerTime(parse_time(t).ok_or_else(bad)?),
            Some(("server-time", t)) => Self::ServerTime(parse_time(t).ok_or_else(bad)?),
            _ => return Err(bad()),
        })
    }
}

/// RFC 3339 (`2026-11-23T10:00:00Z`) or epoch seconds (`1764000000.5`).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

impl Start {
    fn selector(&self) -> StartSelector {
        match self {
            Self::Now => StartSelector::Now,
            Self::Earliest => StartSelector::Earliest,
            Self::Fragment(n) => StartSelector::FragmentNumber(n.clone()),
            Self::ProducerTime(t) => StartSelector::ProducerTimestamp(*t),
            Self::ServerTime(t) => StartSelector::ServerTimestamp(*t),
        }
    }
}

/// Live or archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// GetMedia from `start`.
    Live {
        /// Where to start.
        start: Start,
        /// Stop once caught up with the newest fragment.
        until_current: bool,
    },
    /// Fragments whose producer timestamps lie in `[from, to]`.
    Archive {
        /// Range start.
        from: SystemTime,
        /// Range end.
        to: SystemTime,
    },
}

/// Where the MKV (or the `--inspect` listing) goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// Standard output.
    Stdout,
    /// A file (created or truncated).
    File(PathBuf),
}

/// A validated viewer configuration.
pub struct Config {
    /// KVS stream name.
    pub stream: String,
    /// The viewer's secret keys, every generation.
    pub identities: Vec<SecretKey>,
    /// Trusted camera keys.
    pub trusted_cameras: Vec<PublicKey>,
    /// Live or archive.
    pub mode: Mode,
    /// Stop a live read after this long.
    pub max_duration: Option<Duration>,
    /// Continue past bad fragments.
    pub keep_going: bool,
    /// List fragments as the cloud sees them instead of decrypting.
    pub inspect: bool,
    /// Region, endpoint and credentials.
    pub client: ConfigOptions,
    /// Quiet period that means "caught up" for `until_current`.
    pub catch_up_idle: Duration,
    /// Told how far an archive read is (the binary draws a progress bar with it).
    pub progress: Option<ProgressFn>,
    /// Cancelled to end the read early and keep what was verified (the binary cancels it
    /// on Ctrl-C); `None`: the read runs until it is done.
    pub stop: Option<CancellationToken>,
}

/// How far an archive read is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of fragments read so far.
    pub bytes: u64,
    /// Bytes of all fragments in the range (ListFragments' sizes).
    pub total: u64,
}

/// Receives [`Progress`] reports.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Resolves when `stop` is cancelled; never without one.
async fn stopped(stop: Option<&CancellationToken>) {
    match stop {
        Some(t) => t.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Why a read could not start or went on failing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Client configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A KVS call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The pipeline stopped (a verification failure, bad input, or the output).
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The media connection kept failing.
    #[error("the media connection failed {attempts} times in a row; last error: {last}")]
    Connection {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: String,
    },
    /// The output file could not be created.
    /// (The OS error is part of the message, not chained, so it is said once.)
    #[error("cannot create {path}: {error}")]
    CreateOutput {
        /// The path.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

impl RunError {
    /// Whether the output's reader went away (a clean exit for `-o -`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Pipeline(p) if p.is_broken_pipe())
    }
}

/// What a read did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Verification summary (empty for `--inspect`).
    pub summary: Summary,
    /// Fragments listed by `--inspect`.
    pub inspected: Option<u64>,
    /// Why the read stopped early, if it did (everything written before had verified).
    pub stopped: Option<RunError>,
}

impl Outcome {
    /// Whether the read completed and everything read verified.
    pub fn success(&self) -> bool {
        self.stopped.is_none() && (self.inspected.is_some() || self.summary.all_verified())
    }
}

/// Where [`run_with_output`] writes the verified MKV (or the `--inspect` listing).
pub type Out = Box<dyn Write + Send>;

/// The pipeline or the inspector, fed the same way.
enum Sink {
    Verify(Box<Pipeline<Out>>),
    Inspect(Box<Inspector<Out>>),
}

impl Sink {
    fn push(&mut self, b: &[u8]) -> Result<(), PipelineError> {
        match self {
            Self::Verify(p) => p.push(b),
            Self::Inspect(i) => i.push(b),
        }
    }

    fn reconnected(&mut self) {
        match self {
            Self::Verify(p) => p.reconnected(),
            Self::Inspect(i) => i.reconnected(),
        }
    }

    fn continuation_token(&self) -> Option<String> {
        match self {
            Self::Verify(p) => p.continuation_token().map(str::to_owned),
            Self::Inspect(i) => i.continuation_token().map(str::to_owned),
        }
    }

    fn finish(&mut self, outcome: &mut Outcome) -> Result<(), PipelineError> {
        match self {
            Self::Verify(p) => p.finish(),
            Self::Inspect(i) => {
                outcome.inspected = Some(i.finish()?);
                Ok(())
            }
        }
    }
}

fn open_output(target: &OutputTarget) -> Result<Out, RunError> {
    Ok(match target {
        OutputTarget::Stdout => Box::new(std::io::BufWriter::new(std::io::stdout())),
        OutputTarget::File(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|error| RunError::CreateOutput {
                path: path.clone(),
                error,
            })?,
        )),
    })
}

/// Reads the stream as configured. Errors before anything was read are `Err`; a read that
/// stops later reports why in [`Outcome::stopped`], with the summary of what it verified.
pub async fn run(config: Config, output: &OutputTarget) -> Result<Outcome, RunError> {
    let out = open_output(output)?;
    run_with_output(config, out).await
}

/// [`run`], writing to `out` instead of a file or standard output: for
/// applications that take the verified MKV in memory, such as the GStreamer source
/// `kvse2eesrc` and `--play`.
pub async fn run_with_output(config: Config, out: Out) -> Result<Outcome, RunError> {
    let client = ClientConfig::load(config.client.clone()).await?;
    let stream = StreamId::Name(config.stream.clone());
    let mut sink = if config.inspect {
        Sink::Inspect(Box::new(Inspector::new(out)))
    } else {
        Sink::Verify(Box::new(Pipeline::new(
            PipelineConfig {
                opener: OpenerConfig {
                    stream_name: config.stream.clone(),
                    identities: config.identities.clone(),
                    trusted_cameras: config.trusted_cameras.clone(),
                    danger_accept_plaintext: false,
                },
                keep_going: config.keep_going,
                max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            },
            out,
        )))
    };
    let mut outcome = Outcome::default();
    let read = match &config.mode {
        Mode::Live {
            start,
            until_current,
        } => read_live(&config, &client, &stream, start, *until_current, &mut sink).await,
        Mode::Archive { from, to } => {
            read_archive(&config, &client, &stream, *from, *to, &mut sink).await
        }
    };
    let finished = read.and_then(|()| sink.finish(&mut outcome).map_err(RunError::from));
    outcome.stopped = finished.err();
    if let Sink::Verify(p) = sink {
        outcome.summary = p.summary().clone();
        if let Err(e) = p.into_output()
            && outcome.stopped.is_none()
        {
            outcome.stopped = Some(PipelineError::from(e).into());
        }
    }
    Ok(outcome)
}

enum Ending {
    Done,
    Dropped(String),
}

async fn read_live(
    config: &Config,
    client: &ClientConfig,
    stream: &StreamId,
    start: &Start,
    until_current: bool,
    sink: &mut Sink,
) -> Result<(), RunError> {
    let control = client.control_client();
    let endpoint = get_data_endpoint(&control, stream, DataApi::GetMedia).await?;
    let media = client.media_client(&endpoint);
    let deadline = config.max_duration.map(|d| Instant::now() + d);
    let mut stop = pin!(async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    });
    let mut stop_requested = pin!(stopped(config.stop.as_ref()));
    let mut selector = start.selector();
    let mut attempts = 0u32;
    loop {
        let ending = tokio::select! {
            r = get_media(&media, stream, &selector) => match r {
                Ok(body) => {
                    tokio::select! {
                        e = pump(body, sink, until_current.then_some(config.catch_up_idle), &mut attempts) => e?,
                        _ = &mut stop => return Ok(()),
                        _ = &mut stop_requested => return Ok(()),
                    }
                }
                Err(e) if e.is_retryable() => Ending::Dropped(e.to_string()),
                Err(e) => return Err(e.into()),
            },
            _ = &mut stop => return Ok(()),
            _ = &mut stop_requested => return Ok(()),
        };
        match ending {
            Ending::Done if until_current => return Ok(()),
            // KVS ends a response after a few quiet seconds: resume, it is not a failure.
            Ending::Done => tracing::debug!("GetMedia response ended; resuming"),
            Ending::Dropped(last) => {
                attempts += 1;
                if attempts > MAX_RECONNECTS {
                    return Err(RunError::Connection { attempts, last });
                }
                tracing::info!("GetMedia connection dropped ({last}); resuming");
            }
        }
        sink.reconnected();
        if let Some(token) = sink.continuation_token() {
            selector = StartSelector::ContinuationToken(token);
        }
        tokio::time::sleep(RECONNECT_BACKOFF.delay(attempts.max(1))).await;
    }
}

/// Feeds one GetMedia response into the sink until it ends, drops, or (with `idle`) stays
/// quiet that long.
async fn pump(
    mut body: MediaStream,
    sink: &mut Sink,
    idle: Option<Duration>,
    attempts: &mut u32,
) -> Result<Ending, RunError> {
    loop {
        let next = match idle {
            Some(idle) => match tokio::time::timeout(idle, body.next_chunk()).await {
                Ok(next) => next,
                Err(_) => return Ok(Ending::Done),
            },
            None => body.next_chunk().await,
        };
        match next {
            Some(Ok(bytes)) => {
                sink.push(&bytes)?;
                *attempts = 0;
            }
            Some(Err(e)) => return Ok(Ending::Dropped(e.to_string())),
            None => return Ok(Ending::Done),
        }
    }
}

async fn read_archive(
    config: &Config,
    client: &ClientConfig,
    stream: &StreamId,
    from: SystemTime,
    to: SystemTime,
    sink: &mut Sink,
) -> Result<(), RunError> {
    let control = client.control_client();
    let list_endpoint = get_data_endpoint(&control, stream, DataApi::ListFragments).await?;
    let fragments = archive::list_fragments(
        &client.archive_client(&list_endpoint),
        stream,
        from,
        to,
        TimestampKind::Producer,
    )
    .await?;
    if fragments.is_empty() {
        tracing::warn!("no fragments in the requested time range");
        return Ok(());
    }
    let media_endpoint =
        get_data_endpoint(&control, stream, DataApi::GetMediaForFragmentList).await?;
    let media = client.archive_client(&media_endpoint);
    let total: u64 = fragments
        .iter()
        .map(|f| u64::try_from(f.size_bytes).unwrap_or(0))
        .sum();
    let mut read = 0u64;
    let report = |bytes| {
        if let Some(p) = &config.progress {
            p(Progress { bytes, total });
        }
    };
    report(0);
    for batch in fragments.chunks(MAX_FRAGMENTS_PER_CALL) {
        let numbers: Vec<String> = batch.iter().map(|f| f.number.clone()).collect();
        let mut body = archive::get_media_for_fragment_list(&media, stream, &numbers).await?;
        loop {
            let chunk = tokio::select! {
                c = body.next_chunk() => c,
                () = stopped(config.stop.as_ref()) => return Ok(()),
            };
            let Some(chunk) = chunk else { break };
            let bytes = chunk.map_err(|e| RunError::Connection {
                attempts: 1,
                last: e.to_string(),
            })?;
            read += bytes.len() as u64;
            report(read);
            sink.push(&bytes)?;
        }
    }
    Ok(())
}
