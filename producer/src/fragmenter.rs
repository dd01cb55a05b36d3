//! Cuts a frame stream into fragments that start at video key frames and stay
//! within KVS's fragment limits, so the service never answers with ErrorId
//! 4001 (size), 4002 (duration) or 4004 (timecode not monotonic).
//!
//! Rules:
//! - A fragment starts only on a video key frame: the first one at or after
//!   `start + target` (`--fragment-duration`, default 2 s). Audio frames go
//!   into the current fragment.
//! - Frames before the first video key frame cannot be decoded and are
//!   skipped ([`Fragmenter::skipped_before_keyframe`]).
//! - A frame at `start + 10 s` or later that is not a video key frame would make
//!   a fragment KVS rejects (4002): [`FragmentError::GopTooLong`].
//! - A fragment's payload may not exceed 50 MB (the KVS quota): a larger frame
//!   is [`FragmentError::FrameTooLarge`], a larger GOP [`FragmentError::FragmentTooLarge`].
//!
//! **Timestamp policy: error, no fix-up.** Every fragment must start later
//! than the previous one, a video key frame must be later than its fragment's
//! start, and no other frame may lie more than [`REORDER_TOLERANCE_MS`] before
//! its fragment's start (B-frames carry
//! presentation times slightly out of order, which Matroska allows). A frame
//! violating this is [`FragmentError::TimestampJumpBack`], naming the frame.
//! Rewriting timestamps was rejected: the envelope authenticates each frame's
//! timecode as the camera's claim of *when* it was recorded, so inventing
//! times would make the archive lie; and a clock that runs backwards (NTP
//! step, source restart) is an event the operator must see. The engine can
//! recover by starting a new session at the next key frame.

use crate::media::MediaFrame;

/// KVS rejects fragments longer than this (ErrorId 4002, `MAX_FRAGMENT_DURATION_REACHED`).
pub const KVS_MAX_FRAGMENT_DURATION_MS: i64 = 10_000;

/// KVS's per-fragment size limit, 50 MB (ErrorId 4001 `MAX_FRAGMENT_SIZE_REACHED`).
/// Source: the KVS developer guide's "service quotas" page
/// (docs.aws.amazon.com/kinesisvideostreams/latest/dg/limits.html, media
/// quotas). We take decimal megabytes, the smaller reading. The engine must
/// leave room for Matroska and envelope overhead.
pub const KVS_MAX_FRAGMENT_BYTES: u64 = 50_000_000;

/// How far (ms) a frame may precede its fragment's start timecode: room for
/// B-frame presentation order, far below Matroska's ±32 767 ms block range.
pub const REORDER_TOLERANCE_MS: i64 = 1_000;

/// Fragmenter settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmenterConfig {
    /// Track number of the video track whose key frames start fragments.
    pub video_track: u64,
    /// Target fragment duration in ms (`--fragment-duration`).
    pub target_duration_ms: i64,
    /// Longest fragment allowed, in ms (KVS: 10 s).
    pub max_duration_ms: i64,
    /// Largest fragment payload allowed, in bytes (KVS: 50 MB).
    pub max_bytes: u64,
}

impl FragmenterConfig {
    /// KVS limits with the given video track and target duration.
    pub fn new(video_track: u64, target_duration_ms: i64) -> Self {
        Self {
            video_track,
            target_duration_ms,
            max_duration_ms: KVS_MAX_FRAGMENT_DURATION_MS,
            max_bytes: KVS_MAX_FRAGMENT_BYTES,
        }
    }
}

/// A group of frames that becomes one Matroska cluster / KVS fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Fragment number within this fragmenter, from 0.
    pub index: u64,
    /// Timecode of the key frame that starts it (the cluster timecode).
    pub start_ms: i64,
    /// Frames in arrival order; the first is a video key frame. Empty for
    /// fragments tracked with [`Fragmenter::place`] (the caller keeps the frames).
    pub frames: Vec<MediaFrame>,
    /// Sum of the frames' payload sizes.
    pub payload_bytes: u64,
}

impl Fragment {
    /// Largest frame timecode minus the start: the fragment's span so far.
    pub fn span_ms(&self) -> i64 {
        self.frames
            .iter()
            .map(|f| f.timecode_ms)
            .max()
            .unwrap_or(self.start_ms)
            - self.start_ms
    }
}

/// Where [`Fragmenter::place`] put a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Before the first video key frame: not part of any fragment.
    Skipped,
    /// In the open fragment `index`.
    Continues {
        /// The fragment's index.
        index: u64,
    },
    /// The frame starts fragment `index` at `start_ms`; `closed` is the
    /// fragment it ends, if any.
    Starts {
        /// The new fragment's index.
        index: u64,
        /// Its start (cluster) timecode.
        start_ms: i64,
        /// The fragment that just ended.
        closed: Option<Fragment>,
    },
}

/// Why a frame cannot be placed in a KVS-acceptable fragment.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FragmentError {
    /// No key frame within the maximum fragment duration (KVS ErrorId 4002).
    #[error(
        "no video key frame for {span_ms} ms: fragment {fragment} starts at timecode {start_ms} ms and frame \
         #{frame} (track {track}) is at {timecode_ms} ms, beyond KVS's {max_ms} ms fragment limit (ErrorId 4002); \
         lower the encoder's key-frame interval (GOP), e.g. to 1-2 s"
    )]
    GopTooLong {
        /// Index of the fragment being built.
        fragment: u64,
        /// Its start timecode.
        start_ms: i64,
        /// Index of the offending frame in the input.
        frame: u64,
        /// Track of the offending frame.
        track: u64,
        /// Timecode of the offending frame.
        timecode_ms: i64,
        /// `timecode_ms - start_ms`.
        span_ms: i64,
        /// The limit.
        max_ms: i64,
    },
    /// A frame's timecode goes back (see the module's timestamp policy).
    #[error(
        "timestamp jumps back: frame #{frame} (track {track}, {kind}) has timecode {timecode_ms} ms but {reason} \
         is {reference_ms} ms; KVS needs absolute, increasing timecodes (ErrorId 4004) — check the source's clock"
    )]
    TimestampJumpBack {
        /// Index of the offending frame in the input.
        frame: u64,
        /// Its track.
        track: u64,
        /// "key frame" or "frame".
        kind: &'static str,
        /// Its timecode.
        timecode_ms: i64,
        /// What it was compared with.
        reason: &'static str,
        /// The timecode it had to exceed.
        reference_ms: i64,
    },
    /// A single frame is larger than a whole fragment may be (KVS ErrorId 4001).
    #[error(
        "frame #{frame} (track {track}, timecode {timecode_ms} ms) is {bytes} bytes, over KVS's {max_bytes}-byte fragment limit"
    )]
    FrameTooLarge {
        /// Index of the frame in the input.
        frame: u64,
        /// Its track.
        track: u64,
        /// Its timecode.
        timecode_ms: i64,
        /// Its size.
        bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// A GOP is larger than a fragment may be (KVS ErrorId 4001).
    #[error(
        "fragment {fragment} starting at {start_ms} ms reaches {bytes} bytes at frame #{frame} before the next key \
         frame, over KVS's {max_bytes}-byte limit; lower the bit rate or the key-frame interval"
    )]
    FragmentTooLarge {
        /// Index of the fragment.
        fragment: u64,
        /// Its start timecode.
        start_ms: i64,
        /// Index of the frame that overflowed it.
        frame: u64,
        /// Size it would have reached.
        bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
}

/// Groups frames into [`Fragment`]s (sans I/O; see the module docs for the rules).
#[derive(Debug)]
pub struct Fragmenter {
    config: FragmenterConfig,
    current: Option<Fragment>,
    /// Start timecode of the last fragment started (persists across `finish`).
    last_start_ms: Option<i64>,
    next_index: u64,
    frames_seen: u64,
    skipped: u64,
}

impl Fragmenter {
    /// A fragmenter with no frames yet.
    pub fn new(config: FragmenterConfig) -> Self {
        Self {
            config,
            current: None,
            last_start_ms: None,
            next_index: 0,
            frames_seen: 0,
            skipped: 0,
        }
    }

    /// Frames dropped because they came before the first video key frame.
    pub fn skipped_before_keyframe(&self) -> u64 {
        self.skipped
    }

    /// The fragment being built, if any.
    pub fn current(&self) -> Option<&Fragment> {
        self.current.as_ref()
    }

    /// Adds a frame; returns the previous fragment when this frame starts a new one.
    /// On error the frame is not added and the current fragment is unchanged.
    pub fn push(&mut self, frame: MediaFrame) -> Result<Option<Fragment>, FragmentError> {
        match self.place(&frame)? {
            Placement::Skipped => Ok(None),
            Placement::Continues { .. } => {
                self.keep(frame);
                Ok(None)
            }
            Placement::Starts { closed, .. } => {
                self.keep(frame);
                Ok(closed)
            }
        }
    }

    /// Stores `frame` in the fragment [`Fragmenter::place`] just put it in.
    fn keep(&mut self, frame: MediaFrame) {
        if let Some(cur) = self.current.as_mut() {
            cur.frames.push(frame);
        }
    }

    /// Decides where `frame` goes and updates the fragment bookkeeping, but does
    /// not keep the frame: for a streaming caller that seals and sends each frame
    /// as it arrives (the fragments it gets back have no `frames`). On error
    /// nothing changes (the frame still counts towards the input frame numbers).
    pub fn place(&mut self, frame: &MediaFrame) -> Result<Placement, FragmentError> {
        let n = self.frames_seen;
        self.frames_seen += 1;
        let bytes = frame.data.len() as u64;
        if bytes > self.config.max_bytes {
            return Err(FragmentError::FrameTooLarge {
                frame: n,
                track: frame.track,
                timecode_ms: frame.timecode_ms,
                bytes,
                max_bytes: self.config.max_bytes,
            });
        }
        let is_video_key = frame.keyframe && frame.track == self.config.video_track;
        let Some(cur) = &self.current else {
            if !is_video_key {
                if self.skipped == 0 {
                    tracing::warn!(
                        frame = n,
                        "skipping frames before the first video key frame"
                    );
                }
                self.skipped += 1;
                return Ok(Placement::Skipped);
            }
            self.check_new_start(n, frame)?;
            return Ok(self.start(frame, None));
        };
        let span = frame.timecode_ms.saturating_sub(cur.start_ms);
        if is_video_key && span >= self.config.target_duration_ms {
            self.check_new_start(n, frame)?;
            let done = self.current.take();
            return Ok(self.start(frame, done));
        }
        // Nothing after an IDR in decode order is presented before it, so a
        // video key frame at or before the fragment's start is a clock jump,
        // whatever the reorder tolerance.
        let floor = if is_video_key {
            cur.start_ms
        } else {
            cur.start_ms.saturating_sub(REORDER_TOLERANCE_MS) - 1
        };
        if frame.timecode_ms <= floor {
            return Err(FragmentError::TimestampJumpBack {
                frame: n,
                track: frame.track,
                kind: if frame.keyframe { "key frame" } else { "frame" },
                timecode_ms: frame.timecode_ms,
                reason: "its fragment starts at",
                reference_ms: cur.start_ms,
            });
        }
        if span >= self.config.max_duration_ms {
            return Err(FragmentError::GopTooLong {
                fragment: cur.index,
                start_ms: cur.start_ms,
                frame: n,
                track: frame.track,
                timecode_ms: frame.timecode_ms,
                span_ms: span,
                max_ms: self.config.max_duration_ms,
            });
        }
        if cur.payload_bytes + bytes > self.config.max_bytes {
            return Err(FragmentError::FragmentTooLarge {
                fragment: cur.index,
                start_ms: cur.start_ms,
                frame: n,
                bytes: cur.payload_bytes + bytes,
                max_bytes: self.config.max_bytes,
            });
        }
        let cur = self
            .current
            .as_mut()
            .expect("checked above that a fragment is open");
        cur.payload_bytes += bytes;
        Ok(Placement::Continues { index: cur.index })
    }

    /// Ends the stream: returns the fragment in progress, if any.
    pub fn finish(&mut self) -> Option<Fragment> {
        self.current.take()
    }

    /// KVS 4004: each fragment must start after the previous one.
    fn check_new_start(&self, n: u64, frame: &MediaFrame) -> Result<(), FragmentError> {
        match self.last_start_ms {
            Some(last) if frame.timecode_ms <= last => Err(FragmentError::TimestampJumpBack {
                frame: n,
                track: frame.track,
                kind: "key frame",
                timecode_ms: frame.timecode_ms,
                reason: "the previous fragment starts at",
                reference_ms: last,
            }),
            _ => Ok(()),
        }
    }

    fn start(&mut self, frame: &MediaFrame, closed: Option<Fragment>) -> Placement {
        let index = self.next_index;
        self.next_index += 1;
        self.last_start_ms = Some(frame.timecode_ms);
        self.current = Some(Fragment {
            index,
            start_ms: frame.timecode_ms,
            payload_bytes: frame.data.len() as u64,
            frames: Vec::new(),
        });
        Placement::Starts {
            index,
            start_ms: frame.timecode_ms,
            closed,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use bytes::BytesMut;

    const V: u64 = 1;
    const A: u64 = 2;

    fn frame(track: u64, t: i64, key: bool, len: usize) -> MediaFrame {
        MediaFrame {
            track,
            timecode_ms: t,
            keyframe: key,
            data: BytesMut::from(&vec![0u8; len][..]),
        }
    }

    /// Video at 10 fps with a key frame every `gop` frames, plus audio every 20 ms.
    fn av_stream(seconds: i64, gop: i64) -> Vec<MediaFrame> {
        let mut out = Vec::new();
        for ms in (0..seconds * 1000).step_by(10) {
            if ms % 100 == 0 {
                out.push(frame(V, 1000 + ms, (ms / 100) % gop == 0, 10));
            }
            if ms % 20 == 0 {
                out.push(frame(A, 1000 + ms, true, 2));
            }
        }
        out
    }

    fn run(cfg: FragmenterConfig, frames: Vec<MediaFrame>) -> Result<Vec<Fragment>, FragmentError> {
        let mut f = Fragmenter::new(cfg);
        let mut out = Vec::new();
        for fr in frames {
            out.extend(f.push(fr)?);
        }
        out.extend(f.finish());
        Ok(out)
    }

    #[test]
    fn fragments_start_at_first_keyframe_at_or_after_target() {
        // GOP 0.7 s, target 2 s: key frames at 0, 0.7, 1.4, 2.1 … → cuts at 2.1, 4.2.
        let frags = run(FragmenterConfig::new(V, 2000), av_stream(5, 7)).unwrap();
        let starts: Vec<i64> = frags.iter().map(|f| f.start_ms - 1000).collect();
        assert_eq!(starts, vec![0, 2100, 4200]);
        for f in &frags {
            assert!(f.frames[0].keyframe && f.frames[0].track == V);
            assert_eq!(
                f.payload_bytes,
                f.frames.iter().map(|x| x.data.len() as u64).sum::<u64>()
            );
        }
        assert_eq!(
            frags.iter().map(|f| f.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn audio_frames_go_into_the_current_fragment_and_never_start_one() {
        let frags = run(FragmenterConfig::new(V, 1000), av_stream(3, 10)).unwrap();
        assert_eq!(frags.len(), 3);
        for f in &frags {
            // All audio between this key frame and the next belongs here.
            assert!(
                f.frames
                    .iter()
                    .filter(|x| x.track == A)
                    .all(|x| x.timecode_ms >= f.start_ms)
            );
            assert_eq!(f.frames.iter().filter(|x| x.track == A).count(), 50);
        }
    }

    #[test]
    fn frames_before_first_video_keyframe_are_skipped() {
        let mut frames = vec![frame(A, 900, true, 1), frame(V, 950, false, 1)];
        frames.extend(av_stream(1, 10));
        let mut f = Fragmenter::new(FragmenterConfig::new(V, 2000));
        for fr in frames {
            assert!(f.push(fr).unwrap().is_none());
        }
        assert_eq!(f.skipped_before_keyframe(), 2);
        assert_eq!(f.finish().unwrap().start_ms, 1000);
    }

    #[test]
    fn gop_longer_than_ten_seconds_is_an_error_naming_timestamps() {
        let err = run(FragmenterConfig::new(V, 2000), av_stream(12, 120)).unwrap_err();
        match &err {
            FragmentError::GopTooLong {
                start_ms,
                timecode_ms,
                span_ms,
                ..
            } => {
                assert_eq!((*start_ms, *timecode_ms, *span_ms), (1000, 11_000, 10_000));
            }
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("4002") && msg.contains("key-frame interval"),
            "{msg}"
        );
    }

    #[test]
    fn gop_of_just_under_ten_seconds_is_accepted() {
        let frags = run(FragmenterConfig::new(V, 2000), av_stream(20, 99)).unwrap();
        assert!(
            frags
                .iter()
                .all(|f| f.span_ms() < KVS_MAX_FRAGMENT_DURATION_MS)
        );
    }

    #[test]
    fn keyframe_jumping_back_is_an_error_naming_the_frame() {
        let frames = vec![
            frame(V, 5000, true, 1),
            frame(V, 7000, true, 1),
            frame(V, 6000, true, 1),
        ];
        let err = run(FragmenterConfig::new(V, 1000), frames).unwrap_err();
        assert_eq!(
            err,
            FragmentError::TimestampJumpBack {
                frame: 2,
                track: V,
                kind: "key frame",
                timecode_ms: 6000,
                reason: "its fragment starts at",
                reference_ms: 7000,
            }
        );
        // A key frame equal to the previous fragment start cannot start a fragment either.
        let frames = [
            frame(V, 5000, true, 1),
            frame(V, 7000, true, 1),
            frame(V, 7000, true, 1),
        ];
        let mut f = Fragmenter::new(FragmenterConfig {
            target_duration_ms: 0,
            ..FragmenterConfig::new(V, 0)
        });
        f.push(frames[0].clone()).unwrap();
        f.push(frames[1].clone()).unwrap();
        assert!(matches!(
            f.push(frames[2].clone()),
            Err(FragmentError::TimestampJumpBack { frame: 2, .. })
        ));
    }

    #[test]
    fn b_frame_reordering_within_tolerance_is_accepted() {
        // Presentation order of I P B B: 0, 100, 33, 67 plus a B before the I.
        let frames = vec![
            frame(V, 1000, true, 1),
            frame(V, 1100, false, 1),
            frame(V, 1033, false, 1),
            frame(V, 967, false, 1),
            frame(A, 990, true, 1),
        ];
        let frags = run(FragmenterConfig::new(V, 2000), frames).unwrap();
        assert_eq!(frags[0].frames.len(), 5);
        let err = run(
            FragmenterConfig::new(V, 2000),
            vec![frame(V, 5000, true, 1), frame(A, 3999, true, 1)],
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                FragmentError::TimestampJumpBack {
                    frame: 1,
                    track: A,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn oversized_frame_and_gop_are_errors() {
        let cfg = FragmenterConfig {
            max_bytes: 100,
            ..FragmenterConfig::new(V, 2000)
        };
        let err = run(cfg, vec![frame(V, 0, true, 101)]).unwrap_err();
        assert!(
            matches!(err, FragmentError::FrameTooLarge { bytes: 101, .. }),
            "{err:?}"
        );
        let err = run(cfg, vec![frame(V, 0, true, 60), frame(V, 33, false, 41)]).unwrap_err();
        assert!(
            matches!(
                err,
                FragmentError::FragmentTooLarge {
                    bytes: 101,
                    frame: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        // The size restarts with each fragment.
        let frags = run(cfg, vec![frame(V, 0, true, 60), frame(V, 2000, true, 60)]).unwrap();
        assert_eq!(frags.len(), 2);
    }
}
