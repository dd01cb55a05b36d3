//! Matroska element IDs: a newtype with a named constant for every element kvs-e2ee reads or
//! writes, so no magic number appears in the reader or writer.
//!
//! Values are from the Matroska specification (RFC 9559, Matroska schema) and RFC 8794 (EBML).
//! IDs keep their length marker bits, as they appear on the wire (`0x1A45DFA3`, not `0x0A45DFA3`).

use std::fmt;

/// An EBML element ID as written on the wire (including the length marker bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementId(pub u32);

impl ElementId {
    // --- EBML header (RFC 8794 §11.2) ---
    /// `EBML`: the header that starts every EBML document (and every GetMedia fragment).
    pub const EBML: Self = Self(0x1A45_DFA3);
    /// `EBMLVersion`.
    pub const EBML_VERSION: Self = Self(0x4286);
    /// `EBMLReadVersion`.
    pub const EBML_READ_VERSION: Self = Self(0x42F7);
    /// `EBMLMaxIDLength`.
    pub const EBML_MAX_ID_LENGTH: Self = Self(0x42F2);
    /// `EBMLMaxSizeLength`.
    pub const EBML_MAX_SIZE_LENGTH: Self = Self(0x42F3);
    /// `DocType` (`matroska` or `webm`).
    pub const DOC_TYPE: Self = Self(0x4282);
    /// `DocTypeVersion`.
    pub const DOC_TYPE_VERSION: Self = Self(0x4287);
    /// `DocTypeReadVersion`.
    pub const DOC_TYPE_READ_VERSION: Self = Self(0x4285);

    // --- Global elements ---
    /// `Void`: padding, skipped.
    pub const VOID: Self = Self(0xEC);
    /// `CRC-32`: checksum of the parent, skipped (KVS does not write it).
    pub const CRC32: Self = Self(0xBF);

    // --- Segment and its level-1 children ---
    /// `Segment`: the root of a Matroska document.
    pub const SEGMENT: Self = Self(0x1853_8067);
    /// `SeekHead`: index of level-1 elements, skipped.
    pub const SEEK_HEAD: Self = Self(0x114D_9B74);
    /// `Info`: segment information.
    pub const INFO: Self = Self(0x1549_A966);
    /// `Tracks`.
    pub const TRACKS: Self = Self(0x1654_AE6B);
    /// `Cluster`: a group of blocks; KVS sends one per fragment.
    pub const CLUSTER: Self = Self(0x1F43_B675);
    /// `Cues`: seek index, skipped.
    pub const CUES: Self = Self(0x1C53_BB6B);
    /// `Chapters`, skipped.
    pub const CHAPTERS: Self = Self(0x1043_A770);
    /// `Attachments`, skipped.
    pub const ATTACHMENTS: Self = Self(0x1941_A469);
    /// `Tags`: KVS fragment metadata and the service's own fragment tags.
    pub const TAGS: Self = Self(0x1254_C367);

    // --- Info children ---
    /// `TimestampScale` (historically `TimecodeScale`): nanoseconds per timecode unit.
    pub const TIMECODE_SCALE: Self = Self(0x2AD7B1);
    /// `Duration` (float, in timecode units).
    pub const DURATION: Self = Self(0x4489);
    /// `MuxingApp`.
    pub const MUXING_APP: Self = Self(0x4D80);
    /// `WritingApp`.
    pub const WRITING_APP: Self = Self(0x5741);
    /// `SegmentUUID` (historically `SegmentUID`), 16 bytes.
    pub const SEGMENT_UID: Self = Self(0x73A4);
    /// `Title`.
    pub const TITLE: Self = Self(0x7BA9);
    /// `DateUTC` (signed nanoseconds since 2001-01-01).
    pub const DATE_UTC: Self = Self(0x4461);

    // --- Tracks children ---
    /// `TrackEntry`.
    pub const TRACK_ENTRY: Self = Self(0xAE);
    /// `TrackNumber`.
    pub const TRACK_NUMBER: Self = Self(0xD7);
    /// `TrackUID`.
    pub const TRACK_UID: Self = Self(0x73C5);
    /// `TrackType` (1 video, 2 audio, ...).
    pub const TRACK_TYPE: Self = Self(0x83);
    /// `CodecID`, e.g. `V_MPEG4/ISO/AVC`.
    pub const CODEC_ID: Self = Self(0x86);
    /// `CodecPrivate`: codec initialisation data (avcC, hvcC, AudioSpecificConfig).
    pub const CODEC_PRIVATE: Self = Self(0x63A2);
    /// `Name` of a track.
    pub const NAME: Self = Self(0x536E);
    /// `DefaultDuration` in nanoseconds.
    pub const DEFAULT_DURATION: Self = Self(0x23E383);
    /// `Language`.
    pub const LANGUAGE: Self = Self(0x22B59C);
    /// `CodecDelay` in nanoseconds.
    pub const CODEC_DELAY: Self = Self(0x56AA);
    /// `SeekPreRoll` in nanoseconds.
    pub const SEEK_PRE_ROLL: Self = Self(0x56BB);
    /// `Video` settings.
    pub const VIDEO: Self = Self(0xE0);
    /// `PixelWidth`.
    pub const PIXEL_WIDTH: Self = Self(0xB0);
    /// `PixelHeight`.
    pub const PIXEL_HEIGHT: Self = Self(0xBA);
    /// `Audio` settings.
    pub const AUDIO: Self = Self(0xE1);
    /// `SamplingFrequency` (float, Hz).
    pub const SAMPLING_FREQUENCY: Self = Self(0xB5);
    /// `Channels`.
    pub const CHANNELS: Self = Self(0x9F);
    /// `BitDepth`.
    pub const BIT_DEPTH: Self = Self(0x6264);

    // --- Cluster children ---
    /// `Timestamp` (historically `Timecode`) of a Cluster, absolute, in timecode units.
    pub const TIMECODE: Self = Self(0xE7);
    /// `Position` of a Cluster (PIC writes 0 for live), skipped.
    pub const POSITION: Self = Self(0xA7);
    /// `PrevSize` of a Cluster, skipped.
    pub const PREV_SIZE: Self = Self(0xAB);
    /// `SimpleBlock`: one frame with flags; what KVS writes.
    pub const SIMPLE_BLOCK: Self = Self(0xA3);
    /// `BlockGroup`: a `Block` with extra children.
    pub const BLOCK_GROUP: Self = Self(0xA0);
    /// `Block` inside a `BlockGroup`.
    pub const BLOCK: Self = Self(0xA1);
    /// `ReferenceBlock`: present means the block is not a key frame.
    pub const REFERENCE_BLOCK: Self = Self(0xFB);
    /// `BlockDuration` in timecode units.
    pub const BLOCK_DURATION: Self = Self(0x9B);

    // --- Tags children ---
    /// `Tag`.
    pub const TAG: Self = Self(0x7373);
    /// `Targets` of a `Tag`.
    pub const TARGETS: Self = Self(0x63C0);
    /// `SimpleTag`; may nest further `SimpleTag`s.
    pub const SIMPLE_TAG: Self = Self(0x67C8);
    /// `TagName`.
    pub const TAG_NAME: Self = Self(0x45A3);
    /// `TagString`.
    pub const TAG_STRING: Self = Self(0x4487);
    /// `TagBinary`.
    pub const TAG_BINARY: Self = Self(0x4485);
    /// `TagLanguage`.
    pub const TAG_LANGUAGE: Self = Self(0x447A);
    /// `TagDefault`.
    pub const TAG_DEFAULT: Self = Self(0x4484);

    /// The name of a known element, for error messages.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::EBML => "EBML",
            Self::EBML_VERSION => "EBMLVersion",
            Self::EBML_READ_VERSION => "EBMLReadVersion",
            Self::EBML_MAX_ID_LENGTH => "EBMLMaxIDLength",
            Self::EBML_MAX_SIZE_LENGTH => "EBMLMaxSizeLength",
            Self::DOC_TYPE => "DocType",
            Self::DOC_TYPE_VERSION => "DocTypeVersion",
            Self::DOC_TYPE_READ_VERSION => "DocTypeReadVersion",
            Self::VOID => "Void",
            Self::CRC32 => "CRC-32",
            Self::SEGMENT => "Segment",
            Self::SEEK_HEAD => "SeekHead",
            Self::INFO => "Info",
            Self::TRACKS => "Tracks",
            Self::CLUSTER => "Cluster",
            Self::CUES => "Cues",
            Self::CHAPTERS => "Chapters",
            Self::ATTACHMENTS => "Attachments",
            Self::TAGS => "Tags",
            Self::TIMECODE_SCALE => "TimecodeScale",
            Self::DURATION => "Duration",
            Self::MUXING_APP => "MuxingApp",
            Self::WRITING_APP => "WritingApp",
            Self::SEGMENT_UID => "SegmentUID",
            Self::TITLE => "Title",
            Self::DATE_UTC => "DateUTC",
            Self::TRACK_ENTRY => "TrackEntry",
            Self::TRACK_NUMBER => "TrackNumber",
            Self::TRACK_UID => "TrackUID",
            Self::TRACK_TYPE => "TrackType",
            Self::CODEC_ID => "CodecID",
            Self::CODEC_PRIVATE => "CodecPrivate",
            Self::NAME => "Name",
            Self::DEFAULT_DURATION => "DefaultDuration",
            Self::LANGUAGE => "Language",
            Self::CODEC_DELAY => "CodecDelay",
            Self::SEEK_PRE_ROLL => "SeekPreRoll",
            Self::VIDEO => "Video",
            Self::PIXEL_WIDTH => "PixelWidth",
            Self::PIXEL_HEIGHT => "PixelHeight",
            Self::AUDIO => "Audio",
            Self::SAMPLING_FREQUENCY => "SamplingFrequency",
            Self::CHANNELS => "Channels",
            Self::BIT_DEPTH => "BitDepth",
            Self::TIMECODE => "Timecode",
            Self::POSITION => "Position",
            Self::PREV_SIZE => "PrevSize",
            Self::SIMPLE_BLOCK => "SimpleBlock",
            Self::BLOCK_GROUP => "BlockGroup",
            Self::BLOCK => "Block",
            Self::REFERENCE_BLOCK => "ReferenceBlock",
            Self::BLOCK_DURATION => "BlockDuration",
            Self::TAG => "Tag",
            Self::TARGETS => "Targets",
            Self::SIMPLE_TAG => "SimpleTag",
            Self::TAG_NAME => "TagName",
            Self::TAG_STRING => "TagString",
            Self::TAG_BINARY => "TagBinary",
            Self::TAG_LANGUAGE => "TagLanguage",
            Self::TAG_DEFAULT => "TagDefault",
            _ => return None,
        })
    }

    /// Whether this ID is a child of `Segment` (level 1): its appearance ends an open
    /// unknown-size `Cluster`.
    pub fn is_level1(self) -> bool {
        matches!(
            self,
            Self::SEEK_HEAD
                | Self::INFO
                | Self::TRACKS
                | Self::CLUSTER
                | Self::CUES
                | Self::CHAPTERS
                | Self::ATTACHMENTS
                | Self::TAGS
        )
    }

    /// Whether this ID is a top-level (level 0) element: its appearance ends an open
    /// unknown-size `Segment` (GetMedia sends one EBML header + Segment per fragment).
    pub fn is_top_level(self) -> bool {
        matches!(self, Self::EBML | Self::SEGMENT)
    }

    /// Length of the encoded ID in bytes (1 to 4).
    pub fn encoded_len(self) -> usize {
        match self.0 {
            0..=0xFF => 1,
            0x100..=0xFFFF => 2,
            0x1_0000..=0xFF_FFFF => 3,
            _ => 4,
        }
    }
}

impl fmt::Debug for ElementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ElementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:X})", self.0),
            None => write!(f, "0x{:X}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_matches_marker_bits() {
        for id in [
            ElementId::EBML,
            ElementId::SEGMENT,
            ElementId::CLUSTER,
            ElementId::TAGS,
        ] {
            assert_eq!(id.encoded_len(), 4, "{id}");
            assert_eq!(id.0 >> 28, 1, "{id} must carry the 4-byte marker");
        }
        assert_eq!(ElementId::TIMECODE_SCALE.encoded_len(), 3);
        assert_eq!(ElementId::TAG_NAME.encoded_len(), 2);
        assert_eq!(ElementId::SIMPLE_BLOCK.encoded_len(), 1);
    }

    #[test]
    fn display_names_known_and_unknown_ids() {
        assert_eq!(ElementId::SIMPLE_BLOCK.to_string(), "SimpleBlock (0xA3)");
        assert_eq!(ElementId(0x4321).to_string(), "0x4321");
    }
}
