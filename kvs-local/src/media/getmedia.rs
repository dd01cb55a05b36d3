//! GetMedia: `POST /getMedia` with the SDK's JSON body
//! (`kvs_e2ee_aws::getmedia::GetMediaInput`), answered with an endless MKV stream: stored
//! fragments from the start selector on, then live ones, the frames of a fragment being
//! received flowing as they arrive.
//!
//! Each fragment goes out as the real service sends it (`test_mixed_tags.mkv`): EBML
//! header, Segment of unknown size, [producer tags sent before the session's first
//! Cluster], Info, Tracks, `Tags(FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP)`,
//! the Cluster, [producer tags sent before the next Cluster],
//! `Tags(MILLIS_BEHIND_NOW, CONTINUATION_TOKEN)`. The stored file is the same minus the two
//! `AWS_KINESISVIDEO_*` Tags, inserted here (before the Cluster and at the end).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{Request, Response};
use hyper::body::Incoming;
use kvs_e2ee_aws::getmedia::{
    GetMediaInput, StartSelector, TAG_CONTINUATION_TOKEN, TAG_ERROR_CODE, TAG_ERROR_ID,
    TAG_FRAGMENT_NUMBER, TAG_MILLIS_BEHIND_NOW, TAG_PRODUCER_TIMESTAMP, TAG_SERVER_TIMESTAMP,
};
use tokio::sync::{mpsc, watch};

use super::store::{FragmentMeta, parse_number};
use super::{MediaPlane, StreamMedia, StreamState, format_ms, layout, now_ms, streaming_response};
use crate::auth::Action;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::faults::{Fault, Plane};
use crate::http::{BoxError, MAX_JSON_BODY, ResponseBody, read_body};

/// Content type of media responses (what KVS answers).
pub const MEDIA_CONTENT_TYPE: &str = "video/webm";

/// Which fragment comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// The first fragment numbered at least this.
    AtOrAfter(u128),
    /// The first fragment numbered above this.
    After(u128),
    /// The first fragment received at or after this time (ms).
    ServerTime(i64),
    /// The first fragment whose producer timestamp is at or after this (ms).
    ProducerTime(i64),
}

impl Cursor {
    fn admits(self, m: &FragmentMeta) -> bool {
        match self {
            Self::AtOrAfter(n) => m.ordinal() >= n,
            Self::After(n) => m.ordinal() > n,
            Self::ServerTime(t) => m.server_timestamp_ms >= t,
            Self::ProducerTime(t) => m.producer_timestamp_ms >= t,
        }
    }
}

/// Handles `POST /getMedia`.
pub(crate) async fn handle(
    plane: MediaPlane,
    ctx: RequestContext,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let result = match read_body(body, MAX_JSON_BODY).await {
        Ok(body) => admit(&plane, &ctx, &parts, &body),
        Err(e) => Err(e),
    };
    match result {
        Ok(reader) => {
            let (tx, resp) = streaming_response(&ctx, MEDIA_CONTENT_TYPE);
            tokio::spawn(reader.run(tx));
            resp
        }
        Err(e) => ctx.error_response(&e),
    }
}

fn admit(
    plane: &MediaPlane,
    ctx: &RequestContext,
    parts: &Parts,
    body: &[u8],
) -> Result<Reader, ApiError> {
    let principal = ctx.authenticate_body(parts, body)?;
    let input: GetMediaInput = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_argument(format!("Invalid GetMedia request: {e}")))?;
    let (media, stream) = super::archive::open_stream(
        plane,
        ctx,
        &principal,
        Action::GetMedia,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    )?;
    let fault = ctx.take_fault(Plane::Data, Some(&stream.name), Some(&principal));
    if let Some(e) = fault.as_ref().and_then(Fault::to_api_error) {
        return Err(e);
    }
    let cursor = {
        let state = media.lock();
        start_cursor(&input.start_selector, &state)?
    };
    Ok(Reader {
        media,
        cursor,
        fault,
        sent: 0,
        idle_end: plane.config().get_media_idle_end,
    })
}

fn start_cursor(selector: &StartSelector, state: &StreamState) -> Result<Cursor, ApiError> {
    let bad_number = |n: &str| {
        ApiError::invalid_argument(format!("{n:?} is not a fragment number of this stream"))
    };
    Ok(match selector {
        // The live fragment if one is being received, else the next one to arrive.
        StartSelector::Now => Cursor::After(
            state
                .store
                .fragments()
                .last()
                .map_or(0, FragmentMeta::ordinal),
        ),
        StartSelector::Earliest => Cursor::AtOrAfter(0),
        StartSelector::FragmentNumber(n) => {
            Cursor::AtOrAfter(parse_number(n).ok_or_else(|| bad_number(n))?)
        }
        StartSelector::ContinuationToken(t) => {
            Cursor::After(parse_number(t).ok_or_else(|| bad_number(t))?)
        }
        StartSelector::ServerTimestamp(t) => Cursor::ServerTime(super::system_ms(*t)),
        StartSelector::ProducerTimestamp(t) => Cursor::ProducerTime(super::system_ms(*t)),
    })
}

/// What to send next.
enum Next {
    Stored(FragmentMeta),
    Live(String),
    Nothing,
}

fn pick(state: &StreamState, cursor: Cursor) -> Next {
    // The lowest-numbered admitted fragment, stored or live (two connections may finish
    // fragments out of number order).
    let stored = state
        .store
        .fragments()
        .iter()
        .filter(|m| cursor.admits(m))
        .min_by_key(|m| m.ordinal());
    let live = state
        .live
        .iter()
        .map(|l| &l.meta)
        .filter(|m| cursor.admits(m))
        .min_by_key(|m| m.ordinal());
    match (stored, live) {
        (Some(s), Some(l)) if l.ordinal() < s.ordinal() => Next::Live(l.fragment_number.clone()),
        (Some(s), _) => Next::Stored(s.clone()),
        (None, Some(l)) => Next::Live(l.fragment_number.clone()),
        (None, None) => Next::Nothing,
    }
}

/// How a fragment being followed stands.
enum Progress {
    /// Still being received: these new bytes.
    Live(FragmentMeta, Vec<u8>),
    /// Complete: these remaining bytes.
    Complete(FragmentMeta, Vec<u8>),
    /// Abandoned by its producer (never stored).
    Gone,
}

/// The client went away or a fault cut the response.
struct Ended;

struct Reader {
    media: Arc<StreamMedia>,
    cursor: Cursor,
    fault: Option<Fault>,
    sent: u64,
    idle_end: std::time::Duration,
}

type Tx = mpsc::Sender<Result<Bytes, BoxError>>;

impl Reader {
    async fn run(mut self, tx: Tx) {
        if let Some(d) = self.fault.as_ref().and_then(Fault::stall_duration) {
            tokio::time::sleep(d).await;
        }
        let mut changes = self.media.subscribe();
        loop {
            changes.borrow_and_update();
            let next = pick(&self.media.lock(), self.cursor);
            let result = match next {
                Next::Stored(meta) => self.send_stored(&meta, &tx).await,
                Next::Live(number) => self.follow_live(&number, &mut changes, &tx).await,
                Next::Nothing => {
                    let wait = tokio::time::timeout(self.idle_end, changes.changed());
                    tokio::select! {
                        r = wait => match r {
                            Ok(Ok(())) => continue,
                            // Nothing new for a while (or the stream state went away): end
                            // the response; the client resumes with the continuation token.
                            _ => return,
                        },
                        () = tx.closed() => return,
                    }
                }
            };
            if result.is_err() {
                return;
            }
        }
    }

    async fn send_stored(&mut self, meta: &FragmentMeta, tx: &Tx) -> Result<(), Ended> {
        self.cursor = Cursor::After(meta.ordinal());
        let read = self.media.lock().store.read(meta);
        match read {
            Ok(bytes) => {
                self.emit(fragment_head(meta, &bytes), tx).await?;
                self.emit(fragment_tail(meta, &bytes), tx).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "GetMedia could not read a stored fragment");
                let mut out = BytesMut::new();
                layout::write_service_tags(
                    &mut out,
                    &[(TAG_ERROR_CODE, "INTERNAL_ERROR"), (TAG_ERROR_ID, "5000")],
                );
                self.emit(out.freeze(), tx).await?;
                Err(Ended)
            }
        }
    }

    /// Streams the live fragment `number` as its bytes arrive, until it is complete.
    async fn follow_live(
        &mut self,
        number: &str,
        changes: &mut watch::Receiver<u64>,
        tx: &Tx,
    ) -> Result<(), Ended> {
        let mut done = 0usize;
        let mut started = false;
        if let Some(n) = parse_number(number) {
            self.cursor = Cursor::After(n);
        }
        loop {
            changes.borrow_and_update();
            let progress = progress(&self.media.lock(), number, done);
            let (meta, bytes, complete) = match progress {
                Progress::Gone => return Ok(()),
                Progress::Live(m, b) => (m, b, false),
                Progress::Complete(m, b) => (m, b, true),
            };
            if !started {
                // The head (up to the Cluster) is written at once when the fragment starts;
                // KVS's head tags go before the Cluster.
                started = true;
                self.emit(fragment_head(&meta, &bytes), tx).await?;
                let at = usize::try_from(meta.cluster_offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                if at < bytes.len() {
                    self.emit(Bytes::copy_from_slice(&bytes[at..]), tx).await?;
                }
                done = bytes.len();
            } else if !bytes.is_empty() {
                done += bytes.len();
                self.emit(Bytes::from(bytes), tx).await?;
            }
            if complete {
                let mut out = BytesMut::new();
                write_tail_tags(&mut out, &meta);
                return self.emit(out.freeze(), tx).await;
            }
            tokio::select! {
                r = changes.changed() => r.map_err(|_| Ended)?,
                // The client left while the producer is quiet: stop following.
                () = tx.closed() => return Err(Ended),
            }
        }
    }

    /// Sends bytes, honouring an injected connection drop.
    async fn emit(&mut self, bytes: Bytes, tx: &Tx) -> Result<(), Ended> {
        if let Some(Fault::DropConnectionAfterBytes { bytes: limit }) = self.fault {
            let room = limit.saturating_sub(self.sent);
            if room < bytes.len() as u64 {
                let cut = bytes.slice(..usize::try_from(room).unwrap_or(0));
                let _ = tx.send(Ok(cut)).await;
                super::abort_response(tx, "GetMedia connection dropped (fault injection)").await;
                return Err(Ended);
            }
        }
        self.sent += bytes.len() as u64;
        tx.send(Ok(bytes)).await.map_err(|_| Ended)
    }
}

/// The state of fragment `number`, with its bytes from `from` on.
fn progress(state: &StreamState, number: &str, from: usize) -> Progress {
    if let Some(l) = state.live(number) {
        let from = from.min(l.bytes.len());
        return Progress::Live(l.meta.clone(), l.bytes[from..].to_vec());
    }
    match state.store.get(number) {
        Some(m) => match state.store.read(m) {
            Ok(b) => {
                let from = from.min(b.len());
                Progress::Complete(m.clone(), b[from..].to_vec())
            }
            Err(_) => Progress::Gone,
        },
        None => Progress::Gone,
    }
}

/// The fragment file's bytes up to its Cluster, then KVS's head tags, then the rest.
/// (For a live fragment, `bytes` is what has arrived so far.)
pub fn fragment_head(meta: &FragmentMeta, bytes: &[u8]) -> Bytes {
    let at = usize::try_from(meta.cluster_offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let mut out = BytesMut::with_capacity(bytes.len() + 256);
    out.extend_from_slice(&bytes[..at]);
    write_head_tags(&mut out, meta);
    out.freeze()
}

/// The rest of a complete fragment after [`fragment_head`] (from its Cluster on), then
/// KVS's tail tags.
fn fragment_tail(meta: &FragmentMeta, bytes: &[u8]) -> Bytes {
    let at = usize::try_from(meta.cluster_offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let mut out = BytesMut::with_capacity(bytes.len() - at + 256);
    out.extend_from_slice(&bytes[at..]);
    write_tail_tags(&mut out, meta);
    out.freeze()
}

/// `Tags(FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP)`.
pub fn write_head_tags(out: &mut BytesMut, meta: &FragmentMeta) {
    layout::write_service_tags(
        out,
        &[
            (TAG_FRAGMENT_NUMBER, &meta.fragment_number),
            (TAG_SERVER_TIMESTAMP, &format_ms(meta.server_timestamp_ms)),
            (
                TAG_PRODUCER_TIMESTAMP,
                &format_ms(meta.producer_timestamp_ms),
            ),
        ],
    );
}

/// `Tags(MILLIS_BEHIND_NOW, CONTINUATION_TOKEN)`.
fn write_tail_tags(out: &mut BytesMut, meta: &FragmentMeta) {
    let behind = (now_ms() - meta.server_timestamp_ms).max(0).to_string();
    layout::write_service_tags(
        out,
        &[
            (TAG_MILLIS_BEHIND_NOW, &behind),
            (TAG_CONTINUATION_TOKEN, &meta.fragment_number),
        ],
    );
}
