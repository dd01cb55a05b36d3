//! The playable MKV written for the viewer: standard Matroska with the codec data restored
//! from the verified header, original timestamps, one Cluster per fragment.

use std::io::Write;

use bytes::BytesMut;
use kvs_e2ee_shared::envelope::TrackCodecData;
use kvs_e2ee_shared::mkv::{AudioSettings, MkvError, Muxer, MuxerConfig, TrackEntry};

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
    timecode_scale_ns: u64,
    tracks: Option<Vec<TrackEntry>>,
    /// Timecode of the fragment whose cluster opens with its first written frame.
    next_cluster: Option<u64>,
}

impl<W: Write> MkvOutput<W> {
    /// An output with the given TimecodeScale (the input's, so timestamps stay as they were).
    pub fn new(writer: W, timecode_scale_ns: u64) -> Self {
        Self {
            writer,
            muxer: Muxer::new(MuxerConfig::default().with_timecode_scale_ns(timecode_scale_ns)),
            buf: BytesMut::new(),
            timecode_scale_ns,
            tracks: None,
            next_cluster: None,
        }
    }

    /// Sets the TimecodeScale; it takes effect if the header is not yet written.
    pub fn set_timecode_scale(&mut self, ns: u64) {
        self.timecode_scale_ns = ns;
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
                self.muxer = Muxer::new(
                    MuxerConfig::default().with_timecode_scale_ns(self.timecode_scale_ns),
                );
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
