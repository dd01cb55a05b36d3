//! The Matroska (EBML) layer: a streaming reader and writer for the subset of Matroska that
//! KVS uses (PutMedia input, GetMedia and archive output).
//!
//! # Why our own
//! No published crate reads *and* writes a live KVS MKV stream incrementally with unknown
//! sizes and zero-copy frames: `matroska` and
//! `matroska-demuxer` need a seekable file and cannot write, `mkv-element` misreads the
//! 8-byte unknown-size marker GStreamer and KVS write, and `webm-iterable` (the only
//! incremental reader/writer) copies every frame and is kept by one maintainer. This module
//! is small, bounds every length read from input before allocating, hands out frame
//! payloads as [`bytes::BytesMut`] split from the input buffer so callers decrypt in place,
//! writes exactly the bytes the KVS producer SDK writes, and is fuzzed. Tests cross-check it
//! against `webm-iterable`, `ffprobe` and `mkvinfo` on real KVS recordings.
//!
//! # What KVS sends and how the reader handles it
//! - GetMedia sends one EBML header + Segment of unknown size per fragment; an unknown-size
//!   Segment ends at the next EBML header or Segment, an unknown-size Cluster at the next
//!   level-1 element (Tags after a Cluster, the next Cluster) — or at end of input.
//! - Tags sent by the producer before cluster N+1 come back inside fragment N's Segment,
//!   after its Cluster (`shared/mkv/tests/mkv_fixtures.rs` records the exact order).
//! - Cluster timecodes come back as the producer wrote them: equal to
//!   `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP` × 1000 when the producer wrote absolute
//!   timecodes, and that minus the producer's start time when it wrote relative ones (PIC's
//!   default), as the real recordings show (`cluster_timecodes_are_the_producers_own`).
//!
//! # Memory
//! The reader buffers at most one element: a frame (≤ [`Limits::max_frame_size`]) or a
//! metadata element (≤ [`Limits::max_metadata_size`]); Void, SeekHead, Cues, Chapters,
//! Attachments and unknown elements are skipped as their bytes arrive. Each byte is looked
//! at a bounded number of times, so time is linear in the input. Drain
//! [`Demuxer::next_event`] after each [`Demuxer::push`]: unread input stays buffered.
//!
//! # Layout
//! - [`ids`]: [`ElementId`] and its named constants.
//! - [`ebml`]: variable-length integers, element headers, typed values.
//! - [`elements`]: Info, Tracks and Tags, parsed and written side by side.
//! - [`demux`]: [`Demuxer`], the incremental push parser producing [`Event`]s.
//! - [`mux`]: [`Muxer`], the writer of the KVS producer SDK's layout.
//! - `fuzzing` (hidden): entry points shared by the cargo-fuzz targets in `fuzz/` and the
//!   proptests, so the stable test suite runs what the fuzzer runs.

pub mod demux;
pub mod ebml;
pub mod elements;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod mux;

pub use demux::{Demuxer, Event, Frame, Limits};
pub use elements::{
    AudioSettings, CODEC_AAC, CODEC_H264, CODEC_H265, CODEC_PCM_INT_LE, DEFAULT_TIMECODE_SCALE_NS,
    SegmentInfo, SimpleTag, TagValue, Tags, TrackEntry, TrackType, Tracks, VideoSettings,
};
pub use ids::ElementId;
pub use mux::{Muxer, MuxerConfig};

/// Errors of the Matroska layer. Reader errors carry the absolute byte offset in the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MkvError {
    /// An element ID is malformed (longer than 4 bytes, or a reserved value).
    #[error("invalid EBML element ID at byte offset {offset}")]
    InvalidId {
        /// Where the ID starts.
        offset: u64,
    },
    /// A size field is malformed (a vint longer than 8 bytes).
    #[error("invalid EBML size field (vint longer than 8 bytes) at byte offset {offset}")]
    InvalidSize {
        /// Where the size field starts.
        offset: u64,
    },
    /// An element declares more bytes than the configured limit allows.
    #[error("{id} at byte offset {offset} declares {size} bytes, more than the limit of {limit}")]
    ElementTooLarge {
        /// The element.
        id: ElementId,
        /// Its declared payload size.
        size: u64,
        /// The limit that applies to it.
        limit: u64,
        /// Where the element starts.
        offset: u64,
    },
    /// An element other than Segment or Cluster has the unknown-size marker.
    #[error("{id} at byte offset {offset} has unknown size, allowed only on Segment and Cluster")]
    UnknownSizeNotAllowed {
        /// The element.
        id: ElementId,
        /// Where the element starts.
        offset: u64,
    },
    /// An element appears where Matroska does not allow it.
    #[error("unexpected {id} at byte offset {offset} {context}")]
    UnexpectedElement {
        /// The element.
        id: ElementId,
        /// Where the element starts.
        offset: u64,
        /// Where it appeared (e.g. "at top level").
        context: &'static str,
    },
    /// An element ends beyond the end of its enclosing Segment or Cluster.
    #[error(
        "{id} at byte offset {offset} ends at {end}, beyond the end of its {parent} at {parent_end}"
    )]
    ElementOverrunsParent {
        /// The element.
        id: ElementId,
        /// Where the element starts.
        offset: u64,
        /// Where the element ends.
        end: u64,
        /// The enclosing element.
        parent: ElementId,
        /// Where the enclosing element ends.
        parent_end: u64,
    },
    /// A child of a buffered master element runs past the end of that element.
    #[error("child element at byte offset {offset} runs past the end of its parent {parent}")]
    ChildOverrunsParent {
        /// The parent element.
        parent: ElementId,
        /// Where the child starts.
        offset: u64,
    },
    /// An element's value is malformed.
    #[error("invalid {id} at byte offset {offset}: {reason}")]
    InvalidValue {
        /// The element.
        id: ElementId,
        /// Where its payload starts.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A mandatory element is missing.
    #[error("missing {what} in the element at byte offset {offset}")]
    MissingElement {
        /// What is missing.
        what: &'static str,
        /// The element that lacks it.
        offset: u64,
    },
    /// Elements are nested deeper than the configured limit.
    #[error("elements nested deeper than {limit} levels at byte offset {offset}")]
    TooDeep {
        /// The element that exceeds the limit.
        offset: u64,
        /// The limit.
        limit: usize,
    },
    /// A block uses lacing (several frames in one block), which KVS never writes.
    #[error("block at byte offset {offset} uses lacing, which is not supported")]
    LacingUnsupported {
        /// Where the block element starts.
        offset: u64,
    },
    /// A block's absolute timecode (cluster timecode + relative) is negative or overflows.
    #[error(
        "block at byte offset {offset}: cluster timecode {cluster} + relative {relative} is out of range"
    )]
    TimecodeOutOfRange {
        /// Where the block element starts.
        offset: u64,
        /// The cluster timecode.
        cluster: u64,
        /// The block's relative timecode.
        relative: i16,
    },
    /// The input ended inside an element.
    #[error("input ends at byte offset {offset} inside {what}")]
    Truncated {
        /// Where the input ends.
        offset: u64,
        /// What was being read.
        what: String,
    },
    /// The demuxer was called again after it reported an error.
    #[error("the demuxer already failed at byte offset {offset}; start a new one")]
    Failed {
        /// Where the first error happened.
        offset: u64,
    },
    /// A muxer call came in the wrong order.
    #[error("muxer: {call} called {state}")]
    MuxerState {
        /// The call.
        call: &'static str,
        /// What was wrong with the state.
        state: &'static str,
    },
    /// A track given to the muxer is not valid.
    #[error("muxer: track {number}: {reason}")]
    InvalidTrack {
        /// The track number.
        number: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A frame's timecode does not fit the SimpleBlock's signed 16-bit relative timecode.
    #[error(
        "muxer: frame timecode {timecode} is {relative} units from cluster timecode {cluster}, outside the \
         signed 16-bit range of a SimpleBlock; start a new cluster"
    )]
    RelativeTimecodeOutOfRange {
        /// The frame's absolute timecode.
        timecode: u64,
        /// The open cluster's timecode.
        cluster: u64,
        /// The difference.
        relative: i128,
    },
    /// A tag name or value breaks the limits KVS puts on fragment metadata.
    #[error("muxer: tag {name:?}: {reason}")]
    InvalidTag {
        /// The tag name (truncated to 64 characters).
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
}
