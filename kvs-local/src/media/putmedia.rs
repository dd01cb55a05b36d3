//! PutMedia: the long-lived chunked POST. The head is checked (SigV4 from headers, stream,
//! authorization, faults) and a 200 with a streamed ACK body is answered at once; a task
//! then reads the body, parses it incrementally with `kvs_e2ee_mkv::Demuxer`, validates
//! what KVS validates, stores complete fragments and writes ACK events
//! (`kvs_e2ee_aws::ack::AckEvent::encode_line`).
//!
//! Fragment life: a Cluster starts a fragment (BUFFERING; it becomes the stream's live
//! fragment that GetMedia readers follow); it is complete when the next Cluster starts or
//! the body ends cleanly or an `AWS_KINESISVIDEO_END_OF_FRAGMENT` tag arrives (RECEIVED,
//! stored, PERSISTED). Tags arriving before cluster N+1 are appended to fragment N after
//! its Cluster; tags before the connection's first Cluster, or after an end-of-fragment
//! tag, open the next fragment, before Info (as the real recordings show for the first).
//! The end-of-fragment tag itself is consumed, never stored. A body that breaks off or
//! fails validation discards the fragment in progress: it is never stored.

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use kvs_e2ee_aws::ack::{AckErrorId, AckEvent, AckEventType};
use kvs_e2ee_aws::getmedia::parse_tag_timestamp;
use kvs_e2ee_aws::putmedia::{TagRole, headers, tag_role};
use kvs_e2ee_mkv::elements::write_tag;
use kvs_e2ee_mkv::mux::{MAX_TAG_NAME_LEN, MAX_TAG_VALUE_LEN};
use kvs_e2ee_mkv::{Demuxer, Event, Frame, MkvError, SegmentInfo, SimpleTag, Tags, Tracks};
use tokio::sync::mpsc;

use super::layout;
use super::store::FragmentMeta;
use super::{MediaPlane, StreamMedia, now_ms, streaming_response};
use crate::auth::Action;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::faults::{Fault, Plane};
use crate::http::{BoxError, ResponseBody};

/// Largest fragment (KVS quotas: 50 MB per fragment).
pub const MAX_FRAGMENT_SIZE: u64 = 50 * 1000 * 1000;
/// Longest fragment (KVS: 10 s; ErrorId 4002 beyond).
pub const MAX_FRAGMENT_DURATION_MS: u64 = 10_000;
/// Most fragment-metadata tags per fragment (PIC `MAX_FRAGMENT_METADATA_COUNT`).
pub const MAX_FRAGMENT_TAGS: usize = 25;
/// Most tracks (KVS: 3; ErrorId 4012 beyond).
pub const MAX_TRACKS: usize = 3;

/// How cluster timecodes relate to the producer's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimecodeType {
    Absolute,
    Relative,
}

/// Handles `POST /putMedia`.
pub(crate) async fn handle(
    plane: MediaPlane,
    ctx: RequestContext,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    match admit(&plane, &ctx, &parts) {
        Ok(session) => {
            let (tx, resp) = streaming_response(&ctx, "application/json");
            tokio::spawn(session.run(body, tx));
            resp
        }
        Err(e) => ctx.error_response(&e),
    }
}

fn admit(plane: &MediaPlane, ctx: &RequestContext, parts: &Parts) -> Result<Session, ApiError> {
    let principal = ctx.authenticate_streaming(parts)?;
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let name = header(headers::STREAM_NAME);
    let arn = header(headers::STREAM_ARN);
    let timecode_type = match header(headers::TIMECODE_TYPE) {
        None | Some("ABSOLUTE") => TimecodeType::Absolute,
        Some("RELATIVE") => TimecodeType::Relative,
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
                "{} must be ABSOLUTE or RELATIVE, not {other:?}",
                headers::TIMECODE_TYPE
            )));
        }
    };
    let start_ms = match header(headers::PRODUCER_START_TIMESTAMP) {
        None => None,
        Some(v) => Some(
            parse_tag_timestamp(v)
                .map(super::system_ms)
                .ok_or_else(|| {
                    ApiError::invalid_argument(format!(
                        "{} {v:?} is not seconds.millis",
                        headers::PRODUCER_START_TIMESTAMP
                    ))
                })?,
        ),
    };
    if timecode_type == TimecodeType::Relative && start_ms.is_none() {
        return Err(ApiError::invalid_argument(format!(
            "RELATIVE timecodes need {}",
            headers::PRODUCER_START_TIMESTAMP
        )));
    }
    if let (Some(n), None) = (name, arn) {
        ctx.authorize_stream_name(&principal, Action::PutMedia, n)?;
    }
    let stream = ctx.state.streams.resolve(name, arn)?;
    ctx.authorize(&principal, Action::PutMedia, &stream)?;
    let fault = ctx.take_fault(Plane::Data, Some(&stream.name), Some(&principal));
    if let Some(e) = fault.as_ref().and_then(Fault::to_api_error) {
        return Err(e);
    }
    let media = plane.stream(&stream)?;
    plane.expire(&stream, &media);
    media.count_connection();
    let capture = open_capture(plane, &stream.name, ctx.connection.id);
    Ok(Session {
        plane: plane.clone(),
        registry: std::sync::Arc::clone(&ctx.state),
        stream,
        media,
        connection: ctx.connection.id,
        opened: std::time::Instant::now(),
        timecode_type,
        start_ms: start_ms.unwrap_or(0),
        fault,
        ingest: Ingest::default(),
        capture,
    })
}

/// The capture file of one connection, if capturing is on.
fn open_capture(plane: &MediaPlane, stream: &str, connection: u64) -> Option<std::fs::File> {
    let dir = plane.config().capture_dir.as_ref()?;
    let path = dir.join(format!("{stream}-{connection}.mkv"));
    let file = std::fs::create_dir_all(dir).and_then(|()| std::fs::File::create(&path));
    match file {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot capture PutMedia body");
            None
        }
    }
}

/// Why a session stops early.
enum Stop {
    /// Send an ERROR ack with this id, then end the response.
    Reject(AckErrorId, String),
    /// Abort the connection without a word (injected drop).
    Drop,
}

/// One PutMedia connection's parsing state.
#[derive(Default)]
struct Ingest {
    demuxer: Demuxer,
    /// Info of the current Segment.
    info: Option<SegmentInfo>,
    /// Tracks of the current Segment.
    tracks: Option<Tracks>,
    /// Raw Tags waiting for the next fragment's head (those before the connection's first
    /// Cluster or after an end-of-fragment tag), and how many metadata items they hold.
    leading: (Vec<u8>, usize),
    /// The fragment in progress.
    current: Option<Current>,
    /// Timecode of the Cluster being opened, until its fragment is in progress: an error
    /// found on the way (4003 at a connection's time limit, …) names that fragment.
    opening: Option<u64>,
    /// Producer timestamp of the previous fragment (4004 check).
    last_producer_ms: Option<i64>,
}

/// The fragment in progress (its bytes live in the stream's live fragment).
struct Current {
    number: String,
    timecode: u64,
    frames: u64,
    tags: usize,
}

struct Session {
    plane: MediaPlane,
    registry: std::sync::Arc<crate::context::ServerState>,
    stream: crate::streams::StreamRecord,
    media: std::sync::Arc<StreamMedia>,
    connection: u64,
    opened: std::time::Instant,
    timecode_type: TimecodeType,
    start_ms: i64,
    fault: Option<Fault>,
    ingest: Ingest,
    /// The raw body's copy ([`super::MediaConfig::capture_dir`]).
    capture: Option<std::fs::File>,
}

type Tx = mpsc::Sender<Result<Bytes, BoxError>>;

impl Session {
    async fn run(mut self, mut body: Incoming, tx: Tx) {
        let idle = self.plane.config().idle_ack_interval;
        let mut received: u64 = 0;
        if let Some(d) = self.fault.as_ref().and_then(Fault::stall_duration) {
            tokio::time::sleep(d).await;
        }
        let outcome = loop {
            let frame = match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => {
                    send(&tx, &idle_event()).await;
                    continue;
                }
                Ok(f) => f,
            };
            match frame {
                None => break self.finish(&tx).await,
                Some(Err(e)) => {
                    tracing::debug!(stream = %self.stream.name, error = %e, "PutMedia body broke off");
                    break Err(Stop::Drop);
                }
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let data = match self.drop_point(received, &data) {
                        Some(cut) => {
                            if let Err(stop) = self.feed(&data[..cut], &tx).await {
                                break Err(stop);
                            }
                            break Err(Stop::Drop);
                        }
                        None => data,
                    };
                    received += data.len() as u64;
                    self.capture(&data);
                    if let Err(stop) = self.feed(&data, &tx).await {
                        break Err(stop);
                    }
                }
            }
        };
        match outcome {
            Ok(()) => {}
            Err(Stop::Reject(id, why)) => {
                tracing::info!(stream = %self.stream.name, error_id = id.0, %why, "PutMedia fragment rejected");
                let (fragment_timecode, fragment_number) = self.error_target();
                let ev = AckEvent {
                    event_type: AckEventType::Error,
                    fragment_timecode,
                    fragment_number,
                    error_id: Some(id.0),
                };
                self.abandon();
                self.ack(&tx, &ev).await;
            }
            Err(Stop::Drop) => {
                self.abandon();
                // Swallow what the client already sent: closing a socket with unread
                // input resets it, and the client would lose the ACKs written before.
                let drain = async { while let Some(Ok(_)) = body.frame().await {} };
                let _ = tokio::time::timeout(std::time::Duration::from_millis(200), drain).await;
                super::abort_response(&tx, "PutMedia connection dropped").await;
            }
        }
    }

    /// Appends `data` to the capture file, if any; a failed write stops the capture (and
    /// is logged), never the upload.
    fn capture(&mut self, data: &[u8]) {
        use std::io::Write as _;
        if let Some(file) = &mut self.capture
            && let Err(e) = file.write_all(data)
        {
            tracing::warn!(stream = %self.stream.name, error = %e, "PutMedia capture stopped");
            self.capture = None;
        }
    }

    /// With a `DropConnectionAfterBytes` fault: where in `data` the limit falls.
    fn drop_point(&self, received: u64, data: &Bytes) -> Option<usize> {
        let Some(Fault::DropConnectionAfterBytes { bytes }) = self.fault else {
            return None;
        };
        let room = bytes.saturating_sub(received);
        (room < data.len() as u64).then_some(room as usize)
    }

    async fn feed(&mut self, data: &[u8], tx: &Tx) -> Result<(), Stop> {
        self.ingest.demuxer.push(data);
        loop {
            let event = match self.ingest.demuxer.next_event() {
                Ok(Some(e)) => e,
                Ok(None) => return Ok(()),
                Err(e) => return Err(invalid_mkv(&e)),
            };
            self.on_event(event, tx).await?;
        }
    }

    /// End of body: the last fragment is complete.
    async fn finish(&mut self, tx: &Tx) -> Result<(), Stop> {
        if let Err(e) = self.ingest.demuxer.finish() {
            return Err(invalid_mkv(&e));
        }
        loop {
            match self.ingest.demuxer.next_event() {
                Ok(Some(e)) => self.on_event(e, tx).await?,
                Ok(None) => break,
                Err(e) => return Err(invalid_mkv(&e)),
            }
        }
        self.check_stream()?;
        self.complete(tx).await
    }

    async fn on_event(&mut self, event: Event, tx: &Tx) -> Result<(), Stop> {
        match event {
            Event::SegmentStart { .. } => {
                self.ingest.info = None;
                self.ingest.tracks = None;
            }
            Event::Info(info) => self.ingest.info = Some(info),
            Event::Tracks(tracks) => {
                if tracks.entries.len() > MAX_TRACKS {
                    return Err(Stop::Reject(
                        AckErrorId::MORE_THAN_ALLOWED_TRACKS_FOUND,
                        format!("{} tracks", tracks.entries.len()),
                    ));
                }
                self.ingest.tracks = Some(tracks);
            }
            Event::Tags(tags) => self.on_tags(&tags, tx).await?,
            Event::ClusterStart { timecode, .. } => {
                self.check_stream()?;
                self.complete(tx).await?;
                self.ingest.opening = Some(timecode);
                if let Some(max) = self.plane.config().max_connection_duration
                    && self.opened.elapsed() >= max
                {
                    return Err(Stop::Reject(
                        AckErrorId::MAX_CONNECTION_DURATION_REACHED,
                        format!("connection open for more than {max:?}"),
                    ));
                }
                self.start_fragment(timecode, tx).await?;
            }
            Event::Frame(frame) => self.on_frame(&frame)?,
            _ => {}
        }
        Ok(())
    }

    /// Fragment metadata, event tags and end-of-fragment directives (PIC writes each in a
    /// `Tags` element of its own; a mixed element is split around the directive).
    async fn on_tags(&mut self, tags: &Tags, tx: &Tx) -> Result<(), Stop> {
        for t in &tags.tags {
            validate_tag(t)?;
        }
        let ends = |t: &SimpleTag| tag_role(&t.name) == TagRole::EndOfFragment;
        if !tags.tags.iter().any(ends) {
            return self.add_metadata(&tags.raw, tags.tags.len());
        }
        let mut group: Vec<&SimpleTag> = Vec::new();
        for t in &tags.tags {
            if ends(t) {
                self.add_metadata_group(&group)?;
                group.clear();
                self.complete(tx).await?;
            } else {
                group.push(t);
            }
        }
        self.add_metadata_group(&group)
    }

    /// Re-encodes `group` (the tags of a mixed element around an end-of-fragment tag).
    fn add_metadata_group(&mut self, group: &[&SimpleTag]) -> Result<(), Stop> {
        if group.is_empty() {
            return Ok(());
        }
        let mut raw = BytesMut::new();
        for t in group {
            write_tag(&mut raw, &t.name, t.as_str().unwrap_or_default());
        }
        self.add_metadata(&raw, group.len())
    }

    /// Stores `n` metadata items (`raw` Tags elements) with the fragment in progress, or
    /// keeps them for the next fragment's head.
    fn add_metadata(&mut self, raw: &[u8], n: usize) -> Result<(), Stop> {
        match &mut self.ingest.current {
            Some(cur) => {
                cur.tags += n;
                if cur.tags > MAX_FRAGMENT_TAGS {
                    return Err(metadata_error(format!("{} tags in one fragment", cur.tags)));
                }
                let number = cur.number.clone();
                self.append_live(&number, raw, None);
            }
            None => {
                let (leading, count) = &mut self.ingest.leading;
                *count += n;
                if *count > MAX_FRAGMENT_TAGS {
                    return Err(metadata_error(format!(
                        "{count} tags before the fragment's cluster"
                    )));
                }
                leading.extend_from_slice(raw);
            }
        }
        Ok(())
    }

    async fn start_fragment(&mut self, timecode: u64, tx: &Tx) -> Result<(), Stop> {
        let (Some(info), Some(tracks)) = (&self.ingest.info, &self.ingest.tracks) else {
            return Err(Stop::Reject(
                AckErrorId::INVALID_MKV_DATA,
                "Cluster before Info and Tracks".into(),
            ));
        };
        let scale = info.timecode_scale;
        let relative_ms = i64::try_from(u128::from(timecode) * u128::from(scale) / 1_000_000)
            .map_err(|_| Stop::Reject(AckErrorId::INVALID_MKV_DATA, "timecode overflow".into()))?;
        let producer_ms = match self.timecode_type {
            TimecodeType::Absolute => relative_ms,
            TimecodeType::Relative => self.start_ms.saturating_add(relative_ms),
        };
        let server_ms = now_ms();
        let mut head = BytesMut::new();
        layout::write_segment_start(&mut head);
        let (leading, tags) = std::mem::take(&mut self.ingest.leading);
        head.extend_from_slice(&leading);
        head.extend_from_slice(&info.raw);
        head.extend_from_slice(&tracks.raw);
        let cluster_offset = head.len() as u64;
        layout::write_cluster_start(&mut head, timecode);
        let number = {
            let mut state = self.media.lock();
            let number = state.store.next_number(server_ms);
            state.live.push(super::LiveFragment {
                meta: FragmentMeta {
                    fragment_number: number.clone(),
                    server_timestamp_ms: server_ms,
                    producer_timestamp_ms: producer_ms,
                    cluster_timecode: timecode,
                    duration_ms: 0,
                    size: head.len() as u64,
                    cluster_offset,
                },
                bytes: head.to_vec(),
                connection: self.connection,
            });
            number
        };
        self.media.notify();
        self.ingest.current = Some(Current {
            number: number.clone(),
            timecode,
            frames: 0,
            tags,
        });
        self.ingest.opening = None;
        if let Some(prev) = self.ingest.last_producer_ms
            && producer_ms < prev
        {
            return Err(Stop::Reject(
                AckErrorId::FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS,
                format!("fragment at {producer_ms} ms after one at {prev} ms"),
            ));
        }
        self.ingest.last_producer_ms = Some(producer_ms);
        if let Some(Fault::AckError { error_id }) = self.fault {
            return Err(Stop::Reject(
                AckErrorId(error_id),
                "injected by a fault rule".into(),
            ));
        }
        self.ack(
            tx,
            &fragment_event(AckEventType::Buffering, timecode, &number),
        )
        .await;
        Ok(())
    }

    fn on_frame(&mut self, frame: &Frame) -> Result<(), Stop> {
        let Some(cur) = &mut self.ingest.current else {
            return Err(Stop::Reject(
                AckErrorId::INVALID_MKV_DATA,
                "frame outside a cluster".into(),
            ));
        };
        if cur.frames == 0 && !frame.keyframe {
            return Err(Stop::Reject(
                AckErrorId::INVALID_MKV_DATA,
                "fragment does not start with a key frame".into(),
            ));
        }
        cur.frames += 1;
        if self
            .ingest
            .tracks
            .as_ref()
            .is_none_or(|t| t.by_number(frame.track).is_none())
        {
            return Err(Stop::Reject(
                AckErrorId::TRACK_NUMBER_MISMATCH,
                format!("block for track {} not in Tracks", frame.track),
            ));
        }
        let scale = self
            .ingest
            .info
            .as_ref()
            .map_or(1_000_000, |i| i.timecode_scale);
        let offset_ms =
            u128::from(frame.timecode.saturating_sub(cur.timecode)) * u128::from(scale) / 1_000_000;
        if offset_ms > u128::from(MAX_FRAGMENT_DURATION_MS) {
            return Err(Stop::Reject(
                AckErrorId::MAX_FRAGMENT_DURATION_REACHED,
                format!("frame {offset_ms} ms into the fragment"),
            ));
        }
        let mut block = BytesMut::new();
        if layout::write_simple_block(&mut block, cur.timecode, frame).is_none() {
            return Err(Stop::Reject(
                AckErrorId::INVALID_MKV_DATA,
                "block timecode out of range".into(),
            ));
        }
        let number = cur.number.clone();
        let duration = i64::try_from(offset_ms).unwrap_or(i64::MAX);
        let size = self.append_live(&number, &block, Some(duration));
        if size > MAX_FRAGMENT_SIZE {
            return Err(Stop::Reject(
                AckErrorId::MAX_FRAGMENT_SIZE_REACHED,
                format!("fragment of {size} bytes"),
            ));
        }
        Ok(())
    }

    /// Appends to the live fragment `number`; returns its new size.
    fn append_live(&self, number: &str, bytes: &[u8], duration_ms: Option<i64>) -> u64 {
        let size = {
            let mut state = self.media.lock();
            match state.live_mut(number) {
                Some(live) => {
                    live.bytes.extend_from_slice(bytes);
                    live.meta.size = live.bytes.len() as u64;
                    if let Some(d) = duration_ms {
                        live.meta.duration_ms = live.meta.duration_ms.max(d);
                    }
                    live.meta.size
                }
                None => 0,
            }
        };
        self.media.notify();
        size
    }

    /// A stream deleted (or deleted and re-created) while the connection is open: 4507.
    fn check_stream(&self) -> Result<(), Stop> {
        match self.registry.streams.get_by_arn(&self.stream.arn) {
            Some(_) => Ok(()),
            None => Err(Stop::Reject(
                AckErrorId::STREAM_DELETED,
                "the stream was deleted".into(),
            )),
        }
    }

    /// The fragment in progress is complete: RECEIVED, store, PERSISTED.
    async fn complete(&mut self, tx: &Tx) -> Result<(), Stop> {
        let Some(cur) = self.ingest.current.take() else {
            return Ok(());
        };
        self.ack(
            tx,
            &fragment_event(AckEventType::Received, cur.timecode, &cur.number),
        )
        .await;
        let stored = {
            let mut state = self.media.lock();
            match state.take_live(&cur.number) {
                Some(live) => state
                    .store
                    .persist(live.meta, &live.bytes)
                    .map_err(|e| e.to_string()),
                None => Err("the fragment in progress was lost".to_owned()),
            }
        };
        self.media.notify();
        if let Err(why) = stored {
            self.ingest.current = Some(cur);
            return Err(Stop::Reject(AckErrorId::ARCHIVAL_ERROR, why));
        }
        tracing::debug!(stream = %self.stream.name, fragment = %cur.number, "PERSISTED");
        self.ack(
            tx,
            &fragment_event(AckEventType::Persisted, cur.timecode, &cur.number),
        )
        .await;
        Ok(())
    }

    /// Timecode and number an ERROR ack names: the fragment in progress, or the timecode
    /// of the Cluster being opened (no number yet). With neither (the body failed before
    /// a Cluster, or between an end-of-fragment tag and the next Cluster) the ack carries
    /// neither: PIC's ack parser then applies the error to the
    /// fragment it is sending (`streamFragmentAckEvent` "Fix-up the invalid timestamp"),
    /// whereas a made-up timecode such as 0 matches none of its fragments and is dropped
    /// (`STATUS_ACK_TIMESTAMP_NOT_IN_VIEW_WINDOW`), and `-1` fails its unsigned parse.
    fn error_target(&self) -> (Option<u64>, Option<String>) {
        match (&self.ingest.current, self.ingest.opening) {
            (Some(c), _) => (Some(c.timecode), Some(c.number.clone())),
            (None, opening) => (opening, None),
        }
    }

    /// Sends `event` and counts it in the stream's [`PutMediaCounts`].
    ///
    /// [`PutMediaCounts`]: super::PutMediaCounts
    async fn ack(&self, tx: &Tx, event: &AckEvent) {
        self.media.count_ack(event);
        send(tx, event).await;
    }

    /// Forgets the fragment in progress (never stored).
    fn abandon(&mut self) {
        if let Some(cur) = self.ingest.current.take() {
            self.media.lock().take_live(&cur.number);
        }
        self.media.notify();
    }
}

fn invalid_mkv(e: &MkvError) -> Stop {
    Stop::Reject(AckErrorId::INVALID_MKV_DATA, e.to_string())
}

/// KVS's fragment-metadata limits on one tag (name 1–128 bytes, value ≤ 256, a string).
fn validate_tag(t: &SimpleTag) -> Result<(), Stop> {
    let Some(value) = t.as_str() else {
        return Err(metadata_error(format!("tag {:?} is binary", t.name)));
    };
    if t.name.is_empty() || t.name.len() > MAX_TAG_NAME_LEN {
        return Err(metadata_error(format!(
            "tag name of {} bytes",
            t.name.len()
        )));
    }
    if value.len() > MAX_TAG_VALUE_LEN {
        return Err(metadata_error(format!(
            "tag {:?} value of {} bytes",
            t.name,
            value.len()
        )));
    }
    if tag_role(&t.name) == TagRole::ServiceOnly {
        return Err(metadata_error(format!(
            "tag name {:?} is written by the service itself",
            t.name
        )));
    }
    Ok(())
}

fn metadata_error(why: String) -> Stop {
    Stop::Reject(AckErrorId::FRAGMENT_METADATA_LIMIT_REACHED, why)
}

fn fragment_event(event_type: AckEventType, timecode: u64, number: &str) -> AckEvent {
    AckEvent {
        event_type,
        fragment_timecode: Some(timecode),
        fragment_number: Some(number.to_owned()),
        error_id: None,
    }
}

fn idle_event() -> AckEvent {
    AckEvent {
        event_type: AckEventType::Idle,
        fragment_timecode: None,
        fragment_number: None,
        error_id: None,
    }
}

/// Sends one ACK line; a client that stopped reading ACKs is not an error (the upload goes on).
async fn send(tx: &Tx, event: &AckEvent) {
    let _ = tx.send(Ok(Bytes::from(event.encode_line()))).await;
}
