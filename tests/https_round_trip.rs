//! Camera and viewer over kvs-local's HTTPS listener, as against real KVS (whose endpoints
//! are HTTPS only): the producer engine streams the demo clip with its endpoint and CA
//! bundle set to `https://…` and `DATA_DIR/ca.pem`, and the viewer engine reads it back the
//! same way; every frame comes back bit-identical and every fragment verifies. The plain
//! HTTP path is what the demo and the attack tests run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kvs_e2ee::clip::Clip;
use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions, CredentialSource};
use kvs_e2ee_consumer::run::{Config, Mode, OutputTarget, Start};
use kvs_e2ee_envelope::FrameCipher;
use kvs_e2ee_keys::{Identity, KeyKind};
use kvs_e2ee_producer::config::{Config as CameraConfig, Credentials, Input, Source};
use kvs_e2ee_producer::engine::EngineConfig;
use kvs_local::RunningServer;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use tokio::sync::Notify;

const CLIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/producer/tests/data/demo-clip.mkv"
);
const LIMIT: Duration = Duration::from_secs(30);

fn over_tls(server: &RunningServer) -> ConfigOptions {
    ConfigOptions {
        region: Some(server.region().to_owned()),
        endpoint_url: Some(server.https_url().unwrap().to_owned()),
        credentials: CredentialSource::Static(server.admin_credentials()),
        media_stall_grace: None,
        ca_bundle: Some(kvs_local::https::ca_path(server.data_dir())),
    }
}

fn identity(dir: &Path, kind: KeyKind, name: &str) -> Identity {
    let id = Identity::generate(kind, &mut UnwrapErr(SysRng));
    id.save_new(&dir.join(name)).unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_and_viewer_round_trip_the_clip_over_https() {
    kvs_e2ee_aws::config::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let camera = identity(root, KeyKind::Camera, "camera.key");
    let viewer = identity(root, KeyKind::Viewer, "viewer.key");
    let recipients = root.join("recipients.txt");
    std::fs::write(&recipients, format!("{} owner\n", viewer.public_text())).unwrap();

    let mut config = kvs_local::Config::new(root.join("kvs"));
    config.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    let server = kvs_local::Server::start(config).await.unwrap();

    let options = over_tls(&server);
    let camera_config = CameraConfig {
        stream: kvs_e2ee_producer::config::StreamSettings {
            stream_name: "tls-cam".into(),
            identity: root.join("camera.key"),
            recipients,
            create_stream: Some(24),
            fragment_duration: Duration::from_secs(1),
            frame_cipher: FrameCipher::ChaCha20Poly1305,
            buffer_size: 64 << 20,
            spool: None,
            stats_interval: None,
        },
        source: Source::Mkv(Input::File(CLIP.into())),
        endpoint_url: options.endpoint_url.clone(),
        ca_bundle: options.ca_bundle.clone(),
        region: options.region.clone(),
        credentials: Credentials::DefaultChain,
    };
    let client = ClientConfig::load(options.clone()).await.unwrap();
    let stats = tokio::time::timeout(
        LIMIT,
        kvs_e2ee_producer::run::stream_with(
            camera_config,
            client,
            EngineConfig::default(),
            Arc::new(Notify::new()),
        ),
    )
    .await
    .expect("the camera finishes in time")
    .unwrap();
    assert!(stats.fragments >= 10, "{stats:?}");
    assert_eq!(stats.fragments, stats.fragments_persisted, "{stats:?}");

    let out = root.join("out.mkv");
    let read = Config {
        stream: "tls-cam".into(),
        identities: vec![viewer.active().clone()],
        trusted_cameras: vec![camera.public_key()],
        mode: Mode::Live {
            start: Start::Earliest,
            until_current: true,
        },
        max_duration: Some(Duration::from_secs(20)),
        keep_going: false,
        inspect: false,
        client: options,
        catch_up_idle: Duration::from_millis(700),
        progress: None,
        stop: None,
    };
    let outcome = tokio::time::timeout(
        LIMIT,
        kvs_e2ee_consumer::run(read, &OutputTarget::File(out.clone())),
    )
    .await
    .expect("the read finishes in time")
    .unwrap();
    assert!(outcome.success(), "{:?}", outcome.stopped);
    let input = Clip::parse(&std::fs::read(CLIP).unwrap()).unwrap();
    let output = Clip::parse(&std::fs::read(&out).unwrap()).unwrap();
    for track in [1, 2] {
        let a: Vec<&Vec<u8>> = input.frames_of(track).map(|f| &f.data).collect();
        let b: Vec<&Vec<u8>> = output.frames_of(track).map(|f| &f.data).collect();
        assert!(!a.is_empty());
        assert!(
            a == b,
            "track {track}: {} frames in, {} out",
            a.len(),
            b.len()
        );
    }
    server.shutdown().await;
}
