//! The binary's contract until the engine is wired: a valid configuration is
//! printed and the run ends with status 3 (never a pretend success); a bad one
//! ends with status 2 and a message naming the flag.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn producer(dir: &std::path::Path) -> Command {
    std::fs::write(dir.join("camera.key"), b"x").unwrap();
    std::fs::write(dir.join("recipients.txt"), b"x").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvs-e2ee-producer"));
    cmd.arg("--stream").arg("cam-1");
    cmd.arg("--identity").arg(dir.join("camera.key"));
    cmd.arg("--recipients").arg(dir.join("recipients.txt"));
    // Keep the caller's AWS settings out of the test.
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_IOT_CORE_CREDENTIAL_ENDPOINT",
        "AWS_IOT_CORE_CERT",
        "AWS_IOT_CORE_PRIVATE_KEY",
        "AWS_IOT_CORE_CA",
        "AWS_IOT_CORE_ROLE_ALIAS",
        "AWS_IOT_CORE_THING_NAME",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn binary_prints_valid_config_and_refuses_to_pretend_it_streams() {
    let dir = tempfile::tempdir().unwrap();
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/sample-320x240.h264"
    );
    let out = producer(dir.path())
        .args(["--source", sample, "--fps", "30"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("H.264 Annex-B") && stderr.contains("not wired"),
        "{stderr}"
    );
}

#[test]
fn binary_exits_2_naming_the_bad_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = producer(dir.path())
        .args(["--source", "-", "--iot-cert", "cert.pem"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--iot-endpoint") && stderr.contains("--iot-key"),
        "{stderr}"
    );
}
