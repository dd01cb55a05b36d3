//! H.264/H.265 Annex-B elementary stream reader (`--source cam.h264 --fps 30`):
//! splits NAL units at start codes, groups them into access units (H.264
//! §7.4.1.2.3, H.265 §7.4.2.4.4), and yields Matroska-ready length-prefixed
//! frames plus the track's `avcC`/`hvcC` configuration record.
//!
//! The reader is incremental: [`AnnexBParser::push`] bytes as they arrive
//! (file or stdin, any chunking), then drain [`AnnexBParser::next_event`];
//! `Ok(None)` means "need more bytes". [`AnnexBReader`] does that loop over a
//! tokio `AsyncRead`.
//!
//! Policies, chosen for a camera feeding KVS:
//! - Annex-B carries no timestamps, so frame `n` gets
//!   `start_time_ms + n / fps` (decode order; fine for streams without
//!   B-frames, which is what cameras emit).
//! - Access units before the first key frame (H.264 IDR, H.265 IRAP) cannot
//!   be decoded by a viewer; they are
//!   skipped and counted ([`AnnexBParser::skipped_before_keyframe`]).
//! - Frames keep their in-band SPS/PPS, so a viewer joining at any key frame
//!   (or a decoder after a resolution change) has them.
//! - A new [`AnnexBEvent::Track`] is emitted before the first key frame and
//!   again whenever the parameter sets change (the engine must then start a
//!   new Matroska segment, as KVS requires a fixed CodecPrivate per segment).

mod avcc;
mod bits;
mod hevc;
mod sps;

use avcc::write_avcc_sample;
pub use avcc::{NAL_LENGTH_SIZE, avc_decoder_configuration_record};
pub use hevc::{HevcSps, hevc_decoder_configuration_record};
pub use sps::Sps;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::media::{CODEC_ID_H264, CODEC_ID_H265, MediaFrame, SourceEvent, TrackInfo};

/// Largest NAL unit (and access unit) accepted: KVS's 50 MB fragment limit
/// makes anything bigger unsendable, and it bounds the reader's memory.
pub const MAX_ACCESS_UNIT_BYTES: usize = 50 * 1000 * 1000;

/// How many bytes [`AnnexBReader`] asks its reader for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Errors reading an Annex-B stream; offsets are bytes from the stream start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnnexBError {
    /// The underlying reader failed.
    #[error("reading the Annex-B source: {0}")]
    Io(#[from] std::io::Error),
    /// Non-zero bytes before the first start code: not an Annex-B stream.
    #[error(
        "not an H.264 Annex-B stream: byte {offset} is not zero and no 00 00 01 start code precedes it"
    )]
    NotAnnexB {
        /// Offset of the first offending byte.
        offset: u64,
    },
    /// A frame arrived before any SPS and PPS, so no `avcC` can be built.
    #[error(
        "no SPS/PPS before the first frame at byte {offset}: the stream must carry its parameter sets \
         in-band before the first IDR (e.g. x264 `repeat-headers`, or ffmpeg `-bsf:v h264_mp4toannexb`)"
    )]
    NoParameterSets {
        /// Offset of the access unit that has no parameter sets.
        offset: u64,
    },
    /// A NAL unit or access unit exceeds [`MAX_ACCESS_UNIT_BYTES`].
    #[error("access unit at byte {offset} exceeds {limit} bytes (KVS's fragment size limit)")]
    TooLarge {
        /// Offset of the NAL or access unit.
        offset: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// A NAL unit header has `forbidden_zero_bit` set (H.264 §7.4.1).
    #[error("NAL unit at byte {offset} has forbidden_zero_bit set: corrupt stream")]
    ForbiddenBit {
        /// Offset of the NAL unit.
        offset: u64,
    },
    /// A syntax structure could not be parsed (no position known yet).
    #[error("malformed {what}: {reason}")]
    Syntax {
        /// Which structure (SPS, PPS, slice header, avcC).
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A NAL unit could not be parsed.
    #[error("malformed {what} in NAL unit at byte {offset}: {reason}")]
    Malformed {
        /// Offset of the NAL unit.
        offset: u64,
        /// Which structure (SPS, PPS, slice header).
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
}

impl AnnexBError {
    fn at(self, offset: u64) -> Self {
        match self {
            Self::Syntax { what, reason } => Self::Malformed {
                offset,
                what,
                reason,
            },
            other => other,
        }
    }
}

/// A frame rate as an exact fraction, parsed from `30`, `29.97` or `30000/1001`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    num: u64,
    den: u64,
}

impl FrameRate {
    /// `num / den` frames per second; `None` if either is zero or the rate is
    /// outside 1/1000..=1000 fps.
    pub fn new(num: u64, den: u64) -> Option<Self> {
        // Bounds keep `n * 1000 * den` far from overflow in `timecode_ms` and
        // reject rates no camera produces.
        if num == 0 || den == 0 || num > 1_000_000 || den > 1_000_000 {
            return None;
        }
        if num > den * 1000 || num * 1000 < den {
            return None;
        }
        Some(Self { num, den })
    }

    /// Absolute time in ms of frame `n` counted from `start_ms`, rounded to the
    /// nearest millisecond (no drift: computed from `n`, not accumulated).
    pub fn timecode_ms(&self, start_ms: i64, n: u64) -> i64 {
        let offset = (i128::from(n) * 1000 * i128::from(self.den) + i128::from(self.num) / 2)
            / i128::from(self.num);
        start_ms.saturating_add(i64::try_from(offset).unwrap_or(i64::MAX))
    }

    /// Frames per second as a float, for display.
    pub fn as_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl fmt::Display for FrameRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// Error parsing a [`FrameRate`].
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "invalid frame rate {0:?}: expected e.g. 30, 29.97 or 30000/1001 (between 0.001 and 1000 fps)"
)]
pub struct ParseFrameRateError(String);

impl FromStr for FrameRate {
    type Err = ParseFrameRateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseFrameRateError(s.to_owned());
        let (num, den) = if let Some((n, d)) = s.split_once('/') {
            (
                n.trim().parse().map_err(|_| err())?,
                d.trim().parse().map_err(|_| err())?,
            )
        } else if let Some((int, frac)) = s.split_once('.') {
            if frac.is_empty() || frac.len() > 4 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            let den = 10u64.pow(frac.len() as u32);
            let int: u64 = if int.is_empty() {
                0
            } else {
                int.parse().map_err(|_| err())?
            };
            let frac: u64 = frac.parse().map_err(|_| err())?;
            (
                int.checked_mul(den)
                    .and_then(|v| v.checked_add(frac))
                    .ok_or_else(err)?,
                den,
            )
        } else {
            (s.trim().parse().map_err(|_| err())?, 1)
        };
        Self::new(num, den).ok_or_else(err)
    }
}

/// Which video coding standard the elementary stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// H.264 / AVC.
    #[default]
    H264,
    /// H.265 / HEVC.
    H265,
}

/// Settings of an [`AnnexBParser`].
#[derive(Debug, Clone, Copy)]
pub struct AnnexBConfig {
    /// The coding standard of the stream.
    pub codec: Codec,
    /// Matroska track number given to the video track.
    pub track_number: u64,
    /// Frame rate the timestamps are derived from (`--fps`).
    pub frame_rate: FrameRate,
    /// Absolute wall-clock time of frame 0 in ms since the Unix epoch.
    pub start_time_ms: i64,
}

/// What the parser yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnexBEvent {
    /// The video track (before the first frame, and again when SPS/PPS change).
    Track(TrackInfo),
    /// One access unit as an AVCC sample.
    Frame(MediaFrame),
}

impl From<AnnexBEvent> for SourceEvent {
    fn from(event: AnnexBEvent) -> Self {
        match event {
            AnnexBEvent::Track(t) => Self::Tracks(vec![t]),
            AnnexBEvent::Frame(f) => Self::Frame(f),
        }
    }
}

/// Parameter-set kinds stored for the configuration record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamSet {
    Vps,
    Sps,
    Pps,
}

/// What the grouping logic needs to know about one NAL unit.
struct NalClass {
    is_vcl: bool,
    /// Begins a new access unit if it follows a VCL NAL unit of the current one.
    starts_au_after_vcl: bool,
    /// A VCL NAL unit that begins a new picture.
    first_in_picture: bool,
    keyframe: bool,
    param: Option<ParamSet>,
}

/// NAL unit types (H.264 Table 7-1) that drive access-unit grouping.
mod nal_type {
    pub const SLICE: u8 = 1;
    pub const PARTITION_A: u8 = 2;
    pub const IDR: u8 = 5;
    pub const SEI: u8 = 6;
    pub const SPS: u8 = 7;
    pub const PPS: u8 = 8;
    pub const AUD: u8 = 9;
}

/// The access unit being assembled.
#[derive(Default)]
struct PendingAu {
    nals: Vec<Bytes>,
    bytes: usize,
    offset: u64,
    has_vcl: bool,
    keyframe: bool,
}

/// Incremental Annex-B → AVCC frame parser (sans I/O).
pub struct AnnexBParser {
    config: AnnexBConfig,
    buf: BytesMut,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Whether `buf` starts at a NAL unit payload (a start code was seen).
    started: bool,
    /// Where to resume the start-code search in `buf`.
    scan: usize,
    eof: bool,
    au: PendingAu,
    vps: BTreeMap<u32, Bytes>,
    sps: BTreeMap<u32, Bytes>,
    pps: BTreeMap<u32, Bytes>,
    track: Option<TrackInfo>,
    frames: u64,
    skipped: u64,
    ready: VecDeque<AnnexBEvent>,
}

impl AnnexBParser {
    /// A parser with no input yet.
    pub fn new(config: AnnexBConfig) -> Self {
        Self {
            config,
            buf: BytesMut::new(),
            base: 0,
            started: false,
            scan: 0,
            eof: false,
            au: PendingAu::default(),
            vps: BTreeMap::new(),
            sps: BTreeMap::new(),
            pps: BTreeMap::new(),
            track: None,
            frames: 0,
            skipped: 0,
            ready: VecDeque::new(),
        }
    }

    /// Appends input bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Marks the end of input: the last NAL and access unit are then complete.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Access units skipped because they came before the first IDR.
    pub fn skipped_before_keyframe(&self) -> u64 {
        self.skipped
    }

    /// Frames emitted so far.
    pub fn frames_emitted(&self) -> u64 {
        self.frames
    }

    /// The current video track, once the first key frame has been seen.
    pub fn track(&self) -> Option<&TrackInfo> {
        self.track.as_ref()
    }

    /// The next event; `Ok(None)` = need more input (or, after
    /// [`finish`](Self::finish), the end of the stream).
    pub fn next_event(&mut self) -> Result<Option<AnnexBEvent>, AnnexBError> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Ok(Some(ev));
            }
            match self.next_nal()? {
                Some((nal, offset)) => self.on_nal(nal, offset)?,
                None if self.eof && !self.au.nals.is_empty() => self.flush_au()?,
                None => return Ok(None),
            }
        }
    }

    /// Finds `00 00 01` in `buf` at or after `from`.
    fn find_start_code(&self, from: usize) -> Option<usize> {
        let b = &self.buf[..];
        let mut i = from;
        while i + 2 < b.len() {
            if b[i + 2] > 1 {
                i += 3;
            } else if b[i + 2] == 1 && b[i + 1] == 0 && b[i] == 0 {
                return Some(i);
            } else {
                i += 1;
            }
        }
        None
    }

    /// The next complete NAL unit (without start code or trailing zeros) and
    /// its stream offset.
    fn next_nal(&mut self) -> Result<Option<(Bytes, u64)>, AnnexBError> {
        loop {
            let found = self.find_start_code(self.scan);
            if !self.started {
                let end = found.unwrap_or(self.buf.len());
                if let Some(pos) = self.buf[..end].iter().position(|&b| b != 0) {
                    return Err(AnnexBError::NotAnnexB {
                        offset: self.base + pos as u64,
                    });
                }
                let Some(sc) = found else {
                    // Keep the last two bytes: they may begin a start code.
                    let keep = self.buf.len().min(2);
                    let drop = self.buf.len() - keep;
                    let _ = self.buf.split_to(drop);
                    self.base += drop as u64;
                    self.scan = 0;
                    return Ok(None);
                };
                let _ = self.buf.split_to(sc + 3);
                self.base += (sc + 3) as u64;
                self.started = true;
                self.scan = 0;
                continue;
            }
            let end = match found {
                Some(sc) => sc,
                None if self.eof => self.buf.len(),
                None => {
                    if self.buf.len() > MAX_ACCESS_UNIT_BYTES {
                        return Err(AnnexBError::TooLarge {
                            offset: self.base,
                            limit: MAX_ACCESS_UNIT_BYTES,
                        });
                    }
                    self.scan = self.buf.len().saturating_sub(2);
                    return Ok(None);
                }
            };
            if end == 0 && found.is_none() {
                return Ok(None);
            }
            let offset = self.base;
            let consumed = if found.is_some() { end + 3 } else { end };
            let mut nal = self.buf.split_to(consumed);
            nal.truncate(end);
            // H.264 §7.4.1: a NAL unit's last byte is never 0x00; trailing zeros
            // belong to the next start code (`zero_byte`, `trailing_zero_8bits`).
            while nal.last() == Some(&0) {
                nal.truncate(nal.len() - 1);
            }
            self.base += consumed as u64;
            self.scan = 0;
            if nal.len() > MAX_ACCESS_UNIT_BYTES {
                return Err(AnnexBError::TooLarge {
                    offset,
                    limit: MAX_ACCESS_UNIT_BYTES,
                });
            }
            if !nal.is_empty() {
                return Ok(Some((nal.freeze(), offset)));
            }
        }
    }

    /// Classifies an H.264 NAL unit (§7.4.1.2.3).
    fn classify_h264(nal: &[u8]) -> Result<NalClass, AnnexBError> {
        let kind = nal[0] & 0x1F;
        let is_vcl = matches!(
            kind,
            nal_type::SLICE | nal_type::PARTITION_A | nal_type::IDR
        );
        // Without arbitrary slice order, a new picture's first slice is the one
        // with first_mb_in_slice == 0 (§7.3.3, the slice header's first field).
        let first_in_picture = is_vcl && {
            let head = bits::rbsp(&nal[1..], 16);
            bits::BitReader::new(&head, "slice header").ue()? == 0
        };
        Ok(NalClass {
            is_vcl,
            starts_au_after_vcl: matches!(
                kind,
                nal_type::SEI | nal_type::SPS | nal_type::PPS | nal_type::AUD | 14..=18
            ),
            first_in_picture,
            keyframe: kind == nal_type::IDR,
            param: match kind {
                nal_type::SPS => Some(ParamSet::Sps),
                nal_type::PPS => Some(ParamSet::Pps),
                _ => None,
            },
        })
    }

    /// Classifies an H.265 NAL unit (§7.4.2.4.4).
    fn classify_h265(nal: &[u8]) -> Result<NalClass, AnnexBError> {
        use hevc::nal_type as t;
        if nal.len() < 3 {
            return Err(AnnexBError::Syntax {
                what: "H.265 NAL unit",
                reason: format!("{} bytes is too short", nal.len()),
            });
        }
        let kind = (nal[0] >> 1) & 0x3F;
        let base_layer = (((nal[0] & 1) << 5) | (nal[1] >> 3)) == 0;
        let is_vcl = kind < 32;
        Ok(NalClass {
            is_vcl,
            starts_au_after_vcl: base_layer
                && matches!(kind, t::VPS | t::SPS | t::PPS | t::AUD | t::PREFIX_SEI | 41..=44 | 48..=55),
            // first_slice_segment_in_pic_flag: the slice header's first bit.
            first_in_picture: is_vcl && nal[2] & 0x80 != 0,
            keyframe: (t::IRAP_FIRST..=t::IRAP_LAST).contains(&kind),
            param: match kind {
                t::VPS => Some(ParamSet::Vps),
                t::SPS => Some(ParamSet::Sps),
                t::PPS => Some(ParamSet::Pps),
                _ => None,
            },
        })
    }

    /// The id of a parameter set, to keep the latest version of each.
    fn param_id(&self, param: ParamSet, nal: &[u8]) -> Result<u32, AnnexBError> {
        let header = match self.config.codec {
            Codec::H264 => 1,
            Codec::H265 => 2,
        };
        match (param, self.config.codec) {
            (ParamSet::Sps, Codec::H264) => Ok(Sps::parse(nal)?.id),
            (ParamSet::Sps, Codec::H265) => Ok(HevcSps::parse(nal)?.id),
            (ParamSet::Vps, _) => Ok(u32::from(nal.get(2).copied().unwrap_or(0) >> 4)),
            (ParamSet::Pps, _) => {
                let head = bits::rbsp(nal.get(header..).unwrap_or_default(), 16);
                bits::BitReader::new(&head, "PPS").ue_max("pps_pic_parameter_set_id", 255)
            }
        }
    }

    fn on_nal(&mut self, nal: Bytes, offset: u64) -> Result<(), AnnexBError> {
        if nal[0] & 0x80 != 0 {
            return Err(AnnexBError::ForbiddenBit { offset });
        }
        let class = match self.config.codec {
            Codec::H264 => Self::classify_h264(&nal),
            Codec::H265 => Self::classify_h265(&nal),
        }
        .map_err(|e| e.at(offset))?;
        // After the last VCL NAL of a picture, parameter sets, SEI, AUD or the
        // first VCL NAL of the next picture begin a new access unit.
        if self.au.has_vcl && (class.starts_au_after_vcl || class.first_in_picture) {
            self.flush_au()?;
        }
        if let Some(param) = class.param {
            let id = self.param_id(param, &nal).map_err(|e| e.at(offset))?;
            let map = match param {
                ParamSet::Vps => &mut self.vps,
                ParamSet::Sps => &mut self.sps,
                ParamSet::Pps => &mut self.pps,
            };
            map.insert(id, nal.clone());
        }
        if self.au.nals.is_empty() {
            self.au.offset = offset;
        }
        self.au.bytes += nal.len() + NAL_LENGTH_SIZE;
        if self.au.bytes > MAX_ACCESS_UNIT_BYTES {
            return Err(AnnexBError::TooLarge {
                offset: self.au.offset,
                limit: MAX_ACCESS_UNIT_BYTES,
            });
        }
        self.au.has_vcl |= class.is_vcl;
        self.au.keyframe |= class.keyframe;
        self.au.nals.push(nal);
        Ok(())
    }

    fn flush_au(&mut self) -> Result<(), AnnexBError> {
        let au = std::mem::take(&mut self.au);
        if !au.has_vcl {
            // Parameter sets / SEI at the very end with no picture: nothing to send.
            tracing::debug!(
                offset = au.offset,
                "dropping trailing NAL units without a picture"
            );
            return Ok(());
        }
        if self.sps.is_empty()
            || self.pps.is_empty()
            || (self.config.codec == Codec::H265 && self.vps.is_empty())
        {
            return Err(AnnexBError::NoParameterSets { offset: au.offset });
        }
        if self.track.is_none() && !au.keyframe {
            if self.skipped == 0 {
                tracing::warn!(
                    offset = au.offset,
                    "skipping frames before the first key frame"
                );
            }
            self.skipped += 1;
            return Ok(());
        }
        if au.keyframe {
            let track = self.build_track().map_err(|e| e.at(au.offset))?;
            if self.track.as_ref() != Some(&track) {
                self.track = Some(track.clone());
                self.ready.push_back(AnnexBEvent::Track(track));
            }
        }
        let mut data = BytesMut::with_capacity(au.bytes);
        write_avcc_sample(&mut data, au.nals.iter().map(|n| &n[..]));
        let frame = MediaFrame {
            track: self.config.track_number,
            timecode_ms: self
                .config
                .frame_rate
                .timecode_ms(self.config.start_time_ms, self.frames),
            keyframe: au.keyframe,
            data,
        };
        self.frames += 1;
        self.ready.push_back(AnnexBEvent::Frame(frame));
        Ok(())
    }

    fn build_track(&self) -> Result<TrackInfo, AnnexBError> {
        let vps_nals: Vec<&[u8]> = self.vps.values().map(|b| &b[..]).collect();
        let sps_nals: Vec<&[u8]> = self.sps.values().map(|b| &b[..]).collect();
        let pps_nals: Vec<&[u8]> = self.pps.values().map(|b| &b[..]).collect();
        let (codec_id, codec_private, size) = match self.config.codec {
            Codec::H264 => {
                let first = Sps::parse(sps_nals[0])?;
                let cp = avc_decoder_configuration_record(&first, &sps_nals, &pps_nals)?;
                (CODEC_ID_H264, cp, (first.width, first.height))
            }
            Codec::H265 => {
                let first = HevcSps::parse(sps_nals[0])?;
                let cp =
                    hevc_decoder_configuration_record(&first, &vps_nals, &sps_nals, &pps_nals)?;
                (CODEC_ID_H265, cp, (first.width, first.height))
            }
        };
        Ok(TrackInfo {
            number: self.config.track_number,
            codec_id: codec_id.to_owned(),
            codec_private,
            video: Some(size),
            audio: None,
        })
    }
}

/// [`AnnexBParser`] driven by a tokio reader (a file or stdin), in chunks.
pub struct AnnexBReader<R> {
    reader: R,
    parser: AnnexBParser,
    chunk: Vec<u8>,
}

impl<R: AsyncRead + Unpin> AnnexBReader<R> {
    /// Reads `reader` as an Annex-B stream.
    pub fn new(reader: R, config: AnnexBConfig) -> Self {
        Self {
            reader,
            parser: AnnexBParser::new(config),
            chunk: vec![0; READ_CHUNK],
        }
    }

    /// The next event; `Ok(None)` at the end of the stream.
    pub async fn next_event(&mut self) -> Result<Option<AnnexBEvent>, AnnexBError> {
        loop {
            if let Some(ev) = self.parser.next_event()? {
                return Ok(Some(ev));
            }
            if self.parser.eof {
                return Ok(None);
            }
            let n = self.reader.read(&mut self.chunk).await?;
            if n == 0 {
                self.parser.finish();
            } else {
                self.parser.push(&self.chunk[..n]);
            }
        }
    }

    /// The parser, for its counters and current track.
    pub fn parser(&self) -> &AnnexBParser {
        &self.parser
    }
}

#[cfg(test)]
mod tests;
