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
use kvs_e2ee_envelope::{OpenerConfig, PublicKey, SecretKey, TrackCodecData};
use kvs_e2ee_keys::PairFiles;
use kvs_e2ee_mkv::{CODEC_AAC, Demuxer, Event, Muxer, MuxerConfig, TrackEntry, TrackType};
pub use kvs_e2ee_test_support::world::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The standard session: 5 fragments of stream A, closed.
pub fn session(w: &mut World) -> Vec<Segment> {
    let camera = w.camera.clone();
    let mut sealer = w.camera_sealer(STREAM, &camera);
    let put = produce(w, &mut sealer, "A", BASE_TC, FRAGMENTS, true, |_, _| {});
    getmedia_segments(&put)
}

/// A pipeline writing to memory.
pub fn pipeline(
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

/// The codec data the world's camera seals.
pub fn codec_tracks() -> Vec<TrackCodecData> {
    World::tracks()
}

/// The Tracks in the clear: honest CodecIDs, no CodecPrivate, no sizes (FORMAT.md §5).
pub fn clear_tracks() -> Vec<TrackEntry> {
    vec![
        TrackEntry::h264(1, 1),
        TrackEntry::new(2, 2, TrackType::Audio, CODEC_AAC),
    ]
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
                Item::Tags { .. } => None,
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
                Item::Tags { tags } => mux.write_tags(&mut out, tags).unwrap(),
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

#[allow(unused_imports)]
pub use kvs_e2ee_test_support::have_tool;
