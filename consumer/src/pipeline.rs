//! The verify-and-decrypt pipeline: KVS MKV bytes in, in chunks of any size (GetMedia sends
//! several segments back to back), verified frames out as a playable MKV.
//!
//! It follows the consumer call order of `kvs_e2ee_envelope`: consecutive `Tags`
//! elements are gathered and handed to the opener together (a header's chunks may travel in
//! separate `Tags` elements); a cluster whose header is known is opened frame by frame as
//! the bytes arrive (live order); one whose header comes after it (archive, or a read that
//! starts mid-session) is buffered, bounded, until its segment's trailing tags. A frame is
//! written only after its tag verified — never a byte of an unauthenticated frame.

use std::collections::VecDeque;
use std::io::Write;

use kvs_e2ee_aws::getmedia::{
    TAG_CONTINUATION_TOKEN, TAG_ERROR_CODE, TAG_ERROR_ID, TAG_FRAGMENT_NUMBER,
    TAG_MILLIS_BEHIND_NOW, TAG_PRODUCER_TIMESTAMP,
};
use kvs_e2ee_envelope::{
    ChainEvent, Disposition, FragmentOpener, KeyId, OpenError, OpenerConfig, SessionId, Tag,
    TagEvent, TrackCodecData,
};
use kvs_e2ee_mkv::{
    DEFAULT_TIMECODE_SCALE_NS, Demuxer, Event, Frame, MkvError, TagValue, TrackEntry,
};

use crate::output::{MkvOutput, OutputError, restore_tracks};
use crate::report::{Failure, FailureKind, FragmentRef, Summary};

/// Default bound on a cluster buffered while its header has not arrived (one fragment; KVS
/// caps fragments at 50 MB).
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 64 << 20;
/// Most tags gathered from consecutive `Tags` elements before they are handed over anyway
/// (a real group holds at most 25 producer tags plus KVS's own; this bounds memory).
const MAX_PENDING_TAGS: usize = 256;
/// Fragments remembered to name those that later chain verdicts refer to.
const RECENT_REFS: usize = 64;
/// Camera sessions remembered to name the camera of a spliced session.
const RECENT_SESSIONS: usize = 16;

/// What the pipeline needs.
pub struct PipelineConfig {
    /// Stream, identities and trusted cameras.
    pub opener: OpenerConfig,
    /// Skip a bad fragment, report it and continue, instead of stopping at the first.
    pub keep_going: bool,
    /// Largest cluster buffered while waiting for its header.
    pub max_buffered_bytes: usize,
}

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// A fragment failed verification and `keep_going` is off.
    #[error("{0}")]
    Verification(Box<Failure>),
    /// The input is not valid Matroska (the error names the byte offset).
    #[error("malformed MKV input: {0}")]
    Input(#[from] MkvError),
    /// The output could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The stream has frames but no `Tracks` element before them.
    #[error("the input has a cluster before any Tracks element")]
    NoTracks,
    /// The service ended the stream with an error (`AWS_KINESISVIDEO_ERROR_*` tags).
    #[error("the service reported error {code} (id {id}) in the stream")]
    Service {
        /// `AWS_KINESISVIDEO_ERROR_CODE`.
        code: String,
        /// `AWS_KINESISVIDEO_ERROR_ID`.
        id: String,
    },
}

impl PipelineError {
    /// Whether this is the output's reader going away (`-o -` piped into a closed player).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Output(OutputError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// A fragment being opened.
#[derive(Clone, Debug)]
struct OpenState {
    fragment: FragmentRef,
    seq: Option<u64>,
    timecode: u64,
    /// Whether its frames are written (false: duplicate, replay, spliced).
    release: bool,
    /// Frames seen so far (the next frame's index).
    index: u32,
    /// Frames already handled before a reconnect re-sent the cluster.
    skip: u32,
    /// A frame failed: the rest of the fragment is skipped.
    failed: bool,
}

/// Where the current cluster stands.
enum Cluster {
    None,
    Open(OpenState),
    Buffering {
        timecode: u64,
        frames: Vec<Frame>,
        bytes: usize,
    },
    Refused,
}

/// What the current GetMedia segment said about its fragment.
#[derive(Default)]
struct SegmentMeta {
    kvs_number: Option<String>,
    producer_time: Option<String>,
    /// Its cluster's timecode, once the cluster began (trailing tags follow it).
    timecode: Option<u64>,
}

/// The verify-and-decrypt pipeline writing a playable MKV to `W`.
pub struct Pipeline<W: Write> {
    demux: Demuxer,
    opener: FragmentOpener,
    out: MkvOutput<W>,
    keep_going: bool,
    max_buffered: usize,
    tags: Vec<Tag>,
    segment: SegmentMeta,
    clear_tracks: Option<Vec<TrackEntry>>,
    cluster: Cluster,
    restart: Option<OpenState>,
    pending_header: Option<Failure>,
    recent: VecDeque<(u64, FragmentRef)>,
    /// The camera of each recently authenticated session, newest last.
    sessions: VecDeque<(SessionId, KeyId)>,
    failed_seqs: VecDeque<u64>,
    continuation_token: Option<String>,
    millis_behind_now: Option<u64>,
    tracks_warned: bool,
    summary: Summary,
}

impl<W: Write> Pipeline<W> {
    /// A pipeline writing to `writer`.
    pub fn new(config: PipelineConfig, writer: W) -> Self {
        Self {
            demux: Demuxer::new(),
            opener: FragmentOpener::new(config.opener),
            out: MkvOutput::new(writer, DEFAULT_TIMECODE_SCALE_NS),
            keep_going: config.keep_going,
            max_buffered: config.max_buffered_bytes,
            tags: Vec::new(),
            segment: SegmentMeta::default(),
            clear_tracks: None,
            cluster: Cluster::None,
            restart: None,
            pending_header: None,
            recent: VecDeque::new(),
            sessions: VecDeque::new(),
            failed_seqs: VecDeque::new(),
            continuation_token: None,
            millis_behind_now: None,
            tracks_warned: false,
            summary: Summary::default(),
        }
    }

    /// Feeds input bytes; writes (and flushes) every frame that verified.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), PipelineError> {
        self.demux.push(bytes);
        self.drain()?;
        self.out.flush()?;
        Ok(())
    }

    /// The input ended: closes the last fragment and the chain.
    pub fn finish(&mut self) -> Result<(), PipelineError> {
        self.demux.finish()?;
        self.drain()?;
        self.flush_tags()?;
        self.end_cluster()?;
        let events = self.opener.finish();
        // An end record still pending is judged now: name the segment it came in.
        let here = self.segment_ref(self.segment.timecode);
        for ev in events {
            self.on_chain(ev, Some(&here))?;
        }
        if let Some(p) = self.pending_header.take()
            && !self.summary.failures.iter().any(|f| f.kind == p.kind)
        {
            self.record(p)?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// The connection dropped; the source resumes from [`Pipeline::continuation_token`] and
    /// re-sends the interrupted fragment from its start. Bytes of the cut element are
    /// discarded; frames of the interrupted fragment already handled are not written twice.
    pub fn reconnected(&mut self) {
        self.demux = Demuxer::new();
        self.tags.clear();
        self.restart = match std::mem::replace(&mut self.cluster, Cluster::None) {
            Cluster::Open(st) => Some(st),
            _ => None,
        };
    }

    /// The last `AWS_KINESISVIDEO_CONTINUATION_TOKEN` seen (where a resumed GetMedia starts).
    pub fn continuation_token(&self) -> Option<&str> {
        self.continuation_token.as_deref()
    }

    /// The last `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW` seen.
    pub fn millis_behind_now(&self) -> Option<u64> {
        self.millis_behind_now
    }

    /// What has been verified and written so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Flushes the output and returns the writer (also after an error: everything written
    /// had verified).
    pub fn into_output(self) -> Result<W, OutputError> {
        self.out.into_inner()
    }

    fn drain(&mut self) -> Result<(), PipelineError> {
        while let Some(ev) = self.demux.next_event()? {
            self.on_event(ev)?;
        }
        Ok(())
    }

    fn on_event(&mut self, ev: Event) -> Result<(), PipelineError> {
        if !matches!(ev, Event::Tags(_)) {
            self.flush_tags()?;
        }
        match ev {
            Event::EbmlHeader { .. } => {
                self.end_cluster()?;
                self.segment = SegmentMeta::default();
            }
            Event::Info(info) => self.out.set_timecode_scale(info.timecode_scale),
            Event::Tracks(t) => self.clear_tracks = Some(t.entries),
            Event::Tags(t) => {
                self.tags
                    .extend(t.tags.into_iter().filter_map(|st| match st.value {
                        TagValue::String(v) => Some((st.name, v)),
                        _ => None,
                    }));
                if self.tags.len() > MAX_PENDING_TAGS {
                    self.flush_tags()?;
                }
            }
            Event::ClusterStart { timecode, .. } => {
                self.end_cluster()?;
                self.start_cluster(timecode)?;
            }
            Event::Frame(f) => self.on_frame(f)?,
            Event::ClusterEnd => {
                if matches!(self.cluster, Cluster::Open(_) | Cluster::Refused) {
                    self.end_cluster()?;
                }
            }
            Event::SegmentEnd => self.end_cluster()?,
            _ => {}
        }
        Ok(())
    }

    /// Hands the gathered `Tags` to the opener, then opens a buffered cluster whose header
    /// just arrived.
    fn flush_tags(&mut self) -> Result<(), PipelineError> {
        if self.tags.is_empty() {
            return Ok(());
        }
        let tags = std::mem::take(&mut self.tags);
        self.read_service_tags(&tags)?;
        match self.opener.on_tags(&tags) {
            Ok(events) => {
                for ev in &events {
                    if let TagEvent::HeaderVerified(info) = ev {
                        self.note_session(info.session, info.camera);
                    }
                }
                // Verdicts on end records, which travel in the trailing tags of the
                // segment being read: named after that segment's fragment.
                let here = self.segment_ref(self.segment.timecode);
                for ev in events {
                    if let TagEvent::Chain(c) = ev {
                        self.on_chain(c, Some(&here))?;
                    }
                }
            }
            Err(e) => self.header_failed(&e)?,
        }
        if let Cluster::Buffering { timecode, .. } = self.cluster
            && self.opener.has_header_for(timecode)
        {
            // Trailing tags only follow a complete cluster: open and close it now.
            self.end_cluster()?;
        }
        Ok(())
    }

    fn read_service_tags(&mut self, tags: &[Tag]) -> Result<(), PipelineError> {
        let get = |name: &str| tags.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        if let Some(code) = get(TAG_ERROR_CODE) {
            return Err(PipelineError::Service {
                code,
                id: get(TAG_ERROR_ID).unwrap_or_default(),
            });
        }
        if let Some(n) = get(TAG_FRAGMENT_NUMBER) {
            self.segment.kvs_number = Some(n);
        }
        if let Some(t) = get(TAG_PRODUCER_TIMESTAMP) {
            self.segment.producer_time = Some(t);
        }
        if let Some(t) = get(TAG_CONTINUATION_TOKEN) {
            self.continuation_token = Some(t);
        }
        if let Some(m) = get(TAG_MILLIS_BEHIND_NOW).and_then(|m| m.parse().ok()) {
            self.millis_behind_now = Some(m);
        }
        Ok(())
    }

    /// A header in the tags failed. The failure is held until the cluster it leaves without
    /// a header, so it is reported once and names that cluster's KVS fragment number and
    /// timecode (the tags of fragment N+1's header travel in fragment N's segment, so here
    /// only the previous fragment is known). Nothing is released meanwhile: the cluster has
    /// no header to open it. A second failing header, or the end of input, reports it too.
    fn header_failed(&mut self, e: &OpenError) -> Result<(), PipelineError> {
        let failure = Failure {
            fragment: FragmentRef {
                seq: FailureKind::seq_of(e),
                ..self.segment_ref(None)
            },
            kind: FailureKind::from_open_error(e),
        };
        if let Some(old) = self.pending_header.take()
            && old.fragment.seq != failure.fragment.seq
        {
            self.record(old)?;
        }
        self.pending_header = Some(failure);
        Ok(())
    }

    fn segment_ref(&self, timecode: Option<u64>) -> FragmentRef {
        FragmentRef {
            kvs_number: self.segment.kvs_number.clone(),
            seq: None,
            timecode,
            producer_time: self.segment.producer_time.clone(),
        }
    }

    fn start_cluster(&mut self, timecode: u64) -> Result<(), PipelineError> {
        self.segment.timecode = Some(timecode);
        if let Some(st) = self.restart.take() {
            if st.timecode == timecode && self.opener.restart_fragment(timecode) {
                self.summary.fragments_resumed += 1;
                self.cluster = Cluster::Open(OpenState {
                    skip: st.index,
                    index: 0,
                    ..st
                });
                return Ok(());
            }
            // The source resumed elsewhere: close the interrupted fragment as it stands.
            for ev in self.opener.end_fragment() {
                self.on_chain(ev, None)?;
            }
        }
        if self.opener.has_header_for(timecode) {
            self.begin(timecode)
        } else {
            self.cluster = Cluster::Buffering {
                timecode,
                frames: Vec::new(),
                bytes: 0,
            };
            Ok(())
        }
    }

    /// Begins the fragment of the cluster at `timecode` with the opener.
    fn begin(&mut self, timecode: u64) -> Result<(), PipelineError> {
        let mut fragment = self.segment_ref(Some(timecode));
        let start = match self.opener.begin_fragment(timecode) {
            Ok(start) => start,
            Err(e) => {
                self.cluster = Cluster::Refused;
                let failure = match (&e, self.pending_header.take()) {
                    (OpenError::Unencrypted { .. }, Some(p)) => Failure {
                        fragment: FragmentRef {
                            seq: p.fragment.seq,
                            ..fragment
                        },
                        kind: p.kind,
                    },
                    _ => Failure {
                        fragment,
                        kind: FailureKind::from_open_error(&e),
                    },
                };
                return self.record(failure);
            }
        };
        let seq = start.info.as_ref().map(|i| i.seq);
        fragment.seq = seq;
        if let Some(info) = &start.info {
            self.note_session(info.session, info.camera);
        }
        if let Some(s) = seq {
            if self.recent.len() == RECENT_REFS {
                self.recent.pop_front();
            }
            self.recent.push_back((s, fragment.clone()));
        }
        let mut release = start.disposition == Disposition::Release;
        self.cluster = Cluster::Open(OpenState {
            fragment: fragment.clone(),
            seq,
            timecode,
            release,
            index: 0,
            skip: 0,
            failed: false,
        });
        for ev in start.events {
            if matches!(ev, ChainEvent::Spliced { .. }) {
                // Authentic camera data, but not this session's: skip it.
                release = false;
            }
            self.on_chain(ev, Some(&fragment))?;
        }
        if let Cluster::Open(st) = &mut self.cluster {
            st.release = release;
        }
        if release {
            let codec = start.info.as_ref().map(|i| i.tracks.as_slice());
            self.begin_output(&fragment, timecode, codec)?;
        }
        Ok(())
    }

    /// Prepares the output for a released fragment: tracks restored from its header's codec
    /// data (`None`: a `danger_accept_plaintext` cluster, tracks as they came).
    fn begin_output(
        &mut self,
        fragment: &FragmentRef,
        timecode: u64,
        codec: Option<&[TrackCodecData]>,
    ) -> Result<(), PipelineError> {
        let clear = self
            .clear_tracks
            .as_deref()
            .ok_or(PipelineError::NoTracks)?;
        let tracks = match codec {
            Some(codec) => restore_tracks(clear, codec),
            None => clear.to_vec(),
        };
        if !self.out.begin_fragment(timecode, &tracks)? && !self.tracks_warned {
            self.tracks_warned = true;
            tracing::warn!("{fragment}: codec data changed; the output keeps the first fragment's");
        }
        Ok(())
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), PipelineError> {
        match &mut self.cluster {
            Cluster::Open(_) => self.open_frame(frame),
            Cluster::Buffering {
                timecode,
                frames,
                bytes,
            } => {
                *bytes += frame.data.len();
                if *bytes > self.max_buffered {
                    let timecode = *timecode;
                    let fragment = self.segment_ref(Some(timecode));
                    self.cluster = Cluster::Refused;
                    return self.record(Failure {
                        fragment,
                        kind: FailureKind::TooLarge {
                            limit: self.max_buffered,
                        },
                    });
                }
                frames.push(frame);
                Ok(())
            }
            Cluster::None | Cluster::Refused => Ok(()),
        }
    }

    fn open_frame(&mut self, mut frame: Frame) -> Result<(), PipelineError> {
        let Cluster::Open(st) = &mut self.cluster else {
            return Ok(());
        };
        let index = st.index;
        st.index = st.index.saturating_add(1);
        let result =
            self.opener
                .open_frame(frame.track, frame.timecode, frame.keyframe, &mut frame.data);
        match result {
            Ok(Some(n)) => {
                if index >= st.skip && st.release && !st.failed {
                    self.out.write_frame(
                        frame.track,
                        frame.timecode,
                        frame.keyframe,
                        &frame.data[..n],
                    )?;
                    self.summary.frames_written += 1;
                    self.summary.bytes_written += n as u64;
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                if index < st.skip || st.failed || !st.release {
                    return Ok(());
                }
                st.failed = true;
                let failure = Failure {
                    fragment: st.fragment.clone(),
                    kind: FailureKind::from_open_error(&e),
                };
                if let Some(s) = st.seq {
                    self.mark_failed(s);
                }
                self.record(failure)
            }
        }
    }

    /// Ends the current cluster: opens a buffered one first (its header never came: refused).
    fn end_cluster(&mut self) -> Result<(), PipelineError> {
        match std::mem::replace(&mut self.cluster, Cluster::None) {
            Cluster::Open(st) => {
                if st.release && !st.failed {
                    self.summary.fragments_verified += 1;
                }
                for ev in self.opener.end_fragment() {
                    self.on_chain(ev, None)?;
                }
            }
            Cluster::Buffering {
                timecode, frames, ..
            } => {
                self.begin(timecode)?;
                for f in frames {
                    self.on_frame(f)?;
                }
                if matches!(self.cluster, Cluster::Open(_)) {
                    return self.end_cluster();
                }
                self.cluster = Cluster::None;
            }
            Cluster::None | Cluster::Refused => {}
        }
        Ok(())
    }

    fn mark_failed(&mut self, seq: u64) {
        if self.failed_seqs.len() == RECENT_REFS {
            self.failed_seqs.pop_front();
        }
        self.failed_seqs.push_back(seq);
    }

    /// Remembers that `session` is `camera`'s (bounded, newest last).
    fn note_session(&mut self, session: SessionId, camera: KeyId) {
        if self.sessions.back().is_some_and(|(s, _)| *s == session) {
            return;
        }
        self.sessions.retain(|(s, _)| *s != session);
        if self.sessions.len() == RECENT_SESSIONS {
            self.sessions.pop_front();
        }
        self.sessions.push_back((session, camera));
    }

    /// The camera of a recently authenticated session.
    fn camera_of(&self, session: SessionId) -> Option<KeyId> {
        self.sessions
            .iter()
            .rev()
            .find(|(s, _)| *s == session)
            .map(|(_, c)| *c)
    }

    fn ref_of(&self, seq: u64) -> FragmentRef {
        self.recent
            .iter()
            .rev()
            .find(|(s, _)| *s == seq)
            .map(|(_, r)| r.clone())
            .unwrap_or(FragmentRef {
                seq: Some(seq),
                ..FragmentRef::default()
            })
    }

    /// Turns a chain verdict into a report. `current` is the fragment being begun, or the
    /// segment whose tags carried the end record judged.
    fn on_chain(
        &mut self,
        ev: ChainEvent,
        current: Option<&FragmentRef>,
    ) -> Result<(), PipelineError> {
        let here = || current.cloned().unwrap_or_default();
        let (fragment, kind) = match ev {
            ChainEvent::Duplicate { .. } => {
                self.summary.duplicates_dropped += 1;
                return Ok(());
            }
            ChainEvent::Unterminated { .. } => {
                self.summary.unterminated_sessions += 1;
                return Ok(());
            }
            ChainEvent::Gap { missing, .. } => {
                self.summary.fragments_missing += missing.end.saturating_sub(missing.start);
                (here(), FailureKind::Missing { missing })
            }
            ChainEvent::Reordered { .. } => (here(), FailureKind::Reordered),
            ChainEvent::Replayed { seq, .. } => (
                FragmentRef {
                    seq: Some(seq),
                    ..here()
                },
                FailureKind::Replayed,
            ),
            ChainEvent::Spliced { session, seq } => (
                FragmentRef {
                    seq: Some(seq),
                    ..here()
                },
                FailureKind::Spliced {
                    session,
                    camera: self.camera_of(session),
                },
            ),
            ChainEvent::NewSession {
                previous_closed: false,
                ..
            } => (here(), FailureKind::PreviousSessionUnclosed),
            ChainEvent::Truncated {
                seq,
                expected,
                seen,
            } if !self.failed_seqs.contains(&seq) => (
                self.ref_of(seq),
                FailureKind::MissingFrames { expected, seen },
            ),
            ChainEvent::Mismatch { seq } if !self.failed_seqs.contains(&seq) => {
                (self.ref_of(seq), FailureKind::FramesChanged)
            }
            _ => return Ok(()),
        };
        self.record(Failure { fragment, kind })
    }

    /// Records a failure; stops unless `keep_going`.
    fn record(&mut self, failure: Failure) -> Result<(), PipelineError> {
        if self.keep_going {
            tracing::warn!("{failure} (skipped, continuing)");
            self.summary.failures.push(failure);
            Ok(())
        } else {
            self.summary.failures.push(failure.clone());
            Err(PipelineError::Verification(Box::new(failure)))
        }
    }
}
