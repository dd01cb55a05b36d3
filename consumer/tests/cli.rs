//! The real `kvs-e2ee-consumer` binary: argument validation, key files, and errors from
//! kvs-local (in-process on 127.0.0.1:0) that name what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::key_files;

const BIN: &str = env!("CARGO_BIN_EXE_kvs-e2ee-consumer");

fn consumer(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_IOT_CORE_CREDENTIAL_ENDPOINT")
        .env_remove("AWS_IOT_CORE_ROLE_ALIAS")
        .env_remove("AWS_IOT_CORE_THING_NAME")
        .env_remove("AWS_IOT_CORE_CERT")
        .env_remove("AWS_IOT_CORE_PRIVATE_KEY")
        .env_remove("AWS_IOT_CORE_CA")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn cli_rejects_malformed_start_selector() {
    let k = key_files(1);
    let out = consumer(&[
        "--stream",
        "s",
        "--identity",
        k.files.viewer.to_str().unwrap(),
        "--trust",
        k.files.trusted_cameras.to_str().unwrap(),
        "--start",
        "yesterday",
        "-o",
        "/dev/null",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("fragment:N"), "{}", stderr(&out));
}

#[test]
fn cli_rejects_range_that_ends_before_it_starts() {
    let k = key_files(2);
    let out = consumer(&[
        "--stream",
        "s",
        "--identity",
        k.files.viewer.to_str().unwrap(),
        "--trust",
        k.files.trusted_cameras.to_str().unwrap(),
        "--from",
        "2026-01-02T00:00:00Z",
        "--to",
        "1700000000",
        "-o",
        "/dev/null",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--to is before --from"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cli_names_every_missing_iot_setting_as_the_camera_does() {
    let k = key_files(7);
    let out = consumer(&[
        "--stream",
        "s",
        "--identity",
        k.files.viewer.to_str().unwrap(),
        "--trust",
        k.files.trusted_cameras.to_str().unwrap(),
        "-o",
        "/dev/null",
    ])
    .env(
        "AWS_IOT_CORE_CREDENTIAL_ENDPOINT",
        "abc.credentials.iot.eu-west-1.amazonaws.com",
    )
    .args(["--iot-cert", k.files.viewer.to_str().unwrap()])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "IoT credentials are partly configured: missing --iot-role-alias \
             (AWS_IOT_CORE_ROLE_ALIAS), --iot-key (AWS_IOT_CORE_PRIVATE_KEY), --iot-ca \
             (AWS_IOT_CORE_CA)"
        ),
        "{err}"
    );
}

#[test]
fn cli_checks_stream_region_and_endpoint_as_the_camera_does() {
    let k = key_files(8);
    for (flag, value, says) in [
        ("--stream", "bad name!", "is not a KVS stream name"),
        ("--region", "EU West", "is not an AWS region name"),
        (
            "--endpoint-url",
            "localhost:4566",
            "is not an http:// or https:// URL",
        ),
    ] {
        let mut args = vec![
            "--identity",
            k.files.viewer.to_str().unwrap(),
            "--trust",
            k.files.trusted_cameras.to_str().unwrap(),
            "-o",
            "/dev/null",
        ];
        if flag != "--stream" {
            args.extend(["--stream", "s"]);
        }
        args.extend([flag, value]);
        let out = consumer(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(flag) && err.contains(says), "{flag}: {err}");
    }
}

#[test]
fn an_output_that_cannot_be_created_is_named_with_its_os_error_said_once() {
    let k = key_files(9);
    let dir = tempfile::tempdir().unwrap();
    let out = consumer(&[
        "--stream",
        "s",
        "--identity",
        k.files.viewer.to_str().unwrap(),
        "--trust",
        k.files.trusted_cameras.to_str().unwrap(),
        "--region",
        "us-east-1",
        "--endpoint-url",
        "http://127.0.0.1:9",
        "-o",
        dir.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot create"), "{err}");
    assert_eq!(
        err.matches("Is a directory").count(),
        1,
        "the OS error is said once: {err}"
    );
}

#[test]
fn cli_requires_identity_unless_inspecting() {
    let out = consumer(&["--stream", "s", "-o", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--identity"), "{}", stderr(&out));
}

#[test]
fn cli_refuses_camera_key_as_viewer_identity() {
    let k = key_files(3);
    let cam = &k.files.camera;
    let out = consumer(&[
        "--stream",
        "s",
        "--identity",
        cam.to_str().unwrap(),
        "--trust",
        k.files.trusted_cameras.to_str().unwrap(),
        "-o",
        "/dev/null",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("camera.key"), "{err}");
    assert!(!err.contains("SECRET-KEY-1"), "a secret leaked: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_names_a_stream_that_does_not_exist() {
    let k = key_files(4);
    let data = tempfile::tempdir().unwrap();
    kvs_e2ee_aws::config::install_crypto_provider();
    let server = kvs_local::Server::start(kvs_local::Config::new(data.path()))
        .await
        .unwrap();
    let creds = server.admin_credentials();
    let mut cmd = consumer(&[
        "--stream",
        "no-such-stream",
        "--identity",
        k.files.viewer.to_str().unwrap(),
        "--trust",
        k.files.trusted_cameras.to_str().unwrap(),
        "--endpoint-url",
        server.control_url(),
        "--region",
        server.region(),
        "--until-current",
        "-o",
    ]);
    cmd.arg(k.dir.path().join("out.mkv"))
        .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key());
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || cmd.output().unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-stream"), "{}", stderr(&out));
    server.shutdown().await;
}

/// Built without the `gstreamer` feature, `--play` says how to get it, before
/// reading anything.
#[cfg(not(feature = "gstreamer"))]
#[test]
fn cli_play_without_gstreamer_says_to_build_with_the_feature() {
    let k = key_files(1);
    let out = consumer(&[
        "--stream",
        "s",
        "--identity",
        k.files.viewer.to_str().unwrap(),
        "--trust",
        k.files.trusted_cameras.to_str().unwrap(),
        "--play",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--features gstreamer"),
        "{}",
        stderr(&out)
    );
}

/// `--play` shows the stream; it cannot also write MKV or inspect.
#[test]
fn cli_play_conflicts_with_output_and_inspect() {
    for extra in [&["-o", "/dev/null"][..], &["--inspect"][..]] {
        let out = consumer(&["--stream", "s", "--play"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(
            stderr(&out).contains("cannot be used with"),
            "{}",
            stderr(&out)
        );
    }
}
