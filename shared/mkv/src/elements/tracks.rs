//! `Tracks` and `TrackEntry`: parsed by the reader, written in PIC's layout by the writer.

use bytes::{BufMut, Bytes, BytesMut};

use crate::MkvError;
use crate::ebml::{self, Children};
use crate::ids::ElementId;

/// Matroska `TrackType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackType {
    /// 1: video.
    Video,
    /// 2: audio.
    Audio,
    /// Any other value (complex, logo, subtitle, buttons, control, metadata).
    Other(u8),
}

impl TrackType {
    /// The numeric value written in `TrackType`.
    pub fn value(self) -> u8 {
        match self {
            Self::Video => 1,
            Self::Audio => 2,
            Self::Other(v) => v,
        }
    }

    fn from_value(v: u64, offset: u64) -> Result<Self, MkvError> {
        match v {
            1 => Ok(Self::Video),
            2 => Ok(Self::Audio),
            3..=0xFF => Ok(Self::Other(v as u8)),
            _ => Err(MkvError::InvalidValue {
                id: ElementId::TRACK_TYPE,
                offset,
                reason: "TrackType out of range",
            }),
        }
    }
}

/// `Video` settings of a track.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VideoSettings {
    /// `PixelWidth`.
    pub pixel_width: u64,
    /// `PixelHeight`.
    pub pixel_height: u64,
}

/// `Audio` settings of a track.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct AudioSettings {
    /// `SamplingFrequency` in Hz (Matroska default 8000).
    pub sampling_frequency: f64,
    /// `Channels` (Matroska default 1).
    pub channels: u64,
    /// `BitDepth`, if given.
    pub bit_depth: Option<u64>,
}

/// One `TrackEntry`: read by the demuxer, written by the muxer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TrackEntry {
    /// `TrackNumber` (what blocks refer to), ≥ 1.
    pub number: u64,
    /// `TrackUID`, non-zero.
    pub uid: u64,
    /// `TrackType`.
    pub track_type: TrackType,
    /// `CodecID`, e.g. `V_MPEG4/ISO/AVC`.
    pub codec_id: String,
    /// `CodecPrivate` (avcC, hvcC, AudioSpecificConfig, ...).
    pub codec_private: Option<Bytes>,
    /// `Name`.
    pub name: Option<String>,
    /// `DefaultDuration` in nanoseconds.
    pub default_duration: Option<u64>,
    /// `Language`.
    pub language: Option<String>,
    /// `CodecDelay` in nanoseconds.
    pub codec_delay: Option<u64>,
    /// `SeekPreRoll` in nanoseconds.
    pub seek_pre_roll: Option<u64>,
    /// `Video` settings.
    pub video: Option<VideoSettings>,
    /// `Audio` settings.
    pub audio: Option<AudioSettings>,
}

/// `CodecID` of H.264 in Matroska.
pub const CODEC_H264: &str = "V_MPEG4/ISO/AVC";
/// `CodecID` of H.265 in Matroska.
pub const CODEC_H265: &str = "V_MPEGH/ISO/HEVC";
/// `CodecID` of AAC in Matroska.
pub const CODEC_AAC: &str = "A_AAC";
/// `CodecID` of little-endian integer PCM in Matroska.
pub const CODEC_PCM_INT_LE: &str = "A_PCM/INT/LIT";

impl TrackEntry {
    /// A track with only the mandatory fields set.
    pub fn new(number: u64, uid: u64, track_type: TrackType, codec_id: impl Into<String>) -> Self {
        Self {
            number,
            uid,
            track_type,
            codec_id: codec_id.into(),
            codec_private: None,
            name: None,
            default_duration: None,
            language: None,
            codec_delay: None,
            seek_pre_roll: None,
            video: None,
            audio: None,
        }
    }

    /// An H.264 (`V_MPEG4/ISO/AVC`) video track.
    pub fn h264(number: u64, uid: u64) -> Self {
        Self::new(number, uid, TrackType::Video, CODEC_H264)
    }

    /// An H.265 (`V_MPEGH/ISO/HEVC`) video track.
    pub fn h265(number: u64, uid: u64) -> Self {
        Self::new(number, uid, TrackType::Video, CODEC_H265)
    }

    /// An AAC (`A_AAC`) audio track.
    pub fn aac(number: u64, uid: u64, sampling_frequency: f64, channels: u64) -> Self {
        let mut t = Self::new(number, uid, TrackType::Audio, CODEC_AAC);
        t.audio = Some(AudioSettings {
            sampling_frequency,
            channels,
            bit_depth: None,
        });
        t
    }

    /// A little-endian integer PCM (`A_PCM/INT/LIT`) audio track.
    pub fn pcm(
        number: u64,
        uid: u64,
        sampling_frequency: f64,
        channels: u64,
        bit_depth: u64,
    ) -> Self {
        let mut t = Self::new(number, uid, TrackType::Audio, CODEC_PCM_INT_LE);
        t.audio = Some(AudioSettings {
            sampling_frequency,
            channels,
            bit_depth: Some(bit_depth),
        });
        t
    }

    /// Sets `CodecPrivate`.
    pub fn with_codec_private(mut self, data: impl Into<Bytes>) -> Self {
        self.codec_private = Some(data.into());
        self
    }

    /// Sets the `Video` pixel size.
    pub fn with_video(mut self, pixel_width: u64, pixel_height: u64) -> Self {
        self.video = Some(VideoSettings {
            pixel_width,
            pixel_height,
        });
        self
    }

    /// Sets the track `Name`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn parse(payload: Bytes, base: u64, offset: u64) -> Result<Self, MkvError> {
        let mut number = None;
        let mut uid = None;
        let mut track_type = None;
        let mut codec_id = None;
        let mut t = Self::new(0, 0, TrackType::Other(0), "");
        for child in Children::new(ElementId::TRACK_ENTRY, payload, base) {
            let c = child?;
            let at = c.payload_offset;
            match c.id {
                ElementId::TRACK_NUMBER => number = Some(ebml::read_uint(&c.data, c.id, at)?),
                ElementId::TRACK_UID => uid = Some(ebml::read_uint(&c.data, c.id, at)?),
                ElementId::TRACK_TYPE => {
                    track_type = Some(TrackType::from_value(
                        ebml::read_uint(&c.data, c.id, at)?,
                        at,
                    )?);
                }
                ElementId::CODEC_ID => codec_id = Some(ebml::read_string(&c.data, c.id, at)?),
                ElementId::CODEC_PRIVATE => t.codec_private = Some(c.data),
                ElementId::NAME => t.name = Some(ebml::read_string(&c.data, c.id, at)?),
                ElementId::DEFAULT_DURATION => {
                    t.default_duration = Some(ebml::read_uint(&c.data, c.id, at)?)
                }
                ElementId::LANGUAGE => t.language = Some(ebml::read_string(&c.data, c.id, at)?),
                ElementId::CODEC_DELAY => t.codec_delay = Some(ebml::read_uint(&c.data, c.id, at)?),
                ElementId::SEEK_PRE_ROLL => {
                    t.seek_pre_roll = Some(ebml::read_uint(&c.data, c.id, at)?)
                }
                ElementId::VIDEO => t.video = Some(parse_video(c.data, at)?),
                ElementId::AUDIO => t.audio = Some(parse_audio(c.data, at)?),
                _ => {}
            }
        }
        let missing = |what| MkvError::MissingElement { what, offset };
        t.number = number
            .filter(|&n| n != 0)
            .ok_or(missing("TrackNumber (non-zero)"))?;
        t.uid = uid.unwrap_or(0);
        t.track_type = track_type.ok_or(missing("TrackType"))?;
        t.codec_id = codec_id.ok_or(missing("CodecID"))?;
        Ok(t)
    }

    /// Appends this `TrackEntry` in PIC's layout (see [`write_tracks`]).
    fn write(&self, out: &mut BytesMut) {
        let mut body = BytesMut::new();
        ebml::write_uint(&mut body, ElementId::TRACK_NUMBER, self.number);
        ebml::write_uint_width(&mut body, ElementId::TRACK_UID, self.uid, 8);
        ebml::write_uint(
            &mut body,
            ElementId::TRACK_TYPE,
            u64::from(self.track_type.value()),
        );
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            ebml::write_bytes(&mut body, ElementId::NAME, name.as_bytes());
        }
        if !self.codec_id.is_empty() {
            ebml::write_bytes(&mut body, ElementId::CODEC_ID, self.codec_id.as_bytes());
        }
        // Not written by PIC; written only when set, after PIC's fields.
        if let Some(v) = self.default_duration {
            ebml::write_uint(&mut body, ElementId::DEFAULT_DURATION, v);
        }
        if let Some(v) = &self.language {
            ebml::write_bytes(&mut body, ElementId::LANGUAGE, v.as_bytes());
        }
        if let Some(v) = self.codec_delay {
            ebml::write_uint(&mut body, ElementId::CODEC_DELAY, v);
        }
        if let Some(v) = self.seek_pre_roll {
            ebml::write_uint(&mut body, ElementId::SEEK_PRE_ROLL, v);
        }
        if let Some(v) = &self.video {
            write_video(&mut body, v);
        } else if let Some(a) = &self.audio {
            write_audio(&mut body, a);
        }
        if let Some(cpd) = self.codec_private.as_ref().filter(|c| !c.is_empty()) {
            ebml::write_bytes(&mut body, ElementId::CODEC_PRIVATE, cpd);
        }
        ebml::write_id(out, ElementId::TRACK_ENTRY);
        ebml::write_size_width(out, body.len() as u64, 4);
        out.put_slice(&body);
    }
}

fn parse_video(payload: Bytes, base: u64) -> Result<VideoSettings, MkvError> {
    let mut v = VideoSettings::default();
    for child in Children::new(ElementId::VIDEO, payload, base) {
        let c = child?;
        match c.id {
            ElementId::PIXEL_WIDTH => {
                v.pixel_width = ebml::read_uint(&c.data, c.id, c.payload_offset)?
            }
            ElementId::PIXEL_HEIGHT => {
                v.pixel_height = ebml::read_uint(&c.data, c.id, c.payload_offset)?
            }
            _ => {}
        }
    }
    Ok(v)
}

fn parse_audio(payload: Bytes, base: u64) -> Result<AudioSettings, MkvError> {
    let mut a = AudioSettings {
        sampling_frequency: 8000.0,
        channels: 1,
        bit_depth: None,
    };
    for child in Children::new(ElementId::AUDIO, payload, base) {
        let c = child?;
        let at = c.payload_offset;
        match c.id {
            ElementId::SAMPLING_FREQUENCY => {
                a.sampling_frequency = ebml::read_float(&c.data, c.id, at)?
            }
            ElementId::CHANNELS => a.channels = ebml::read_uint(&c.data, c.id, at)?,
            ElementId::BIT_DEPTH => a.bit_depth = Some(ebml::read_uint(&c.data, c.id, at)?),
            _ => {}
        }
    }
    Ok(a)
}

/// PIC: `Video` with a 4-byte size, then `PixelWidth`/`PixelHeight` as 2-byte integers.
/// Sizes above 65535 (not representable in PIC's layout) use the shortest width instead.
fn write_video(out: &mut BytesMut, v: &VideoSettings) {
    let mut body = BytesMut::new();
    for (id, value) in [
        (ElementId::PIXEL_WIDTH, v.pixel_width),
        (ElementId::PIXEL_HEIGHT, v.pixel_height),
    ] {
        if value <= 0xFFFF {
            ebml::write_uint_width(&mut body, id, value, 2);
        } else {
            ebml::write_uint(&mut body, id, value);
        }
    }
    ebml::write_id(out, ElementId::VIDEO);
    ebml::write_size_width(out, body.len() as u64, 4);
    out.put_slice(&body);
}

/// PIC: `Audio` with a 4-byte size, an 8-byte `SamplingFrequency`, 1-byte `Channels`, then
/// `BitDepth` when non-zero.
fn write_audio(out: &mut BytesMut, a: &AudioSettings) {
    let mut body = BytesMut::new();
    ebml::write_float(
        &mut body,
        ElementId::SAMPLING_FREQUENCY,
        a.sampling_frequency,
    );
    ebml::write_uint(&mut body, ElementId::CHANNELS, a.channels);
    if let Some(depth) = a.bit_depth.filter(|&d| d != 0) {
        ebml::write_uint(&mut body, ElementId::BIT_DEPTH, depth);
    }
    ebml::write_id(out, ElementId::AUDIO);
    ebml::write_size_width(out, body.len() as u64, 4);
    out.put_slice(&body);
}

/// The `Tracks` element.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Tracks {
    /// The track entries, in stream order.
    pub entries: Vec<TrackEntry>,
    /// The whole element (header included), for verbatim pass-through.
    pub raw: Bytes,
}

impl Tracks {
    /// The entry with `TrackNumber` `number`.
    pub fn by_number(&self, number: u64) -> Option<&TrackEntry> {
        self.entries.iter().find(|t| t.number == number)
    }

    pub(crate) fn parse(payload: Bytes, base: u64, raw: Bytes) -> Result<Self, MkvError> {
        let mut entries = Vec::new();
        for child in Children::new(ElementId::TRACKS, payload, base) {
            let c = child?;
            if c.id == ElementId::TRACK_ENTRY {
                entries.push(TrackEntry::parse(c.data, c.payload_offset, c.offset)?);
            }
        }
        Ok(Self { entries, raw })
    }
}

/// Appends a `Tracks` element in PIC's layout: 4-byte sizes on `Tracks` and each `TrackEntry`,
/// `TrackNumber`, 8-byte `TrackUID`, `TrackType`, `Name`, `CodecID`, `Video`|`Audio`,
/// `CodecPrivate` (PIC `mkvgenEbmlEncodeTrackInfo`).
pub fn write_tracks(out: &mut BytesMut, tracks: &[TrackEntry]) {
    let mut body = BytesMut::new();
    for t in tracks {
        t.write(&mut body);
    }
    ebml::write_id(out, ElementId::TRACKS);
    ebml::write_size_width(out, body.len() as u64, 4);
    out.put_slice(&body);
}
