//! `kvs-e2ee-producer --source gst:PIPELINE` (feature `gstreamer`): the
//! binary runs a GStreamer pipeline with an appsink it appends and streams
//! it to kvs-local; a pipeline that cannot be built is an input error
//! naming GStreamer. Run with `cargo test -p kvs-e2ee-producer --features
//! gstreamer --test gst_source` (CI does).
#![cfg(feature = "gstreamer")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use kvs_e2ee_keys::PairFiles;
use kvs_e2ee_mkv::{Demuxer, Event};
use kvs_local::media::store::FragmentStore;
use kvs_local::{RunningServer, Server};

const PIPELINE: &str = "gst:videotestsrc num-buffers=90 ! video/x-raw,width=160,height=120,framerate=30/1 \
                        ! x264enc key-int-max=30 speed-preset=ultrafast tune=zerolatency ! h264parse";

fn write_keys(dir: &Path) -> PairFiles {
    PairFiles::generate(dir, &mut rand::rand_core::UnwrapErr(rand::rngs::SysRng)).unwrap()
}

/// Runs the binary with `source` against `server` (admin keys in the environment).
async fn produce(keys: &PairFiles, server: &RunningServer, stream: &str, source: &str) -> Output {
    let creds = server.admin_credentials();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvs-e2ee-producer"));
    cmd.args([
        "--stream",
        stream,
        "--create-stream",
        "--fragment-duration",
        "1s",
    ])
    .args([
        "--endpoint-url",
        server.control_url(),
        "--region",
        server.region(),
    ])
    .arg("--identity")
    .arg(&keys.camera)
    .arg("--recipients")
    .arg(&keys.recipients)
    .args(["--source", source])
    .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
    .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
    .env_remove("AWS_SESSION_TOKEN")
    .env_remove("AWS_PROFILE");
    tokio::time::timeout(
        Duration::from_secs(40),
        tokio::task::spawn_blocking(move || cmd.output().unwrap()),
    )
    .await
    .expect("the producer finished in time")
    .unwrap()
}

async fn start(dir: &Path) -> RunningServer {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Server::start(kvs_local::Config::new(dir.join("kvs")))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_streams_a_gstreamer_pipeline_to_kvs_local() {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_keys(dir.path());
    let server = start(dir.path()).await;
    let out = produce(&keys, &server, "gst-cam", PIPELINE).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("done: 3 fragments persisted"), "{err}");
    // Every frame reached KVS (sealed: the frame blocks are ciphertext).
    let store_dir = server.state().streams.get("gst-cam").unwrap().dir();
    let store = FragmentStore::open(&store_dir).unwrap();
    let mut demux = Demuxer::new();
    for m in store.fragments() {
        demux.push(&store.read(m).unwrap());
    }
    demux.finish().unwrap();
    let mut frames = 0;
    while let Some(ev) = demux.next_event().unwrap() {
        frames += u32::from(matches!(ev, Event::Frame(_)));
    }
    assert_eq!(frames, 90);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_that_cannot_be_built_is_an_input_error_naming_gstreamer() {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_keys(dir.path());
    let server = start(dir.path()).await;
    let out = produce(&keys, &server, "gst-bad", "gst:nosuchelement ! x264enc").await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("GStreamer source: cannot build the pipeline"),
        "{err}"
    );
    assert!(err.contains("nosuchelement"), "{err}");
    server.shutdown().await;
}
