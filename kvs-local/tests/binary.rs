//! The `kvs-local` binary: prints one line per endpoint once it accepts connections, and
//! stops cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[cfg(unix)]
#[test]
fn binary_prints_endpoints_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvs-local"))
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let control = lines.next().unwrap().unwrap();
    let iot = lines.next().unwrap().unwrap();
    let url = control
        .strip_prefix("control plane: http://")
        .expect(&control);
    assert!(
        iot.starts_with("iot credentials: https://127.0.0.1:"),
        "{iot}"
    );
    // The endpoint accepts connections as soon as its line is printed.
    std::net::TcpStream::connect(url).expect("control plane accepts connections");
    assert!(dir.path().join("credentials").exists());

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("kvs-local did not stop within 5 s of SIGTERM");
}

#[test]
fn help_explains_the_data_dir_and_provisioning() {
    let out = Command::new(env!("CARGO_BIN_EXE_kvs-local"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--data-dir",
        "--iot-listen",
        "credentials",
        "iot provision",
        "/_kvs-local/faults",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}
