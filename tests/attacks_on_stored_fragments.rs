//! Every attack of FORMAT.md performed on the fragments kvs-local stored for a real camera
//! run (`kvs-e2ee-producer`'s engine streaming the demo clip), read back with the viewer
//! engine (`kvs_e2ee_consumer::run`, live from the earliest fragment):
//! flipped bits in a frame, a frame's tag and a header; a deleted, duplicated, reordered
//! and truncated fragment; fragments spliced from another stream and from another camera;
//! an unencrypted fragment injected; a viewer revoked when the camera restarts with a new
//! recipients file. Each gives its own report naming the fragment, and the output holds
//! only the camera's input frames, in order — nothing unauthenticated.
//!
//! The camera runs once (a shared baseline data dir); each test copies that data dir,
//! edits it with kvs-local stopped (its index lives in memory while it runs), and starts
//! kvs-local on the copy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use kvs_e2ee::clip::{Clip, DEMO_CLIP};
use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions};
use kvs_e2ee_consumer::run::{Config, Mode, OutputTarget, Start};
use kvs_e2ee_consumer::{FailureKind, Outcome};
use kvs_e2ee_envelope::header::Header;
use kvs_e2ee_envelope::{FrameCipher, PublicKey, SecretKey, SessionId};
use kvs_e2ee_keys::{Identity, KeyKind};
use kvs_e2ee_mkv::{Demuxer, Event, Muxer, MuxerConfig, TrackEntry};
use kvs_e2ee_producer::config::{Config as CameraConfig, Credentials, Input, Source};
use kvs_e2ee_producer::engine::EngineConfig;
use kvs_local::RunningServer;
use kvs_local::media::store::{FragmentMeta, FragmentStore};
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use tokio::sync::Notify;

/// The camera's stream.
const STREAM: &str = "front-door";
/// Another stream of the same camera (source of the wrong-stream splice).
const OTHER_STREAM: &str = "back-door";
/// The stream whose camera restarts with a viewer removed from its recipients.
const PORCH: &str = "porch";
/// The demo clip: 10 s, a key frame every second, H.264 + AAC.
const CLIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/producer/tests/data/demo-clip.mkv"
);
/// 2 s of H.264, a key frame every second.
const SHORT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/producer/tests/data/sample-320x240.mkv"
);
/// Bound on every producer run and every read.
const LIMIT: Duration = Duration::from_secs(25);

/// What the camera runs left behind, shared by every test (read-only).
struct Baseline {
    _dir: tempfile::TempDir,
    /// kvs-local data dir: `front-door`, `back-door`, `porch`.
    data: PathBuf,
    /// A second kvs-local's data dir: another camera's `front-door`.
    other_camera_data: PathBuf,
    camera: PublicKey,
    other_camera: PublicKey,
    /// Viewer in every recipients file.
    viewer: SecretKey,
    /// Viewer removed from the recipients when the porch camera restarts.
    revoked: SecretKey,
    /// Frames the porch camera was given in its two runs.
    porch_runs: usize,
}

static BASELINE: OnceLock<Baseline> = OnceLock::new();

/// The baseline, made once by whichever test comes first (on its own runtime, so the
/// servers it starts outlive no test).
fn baseline() -> &'static Baseline {
    tokio::task::block_in_place(|| {
        BASELINE.get_or_init(|| {
            std::thread::spawn(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(make_baseline())
            })
            .join()
            .expect("the camera runs succeed")
        })
    })
}

fn identity(dir: &Path, kind: KeyKind, name: &str) -> Identity {
    let id = Identity::generate(kind, &mut UnwrapErr(SysRng));
    id.save_new(&dir.join(name)).unwrap();
    id
}

async fn make_baseline() -> Baseline {
    kvs_e2ee_aws::config::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let camera = identity(&root, KeyKind::Camera, "camera.key");
    let other_camera = identity(&root, KeyKind::Camera, "other-camera.key");
    let viewer = identity(&root, KeyKind::Viewer, "viewer.key");
    let revoked = identity(&root, KeyKind::Viewer, "revoked.key");
    let both = root.join("recipients-both.txt");
    std::fs::write(
        &both,
        format!(
            "{} owner\n{} tenant\n",
            viewer.public_text(),
            revoked.public_text()
        ),
    )
    .unwrap();
    let owner_only = root.join("recipients-owner.txt");
    std::fs::write(&owner_only, format!("{} owner\n", viewer.public_text())).unwrap();

    let data = root.join("kvs");
    let server = kvs_local::Server::start(kvs_local::Config::new(&data))
        .await
        .unwrap();
    let porch_started = std::time::Instant::now();
    stream(&server, PORCH, &root.join("camera.key"), &both, SHORT).await;
    stream(&server, STREAM, &root.join("camera.key"), &both, CLIP).await;
    stream(
        &server,
        OTHER_STREAM,
        &root.join("camera.key"),
        &both,
        SHORT,
    )
    .await;
    // The restarted camera's invented timeline must start after the first run's 2 s.
    let wait = Duration::from_millis(2_300).saturating_sub(porch_started.elapsed());
    tokio::time::sleep(wait).await;
    // The camera restarts with the tenant removed from its recipients.
    stream(&server, PORCH, &root.join("camera.key"), &owner_only, SHORT).await;
    server.shutdown().await;

    let other_camera_data = root.join("kvs-other-camera");
    let server = kvs_local::Server::start(kvs_local::Config::new(&other_camera_data))
        .await
        .unwrap();
    stream(
        &server,
        STREAM,
        &root.join("other-camera.key"),
        &both,
        SHORT,
    )
    .await;
    server.shutdown().await;
    Baseline {
        _dir: dir,
        data,
        other_camera_data,
        camera: camera.public_key(),
        other_camera: other_camera.public_key(),
        viewer: viewer.active().clone(),
        revoked: revoked.active().clone(),
        porch_runs: 2,
    }
}

fn admin(server: &RunningServer) -> ConfigOptions {
    server.admin_client_options()
}

/// Streams `clip` with the real producer engine, 1 s fragments, until all are PERSISTED.
async fn stream(server: &RunningServer, name: &str, camera: &Path, recipients: &Path, clip: &str) {
    let config = CameraConfig {
        stream: kvs_e2ee_producer::config::StreamSettings {
            stream_name: name.into(),
            identity: camera.to_owned(),
            recipients: recipients.to_owned(),
            create_stream: Some(24),
            fragment_duration: Duration::from_secs(1),
            frame_cipher: FrameCipher::ChaCha20Poly1305,
            buffer_size: 64 << 20,
            spool: None,
            stats_interval: None,
        },
        source: Source::Mkv(Input::File(clip.into())),
        endpoint_url: Some(server.control_url().to_owned()),
        ca_bundle: None,
        region: Some(server.region().to_owned()),
        credentials: Credentials::DefaultChain,
    };
    let client = ClientConfig::load(admin(server)).await.unwrap();
    let stats = tokio::time::timeout(
        LIMIT,
        kvs_e2ee_producer::run::stream_with(
            config,
            client,
            EngineConfig::default(),
            Arc::new(Notify::new()),
        ),
    )
    .await
    .expect("the camera finishes in time")
    .unwrap();
    assert_eq!(stats.fragments, stats.fragments_persisted, "{stats:?}");
}

/// One stored fragment: its index line and its file.
#[derive(Clone)]
struct Stored {
    meta: FragmentMeta,
    bytes: Vec<u8>,
}

impl Stored {
    /// `(track, timecode, ciphertext)` of every frame, in file order.
    fn frames(&self) -> Vec<(u64, u64, Vec<u8>)> {
        let mut d = Demuxer::new();
        d.push(&self.bytes);
        let mut out = Vec::new();
        while let Some(ev) = d.next_event().unwrap() {
            if let Event::Frame(f) = ev {
                out.push((f.track, f.timecode, f.data.to_vec()));
            }
        }
        out
    }

    /// `(name, value)` of every tag in the file.
    fn tags(&self) -> Vec<(String, String)> {
        let mut d = Demuxer::new();
        d.push(&self.bytes);
        let mut out = Vec::new();
        while let Some(ev) = d.next_event().unwrap() {
            if let Event::Tags(t) = ev {
                out.extend(
                    t.tags
                        .iter()
                        .map(|t| (t.name.clone(), t.as_str().unwrap_or_default().to_owned())),
                );
            }
        }
        out
    }

    fn tracks(&self) -> Vec<TrackEntry> {
        let mut d = Demuxer::new();
        d.push(&self.bytes);
        while let Some(ev) = d.next_event().unwrap() {
            if let Event::Tracks(t) = ev {
                return t.entries;
            }
        }
        panic!("a stored fragment has Tracks");
    }

    /// Byte offset of frame `i`'s payload in the file.
    fn frame_offset(&self, i: usize) -> usize {
        let data = &self.frames()[i].2;
        find(&self.bytes, data).expect("the frame is in the file")
    }
}

/// The camera session a stored fragment's headers name.
fn session_of(fragment: &Stored) -> SessionId {
    let blobs = kvs_e2ee_envelope::tags::decode_tags(&fragment.tags()).unwrap();
    let blob = blobs.into_iter().next().expect("a header").unwrap();
    Header::decode(&blob.bytes).unwrap().0.core.session
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn stream_dir(data: &Path, stream: &str) -> PathBuf {
    let streams = data.join("streams");
    std::fs::read_dir(&streams)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{stream}@"))
        })
        .unwrap_or_else(|| panic!("no folder of stream {stream} in {}", streams.display()))
}

/// The stored fragments of `stream` under `data`, oldest first.
fn load(data: &Path, stream: &str) -> Vec<Stored> {
    let store = FragmentStore::open(&stream_dir(data, stream)).unwrap();
    store
        .fragments()
        .iter()
        .map(|m| Stored {
            meta: m.clone(),
            bytes: store.read(m).unwrap(),
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Renumbers a fragment number's ordinal part (KVS numbers: 11-digit prefix + 36 digits).
fn renumber(first: &str, i: usize) -> String {
    let (prefix, rest) = first.split_at(11);
    let n: u128 = rest.parse().unwrap();
    format!("{prefix}{:036}", n + 1_000 * i as u128)
}

/// A copy of the baseline data dir for one test.
struct Lab {
    _dir: tempfile::TempDir,
    data: PathBuf,
    base: &'static Baseline,
}

/// What a read gave.
struct Read {
    outcome: Outcome,
    /// Frames of the output MKV per track: `(timecode, payload)`.
    output: BTreeMap<u64, Vec<(u64, Vec<u8>)>>,
}

impl Read {
    /// The first failure; the read must have reported at least one.
    fn failure(&self) -> &kvs_e2ee_consumer::Failure {
        self.outcome
            .summary
            .failures
            .first()
            .unwrap_or_else(|| panic!("no failure reported: {}", self.outcome.summary))
    }

    /// Default mode: the read stopped with the failure it reported first.
    fn assert_stopped(&self) {
        let stopped = self.outcome.stopped.as_ref().expect("the read stopped");
        assert_eq!(stopped.to_string(), self.failure().to_string());
        assert_eq!(self.outcome.summary.failures.len(), 1);
    }
}

impl Lab {
    fn new() -> Self {
        let base = baseline();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("kvs");
        copy_dir(&base.data, &data);
        Self {
            _dir: dir,
            data,
            base,
        }
    }

    fn fragments(&self, stream: &str) -> Vec<Stored> {
        load(&self.data, stream)
    }

    /// Replaces `stream`'s stored fragments by `fragments`, in this order, numbered anew
    /// in ascending order (as an attacker with write access to the store would).
    /// Returns the new numbers.
    fn store(&self, stream: &str, mut fragments: Vec<Stored>) -> Vec<String> {
        let dir = stream_dir(&self.data, stream).join("fragments");
        let first = load(&self.data, stream)[0].meta.fragment_number.clone();
        for e in std::fs::read_dir(&dir).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        let mut index = String::new();
        let mut numbers = Vec::new();
        for (i, f) in fragments.iter_mut().enumerate() {
            f.meta.fragment_number = renumber(&first, i);
            f.meta.size = f.bytes.len() as u64;
            std::fs::write(
                dir.join(format!("{}.mkv", f.meta.fragment_number)),
                &f.bytes,
            )
            .unwrap();
            index.push_str(&serde_json::to_string(&f.meta).unwrap());
            index.push('\n');
            numbers.push(f.meta.fragment_number.clone());
        }
        std::fs::write(dir.join("index.jsonl"), index).unwrap();
        numbers
    }

    /// Starts kvs-local on the (edited) data dir and reads `stream` live from the earliest
    /// fragment until caught up, as `viewer` trusting `trusted`.
    async fn read_as(
        &self,
        stream: &str,
        viewer: &SecretKey,
        trusted: &[PublicKey],
        keep_going: bool,
    ) -> Read {
        let server = kvs_local::Server::start(kvs_local::Config::new(&self.data))
            .await
            .unwrap();
        let out = self.data.with_file_name(format!("out-{stream}.mkv"));
        let config = Config {
            stream: stream.into(),
            identities: vec![viewer.clone()],
            trusted_cameras: trusted.to_vec(),
            mode: Mode::Live {
                start: Start::Earliest,
                until_current: true,
            },
            max_duration: Some(Duration::from_secs(20)),
            keep_going,
            inspect: false,
            client: admin(&server),
            catch_up_idle: Duration::from_millis(700),
            progress: None,
            stop: None,
        };
        let outcome = tokio::time::timeout(
            LIMIT,
            kvs_e2ee_consumer::run(config, &OutputTarget::File(out.clone())),
        )
        .await
        .expect("the read finishes in time")
        .unwrap();
        server.shutdown().await;
        let bytes = std::fs::read(&out).unwrap();
        let clip = if bytes.is_empty() {
            Clip::default()
        } else {
            Clip::parse(&bytes).unwrap()
        };
        let mut output: BTreeMap<u64, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
        for f in clip.frames {
            output
                .entry(f.track)
                .or_default()
                .push((f.timecode, f.data));
        }
        Read { outcome, output }
    }

    async fn read(&self, stream: &str, keep_going: bool) -> Read {
        self.read_as(stream, &self.base.viewer, &[self.base.camera], keep_going)
            .await
    }

    /// The camera's input frames of `stream` whose place in the *baseline* store
    /// (fragment index, frame index in the fragment) `keep` accepts, per track, with the
    /// timecode they were stored under.
    fn expected(
        &self,
        stream: &str,
        keep: impl Fn(usize, usize) -> bool,
    ) -> BTreeMap<u64, Vec<(u64, Vec<u8>)>> {
        let input = input_frames(stream, self.base);
        let mut next: BTreeMap<u64, usize> = BTreeMap::new();
        let mut out: BTreeMap<u64, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
        for (fi, fragment) in load(&self.base.data, stream).iter().enumerate() {
            for (i, (track, timecode, cipher)) in fragment.frames().into_iter().enumerate() {
                let n = next.entry(track).or_default();
                let plain = &input[&track][*n];
                *n += 1;
                // Sealing adds the 16-byte tag and nothing else.
                assert_eq!(plain.len() + 16, cipher.len(), "track {track} frame {n}");
                if keep(fi, i) {
                    out.entry(track)
                        .or_default()
                        .push((timecode, plain.clone()));
                }
            }
        }
        for (track, n) in next {
            assert_eq!(
                n,
                input[&track].len(),
                "the camera sealed every frame of track {track}"
            );
        }
        out
    }
}

/// The frames the camera was given for `stream`, per track, in order: the clip from its
/// first video key frame on (the porch camera ran the short clip twice).
fn input_frames(stream: &str, base: &Baseline) -> BTreeMap<u64, Vec<Vec<u8>>> {
    let (clip, runs) = match stream {
        STREAM => (DEMO_CLIP.to_vec(), 1),
        PORCH => (std::fs::read(SHORT).unwrap(), base.porch_runs),
        _ => (std::fs::read(SHORT).unwrap(), 1),
    };
    let clip = Clip::parse(&clip).unwrap();
    let first = clip
        .frames
        .iter()
        .position(|f| f.keyframe && f.track == 1)
        .unwrap();
    let mut out: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    for _ in 0..runs {
        for f in &clip.frames[first..] {
            out.entry(f.track).or_default().push(f.data.clone());
        }
    }
    out
}

/// Asserts the output is exactly `expected` (per track, in order), naming the first
/// difference rather than dumping megabytes.
fn assert_output(read: &Read, expected: &BTreeMap<u64, Vec<(u64, Vec<u8>)>>) {
    let tracks: Vec<_> = expected.keys().chain(read.output.keys()).collect();
    for track in tracks {
        let want = expected.get(track).map_or(&[][..], Vec::as_slice);
        let got = read.output.get(track).map_or(&[][..], Vec::as_slice);
        if let Some(i) = want.iter().zip(got).position(|(a, b)| a != b) {
            panic!(
                "track {track}: output frame {i} (timecode {}) is not the camera's input frame \
                 at that place (timecode {})",
                got[i].0, want[i].0
            );
        }
        assert_eq!(
            got.len(),
            want.len(),
            "track {track}: output frames vs expected\n{}",
            read.outcome.summary
        );
    }
}

/// Flips bit 6 of the byte at `at`.
fn flip(bytes: &mut [u8], at: usize) {
    bytes[at] ^= 0x40;
}

/// A base64 character replaced by another one (so the tag stays valid base64 and the
/// decoded header changes in exactly one 6-bit group).
fn other_b64(c: u8) -> u8 {
    match c {
        b'A'..=b'Y' | b'a'..=b'y' | b'0'..=b'8' => c + 1,
        b'Z' | b'z' | b'9' => c - 1,
        _ => b'A',
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmodified_store_reads_back_every_input_frame() {
    let lab = Lab::new();
    let read = lab.read(STREAM, false).await;
    assert!(
        read.outcome.success(),
        "{:?}\n{}",
        read.outcome.stopped,
        read.outcome.summary
    );
    assert_eq!(
        read.outcome.summary.fragments_verified,
        lab.fragments(STREAM).len() as u64
    );
    assert!(
        lab.fragments(STREAM).len() >= 8,
        "1 s fragments of a 10 s clip"
    );
    assert_output(&read, &lab.expected(STREAM, |_, _| true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_stops_at_bit_flipped_in_stored_frame_and_keep_going_skips_it() {
    let lab = Lab::new();
    let mut fragments = lab.fragments(STREAM);
    let (bad, frame) = (3, 5);
    let at = fragments[bad].frame_offset(frame) + 10;
    flip(&mut fragments[bad].bytes, at);
    let numbers = lab.store(STREAM, fragments.clone());

    let read = lab.read(STREAM, false).await;
    read.assert_stopped();
    let f = read.failure();
    assert_eq!(f.kind, FailureKind::TamperedFrame { frame: 5 }, "{f}");
    assert_eq!(
        f.fragment.kvs_number.as_deref(),
        Some(numbers[bad].as_str())
    );
    assert_eq!(f.fragment.seq, Some(bad as u64));
    assert!(f.to_string().contains(&numbers[bad]), "{f}");
    // Everything before the bad frame, nothing from it on.
    assert_output(
        &read,
        &lab.expected(STREAM, |fi, i| fi < bad || (fi == bad && i < frame)),
    );

    // --keep-going: the bad fragment is reported once and skipped; the rest verifies.
    let read = lab.read(STREAM, true).await;
    assert!(read.outcome.stopped.is_none(), "{:?}", read.outcome.stopped);
    assert!(!read.outcome.success());
    let s = &read.outcome.summary;
    assert_eq!(s.failures.len(), 1, "{s}");
    assert_eq!(s.failures[0].kind, FailureKind::TamperedFrame { frame: 5 });
    assert_eq!(s.fragments_verified, fragments.len() as u64 - 1, "{s}");
    assert_output(&read, &lab.expected(STREAM, |fi, i| fi != bad || i < frame));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_refuses_bit_flipped_in_stored_frame_tag() {
    let lab = Lab::new();
    let mut fragments = lab.fragments(STREAM);
    let bad = 6;
    let frames = fragments[bad].frames();
    let frame = frames.len() - 1;
    // The last byte of the last frame: inside its 16-byte Poly1305 tag.
    let at = fragments[bad].frame_offset(frame) + frames[frame].2.len() - 1;
    flip(&mut fragments[bad].bytes, at);
    let numbers = lab.store(STREAM, fragments);

    let read = lab.read(STREAM, false).await;
    read.assert_stopped();
    let f = read.failure();
    assert_eq!(
        f.kind,
        FailureKind::TamperedFrame {
            frame: frame as u32
        },
        "{f}"
    );
    assert_eq!(
        f.fragment.kvs_number.as_deref(),
        Some(numbers[bad].as_str())
    );
    assert_output(
        &read,
        &lab.expected(STREAM, |fi, i| fi < bad || (fi == bad && i < frame)),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_refuses_bit_flipped_in_stored_header() {
    let lab = Lab::new();
    let mut fragments = lab.fragments(STREAM);
    let seq = 4;
    // Header 4 travels twice: after cluster 3 (with header 3's repeat) and after
    // cluster 4. Alter both copies, in the camera's session id.
    let name = format!("kvs-e2ee.v1.{seq}.0");
    let value = fragments[seq]
        .tags()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .unwrap();
    let mut altered = value.clone().into_bytes();
    altered[40] = other_b64(altered[40]);
    let mut copies = 0;
    for f in &mut fragments {
        while let Some(at) = find(&f.bytes, value.as_bytes()) {
            f.bytes[at..at + value.len()].copy_from_slice(&altered);
            copies += 1;
        }
    }
    assert_eq!(copies, 2, "header {seq} is stored twice");
    let numbers = lab.store(STREAM, fragments);

    let read = lab.read(STREAM, false).await;
    read.assert_stopped();
    let f = read.failure();
    assert_eq!(f.kind, FailureKind::TamperedHeader, "{f}");
    assert_eq!(f.fragment.seq, Some(seq as u64), "{f}");
    // The first copy comes in the tail of the fragment before; the report waits for the
    // cluster the header belongs to and names that fragment.
    assert_eq!(
        f.fragment.kvs_number.as_deref(),
        Some(numbers[seq].as_str()),
        "{f}"
    );
    assert_output(&read, &lab.expected(STREAM, |fi, _| fi < seq));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reports_deleted_fragment_and_keep_going_continues() {
    let lab = Lab::new();
    let mut fragments = lab.fragments(STREAM);
    let gone = 4;
    fragments.remove(gone);
    let numbers = lab.store(STREAM, fragments);

    let read = lab.read(STREAM, false).await;
    read.assert_stopped();
    let f = read.failure();
    assert_eq!(
        f.kind,
        FailureKind::Missing {
            missing: gone as u64..gone as u64 + 1
        },
        "{f}"
    );
    // Named at the fragment that revealed the gap (the old fragment 5, now at index 4).
    assert_eq!(
        f.fragment.kvs_number.as_deref(),
        Some(numbers[gone].as_str())
    );
    assert_eq!(f.fragment.seq, Some(gone as u64 + 1));
    assert_output(&read, &lab.expected(STREAM, |fi, _| fi < gone));

    let read = lab.read(STREAM, true).await;
    let s = &read.outcome.summary;
    assert!(read.outcome.stopped.is_none(), "{:?}", read.outcome.stopped);
    assert_eq!(s.failures.len(), 1, "{s}");
    assert_eq!(s.fragments_missing, 1);
    assert_output(&read, &lab.expected(STREAM, |fi, _| fi != gone));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reports_fragment_duplicated_under_new_number() {
    let lab = Lab::new();
    let mut fragments = lab.fragments(STREAM);
    // An old fragment stored again later (beyond the 3-fragment re-send window).
    let copy = fragments[1].clone();
    let at = 7;
    fragments.insert(at, copy);
    let numbers = lab.store(STREAM, fragments);

    let read = lab.read(STREAM, false).await;
    read.assert_stopped();
    let f = read.failure();
    assert_eq!(f.kind, FailureKind::Replayed, "{f}");
    assert_eq!(f.fragment.seq, Some(1), "{f}");
    assert_eq!(f.fragment.kvs_number.as_deref(), Some(numbers[at].as_str()));
    assert_output(&read, &lab.expected(STREAM, |fi, _| fi < at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reports_reordered_fragments() {
    let lab = Lab::new();
    let mut fragments = lab.fragments(STREAM);
    fragments.swap(4, 5);
    let numbers = lab.store(STREAM, fragments);

    // Fragment 5 comes first: fragment 4 is missing at that point; the read stops.
    let read = lab.read(STREAM, false).await;
    read.assert_stopped();
    let f = read.failure();
    assert_eq!(f.kind, FailureKind::Missing { missing: 4..5 }, "{f}");
    assert_eq!(f.fragment.seq, Some(5));
    assert_eq!(f.fragment.kvs_number.as_deref(), Some(numbers[4].as_str()));
    assert_output(&read, &lab.expected(STREAM, |fi, _| fi < 4));

    // Going on, the late fragment 4 is named as reordered.
    let read = lab.read(STREAM, true).await;
    let s = &read.outcome.summary;
    let kinds: Vec<_> = s.failures.iter().map(|f| f.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            FailureKind::Missing { missing: 4..5 },
            FailureKind::Reordered
        ],
        "{s}"
    );
    assert_eq!(s.failures[1].fragment.seq, Some(4));
    assert_eq!(
        s.failures[1].fragment.kvs_number.as_deref(),
        Some(numbers[5].as_str())
    );
    // Every frame written is an authentic input frame; fragment 4's arrive where the
    // store put them (FORMAT.md §7: a reordered fragment is released with an alarm).
    let mut expected = lab.expected(STREAM, |fi, _| fi < 4);
    for (track, frames) in lab.expected(STREAM, |fi, _| fi == 5) {
        expected.entry(track).or_default().extend(frames);
    }
    for (track, frames) in lab.expected(STREAM, |fi, _| fi == 4 || fi > 5) {
        expected.entry(track).or_default().extend(frames);
    }
    assert_output(&read, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reports_truncated_fragment() {
    let lab = Lab::new();
    let mut fragments = lab.fragments(STREAM);
    let bad = 5;
    let frames = fragments[bad].frames();
    let keep = frames.len() - 3;
    // Cut the last three SimpleBlocks of the (unknown-size) cluster.
    let start = block_start(&fragments[bad], keep);
    let last = frames.len() - 1;
    let end = fragments[bad].frame_offset(last) + frames[last].2.len();
    fragments[bad].bytes.drain(start..end);
    let numbers = lab.store(STREAM, fragments);

    let read = lab.read(STREAM, false).await;
    read.assert_stopped();
    let f = read.failure();
    assert_eq!(
        f.kind,
        FailureKind::MissingFrames {
            expected: frames.len() as u32,
            seen: keep as u32
        },
        "{f}"
    );
    assert_eq!(f.fragment.seq, Some(bad as u64));
    assert_eq!(
        f.fragment.kvs_number.as_deref(),
        Some(numbers[bad].as_str())
    );
    // The frames that did arrive authenticated and were released (FORMAT.md §7).
    assert_output(
        &read,
        &lab.expected(STREAM, |fi, i| fi < bad || (fi == bad && i < keep)),
    );
}

/// Where the SimpleBlock of frame `i` starts: `A3`, its size, then track, timecode and
/// flags (4 bytes) before the payload.
fn block_start(f: &Stored, i: usize) -> usize {
    let payload = f.frame_offset(i);
    let body = f.frames()[i].2.len() as u64 + 4;
    for width in 1..=8usize {
        let Some(start) = payload.checked_sub(4 + width + 1) else {
            break;
        };
        let size = &f.bytes[start + 1..start + 1 + width];
        if f.bytes[start] == 0xA3 && size[0].leading_zeros() as usize + 1 == width {
            let mut v = u64::from(size[0]) & (0xFF >> width);
            for b in &size[1..] {
                v = (v << 8) | u64::from(*b);
            }
            if v == body {
                return start;
            }
        }
    }
    panic!("no SimpleBlock header before frame {i}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_refuses_fragment_spliced_from_another_stream() {
    let lab = Lab::new();
    let mut fragments = lab.fragments(STREAM);
    let foreign = lab.fragments(OTHER_STREAM)[1].clone();
    let at = 6;
    fragments.insert(at, foreign);
    let numbers = lab.store(STREAM, fragments);

    let read = lab.read(STREAM, false).await;
    read.assert_stopped();
    let f = read.failure();
    assert_eq!(
        f.kind,
        FailureKind::WrongStream {
            found: OTHER_STREAM.into()
        },
        "{f}"
    );
    assert_eq!(f.fragment.kvs_number.as_deref(), Some(numbers[at].as_str()));
    assert_output(&read, &lab.expected(STREAM, |fi, _| fi < at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_refuses_fragment_spliced_from_another_camera() {
    let lab = Lab::new();
    let mut fragments = lab.fragments(STREAM);
    // The other camera streamed a stream of the same name (to another kvs-local).
    let foreign = load(&lab.base.other_camera_data, STREAM)[1].clone();
    let at = 6;
    fragments.insert(at, foreign.clone());
    let numbers = lab.store(STREAM, fragments);

    // A camera the viewer does not trust.
    let read = lab.read(STREAM, false).await;
    read.assert_stopped();
    let f = read.failure();
    assert!(matches!(f.kind, FailureKind::UntrustedCamera { .. }), "{f}");
    assert_eq!(f.fragment.kvs_number.as_deref(), Some(numbers[at].as_str()));
    assert_output(&read, &lab.expected(STREAM, |fi, _| fi < at));

    // A camera the viewer trusts too: its fragment in the middle of this session.
    let trusted = [lab.base.camera, lab.base.other_camera];
    let read = lab.read_as(STREAM, &lab.base.viewer, &trusted, false).await;
    read.assert_stopped();
    let f = read.failure();
    // Reported from the foreign fragment's trailing tags (its header repeated and its
    // session's end record): named by the KVS fragment it came in, its producer
    // timestamp and cluster timecode, and the session and camera it came from.
    assert_eq!(
        f.kind,
        FailureKind::Spliced {
            session: session_of(&foreign),
            camera: Some(lab.base.other_camera.key_id()),
        },
        "{f}"
    );
    assert_eq!(f.fragment.kvs_number.as_deref(), Some(numbers[at].as_str()));
    assert_eq!(
        f.fragment.timecode,
        Some(foreign.meta.cluster_timecode),
        "{f}"
    );
    let producer_ms = f
        .fragment
        .producer_time
        .as_deref()
        .and_then(|t| t.parse::<f64>().ok())
        .map(|t| (t * 1000.0).round() as i64);
    assert_eq!(producer_ms, Some(foreign.meta.producer_timestamp_ms), "{f}");
    // The end record's sequence number (it follows the session's last fragment, 1).
    assert_eq!(f.fragment.seq, Some(2), "{f}");
    let report = f.to_string();
    assert!(
        report.contains(&format!("camera {}", lab.base.other_camera.key_id()))
            && report.contains(&numbers[at]),
        "{report}"
    );
    assert_output(&read, &lab.expected(STREAM, |fi, _| fi < at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_refuses_injected_unencrypted_fragment() {
    let lab = Lab::new();
    let mut fragments = lab.fragments(STREAM);
    let at = 6;
    // A plaintext fragment with the stream's own clear Tracks, between 5 and 6.
    let template = fragments[at - 1].clone();
    let timecode = template.meta.cluster_timecode + 500;
    let mut mux = Muxer::new(MuxerConfig::default());
    let mut out = BytesMut::new();
    mux.write_header(&mut out, &template.tracks()).unwrap();
    let cluster_offset = out.len() as u64;
    mux.start_cluster(&mut out, timecode).unwrap();
    for i in 0..3u64 {
        let payload = format!("INJECTED plaintext frame {i}");
        mux.write_frame(&mut out, 1, timecode + i * 33, i == 0, payload.as_bytes())
            .unwrap();
    }
    let injected = Stored {
        meta: FragmentMeta {
            cluster_timecode: timecode,
            producer_timestamp_ms: template.meta.producer_timestamp_ms + 500,
            duration_ms: 66,
            cluster_offset,
            ..template.meta.clone()
        },
        bytes: out.to_vec(),
    };
    fragments.insert(at, injected);
    let numbers = lab.store(STREAM, fragments);

    let read = lab.read(STREAM, false).await;
    read.assert_stopped();
    let f = read.failure();
    assert_eq!(f.kind, FailureKind::Unencrypted, "{f}");
    assert_eq!(f.fragment.kvs_number.as_deref(), Some(numbers[at].as_str()));
    assert_output(&read, &lab.expected(STREAM, |fi, _| fi < at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_removed_from_recipients_reads_nothing_after_camera_restart() {
    let lab = Lab::new();
    let fragments = lab.fragments(PORCH);
    // The first run's fragments end with its end record; the second run starts at seq 0.
    let first_run = input_frames(PORCH, lab.base)[&1].len() / lab.base.porch_runs;
    let mut seen = 0;
    let restart = fragments
        .iter()
        .position(|f| {
            seen += f.frames().len();
            seen > first_run
        })
        .unwrap();

    let read = lab
        .read_as(PORCH, &lab.base.revoked, &[lab.base.camera], false)
        .await;
    read.assert_stopped();
    let f = read.failure();
    assert!(
        matches!(&f.kind, FailureKind::NotARecipient { recipients } if recipients.len() == 1),
        "{f}"
    );
    // The new session's first header arrives in the previous fragment's segment; the
    // failure is held until the cluster it leaves without a key, so the report names that
    // fragment by KVS number as well as by sequence number (seq 0 of the new session).
    assert_eq!(f.fragment.seq, Some(0), "{f}");
    assert_eq!(
        f.fragment.kvs_number.as_deref(),
        Some(fragments[restart].meta.fragment_number.as_str()),
        "{f}"
    );
    assert!(f.fragment.timecode.is_some(), "{f}");
    assert!(f.to_string().contains("seq 0"), "{f}");
    assert!(f.to_string().contains("not a recipient"), "{f}");
    // Everything from before the restart, nothing after.
    assert_output(&read, &lab.expected(PORCH, |fi, _| fi < restart));

    // The viewer still listed reads both runs.
    let read = lab.read(PORCH, false).await;
    assert!(
        read.outcome.success(),
        "{:?}\n{}",
        read.outcome.stopped,
        read.outcome.summary
    );
    assert_output(&read, &lab.expected(PORCH, |_, _| true));
}

/// The TimecodeScale of a stored fragment's Info altered (1 ms → 1.000001 ms, one bit):
/// the envelope authenticates frame timecodes as milliseconds, so the viewer refuses the
/// altered scale instead of writing every frame 30 minutes later per hour; nothing of that
/// fragment or after it is written, and the output's own scale stays 1 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_refuses_a_retimed_segment_and_writes_nothing_with_a_wrong_time() {
    // The first segment (whose Info an output would copy) and one in the middle.
    for bad in [0, 4] {
        let lab = Lab::new();
        let mut fragments = lab.fragments(STREAM);
        let bytes = &mut fragments[bad].bytes;
        // TimecodeScale: ID 2A D7 B1, a one-byte size 0x80|n, then n bytes of 1 000 000.
        let id = find(bytes, &[0x2A, 0xD7, 0xB1]).expect("a TimecodeScale element");
        let len = usize::from(bytes[id + 3] & 0x7F);
        let value = &bytes[id + 4..id + 4 + len];
        assert_eq!(
            value.iter().fold(0u64, |v, b| v << 8 | u64::from(*b)),
            1_000_000
        );
        bytes[id + 3 + len] ^= 0x01; // 1 000 001 ns
        lab.store(STREAM, fragments);

        for keep_going in [false, true] {
            let read = lab.read(STREAM, keep_going).await;
            let stopped = read.outcome.stopped.as_ref().expect("the read stopped");
            let msg = stopped.to_string();
            assert!(
                msg.contains("re-timed stream") && msg.contains("1000001 ns"),
                "{msg}"
            );
            assert!(!read.outcome.success());
            // What came before the altered segment, at the camera's times; nothing after.
            assert_output(&read, &lab.expected(STREAM, |fi, _| fi < bad));
        }
    }
}
