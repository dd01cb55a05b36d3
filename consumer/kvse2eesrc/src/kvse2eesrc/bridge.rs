//! The viewer behind the element: [`run_with_output`] on its own thread and
//! tokio runtime, writing into a bounded channel the streaming thread reads,
//! so a slow pipeline slows the read instead of growing memory.

use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use kvs_e2ee_consumer::run::{Config, RunError, run_with_output};
use tokio::sync::oneshot;

/// Chunks of verified MKV buffered between the viewer and the streaming thread.
const CHANNEL: usize = 64;
/// How often a waiting `create` checks whether it was unlocked.
const POLL: Duration = Duration::from_millis(50);

/// What the viewer thread sends.
enum Msg {
    /// Verified MKV bytes.
    Data(Vec<u8>),
    /// The read ended: `Ok` when everything read verified.
    End(Result<(), String>),
}

/// What the streaming thread gets next.
pub(super) enum Next {
    /// Verified MKV bytes to push.
    Data(Vec<u8>),
    /// The read completed (`until-current`): end of stream.
    Eos,
    /// The read failed; the message says why.
    Error(String),
    /// Nothing yet and the element was unlocked.
    Flushing,
}

/// Writes the viewer's output into the channel; a dropped receiver (the
/// element stopped) is a broken pipe, which ends the read cleanly.
struct ChannelWriter(SyncSender<Msg>);

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .send(Msg::Data(buf.to_vec()))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One running read.
pub(super) struct Session {
    rx: Option<Receiver<Msg>>,
    cancel: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    ended: bool,
}

impl Session {
    /// Starts reading on a new thread.
    pub fn start(config: Config) -> io::Result<Self> {
        let (tx, rx) = sync_channel(CHANNEL);
        let (cancel, cancelled) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("kvse2eesrc".into())
            .spawn(move || {
                let writer = Box::new(ChannelWriter(tx.clone()));
                let end = runtime.block_on(async move {
                    tokio::select! {
                        r = run_with_output(config, writer) => Some(ending(r)),
                        _ = cancelled => None,
                    }
                });
                if let Some(end) = end {
                    let _ = tx.send(Msg::End(end));
                }
            })?;
        Ok(Self {
            rx: Some(rx),
            cancel: Some(cancel),
            thread: Some(thread),
            ended: false,
        })
    }

    /// Waits for the next chunk, the end, or `unlocked()` turning true.
    pub fn next(&mut self, unlocked: impl Fn() -> bool) -> Next {
        let Some(rx) = &self.rx else {
            return Next::Flushing;
        };
        if self.ended {
            return Next::Eos;
        }
        loop {
            if unlocked() {
                return Next::Flushing;
            }
            match rx.recv_timeout(POLL) {
                Ok(Msg::Data(bytes)) => return Next::Data(bytes),
                Ok(Msg::End(Ok(()))) => {
                    self.ended = true;
                    return Next::Eos;
                }
                Ok(Msg::End(Err(e))) => {
                    self.ended = true;
                    return Next::Error(e);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.ended = true;
                    return Next::Error("the reading thread ended abnormally".into());
                }
            }
        }
    }

    /// Stops the read and waits for its thread.
    pub fn stop(mut self) {
        // Dropping the receiver unblocks a writer waiting on a full channel;
        // the cancel signal ends a read waiting on the network.
        self.rx = None;
        if let Some(cancel) = self.cancel.take() {
            let _ = cancel.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The read's result as the element reports it.
fn ending(r: Result<kvs_e2ee_consumer::Outcome, RunError>) -> Result<(), String> {
    let outcome = r.map_err(describe)?;
    if let Some(stopped) = outcome.stopped {
        return Err(describe(stopped));
    }
    if !outcome.summary.all_verified() {
        return Err(format!("not everything verified: {}", outcome.summary));
    }
    Ok(())
}

/// Says what to check for each kind of failure.
fn describe(e: RunError) -> String {
    match e {
        RunError::Api(_) | RunError::Connection { .. } => format!(
            "cannot read the stream (check endpoint-url, aws-region, stream-name and the credentials): {e}"
        ),
        RunError::Config(_) => {
            format!("credentials or region (access-key, secret-key, aws-region): {e}")
        }
        RunError::Pipeline(_) => {
            format!("the read stopped: {e} (everything output before it verified)")
        }
        other => other.to_string(),
    }
}
