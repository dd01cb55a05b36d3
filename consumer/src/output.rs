//! The playable MKV written for the viewer: standard Matroska with the codec data restored
//! from the verified header, original timestamps, one Cluster per fragment.

use std::io::Write;

use bytes::BytesMut;
use kvs_e2ee_envelope::TrackCodecData;
use kvs_e2ee_mkv::{AudioSettings, MkvError, Muxer, MuxerConfig, TrackEntry};

/// Why the output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// Writing failed (a closed pipe is [`std::io::ErrorKind::BrokenPipe`]).
    #[error("writing the output: {0}")]
    Io(#[from] std::io::Error),
    /// The muxer refused the stream layout.
    #[error("writing the output MKV: {0}")]
    Mkv(#[from] MkvError),
}

/// Restores what the camera removed from the clear `Tracks` (CodecPrivate, pixel size,
/// sampling rate and channels) from a verified header's codec data.
pub fn restore_tracks(clear: &[TrackEntry], codec: &[TrackCodecData]) -> Vec<TrackEntry> {
    clear
        .iter()
        .map(|entry| {
            let mut entry = entry.clone();
            if let Some(c) = codec.iter().find(|c| c.track_number == entry.number) {
                if !c.codec_private.is_empty() {
                    entry.codec_private = Some(c.codec_private.clone().into());
                }
                if let Some((w, h)) = c.video {
                    entry = entry.with_video(u64::from(w), u64::from(h));
                }
                if let Some((rate, channels)) = c.audio {
                    let bit_depth = entry.audio.and_then(|a| a.bit_depth);
                    entry.audio = Some(AudioSettings {
                        sampling_frequency: rate,
                        channels,
                        bit_depth,
                    });
                }
            }
            entry
        })
        .collect()
}

/// Writes verified frames as a standard MKV stream to `W`.
pub struct MkvOutput<W: Write> {
    writer: W,
    muxer: Muxer,
    buf: BytesMut,
    tracks: Option<Vec<TrackEntry>>,
    /// Timecode of the fragment whose cluster opens with its first written frame.
    next_cluster: Option<u64>,
}

impl<W: Write> MkvOutput<W> {
    /// An output whose Info is fixed — TimecodeScale 1 ms, the unit the envelope
    /// authenticates timecodes in — never copied from the input, so an altered input scale
    /// cannot re-time what is written.
    pub fn new(writer: W) -> Self {
        Self {
            writer,
            muxer: Muxer::new(MuxerConfig::default()),
            buf: BytesMut::new(),
            tracks: None,
            next_cluster: None,
        }
    }

    /// Whether the MKV header has been written.
    pub fn started(&self) -> bool {
        self.tracks.is_some()
    }

    /// Prepares a fragment at cluster timecode `timecode` with these (restored) tracks. The
    /// header is written once, with the first fragment's tracks; returns `false` if later
    /// tracks differ (the file keeps the first codec data).
    pub fn begin_fragment(
        &mut self,
        timecode: u64,
        tracks: &[TrackEntry],
    ) -> Result<bool, OutputError> {
        let same = match &self.tracks {
            Some(written) => written.as_slice() == tracks,
            None => {
                self.muxer = Muxer::new(MuxerConfig::default());
                self.muxer.write_header(&mut self.buf, tracks)?;
                self.tracks = Some(tracks.to_vec());
                true
            }
        };
        self.next_cluster = Some(timecode);
        Ok(same)
    }

    /// Writes one verified frame (buffered until [`MkvOutput::flush`]).
    pub fn write_frame(
        &mut self,
        track: u64,
        timecode: u64,
        keyframe: bool,
        data: &[u8],
    ) -> Result<(), OutputError> {
        if let Some(tc) = self.next_cluster.take() {
            self.muxer.start_cluster(&mut self.buf, tc)?;
        }
        match self
            .muxer
            .write_frame(&mut self.buf, track, timecode, keyframe, data)
        {
            // A frame too far from its cluster start for a 16-bit offset: open a new cluster.
            Err(MkvError::RelativeTimecodeOutOfRange { .. }) => {
                self.muxer.start_cluster(&mut self.buf, timecode)?;
                self.muxer
                    .write_frame(&mut self.buf, track, timecode, keyframe, data)?;
            }
            other => other?,
        }
        Ok(())
    }

    /// Writes out everything buffered and flushes the writer.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        if !self.buf.is_empty() {
            self.writer.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.writer.flush()?;
        Ok(())
    }

    /// Flushes and returns the writer.
    pub fn into_inner(mut self) -> Result<W, OutputError> {
        self.flush()?;
        Ok(self.writer)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use kvs_e2ee_mkv::{CODEC_AAC, Demuxer, Event, TrackType};

    use super::*;

    fn codec() -> Vec<TrackCodecData> {
        vec![
            TrackCodecData {
                track_number: 1,
                codec_private: vec![1, 0x64, 0, 0x1f],
                video: Some((640, 360)),
                audio: None,
            },
            TrackCodecData {
                track_number: 2,
                codec_private: vec![0x11, 0x90],
                video: None,
                audio: Some((44_100.0, 1)),
            },
        ]
    }

    #[test]
    fn restore_tracks_puts_back_what_the_camera_sealed() {
        let clear = vec![
            TrackEntry::h264(1, 11),
            TrackEntry::new(2, 12, TrackType::Audio, CODEC_AAC),
            TrackEntry::h264(3, 13),
        ];
        let restored = restore_tracks(&clear, &codec());
        assert_eq!(
            restored[0].codec_private.as_deref(),
            Some(&[1, 0x64, 0, 0x1f][..])
        );
        assert_eq!(
            restored[0].video.map(|v| (v.pixel_width, v.pixel_height)),
            Some((640, 360))
        );
        let audio = restored[1].audio.unwrap();
        assert_eq!((audio.sampling_frequency, audio.channels), (44_100.0, 1));
        // A track the header does not describe stays as it came; numbers and UIDs are kept.
        assert_eq!(restored[2], clear[2]);
        assert_eq!(restored[1].uid, 12);
    }

    #[test]
    fn output_opens_a_new_cluster_when_a_frame_is_too_far_from_its_start() {
        let tracks = restore_tracks(&[TrackEntry::h264(1, 1)], &codec());
        let mut out = MkvOutput::new(Vec::new());
        assert!(out.begin_fragment(1_000, &tracks).unwrap());
        out.write_frame(1, 1_000, true, b"a").unwrap();
        out.write_frame(1, 40_000, false, b"b").unwrap();
        let bytes = out.into_inner().unwrap();
        let mut d = Demuxer::new();
        d.push(&bytes);
        d.finish().unwrap();
        let mut clusters = Vec::new();
        let mut frames = Vec::new();
        while let Some(ev) = d.next_event().unwrap() {
            match ev {
                Event::ClusterStart { timecode, .. } => clusters.push(timecode),
                Event::Frame(f) => frames.push((f.timecode, f.data.to_vec())),
                _ => {}
            }
        }
        assert_eq!(clusters, [1_000, 40_000]);
        assert_eq!(frames, [(1_000, b"a".to_vec()), (40_000, b"b".to_vec())]);
    }
}
