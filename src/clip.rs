//! The demo's bundled clip, and the frames of a whole MKV file, for comparing what went
//! into the camera with what came out of the viewer.
//!
//! The clip is made by the project (10 s of ffmpeg's `testsrc` at 640×360, H.264 + AAC,
//! 578 KB; the command is in `producer/tests/data/README.md`) and compiled into the demo so
//! `cargo run --bin kvs-e2ee-demo` needs no file next to it.

use kvs_e2ee_mkv::{Demuxer, Event, MkvError, TrackEntry};

/// The demo's sample clip (Matroska).
pub const DEMO_CLIP: &[u8] = include_bytes!("../producer/tests/data/demo-clip.mkv");

/// One frame of an MKV file, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipFrame {
    /// Track number.
    pub track: u64,
    /// Absolute timecode, in `TimecodeScale` units (milliseconds for our files).
    pub timecode: u64,
    /// Key frame flag.
    pub keyframe: bool,
    /// The frame bytes.
    pub data: Vec<u8>,
}

/// The tracks and frames of a whole MKV file.
#[derive(Debug, Clone, Default)]
pub struct Clip {
    /// Track entries of the (last) Tracks element.
    pub tracks: Vec<TrackEntry>,
    /// Every frame, in file order.
    pub frames: Vec<ClipFrame>,
}

impl Clip {
    /// Reads every track and frame of `mkv`; an error names the byte offset.
    pub fn parse(mkv: &[u8]) -> Result<Self, MkvError> {
        let mut demuxer = Demuxer::new();
        demuxer.push(mkv);
        let mut clip = Clip::default();
        while let Some(event) = demuxer.next_event()? {
            match event {
                Event::Tracks(tracks) => clip.tracks = tracks.entries,
                Event::Frame(f) => clip.frames.push(ClipFrame {
                    track: f.track,
                    timecode: f.timecode,
                    keyframe: f.keyframe,
                    data: f.data.to_vec(),
                }),
                _ => {}
            }
        }
        demuxer.finish()?;
        Ok(clip)
    }

    /// Frames of `track`.
    pub fn frames_of(&self, track: u64) -> impl Iterator<Item = &ClipFrame> + '_ {
        self.frames.iter().filter(move |f| f.track == track)
    }

    /// The clip's duration from its first to its last frame, in timecode units.
    pub fn span(&self) -> u64 {
        let first = self.frames.iter().map(|f| f.timecode).min().unwrap_or(0);
        let last = self.frames.iter().map(|f| f.timecode).max().unwrap_or(0);
        last - first
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bundled_clip_has_ten_seconds_of_video_and_audio() {
        let clip = Clip::parse(DEMO_CLIP).unwrap();
        assert_eq!(clip.tracks.len(), 2);
        assert_eq!(clip.frames_of(1).count(), 300, "10 s at 30 fps");
        assert!(
            clip.frames_of(2).count() > 400,
            "AAC at 48 kHz: ~469 frames"
        );
        assert!(clip.span() >= 9_900);
    }

    #[test]
    fn truncated_clip_is_an_error_not_a_panic() {
        let err = Clip::parse(&DEMO_CLIP[..DEMO_CLIP.len() / 2]).unwrap_err();
        assert!(!err.to_string().is_empty());
    }
}
