//! The HTTPS listener (`Config::tls_listen`): the same control and data planes over TLS,
//! with a certificate from the data dir's CA, for clients that trust `DATA_DIR/ca.pem` —
//! our own clients (`ClientConfig` with a CA bundle: the SDK clients and the PutMedia
//! client) and boto3 with `AWS_CA_BUNDLE`, as AWS's SDK samples reach it with
//! `AWS_KVS_CACERT_PATH` (those run in `tests/aws_sdk_conformance.rs` at the root).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::media::{Frag, producer_mkv};
use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::ack::AckEventType;
use kvs_e2ee_aws::config::{ClientConfig, ConfigError, ConfigOptions, CredentialSource};
use kvs_e2ee_aws::getmedia::{StartSelector, get_media};
use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaRequest, TimecodeType};
use kvs_e2ee_mkv::{Demuxer, Event};
use kvs_local::media::{MediaConfig, MediaPlane};
use kvs_local::{Config, RunningServer};

async fn start_tls(dir: &Path) -> RunningServer {
    let mut config = Config::new(dir);
    config.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    config.data_plane = Some(Arc::new(MediaPlane::new(MediaConfig {
        idle_ack_interval: Duration::from_millis(300),
        get_media_idle_end: Duration::from_millis(700),
        ..MediaConfig::default()
    })));
    common::start_with(config).await
}

fn options(server: &RunningServer, ca_bundle: Option<&Path>) -> ConfigOptions {
    ConfigOptions {
        region: Some(server.region().to_owned()),
        endpoint_url: Some(server.https_url().unwrap().to_owned()),
        credentials: CredentialSource::Static(server.admin_credentials()),
        media_stall_grace: None,
        ca_bundle: ca_bundle.map(Path::to_owned),
    }
}

#[tokio::test]
async fn both_planes_over_tls_for_a_client_trusting_the_data_dir_ca() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_tls(dir.path()).await;
    let https = server.https_url().unwrap().to_owned();
    assert!(https.starts_with("https://127.0.0.1:"), "{https}");
    let ca = kvs_local::https::ca_path(server.data_dir());
    assert_eq!(
        std::fs::read_to_string(&ca).unwrap(),
        server.ca_pem(),
        "the CA is written to the data dir"
    );

    let cfg = ClientConfig::load(options(&server, Some(&ca)))
        .await
        .unwrap();
    let control = cfg.control_client();
    control
        .create_stream()
        .stream_name("tls1")
        .data_retention_in_hours(24)
        .send()
        .await
        .unwrap();
    // A client that came in over TLS is sent to the TLS data endpoint.
    let endpoint = control
        .get_data_endpoint()
        .stream_name("tls1")
        .api_name(aws_sdk_kinesisvideo::types::ApiName::PutMedia)
        .send()
        .await
        .unwrap()
        .data_endpoint
        .unwrap();
    assert_eq!(endpoint, https);

    // PutMedia through the PutMedia client built from the same configuration.
    let http = cfg.put_media_http_client(Duration::from_secs(5)).unwrap();
    let mut req = PutMediaRequest::new(
        &endpoint,
        StreamId::Name("tls1".into()),
        SystemTime::now(),
        server.admin_credentials(),
        server.region(),
    );
    req.timecode_type = TimecodeType::Absolute;
    let (mut tx, mut acks) = PutMediaConnection::open_with(&http, req).await.unwrap();
    for chunk in producer_mkv(&[Frag::new(1_000, 4), Frag::new(2_000, 4)]) {
        tx.send(chunk).await.unwrap();
    }
    tx.finish();
    let mut persisted = 0;
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(10), acks.recv())
        .await
        .unwrap()
    {
        let ev = ev.unwrap();
        assert_ne!(ev.event_type, AckEventType::Error, "{ev:?}");
        persisted += usize::from(ev.event_type == AckEventType::Persisted);
    }
    assert_eq!(persisted, 2);

    // GetMedia back over TLS.
    let media = cfg.media_client(&endpoint);
    let mut body = get_media(
        &media,
        &StreamId::Name("tls1".into()),
        &StartSelector::Earliest,
    )
    .await
    .unwrap();
    let mut demuxer = Demuxer::new();
    let mut frames = 0;
    let read = async {
        while let Some(chunk) = body.next_chunk().await {
            demuxer.push(&chunk.unwrap());
            while let Some(e) = demuxer.next_event().unwrap() {
                frames += usize::from(matches!(e, Event::Frame(_)));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), read)
        .await
        .unwrap();
    assert_eq!(frames, 8);

    // The plain listener still serves the same state.
    let plain = ClientConfig::load(ConfigOptions {
        endpoint_url: Some(server.control_url().to_owned()),
        ca_bundle: None,
        ..options(&server, None)
    })
    .await
    .unwrap();
    let described = plain
        .control_client()
        .describe_stream()
        .stream_name("tls1")
        .send()
        .await
        .unwrap();
    assert!(described.stream_info.is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_without_the_ca_is_refused_by_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_tls(dir.path()).await;
    let cfg = ClientConfig::load(options(&server, None)).await.unwrap();
    let err = cfg
        .control_client()
        .list_streams()
        .send()
        .await
        .expect_err("an untrusted certificate");
    let chain = format!("{:?}", err);
    assert!(
        chain.contains("certificate") || chain.contains("Certificate"),
        "{chain}"
    );
    let http = cfg.put_media_http_client(Duration::from_secs(5)).unwrap();
    let status = http
        .post(format!("{}/putMedia", server.https_url().unwrap()))
        .send()
        .await;
    assert!(status.is_err(), "PutMedia's client refuses it too");
    server.shutdown().await;
}

#[tokio::test]
async fn an_unusable_ca_bundle_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_tls(dir.path()).await;
    let missing = dir.path().join("nope.pem");
    let err = ClientConfig::load(options(&server, Some(&missing)))
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::CaBundle { ref path, .. } if path == &missing));
    assert!(err.to_string().contains("nope.pem"), "{err}");
    let not_pem = dir.path().join("key.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    let err = ClientConfig::load(options(&server, Some(&not_pem)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
    server.shutdown().await;
}

/// boto3, as a user's scripts would reach kvs-local over HTTPS: `AWS_CA_BUNDLE` names the
/// data dir's CA. Needs `python3` with boto3 (Debian `python3-boto3`); required under CI.
#[tokio::test]
async fn boto3_works_over_tls_with_aws_ca_bundle() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import boto3"])
        .output();
    if !kvs_e2ee_test_support::available(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "python3 with boto3 (apt-get install python3-boto3)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start_tls(dir.path()).await;
    let creds = server.admin_credentials();
    let script = r#"
import boto3, os, sys
kv = boto3.client("kinesisvideo", endpoint_url=os.environ["ENDPOINT"])
kv.create_stream(StreamName="boto", DataRetentionInHours=24)
info = kv.describe_stream(StreamName="boto")["StreamInfo"]
assert info["Status"] == "ACTIVE", info
ep = kv.get_data_endpoint(StreamName="boto", APIName="LIST_FRAGMENTS")["DataEndpoint"]
assert ep.startswith("https://"), ep
am = boto3.client("kinesis-video-archived-media", endpoint_url=ep)
frags = am.list_fragments(StreamName="boto")["Fragments"]
print("ok", len(frags))
"#;
    let ca = kvs_local::https::ca_path(server.data_dir());
    let https = server.https_url().unwrap().to_owned();
    let region = server.region().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", script])
            .env("ENDPOINT", https)
            .env("AWS_CA_BUNDLE", ca)
            .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
            .env("AWS_DEFAULT_REGION", region)
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "boto3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok 0");
    server.shutdown().await;
}
