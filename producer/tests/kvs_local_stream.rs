//! The producer against kvs-local started in-process: a Matroska clip and an
//! Annex-B file are streamed through the real PutMedia client; every fragment
//! must be PERSISTED and stored, and the stored fragments, opened with the
//! envelope as a viewer would, must give back every source frame, in order,
//! once — also when kvs-local cuts connections, answers 5xx or throttling, or
//! sends retryable ERROR acks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions, CredentialSource};
use kvs_e2ee_envelope::FrameCipher;
use kvs_e2ee_envelope::{ChainEvent, FailureKind, OpenerConfig, PublicKey};
use kvs_e2ee_keys::{Identity, KeyKind, PairFiles, SecretKey};
use kvs_e2ee_mkv::{Demuxer, Event};
use kvs_e2ee_producer::annexb::{Codec, FrameRate};
use kvs_e2ee_producer::config::{
    Config, Credentials, DEFAULT_RETENTION_HOURS, Input, Source, StreamSettings,
};
use kvs_e2ee_producer::engine::{EngineConfig, EngineStats};
use kvs_e2ee_producer::media::SourceEvent;
use kvs_e2ee_producer::run::{RunError, stream_source, stream_with};
use kvs_e2ee_producer::source::MediaReader;
use kvs_e2ee_test_support::view_mkv;
use kvs_local::faults::{Fault, FaultScope};
use kvs_local::media::store::FragmentStore;
use kvs_local::{RunningServer, Server};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

const CLIP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/demo-clip.mkv");

/// `--source CLIP`.
fn clip() -> Source {
    Source::Mkv(Input::File(CLIP.into()))
}
const ANNEXB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/sample-320x240.h264"
);

struct Camera {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    keys: PairFiles,
    camera: PublicKey,
    viewer: SecretKey,
    server: RunningServer,
}

async fn setup() -> Camera {
    setup_with(|_| {}).await
}

async fn setup_with(tune: impl FnOnce(&mut kvs_local::Config)) -> Camera {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
    let keys = PairFiles::generate(&path, &mut rng).unwrap();
    let camera = Identity::load_kind(&keys.camera, KeyKind::Camera).unwrap();
    let viewer = Identity::load_kind(&keys.viewer, KeyKind::Viewer).unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut server_config = kvs_local::Config::new(path.join("kvs"));
    tune(&mut server_config);
    let server = Server::start(server_config).await.unwrap();
    Camera {
        camera: camera.public_key(),
        viewer: viewer.active().clone(),
        _dir: dir,
        dir: path,
        keys,
        server,
    }
}

impl Camera {
    /// What `kvs-e2ee-producer --stream STREAM --create-stream --endpoint-url … --region …
    /// --identity … --recipients … --source SOURCE [--fragment-duration D]` configures.
    fn config(&self, stream: &str, source: Source, fragment_duration: Duration) -> Config {
        Config {
            stream: StreamSettings {
                stream_name: stream.into(),
                identity: self.keys.camera.clone(),
                recipients: self.keys.recipients.clone(),
                create_stream: Some(DEFAULT_RETENTION_HOURS),
                fragment_duration,
                frame_cipher: FrameCipher::fastest_here(),
                buffer_size: 60_000_000,
                spool: None,
                stats_interval: None,
            },
            source,
            endpoint_url: Some(self.server.control_url().to_owned()),
            ca_bundle: None,
            region: Some(self.server.region().to_owned()),
            credentials: Credentials::DefaultChain,
        }
    }

    async fn client(&self) -> ClientConfig {
        ClientConfig::load(self.server.admin_client_options())
            .await
            .unwrap()
    }

    /// Every stored fragment of `stream`, in order.
    fn stored(&self, stream: &str) -> Vec<Vec<u8>> {
        let dir = self.server.state().streams.get(stream).unwrap().dir();
        let store = FragmentStore::open(&dir).unwrap();
        store
            .fragments()
            .iter()
            .map(|m| store.read(m).unwrap())
            .collect()
    }

    /// Opens the stored fragments as a viewer: `(track, plaintext)` of every
    /// frame released, in order; duplicates (resends) are dropped by the
    /// envelope. Asserts that the chain is complete and closed.
    fn watch(&self, stream: &str) -> Vec<(u64, Vec<u8>)> {
        self.watch_allowing(stream, false)
    }

    /// [`Self::watch`]; with `replays`, an identical copy of a fragment arriving after its
    /// successors is tolerated (reported as a replay and dropped, as the viewer does).
    fn watch_allowing(&self, stream: &str, replays: bool) -> Vec<(u64, Vec<u8>)> {
        let opener = OpenerConfig {
            stream_name: stream.into(),
            identities: vec![self.viewer.clone()],
            trusted_cameras: vec![self.camera],
            danger_accept_plaintext: false,
        };
        let viewed = view_mkv(opener, &self.stored(stream).concat()).unwrap();
        let alarms: Vec<_> = viewed
            .chain
            .iter()
            .filter(|c| c.is_alarm() && !(replays && matches!(c, ChainEvent::Replayed { .. })))
            .collect();
        assert!(alarms.is_empty(), "chain alarms: {alarms:?}");
        let failures: Vec<_> = viewed
            .failures
            .iter()
            .filter(|f| !(replays && f.kind == FailureKind::Replayed))
            .collect();
        assert!(failures.is_empty(), "failures: {failures:?}");
        assert!(
            viewed.closed(),
            "the envelope chain was closed by the end record"
        );
        viewed.payloads()
    }
}

/// `(track, payload)` of every frame the producer must send: the source's
/// frames from the first video key frame on.
async fn source_frames(config: &Config) -> Vec<(u64, Vec<u8>)> {
    let mut reader = MediaReader::open(&config.source).await.unwrap();
    let mut video = None;
    let mut out = Vec::new();
    while let Some(ev) = reader.next_event().await.unwrap() {
        match ev {
            SourceEvent::Tracks(t) => {
                video = t.iter().find(|t| t.is_video()).map(|t| t.number);
            }
            SourceEvent::Frame(f) => {
                if out.is_empty() && !(f.keyframe && Some(f.track) == video) {
                    continue;
                }
                out.push((f.track, f.data.to_vec()));
            }
        }
    }
    out
}

/// A fragment stored twice (sent again after its PERSISTED ack was lost)
/// must carry the same cluster bytes: resends are byte for byte.
fn assert_duplicates_identical(stored: &[Vec<u8>]) {
    let mut seen = std::collections::HashMap::new();
    for f in stored {
        let mut d = Demuxer::new();
        d.push(f);
        let mut cluster = None;
        let mut frames = Vec::new();
        while let Some(ev) = d.next_event().unwrap() {
            match ev {
                Event::ClusterStart { timecode, .. } => cluster = Some(timecode),
                Event::Frame(fr) => frames.push((fr.track, fr.timecode, fr.data.to_vec())),
                _ => {}
            }
        }
        let tc = cluster.expect("a stored fragment has a cluster");
        if let Some(prev) = seen.insert(tc, frames.clone()) {
            assert!(
                prev == frames,
                "fragment {tc} was resent with different bytes"
            );
        }
    }
}

fn fast() -> EngineConfig {
    EngineConfig {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        drain_timeout: Duration::from_secs(5),
        ..EngineConfig::default()
    }
}

async fn stream(
    cam: &Camera,
    config: Config,
    engine: EngineConfig,
) -> Result<EngineStats, RunError> {
    let client = cam.client().await;
    tokio::time::timeout(
        Duration::from_secs(25),
        stream_with(config, client, engine, Arc::new(Notify::new())),
    )
    .await
    .expect("the producer finished in time")
}

#[tokio::test]
async fn mkv_clip_is_persisted_stored_and_decrypts_frame_for_frame() {
    let cam = setup().await;
    let config = cam.config("clip", clip(), Duration::from_secs(1));
    let expected = source_frames(&config).await;
    let stats = stream(&cam, config, fast()).await.unwrap();
    assert!(stats.fragments >= 2, "{stats:?}");
    assert_eq!(stats.fragments_persisted, stats.fragments, "{stats:?}");
    assert_eq!(cam.stored("clip").len() as u64, stats.fragments);
    let got = cam.watch("clip");
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "frames differ from the source");
    cam.server.shutdown().await;
}

#[tokio::test]
async fn annexb_file_is_persisted_stored_and_decrypts_frame_for_frame() {
    let cam = setup().await;
    let config = cam.config(
        "annexb",
        Source::AnnexB {
            input: Input::File(ANNEXB.into()),
            codec: Codec::H264,
            fps: FrameRate::new(30, 1).unwrap(),
        },
        Duration::from_secs(1),
    );
    let expected = source_frames(&config).await;
    let stats = stream(&cam, config, fast()).await.unwrap();
    assert_eq!(stats.fragments, 2, "{stats:?}");
    assert_eq!(stats.fragments_persisted, 2);
    assert_eq!(cam.stored("annexb").len(), 2);
    assert!(
        cam.watch("annexb") == expected,
        "frames differ from the source"
    );
    cam.server.shutdown().await;
}

#[tokio::test]
async fn cut_connections_and_error_acks_lose_nothing() {
    let cam = setup().await;
    let config = cam.config("faulty", clip(), Duration::from_secs(1));
    let expected = source_frames(&config).await;
    let scope = || FaultScope::Stream("faulty".into());
    let faults = cam.server.faults();
    // Data-plane faults, one per PutMedia connection in this order.
    faults.inject(
        scope(),
        Fault::DropConnectionAfterBytes { bytes: 150_000 },
        1,
    );
    faults.inject(scope(), Fault::AckError { error_id: 5000 }, 1);
    faults.inject(scope(), Fault::DropConnectionAfterBytes { bytes: 300 }, 1);
    faults.inject(scope(), Fault::AckError { error_id: 4000 }, 1);
    faults.inject(scope(), Fault::Stall { millis: 800 }, 1);
    let stats = stream(&cam, config, fast()).await.unwrap();
    assert!(faults.list().is_empty(), "every fault was hit");
    assert!(stats.reconnects >= 4, "{stats:?}");
    assert_eq!(stats.connections, stats.reconnects + 1, "{stats:?}");
    assert_duplicates_identical(&cam.stored("faulty"));
    let got = cam.watch("faulty");
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "frames lost, reordered or duplicated");
    cam.server.shutdown().await;
}

/// Server errors and throttling happen on reconnects: the source is fed
/// slowly and the connection rotated often, and the faults are injected once
/// streaming has started (so DescribeStream/GetDataEndpoint do not take them).
#[tokio::test]
async fn server_errors_and_throttling_on_reconnect_lose_nothing() {
    let cam = setup().await;
    let config = cam.config("throttled", clip(), Duration::from_secs(1));
    let expected = source_frames(&config).await;
    let (mut writer, pipe) = tokio::io::duplex(16 * 1024);
    let reader = MediaReader::mkv("pipe".into(), Box::new(pipe));
    let engine = EngineConfig {
        rotate_after: Duration::from_millis(100),
        ..fast()
    };
    let client = cam.client().await;
    let run = tokio::spawn(stream_source(
        config,
        client,
        reader,
        engine,
        Arc::new(Notify::new()),
    ));
    let clip = std::fs::read(Path::new(CLIP)).unwrap();
    let (first, rest) = clip.split_at(clip.len() / 3);
    writer.write_all(first).await.unwrap();
    // Wait until something is stored: streaming has started.
    let stored = || {
        cam.server
            .state()
            .streams
            .get("throttled")
            .and_then(|s| FragmentStore::open(&s.dir()).ok())
            .is_some_and(|st| !st.fragments().is_empty())
    };
    let t0 = tokio::time::Instant::now();
    while !stored() {
        assert!(t0.elapsed() < Duration::from_secs(10), "nothing stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let faults = cam.server.faults();
    let scope = || FaultScope::Stream("throttled".into());
    faults.inject(scope(), Fault::ServerError { status: 500 }, 2);
    faults.inject(scope(), Fault::Throttle, 1);
    faults.inject(scope(), Fault::ServerError { status: 503 }, 1);
    for chunk in rest.chunks(32 * 1024) {
        writer.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    drop(writer);
    let stats = tokio::time::timeout(Duration::from_secs(25), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        faults.list().is_empty(),
        "every fault was hit: {:?}",
        faults.list()
    );
    // After three failures in a row the data endpoint is looked up again;
    // that GetDataEndpoint may take the last fault (the SDK retries it).
    assert!(stats.reconnects >= 3 && stats.rotations >= 1, "{stats:?}");
    assert_duplicates_identical(&cam.stored("throttled"));
    let got = cam.watch("throttled");
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "frames lost, reordered or duplicated");
    cam.server.shutdown().await;
}

/// Writes `clip` into `writer` slowly (about `seconds` in all), as a camera would.
async fn feed_slowly(mut writer: tokio::io::DuplexStream, clip: Vec<u8>, seconds: f64) {
    let chunks = clip.chunks(16 * 1024).count().max(1);
    let pause = Duration::from_secs_f64(seconds / chunks as f64);
    for chunk in clip.chunks(16 * 1024) {
        writer.write_all(chunk).await.unwrap();
        tokio::time::sleep(pause).await;
    }
}

/// A camera with its own IoT certificate, whose temporary credentials live
/// two seconds, streams for several credential lifetimes (rotating the
/// connection every 700 ms, so connections are signed with fresh
/// credentials again and again): nothing is lost.
#[tokio::test]
async fn iot_credentials_expiring_every_two_seconds_lose_nothing() {
    let cam = setup_with(|c| c.credential_duration_override = Some(Duration::from_secs(2))).await;
    super_admin_create(&cam, "iot-cam").await;
    let thing = cam
        .server
        .provision_thing(
            "iot-cam",
            kvs_local::iot::KeyType::EcP256,
            &cam.dir.join("thing"),
        )
        .unwrap();
    let config = cam.config("iot-cam", clip(), Duration::from_secs(1));
    let expected = source_frames(&config).await;
    let mut iot = kvs_e2ee_aws::iot::IotConfig::new(
        cam.server.iot_url().unwrap(),
        thing.role_alias.clone(),
        "iot-cam",
        thing.certificate_path.clone(),
        thing.private_key_path.clone(),
        thing.ca_path.clone(),
    );
    // Two-second credentials: refresh when less than half a second is left.
    iot.refresh_margin = Duration::from_millis(500);
    let client = ClientConfig::load(ConfigOptions {
        region: Some(cam.server.region().to_owned()),
        endpoint_url: Some(cam.server.control_url().to_owned()),
        credentials: CredentialSource::Iot(iot),
        media_stall_grace: None,
        ca_bundle: None,
    })
    .await
    .unwrap();
    let (writer, pipe) = tokio::io::duplex(16 * 1024);
    let reader = MediaReader::mkv("pipe".into(), Box::new(pipe));
    let engine = EngineConfig {
        rotate_after: Duration::from_millis(700),
        ..fast()
    };
    let feeder = tokio::spawn(feed_slowly(writer, std::fs::read(CLIP).unwrap(), 5.0));
    let stats = tokio::time::timeout(
        Duration::from_secs(25),
        stream_source(config, client, reader, engine, Arc::new(Notify::new())),
    )
    .await
    .unwrap()
    .unwrap();
    feeder.await.unwrap();
    assert!(stats.connections >= 4, "{stats:?}");
    let got = cam.watch("iot-cam");
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "frames lost, reordered or duplicated");
    cam.server.shutdown().await;
}

/// Creates `name` with the admin credentials (a camera may not create streams).
async fn super_admin_create(cam: &Camera, name: &str) {
    let client = cam.client().await;
    kvs_e2ee_aws::control::create_stream(&client.control_client(), name, 24, None)
        .await
        .unwrap();
}

/// `--spool`: while every PutMedia connection is cut at once (KVS
/// unreachable), fragments pile up in the spool; the producer is then killed
/// mid-stream (its task aborted: nothing is flushed or closed). A new run on
/// the same spool sends every spooled fragment first, once, then its own.
#[tokio::test]
async fn spooled_fragments_survive_a_kill_and_arrive_once_after_restart() {
    let cam = setup().await;
    let spool = cam.dir.join("spool");
    let spooled_config = || {
        let mut config = cam.config("spooled", clip(), Duration::from_secs(1));
        config.stream.spool = Some(spool.clone());
        config
    };
    let client = cam.client().await;
    super_admin_create(&cam, "spooled").await;
    let faults = cam.server.faults();
    let outage = faults.inject(
        FaultScope::Stream("spooled".into()),
        Fault::DropConnectionAfterBytes { bytes: 0 },
        1_000_000,
    );
    // Run 1: fed slowly, killed after about half the clip.
    let (mut writer, pipe) = tokio::io::duplex(16 * 1024);
    let reader = MediaReader::mkv("pipe".into(), Box::new(pipe));
    let run1 = tokio::spawn(stream_source(
        spooled_config(),
        client.clone(),
        reader,
        fast(),
        Arc::new(Notify::new()),
    ));
    let clip = std::fs::read(CLIP).unwrap();
    for chunk in clip[..clip.len() / 2].chunks(16 * 1024) {
        writer.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    run1.abort();
    let _ = run1.await;
    // Unlike SIGKILL, aborting the task leaves a request already in flight
    // running; let the outage rule catch it before checking.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        cam.stored("spooled").is_empty(),
        "nothing got through the outage"
    );
    let spooled: Vec<i64> = {
        let (s, report) = kvs_e2ee_producer::spool::Spool::open(&spool, 60_000_000).unwrap();
        assert_eq!(report.corrupt_removed, 0);
        s.unacknowledged_from(0).map(|e| e.timecode_ms).collect()
    };
    assert!(spooled.len() >= 2, "fragments were spooled: {spooled:?}");
    // Run 2: KVS is back; the whole clip again.
    assert!(faults.remove(outage));
    let stats = stream(&cam, spooled_config(), fast()).await.unwrap();
    assert_eq!(
        stats.fragments_persisted,
        stats.fragments + spooled.len() as u64,
        "{stats:?}"
    );
    let mut stored = Vec::new();
    for f in cam.stored("spooled") {
        let mut d = Demuxer::new();
        d.push(&f);
        while let Some(ev) = d.next_event().unwrap() {
            if let Event::ClusterStart { timecode, .. } = ev {
                stored.push(timecode as i64);
            }
        }
    }
    // The spooled fragments first, in order, each once; then run 2's.
    assert_eq!(&stored[..spooled.len()], &spooled[..]);
    let unique: std::collections::BTreeSet<_> = stored.iter().collect();
    assert_eq!(
        unique.len(),
        stored.len(),
        "a fragment was stored twice: {stats:?} spooled {spooled:?} stored {stored:?}"
    );
    assert_eq!(stored.len() as u64, stats.fragments_persisted);
    cam.server.shutdown().await;
}

/// A non-retryable ERROR ack stops the producer with the ErrorId named.
#[tokio::test]
async fn non_retryable_error_ack_stops_with_a_clear_message() {
    let cam = setup().await;
    let config = cam.config("rejected", clip(), Duration::from_secs(2));
    super_admin_create(&cam, "rejected").await;
    cam.server.faults().inject(
        FaultScope::Stream("rejected".into()),
        Fault::AckError { error_id: 4006 },
        1,
    );
    let err = stream(&cam, config, fast()).await.unwrap_err();
    assert_eq!(err.exit_code(), kvs_e2ee_producer::run::EXIT_STREAM);
    let msg = err.to_string();
    assert!(
        msg.contains("4006") && msg.contains("INVALID_MKV_DATA") && msg.contains("not retryable"),
        "{msg}"
    );
    cam.server.shutdown().await;
}

/// A truncated Matroska file: the error names the input and the offset, and
/// every fragment completed before it was still persisted.
#[tokio::test]
async fn truncated_input_is_reported_after_flushing_what_was_accepted() {
    let cam = setup().await;
    let clip = std::fs::read(CLIP).unwrap();
    let cut = cam.dir.join("cut.mkv");
    std::fs::write(&cut, &clip[..clip.len() * 3 / 5]).unwrap();
    let config = cam.config(
        "cut",
        Source::Mkv(Input::File(cut.clone())),
        Duration::from_secs(1),
    );
    let err = stream(&cam, config, fast()).await.unwrap_err();
    assert_eq!(err.exit_code(), kvs_e2ee_producer::run::EXIT_INPUT, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("cut.mkv") && msg.contains("offset"), "{msg}");
    let stored = cam.stored("cut");
    assert!(
        stored.len() >= 2,
        "fragments before the damage were persisted"
    );
    // The closed chain proves the end record was written after the flush.
    assert!(!cam.watch("cut").is_empty());
    cam.server.shutdown().await;
}

/// A connection that stalls longer than the ACK timeout is broken off (not
/// ended cleanly, which would make KVS store a truncated fragment) and its
/// fragments are sent again: the viewer sees a complete chain.
#[tokio::test]
async fn stalled_connection_is_broken_off_and_nothing_is_truncated() {
    let cam = setup().await;
    let config = cam.config("stalled", clip(), Duration::from_secs(1));
    let expected = source_frames(&config).await;
    super_admin_create(&cam, "stalled").await;
    cam.server.faults().inject(
        FaultScope::Stream("stalled".into()),
        Fault::Stall { millis: 1500 },
        1,
    );
    let engine = EngineConfig {
        ack_timeout: Duration::from_millis(400),
        ..fast()
    };
    // Fed slowly, so the stall hits while the connection is up mid-fragment.
    let (writer, pipe) = tokio::io::duplex(16 * 1024);
    let reader = MediaReader::mkv("pipe".into(), Box::new(pipe));
    let feeder = tokio::spawn(feed_slowly(writer, std::fs::read(CLIP).unwrap(), 2.0));
    let client = cam.client().await;
    let stats = tokio::time::timeout(
        Duration::from_secs(25),
        stream_source(config, client, reader, engine, Arc::new(Notify::new())),
    )
    .await
    .unwrap()
    .unwrap();
    feeder.await.unwrap();
    assert!(stats.reconnects >= 1, "{stats:?}");
    // Let the stalled connection's late processing finish before reading.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_duplicates_identical(&cam.stored("stalled"));
    // The stalled connection's copy of its fragment is stored late, after the resend and
    // its successors: the viewer drops it and reports it as a replay (it cannot tell a
    // late identical copy from a replayed one); no frame is lost or duplicated.
    let got = cam.watch_allowing("stalled", true);
    assert!(got == expected, "frames lost, reordered or duplicated");
    cam.server.shutdown().await;
}

fn with_connection_limit(c: &mut kvs_local::Config, max: Duration) {
    c.data_plane = Some(Arc::new(kvs_local::media::MediaPlane::new(
        kvs_local::media::MediaConfig {
            max_connection_duration: Some(max),
            ..kvs_local::media::MediaConfig::default()
        },
    )));
}

/// KVS ends connections that live too long with ErrorId 4003: a producer
/// that does not rotate in time reconnects and resends; one that rotates
/// before the limit never sees the error. Either way nothing is lost.
#[tokio::test]
async fn connection_duration_limit_is_met_by_reconnecting_or_by_rotating_first() {
    for rotate_after in [None, Some(Duration::from_millis(300))] {
        let cam = setup_with(|c| with_connection_limit(c, Duration::from_millis(800))).await;
        let config = cam.config("limited", clip(), Duration::from_secs(1));
        let expected = source_frames(&config).await;
        let (writer, pipe) = tokio::io::duplex(16 * 1024);
        let reader = MediaReader::mkv("pipe".into(), Box::new(pipe));
        let mut engine = fast();
        if let Some(r) = rotate_after {
            engine.rotate_after = r;
        }
        let feeder = tokio::spawn(feed_slowly(writer, std::fs::read(CLIP).unwrap(), 2.5));
        let client = cam.client().await;
        let stats = tokio::time::timeout(
            Duration::from_secs(25),
            stream_source(config, client, reader, engine, Arc::new(Notify::new())),
        )
        .await
        .unwrap()
        .unwrap();
        feeder.await.unwrap();
        match rotate_after {
            None => assert!(
                stats.reconnects >= 1,
                "4003 answered by reconnecting: {stats:?}"
            ),
            Some(_) => assert!(
                stats.reconnects == 0 && stats.rotations >= 2,
                "rotated before the limit: {stats:?}"
            ),
        }
        assert_duplicates_identical(&cam.stored("limited"));
        let got = cam.watch("limited");
        assert!(got == expected, "frames lost, reordered or duplicated");
        cam.server.shutdown().await;
    }
}
