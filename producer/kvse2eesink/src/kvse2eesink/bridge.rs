//! The producer engine behind the element: a tokio runtime per session, the
//! setup ([`prepare`]) run at state change, and the engine task fed through a
//! bounded channel, so a slow network blocks the streaming thread instead of
//! growing memory.

use std::time::Duration;

use kvs_e2ee_aws::config::{ClientConfig, install_crypto_provider};
use kvs_e2ee_aws::error::ServiceErrorKind;
use kvs_e2ee_producer::engine::{EngineConfig, EngineStats, SourceItem};
use kvs_e2ee_producer::media::SourceEvent;
use kvs_e2ee_producer::run::{RunError, prepare};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::instrument::WithSubscriber;

use super::settings::Validated;

/// Frames buffered between the streaming thread and the engine.
const CHANNEL: usize = 64;
/// Upper bound on the setup (credentials, DescribeStream/CreateStream,
/// GetDataEndpoint), so an unreachable endpoint fails the state change
/// instead of hanging it.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stop without EOS lets the engine flush before it is cut off.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why a session could not start or ended with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(super) enum SessionError {
    /// The async runtime could not be created.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// Setup did not finish in time.
    #[error(
        "no answer from Kinesis Video Streams within {0:?}; check endpoint-url, aws-region and the network"
    )]
    SetupTimeout(Duration),
    /// KVS could not be reached during setup.
    #[error(
        "cannot reach Kinesis Video Streams (check endpoint-url, aws-region and the network): {0}"
    )]
    Unreachable(String),
    /// The credentials were refused or could not be obtained.
    #[error("credentials (iot-certificate, or access-key/secret-key/session-token): {0}")]
    Credentials(String),
    /// The producer failed.
    #[error("{0}")]
    Run(#[from] RunError),
    /// A connection failed and `restart-on-error` is false.
    #[error("the PutMedia connection failed and restart-on-error is false")]
    NoRestart,
    /// The engine task panicked or was cancelled.
    #[error("the streaming task ended abnormally: {0}")]
    Task(String),
    /// The element was flushed or stopped while waiting.
    #[error("interrupted by a flush or state change")]
    Interrupted,
}

impl SessionError {
    /// Whether the input (not the network or settings) was at fault.
    pub fn is_input(&self) -> bool {
        matches!(self, Self::Run(e) if e.exit_code() == kvs_e2ee_producer::run::EXIT_INPUT)
    }
}

/// Classifies a setup failure by what the user should look at.
fn setup_error(e: RunError) -> SessionError {
    match &e {
        RunError::Api(api) => match api.kind {
            ServiceErrorKind::Transport => SessionError::Unreachable(api.to_string()),
            ServiceErrorKind::NotAuthorized => SessionError::Credentials(api.to_string()),
            _ => SessionError::Run(e),
        },
        RunError::ClientConfig(c) => SessionError::Credentials(c.to_string()),
        _ => SessionError::Run(e),
    }
}

/// Why a frame was not taken.
#[derive(Debug)]
pub(super) enum SendError {
    /// The element is flushing (unlock): drop the frame quietly.
    Flushing,
    /// The engine stopped; [`Session::finish`] tells why.
    Ended,
}

/// One streaming session: from a successful setup until EOS or stop.
pub(super) struct Session {
    runtime: Runtime,
    tx: Option<mpsc::Sender<SourceItem>>,
    task: Option<JoinHandle<Result<EngineStats, SessionError>>>,
    /// Posts the stats; ends when the engine (holding the sender) is gone.
    reporter: Option<JoinHandle<()>>,
    flushing: watch::Sender<bool>,
}

impl Session {
    /// Sets up the stream (blocking, bounded by [`SETUP_TIMEOUT`]) and starts
    /// the engine; `on_stats` is called on the runtime whenever a fragment is
    /// completed or persisted, or the connection count changes.
    /// `flushing` is the element's unlock flag: while it is true, blocking
    /// calls return at once.
    pub fn start(
        validated: Validated,
        flushing: watch::Sender<bool>,
        on_stats: impl Fn(EngineStats) + Send + 'static,
    ) -> Result<Self, SessionError> {
        install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kvse2eesink")
            .enable_all()
            .build()
            .map_err(SessionError::Runtime)?;
        let Validated {
            config,
            client,
            restart_on_error,
        } = validated;
        let prepared = runtime.block_on(async {
            let setup = async {
                let client = ClientConfig::load(client)
                    .await
                    .map_err(|e| SessionError::Credentials(e.to_string()))?;
                prepare(config, client).await.map_err(setup_error)
            };
            tokio::time::timeout(
                SETUP_TIMEOUT,
                setup.with_subscriber(super::log::subscriber()),
            )
            .await
            .map_err(|_| SessionError::SetupTimeout(SETUP_TIMEOUT))?
        })?;
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (stats_tx, stats_rx) = watch::channel(EngineStats::default());
        let engine = EngineConfig {
            stats_watch: Some(stats_tx),
            ..EngineConfig::default()
        };
        let mut failures = stats_rx.clone();
        let task = runtime.spawn(
            async move {
                let lost = async move {
                    // `Err` means the engine ended (and dropped the sender) first.
                    if failures.wait_for(|s| s.reconnects > 0).await.is_ok() {
                        return;
                    }
                    std::future::pending::<()>().await;
                };
                tokio::select! {
                    r = prepared.stream(rx, engine) => r.map_err(SessionError::from),
                    () = lost, if !restart_on_error => Err(SessionError::NoRestart),
                }
            }
            .with_subscriber(super::log::subscriber()),
        );
        let reporter = runtime.spawn(report_stats(stats_rx, on_stats));
        Ok(Self {
            runtime,
            tx: Some(tx),
            task: Some(task),
            reporter: Some(reporter),
            flushing,
        })
    }

    /// Hands an event to the engine, waiting while its channel is full.
    pub fn send(&self, event: SourceEvent) -> Result<(), SendError> {
        let Some(tx) = &self.tx else {
            return Err(SendError::Ended);
        };
        let mut flushing = self.flushing.subscribe();
        self.runtime.block_on(async {
            tokio::select! {
                r = tx.send(Ok(event)) => r.map_err(|_| SendError::Ended),
                _ = flushing.wait_for(|f| *f) => Err(SendError::Flushing),
            }
        })
    }

    /// Ends the input (the engine flushes the last fragment) and waits until
    /// every fragment is PERSISTED; or returns why the engine stopped.
    pub fn finish(&mut self) -> Result<EngineStats, SessionError> {
        self.tx = None;
        let Some(task) = self.task.take() else {
            return Err(SessionError::Task("the session already ended".into()));
        };
        let reporter = self.reporter.take();
        let mut flushing = self.flushing.subscribe();
        self.runtime.block_on(async {
            let done = async {
                let result = task.await;
                // The last progress message goes out before the caller's final one.
                if let Some(reporter) = reporter {
                    let _ = reporter.await;
                }
                result
            };
            tokio::select! {
                r = done => r.map_err(|e| SessionError::Task(e.to_string()))?,
                _ = flushing.wait_for(|f| *f) => Err(SessionError::Interrupted),
            }
        })
    }

    /// Stops without EOS: ends the input, lets the engine flush for at most
    /// [`STOP_GRACE`], then cuts it off.
    pub fn stop(mut self) {
        self.tx = None;
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            let done = self
                .runtime
                .block_on(async { tokio::time::timeout(STOP_GRACE, task).await });
            if done.is_err() {
                abort.abort();
            }
        }
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

/// Calls `on_stats` when a counter other than the byte count moves.
async fn report_stats(
    mut rx: watch::Receiver<EngineStats>,
    on_stats: impl Fn(EngineStats) + Send + 'static,
) {
    let mut last = EngineStats::default();
    while rx.changed().await.is_ok() {
        let now = *rx.borrow_and_update();
        let moved = now.fragments != last.fragments
            || now.fragments_persisted != last.fragments_persisted
            || now.connections != last.connections
            || now.reconnects != last.reconnects
            || now.dropped_fragments != last.dropped_fragments;
        if moved {
            on_stats(now);
        }
        last = now;
    }
}
