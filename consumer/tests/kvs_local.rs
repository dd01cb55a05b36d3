//! End to end through kvs-local (in-process on 127.0.0.1:0): sealed fragments written with
//! the real PutMedia client, read back live (GetMedia, with resume after a dropped
//! connection) and by archive (ListFragments + GetMediaForFragmentList), by the library and
//! by the real binary; a fragment tampered in kvs-local's storage is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use common::*;
use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::ack::AckEventType;
use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions};
use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaRequest, TimecodeType};
use kvs_e2ee_consumer::FailureKind;
use kvs_e2ee_consumer::{Config, Mode, OutputTarget, Start};
use kvs_e2ee_envelope::{PublicKey, SecretKey};
use kvs_e2ee_mkv::{Muxer, MuxerConfig};
use kvs_local::RunningServer;
use kvs_local::faults::{Fault, FaultScope};
use kvs_local::media::{MediaConfig, MediaPlane};

const BIN: &str = env!("CARGO_BIN_EXE_kvs-e2ee-consumer");
const LIMIT: Duration = Duration::from_secs(25);

struct Setup {
    server: RunningServer,
    _data: tempfile::TempDir,
    keys: KeyFiles,
    base: u64,
    /// The sealed session as the camera sent it.
    put: Vec<Item>,
}

fn options(server: &RunningServer) -> ConfigOptions {
    server.admin_client_options()
}

/// kvs-local with a stream holding one closed, sealed 5-fragment session.
async fn setup(seed: u64) -> Setup {
    kvs_e2ee_aws::config::install_crypto_provider();
    let data = tempfile::tempdir().unwrap();
    let mut config = kvs_local::Config::new(data.path());
    config.data_plane = Some(Arc::new(MediaPlane::new(MediaConfig {
        idle_ack_interval: Duration::from_millis(300),
        get_media_idle_end: Duration::from_millis(700),
        ..MediaConfig::default()
    })));
    let server = kvs_local::Server::start(config).await.unwrap();
    let client = ClientConfig::load(options(&server)).await.unwrap();
    kvs_e2ee_aws::control::create_stream(&client.control_client(), STREAM, 24, None)
        .await
        .unwrap();
    let keys = key_files(seed);
    let mut world = World::new(seed);
    world.viewer = keys.viewer.clone();
    let camera = keys.camera.clone();
    let mut sealer = world.camera_sealer(STREAM, &camera);
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let base = now_ms - 60_000;
    let put = produce(
        &mut world,
        &mut sealer,
        "A",
        base,
        FRAGMENTS,
        true,
        |_, _| {},
    );
    put_media(&server, &put).await;
    Setup {
        server,
        _data: data,
        keys,
        base,
        put,
    }
}

/// Sends the session over one PutMedia connection (the producer's MKV layout) and waits for
/// every fragment to persist.
async fn put_media(server: &RunningServer, put: &[Item]) {
    let mut mux = Muxer::new(MuxerConfig::default());
    let mut chunks = Vec::new();
    let mut b = BytesMut::new();
    mux.write_header(&mut b, &clear_tracks()).unwrap();
    for item in put {
        match item {
            Item::Tags { tags } => mux.write_tags(&mut b, tags).unwrap(),
            Item::Cluster { timecode, frames } => {
                mux.start_cluster(&mut b, *timecode).unwrap();
                for f in frames {
                    mux.write_frame(&mut b, f.track, f.timecode, f.keyframe, &f.data)
                        .unwrap();
                }
                chunks.push(b.split().freeze());
            }
        }
    }
    chunks.push(b.split().freeze());
    let mut req = PutMediaRequest::new(
        server.data_endpoint_url(),
        StreamId::Name(STREAM.into()),
        SystemTime::now(),
        server.admin_credentials(),
        server.region(),
    );
    req.timecode_type = TimecodeType::Absolute;
    let (mut tx, mut acks) = PutMediaConnection::open(req).await.unwrap();
    for c in chunks {
        tx.send(c).await.unwrap();
    }
    tx.finish();
    let mut persisted = 0;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(10), acks.recv())
        .await
        .expect("ACKs in time")
    {
        let ev = ev.unwrap();
        assert_ne!(ev.event_type, AckEventType::Error, "{ev:?}");
        if ev.event_type == AckEventType::Persisted {
            persisted += 1;
        }
    }
    assert_eq!(persisted, FRAGMENTS);
}

/// A read and the file it writes.
struct Read {
    config: Config,
    output: OutputTarget,
}

impl std::ops::Deref for Read {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.config
    }
}

impl std::ops::DerefMut for Read {
    fn deref_mut(&mut self) -> &mut Config {
        &mut self.config
    }
}

fn config(s: &Setup, mode: Mode, out: &Path, identity: SecretKey, trusted: PublicKey) -> Read {
    let config = Config {
        stream: STREAM.into(),
        identities: vec![identity],
        trusted_cameras: vec![trusted],
        mode,
        max_duration: Some(Duration::from_secs(20)),
        keep_going: false,
        inspect: false,
        client: options(&s.server),
        catch_up_idle: Duration::from_millis(500),
        progress: None,
        stop: None,
    };
    Read {
        config,
        output: OutputTarget::File(out.to_owned()),
    }
}

fn ms(t: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(t)
}

async fn run(read: Read) -> kvs_e2ee_consumer::Outcome {
    tokio::time::timeout(LIMIT, kvs_e2ee_consumer::run(read.config, &read.output))
        .await
        .expect("the read finishes in time")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reads_live_from_kvs_local_until_current() {
    let s = setup(11).await;
    let out = s.keys.dir.path().join("live.mkv");
    let mode = Mode::Live {
        start: Start::Earliest,
        until_current: true,
    };
    let c = config(
        &s,
        mode,
        &out,
        s.keys.viewer.clone(),
        s.keys.camera.public_key(),
    );
    let outcome = run(c).await;
    assert!(
        outcome.success(),
        "{:?} {}",
        outcome.stopped,
        outcome.summary
    );
    assert_eq!(outcome.summary.fragments_verified, 5);
    assert_eq!(
        outcome.summary.unterminated_sessions, 0,
        "the end record came through"
    );
    let written = read_output(&std::fs::read(&out).unwrap());
    assert_eq!(written.payloads(), frames_of("A", &[0, 1, 2, 3, 4]));
    assert_eq!(written.frames[0].timecode, s.base);
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_exports_archive_range_from_kvs_local() {
    let s = setup(12).await;
    let out = s.keys.dir.path().join("archive.mkv");
    // Fragments 1..=3 by producer time.
    let mode = Mode::Archive {
        from: ms(s.base + 500),
        to: ms(s.base + 3_500),
    };
    let c = config(
        &s,
        mode,
        &out,
        s.keys.viewer.clone(),
        s.keys.camera.public_key(),
    );
    let outcome = run(c).await;
    assert!(
        outcome.success(),
        "{:?} {}",
        outcome.stopped,
        outcome.summary
    );
    assert_eq!(
        read_output(&std::fs::read(&out).unwrap()).payloads(),
        frames_of("A", &[1, 2, 3])
    );
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_resumes_dropped_getmedia_without_gap_or_duplicate() {
    let s = setup(13).await;
    // Where fragment 1's second frame sits in the GetMedia response: cut inside it.
    let frame = cluster_data(&s.put, 1, 1);
    let body = raw_get_media(&s).await;
    let mid_cluster = body.windows(frame.len()).position(|w| w == frame).unwrap() + 5;
    for (n, cut) in [700u64, mid_cluster as u64].into_iter().enumerate() {
        s.server.faults().inject(
            FaultScope::Stream(STREAM.into()),
            Fault::DropConnectionAfterBytes { bytes: cut },
            1,
        );
        let out = s.keys.dir.path().join(format!("resumed-{n}.mkv"));
        let mode = Mode::Live {
            start: Start::Earliest,
            until_current: true,
        };
        let c = config(
            &s,
            mode,
            &out,
            s.keys.viewer.clone(),
            s.keys.camera.public_key(),
        );
        let outcome = run(c).await;
        assert!(
            s.server.faults().list().is_empty(),
            "the connection was cut"
        );
        assert!(
            outcome.success(),
            "cut {cut}: {:?} {}",
            outcome.stopped,
            outcome.summary
        );
        assert_eq!(
            read_output(&std::fs::read(&out).unwrap()).payloads(),
            frames_of("A", &[0, 1, 2, 3, 4]),
            "cut {cut}"
        );
    }
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_refuses_other_viewer_through_kvs_local() {
    let s = setup(14).await;
    let out = s.keys.dir.path().join("outsider.mkv");
    let outsider = World::new(99).outsider;
    let mode = Mode::Live {
        start: Start::Earliest,
        until_current: true,
    };
    let c = config(&s, mode, &out, outsider, s.keys.camera.public_key());
    let outcome = run(c).await;
    assert!(!outcome.success());
    assert!(
        matches!(
            &outcome.summary.failures[0].kind,
            FailureKind::NotARecipient { .. }
        ),
        "{}",
        outcome.summary
    );
    assert!(std::fs::read(&out).unwrap().is_empty());
    s.server.shutdown().await;
}

fn binary(s: &Setup, extra: &[&str]) -> std::process::Command {
    let creds = s.server.admin_credentials();
    let mut c = std::process::Command::new(BIN);
    c.args([
        "--stream",
        STREAM,
        "--identity",
        s.keys.files.viewer.to_str().unwrap(),
        "--trust",
        s.keys.files.trusted_cameras.to_str().unwrap(),
        "--endpoint-url",
        s.server.control_url(),
        "--region",
        s.server.region(),
    ])
    .args(extra)
    .env_remove("AWS_ENDPOINT_URL")
    .env_remove("AWS_PROFILE")
    .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
    .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key());
    c
}

async fn output_of(mut cmd: std::process::Command) -> std::process::Output {
    tokio::time::timeout(
        LIMIT,
        tokio::task::spawn_blocking(move || cmd.output().unwrap()),
    )
    .await
    .expect("the binary finishes in time")
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_exports_playable_mkv_and_inspects_without_decrypting() {
    let s = setup(15).await;
    let out = s.keys.dir.path().join("bin.mkv");
    let o = output_of(binary(
        &s,
        &[
            "--start",
            "earliest",
            "--until-current",
            "-o",
            out.to_str().unwrap(),
        ],
    ))
    .await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("5 fragments verified") && err.contains("everything read was verified"),
        "{err}"
    );
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(
        read_output(&bytes).payloads(),
        frames_of("A", &[0, 1, 2, 3, 4])
    );
    if have_tool("ffprobe") {
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_packets", "-show_entries"])
            .arg("stream=codec_name,nb_read_packets")
            .args(["-of", "csv=p=0"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(probe.status.success());
        let text = String::from_utf8(probe.stdout).unwrap();
        assert_eq!(text.lines().collect::<Vec<_>>(), vec!["h264,15", "aac,5"]);
    }

    let from = format!("{:.3}", (s.base - 1_000) as f64 / 1000.0);
    let to = format!("{:.3}", (s.base + 10_000) as f64 / 1000.0);
    let o = output_of(binary(&s, &["--inspect", "--from", &from, "--to", &to])).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let listing = String::from_utf8(o.stdout).unwrap();
    assert_eq!(listing.lines().count(), 5, "{listing}");
    let viewer_id = s.keys.viewer.key_id().to_string();
    assert!(
        listing
            .lines()
            .all(|l| l.contains(&viewer_id) && l.contains("frames 4")),
        "{listing}"
    );
    assert!(
        !listing.contains("payload"),
        "inspect decrypted something: {listing}"
    );
    // The first segment holds header 0 twice (before the first cluster, and repeated
    // before the second): each Tags run is read on its own, so both are listed.
    assert!(!listing.contains("unreadable"), "{listing}");
    let first = listing.lines().next().unwrap();
    assert_eq!(first.matches("header seq 0 ").count(), 2, "{first}");
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_refuses_fragment_tampered_in_storage() {
    let s = setup(16).await;
    // Flip one ciphertext byte of fragment 2, frame 1 wherever kvs-local stored it.
    let target = cluster_data(&s.put, 2, 1);
    let dir = s.server.state().streams.get(STREAM).unwrap().dir();
    let mut flipped = 0;
    for entry in walk(&dir) {
        let mut bytes = std::fs::read(&entry).unwrap();
        if let Some(pos) = bytes.windows(target.len()).position(|w| w == target) {
            bytes[pos + 2] ^= 0x40;
            std::fs::write(&entry, &bytes).unwrap();
            flipped += 1;
        }
    }
    assert_eq!(flipped, 1, "the frame is stored once");
    let out = s.keys.dir.path().join("tampered.mkv");
    let o = output_of(binary(
        &s,
        &[
            "--start",
            "earliest",
            "--until-current",
            "-o",
            out.to_str().unwrap(),
        ],
    ))
    .await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("seq 2") && err.contains("tampered frame: frame 1"),
        "{err}"
    );
    let written = read_output(&std::fs::read(&out).unwrap()).payloads();
    assert_eq!(written.len(), 4 + 4 + 1, "stops at the bad frame");

    let o = output_of(binary(
        &s,
        &[
            "--start",
            "earliest",
            "--until-current",
            "--keep-going",
            "-o",
            out.to_str().unwrap(),
        ],
    ))
    .await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("4 fragments verified") && err.contains("1 failures"),
        "{err}"
    );
    s.server.shutdown().await;
}

fn cluster_data(put: &[Item], fragment: usize, frame: usize) -> Vec<u8> {
    put.iter()
        .filter_map(|i| match i {
            Item::Cluster { frames, .. } => Some(frames),
            Item::Tags { .. } => None,
        })
        .nth(fragment)
        .unwrap()[frame]
        .data
        .clone()
}

/// The whole GetMedia response from the earliest fragment (ends when kvs-local goes idle).
async fn raw_get_media(s: &Setup) -> Vec<u8> {
    use kvs_e2ee_aws::control::{DataApi, get_data_endpoint};
    use kvs_e2ee_aws::getmedia::{StartSelector, get_media};
    let client = ClientConfig::load(options(&s.server)).await.unwrap();
    let stream = StreamId::Name(STREAM.into());
    let endpoint = get_data_endpoint(&client.control_client(), &stream, DataApi::GetMedia)
        .await
        .unwrap();
    let mut body = get_media(
        &client.media_client(&endpoint),
        &stream,
        &StartSelector::Earliest,
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    while let Some(c) = tokio::time::timeout(LIMIT, body.next_chunk())
        .await
        .unwrap()
    {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A producer streaming frame by frame while the viewer reads live; kvs-local cuts the
/// viewer's GetMedia inside a fragment. The resumed read re-sends that fragment from its
/// start: the output has every frame exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_resumes_live_getmedia_cut_mid_fragment() {
    kvs_e2ee_aws::config::install_crypto_provider();
    let mut resumed_somewhere = false;
    // The cut must land inside a cluster that is still arriving; offsets around fragment 1.
    for (n, cut) in [2_880u64, 2_960, 3_040].into_iter().enumerate() {
        let data = tempfile::tempdir().unwrap();
        let mut local = kvs_local::Config::new(data.path());
        local.data_plane = Some(Arc::new(MediaPlane::new(MediaConfig {
            idle_ack_interval: Duration::from_millis(300),
            get_media_idle_end: Duration::from_millis(700),
            ..MediaConfig::default()
        })));
        let server = kvs_local::Server::start(local).await.unwrap();
        let client = ClientConfig::load(options(&server)).await.unwrap();
        kvs_e2ee_aws::control::create_stream(&client.control_client(), STREAM, 24, None)
            .await
            .unwrap();
        let keys = key_files(20 + n as u64);
        let mut world = World::new(20);
        world.viewer = keys.viewer.clone();
        let camera = keys.camera.clone();
        let mut sealer = world.camera_sealer(STREAM, &camera);
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let put = produce(
            &mut world,
            &mut sealer,
            "A",
            now_ms,
            FRAGMENTS,
            true,
            |_, _| {},
        );

        let mut req = PutMediaRequest::new(
            server.data_endpoint_url(),
            StreamId::Name(STREAM.into()),
            SystemTime::now(),
            server.admin_credentials(),
            server.region(),
        );
        req.timecode_type = TimecodeType::Absolute;
        let (mut tx, mut acks) = PutMediaConnection::open(req).await.unwrap();
        // The fault must hit the viewer's GetMedia, not this PutMedia: inject it only once
        // kvs-local has admitted the PutMedia request (its first ACK, an IDLE, proves it).
        let mut mux = Muxer::new(MuxerConfig::default());
        let mut b = BytesMut::new();
        mux.write_header(&mut b, &clear_tracks()).unwrap();
        tx.send(b.split().freeze()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), acks.recv())
            .await
            .expect("an ACK from the admitted PutMedia")
            .unwrap()
            .unwrap();
        server.faults().inject(
            FaultScope::Stream(STREAM.into()),
            Fault::DropConnectionAfterBytes { bytes: cut },
            1,
        );
        let s = Setup {
            server,
            _data: data,
            keys,
            base: now_ms,
            put: put.clone(),
        };
        let out = s.keys.dir.path().join("live.mkv");
        let mode = Mode::Live {
            start: Start::Earliest,
            until_current: true,
        };
        let mut c = config(
            &s,
            mode,
            &out,
            s.keys.viewer.clone(),
            s.keys.camera.public_key(),
        );
        c.catch_up_idle = Duration::from_millis(1_500);
        let producer = async move {
            for item in &put {
                match item {
                    Item::Tags { tags } => mux.write_tags(&mut b, tags).unwrap(),
                    Item::Cluster { timecode, frames } => {
                        mux.start_cluster(&mut b, *timecode).unwrap();
                        for f in frames {
                            mux.write_frame(&mut b, f.track, f.timecode, f.keyframe, &f.data)
                                .unwrap();
                            tx.send(b.split().freeze()).await.unwrap();
                            tokio::time::sleep(Duration::from_millis(40)).await;
                        }
                    }
                }
            }
            tx.send(b.split().freeze()).await.unwrap();
            tx.finish();
            while let Some(ev) = tokio::time::timeout(Duration::from_secs(10), acks.recv())
                .await
                .unwrap()
            {
                assert_ne!(ev.unwrap().event_type, AckEventType::Error);
            }
        };
        let (outcome, ()) = tokio::join!(run(c), producer);
        assert!(
            s.server.faults().list().is_empty(),
            "cut {cut}: the connection was cut"
        );
        assert!(
            outcome.success(),
            "cut {cut}: {:?} {}",
            outcome.stopped,
            outcome.summary
        );
        assert_eq!(
            read_output(&std::fs::read(&out).unwrap()).payloads(),
            frames_of("A", &[0, 1, 2, 3, 4]),
            "cut {cut}"
        );
        resumed_somewhere |= outcome.summary.fragments_resumed > 0;
        s.server.shutdown().await;
    }
    assert!(resumed_somewhere, "no cut landed inside a fragment");
}

/// `-o -` into a reader that goes away (a player closed): a clean exit, not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_treats_broken_pipe_as_clean_exit() {
    let s = setup(17).await;
    let mut cmd = binary(&s, &["--start", "earliest", "--until-current", "-o", "-"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = tokio::time::timeout(
        LIMIT,
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().unwrap();
            // The reader is gone before the first byte: every write hits EPIPE.
            drop(child.stdout.take());
            child.wait_with_output().unwrap()
        }),
    )
    .await
    .expect("the binary finishes in time")
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");
    assert!(
        !err.contains("5 fragments verified"),
        "it stopped at the closed pipe: {err}"
    );
    s.server.shutdown().await;
}

/// A device that views with its IoT certificate: the binary gets temporary credentials from
/// kvs-local's IoT credentials provider over mutual TLS. kvs-local's default role is the
/// KVS guide's camera policy, which does not allow GetMedia: the refusal names the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_uses_iot_credentials_and_reports_policy_refusal() {
    let s = setup(18).await;
    let iot = s
        .server
        .iot_url()
        .expect("kvs-local serves IoT credentials");
    let thing = s
        .server
        .provision_thing(
            STREAM,
            kvs_local::iot::KeyType::EcP256,
            &s.keys.dir.path().join("device"),
        )
        .unwrap();
    let mut cmd = std::process::Command::new(BIN);
    cmd.args([
        "--stream",
        STREAM,
        "--identity",
        s.keys.files.viewer.to_str().unwrap(),
        "--trust",
        s.keys.files.trusted_cameras.to_str().unwrap(),
        "--endpoint-url",
        s.server.control_url(),
        "--region",
        s.server.region(),
        "--until-current",
        "-o",
        "/dev/null",
        "--iot-endpoint",
        &iot,
        "--iot-role-alias",
        &thing.role_alias,
        "--iot-thing-name",
        STREAM,
        "--iot-cert",
        thing.certificate_path.to_str().unwrap(),
        "--iot-key",
        thing.private_key_path.to_str().unwrap(),
        "--iot-ca",
        thing.ca_path.to_str().unwrap(),
    ])
    .env_remove("AWS_ACCESS_KEY_ID")
    .env_remove("AWS_SECRET_ACCESS_KEY")
    .env_remove("AWS_ENDPOINT_URL");
    let o = output_of(cmd).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("GetMedia") && err.contains("assumed-role/KVSCameraCertificateBasedIAMRole"),
        "{err}"
    );
    s.server.shutdown().await;
}

/// A live read of a quiet stream keeps resuming the responses kvs-local ends when idle, and
/// stops cleanly at `--max-duration`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_live_read_stops_at_max_duration() {
    let s = setup(19).await;
    let out = s.keys.dir.path().join("now.mkv");
    let mode = Mode::Live {
        start: Start::Now,
        until_current: false,
    };
    let mut c = config(
        &s,
        mode,
        &out,
        s.keys.viewer.clone(),
        s.keys.camera.public_key(),
    );
    c.max_duration = Some(Duration::from_millis(2_500));
    let started = std::time::Instant::now();
    let outcome = run(c).await;
    let took = started.elapsed();
    assert!(outcome.stopped.is_none(), "{:?}", outcome.stopped);
    assert!(
        took >= Duration::from_millis(2_400) && took < Duration::from_secs(10),
        "{took:?}"
    );
    s.server.shutdown().await;
}

/// Live reads that start mid-session (after a fragment number, at a producer time) decrypt
/// their first fragment from its own segment, where its header follows the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_starts_mid_session_by_fragment_number_and_time() {
    use kvs_e2ee_aws::archive::{TimestampKind, list_fragments};
    use kvs_e2ee_aws::control::{DataApi, get_data_endpoint};
    let s = setup(21).await;
    let client = ClientConfig::load(options(&s.server)).await.unwrap();
    let stream = StreamId::Name(STREAM.into());
    let endpoint = get_data_endpoint(&client.control_client(), &stream, DataApi::ListFragments)
        .await
        .unwrap();
    let listed = list_fragments(
        &client.archive_client(&endpoint),
        &stream,
        ms(s.base - 1_000),
        ms(s.base + 10_000),
        TimestampKind::Producer,
    )
    .await
    .unwrap();
    assert_eq!(listed.len(), FRAGMENTS);
    for (n, start) in [
        // kvs-local reads AfterFragmentNumber as inclusive, like the AWS docs' "from where".
        Start::Fragment(listed[2].number.clone()),
        Start::ProducerTime(ms(s.base + 2_000)),
    ]
    .into_iter()
    .enumerate()
    {
        let out = s.keys.dir.path().join(format!("mid-{n}.mkv"));
        let mode = Mode::Live {
            start: start.clone(),
            until_current: true,
        };
        let c = config(
            &s,
            mode,
            &out,
            s.keys.viewer.clone(),
            s.keys.camera.public_key(),
        );
        let outcome = run(c).await;
        assert!(
            outcome.success(),
            "{start:?}: {:?} {}",
            outcome.stopped,
            outcome.summary
        );
        assert_eq!(
            read_output(&std::fs::read(&out).unwrap()).payloads(),
            frames_of("A", &[2, 3, 4]),
            "{start:?}"
        );
    }
    s.server.shutdown().await;
}
