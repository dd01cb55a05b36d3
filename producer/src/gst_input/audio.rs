//! Audio caps and buffers → the producer's tracks and frames: AAC (raw, with
//! its AudioSpecificConfig in `codec_data`) and G.711 A-law/µ-law, the audio
//! `kvssink` takes on its `audio_%u` pads and KVS accepts on track 2.

use bytes::BytesMut;

use super::input::{MediaError, Timeline};
use crate::media::{CODEC_ID_AAC, MediaFrame, TrackInfo};

/// Matroska track number of the audio track (`kvssink`'s
/// `KVS_SINK_DEFAULT_AUDIO_TRACKID`).
pub const AUDIO_TRACK: u64 = 2;

/// Matroska codec id of audio described by a `WAVEFORMATEX` CodecPrivate:
/// what the KVS producer SDK writes for G.711 (`DEFAULT_AUDIO_CODEC_ID_PCM`
/// in `gstkvssink.cpp`), and the id KVS's HLS/DASH playback takes for G.711.
pub const CODEC_ID_MS_ACM: &str = "A_MS/ACM";

/// `WAVEFORMATEX.wFormatTag` of A-law (`WAVE_FORMAT_ALAW`, the SDK's
/// `KVS_PCM_FORMAT_CODE_ALAW`).
const WAVE_FORMAT_ALAW: u16 = 6;
/// `WAVEFORMATEX.wFormatTag` of µ-law (`WAVE_FORMAT_MULAW`).
const WAVE_FORMAT_MULAW: u16 = 7;

/// The audio the element accepts on its `audio_%u` pads, as `kvssink`'s
/// template: AAC (MPEG-2/4, raw), A-law and µ-law.
pub fn accepted_caps() -> gst::Caps {
    let mut caps = gst::Caps::builder("audio/mpeg")
        .field("mpegversion", gst::List::new([2i32, 4]))
        .field("stream-format", "raw")
        .field("channels", gst::IntRange::new(1i32, i32::MAX))
        .field("rate", gst::IntRange::new(1i32, i32::MAX))
        .build();
    for name in ["audio/x-alaw", "audio/x-mulaw"] {
        caps.merge(
            gst::Caps::builder(name)
                .field("channels", gst::List::new([1i32, 2]))
                .field("rate", gst::IntRange::new(8000i32, 192_000))
                .build(),
        );
    }
    caps
}

/// The audio track described by `caps` (one of [`accepted_caps`]).
pub fn track_from_caps(caps: &gst::CapsRef) -> Result<TrackInfo, MediaError> {
    let s = caps
        .structure(0)
        .ok_or_else(|| MediaError::Caps(caps.to_string()))?;
    let int = |name: &str| {
        s.get::<i32>(name)
            .ok()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| MediaError::Caps(format!("{caps} (no {name})")))
    };
    let rate = int("rate")?;
    let channels = u8::try_from(int("channels")?)
        .map_err(|_| MediaError::Caps(format!("{caps} (too many channels)")))?;
    let (codec_id, codec_private) = match s.name().as_str() {
        "audio/mpeg" => {
            let codec_data = s
                .get::<gst::Buffer>("codec_data")
                .map_err(|_| MediaError::NoAudioCodecData(caps.to_string()))?;
            let asc = codec_data
                .map_readable()
                .map_err(|_| MediaError::Map)?
                .to_vec();
            (CODEC_ID_AAC, asc)
        }
        "audio/x-alaw" => (
            CODEC_ID_MS_ACM,
            wave_format_g711(WAVE_FORMAT_ALAW, rate, channels),
        ),
        "audio/x-mulaw" => (
            CODEC_ID_MS_ACM,
            wave_format_g711(WAVE_FORMAT_MULAW, rate, channels),
        ),
        _ => return Err(MediaError::Caps(caps.to_string())),
    };
    Ok(TrackInfo {
        number: AUDIO_TRACK,
        codec_id: codec_id.to_owned(),
        codec_private,
        video: None,
        audio: Some((rate, channels)),
    })
}

/// The 18-byte `WAVEFORMATEX` (little-endian) of 8-bit G.711 audio, the
/// CodecPrivate of an `A_MS/ACM` track (Matroska codec specs; the SDK's
/// `mkvgenGeneratePcmCpd` writes the same layout). Unlike the SDK, which
/// writes `nAvgBytesPerSec = rate * channels / 8` and `wBitsPerSample = 0`, we
/// write the values the structure defines (bytes per second, 8 bits), which
/// decoders such as FFmpeg read.
fn wave_format_g711(format: u16, rate: u32, channels: u8) -> Vec<u8> {
    let block_align = u16::from(channels);
    let mut w = Vec::with_capacity(18);
    w.extend_from_slice(&format.to_le_bytes());
    w.extend_from_slice(&u16::from(channels).to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&rate.saturating_mul(u32::from(channels)).to_le_bytes());
    w.extend_from_slice(&block_align.to_le_bytes());
    w.extend_from_slice(&8u16.to_le_bytes()); // wBitsPerSample
    w.extend_from_slice(&0u16.to_le_bytes()); // cbSize: no extra bytes
    w
}

/// What the element knows of its audio input: the track from the last caps.
#[derive(Debug, Default)]
pub struct AudioInput {
    track: Option<TrackInfo>,
}

impl AudioInput {
    /// New caps: the audio track from now on.
    pub fn set_caps(&mut self, caps: &gst::CapsRef) -> Result<&TrackInfo, MediaError> {
        Ok(self.track.insert(track_from_caps(caps)?))
    }

    /// The track of the last caps, if any.
    pub fn track(&self) -> Option<&TrackInfo> {
        self.track.as_ref()
    }

    /// One buffer (one coded audio frame) as a frame of [`AUDIO_TRACK`] on
    /// `timeline`, the one the video input uses. Every audio frame is a key
    /// frame for Matroska; fragments still start only at video key frames.
    pub fn buffer(
        &self,
        buffer: &gst::BufferRef,
        timeline: &mut Timeline,
    ) -> Result<MediaFrame, MediaError> {
        let map = buffer.map_readable().map_err(|_| MediaError::Map)?;
        Ok(MediaFrame {
            track: AUDIO_TRACK,
            timecode_ms: timeline.timecode_ms(buffer.pts().or(buffer.dts())),
            keyframe: true,
            data: BytesMut::from(map.as_slice()),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn aac_caps_give_the_audio_specific_config() {
        gst::init().unwrap();
        let caps = gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .field("stream-format", "raw")
            .field("rate", 48_000i32)
            .field("channels", 2i32)
            .field("codec_data", gst::Buffer::from_slice([0x11u8, 0x90]))
            .build();
        assert!(caps.can_intersect(&accepted_caps()));
        let t = track_from_caps(&caps).unwrap();
        assert_eq!(
            (t.number, t.codec_id.as_str(), t.codec_private.as_slice()),
            (AUDIO_TRACK, CODEC_ID_AAC, &[0x11, 0x90][..])
        );
        assert_eq!(t.audio, Some((48_000, 2)));
        assert!(!t.is_video());
    }

    #[test]
    fn aac_without_codec_data_names_aacparse() {
        gst::init().unwrap();
        let caps = gst::Caps::builder("audio/mpeg")
            .field("mpegversion", 4i32)
            .field("rate", 48_000i32)
            .field("channels", 1i32)
            .build();
        let e = track_from_caps(&caps).unwrap_err();
        assert!(e.to_string().contains("aacparse"), "{e}");
    }

    #[test]
    fn g711_caps_give_a_wave_format_ex() {
        gst::init().unwrap();
        let caps = gst::Caps::builder("audio/x-mulaw")
            .field("rate", 8000i32)
            .field("channels", 1i32)
            .build();
        let t = track_from_caps(&caps).unwrap();
        assert_eq!(t.codec_id, CODEC_ID_MS_ACM);
        assert_eq!(
            t.codec_private,
            [
                7, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x40, 0x1f, 0, 0, 1, 0, 8, 0, 0, 0
            ]
        );
        let alaw = gst::Caps::builder("audio/x-alaw")
            .field("rate", 16_000i32)
            .field("channels", 2i32)
            .build();
        let t = track_from_caps(&alaw).unwrap();
        assert_eq!(&t.codec_private[..2], [6, 0]);
        assert_eq!(t.audio, Some((16_000, 2)));
    }

    #[test]
    fn audio_frames_share_the_video_timeline() {
        gst::init().unwrap();
        let mut timeline = Timeline::default();
        let video = timeline.timecode_ms(Some(gst::ClockTime::from_mseconds(0)));
        let mut buffer = gst::Buffer::from_slice([1u8, 2, 3]);
        buffer
            .get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(40));
        let frame = AudioInput::default()
            .buffer(&buffer, &mut timeline)
            .unwrap();
        assert_eq!(frame.timecode_ms - video, 40);
        assert!(frame.keyframe && frame.track == AUDIO_TRACK);
    }
}
