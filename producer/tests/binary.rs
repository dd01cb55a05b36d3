//! The binary's contract: setup mistakes end with status 2 and a message
//! naming the mistake (flag, file, or missing stream) before any media is
//! read; a clip is streamed to kvs-local and exit 0 means all PERSISTED;
//! SIGINT flushes; after SIGKILL, `--spool` keeps what was not yet PERSISTED.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use kvs_e2ee_keys::PairFiles;

fn producer(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvs-e2ee-producer"));
    cmd.arg("--stream").arg("cam-1");
    cmd.arg("--identity").arg(dir.join("camera.key"));
    cmd.arg("--recipients").arg(dir.join("recipients.txt"));
    // Keep the caller's AWS settings out of the test.
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_IOT_CORE_CREDENTIAL_ENDPOINT",
        "AWS_IOT_CORE_CERT",
        "AWS_IOT_CORE_PRIVATE_KEY",
        "AWS_IOT_CORE_CA",
        "AWS_IOT_CORE_ROLE_ALIAS",
        "AWS_IOT_CORE_THING_NAME",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CONFIG_FILE", dir.join("no-config"));
    cmd.env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"));
    cmd
}

/// Writes a real camera identity and a recipients file with one viewer
/// (`camera.key` and `recipients.txt`, the names [`producer`] passes).
fn write_keys(dir: &Path) {
    PairFiles::generate(dir, &mut rand::rand_core::UnwrapErr(rand::rngs::SysRng)).unwrap();
}

fn sample() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/sample-320x240.h264"
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn binary_exits_2_naming_the_bad_flag() {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let out = producer(dir.path())
        .args(["--source", "-", "--iot-cert", "cert.pem"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--iot-endpoint") && err.contains("--iot-key"),
        "{err}"
    );
}

#[test]
fn binary_exits_2_naming_an_unusable_identity_file() {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    std::fs::write(dir.path().join("camera.key"), b"not a key\n").unwrap();
    let out = producer(dir.path())
        .args(["--source", sample(), "--fps", "30"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("camera.key"), "{err}");
}

#[test]
fn binary_exits_2_when_the_stream_is_missing_and_suggests_create_stream() {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = rt
        .block_on(kvs_local::Server::start(kvs_local::Config::new(
            dir.path().join("kvs"),
        )))
        .unwrap();
    let creds = server.admin_credentials();
    let out = producer(dir.path())
        .args(["--source", sample(), "--fps", "30"])
        .args(["--endpoint-url", server.control_url()])
        .args(["--region", server.region()])
        .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("DescribeStream") && err.contains("--create-stream"),
        "{err}"
    );
    assert!(!err.contains(creds.secret_access_key()), "secret in output");
    rt.block_on(server.shutdown());
}

#[test]
fn binary_streams_a_clip_to_kvs_local_and_exits_0_once_all_is_persisted() {
    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = rt
        .block_on(kvs_local::Server::start(kvs_local::Config::new(
            dir.path().join("kvs"),
        )))
        .unwrap();
    let creds = server.admin_credentials();
    let clip = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/demo-clip.mkv");
    let out = producer(dir.path())
        .args(["--source", clip, "--create-stream", "--stats", "1s"])
        .args(["--endpoint-url", server.control_url()])
        .args(["--region", server.region()])
        .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("connected to PutMedia"), "{err}");
    assert!(err.contains("fragments persisted"), "{err}");
    assert!(!err.contains(creds.secret_access_key()), "secret in output");
    let stored = server.state().streams.get("cam-1").unwrap().dir();
    let store = kvs_local::media::store::FragmentStore::open(&stored).unwrap();
    assert!(store.fragments().len() >= 2);
    rt.block_on(server.shutdown());
}

/// SIGINT while streaming from stdin: the producer stops reading, closes the
/// envelope chain, waits for the last PERSISTED and exits 0.
#[cfg(unix)]
#[test]
fn sigint_flushes_and_exits_0_after_the_last_persisted() {
    use std::io::Write;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = rt
        .block_on(kvs_local::Server::start(kvs_local::Config::new(
            dir.path().join("kvs"),
        )))
        .unwrap();
    let creds = server.admin_credentials();
    let mut child = producer(dir.path())
        .args([
            "--source",
            "-",
            "--create-stream",
            "--fragment-duration",
            "1s",
        ])
        .args(["--endpoint-url", server.control_url()])
        .args(["--region", server.region()])
        .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let clip = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/demo-clip.mkv"
    ))
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&clip[..clip.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let stored = || {
        server
            .state()
            .streams
            .get("cam-1")
            .and_then(|s| kvs_local::media::store::FragmentStore::open(&s.dir()).ok())
            .map_or(0, |s| s.fragments().len())
    };
    let t0 = Instant::now();
    while stored() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(15), "nothing stored");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // stdin stays open: the signal alone must end the run.
    let t0 = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "producer did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stop requested"), "{err}");
    assert!(stored() >= 2);
    rt.block_on(server.shutdown());
}

/// `--spool`: while kvs-local cuts every PutMedia connection (KVS
/// unreachable), the binary is killed with SIGKILL mid-stream with fragments
/// in its spool; restarted on the same spool once KVS is back, it sends every
/// spooled fragment first, each once, then its own, and exits 0.
#[cfg(unix)]
#[test]
fn spooled_fragments_survive_sigkill_and_arrive_once_after_restart() {
    use std::io::Write;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use kvs_local::faults::{Fault, FaultScope};

    let dir = tempfile::tempdir().unwrap();
    write_keys(dir.path());
    let spool = dir.path().join("spool");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = rt
        .block_on(kvs_local::Server::start(kvs_local::Config::new(
            dir.path().join("kvs"),
        )))
        .unwrap();
    let creds = server.admin_credentials();
    let run = |source: &str| {
        let mut cmd = producer(dir.path());
        cmd.args(["--source", source, "--create-stream"])
            .args(["--fragment-duration", "1s"])
            .arg("--spool")
            .arg(&spool)
            .args(["--endpoint-url", server.control_url()])
            .args(["--region", server.region()])
            .env("AWS_ACCESS_KEY_ID", creds.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key());
        cmd
    };
    let faults = server.faults();
    let outage = faults.inject(
        FaultScope::Stream("cam-1".into()),
        Fault::DropConnectionAfterBytes { bytes: 0 },
        1_000_000,
    );
    // Run 1: fed half the clip from stdin, then SIGKILL (no flush, no close).
    let mut child = run("-")
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let clip_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/demo-clip.mkv");
    let clip = std::fs::read(clip_path).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&clip[..clip.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let spooled_files = || {
        std::fs::read_dir(&spool).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".kvsfrag"))
                .count()
        })
    };
    let t0 = Instant::now();
    while spooled_files() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(15), "nothing spooled");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(stdin);
    // A request already in flight at the kill is cut by the outage rule too.
    std::thread::sleep(Duration::from_millis(300));
    let stored_timecodes = || -> Vec<u64> {
        let Some(stream) = server.state().streams.get("cam-1") else {
            return Vec::new();
        };
        let store = kvs_local::media::store::FragmentStore::open(&stream.dir()).unwrap();
        store
            .fragments()
            .iter()
            .map(|m| {
                let mut d = kvs_e2ee_mkv::Demuxer::new();
                d.push(&store.read(m).unwrap());
                loop {
                    match d.next_event().unwrap() {
                        Some(kvs_e2ee_mkv::Event::ClusterStart { timecode, .. }) => {
                            break timecode;
                        }
                        Some(_) => {}
                        None => panic!("stored fragment without a cluster"),
                    }
                }
            })
            .collect()
    };
    assert!(
        stored_timecodes().is_empty(),
        "nothing got through the outage"
    );
    let spooled: Vec<u64> = {
        let (s, report) = kvs_e2ee_producer::spool::Spool::open(&spool, 60_000_000).unwrap();
        assert_eq!(report.corrupt_removed, 0);
        s.unacknowledged_from(0)
            .map(|e| u64::try_from(e.timecode_ms).unwrap())
            .collect()
    };
    assert!(spooled.len() >= 2, "fragments were spooled: {spooled:?}");
    // Run 2: KVS is back; the whole clip from the file.
    assert!(faults.remove(outage));
    let out = run(clip_path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let stored = stored_timecodes();
    assert_eq!(
        &stored[..spooled.len()],
        &spooled[..],
        "spooled first, in order"
    );
    let unique: std::collections::BTreeSet<_> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "a fragment was stored twice");
    assert!(
        stored.len() > spooled.len(),
        "run 2's own fragments followed"
    );
    assert_eq!(
        spooled_files(),
        0,
        "the spool is empty once all is persisted"
    );
    rt.block_on(server.shutdown());
}
