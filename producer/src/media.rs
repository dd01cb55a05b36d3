//! The media model every source (MKV via `kvs_e2ee_mkv`, H.264 Annex-B, GStreamer)
//! produces and the fragmenter consumes, so the engine is source-agnostic.

use bytes::BytesMut;

/// Matroska codec id of H.264 carried as AVCC length-prefixed samples with an
/// `avcC` CodecPrivate (Matroska codec specs, `V_MPEG4/ISO/AVC`).
pub const CODEC_ID_H264: &str = "V_MPEG4/ISO/AVC";
/// Matroska codec id of H.265 with an `hvcC` CodecPrivate.
pub const CODEC_ID_H265: &str = "V_MPEGH/ISO/HEVC";
/// Matroska codec id of AAC with an AudioSpecificConfig CodecPrivate.
pub const CODEC_ID_AAC: &str = "A_AAC";

/// One coded frame (an access unit for video) on an absolute timeline.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaFrame {
    /// Matroska track number the frame belongs to (1-based).
    pub track: u64,
    /// Absolute presentation time in milliseconds since the Unix epoch; KVS
    /// requires absolute fragment timecodes (`ProducerTimestamp` semantics).
    pub timecode_ms: i64,
    /// Whether a decoder can start at this frame (IDR for H.264, IRAP for H.265).
    pub keyframe: bool,
    /// Codec payload as Matroska stores it (AVCC length-prefixed NAL units for
    /// H.264); `BytesMut` so the engine can encrypt in place.
    pub data: BytesMut,
}

impl std::fmt::Debug for MediaFrame {
    // A frame can be megabytes; print its shape, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaFrame")
            .field("track", &self.track)
            .field("timecode_ms", &self.timecode_ms)
            .field("keyframe", &self.keyframe)
            .field("len", &self.data.len())
            .finish()
    }
}

/// Description of one track, enough to write the Matroska `TrackEntry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// Matroska track number (1-based).
    pub number: u64,
    /// Matroska codec id, e.g. [`CODEC_ID_H264`].
    pub codec_id: String,
    /// Codec configuration record (`avcC`, `hvcC`, AudioSpecificConfig).
    pub codec_private: Vec<u8>,
    /// Display size `(width, height)` in pixels for a video track.
    pub video: Option<(u32, u32)>,
    /// `(sampling rate in Hz, channels)` for an audio track.
    pub audio: Option<(u32, u8)>,
}

impl TrackInfo {
    /// Whether this is a video track (the track fragments are cut on).
    pub fn is_video(&self) -> bool {
        self.video.is_some()
    }
}

/// What any source yields to the engine: the track set (first, and again when
/// it changes — the engine then starts a new Matroska segment), then frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// The complete set of tracks from now on.
    Tracks(Vec<TrackInfo>),
    /// One frame of one of those tracks.
    Frame(MediaFrame),
}
