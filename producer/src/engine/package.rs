//! Sans-I/O packaging: source events → encrypted KVS Matroska bytes, one frame
//! at a time (each frame is sealed and appended the moment it arrives, so
//! encryption adds no fragment-length delay).
//!
//! Byte layout of one fragment, as stored and (re)sent: the `Tags` element
//! [`SessionSealer::begin_fragment`] returns (previous header repeated + this
//! fragment's header), the Cluster start, then one SimpleBlock per frame.
//! The last fragment of a session also carries the closing `Tags` (last
//! header + end record) from [`SessionSealer::finish`], then PIC's
//! `AWS_KINESISVIDEO_END_OF_FRAGMENT` tag: as at the end of every PIC upload
//! (`Stream.c`), the service completes the fragment — with those trailing tags —
//! on that tag instead of waiting for the connection to close, so the end record
//! takes the path the SDK's own users exercise (producer-c issue 405: "the last
//! fragment had no tags"). The service consumes the tag; viewers never see it. The Matroska header
//! (EBML, Segment, Info, Tracks without codec data) is per session and sent
//! once per connection, before that session's first fragment on it.

use bytes::{Bytes, BytesMut};
use kvs_e2ee_aws::putmedia;
use kvs_e2ee_envelope::{
    FrameCipher, FrameMeta, PublicKey, SealError, SecretKey, SessionConfig, SessionSealer, TAG_LEN,
    TrackCodecData,
};
use kvs_e2ee_mkv::{MkvError, Muxer, MuxerConfig, TrackEntry, TrackType};
use rand_core::CryptoRng;

use crate::fragmenter::{FragmentError, Fragmenter, FragmenterConfig, Placement};
use crate::media::{MediaFrame, SourceEvent, TrackInfo};

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// A frame arrived before the source described its tracks.
    #[error("frame on track {track} at {timecode_ms} ms arrived before any track description")]
    NoTracks {
        /// Its track.
        track: u64,
        /// Its timecode.
        timecode_ms: i64,
    },
    /// The track set has no video track to cut fragments on.
    #[error(
        "the source has no video track (tracks: {tracks}); KVS fragments start at video key frames"
    )]
    NoVideoTrack {
        /// Codec ids of the tracks found.
        tracks: String,
    },
    /// A frame names a track the source did not describe.
    #[error("frame at {timecode_ms} ms is on track {track}, which the source did not describe")]
    UnknownTrack {
        /// Its track.
        track: u64,
        /// Its timecode.
        timecode_ms: i64,
    },
    /// A timecode before the Unix epoch (KVS needs absolute times).
    #[error("frame on track {track} has a negative timecode ({timecode_ms} ms)")]
    NegativeTimecode {
        /// Its track.
        track: u64,
        /// Its timecode.
        timecode_ms: i64,
    },
    /// The frame cannot be placed in a fragment KVS accepts.
    #[error(transparent)]
    Fragment(#[from] FragmentError),
    /// Sealing failed (recipients, header size).
    #[error("encrypting: {0}")]
    Seal(#[from] SealError),
    /// The Matroska writer refused (track numbers, tags, relative timecodes).
    #[error("writing Matroska: {0}")]
    Mkv(#[from] MkvError),
}

/// A finished fragment, ready for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedFragment {
    /// Session it belongs to (see [`Packager::header`]).
    pub session: u64,
    /// Cluster timecode in ms: what KVS's ACKs name it by.
    pub timecode_ms: i64,
    /// All its bytes.
    pub bytes: Bytes,
}

/// The fragment being written.
#[derive(Debug)]
pub struct OpenFragment {
    /// Session it belongs to.
    pub session: u64,
    /// Cluster timecode in ms.
    pub timecode_ms: i64,
    /// Its bytes so far (only ever appended to).
    pub bytes: BytesMut,
}

struct Session {
    number: u64,
    sealer: SessionSealer,
    muxer: Muxer,
    fragmenter: Fragmenter,
    tracks: Vec<TrackInfo>,
    header: Bytes,
}

/// Turns [`SourceEvent`]s into fragment bytes (see the module docs).
pub struct Packager<R> {
    stream_name: String,
    camera: SecretKey,
    recipients: Vec<PublicKey>,
    fragment_ms: i64,
    frame_cipher: FrameCipher,
    rng: R,
    /// Drawn once per packager, as PIC draws one per stream (`Stream.c`, "Fix-up/store
    /// the segment Uid to make it random if NULL").
    segment_uid: [u8; 16],
    session: Option<Session>,
    sessions_started: u64,
    open: Option<OpenFragment>,
}

/// The track entry written in the clear: honest codec id, no codec data or
/// sizes (they travel encrypted in the fragment header, FORMAT.md §5).
fn clear_entry(t: &TrackInfo) -> TrackEntry {
    let kind = if t.is_video() {
        TrackType::Video
    } else if t.audio.is_some() {
        TrackType::Audio
    } else {
        TrackType::Other(0x11)
    };
    // TrackUID must be non-zero; the track number is (validated ≥ 1 by the muxer).
    let entry = TrackEntry::new(t.number, t.number.max(1), kind, t.codec_id.clone());
    // producer-c's default track names (`StreamInfoProvider.h`).
    match kind {
        TrackType::Video => entry.with_name(VIDEO_TRACK_NAME),
        TrackType::Audio => entry.with_name(AUDIO_TRACK_NAME),
        _ => entry,
    }
}

/// producer-c's `DEFAULT_VIDEO_TRACK_NAME`.
pub const VIDEO_TRACK_NAME: &str = "kvs_video_track";
/// producer-c's `DEFAULT_AUDIO_TRACK_NAME`.
pub const AUDIO_TRACK_NAME: &str = "kvs_audio_track";

fn codec_data(t: &TrackInfo) -> TrackCodecData {
    TrackCodecData {
        track_number: t.number,
        codec_private: t.codec_private.clone(),
        video: t.video,
        audio: t.audio.map(|(hz, ch)| (f64::from(hz), u64::from(ch))),
    }
}

impl<R: CryptoRng> Packager<R> {
    /// A packager for `stream_name`, sealing with `camera` for `recipients`, frames
    /// with [`FrameCipher::fastest_here`] (see [`Packager::with_frame_cipher`]).
    pub fn new(
        stream_name: String,
        camera: SecretKey,
        recipients: Vec<PublicKey>,
        fragment_ms: i64,
        mut rng: R,
    ) -> Self {
        let mut segment_uid = [0u8; 16];
        rng.fill_bytes(&mut segment_uid);
        Self {
            segment_uid,
            stream_name,
            camera,
            recipients,
            fragment_ms,
            frame_cipher: FrameCipher::fastest_here(),
            rng,
            session: None,
            sessions_started: 0,
            open: None,
        }
    }

    /// Seals frames with `cipher` from the next session on.
    pub fn with_frame_cipher(mut self, cipher: FrameCipher) -> Self {
        self.frame_cipher = cipher;
        self
    }

    /// The Matroska header of the current session, once tracks are known.
    pub fn header(&self) -> Option<(u64, &Bytes)> {
        self.session.as_ref().map(|s| (s.number, &s.header))
    }

    /// The fragment being written, if any.
    pub fn open(&self) -> Option<&OpenFragment> {
        self.open.as_ref()
    }

    /// Replaces the recipients; takes effect at the next fragment.
    pub fn set_recipients(&mut self, recipients: Vec<PublicKey>) -> Result<(), PackageError> {
        if let Some(s) = &mut self.session {
            s.sealer.set_recipients(recipients.clone())?;
        }
        self.recipients = recipients;
        Ok(())
    }

    /// Frames skipped before the first key frame of the current session.
    pub fn skipped_frames(&self) -> u64 {
        self.session
            .as_ref()
            .map_or(0, |s| s.fragmenter.skipped_before_keyframe())
    }

    /// Handles one event; returns the fragment it closed, if any. New bytes
    /// are appended to [`Packager::open`].
    pub fn push(&mut self, event: SourceEvent) -> Result<Vec<ClosedFragment>, PackageError> {
        match event {
            SourceEvent::Tracks(tracks) => self.on_tracks(tracks),
            SourceEvent::Frame(frame) => self.on_frame(frame).map(|c| c.into_iter().collect()),
        }
    }

    /// Graceful end: closes the envelope chain and returns the last fragment
    /// (with the closing tags), if any.
    pub fn finish(&mut self) -> Result<Option<ClosedFragment>, PackageError> {
        let Some(mut s) = self.session.take() else {
            return Ok(None);
        };
        let tags = s.sealer.finish(&mut self.rng)?;
        let Some(mut open) = self.open.take() else {
            // Nothing was sent in this session: nothing to close.
            return Ok(None);
        };
        s.muxer.write_tags(&mut open.bytes, &tags)?;
        s.muxer
            .write_tags(&mut open.bytes, &[(putmedia::tags::END_OF_FRAGMENT, "")])?;
        Ok(Some(ClosedFragment {
            session: open.session,
            timecode_ms: open.timecode_ms,
            bytes: open.bytes.freeze(),
        }))
    }

    fn on_tracks(&mut self, tracks: Vec<TrackInfo>) -> Result<Vec<ClosedFragment>, PackageError> {
        if self.session.as_ref().is_some_and(|s| s.tracks == tracks) {
            return Ok(Vec::new());
        }
        // A changed track set (new SPS/PPS, new segment) starts a new envelope
        // session and Matroska segment: codec data is fixed per session.
        let closed = self.finish()?;
        let video =
            tracks
                .iter()
                .find(|t| t.is_video())
                .ok_or_else(|| PackageError::NoVideoTrack {
                    tracks: tracks
                        .iter()
                        .map(|t| t.codec_id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        let fragmenter = Fragmenter::new(FragmenterConfig::new(video.number, self.fragment_ms));
        let sealer = SessionSealer::new(
            SessionConfig {
                stream_name: self.stream_name.clone(),
                camera: self.camera.clone(),
                recipients: self.recipients.clone(),
                tracks: tracks.iter().map(codec_data).collect(),
                frame_cipher: self.frame_cipher,
            },
            &mut self.rng,
        )?;
        let mut muxer = Muxer::new(MuxerConfig::default().with_segment_uid(self.segment_uid));
        let mut header = BytesMut::new();
        let entries: Vec<TrackEntry> = tracks.iter().map(clear_entry).collect();
        muxer.write_header(&mut header, &entries)?;
        let number = self.sessions_started;
        self.sessions_started += 1;
        tracing::info!(
            session = number,
            tracks = tracks.len(),
            max_recipients = sealer.max_recipients(),
            frame_cipher = %self.frame_cipher,
            "tracks known: starting an encrypted session"
        );
        self.session = Some(Session {
            number,
            sealer,
            muxer,
            fragmenter,
            tracks,
            header: header.freeze(),
        });
        Ok(closed.into_iter().collect())
    }

    fn on_frame(&mut self, frame: MediaFrame) -> Result<Option<ClosedFragment>, PackageError> {
        let Some(s) = self.session.as_mut() else {
            return Err(PackageError::NoTracks {
                track: frame.track,
                timecode_ms: frame.timecode_ms,
            });
        };
        if !s.tracks.iter().any(|t| t.number == frame.track) {
            return Err(PackageError::UnknownTrack {
                track: frame.track,
                timecode_ms: frame.timecode_ms,
            });
        }
        let timecode =
            u64::try_from(frame.timecode_ms).map_err(|_| PackageError::NegativeTimecode {
                track: frame.track,
                timecode_ms: frame.timecode_ms,
            })?;
        let mut closed = None;
        match s.fragmenter.place(&frame)? {
            Placement::Skipped => return Ok(None),
            Placement::Continues { .. } => {}
            Placement::Starts { start_ms, .. } => {
                // `place` accepted the start, so it is ≥ the frame's (non-negative) timecode.
                let start = u64::try_from(start_ms).unwrap_or(timecode);
                let tags = s.sealer.begin_fragment(start, &mut self.rng)?;
                closed = self.open.take().map(|o| ClosedFragment {
                    session: o.session,
                    timecode_ms: o.timecode_ms,
                    bytes: o.bytes.freeze(),
                });
                let mut bytes = BytesMut::new();
                s.muxer.write_tags(&mut bytes, &tags)?;
                s.muxer.start_cluster(&mut bytes, start)?;
                self.open = Some(OpenFragment {
                    session: s.number,
                    timecode_ms: start_ms,
                    bytes,
                });
            }
        }
        let open = self
            .open
            .as_mut()
            .expect("a placed frame always has an open fragment");
        // The block is written once, in place: header, the plaintext copied straight into
        // the fragment, sealed there, then the tag (no second copy, no growing the frame).
        let mark = open.bytes.len();
        s.muxer.write_simple_block_header(
            &mut open.bytes,
            frame.track,
            timecode,
            frame.keyframe,
            frame.data.len() + TAG_LEN,
        )?;
        let start = open.bytes.len();
        open.bytes.extend_from_slice(&frame.data);
        let meta = FrameMeta {
            track: frame.track,
            timecode,
            keyframe: frame.keyframe,
        };
        match s
            .sealer
            .seal_frame_detached(&meta, &mut open.bytes[start..])
        {
            Ok(tag) => open.bytes.extend_from_slice(&tag),
            Err(e) => {
                // Nothing half-written stays in the fragment.
                open.bytes.truncate(mark);
                return Err(e.into());
            }
        }
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::media::CODEC_ID_H264;
    use kvs_e2ee_envelope::{FragmentOpener, OpenerConfig};
    use kvs_e2ee_mkv::{Demuxer, Event};
    use rand::SeedableRng;

    pub(crate) fn video_track() -> TrackInfo {
        TrackInfo {
            number: 1,
            codec_id: CODEC_ID_H264.into(),
            codec_private: vec![1, 0x64, 0, 0x1f, 0xff],
            video: Some((320, 240)),
            audio: None,
        }
    }

    pub(crate) fn frame(t: i64, key: bool) -> MediaFrame {
        MediaFrame {
            track: 1,
            timecode_ms: t,
            keyframe: key,
            data: BytesMut::from(format!("frame at {t}").as_bytes()),
        }
    }

    #[test]
    fn packaged_stream_decrypts_frame_by_frame_with_the_shared_opener() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let camera = SecretKey::generate(&mut rng);
        let viewer = SecretKey::generate(&mut rng);
        let mut p = Packager::new(
            "cam".into(),
            camera.clone(),
            vec![viewer.public_key()],
            1000,
            rng,
        );
        let mut wire = BytesMut::new();
        assert!(
            p.push(SourceEvent::Tracks(vec![video_track()]))
                .unwrap()
                .is_empty()
        );
        wire.extend_from_slice(p.header().unwrap().1);
        let mut closed = Vec::new();
        for i in 0..30 {
            let t = 1_700_000_000_000 + i * 100;
            let before = p.open().map_or(0, |o| o.bytes.len());
            closed.extend(p.push(SourceEvent::Frame(frame(t, i % 10 == 0))).unwrap());
            // The frame's bytes are available at once (no fragment-length delay).
            assert!(p.open().unwrap().bytes.len() > before || i % 10 == 0);
        }
        closed.extend(p.finish().unwrap());
        assert_eq!(closed.len(), 3);
        assert_eq!(
            closed
                .iter()
                .map(|c| c.timecode_ms - 1_700_000_000_000)
                .collect::<Vec<_>>(),
            vec![0, 1000, 2000]
        );
        for c in &closed {
            wire.extend_from_slice(&c.bytes);
        }
        // Read it back as a viewer would.
        let opener = OpenerConfig {
            stream_name: "cam".into(),
            identities: vec![viewer],
            trusted_cameras: vec![camera.public_key()],
            danger_accept_plaintext: false,
        };
        let viewed = kvs_e2ee_test_support::view_mkv(opener, &wire).unwrap();
        assert!(viewed.failures.is_empty(), "{:?}", viewed.failures);
        assert!(viewed.closed());
        let plain: Vec<String> = viewed
            .frames
            .iter()
            .map(|(_, d)| String::from_utf8(d.clone()).unwrap())
            .collect();
        assert_eq!(plain.len(), 30);
        assert_eq!(
            plain[29],
            format!("frame at {}", 1_700_000_000_000i64 + 2900)
        );
        let mut d = Demuxer::new();
        d.push(&wire);
        d.finish().unwrap();
        let mut tracks_seen = None;
        while let Some(ev) = d.next_event().unwrap() {
            if let Event::Tracks(t) = ev {
                tracks_seen = Some(t);
            }
        }
        // The clear Tracks carry no codec data and no picture size.
        let entry = &tracks_seen.unwrap().entries[0];
        assert_eq!((entry.codec_private.clone(), entry.video), (None, None));
    }

    /// Every event of `bytes` (a whole header, or fragments after a header).
    fn events(bytes: &[u8]) -> Vec<Event> {
        let mut d = Demuxer::new();
        d.push(bytes);
        d.finish().unwrap();
        std::iter::from_fn(|| d.next_event().unwrap()).collect()
    }

    #[test]
    fn the_header_and_the_last_fragment_follow_pic() {
        let packager = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let camera = SecretKey::generate(&mut rng);
            let viewer = SecretKey::generate(&mut rng).public_key();
            let mut p = Packager::new("cam".into(), camera, vec![viewer], 1000, rng);
            let audio = TrackInfo {
                number: 2,
                codec_id: "A_AAC".into(),
                codec_private: vec![0x12, 0x10],
                video: None,
                audio: Some((48_000, 2)),
            };
            p.push(SourceEvent::Tracks(vec![video_track(), audio]))
                .unwrap();
            p
        };
        let (mut a, b) = (packager(1), packager(2));
        let info_and_tracks = |p: &Packager<rand::rngs::StdRng>| {
            let evs = events(p.header().unwrap().1);
            let uid = evs.iter().find_map(|e| match e {
                Event::Info(i) => i.segment_uid.clone(),
                _ => None,
            });
            let names: Vec<Option<String>> = evs
                .iter()
                .find_map(|e| match e {
                    Event::Tracks(t) => Some(t.entries.iter().map(|e| e.name.clone()).collect()),
                    _ => None,
                })
                .unwrap();
            (uid.unwrap(), names)
        };
        let (uid_a, names) = info_and_tracks(&a);
        let (uid_b, _) = info_and_tracks(&b);
        // A random SegmentUID per stream, as PIC draws one (not its all-0x55 default).
        assert_ne!(uid_a, uid_b);
        assert_ne!(&uid_a[..], &[0x55; 16]);
        assert_eq!(
            names,
            [
                Some(VIDEO_TRACK_NAME.to_owned()),
                Some(AUDIO_TRACK_NAME.to_owned())
            ]
        );

        // The last fragment ends with the closing tags, then PIC's end-of-fragment tag.
        for i in 0..5 {
            a.push(SourceEvent::Frame(frame(1_000 + i * 100, i == 0)))
                .unwrap();
        }
        let last = a.finish().unwrap().unwrap();
        let mut header = BytesMut::from(&a_header_for_reading()[..]);
        header.extend_from_slice(&last.bytes);
        let tags: Vec<Vec<String>> = events(&header)
            .into_iter()
            .filter_map(|e| match e {
                Event::Tags(t) => Some(t.tags.into_iter().map(|t| t.name).collect()),
                _ => None,
            })
            .collect();
        assert_eq!(
            tags.last().unwrap(),
            &[putmedia::tags::END_OF_FRAGMENT.to_owned()]
        );
        assert!(tags.len() > 2, "closing tags come before it: {tags:?}");
    }

    /// A header for demuxing fragment bytes on their own.
    fn a_header_for_reading() -> Bytes {
        let mut out = BytesMut::new();
        Muxer::new(MuxerConfig::default())
            .write_header(
                &mut out,
                &[TrackEntry::new(1, 1, TrackType::Video, CODEC_ID_H264)],
            )
            .unwrap();
        out.freeze()
    }

    #[test]
    fn frames_before_tracks_or_on_unknown_tracks_are_errors() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let camera = SecretKey::generate(&mut rng);
        let viewer = SecretKey::generate(&mut rng).public_key();
        let mut p = Packager::new("cam".into(), camera, vec![viewer], 1000, rng);
        assert!(matches!(
            p.push(SourceEvent::Frame(frame(5, true))),
            Err(PackageError::NoTracks { .. })
        ));
        p.push(SourceEvent::Tracks(vec![video_track()])).unwrap();
        let mut f = frame(5, true);
        f.track = 9;
        assert!(matches!(
            p.push(SourceEvent::Frame(f)),
            Err(PackageError::UnknownTrack { track: 9, .. })
        ));
    }

    #[test]
    fn new_recipients_take_effect_at_the_next_fragment() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let camera = SecretKey::generate(&mut rng);
        let a = SecretKey::generate(&mut rng);
        let b = SecretKey::generate(&mut rng);
        let mut p = Packager::new(
            "cam".into(),
            camera.clone(),
            vec![a.public_key()],
            1000,
            rng,
        );
        p.push(SourceEvent::Tracks(vec![video_track()])).unwrap();
        let mut wire = BytesMut::new();
        wire.extend_from_slice(p.header().unwrap().1);
        let mut closed = Vec::new();
        for i in 0..30 {
            if i == 5 {
                // Mid-fragment: fragment 0 stays for `a`; fragments 1 and 2 are for `b`.
                p.set_recipients(vec![b.public_key()]).unwrap();
            }
            let t = 1_700_000_000_000 + i * 100;
            closed.extend(p.push(SourceEvent::Frame(frame(t, i % 10 == 0))).unwrap());
        }
        closed.extend(p.finish().unwrap());
        for c in &closed {
            wire.extend_from_slice(&c.bytes);
        }
        let readable = |viewer: &SecretKey| {
            let mut opener = FragmentOpener::new(OpenerConfig {
                stream_name: "cam".into(),
                identities: vec![viewer.clone()],
                trusted_cameras: vec![camera.public_key()],
                danger_accept_plaintext: false,
            });
            let mut d = Demuxer::new();
            d.push(&wire);
            let mut tags = Vec::new();
            let mut seen = Vec::new();
            while let Some(ev) = d.next_event().unwrap() {
                match ev {
                    Event::Tags(t) => tags.extend(
                        t.tags
                            .iter()
                            .map(|t| (t.name.clone(), t.as_str().unwrap_or_default().to_owned())),
                    ),
                    // Headers this viewer is not a recipient of are errors; the
                    // others in the group are still accepted.
                    Event::ClusterStart { timecode, .. } => {
                        let _ = opener.on_tags(&std::mem::take(&mut tags));
                        seen.push(opener.has_header_for(timecode));
                    }
                    _ => {}
                }
            }
            seen
        };
        assert_eq!(readable(&a), vec![true, false, false]);
        assert_eq!(readable(&b), vec![false, true, true]);
    }
}
