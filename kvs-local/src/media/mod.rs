//! The data plane: PutMedia ([`putmedia`]), GetMedia ([`getmedia`]), ListFragments and
//! GetMediaForFragmentList ([`archive`]) over per-stream fragment storage ([`store`]).
//!
//! [`MediaPlane`] is the [`DataPlane`] registered by default in [`crate::Config::new`]. It
//! keeps, per stream, the [`store::FragmentStore`] and the fragments being received (the
//! *live* fragments, in memory, one per open PutMedia connection) behind one lock, and a
//! watch channel bumped on every change so GetMedia readers send frames as soon as they
//! arrive.
//!
//! # Layout
//! - [`store`]: fragment files and the index; crash recovery; retention.
//! - [`layout`]: the bytes written (fragment head, Cluster, blocks, KVS tags).
//! - [`putmedia`]: the PutMedia session (validation, ACKs).
//! - [`getmedia`]: GetMedia (start selectors, live streaming, KVS tags).
//! - [`archive`]: ListFragments, GetMediaForFragmentList.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use kvs_e2ee_aws::ack::{AckEvent, AckEventType};
use tokio::sync::{mpsc, watch};

use crate::context::{DataPlane, RequestContext, ResponseFuture};
use crate::error::ApiError;
use crate::http::{BoxError, REQUEST_ID_HEADER, ResponseBody};
use crate::streams::StreamRecord;

pub mod archive;
pub mod getmedia;
pub mod layout;
pub mod putmedia;
pub mod store;

use store::{FragmentMeta, FragmentStore};

/// Timing knobs of the data plane.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// PutMedia: send an `IDLE` ACK after this long without body bytes.
    pub idle_ack_interval: Duration,
    /// GetMedia: end the response after this long with nothing to send and no fragment
    /// being received (KVS: "reading the payload times out after 3 seconds").
    pub get_media_idle_end: Duration,
    /// Kept this long when a stream's retention is 0 hours (KVS then keeps data only
    /// briefly for GetMedia; the exact time is not documented).
    pub zero_retention_keep: Duration,
    /// PutMedia: refuse the first fragment that starts after the connection has been open
    /// this long, with ErrorId 4003 (`MAX_CONNECTION_DURATION_REACHED`), so producers can
    /// test connection rotation. `None` (default): no limit (KVS's is not documented).
    pub max_connection_duration: Option<Duration>,
    /// PutMedia: write every connection's raw body, byte for byte, to
    /// `DIR/STREAM-CONNECTION.mkv` — to see exactly what a producer sent (the stored
    /// fragments are re-framed, and drop what the service consumes, such as
    /// end-of-fragment tags). `None` (default): nothing is written.
    pub capture_dir: Option<std::path::PathBuf>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            idle_ack_interval: Duration::from_secs(3),
            get_media_idle_end: Duration::from_secs(3),
            zero_retention_keep: Duration::from_secs(3600),
            max_connection_duration: None,
            capture_dir: None,
        }
    }
}

/// The data plane (PutMedia, GetMedia, ListFragments, GetMediaForFragmentList). A cheap
/// handle: clones share the streams.
#[derive(Debug, Default, Clone)]
pub struct MediaPlane {
    config: MediaConfig,
    streams: Arc<Mutex<HashMap<String, Arc<StreamMedia>>>>,
}

impl MediaPlane {
    /// A data plane with the given timings.
    pub fn new(config: MediaConfig) -> Self {
        Self {
            config,
            streams: Arc::default(),
        }
    }

    /// The timings.
    pub fn config(&self) -> &MediaConfig {
        &self.config
    }

    /// The media state of `stream`, opening its storage on first use.
    pub fn stream(&self, stream: &StreamRecord) -> Result<Arc<StreamMedia>, ApiError> {
        let mut map = lock(&self.streams);
        // The folder name includes the creation time: a re-created stream gets new state.
        if let Some(s) = map.get(&stream.folder) {
            return Ok(Arc::clone(s));
        }
        let store = FragmentStore::recover(&stream.dir())
            .map_err(|e| ApiError::internal_failure(format!("storage error: {e}")))?;
        let (changed, _) = watch::channel(0);
        let media = Arc::new(StreamMedia {
            state: Mutex::new(StreamState {
                store,
                live: Vec::new(),
            }),
            changed,
            counts: Mutex::default(),
        });
        map.insert(stream.folder.clone(), Arc::clone(&media));
        Ok(media)
    }

    /// The PutMedia answers of the stream called `name` (its newest incarnation, if it
    /// was deleted and re-created), or `None` before its first PutMedia or GetMedia.
    pub fn put_media_counts(&self, name: &str) -> Option<PutMediaCounts> {
        let map = lock(&self.streams);
        map.iter()
            .filter(|(folder, _)| folder.rsplit_once('@').is_some_and(|(n, _)| n == name))
            .max_by(|a, b| a.0.cmp(b.0))
            .map(|(_, media)| media.put_media_counts())
    }

    /// Applies retention to `stream` now.
    fn expire(&self, stream: &StreamRecord, media: &StreamMedia) {
        let keep = match stream.data_retention_hours {
            0 => self.config.zero_retention_keep,
            h => Duration::from_secs(u64::from(h) * 3600),
        };
        let cutoff = now_ms() - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = media.lock().store.expire(cutoff) {
            tracing::warn!(stream = %stream.name, error = %e, "retention cleanup failed");
        }
    }
}

impl DataPlane for MediaPlane {
    fn name(&self) -> &'static str {
        "kvs-local media"
    }

    fn call(&self, ctx: RequestContext, req: Request<Incoming>) -> ResponseFuture {
        let plane = self.clone();
        Box::pin(async move {
            match req.uri().path() {
                "/putMedia" => putmedia::handle(plane, ctx, req).await,
                "/getMedia" => getmedia::handle(plane, ctx, req).await,
                "/listFragments" => archive::list_fragments(plane, ctx, req).await,
                "/getMediaForFragmentList" => archive::get_media_for_fragment_list(plane, ctx, req).await,
                other => ctx.error_response(&ApiError::unknown_operation(format!(
                    "kvs-local does not serve {other} (it needs decodable media; see docs/KVS-LOCAL.md)"
                ))),
            }
        })
    }
}

/// One stream's storage and live fragment.
#[derive(Debug)]
pub struct StreamMedia {
    state: Mutex<StreamState>,
    changed: watch::Sender<u64>,
    counts: Mutex<PutMediaCounts>,
}

/// What a stream's PutMedia connections were answered since kvs-local started: how a
/// test (or a user chasing a producer's retry loop) sees reconnects and ERROR acks
/// without reading the producer's logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutMediaCounts {
    /// PutMedia requests admitted (each is one connection of the producer).
    pub connections: u64,
    /// BUFFERING acks sent.
    pub buffering: u64,
    /// RECEIVED acks sent.
    pub received: u64,
    /// PERSISTED acks sent.
    pub persisted: u64,
    /// The ErrorId of every ERROR ack sent, in order.
    pub errors: Vec<u32>,
}

impl StreamMedia {
    fn count_connection(&self) {
        lock(&self.counts).connections += 1;
    }

    fn count_ack(&self, event: &AckEvent) {
        let mut c = lock(&self.counts);
        match event.event_type {
            AckEventType::Buffering => c.buffering += 1,
            AckEventType::Received => c.received += 1,
            AckEventType::Persisted => c.persisted += 1,
            AckEventType::Error => c.errors.push(event.error_id.unwrap_or_default()),
            _ => {}
        }
    }

    /// The PutMedia answers counted so far.
    pub fn put_media_counts(&self) -> PutMediaCounts {
        lock(&self.counts).clone()
    }
}

/// What is behind a stream's lock.
#[derive(Debug)]
pub struct StreamState {
    /// Complete fragments.
    pub store: FragmentStore,
    /// Fragments being received, one per open PutMedia connection at most (a producer
    /// rotating its connection briefly has two).
    pub live: Vec<LiveFragment>,
}

impl StreamState {
    /// The live fragment numbered `number`.
    pub fn live(&self, number: &str) -> Option<&LiveFragment> {
        self.live.iter().find(|l| l.meta.fragment_number == number)
    }

    /// The live fragment numbered `number`, mutably.
    pub fn live_mut(&mut self, number: &str) -> Option<&mut LiveFragment> {
        self.live
            .iter_mut()
            .find(|l| l.meta.fragment_number == number)
    }

    /// Removes and returns the live fragment numbered `number`.
    pub fn take_live(&mut self, number: &str) -> Option<LiveFragment> {
        let i = self
            .live
            .iter()
            .position(|l| l.meta.fragment_number == number)?;
        Some(self.live.remove(i))
    }
}

/// A fragment being received: its bytes so far (the future file content).
#[derive(Debug, Clone)]
pub struct LiveFragment {
    /// Metadata (size and duration grow).
    pub meta: FragmentMeta,
    /// The bytes so far.
    pub bytes: Vec<u8>,
    /// The PutMedia connection writing it.
    pub connection: u64,
}

impl StreamMedia {
    /// Locks the stream's state.
    pub fn lock(&self) -> MutexGuard<'_, StreamState> {
        lock(&self.state)
    }

    /// Wakes GetMedia readers.
    pub fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every later [`StreamMedia::notify`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    system_ms(SystemTime::now())
}

/// Milliseconds since the epoch of `t` (0 before the epoch).
pub fn system_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `seconds.millis` for a millisecond timestamp (the form of KVS's timestamp tags).
pub fn format_ms(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// A 200 response whose body is fed by the returned sender; a sent `Err` aborts the
/// connection (the client sees a broken response, as when AWS drops it).
pub fn streaming_response(
    ctx: &RequestContext,
    content_type: &'static str,
) -> (
    mpsc::Sender<Result<Bytes, BoxError>>,
    Response<ResponseBody>,
) {
    let (tx, rx) = mpsc::channel::<Result<Bytes, BoxError>>(16);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map(Frame::data), rx))
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed());
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    (tx, resp)
}

/// Aborts a streamed response after what was already queued has gone out: waits (up to a
/// second) for the queue to drain and the connection to flush it, then fails the body so
/// the client sees the connection break, as when AWS drops it.
pub async fn abort_response(tx: &mpsc::Sender<Result<Bytes, BoxError>>, why: &'static str) {
    for _ in 0..50 {
        if tx.capacity() == tx.max_capacity() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The last frame pulled from the queue may still sit in the connection's write buffer.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = tx.send(Err(why.into())).await;
}
