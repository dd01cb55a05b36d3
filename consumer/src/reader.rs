//! The reader: KVS MKV bytes in, in chunks of any size (GetMedia sends several segments
//! back to back), verified frames out — what every viewer front end starts from.
//!
//! The stream algorithm is the envelope's [`StreamOpener`]; the reader only maps what the
//! [`Demuxer`] reads onto it ([`stream_input`]), keeps the clear `Tracks` so a released
//! fragment's tracks come back with the codec data its verified header restores, and reads
//! the service's own tags (errors, continuation token, delay). The MKV writer
//! ([`crate::pipeline`]), the GStreamer source and the browser viewer take its
//! [`ReadEvent`]s; none re-implements the algorithm.

use bytes::BytesMut;
use kvs_e2ee_aws::getmedia::{
    TAG_CONTINUATION_TOKEN, TAG_ERROR_CODE, TAG_ERROR_ID, TAG_MILLIS_BEHIND_NOW,
};
use kvs_e2ee_envelope::{
    ChainEvent, Failure, FragmentRef, FrameMeta, Input, KeyId, OpenerConfig, StreamConfig,
    StreamEvent, StreamOpener, Summary, Tag,
};
use kvs_e2ee_mkv::{
    DEFAULT_TIMECODE_SCALE_NS, Demuxer, Event, MkvError, SimpleTag, TagValue, TrackEntry,
};

use crate::output::restore_tracks;

pub use kvs_e2ee_envelope::stream::DEFAULT_MAX_BUFFERED_BYTES;

/// What a reader needs.
pub struct ReaderConfig {
    /// Stream, identities and trusted cameras.
    pub opener: OpenerConfig,
    /// Report a bad fragment and continue, instead of stopping at the first.
    pub keep_going: bool,
    /// Largest cluster buffered while waiting for its header.
    pub max_buffered_bytes: usize,
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A fragment failed verification and `keep_going` is off.
    #[error("{0}")]
    Verification(Box<Failure>),
    /// The input is not valid Matroska (the error names the byte offset).
    #[error("malformed MKV input: {0}")]
    Input(#[from] MkvError),
    /// The stream has frames but no `Tracks` element before them.
    #[error("the input has a cluster before any Tracks element")]
    NoTracks,
    /// A segment's TimecodeScale is not KVS's 1 ms: the envelope authenticates timecodes as
    /// numbers of milliseconds, so another scale would move every frame in time.
    #[error(
        "re-timed stream: a segment's TimecodeScale is {found} ns, not the 1 ms (1000000 ns) \
         the envelope's timecodes are in; refusing it (the container was altered)"
    )]
    TimecodeScale {
        /// The scale found.
        found: u64,
    },
    /// The service ended the stream with an error (`AWS_KINESISVIDEO_ERROR_*` tags).
    #[error("the service reported error {code} (id {id}) in the stream")]
    Service {
        /// `AWS_KINESISVIDEO_ERROR_CODE`.
        code: String,
        /// `AWS_KINESISVIDEO_ERROR_ID`.
        id: String,
    },
}

/// What the reader found, in stream order.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadEvent {
    /// A fragment whose frames will be released begins.
    FragmentBegins {
        /// Which fragment.
        fragment: FragmentRef,
        /// Its cluster timecode (TimecodeScale units).
        timecode: u64,
        /// The camera that sealed it (`None`: a plaintext cluster, `danger_accept_plaintext`).
        camera: Option<KeyId>,
        /// Its tracks: the clear `Tracks` with the codec data of the verified header.
        tracks: Vec<TrackEntry>,
    },
    /// A frame that authenticated: `data` is its plaintext.
    Frame {
        /// Track, absolute timecode, key-frame flag (all authenticated).
        meta: FrameMeta,
        /// The plaintext.
        data: BytesMut,
    },
    /// A released fragment ended with every frame verified.
    FragmentVerified {
        /// Which fragment.
        fragment: FragmentRef,
    },
    /// A chain verdict (every one, alarms included; each alarm also comes as a failure).
    Chain(ChainEvent),
    /// A failure, with `keep_going` on (off, it ends the read as
    /// [`ReadError::Verification`]).
    Failure(Failure),
}

/// The Matroska layer feeding the envelope's stream opener.
pub struct Reader {
    demux: Demuxer,
    stream: StreamOpener<BytesMut>,
    keep_going: bool,
    clear_tracks: Option<Vec<TrackEntry>>,
    continuation_token: Option<String>,
    millis_behind_now: Option<u64>,
}

impl Reader {
    /// A reader for one stream.
    pub fn new(config: ReaderConfig) -> Self {
        Self {
            demux: Demuxer::new(),
            stream: StreamOpener::new(StreamConfig {
                opener: config.opener,
                keep_going: config.keep_going,
                max_buffered_bytes: config.max_buffered_bytes,
            }),
            keep_going: config.keep_going,
            clear_tracks: None,
            continuation_token: None,
            millis_behind_now: None,
        }
    }

    /// Reads `bytes` and hands each event to `on_event`, in order; the first error (the
    /// reader's or `on_event`'s) stops it.
    pub fn push<E: From<ReadError>>(
        &mut self,
        bytes: &[u8],
        on_event: &mut impl FnMut(ReadEvent) -> Result<(), E>,
    ) -> Result<(), E> {
        self.demux.push(bytes);
        self.drain(on_event)
    }

    /// The input ended: closes the last fragment and judges the chain.
    pub fn finish<E: From<ReadError>>(
        &mut self,
        on_event: &mut impl FnMut(ReadEvent) -> Result<(), E>,
    ) -> Result<(), E> {
        self.demux.finish().map_err(ReadError::from)?;
        self.drain(on_event)?;
        self.stream.push(Input::End);
        self.take(on_event)
    }

    /// The connection dropped; the source resumes from [`Reader::continuation_token`] and
    /// re-sends the interrupted fragment from its start. Bytes of the cut element are
    /// discarded; frames of the interrupted fragment already released are not released
    /// again.
    pub fn reconnected(&mut self) {
        self.demux = Demuxer::new();
        self.stream.push(Input::Restart);
    }

    /// The last `AWS_KINESISVIDEO_CONTINUATION_TOKEN` seen (where a resumed GetMedia starts).
    pub fn continuation_token(&self) -> Option<&str> {
        self.continuation_token.as_deref()
    }

    /// The last `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW` seen.
    pub fn millis_behind_now(&self) -> Option<u64> {
        self.millis_behind_now
    }

    /// What has been verified and released so far.
    pub fn summary(&self) -> &Summary {
        self.stream.summary()
    }

    fn drain<E: From<ReadError>>(
        &mut self,
        on_event: &mut impl FnMut(ReadEvent) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(ev) = self.demux.next_event().map_err(ReadError::from)? {
            let input = match ev {
                // Frames' timecodes are authenticated in milliseconds (FORMAT.md §7);
                // the scale around them is not, so it must be KVS's.
                Event::Info(info) if info.timecode_scale != DEFAULT_TIMECODE_SCALE_NS => {
                    return Err(ReadError::TimecodeScale {
                        found: info.timecode_scale,
                    }
                    .into());
                }
                Event::Tracks(t) => {
                    self.clear_tracks = Some(t.entries);
                    Input::Element
                }
                other => stream_input(other),
            };
            self.stream.push(input);
            self.take(on_event)?;
        }
        Ok(())
    }

    fn take<E: From<ReadError>>(
        &mut self,
        on_event: &mut impl FnMut(ReadEvent) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(ev) = self.stream.next_event() {
            let event = match ev {
                StreamEvent::Tags(tags) => {
                    self.read_service_tags(&tags)?;
                    continue;
                }
                StreamEvent::FragmentBegins {
                    fragment,
                    timecode,
                    camera,
                    tracks,
                } => {
                    let clear = self.clear_tracks.as_deref().ok_or(ReadError::NoTracks)?;
                    ReadEvent::FragmentBegins {
                        fragment,
                        timecode,
                        camera,
                        tracks: match &tracks {
                            Some(codec) => restore_tracks(clear, codec),
                            None => clear.to_vec(),
                        },
                    }
                }
                StreamEvent::Frame { meta, data } => ReadEvent::Frame { meta, data },
                StreamEvent::FragmentVerified { fragment } => {
                    ReadEvent::FragmentVerified { fragment }
                }
                StreamEvent::Chain(c) => ReadEvent::Chain(c),
                StreamEvent::Failure(failure) => {
                    if !self.keep_going {
                        return Err(ReadError::Verification(Box::new(failure)).into());
                    }
                    ReadEvent::Failure(failure)
                }
                _ => continue,
            };
            on_event(event)?;
        }
        Ok(())
    }

    fn read_service_tags(&mut self, tags: &[Tag]) -> Result<(), ReadError> {
        let get = |name: &str| tags.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        if let Some(code) = get(TAG_ERROR_CODE) {
            return Err(ReadError::Service {
                code,
                id: get(TAG_ERROR_ID).unwrap_or_default(),
            });
        }
        if let Some(t) = get(TAG_CONTINUATION_TOKEN) {
            self.continuation_token = Some(t);
        }
        if let Some(m) = get(TAG_MILLIS_BEHIND_NOW).and_then(|m| m.parse().ok()) {
            self.millis_behind_now = Some(m);
        }
        Ok(())
    }
}

/// What the envelope's [`StreamOpener`] takes for a demuxer event: the one mapping from
/// the Matroska layer to the stream algorithm.
pub fn stream_input(event: Event) -> Input<BytesMut> {
    match event {
        Event::EbmlHeader { .. } => Input::SegmentStart,
        Event::Tags(t) => Input::Tags(string_tags(t.tags)),
        Event::ClusterStart { timecode, .. } => Input::ClusterStart { timecode },
        Event::Frame(f) => Input::Frame {
            meta: FrameMeta {
                track: f.track,
                timecode: f.timecode,
                keyframe: f.keyframe,
            },
            data: f.data,
        },
        Event::ClusterEnd => Input::ClusterEnd,
        Event::SegmentEnd => Input::SegmentEnd,
        _ => Input::Element,
    }
}

/// A `Tags` element's string tags, as the envelope reads them.
pub fn string_tags(tags: Vec<SimpleTag>) -> Vec<Tag> {
    tags.into_iter()
        .filter_map(|st| match st.value {
            TagValue::String(v) => Some((st.name, v)),
            _ => None,
        })
        .collect()
}
