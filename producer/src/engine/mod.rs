//! The streaming engine: source events → [`package::Packager`] (seal each frame
//! as it arrives) → Matroska bytes → PutMedia, with every fragment kept in a
//! [`FragmentStore`] until KVS says PERSISTED.
//!
//! Connection life (the private `Link` enum, moved only by `Engine::lose`,
//! `Engine::connect` and `Engine::start_drain`):
//! `Down` (waiting for the backoff to pass) → `Up` (body open: header, then
//! every fragment not yet persisted, byte for byte, then live data) →
//! `Draining` (body ended for rotation or at the end of input; reading the
//! remaining ACKs) → `Down`/`Up` again.
//!
//! - A dropped connection, an HTTP 5xx, throttling, an expired token or a
//!   retryable `ERROR` ack (4000, 4003, 5000, 5001) moves to `Down`; after an
//!   exponential backoff the engine reconnects and resends what is not
//!   persisted, the same bytes (so a viewer recognises duplicates).
//! - Non-retryable errors (not authorized, stream missing, invalid data) end
//!   the run with [`EngineError`].
//! - The connection is rotated at a fragment boundary once it is older than
//!   [`EngineConfig::rotate_after`] (KVS ends long connections with 4003).
//! - When the store is full it drops whole oldest fragments (counted in
//!   [`EngineStats::dropped_fragments`] and logged by the store).
//! - At the end of input (or a source/packaging error) the envelope chain is
//!   closed, the body ended, and the engine waits until the store is empty.

pub mod link;
pub mod package;

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use kvs_e2ee_aws::ack::{AckErrorId, AckEvent, AckEventType};
use kvs_e2ee_aws::putmedia::PutMediaError;
use kvs_e2ee_envelope::PublicKey;
use rand_core::CryptoRng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::buffer::AckKind;
use crate::media::SourceEvent;
use crate::source::SourceError;
use crate::store::{AckEffect, FragmentStore, StoreError};
use link::{AckSource, ConnectError, Connector, MediaSink};
use package::{ClosedFragment, PackageError, Packager};

/// How long a PutMedia connection is used before it is rotated. KVS ends
/// connections at its maximum duration with ErrorId 4003; the producer SDK
/// rotates well before (kvssink `rotation-period`, 3600 s); 40 minutes leaves
/// room for a slow drain.
pub const DEFAULT_ROTATE_AFTER: Duration = Duration::from_secs(40 * 60);

/// Session (track set) records kept for resending (`Engine::prune_sessions`).
const MAX_SESSIONS: usize = 16;

/// One item from a source: an event, or why the source stopped.
pub type SourceItem = Result<SourceEvent, SourceError>;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Rotate the connection after this long (at the next fragment boundary).
    pub rotate_after: Duration,
    /// First reconnect delay; doubles per consecutive failure.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// How long to wait for the remaining ACKs after ending a body.
    pub drain_timeout: Duration,
    /// How long to wait for the cause after the body channel closed.
    pub close_reason_timeout: Duration,
    /// A connection that sends no ACK at all (not even IDLE) for this long
    /// while fragments await PERSISTED is stalled: reconnect and resend.
    pub ack_timeout: Duration,
    /// Log a statistics line this often (`--stats`).
    pub stats_interval: Option<Duration>,
    /// Where the engine publishes its counters whenever they change (e.g. for
    /// a GStreamer element's stats messages); `None` publishes nothing.
    pub stats_watch: Option<watch::Sender<EngineStats>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            rotate_after: DEFAULT_ROTATE_AFTER,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(20),
            drain_timeout: Duration::from_secs(30),
            close_reason_timeout: Duration::from_secs(2),
            // Longer than KVS's longest fragment (10 s) plus its persist latency.
            ack_timeout: Duration::from_secs(30),
            stats_interval: None,
            stats_watch: None,
        }
    }
}

/// Counters of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Connections opened.
    pub connections: u64,
    /// Connections lost (each followed by a reconnect).
    pub reconnects: u64,
    /// Connections ended on purpose (rotation).
    pub rotations: u64,
    /// Fragments completed by the packager.
    pub fragments: u64,
    /// Fragments sent from the store after (re)connecting: resends, and
    /// fragments completed while disconnected.
    pub fragments_resent: u64,
    /// Fragments KVS persisted.
    pub fragments_persisted: u64,
    /// Fragments dropped because the buffer was full (data loss).
    pub dropped_fragments: u64,
    /// Bytes written to PutMedia bodies (resends included).
    pub bytes_sent: u64,
}

/// Why the engine stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// KVS rejected a fragment with a non-retryable ErrorId.
    #[error(
        "KVS rejected the fragment at timecode {timecode_ms:?} ms with ErrorId {id}; this is not retryable, stopping"
    )]
    Rejected {
        /// The error.
        id: AckErrorId,
        /// The fragment's timecode, if the ACK named one.
        timecode_ms: Option<u64>,
    },
    /// PutMedia failed in a way retrying cannot fix (not authorized, no such stream).
    #[error("{0}; retrying cannot help, stopping")]
    PutMedia(PutMediaError),
    /// A connection could not be opened and retrying cannot help.
    #[error("{0}; retrying cannot help, stopping")]
    Connect(ConnectError),
    /// The fragment store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source failed.
    #[error("{0}")]
    Source(SourceError),
    /// The input could not be packaged.
    #[error("{0}")]
    Package(PackageError),
    /// The input stopped with [`Self::Source`] or [`Self::Package`] after
    /// everything accepted before it was sent and persisted.
    #[error("{error} ({})", flushed(*.persisted))]
    InputStopped {
        /// Why the input stopped.
        error: Box<EngineError>,
        /// Fragments KVS persisted in this run, all of them before the error.
        persisted: u64,
    },
    /// The source ended before describing its tracks, so stored fragments
    /// (from a spool) cannot be sent.
    #[error("the source ended before describing its tracks; {0} stored fragments were not sent")]
    NoHeader(usize),
}

/// What [`EngineError::InputStopped`] says was kept.
fn flushed(persisted: u64) -> String {
    match persisted {
        0 => "nothing had been accepted before it".to_owned(),
        1 => "the 1 fragment accepted before it was sent and persisted".to_owned(),
        n => format!("the {n} fragments accepted before it were sent and persisted"),
    }
}

/// Where the PutMedia connection is.
enum Link<S, A> {
    /// No connection; reconnect at `retry_at`.
    Down { retry_at: Instant },
    /// Body open.
    Up { sink: S, acks: A, opened: Instant },
    /// Body ended; reading the remaining ACKs until `deadline`.
    Draining { acks: A, deadline: Instant },
}

enum Step {
    Input(Option<SourceItem>),
    Ack(Option<Result<AckEvent, PutMediaError>>),
    Retry,
    DrainTimeout,
    AckTimeout,
    Stats,
}

/// The streaming engine (see the module docs).
pub struct Engine<C: Connector, R> {
    config: EngineConfig,
    connector: C,
    packager: Packager<R>,
    store: Box<dyn FragmentStore>,
    link: Link<C::Sink, C::Acks>,
    /// Consecutive failures, for the backoff; reset by a PERSISTED ack.
    failures: u32,
    /// When the current connection last produced an ACK (or opened).
    last_ack: Instant,
    /// Bytes of the open fragment written on the current connection.
    open_sent: usize,
    /// Session whose Matroska header was written on the current connection.
    header_on_link: Option<u64>,
    /// Matroska header of each session still referenced.
    headers: VecDeque<(u64, Bytes)>,
    /// `(first store seq, session)`: which header precedes a stored fragment.
    sessions: VecDeque<(u64, u64)>,
    input: InputState,
    stats: EngineStats,
    /// New recipient lists (recipients file re-read), applied at the next fragment.
    recipients: Option<watch::Receiver<Vec<PublicKey>>>,
}

/// Where the input stands: events still arrive; the source ended (or failed) and the
/// packager has yet to close its last fragment; or only flushing the store remains. The
/// first input error, if any, is kept to be reported once everything accepted is persisted.
enum InputState {
    Open,
    Ended { error: Option<EngineError> },
    Flushing { error: Option<EngineError> },
}

impl InputState {
    fn is_flushing(&self) -> bool {
        matches!(self, Self::Flushing { .. })
    }

    fn take_error(&mut self) -> Option<EngineError> {
        match self {
            Self::Open => None,
            Self::Ended { error } | Self::Flushing { error } => error.take(),
        }
    }
}

impl<C: Connector, R: CryptoRng> Engine<C, R> {
    /// An engine that packages with `packager`, keeps fragments in `store`
    /// and sends them through connections from `connector`.
    pub fn new(
        config: EngineConfig,
        connector: C,
        packager: Packager<R>,
        store: Box<dyn FragmentStore>,
    ) -> Self {
        Self {
            config,
            connector,
            packager,
            store,
            link: Link::Down {
                retry_at: Instant::now(),
            },
            failures: 0,
            last_ack: Instant::now(),
            open_sent: 0,
            header_on_link: None,
            headers: VecDeque::new(),
            sessions: VecDeque::new(),
            input: InputState::Open,
            stats: EngineStats::default(),
            recipients: None,
        }
    }

    /// Applies each list `updates` sees to the fragments that start after it.
    pub fn with_recipient_updates(mut self, updates: watch::Receiver<Vec<PublicKey>>) -> Self {
        self.recipients = Some(updates);
        self
    }

    fn apply_recipient_updates(&mut self) {
        let Some(rx) = self.recipients.as_mut() else {
            return;
        };
        if !rx.has_changed().unwrap_or(false) {
            return;
        }
        let keys = rx.borrow_and_update().clone();
        if keys.is_empty() {
            return;
        }
        if let Err(e) = self.packager.set_recipients(keys) {
            tracing::error!("new recipients not applied: {e}");
        }
    }

    /// Streams until `source` ends and every fragment is persisted, or a
    /// non-retryable error. A source or packaging error still flushes what
    /// came before it, then is returned.
    pub async fn run(
        mut self,
        mut source: mpsc::Receiver<SourceItem>,
    ) -> Result<EngineStats, EngineError> {
        let mut tick = self.config.stats_interval.map(|d| {
            let mut t = tokio::time::interval_at(Instant::now() + d, d);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            if let InputState::Ended { error } = &mut self.input {
                self.input = InputState::Flushing {
                    error: error.take(),
                };
                match self.packager.finish() {
                    Ok(Some(last)) => self.close_fragment(last).await?,
                    Ok(None) => {}
                    Err(e) => self.input_failed(EngineError::Package(e)),
                }
            }
            if self.input.is_flushing() {
                let left = self.store.stats().fragments;
                if left == 0 {
                    return self.complete();
                }
                if self.headers.is_empty() {
                    return Err(EngineError::NoHeader(left));
                }
                if matches!(self.link, Link::Up { .. }) && self.store.next_unsent().is_none() {
                    self.start_drain();
                }
            }
            let step = self.next_step(&mut source, &mut tick).await;
            self.apply(step).await?;
            self.publish_stats();
        }
    }

    /// Sends the counters to [`EngineConfig::stats_watch`] if they changed.
    fn publish_stats(&self) {
        if let Some(tx) = &self.config.stats_watch {
            tx.send_if_modified(|s| {
                let changed = *s != self.stats;
                *s = self.stats;
                changed
            });
        }
    }

    /// Ends the last body and reports.
    fn complete(mut self) -> Result<EngineStats, EngineError> {
        if let Link::Up { sink, .. } = &mut self.link {
            sink.finish();
        }
        tracing::info!(
            persisted = self.stats.fragments_persisted,
            dropped = self.stats.dropped_fragments,
            reconnects = self.stats.reconnects,
            "stream finished: every stored fragment was persisted"
        );
        match self.input.take_error() {
            Some(e) => Err(EngineError::InputStopped {
                error: Box::new(e),
                persisted: self.stats.fragments_persisted,
            }),
            None => Ok(self.stats),
        }
    }

    fn input_failed(&mut self, e: EngineError) {
        tracing::error!("input stopped: {e}; flushing what was accepted");
        match &mut self.input {
            InputState::Open => self.input = InputState::Ended { error: Some(e) },
            InputState::Ended { error } | InputState::Flushing { error } => {
                // The first error is the one reported.
                error.get_or_insert(e);
            }
        }
    }

    async fn next_step(
        &mut self,
        source: &mut mpsc::Receiver<SourceItem>,
        tick: &mut Option<tokio::time::Interval>,
    ) -> Step {
        let want_input = matches!(self.input, InputState::Open);
        let can_connect = !self.headers.is_empty();
        // Connect as soon as it is due, before taking more input: a timer set for now only
        // fires at the timer's next tick, and a fast source (a file) would otherwise be
        // packaged into the buffer whole before the first connection.
        if let Link::Down { retry_at } = &self.link
            && can_connect
            && *retry_at <= Instant::now()
        {
            return Step::Retry;
        }
        let ack_deadline = self.ack_deadline();
        let stalled = async move {
            match ack_deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        let stats = async {
            match tick {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        match &mut self.link {
            Link::Up { acks, .. } => tokio::select! {
                biased;
                a = acks.recv() => Step::Ack(a),
                () = stalled => Step::AckTimeout,
                i = source.recv(), if want_input => Step::Input(i),
                () = stats => Step::Stats,
            },
            Link::Draining { acks, deadline } => tokio::select! {
                biased;
                a = acks.recv() => Step::Ack(a),
                () = tokio::time::sleep_until(*deadline) => Step::DrainTimeout,
                i = source.recv(), if want_input => Step::Input(i),
                () = stats => Step::Stats,
            },
            Link::Down { retry_at } => tokio::select! {
                biased;
                () = tokio::time::sleep_until(*retry_at), if can_connect => Step::Retry,
                i = source.recv(), if want_input => Step::Input(i),
                () = stats => Step::Stats,
            },
        }
    }

    async fn apply(&mut self, step: Step) -> Result<(), EngineError> {
        match step {
            Step::Input(None) => {
                if matches!(self.input, InputState::Open) {
                    self.input = InputState::Ended { error: None };
                }
            }
            Step::Input(Some(Err(e))) => self.input_failed(EngineError::Source(e)),
            Step::Input(Some(Ok(event))) => self.on_event(event).await?,
            Step::Ack(a) => self.on_ack(a).await?,
            Step::Retry => self.connect().await?,
            Step::DrainTimeout => self.lose("no final ACKs before the drain timeout".into()),
            Step::AckTimeout => self.lose(format!(
                "no ACK for {:?} while fragments await PERSISTED (stalled)",
                self.config.ack_timeout
            )),
            Step::Stats => self.log_stats(),
        }
        Ok(())
    }

    fn log_stats(&self) {
        let b = self.store.stats();
        tracing::info!(
            fragments = self.stats.fragments,
            persisted = self.stats.fragments_persisted,
            resent = self.stats.fragments_resent,
            bytes_sent = self.stats.bytes_sent,
            buffered_fragments = b.fragments,
            buffer_fill = format!("{}/{}", b.bytes, b.capacity),
            reconnects = self.stats.reconnects,
            dropped = self.stats.dropped_fragments,
            "stats"
        );
    }

    async fn on_event(&mut self, event: SourceEvent) -> Result<(), EngineError> {
        self.apply_recipient_updates();
        let closed = match self.packager.push(event) {
            Ok(closed) => closed,
            Err(e) => {
                self.input_failed(EngineError::Package(e));
                return Ok(());
            }
        };
        if let Some((n, h)) = self.packager.header()
            && self.headers.back().is_none_or(|(last, _)| *last != n)
        {
            self.headers.push_back((n, h.clone()));
        }
        for c in closed {
            self.close_fragment(c).await?;
        }
        if matches!(self.link, Link::Up { .. }) {
            self.send_open().await?;
        }
        Ok(())
    }

    /// Sends the rest of a finished fragment (if connected), stores it, and
    /// rotates the connection if it is old.
    async fn close_fragment(&mut self, c: ClosedFragment) -> Result<(), EngineError> {
        self.stats.fragments += 1;
        let mut sent = false;
        if matches!(self.link, Link::Up { .. }) && self.ensure_header(c.session).await? {
            let rest = c.bytes.slice(self.open_sent.min(c.bytes.len())..);
            sent = rest.is_empty() || self.send_bytes(rest).await?;
        }
        self.open_sent = 0;
        let (seq, dropped) = self.store.push(c.timecode_ms, c.bytes)?;
        self.stats.dropped_fragments += dropped as u64;
        if self.sessions.back().is_none_or(|(_, s)| *s != c.session) {
            self.sessions.push_back((seq, c.session));
        }
        if sent && matches!(self.link, Link::Up { .. }) {
            self.store.mark_sent(seq);
        }
        self.prune_sessions();
        if let Link::Up { opened, .. } = &self.link
            && opened.elapsed() >= self.config.rotate_after
            && !self.input.is_flushing()
        {
            tracing::info!(
                "rotating the PutMedia connection (older than {:?})",
                self.config.rotate_after
            );
            self.stats.rotations += 1;
            self.start_drain();
        }
        Ok(())
    }

    /// Bounds the session records. Sessions change only when the source's
    /// tracks change, so the last few cover everything a bounded store holds.
    fn prune_sessions(&mut self) {
        while self.sessions.len() > MAX_SESSIONS {
            self.sessions.pop_front();
        }
        while self.headers.len() > MAX_SESSIONS {
            self.headers.pop_front();
        }
    }

    fn session_of(&self, seq: u64) -> Option<u64> {
        self.sessions
            .iter()
            .rev()
            .find(|(first, _)| *first <= seq)
            .or(self.sessions.front())
            .map(|(_, s)| *s)
            // Fragments recovered from a spool predate every session of this run:
            // they go after the first header of this run.
            .or_else(|| self.headers.front().map(|(n, _)| *n))
    }

    /// Writes session `session`'s Matroska header unless it is the last one
    /// written on this connection. `Ok(false)` if the connection was lost.
    async fn ensure_header(&mut self, session: u64) -> Result<bool, EngineError> {
        if self.header_on_link == Some(session) {
            return Ok(true);
        }
        let header = self
            .headers
            .iter()
            .find(|(n, _)| *n == session)
            .or(self.headers.front())
            .map(|(_, h)| h.clone());
        let Some(header) = header else {
            return Ok(false);
        };
        let ok = self.send_bytes(header).await?;
        if ok {
            self.header_on_link = Some(session);
        }
        Ok(ok)
    }

    /// Writes the unsent bytes of the open fragment.
    async fn send_open(&mut self) -> Result<(), EngineError> {
        let Some(session) = self.packager.open().map(|o| o.session) else {
            return Ok(());
        };
        if self
            .packager
            .open()
            .is_some_and(|o| o.bytes.len() == self.open_sent)
        {
            return Ok(());
        }
        if !self.ensure_header(session).await? {
            return Ok(());
        }
        let Some(open) = self.packager.open() else {
            return Ok(());
        };
        let len = open.bytes.len();
        let chunk = Bytes::copy_from_slice(&open.bytes[self.open_sent.min(len)..]);
        if self.send_bytes(chunk).await? {
            self.open_sent = len;
        }
        Ok(())
    }

    /// Writes `bytes` to the body while still handling ACKs. `Ok(false)` if the
    /// connection was lost (the engine is then `Down`).
    async fn send_bytes(&mut self, bytes: Bytes) -> Result<bool, EngineError> {
        let len = bytes.len() as u64;
        loop {
            let Link::Up { sink, acks, .. } = &mut self.link else {
                return Ok(false);
            };
            let deadline = match self.store.stats().fragments {
                0 => None,
                _ => Some(self.last_ack + self.config.ack_timeout),
            };
            let stalled = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending::<()>().await,
                }
            };
            let sent = tokio::select! {
                biased;
                a = acks.recv() => Err(Some(a)),
                r = sink.send(bytes.clone()) => Ok(r),
                () = stalled => Err(None),
            };
            match sent {
                Ok(Ok(())) => {
                    self.stats.bytes_sent += len;
                    return Ok(true);
                }
                Ok(Err(e)) => {
                    self.closed_while_sending(e).await?;
                    return Ok(false);
                }
                Err(Some(a)) => self.on_ack(a).await?,
                Err(None) => {
                    self.lose(format!(
                        "no ACK for {:?} while sending (stalled)",
                        self.config.ack_timeout
                    ));
                    return Ok(false);
                }
            }
        }
    }

    /// When a silent connection counts as stalled: only while it is up and
    /// fragments sent on it await PERSISTED.
    fn ack_deadline(&self) -> Option<Instant> {
        let up = matches!(self.link, Link::Up { .. });
        (up && self.store.stats().fragments > 0).then(|| self.last_ack + self.config.ack_timeout)
    }

    /// The body channel closed under us: the ACK stream carries the reason
    /// (a 403, an ERROR ack) and maybe late ACKs; read it briefly, then
    /// reconnect if nothing decided otherwise.
    async fn closed_while_sending(&mut self, e: PutMediaError) -> Result<(), EngineError> {
        let deadline = Instant::now() + self.config.close_reason_timeout;
        loop {
            let Link::Up { acks, .. } = &mut self.link else {
                return Ok(());
            };
            match tokio::time::timeout_at(deadline, acks.recv()).await {
                Ok(item) => self.on_ack(item).await?,
                Err(_) => {
                    self.lose(format!("{e}"));
                    return Ok(());
                }
            }
        }
    }

    async fn on_ack(
        &mut self,
        item: Option<Result<AckEvent, PutMediaError>>,
    ) -> Result<(), EngineError> {
        self.last_ack = Instant::now();
        let event = match item {
            None => {
                match self.link {
                    Link::Draining { .. } if !self.input.is_flushing() => self.rotated(),
                    _ => self.lose("the service closed the PutMedia connection".into()),
                }
                return Ok(());
            }
            Some(Err(e)) if e.is_retryable() => {
                self.lose(e.to_string());
                return Ok(());
            }
            Some(Err(e)) => return Err(EngineError::PutMedia(e)),
            Some(Ok(event)) => event,
        };
        let kind = match event.event_type {
            AckEventType::Buffering => AckKind::Buffering,
            AckEventType::Received => AckKind::Received,
            AckEventType::Persisted => AckKind::Persisted,
            AckEventType::Idle => return Ok(()),
            AckEventType::Error => return self.on_error_ack(&event),
        };
        let Some(tc) = event.fragment_timecode.and_then(|t| i64::try_from(t).ok()) else {
            return Ok(());
        };
        if let AckEffect::Persisted(seq) = self.store.ack(kind, tc)? {
            self.stats.fragments_persisted += 1;
            self.failures = 0;
            tracing::debug!(seq, timecode_ms = tc, "fragment persisted");
        }
        Ok(())
    }

    fn on_error_ack(&mut self, event: &AckEvent) -> Result<(), EngineError> {
        let id = event.error().unwrap_or(AckErrorId(0));
        if id.is_retryable() {
            self.lose(format!(
                "ERROR ack {id} for the fragment at {:?} ms",
                event.fragment_timecode
            ));
            return Ok(());
        }
        Err(EngineError::Rejected {
            id,
            timecode_ms: event.fragment_timecode,
        })
    }

    /// A drain after rotation ended normally: reconnect at once.
    fn rotated(&mut self) {
        self.reset_link(Instant::now());
    }

    /// The connection failed: back off, then resend everything not persisted.
    fn lose(&mut self, reason: String) {
        self.failures = self.failures.saturating_add(1);
        let delay = backoff(&self.config, self.failures);
        self.stats.reconnects += 1;
        tracing::warn!(
            attempt = self.failures,
            "PutMedia connection lost: {reason}; reconnecting in {delay:?} and resending {} unpersisted fragments",
            self.store.stats().fragments
        );
        self.reset_link(Instant::now() + delay);
    }

    fn reset_link(&mut self, retry_at: Instant) {
        // A clean end would make KVS complete the open fragment truncated;
        // it is resent whole on the next connection instead.
        if let Link::Up { sink, .. } = &mut self.link {
            sink.abort();
        }
        self.link = Link::Down { retry_at };
        self.store.requeue_all();
        self.open_sent = 0;
        self.header_on_link = None;
    }

    /// Ends the body and reads the remaining ACKs.
    fn start_drain(&mut self) {
        let deadline = Instant::now() + self.config.drain_timeout;
        let link = std::mem::replace(&mut self.link, Link::Down { retry_at: deadline });
        self.link = match link {
            Link::Up { mut sink, acks, .. } => {
                sink.finish();
                Link::Draining { acks, deadline }
            }
            other => other,
        };
        self.open_sent = 0;
        self.header_on_link = None;
    }

    /// Opens a connection and sends everything not yet persisted.
    async fn connect(&mut self) -> Result<(), EngineError> {
        match self.connector.connect(self.failures).await {
            Ok((sink, acks)) => {
                self.stats.connections += 1;
                tracing::info!(
                    connection = self.stats.connections,
                    resend = self.store.stats().fragments,
                    "connected to PutMedia"
                );
                self.link = Link::Up {
                    sink,
                    acks,
                    opened: Instant::now(),
                };
                self.last_ack = Instant::now();
                self.resend().await
            }
            Err(e) if e.is_retryable() => {
                self.lose(e.to_string());
                Ok(())
            }
            Err(e) => Err(EngineError::Connect(e)),
        }
    }

    async fn resend(&mut self) -> Result<(), EngineError> {
        while let Some((seq, _)) = self.store.next_unsent() {
            let Some(session) = self.session_of(seq) else {
                return Ok(());
            };
            if !self.ensure_header(session).await? {
                return Ok(());
            }
            let bytes = self.store.load(seq)?;
            if !self.send_bytes(bytes).await? {
                return Ok(());
            }
            self.store.mark_sent(seq);
            self.stats.fragments_resent += 1;
        }
        self.send_open().await
    }
}

/// The reconnect pause after `failures` consecutive failures.
fn backoff(config: &EngineConfig, failures: u32) -> Duration {
    kvs_e2ee_aws::retry::Backoff {
        initial: config.backoff_initial,
        max: config.backoff_max,
    }
    .delay(failures.max(1))
}

#[cfg(test)]
mod tests;
