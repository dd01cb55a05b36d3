//! A camera with an IoT device certificate streams a 30-second clip while kvs-local
//! issues temporary credentials that live three seconds: the shared IoT provider refreshes
//! them before they expire, the producer's PutMedia connections (rotated every second, so
//! each is signed anew) never meet an expired token, and the viewer library reads back
//! every frame, in order, once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions, CredentialSource};
use kvs_e2ee_consumer::run::{Config, Mode, OutputTarget, Start};
use kvs_e2ee_envelope::FrameCipher;
use kvs_e2ee_keys::{Identity, KeyKind, PairFiles};
use kvs_e2ee_producer::annexb::{AnnexBConfig, Codec, FrameRate};
use kvs_e2ee_producer::config::{Config as CameraConfig, Credentials, Input, IotConfig, Source};
use kvs_e2ee_producer::engine::EngineConfig;
use kvs_e2ee_producer::media::SourceEvent;
use kvs_e2ee_producer::source::MediaReader;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

const STREAM: &str = "garden";
/// 2 s of 320×240 H.264 at 30 fps, a key frame every 30 frames (Annex-B).
const SAMPLE: &[u8] = include_bytes!("../producer/tests/data/sample-320x240.h264");
/// Copies of the sample in the clip: 30 s.
const COPIES: usize = 15;
/// Lifetime of every temporary credential kvs-local issues.
const CREDENTIAL_LIFETIME: Duration = Duration::from_secs(3);
/// The provider refreshes when less than this is left (the default, 5 minutes, is longer
/// than the whole lifetime here).
const REFRESH_MARGIN: Duration = Duration::from_secs(1);
/// The clip is fed over this long, so the stream spans several credential lifetimes.
const FEED_TIME: Duration = Duration::from_secs(9);

/// The 30-second clip: the sample 15 times over (each copy starts with SPS/PPS and an IDR).
fn clip() -> Vec<u8> {
    SAMPLE.repeat(COPIES)
}

fn fps() -> FrameRate {
    FrameRate::new(30, 1).unwrap()
}

fn annexb_config() -> AnnexBConfig {
    AnnexBConfig {
        codec: Codec::H264,
        track_number: 1,
        frame_rate: fps(),
        start_time_ms: i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap(),
    }
}

/// The frames the producer seals, as its Annex-B reader makes them (length-prefixed
/// access units), in order.
async fn input_frames() -> Vec<Vec<u8>> {
    let mut reader = MediaReader::annexb(
        "clip".into(),
        Box::new(std::io::Cursor::new(clip())),
        annexb_config(),
    );
    let mut out = Vec::new();
    while let Some(ev) = reader.next_event().await.unwrap() {
        if let SourceEvent::Frame(f) = ev {
            out.push(f.data.to_vec());
        }
    }
    out
}

/// Writes the clip into the pipe evenly over [`FEED_TIME`], as a live camera would.
async fn feed(mut pipe: tokio::io::DuplexStream) {
    let clip = clip();
    let chunk = clip.len().div_ceil(90);
    let pause = FEED_TIME / 90;
    for c in clip.chunks(chunk) {
        pipe.write_all(c).await.unwrap();
        tokio::time::sleep(pause).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_second_clip_with_credentials_expiring_every_three_seconds_arrives_whole() {
    kvs_e2ee_aws::config::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut server_config = kvs_local::Config::new(dir.path().join("kvs"));
    server_config.credential_duration_override = Some(CREDENTIAL_LIFETIME);
    let server = kvs_local::Server::start(server_config).await.unwrap();
    let admin = server.admin_client_options();
    // The account owner creates the stream; the camera's role may only write it.
    let admin_client = ClientConfig::load(admin.clone()).await.unwrap();
    kvs_e2ee_aws::control::create_stream(
        &admin_client.control_client(),
        STREAM,
        24,
        Some("video/h264"),
    )
    .await
    .unwrap();
    let device = server
        .provision_thing(
            STREAM,
            kvs_local::iot::KeyType::EcP256,
            &dir.path().join("device"),
        )
        .unwrap();

    let keys = PairFiles::generate(dir.path(), &mut UnwrapErr(SysRng)).unwrap();
    let camera = Identity::load_kind(&keys.camera, KeyKind::Camera).unwrap();
    let viewer = Identity::load_kind(&keys.viewer, KeyKind::Viewer).unwrap();

    // The camera's configuration as `kvs-e2ee-producer --source - --fps 30` with the IoT
    // flags builds it.
    let iot = IotConfig::new(
        device.endpoint.clone().unwrap(),
        device.role_alias.clone(),
        device.thing_name.clone(),
        device.certificate_path.clone(),
        device.private_key_path.clone(),
        device.ca_path.clone(),
    );
    let config = CameraConfig {
        stream: kvs_e2ee_producer::config::StreamSettings {
            stream_name: STREAM.into(),
            identity: keys.camera.clone(),
            recipients: keys.recipients.clone(),
            create_stream: None,
            fragment_duration: Duration::from_secs(2),
            frame_cipher: FrameCipher::fastest_here(),
            buffer_size: 64 << 20,
            spool: None,
            stats_interval: None,
        },
        source: Source::AnnexB {
            input: Input::Stdin,
            codec: Codec::H264,
            fps: fps(),
        },
        endpoint_url: Some(server.control_url().to_owned()),
        ca_bundle: None,
        region: Some(server.region().to_owned()),
        credentials: Credentials::Iot(iot.clone()),
    };
    // The client the producer builds from those flags (`run::run_with`), but with a refresh
    // margin that fits three-second credentials.
    let mut provider = iot;
    provider.refresh_margin = REFRESH_MARGIN;
    let client = ClientConfig::load(ConfigOptions {
        region: config.region.clone(),
        endpoint_url: config.endpoint_url.clone(),
        credentials: CredentialSource::Iot(provider),
        media_stall_grace: None,
        ca_bundle: None,
    })
    .await
    .unwrap();

    let (writer, pipe) = tokio::io::duplex(16 * 1024);
    let reader = MediaReader::annexb("-".into(), Box::new(pipe), annexb_config());
    let engine = EngineConfig {
        // A new, newly signed PutMedia connection every second.
        rotate_after: Duration::from_secs(1),
        ..EngineConfig::default()
    };
    let started = Instant::now();
    let feeder = tokio::spawn(feed(writer));
    let stats = tokio::time::timeout(
        Duration::from_secs(40),
        kvs_e2ee_producer::run::stream_source(
            config,
            client,
            reader,
            engine,
            Arc::new(Notify::new()),
        ),
    )
    .await
    .expect("the camera finishes in time")
    .unwrap();
    feeder.await.unwrap();
    let streamed = started.elapsed();
    assert!(
        streamed >= CREDENTIAL_LIFETIME * 2,
        "the stream spans several credential lifetimes: {streamed:?}"
    );
    assert_eq!(stats.fragments, COPIES as u64, "{stats:?}");
    assert_eq!(stats.fragments_persisted, stats.fragments, "{stats:?}");
    assert_eq!(stats.dropped_fragments, 0, "{stats:?}");
    assert!(stats.connections >= 5, "{stats:?}");
    // Refreshed before expiry: no connection was refused for an expired token.
    assert_eq!(stats.reconnects, 0, "{stats:?}");

    let out = dir.path().join("out.mkv");
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        kvs_e2ee_consumer::run(
            Config {
                stream: STREAM.into(),
                identities: vec![viewer.active().clone()],
                trusted_cameras: vec![camera.public_key()],
                mode: Mode::Live {
                    start: Start::Earliest,
                    until_current: true,
                },
                max_duration: Some(Duration::from_secs(25)),
                keep_going: false,
                inspect: false,
                client: admin,
                catch_up_idle: Duration::from_millis(700),
                progress: None,
                stop: None,
            },
            &OutputTarget::File(out.clone()),
        ),
    )
    .await
    .expect("the read finishes in time")
    .unwrap();
    assert!(
        outcome.success(),
        "{:?}\n{}",
        outcome.stopped,
        outcome.summary
    );
    let s = &outcome.summary;
    assert_eq!(s.fragments_verified, COPIES as u64, "{s}");
    assert_eq!(s.duplicates_dropped, 0, "{s}");
    assert_eq!(s.unterminated_sessions, 0, "{s}");

    let output = kvs_e2ee::clip::Clip::parse(&std::fs::read(&out).unwrap()).unwrap();
    let expected = input_frames().await;
    assert_eq!(expected.len(), 30 * 30, "30 s at 30 fps");
    assert_eq!(output.frames.len(), expected.len(), "every frame, once");
    for (i, (got, want)) in output.frames.iter().zip(&expected).enumerate() {
        assert!(got.data == *want, "frame {i} differs from the input");
    }
    // In order: 30 fps timestamps, each frame 33-34 ms after the one before.
    for w in output.frames.windows(2) {
        let (a, b) = (w[0].timecode, w[1].timecode);
        assert!(
            b > a && (33..=34).contains(&(b - a)),
            "timecode {b} follows {a}"
        );
    }
    server.shutdown().await;
}
