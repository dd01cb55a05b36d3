//! Typed level-1 elements (Info, Tracks, Tags): parsing from a buffered element and
//! writing in the layout of the KVS producer SDK, side by side so the two cannot drift.

use bytes::Bytes;

mod tags;
mod tracks;

pub use tags::{SimpleTag, TagValue, Tags, write_tag};
pub use tracks::{
    AudioSettings, CODEC_AAC, CODEC_H264, CODEC_H265, CODEC_PCM_INT_LE, TrackEntry, TrackType,
    Tracks, VideoSettings, write_tracks,
};

use crate::MkvError;
use crate::ebml::{self, Children};
use crate::ids::ElementId;

/// The Matroska default `TimecodeScale`: 1 ms per timecode unit, which KVS uses.
pub const DEFAULT_TIMECODE_SCALE_NS: u64 = 1_000_000;

/// Segment information (`Info`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// Nanoseconds per timecode unit (Matroska default 1 000 000 when absent).
    pub timecode_scale: u64,
    /// `MuxingApp`.
    pub muxing_app: Option<String>,
    /// `WritingApp`.
    pub writing_app: Option<String>,
    /// `Title`.
    pub title: Option<String>,
    /// `Duration` in timecode units.
    pub duration: Option<f64>,
    /// `SegmentUID` (16 bytes when present).
    pub segment_uid: Option<Bytes>,
    /// The whole element (header included), for verbatim pass-through.
    pub raw: Bytes,
}

impl SegmentInfo {
    /// Parses the payload of an `Info` element starting at absolute offset `base`.
    pub(crate) fn parse(payload: Bytes, base: u64, raw: Bytes) -> Result<Self, MkvError> {
        let mut info = Self {
            timecode_scale: DEFAULT_TIMECODE_SCALE_NS,
            muxing_app: None,
            writing_app: None,
            title: None,
            duration: None,
            segment_uid: None,
            raw,
        };
        for child in Children::new(ElementId::INFO, payload, base) {
            let c = child?;
            let at = c.payload_offset;
            match c.id {
                ElementId::TIMECODE_SCALE => {
                    info.timecode_scale = ebml::read_uint(&c.data, c.id, at)?;
                    if info.timecode_scale == 0 {
                        return Err(MkvError::InvalidValue {
                            id: c.id,
                            offset: at,
                            reason: "TimecodeScale is 0",
                        });
                    }
                }
                ElementId::MUXING_APP => {
                    info.muxing_app = Some(ebml::read_string(&c.data, c.id, at)?)
                }
                ElementId::WRITING_APP => {
                    info.writing_app = Some(ebml::read_string(&c.data, c.id, at)?)
                }
                ElementId::TITLE => info.title = Some(ebml::read_string(&c.data, c.id, at)?),
                ElementId::DURATION => info.duration = Some(ebml::read_float(&c.data, c.id, at)?),
                ElementId::SEGMENT_UID => info.segment_uid = Some(c.data),
                _ => {}
            }
        }
        Ok(info)
    }
}
