//! What the reader reports ([`Event`]) and how much it may buffer ([`Limits`]).

#[cfg(doc)]
use super::Demuxer;
use super::Frame;
use crate::elements::{SegmentInfo, Tags, Tracks};

/// Memory limits of a [`Demuxer`]. The reader never buffers more than one element of at most
/// these sizes (plus whatever a single [`Demuxer::push`] hands it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest frame (SimpleBlock or BlockGroup payload). Default 50 MiB, the KVS fragment
    /// size limit, so any frame KVS accepts fits.
    pub max_frame_size: u64,
    /// Largest buffered metadata element: EBML header, Info, Tracks, Tags. Default 1 MiB.
    pub max_metadata_size: u64,
    /// Deepest nesting of `SimpleTag`s inside a `Tag`. Default 16.
    pub max_tag_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_size: 50 << 20,
            max_metadata_size: 1 << 20,
            max_tag_depth: 16,
        }
    }
}

impl Limits {
    /// Sets [`Limits::max_frame_size`].
    pub fn with_max_frame_size(mut self, bytes: u64) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`Limits::max_metadata_size`].
    pub fn with_max_metadata_size(mut self, bytes: u64) -> Self {
        self.max_metadata_size = bytes;
        self
    }

    /// Sets [`Limits::max_tag_depth`].
    pub fn with_max_tag_depth(mut self, depth: usize) -> Self {
        self.max_tag_depth = depth;
        self
    }
}

/// What the reader found next in the stream.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// An EBML header (one per GetMedia fragment).
    EbmlHeader {
        /// `DocType`, e.g. `matroska`.
        doc_type: String,
    },
    /// A Segment started.
    SegmentStart {
        /// Absolute byte offset of the Segment element.
        offset: u64,
    },
    /// Segment information.
    Info(SegmentInfo),
    /// Track entries.
    Tracks(Tracks),
    /// A `Tags` element (fragment metadata, KVS's own fragment tags).
    Tags(Tags),
    /// A Cluster started (reported once its `Timecode` is read).
    ClusterStart {
        /// The Cluster timecode, absolute, in `TimecodeScale` units.
        timecode: u64,
        /// Absolute byte offset of the Cluster element.
        offset: u64,
    },
    /// A frame.
    Frame(Frame),
    /// The current Cluster ended.
    ClusterEnd,
    /// The current Segment ended.
    SegmentEnd,
}
