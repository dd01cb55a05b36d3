//! The stream opener: the viewer's whole call order as one sans-I/O state machine.
//!
//! [`FragmentOpener`] verifies one header and one frame at a time; reading a KVS stream
//! takes more than that, and every viewer needs the same: `Tags` gathered across
//! consecutive elements (a header's chunks may travel in separate ones), a cluster whose
//! header comes after it (archive reads, a read that starts mid-session) buffered —
//! bounded — until its segment's trailing tags, a fragment re-sent after the reader's own
//! reconnect resumed without releasing a frame twice, a failing header held until the
//! cluster it leaves headerless so the report names that cluster, and each verdict named
//! by the fragment it concerns. [`StreamOpener`] does all of it and nothing else: it takes
//! demuxed [`Input`]s and returns [`StreamEvent`]s, does no I/O and knows no container
//! library, so the CLI, the GStreamer source, the browser viewer and the tests drive the
//! same code (as rustls's state machines are driven by any transport).
//!
//! ```
//! # use kvs_e2ee_envelope::*;
//! # use rand::SeedableRng;
//! # let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! # let camera = SecretKey::generate(&mut rng);
//! # let viewer = SecretKey::generate(&mut rng);
//! # let mut sealer = SessionSealer::new(SessionConfig {
//! #     stream_name: "front-door".into(), camera: camera.clone(),
//! #     recipients: vec![viewer.public_key()],
//! #     tracks: vec![TrackCodecData { track_number: 1, codec_private: vec![1, 0x64, 0, 0x1f],
//! #                                   video: Some((1280, 720)), audio: None }],
//! #     frame_cipher: FrameCipher::ChaCha20Poly1305 }, &mut rng)?;
//! # let tags = sealer.begin_fragment(1_000, &mut rng)?;
//! # let meta = FrameMeta { track: 1, timecode: 1_000, keyframe: true };
//! # let mut frame = b"h264 access unit".to_vec();
//! # sealer.seal_frame(&meta, &mut frame)?;
//! # let end_tags = sealer.finish(&mut rng)?;
//! let mut stream = StreamOpener::new(StreamConfig::new(OpenerConfig {
//!     stream_name: "front-door".into(),
//!     identities: vec![viewer],
//!     trusted_cameras: vec![camera.public_key()],
//!     danger_accept_plaintext: false,
//! }));
//! // What the demuxer read, in order:
//! stream.push(Input::SegmentStart);
//! stream.push(Input::Tags(tags));
//! stream.push(Input::ClusterStart { timecode: 1_000 });
//! stream.push(Input::Frame { meta, data: frame });
//! stream.push(Input::ClusterEnd);
//! stream.push(Input::Tags(end_tags));
//! stream.push(Input::End);
//! let mut released = Vec::new();
//! while let Some(event) = stream.next_event() {
//!     match event {
//!         StreamEvent::Frame { data, .. } => released.push(data),
//!         StreamEvent::Failure(f) => panic!("{f}"),
//!         _ => {}
//!     }
//! }
//! assert_eq!(released, [b"h264 access unit".to_vec()]);
//! assert!(stream.summary().all_verified());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Drain [`StreamOpener::next_event`] after each [`StreamOpener::push`] (or at least
//! before the next frame must be shown). With `keep_going` off, the first
//! [`StreamEvent::Failure`] taken halts the opener: the events queued behind it are
//! dropped and later input is ignored, so nothing after a failure is ever released.

use std::collections::VecDeque;

use crate::chain::{ChainEvent, Disposition};
use crate::frame::FrameMeta;
use crate::header::{SessionId, TrackCodecData};
use crate::key::KeyId;
use crate::open::{FragmentOpener, OpenError, OpenerConfig, TagEvent};
use crate::report::{Failure, FailureKind, FragmentRef, Summary};
use crate::seal::{FrameBuffer, Tag};

/// KVS's fragment number tag in GetMedia output, which names fragments in reports.
pub const KVS_FRAGMENT_NUMBER_TAG: &str = "AWS_KINESISVIDEO_FRAGMENT_NUMBER";
/// KVS's producer timestamp tag in GetMedia output (epoch seconds), also in reports.
pub const KVS_PRODUCER_TIMESTAMP_TAG: &str = "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP";

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

/// What a [`StreamOpener`] needs.
pub struct StreamConfig {
    /// Stream, identities and trusted cameras.
    pub opener: OpenerConfig,
    /// Report a bad fragment and go on with the next, instead of halting at the first.
    pub keep_going: bool,
    /// Largest cluster buffered while waiting for its header.
    pub max_buffered_bytes: usize,
}

impl StreamConfig {
    /// Halts at the first failure; buffers up to [`DEFAULT_MAX_BUFFERED_BYTES`].
    pub fn new(opener: OpenerConfig) -> Self {
        Self {
            opener,
            keep_going: false,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
        }
    }
}

/// What the demuxer read, in stream order.
#[derive(Debug)]
pub enum Input<B> {
    /// A new GetMedia segment begins (its EBML header): the current cluster ends and the
    /// segment's KVS fragment number is forgotten.
    SegmentStart,
    /// One `Tags` element's string tags (envelope tags, KVS's own, anything else).
    Tags(Vec<Tag>),
    /// Any other element between clusters (`Info`, `Tracks`, …): ends a run of `Tags`.
    Element,
    /// A cluster begins at `timecode` (TimecodeScale units).
    ClusterStart {
        /// The cluster's timecode.
        timecode: u64,
    },
    /// A frame (a SimpleBlock's payload, `ciphertext ‖ tag`) of the current cluster.
    Frame {
        /// Track, absolute timecode and key-frame flag as the container has them.
        meta: FrameMeta,
        /// The payload; decrypted in place and returned in [`StreamEvent::Frame`].
        data: B,
    },
    /// The current cluster ended.
    ClusterEnd,
    /// The current segment ended.
    SegmentEnd,
    /// The reader's connection dropped; the source resumes and re-sends the interrupted
    /// cluster from its start. Pending tags are discarded; frames of the interrupted
    /// fragment already released are not released again.
    Restart,
    /// The input ended: the last fragment and the chain are judged.
    End,
}

/// What the opener found, in stream order.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamEvent<B> {
    /// A run of consecutive `Tags` elements, as handed to the envelope (the front end reads
    /// the service's own tags from it — continuation token, errors — at the same point).
    Tags(Vec<Tag>),
    /// A fragment whose frames will be released begins.
    FragmentBegins {
        /// Which fragment.
        fragment: FragmentRef,
        /// Its cluster timecode.
        timecode: u64,
        /// The camera that sealed it (`None`: a `danger_accept_plaintext` cluster).
        camera: Option<KeyId>,
        /// Its tracks' authenticated codec data (`None`: a plaintext cluster, whose tracks
        /// are as they came).
        tracks: Option<Vec<TrackCodecData>>,
    },
    /// A frame authenticated: `data` holds its plaintext only.
    Frame {
        /// Track, absolute timecode and key-frame flag (all authenticated).
        meta: FrameMeta,
        /// The plaintext.
        data: B,
    },
    /// A released fragment ended with every frame verified.
    FragmentVerified {
        /// Which fragment.
        fragment: FragmentRef,
    },
    /// A fragment interrupted by [`Input::Restart`] is being read again from its start.
    FragmentResumed {
        /// Which fragment.
        fragment: FragmentRef,
    },
    /// A completeness verdict of the fragment chain, every one in order: a session
    /// started or closed, a fragment continued it, an identical re-send (a producer
    /// reconnect) dropped, the input ended inside a session. Each alarm among them
    /// ([`ChainEvent::is_alarm`]) is followed by its [`StreamEvent::Failure`].
    Chain(ChainEvent),
    /// A fragment was refused, or the chain found something missing or out of place.
    Failure(Failure),
}

/// A fragment being opened.
#[derive(Clone, Debug)]
struct OpenState {
    fragment: FragmentRef,
    seq: Option<u64>,
    timecode: u64,
    /// Whether its frames are released (false: duplicate, replay, spliced).
    release: bool,
    /// Frames seen so far (the next frame's index).
    index: u32,
    /// Frames already handled before a reconnect re-sent the cluster.
    skip: u32,
    /// A frame failed: the rest of the fragment is skipped.
    failed: bool,
}

/// Where the current cluster stands.
enum Cluster<B> {
    None,
    Open(OpenState),
    Buffering {
        timecode: u64,
        frames: Vec<(FrameMeta, B)>,
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

/// The viewer's stream algorithm over a [`FragmentOpener`] (module docs).
pub struct StreamOpener<B> {
    opener: FragmentOpener,
    keep_going: bool,
    max_buffered: usize,
    tags: Vec<Tag>,
    segment: SegmentMeta,
    cluster: Cluster<B>,
    restart: Option<OpenState>,
    pending_header: Option<Failure>,
    recent: VecDeque<(u64, FragmentRef)>,
    /// The camera of each recently authenticated session, newest last.
    sessions: VecDeque<(SessionId, KeyId)>,
    failed_seqs: VecDeque<u64>,
    events: VecDeque<StreamEvent<B>>,
    summary: Summary,
    halted: bool,
    ended: bool,
}

impl<B: FrameBuffer> StreamOpener<B> {
    /// An opener for one stream.
    pub fn new(config: StreamConfig) -> Self {
        Self {
            opener: FragmentOpener::new(config.opener),
            keep_going: config.keep_going,
            max_buffered: config.max_buffered_bytes,
            tags: Vec::new(),
            segment: SegmentMeta::default(),
            cluster: Cluster::None,
            restart: None,
            pending_header: None,
            recent: VecDeque::new(),
            sessions: VecDeque::new(),
            failed_seqs: VecDeque::new(),
            events: VecDeque::new(),
            summary: Summary::default(),
            halted: false,
            ended: false,
        }
    }

    /// Takes the next piece of the stream. Ignored once halted or after [`Input::End`].
    pub fn push(&mut self, input: Input<B>) {
        if self.halted || self.ended {
            return;
        }
        if !matches!(input, Input::Tags(_) | Input::Restart) {
            self.flush_tags();
        }
        match input {
            Input::SegmentStart => {
                self.end_cluster();
                self.segment = SegmentMeta::default();
            }
            Input::Tags(tags) => {
                self.tags.extend(tags);
                if self.tags.len() > MAX_PENDING_TAGS {
                    self.flush_tags();
                }
            }
            Input::Element => {}
            Input::ClusterStart { timecode } => {
                self.end_cluster();
                self.start_cluster(timecode);
            }
            Input::Frame { meta, data } => self.on_frame(meta, data),
            Input::ClusterEnd => {
                if matches!(self.cluster, Cluster::Open(_) | Cluster::Refused) {
                    self.end_cluster();
                }
            }
            Input::SegmentEnd => self.end_cluster(),
            Input::Restart => {
                self.tags.clear();
                self.restart = match std::mem::replace(&mut self.cluster, Cluster::None) {
                    Cluster::Open(st) => Some(st),
                    _ => None,
                };
            }
            Input::End => self.finish(),
        }
    }

    /// The next event, in stream order; `None` when all input so far is accounted for.
    /// Taking an event adds it to the [`StreamOpener::summary`].
    pub fn next_event(&mut self) -> Option<StreamEvent<B>> {
        let event = self.events.pop_front()?;
        match &event {
            StreamEvent::Frame { data, .. } => {
                self.summary.frames_written += 1;
                self.summary.bytes_written += data.as_ref().len() as u64;
            }
            StreamEvent::FragmentVerified { .. } => self.summary.fragments_verified += 1,
            StreamEvent::FragmentResumed { .. } => self.summary.fragments_resumed += 1,
            StreamEvent::Chain(ChainEvent::Duplicate { .. }) => {
                self.summary.duplicates_dropped += 1;
            }
            StreamEvent::Chain(ChainEvent::Unterminated { .. }) => {
                self.summary.unterminated_sessions += 1;
            }
            StreamEvent::Failure(f) => {
                if let FailureKind::Missing { missing } = &f.kind {
                    self.summary.fragments_missing += missing.end.saturating_sub(missing.start);
                }
                self.summary.failures.push(f.clone());
                if !self.keep_going {
                    self.halted = true;
                    self.events.clear();
                }
            }
            StreamEvent::Tags(_) | StreamEvent::FragmentBegins { .. } | StreamEvent::Chain(_) => {}
        }
        Some(event)
    }

    /// What the events taken so far add up to.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    fn emit(&mut self, event: StreamEvent<B>) {
        self.events.push_back(event);
    }

    fn finish(&mut self) {
        self.end_cluster();
        self.ended = true;
        let events = self.opener.finish();
        // An end record still pending is judged now: name the segment it came in.
        let here = self.segment_ref(self.segment.timecode);
        for ev in events {
            self.on_chain(ev, Some(&here));
        }
        if let Some(p) = self.pending_header.take() {
            let reported = self
                .events
                .iter()
                .any(|e| matches!(e, StreamEvent::Failure(f) if f.kind == p.kind))
                || self.summary.failures.iter().any(|f| f.kind == p.kind);
            if !reported {
                self.record(p);
            }
        }
    }

    /// Hands the gathered `Tags` to the opener, then opens a buffered cluster whose header
    /// just arrived.
    fn flush_tags(&mut self) {
        if self.tags.is_empty() {
            return;
        }
        let tags = std::mem::take(&mut self.tags);
        self.read_names(&tags);
        let result = self.opener.on_tags(&tags);
        self.emit(StreamEvent::Tags(tags));
        match result {
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
                        self.on_chain(c, Some(&here));
                    }
                }
            }
            Err(e) => self.header_failed(&e),
        }
        if let Cluster::Buffering { timecode, .. } = self.cluster
            && self.opener.has_header_for(timecode)
        {
            // Trailing tags only follow a complete cluster: open and close it now.
            self.end_cluster();
        }
    }

    /// The KVS names of the segment's fragment, for reports.
    fn read_names(&mut self, tags: &[Tag]) {
        for (name, value) in tags {
            if name == KVS_FRAGMENT_NUMBER_TAG {
                self.segment.kvs_number = Some(value.clone());
            } else if name == KVS_PRODUCER_TIMESTAMP_TAG {
                self.segment.producer_time = Some(value.clone());
            }
        }
    }

    /// A header in the tags failed. The failure is held until the cluster it leaves without
    /// a header, so it is reported once and names that cluster's KVS fragment number and
    /// timecode (the tags of fragment N+1's header travel in fragment N's segment, so here
    /// only the previous fragment is known). Nothing is released meanwhile: the cluster has
    /// no header to open it. A second failing header, or the end of input, reports it too.
    fn header_failed(&mut self, e: &OpenError) {
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
            self.record(old);
        }
        self.pending_header = Some(failure);
    }

    fn segment_ref(&self, timecode: Option<u64>) -> FragmentRef {
        FragmentRef {
            kvs_number: self.segment.kvs_number.clone(),
            seq: None,
            timecode,
            producer_time: self.segment.producer_time.clone(),
        }
    }

    fn start_cluster(&mut self, timecode: u64) {
        self.segment.timecode = Some(timecode);
        if let Some(st) = self.restart.take() {
            if st.timecode == timecode && self.opener.restart_fragment(timecode) {
                self.emit(StreamEvent::FragmentResumed {
                    fragment: st.fragment.clone(),
                });
                self.cluster = Cluster::Open(OpenState {
                    skip: st.index,
                    index: 0,
                    ..st
                });
                return;
            }
            // The source resumed elsewhere: close the interrupted fragment as it stands.
            for ev in self.opener.end_fragment() {
                self.on_chain(ev, None);
            }
        }
        if self.opener.has_header_for(timecode) {
            self.begin(timecode);
        } else {
            self.cluster = Cluster::Buffering {
                timecode,
                frames: Vec::new(),
                bytes: 0,
            };
        }
    }

    /// Begins the fragment of the cluster at `timecode` with the opener.
    fn begin(&mut self, timecode: u64) {
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
                self.record(failure);
                return;
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
        for ev in start.events {
            if matches!(ev, ChainEvent::Spliced { .. }) {
                // Authentic camera data, but not this session's: skip it.
                release = false;
            }
            self.on_chain(ev, Some(&fragment));
        }
        self.cluster = Cluster::Open(OpenState {
            fragment: fragment.clone(),
            seq,
            timecode,
            release,
            index: 0,
            skip: 0,
            failed: false,
        });
        if release {
            let (camera, tracks) = match start.info {
                Some(info) => (Some(info.camera), Some(info.tracks)),
                None => (None, None),
            };
            self.emit(StreamEvent::FragmentBegins {
                fragment,
                timecode,
                camera,
                tracks,
            });
        }
    }

    fn on_frame(&mut self, meta: FrameMeta, data: B) {
        match &mut self.cluster {
            Cluster::Open(_) => self.open_frame(meta, data),
            Cluster::Buffering {
                timecode,
                frames,
                bytes,
            } => {
                *bytes = bytes.saturating_add(data.as_ref().len());
                if *bytes > self.max_buffered {
                    let timecode = *timecode;
                    let fragment = self.segment_ref(Some(timecode));
                    self.cluster = Cluster::Refused;
                    self.record(Failure {
                        fragment,
                        kind: FailureKind::TooLarge {
                            limit: self.max_buffered,
                        },
                    });
                    return;
                }
                frames.push((meta, data));
            }
            Cluster::None | Cluster::Refused => {}
        }
    }

    fn open_frame(&mut self, meta: FrameMeta, mut data: B) {
        let Cluster::Open(st) = &mut self.cluster else {
            return;
        };
        let index = st.index;
        st.index = st.index.saturating_add(1);
        match self.opener.open_frame_buf(&meta, &mut data) {
            Ok(true) => {
                if index >= st.skip && st.release && !st.failed {
                    self.emit(StreamEvent::Frame { meta, data });
                }
            }
            Ok(false) => {}
            Err(e) => {
                if index < st.skip || st.failed || !st.release {
                    return;
                }
                st.failed = true;
                let failure = Failure {
                    fragment: st.fragment.clone(),
                    kind: FailureKind::from_open_error(&e),
                };
                if let Some(s) = st.seq {
                    self.mark_failed(s);
                }
                self.record(failure);
            }
        }
    }

    /// Ends the current cluster: opens a buffered one first (its header never came: refused).
    fn end_cluster(&mut self) {
        match std::mem::replace(&mut self.cluster, Cluster::None) {
            Cluster::Open(st) => {
                if st.release && !st.failed {
                    self.emit(StreamEvent::FragmentVerified {
                        fragment: st.fragment,
                    });
                }
                for ev in self.opener.end_fragment() {
                    self.on_chain(ev, None);
                }
            }
            Cluster::Buffering {
                timecode, frames, ..
            } => {
                self.begin(timecode);
                for (meta, data) in frames {
                    self.on_frame(meta, data);
                }
                if matches!(self.cluster, Cluster::Open(_)) {
                    self.end_cluster();
                    return;
                }
                self.cluster = Cluster::None;
            }
            Cluster::None | Cluster::Refused => {}
        }
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

    /// Turns a chain verdict into an event. `current` is the fragment being begun, or the
    /// segment whose tags carried the end record judged.
    fn on_chain(&mut self, ev: ChainEvent, current: Option<&FragmentRef>) {
        self.emit(StreamEvent::Chain(ev.clone()));
        let here = || current.cloned().unwrap_or_default();
        let (fragment, kind) = match ev {
            ChainEvent::Gap { missing, .. } => (here(), FailureKind::Missing { missing }),
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
            _ => return,
        };
        self.record(Failure { fragment, kind });
    }

    fn record(&mut self, failure: Failure) {
        self.emit(StreamEvent::Failure(failure));
    }
}
