//! Caps and buffers → the producer's [`SourceEvent`]s: the track (codec
//! configuration record from `codec_data`, or from in-band parameter sets for
//! byte-stream input), and frames on an absolute timeline from buffer
//! timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::annexb::Codec;
use crate::media::{CODEC_ID_H264, CODEC_ID_H265, MediaFrame, SourceEvent, TrackInfo};
use bytes::BytesMut;

use super::bytestream::ByteStream;

/// Matroska track number of the video track.
pub const VIDEO_TRACK: u64 = 1;

/// Caps or a buffer the element cannot stream.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaError {
    /// The caps are not H.264/H.265 in a form we take.
    #[error("unsupported caps {0}")]
    Caps(String),
    /// The caps lack the codec configuration record.
    #[error(
        "caps {0} carry no codec_data (avcC/hvcC); put h264parse/h265parse at the end of the pipeline"
    )]
    NoCodecData(String),
    /// AAC caps lack the AudioSpecificConfig.
    #[error("caps {0} carry no codec_data (AudioSpecificConfig); put aacparse before the sink")]
    NoAudioCodecData(String),
    /// A buffer could not be read.
    #[error("a buffer could not be mapped for reading")]
    Map,
    /// Byte-stream input is malformed.
    #[error("malformed byte-stream input: {0}")]
    Syntax(String),
}

/// What the element knows of its input: the caps' form and the track sent.
#[derive(Debug, Default)]
pub struct VideoInput {
    timeline: Timeline,
    /// The track last sent to the engine.
    sent: Option<TrackInfo>,
    /// `Some` for byte-stream caps.
    bytestream: Option<ByteStream>,
    /// Access units dropped while no parameter sets were seen.
    waiting: u64,
}

impl VideoInput {
    /// New caps; returns the events to send (a new track, if it changed).
    pub fn set_caps(&mut self, caps: &gst::CapsRef) -> Result<Vec<SourceEvent>, MediaError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| MediaError::Caps(caps.to_string()))?;
        if s.get::<&str>("stream-format").ok() == Some("byte-stream") {
            let codec = match s.name().as_str() {
                "video/x-h264" => Codec::H264,
                "video/x-h265" => Codec::H265,
                _ => return Err(MediaError::Caps(caps.to_string())),
            };
            // The track comes with the next parameter sets in the stream.
            self.bytestream = Some(ByteStream::new(codec));
            return Ok(Vec::new());
        }
        self.bytestream = None;
        Ok(self.track_events(track_from_caps(caps)?))
    }

    /// One buffer; returns the events to send (a new track, then the frame).
    pub fn buffer(&mut self, buffer: &gst::BufferRef) -> Result<Vec<SourceEvent>, MediaError> {
        let mut timeline = std::mem::take(&mut self.timeline);
        let events = self.buffer_on(buffer, &mut timeline);
        self.timeline = timeline;
        events
    }

    /// As [`VideoInput::buffer`], placing the frame on `timeline` instead of
    /// the input's own: for an element that puts audio on the same timeline.
    pub fn buffer_on(
        &mut self,
        buffer: &gst::BufferRef,
        timeline: &mut Timeline,
    ) -> Result<Vec<SourceEvent>, MediaError> {
        let map = buffer.map_readable().map_err(|_| MediaError::Map)?;
        let mut events = Vec::with_capacity(2);
        let data = match &mut self.bytestream {
            None => BytesMut::from(map.as_slice()),
            Some(bs) => {
                let data = bs.convert(map.as_slice())?;
                let Some(track) = bs.track().cloned() else {
                    // Nothing decodable before the first SPS/PPS.
                    self.waiting += 1;
                    return Ok(events);
                };
                events = self.track_events(track);
                data
            }
        };
        events.push(SourceEvent::Frame(MediaFrame {
            track: VIDEO_TRACK,
            timecode_ms: timeline.timecode_ms(buffer.pts().or(buffer.dts())),
            keyframe: !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
            data,
        }));
        Ok(events)
    }

    fn track_events(&mut self, track: TrackInfo) -> Vec<SourceEvent> {
        if self.sent.as_ref() == Some(&track) {
            return Vec::new();
        }
        self.sent = Some(track.clone());
        vec![SourceEvent::Tracks(vec![track])]
    }
}

/// The video track described by `caps` (`video/x-h264, stream-format=avc|avc3`
/// or `video/x-h265, stream-format=hvc1|hev1`, `alignment=au`).
pub fn track_from_caps(caps: &gst::CapsRef) -> Result<TrackInfo, MediaError> {
    let s = caps
        .structure(0)
        .ok_or_else(|| MediaError::Caps(caps.to_string()))?;
    let codec_id = match s.name().as_str() {
        "video/x-h264" => CODEC_ID_H264,
        "video/x-h265" => CODEC_ID_H265,
        _ => return Err(MediaError::Caps(caps.to_string())),
    };
    let codec_data = s
        .get::<gst::Buffer>("codec_data")
        .map_err(|_| MediaError::NoCodecData(caps.to_string()))?;
    let codec_private = codec_data
        .map_readable()
        .map_err(|_| MediaError::Map)?
        .to_vec();
    let dim = |name: &str| {
        s.get::<i32>(name)
            .ok()
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    };
    Ok(TrackInfo {
        number: VIDEO_TRACK,
        codec_id: codec_id.to_owned(),
        codec_private,
        video: Some((dim("width"), dim("height"))),
        audio: None,
    })
}

/// Maps buffer timestamps onto the absolute timeline KVS requires: the first
/// buffer is placed at the wall-clock time it arrives, later ones at that
/// time plus their timestamp distance from the first (so the stream keeps the
/// pipeline's own clock, as kvssink does with `absolute-fragment-times`).
#[derive(Debug, Default)]
pub struct Timeline {
    /// Wall-clock ms at timestamp 0.
    base_ms: Option<i64>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Timeline {
    /// The absolute timecode (ms since the epoch) of a buffer stamped `ts`
    /// (PTS, else DTS); a buffer without either gets the current time.
    pub fn timecode_ms(&mut self, ts: Option<gst::ClockTime>) -> i64 {
        let Some(ts) = ts else {
            return now_ms();
        };
        let ms = i64::try_from(ts.mseconds()).unwrap_or(i64::MAX);
        let base = *self
            .base_ms
            .get_or_insert_with(|| now_ms().saturating_sub(ms));
        base.saturating_add(ms)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn avc_caps_give_the_avcc_record_and_size() {
        gst::init().unwrap();
        let avcc = gst::Buffer::from_slice([1u8, 0x42, 0, 0x1e, 0xff]);
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("width", 320i32)
            .field("height", 240i32)
            .field("codec_data", avcc)
            .build();
        let t = track_from_caps(&caps).unwrap();
        assert_eq!(t.codec_id, CODEC_ID_H264);
        assert_eq!(t.codec_private, [1, 0x42, 0, 0x1e, 0xff]);
        assert_eq!(t.video, Some((320, 240)));
    }

    #[test]
    fn caps_without_codec_data_name_the_parser_to_add() {
        gst::init().unwrap();
        let caps = gst::Caps::builder("video/x-h265").build();
        let e = track_from_caps(&caps).unwrap_err();
        assert!(e.to_string().contains("h265parse"), "{e}");
    }

    #[test]
    fn byte_stream_caps_wait_for_parameter_sets() {
        gst::init().unwrap();
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .build();
        let mut input = VideoInput::default();
        assert!(input.set_caps(&caps).unwrap().is_empty());
        let slice = gst::Buffer::from_slice([0u8, 0, 1, 0x41, 1, 2]);
        assert!(input.buffer(&slice).unwrap().is_empty());
        assert_eq!(input.waiting, 1);
    }

    #[test]
    fn timeline_keeps_timestamp_distances() {
        let mut t = Timeline::default();
        let a = t.timecode_ms(Some(gst::ClockTime::from_mseconds(1000)));
        let b = t.timecode_ms(Some(gst::ClockTime::from_mseconds(1500)));
        assert_eq!(b - a, 500);
        assert!((a - now_ms()).abs() < 5_000);
    }
}
