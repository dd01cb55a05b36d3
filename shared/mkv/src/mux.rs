//! The Matroska writer: produces the byte layout the KVS producer SDK (PIC `src/mkvgen/`)
//! sends to PutMedia, so the service sees what it sees from AWS's own SDKs.
//!
//! # Where our bytes match PIC and where they differ
//! Matched byte for byte (PIC `MkvStatics.c`, `MkvGenerator.c`, release 1.2.0):
//! - EBML header: the same 7 children and 1-byte size (`DocType` `matroska`, version 2).
//! - Segment: the 1-byte unknown-size marker `0xFF`.
//! - Info: 2-byte size; `SegmentUID` (16 bytes), 8-byte `TimecodeScale`, `Title`,
//!   `MuxingApp`, `WritingApp` in this order (`mkvgenEbmlEncodeSegmentInfo`).
//! - Tracks and each TrackEntry: 4-byte sizes; `TrackNumber`, 8-byte `TrackUID`,
//!   `TrackType`, `Name`, `CodecID`, `Video` (4-byte size, 2-byte pixel sizes) or `Audio`
//!   (4-byte size, 8-byte float rate, `Channels`, optional `BitDepth`), then `CodecPrivate`
//!   (`mkvgenEbmlEncodeTrackInfo`).
//! - Cluster: 1-byte unknown size, 8-byte `Timecode`, `Position` 0 (`gMkvClusterInfoBits`).
//! - SimpleBlock: 8-byte size, 1-byte track number, i16 relative timecode, flags
//!   (key `0x80`, invisible `0x08`, discardable `0x01`) (`mkvgenEbmlEncodeSimpleBlock`).
//! - Fragment metadata: one `Tags` › `Tag` › `SimpleTag` › `TagName` + `TagString` chain per
//!   entry, every size 8 bytes wide (`mkvgenGenerateTag`), with PIC's name/value limits.
//!
//! Differences:
//! - PIC numbers tracks 1..n by position; we write the caller's `TrackNumber` (KVS needs
//!   1..n too, so callers pass that). Track numbers above 126 take a longer vint in blocks.
//! - PIC fills `Title`/`MuxingApp`/`WritingApp` with "Kinesis Video SDK" (+ its version);
//!   ours come from [`MuxerConfig`].
//! - `DefaultDuration`, `Language`, `CodecDelay`, `SeekPreRoll` (never written by PIC) are
//!   written when set, between `CodecID` and `Video`/`Audio`.
//! - Pixel sizes above 65535 (impossible in PIC's 2-byte slots) use a longer integer.
//! - PIC rewrites Annex-B NALs to AVCC and extracts CodecPrivate from key frames; we write
//!   payloads as given (the producer's source hands us AVCC, or ciphertext).

use bytes::{BufMut, BytesMut};

use super::MkvError;
use super::ebml;
use super::elements::{self, TrackEntry};
use super::ids::ElementId;

/// PIC `MKV_MAX_TAG_NAME_LEN`.
pub const MAX_TAG_NAME_LEN: usize = 128;
/// PIC `MKV_MAX_TAG_VALUE_LEN`.
pub const MAX_TAG_VALUE_LEN: usize = 256;
/// SimpleBlock flag: key frame.
const FLAG_KEY: u8 = 0x80;

/// Settings of a [`Muxer`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MuxerConfig {
    /// Nanoseconds per timecode unit; KVS uses 1 000 000 (1 ms).
    pub timecode_scale_ns: u64,
    /// `MuxingApp`.
    pub muxing_app: String,
    /// `WritingApp`.
    pub writing_app: String,
    /// `Title`.
    pub title: String,
    /// `SegmentUID`; PIC's default is sixteen `0x55` bytes.
    pub segment_uid: [u8; 16],
}

impl Default for MuxerConfig {
    fn default() -> Self {
        let app = concat!("kvs-e2ee ", env!("CARGO_PKG_VERSION"));
        Self {
            timecode_scale_ns: elements::DEFAULT_TIMECODE_SCALE_NS,
            muxing_app: app.to_owned(),
            writing_app: app.to_owned(),
            title: "kvs-e2ee".to_owned(),
            segment_uid: [0x55; 16],
        }
    }
}

impl MuxerConfig {
    /// Sets the timecode scale.
    pub fn with_timecode_scale_ns(mut self, ns: u64) -> Self {
        self.timecode_scale_ns = ns;
        self
    }

    /// Sets `MuxingApp` and `WritingApp`.
    pub fn with_app(mut self, app: impl Into<String>) -> Self {
        self.muxing_app = app.into();
        self.writing_app = self.muxing_app.clone();
        self
    }

    /// Sets `Title`.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets `SegmentUID`.
    pub fn with_segment_uid(mut self, uid: [u8; 16]) -> Self {
        self.segment_uid = uid;
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing written since creation or [`Muxer::reset`].
    Start,
    /// Header (and possibly tags) written; no open cluster.
    Segment,
    /// A cluster with this timecode is open.
    Cluster(u64),
}

/// Writes a KVS-style MKV stream into caller-provided buffers.
#[derive(Debug)]
pub struct Muxer {
    config: MuxerConfig,
    state: State,
    tracks: Vec<u64>,
}

impl Muxer {
    /// A muxer with the given settings.
    pub fn new(config: MuxerConfig) -> Self {
        Self {
            config,
            state: State::Start,
            tracks: Vec::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &MuxerConfig {
        &self.config
    }

    /// The timecode of the open cluster, if any.
    pub fn cluster_timecode(&self) -> Option<u64> {
        match self.state {
            State::Cluster(tc) => Some(tc),
            _ => None,
        }
    }

    /// Forgets the stream so the next call must be [`Muxer::write_header`] (a new
    /// connection, or a new segment after a stream reset).
    pub fn reset(&mut self) {
        self.state = State::Start;
        self.tracks.clear();
    }

    /// Writes the EBML header, a Segment of unknown size, Info and Tracks.
    pub fn write_header(
        &mut self,
        out: &mut BytesMut,
        tracks: &[TrackEntry],
    ) -> Result<(), MkvError> {
        validate_tracks(tracks)?;
        if self.config.timecode_scale_ns == 0 {
            return Err(MkvError::MuxerState {
                call: "write_header",
                state: "with a TimecodeScale of 0",
            });
        }
        write_ebml_header(out);
        ebml::write_unknown_size_header(out, ElementId::SEGMENT, 1);
        self.write_info(out);
        elements::write_tracks(out, tracks);
        self.tracks = tracks.iter().map(|t| t.number).collect();
        self.state = State::Segment;
        Ok(())
    }

    fn write_info(&self, out: &mut BytesMut) {
        let mut body = BytesMut::new();
        ebml::write_bytes(&mut body, ElementId::SEGMENT_UID, &self.config.segment_uid);
        ebml::write_uint_width(
            &mut body,
            ElementId::TIMECODE_SCALE,
            self.config.timecode_scale_ns,
            8,
        );
        ebml::write_bytes(&mut body, ElementId::TITLE, self.config.title.as_bytes());
        ebml::write_bytes(
            &mut body,
            ElementId::MUXING_APP,
            self.config.muxing_app.as_bytes(),
        );
        ebml::write_bytes(
            &mut body,
            ElementId::WRITING_APP,
            self.config.writing_app.as_bytes(),
        );
        ebml::write_id(out, ElementId::INFO);
        // PIC reserves 2 bytes; longer application names need a longer size field.
        let width = ebml::size_len(body.len() as u64).max(2);
        ebml::write_size_width(out, body.len() as u64, width);
        out.put_slice(&body);
    }

    /// Writes fragment metadata: one top-level `Tags` element per `(name, value)` pair, as
    /// PIC's `putKinesisVideoFragmentMetadata` does. Closes the open cluster (a level-1
    /// element ends an unknown-size Cluster), so the next frame needs
    /// [`Muxer::start_cluster`]. KVS limits: name 1..=128 bytes, value ≤ 256 bytes.
    pub fn write_tags<N: AsRef<str>, V: AsRef<str>>(
        &mut self,
        out: &mut BytesMut,
        tags: &[(N, V)],
    ) -> Result<(), MkvError> {
        if self.state == State::Start {
            return Err(MkvError::MuxerState {
                call: "write_tags",
                state: "before write_header",
            });
        }
        for (name, value) in tags {
            validate_tag(name.as_ref(), value.as_ref())?;
        }
        for (name, value) in tags {
            elements::write_tag(out, name.as_ref(), value.as_ref());
        }
        self.state = State::Segment;
        Ok(())
    }

    /// Starts a Cluster of unknown size at absolute `timecode` (closing any open one).
    pub fn start_cluster(&mut self, out: &mut BytesMut, timecode: u64) -> Result<(), MkvError> {
        if self.state == State::Start {
            return Err(MkvError::MuxerState {
                call: "start_cluster",
                state: "before write_header",
            });
        }
        ebml::write_unknown_size_header(out, ElementId::CLUSTER, 1);
        ebml::write_uint_width(out, ElementId::TIMECODE, timecode, 8);
        // PIC writes Position 0 ("0 for live").
        ebml::write_uint(out, ElementId::POSITION, 0);
        self.state = State::Cluster(timecode);
        Ok(())
    }

    /// Writes one frame as a SimpleBlock in the open cluster.
    pub fn write_frame(
        &mut self,
        out: &mut BytesMut,
        track: u64,
        timecode: u64,
        keyframe: bool,
        payload: &[u8],
    ) -> Result<(), MkvError> {
        self.write_simple_block_header(out, track, timecode, keyframe, payload.len())?;
        out.put_slice(payload);
        Ok(())
    }

    /// Writes only the SimpleBlock header for a payload of `payload_len` bytes; the caller
    /// appends exactly that many bytes next (e.g. a payload encrypted in place in `out`).
    pub fn write_simple_block_header(
        &mut self,
        out: &mut BytesMut,
        track: u64,
        timecode: u64,
        keyframe: bool,
        payload_len: usize,
    ) -> Result<(), MkvError> {
        let State::Cluster(cluster) = self.state else {
            return Err(MkvError::MuxerState {
                call: "write_frame",
                state: "without an open cluster (call start_cluster)",
            });
        };
        if !self.tracks.contains(&track) {
            return Err(MkvError::InvalidTrack {
                number: track,
                reason: "not in the Tracks written by write_header",
            });
        }
        let relative = i128::from(timecode) - i128::from(cluster);
        let rel16 = i16::try_from(relative).map_err(|_| MkvError::RelativeTimecodeOutOfRange {
            timecode,
            cluster,
            relative,
        })?;
        let track_len = ebml::size_len(track);
        let size = (track_len + 3) as u64 + payload_len as u64;
        if size > ebml::max_size_for_len(8) {
            return Err(MkvError::InvalidTrack {
                number: track,
                reason: "frame too large for an EBML size",
            });
        }
        ebml::write_id(out, ElementId::SIMPLE_BLOCK);
        ebml::write_size_width(out, size, 8);
        ebml::write_size_width(out, track, track_len);
        out.put_i16(rel16);
        out.put_u8(if keyframe { FLAG_KEY } else { 0 });
        Ok(())
    }
}

/// PIC `gMkvHeaderBits`: EBML header with DocType `matroska`, DocTypeVersion 2 — the
/// header every KVS segment starts with (kvs-local writes it for GetMedia too).
pub fn write_ebml_header(out: &mut BytesMut) {
    let mut body = BytesMut::new();
    ebml::write_uint(&mut body, ElementId::EBML_VERSION, 1);
    ebml::write_uint(&mut body, ElementId::EBML_READ_VERSION, 1);
    ebml::write_uint(&mut body, ElementId::EBML_MAX_ID_LENGTH, 4);
    ebml::write_uint(&mut body, ElementId::EBML_MAX_SIZE_LENGTH, 8);
    ebml::write_bytes(&mut body, ElementId::DOC_TYPE, b"matroska");
    ebml::write_uint(&mut body, ElementId::DOC_TYPE_VERSION, 2);
    ebml::write_uint(&mut body, ElementId::DOC_TYPE_READ_VERSION, 2);
    ebml::write_header(out, ElementId::EBML, body.len() as u64);
    out.put_slice(&body);
}

fn validate_tracks(tracks: &[TrackEntry]) -> Result<(), MkvError> {
    if tracks.is_empty() {
        return Err(MkvError::MuxerState {
            call: "write_header",
            state: "with no tracks",
        });
    }
    for (i, t) in tracks.iter().enumerate() {
        let bad = |reason| {
            Err(MkvError::InvalidTrack {
                number: t.number,
                reason,
            })
        };
        if t.number == 0 || t.number > ebml::max_size_for_len(8) {
            return bad("TrackNumber must be between 1 and 2^56-2");
        }
        if t.uid == 0 {
            return bad("TrackUID must be non-zero");
        }
        if t.codec_id.is_empty() {
            return bad("CodecID is empty");
        }
        if tracks[..i].iter().any(|o| o.number == t.number) {
            return bad("TrackNumber used twice");
        }
    }
    Ok(())
}

fn validate_tag(name: &str, value: &str) -> Result<(), MkvError> {
    let bad = |reason| {
        Err(MkvError::InvalidTag {
            name: name.chars().take(64).collect(),
            reason,
        })
    };
    if name.is_empty() || name.len() > MAX_TAG_NAME_LEN {
        return bad("name must be 1 to 128 bytes (KVS limit)");
    }
    if value.len() > MAX_TAG_VALUE_LEN {
        return bad("value longer than 256 bytes (KVS limit)");
    }
    // PIC copies C strings: an interior NUL would silently truncate there.
    if name.contains('\0') || value.contains('\0') {
        return bad("contains a NUL byte");
    }
    Ok(())
}
