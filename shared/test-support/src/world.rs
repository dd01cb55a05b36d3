//! The test world every crate's tests share: deterministic keys, a camera session sealed
//! with the real envelope, and a model of how KVS GetMedia returns it — one segment per
//! cluster: segment N = [tags sent before cluster N, only for the first cluster of a
//! session] + cluster N + the tags sent before cluster N+1 (or, after the last cluster, the
//! tags written by `finish`). The envelope's test vectors are generated from it, so it
//! changes only with them.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use kvs_e2ee_envelope::{
    FragmentOpener, FrameCipher, FrameMeta, OpenerConfig, PublicKey, SecretKey, SessionConfig,
    SessionSealer, StreamConfig, StreamOpener, Tag, TrackCodecData,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

/// The avcC of the world's video track: version, profile 100, compat, level 31, SPS/PPS.
pub const AVCC: &str =
    "0164001fffe1001a6764001facd9405005bb011000000300100000030320f183196001000568ebecb22c";

/// One frame as carried in a SimpleBlock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub track: u64,
    pub timecode: u64,
    pub keyframe: bool,
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
}

impl Frame {
    pub fn meta(&self) -> FrameMeta {
        FrameMeta {
            track: self.track,
            timecode: self.timecode,
            keyframe: self.keyframe,
        }
    }
}

/// A top-level element of the stream, as the reader sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    Tags { tags: Vec<Tag> },
    Cluster { timecode: u64, frames: Vec<Frame> },
}

pub type Segment = Vec<Item>;

/// Serde for bytes as hex (the vectors' encoding).
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

pub const STREAM: &str = "front-door";
pub const FRAGMENTS: usize = 5;
pub const FRAMES: usize = 4;
pub const BASE_TC: u64 = 10_000;

/// Deterministic keys of one test world.
pub struct World {
    pub camera: SecretKey,
    pub other_camera: SecretKey,
    pub viewer: SecretKey,
    pub second_viewer: SecretKey,
    pub outsider: SecretKey,
    pub rng: StdRng,
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        Self {
            camera: SecretKey::generate(&mut rng),
            other_camera: SecretKey::generate(&mut rng),
            viewer: SecretKey::generate(&mut rng),
            second_viewer: SecretKey::generate(&mut rng),
            outsider: SecretKey::generate(&mut rng),
            rng,
        }
    }

    pub fn tracks() -> Vec<TrackCodecData> {
        vec![
            TrackCodecData {
                track_number: 1,
                codec_private: hex::decode(AVCC).unwrap(),
                video: Some((1280, 720)),
                audio: None,
            },
            TrackCodecData {
                track_number: 2,
                codec_private: vec![0x11, 0x90],
                video: None,
                audio: Some((48_000.0, 2)),
            },
        ]
    }

    pub fn sealer(&mut self, stream: &str, recipients: Vec<PublicKey>) -> SessionSealer {
        self.sealer_with(stream, recipients, FrameCipher::ChaCha20Poly1305)
    }

    pub fn sealer_with(
        &mut self,
        stream: &str,
        recipients: Vec<PublicKey>,
        frame_cipher: FrameCipher,
    ) -> SessionSealer {
        SessionSealer::new(
            SessionConfig {
                stream_name: stream.into(),
                camera: self.camera.clone(),
                recipients,
                tracks: Self::tracks(),
                frame_cipher,
            },
            &mut self.rng,
        )
        .unwrap()
    }

    pub fn opener_config(&self, identity: &SecretKey, trusted: Vec<PublicKey>) -> OpenerConfig {
        OpenerConfig {
            stream_name: STREAM.into(),
            identities: vec![identity.clone()],
            trusted_cameras: trusted,
            danger_accept_plaintext: false,
        }
    }

    /// The low-level opener (one header, one frame at a time).
    pub fn opener(&self, identity: &SecretKey, trusted: Vec<PublicKey>) -> FragmentOpener {
        FragmentOpener::new(self.opener_config(identity, trusted))
    }

    /// The stream opener every viewer drives, reporting every failure (`keep_going`).
    pub fn stream(&self, identity: &SecretKey, trusted: Vec<PublicKey>) -> StreamOpener<Vec<u8>> {
        stream_opener(self.opener_config(identity, trusted))
    }
}

/// A stream opener that reports every failure and goes on (as `--keep-going`).
pub fn stream_opener(config: OpenerConfig) -> StreamOpener<Vec<u8>> {
    StreamOpener::new(StreamConfig {
        keep_going: true,
        ..StreamConfig::new(config)
    })
}

/// The plaintext of frame `i` of fragment `f` of a session labelled `label`.
pub fn plaintext(label: &str, f: usize, i: usize) -> Vec<u8> {
    format!("{label}: fragment {f} frame {i} payload").into_bytes()
}

pub fn frame_meta(base: u64, f: usize, i: usize) -> (u64, u64, bool) {
    let track = if i == 2 { 2 } else { 1 };
    (track, base + f as u64 * 1000 + i as u64 * 40, i == 0)
}

/// What the camera writes to PutMedia: `[Tags, Cluster]*` then the `finish` tags.
/// `before_fragment(f, sealer)` runs before fragment `f` begins (e.g. to revoke a viewer).
pub fn produce(
    world: &mut World,
    sealer: &mut SessionSealer,
    label: &str,
    base: u64,
    fragments: usize,
    finish: bool,
    mut before_fragment: impl FnMut(usize, &mut SessionSealer),
) -> Vec<Item> {
    let mut out = Vec::new();
    for f in 0..fragments {
        before_fragment(f, sealer);
        let tc = base + f as u64 * 1000;
        let tags = sealer.begin_fragment(tc, &mut world.rng).unwrap();
        out.push(Item::Tags { tags });
        let mut frames = Vec::new();
        for i in 0..FRAMES {
            let (track, timecode, keyframe) = frame_meta(base, f, i);
            let mut data = plaintext(label, f, i);
            sealer
                .seal_frame(
                    &FrameMeta {
                        track,
                        timecode,
                        keyframe,
                    },
                    &mut data,
                )
                .unwrap();
            frames.push(Frame {
                track,
                timecode,
                keyframe,
                data,
            });
        }
        out.push(Item::Cluster {
            timecode: tc,
            frames,
        });
    }
    if finish {
        out.push(Item::Tags {
            tags: sealer.finish(&mut world.rng).unwrap(),
        });
    }
    out
}

/// KVS GetMedia: one segment per cluster (see the module docs).
pub fn getmedia_segments(put: &[Item]) -> Vec<Segment> {
    let mut segments: Vec<Segment> = Vec::new();
    let mut leading: Option<Item> = None;
    for item in put {
        match item {
            Item::Tags { .. } => match segments.last_mut() {
                Some(seg) => seg.push(item.clone()),
                None => leading = Some(item.clone()),
            },
            Item::Cluster { .. } => {
                let mut seg = Vec::new();
                if segments.is_empty()
                    && let Some(t) = leading.take()
                {
                    seg.push(t);
                }
                seg.push(item.clone());
                segments.push(seg);
            }
        }
    }
    segments
}

impl World {
    /// A session of `camera` for `stream`, sealed for the world's viewer alone.
    pub fn camera_sealer(&mut self, stream: &str, camera: &SecretKey) -> SessionSealer {
        SessionSealer::new(
            SessionConfig {
                stream_name: stream.into(),
                camera: camera.clone(),
                recipients: vec![self.viewer.public_key()],
                tracks: Self::tracks(),
                frame_cipher: FrameCipher::ChaCha20Poly1305,
            },
            &mut self.rng,
        )
        .unwrap()
    }
}

/// The plaintexts of every frame of fragments `fs` of session `label`.
pub fn frames_of(label: &str, fs: &[usize]) -> Vec<Vec<u8>> {
    fs.iter()
        .flat_map(|&f| (0..FRAMES).map(move |i| plaintext(label, f, i)))
        .collect()
}

/// The frames of the cluster in `seg`.
pub fn cluster_frames(seg: &mut Segment) -> &mut Vec<Frame> {
    seg.iter_mut()
        .find_map(|i| match i {
            Item::Cluster { frames, .. } => Some(frames),
            Item::Tags { .. } => None,
        })
        .expect("segment has a cluster")
}
