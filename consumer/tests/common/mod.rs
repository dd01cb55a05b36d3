//! Test support: a deterministic camera session sealed with the real envelope, encoded as
//! the MKV bytes KVS GetMedia returns (one segment per fragment, KVS tags, the producer's
//! tags for fragment N+1 inside segment N), and a reader for the viewer's output.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use kvs_e2ee_aws::getmedia::{
    TAG_CONTINUATION_TOKEN, TAG_FRAGMENT_NUMBER, TAG_MILLIS_BEHIND_NOW, TAG_PRODUCER_TIMESTAMP,
};
use kvs_e2ee_consumer::Summary;
use kvs_e2ee_consumer::pipeline::{
    DEFAULT_MAX_BUFFERED_BYTES, Pipeline, PipelineConfig, PipelineError,
};
use kvs_e2ee_envelope::{
    FrameCipher, FrameMeta, OpenerConfig, PublicKey, SecretKey, SessionConfig, SessionSealer, Tag,
    TrackCodecData,
};
use kvs_e2ee_keys::PairFiles;
use kvs_e2ee_mkv::{CODEC_AAC, Demuxer, Event, Muxer, MuxerConfig, TrackEntry, TrackType};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub const STREAM: &str = "front-door";
pub const FRAGMENTS: usize = 5;
pub const FRAMES: usize = 4;
pub const BASE_TC: u64 = 10_000;
pub const AVCC: &str =
    "0164001fffe1001a6764001facd9405005bb011000000300100000030320f183196001000568ebecb22c";

/// One frame as carried in a SimpleBlock.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub track: u64,
    pub timecode: u64,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

/// A top-level element of what the producer sent.
#[derive(Clone, Debug)]
pub enum Item {
    Tags(Vec<Tag>),
    Cluster { timecode: u64, frames: Vec<Frame> },
}

pub type Segment = Vec<Item>;

pub struct World {
    pub camera: SecretKey,
    pub other_camera: SecretKey,
    pub viewer: SecretKey,
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
            outsider: SecretKey::generate(&mut rng),
            rng,
        }
    }

    pub fn sealer(&mut self, stream: &str, camera: &SecretKey) -> SessionSealer {
        SessionSealer::new(
            SessionConfig {
                stream_name: stream.into(),
                camera: camera.clone(),
                recipients: vec![self.viewer.public_key()],
                tracks: codec_tracks(),
                frame_cipher: FrameCipher::ChaCha20Poly1305,
            },
            &mut self.rng,
        )
        .unwrap()
    }

    /// A camera session: `[Tags, Cluster]*` then (if `finish`) the end tags.
    pub fn produce(
        &mut self,
        sealer: &mut SessionSealer,
        label: &str,
        base: u64,
        fragments: usize,
        finish: bool,
    ) -> Vec<Item> {
        let mut out = Vec::new();
        for f in 0..fragments {
            let tc = base + f as u64 * 1000;
            out.push(Item::Tags(
                sealer.begin_fragment(tc, &mut self.rng).unwrap(),
            ));
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
            out.push(Item::Tags(sealer.finish(&mut self.rng).unwrap()));
        }
        out
    }

    /// The standard session: 5 fragments of stream A, closed.
    pub fn session(&mut self) -> Vec<Segment> {
        let camera = self.camera.clone();
        let mut sealer = self.sealer(STREAM, &camera);
        let put = self.produce(&mut sealer, "A", BASE_TC, FRAGMENTS, true);
        getmedia_segments(&put)
    }

    pub fn pipeline(
        &self,
        identity: &SecretKey,
        trusted: Vec<PublicKey>,
        keep_going: bool,
    ) -> Pipeline<Vec<u8>> {
        Pipeline::new(
            PipelineConfig {
                opener: OpenerConfig {
                    stream_name: STREAM.into(),
                    identities: vec![identity.clone()],
                    trusted_cameras: trusted,
                    danger_accept_plaintext: false,
                },
                keep_going,
                max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            },
            Vec::new(),
        )
    }
}

pub fn codec_tracks() -> Vec<TrackCodecData> {
    vec![
        TrackCodecData {
            track_number: 1,
            codec_private: hex_decode(AVCC),
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

/// The Tracks in the clear: honest CodecIDs, no CodecPrivate, no sizes (FORMAT.md §5).
pub fn clear_tracks() -> Vec<TrackEntry> {
    vec![
        TrackEntry::h264(1, 1),
        TrackEntry::new(2, 2, TrackType::Audio, CODEC_AAC),
    ]
}

pub fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn plaintext(label: &str, f: usize, i: usize) -> Vec<u8> {
    format!("{label}: fragment {f} frame {i} payload").into_bytes()
}

/// Frames 0, 1, 3 video (0 a key frame), frame 2 audio.
pub fn frame_meta(base: u64, f: usize, i: usize) -> (u64, u64, bool) {
    let track = if i == 2 { 2 } else { 1 };
    (track, base + f as u64 * 1000 + i as u64 * 40, i == 0)
}

pub fn frames_of(label: &str, fs: &[usize]) -> Vec<Vec<u8>> {
    fs.iter()
        .flat_map(|&f| (0..FRAMES).map(move |i| plaintext(label, f, i)))
        .collect()
}

/// KVS GetMedia: segment N = [tags before cluster 0, for N = 0] + cluster N + the tags
/// sent before cluster N+1 (or the finish tags).
pub fn getmedia_segments(put: &[Item]) -> Vec<Segment> {
    let mut segments: Vec<Segment> = Vec::new();
    let mut leading: Option<Item> = None;
    for item in put {
        match item {
            Item::Tags(_) => match segments.last_mut() {
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

pub fn cluster_frames(seg: &mut Segment) -> &mut Vec<Frame> {
    seg.iter_mut()
        .find_map(|i| match i {
            Item::Cluster { frames, .. } => Some(frames),
            Item::Tags(_) => None,
        })
        .expect("segment has a cluster")
}

/// The `AWS_KINESISVIDEO_FRAGMENT_NUMBER` [`encode`] gives segment `n`.
pub fn kvs_number(n: usize) -> String {
    format!("9134385233318143239763382276488544172587454{n:04}")
}

/// The `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP` [`encode`] gives a segment whose cluster
/// starts at `timecode` (ms).
pub fn producer_time(timecode: u64) -> String {
    format!("{}.{:03}", 1_700_000_000 + timecode / 1000, timecode % 1000)
}

/// The GetMedia bytes of `segments`: each its own EBML header + Segment with Info, Tracks,
/// the KVS fragment tags, the producer's tags and cluster, then the trailing KVS tags.
pub fn encode(segments: &[Segment]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for (n, seg) in segments.iter().enumerate() {
        let mut mux = Muxer::new(MuxerConfig::default());
        mux.write_header(&mut out, &clear_tracks()).unwrap();
        let number = kvs_number(n);
        let first_tc = seg
            .iter()
            .find_map(|i| match i {
                Item::Cluster { timecode, .. } => Some(*timecode),
                Item::Tags(_) => None,
            })
            .unwrap_or(0);
        let producer = producer_time(first_tc);
        mux.write_tags(
            &mut out,
            &[
                (TAG_FRAGMENT_NUMBER, number.as_str()),
                (TAG_PRODUCER_TIMESTAMP, producer.as_str()),
            ],
        )
        .unwrap();
        for item in seg {
            match item {
                Item::Tags(tags) => mux.write_tags(&mut out, tags).unwrap(),
                Item::Cluster { timecode, frames } => {
                    mux.start_cluster(&mut out, *timecode).unwrap();
                    for f in frames {
                        mux.write_frame(&mut out, f.track, f.timecode, f.keyframe, &f.data)
                            .unwrap();
                    }
                }
            }
        }
        mux.write_tags(
            &mut out,
            &[
                (TAG_MILLIS_BEHIND_NOW, "0"),
                (TAG_CONTINUATION_TOKEN, number.as_str()),
            ],
        )
        .unwrap();
    }
    out.to_vec()
}

/// Runs `bytes` through `pipeline` in chunks of `chunk` bytes; returns the output, the
/// summary and the error that stopped it, if any.
pub fn run_pipeline(
    mut pipeline: Pipeline<Vec<u8>>,
    bytes: &[u8],
    chunk: usize,
) -> (Vec<u8>, Summary, Option<PipelineError>) {
    let mut err = None;
    for c in bytes.chunks(chunk.max(1)) {
        if let Err(e) = pipeline.push(c) {
            err = Some(e);
            break;
        }
    }
    if err.is_none()
        && let Err(e) = pipeline.finish()
    {
        err = Some(e);
    }
    let summary = pipeline.summary().clone();
    (pipeline.into_output().unwrap(), summary, err)
}

/// What the viewer wrote, read back.
#[derive(Debug, Default)]
pub struct Written {
    pub tracks: Vec<TrackEntry>,
    pub frames: Vec<Frame>,
}

impl Written {
    pub fn payloads(&self) -> Vec<Vec<u8>> {
        self.frames.iter().map(|f| f.data.clone()).collect()
    }
}

pub fn read_output(bytes: &[u8]) -> Written {
    let mut w = Written::default();
    let mut d = Demuxer::new();
    d.push(bytes);
    d.finish().unwrap();
    while let Some(ev) = d.next_event().unwrap() {
        match ev {
            Event::Tracks(t) => w.tracks = t.entries,
            Event::Frame(f) => w.frames.push(Frame {
                track: f.track,
                timecode: f.timecode,
                keyframe: f.keyframe,
                data: f.data.to_vec(),
            }),
            _ => {}
        }
    }
    w
}

/// Whether `needle` occurs anywhere in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Fails the test when the tool is missing and `CI` is set; otherwise says whether to run.
pub fn have_tool(tool: &str) -> bool {
    // ffmpeg tools take `-version`, mkvtoolnix `--version`.
    let flag = if tool.starts_with("ff") {
        "-version"
    } else {
        "--version"
    };
    let ok = std::process::Command::new(tool)
        .arg(flag)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("{tool} is required when CI is set");
    }
    ok
}

/// Key files in a temporary folder ([`PairFiles`]: the camera and viewer identities, the
/// recipients file and the viewer's trusted-cameras file), and the secret keys behind
/// them for sealing test streams.
pub struct KeyFiles {
    pub dir: tempfile::TempDir,
    pub files: PairFiles,
    pub viewer: SecretKey,
    pub camera: SecretKey,
}

pub fn key_files(seed: u64) -> KeyFiles {
    use kvs_e2ee_keys::{Identity, KeyKind};
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let files = PairFiles::generate(dir.path(), &mut rng).unwrap();
    let viewer = Identity::load_kind(&files.viewer, KeyKind::Viewer).unwrap();
    let camera = Identity::load_kind(&files.camera, KeyKind::Camera).unwrap();
    KeyFiles {
        files,
        viewer: viewer.active().clone(),
        camera: camera.active().clone(),
        dir,
    }
}
