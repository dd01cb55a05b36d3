//! The real binary against kvs-local with bad input: each case ends with a
//! message naming the problem (file, byte offset, limit, key file) and the
//! exit status of its class, and what the producer accepted before the damage
//! is still PERSISTED (stored by kvs-local, readable to the end record).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kvs_e2ee_keys::PairFiles;
use kvs_e2ee_producer::run::{EXIT_INPUT, EXIT_SETUP};
use kvs_local::{RunningServer, Server};

const CLIP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/demo-clip.mkv");
const ANNEXB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/sample-320x240.h264"
);
/// Byte offset of the fifth Cluster of `CLIP`: four whole clusters (about
/// three seconds of video) come before it.
const FIFTH_CLUSTER: usize = 175_878;
/// Matroska Cluster ID.
const CLUSTER_ID: [u8; 4] = [0x1F, 0x43, 0xB6, 0x75];

struct Site {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    keys: PairFiles,
    rt: tokio::runtime::Runtime,
    server: RunningServer,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
    let keys = PairFiles::generate(&path, &mut rng).unwrap();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(Server::start(kvs_local::Config::new(path.join("kvs"))))
        .unwrap();
    Site {
        _dir: dir,
        dir: path,
        keys,
        rt,
        server,
    }
}

impl Site {
    /// Runs the binary on `source` (extra flags after it) for stream `cam-1`;
    /// returns the exit status and stderr.
    fn run(&self, source: &Path, extra: &[&str]) -> (Option<i32>, String) {
        let creds = self.server.admin_credentials();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvs-e2ee-producer"));
        cmd.args(["--stream", "cam-1", "--create-stream"]);
        cmd.args(["--fragment-duration", "1s"]);
        cmd.arg("--source").arg(source).args(extra);
        cmd.arg("--identity").arg(&self.keys.camera);
        cmd.arg("--recipients").arg(&self.keys.recipients);
        cmd.args(["--endpoint-url", self.server.control_url()]);
        cmd.args(["--region", self.server.region()]);
        for var in [
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_PROFILE",
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
        cmd.env("AWS_CONFIG_FILE", self.dir.join("no-config"));
        cmd.env(
            "AWS_SHARED_CREDENTIALS_FILE",
            self.dir.join("no-credentials"),
        );
        cmd.env("AWS_ACCESS_KEY_ID", creds.access_key_id());
        cmd.env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key());
        let t0 = Instant::now();
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(t0.elapsed() < Duration::from_secs(25), "slow: {err}");
        assert!(!err.contains(creds.secret_access_key()), "secret in output");
        // The last line is the error the operator reads.
        let last = err.lines().last().unwrap_or_default().to_owned();
        (out.status.code(), last)
    }

    /// Fragments kvs-local stored for `cam-1` (0 if the stream was never made).
    fn stored(&self) -> usize {
        self.server
            .state()
            .streams
            .get("cam-1")
            .and_then(|s| kvs_local::media::store::FragmentStore::open(&s.dir()).ok())
            .map_or(0, |s| s.fragments().len())
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn shutdown(self) {
        self.rt.block_on(self.server.shutdown());
    }
}

/// The fragments accepted before the damage were all persisted (stored by
/// kvs-local), and the message says how many.
fn assert_flushed(site: &Site, err: &str) {
    let stored = site.stored();
    assert!(
        stored >= 2,
        "fragments before the damage were persisted: {err}"
    );
    let said = format!("the {stored} fragments accepted before it were sent and persisted");
    assert!(err.contains(&said), "{err}");
}

fn clip() -> Vec<u8> {
    let clip = std::fs::read(CLIP).unwrap();
    assert_eq!(&clip[FIFTH_CLUSTER..FIFTH_CLUSTER + 4], CLUSTER_ID);
    clip
}

#[test]
fn truncated_mkv_is_named_with_its_offset_after_flushing_what_came_before() {
    let site = site();
    let clip = clip();
    let cut = site.write("cut.mkv", &clip[..FIFTH_CLUSTER + 20_000]);
    let (code, err) = site.run(&cut, &[]);
    assert_eq!(code, Some(i32::from(EXIT_INPUT)), "{err}");
    assert!(err.contains("cut.mkv") && err.contains("offset"), "{err}");
    assert_flushed(&site, &err);
    site.shutdown();
}

#[test]
fn garbage_inside_mkv_is_named_after_flushing_what_came_before() {
    let site = site();
    let mut bytes = clip()[..FIFTH_CLUSTER].to_vec();
    // Zero bytes where the next element ID must be: no valid EBML ID starts
    // with 0x00.
    bytes.extend_from_slice(&[0u8; 4096]);
    let bad = site.write("garbage.mkv", &bytes);
    let (code, err) = site.run(&bad, &[]);
    assert_eq!(code, Some(i32::from(EXIT_INPUT)), "{err}");
    assert!(
        err.contains("garbage.mkv") && err.contains(&format!("offset {FIFTH_CLUSTER}")),
        "{err}"
    );
    assert_flushed(&site, &err);
    site.shutdown();
}

#[test]
fn a_file_that_is_not_matroska_is_named() {
    let site = site();
    let bad = site.write(
        "notes.mkv",
        b"these are not the frames you are looking for\n",
    );
    let (code, err) = site.run(&bad, &[]);
    assert_eq!(code, Some(i32::from(EXIT_INPUT)), "{err}");
    assert!(err.contains("notes.mkv"), "{err}");
    assert!(err.contains("nothing had been accepted"), "{err}");
    assert_eq!(site.stored(), 0);
    site.shutdown();
}

/// Splits an Annex-B stream into NAL units (with their start codes).
fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let starts: Vec<usize> = (0..stream.len().saturating_sub(3))
        .filter(|&i| stream[i..i + 3] == [0, 0, 1])
        .map(|i| {
            if i > 0 && stream[i - 1] == 0 {
                i - 1
            } else {
                i
            }
        })
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &stream[s..starts.get(k + 1).copied().unwrap_or(stream.len())])
        .collect()
}

fn nal_type(nal: &[u8]) -> u8 {
    let header = nal.iter().position(|&b| b == 1).unwrap() + 1;
    nal[header] & 0x1F
}

#[test]
fn annexb_without_sps_is_named() {
    let site = site();
    let stream = std::fs::read(ANNEXB).unwrap();
    let nals = nal_units(&stream);
    assert!(nals.iter().any(|n| nal_type(n) == 7), "sample has an SPS");
    let without: Vec<u8> = nals
        .into_iter()
        .filter(|n| nal_type(n) != 7)
        .flatten()
        .copied()
        .collect();
    let bad = site.write("nosps.h264", &without);
    let (code, err) = site.run(&bad, &["--fps", "30"]);
    assert_eq!(code, Some(i32::from(EXIT_INPUT)), "{err}");
    assert!(
        err.contains("nosps.h264") && err.contains("no SPS/PPS"),
        "{err}"
    );
    assert!(err.contains("nothing had been accepted"), "{err}");
    assert_eq!(site.stored(), 0);
    site.shutdown();
}

/// A Matroska element size as an 8-byte vint.
fn vint8(size: u64) -> [u8; 8] {
    let mut b = size.to_be_bytes();
    b[0] = 0x01;
    b
}

#[test]
fn frame_over_the_kvs_size_limit_is_named_after_flushing_what_came_before() {
    let site = site();
    let clip = clip();
    let mut bytes = clip[..FIFTH_CLUSTER].to_vec();
    // The Segment (after the 40-byte EBML header) becomes of unknown size,
    // as a live camera writes it, so the big cluster fits inside.
    assert_eq!(bytes[40..44], [0x18, 0x53, 0x80, 0x67]);
    assert_eq!(bytes[44], 0x01, "8-byte Segment size");
    bytes[44..52].copy_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    // The fifth cluster's header and Timecode, re-declared with an unknown
    // size, then one key frame of 51 MB: under the Matroska reader's 50 MiB
    // bound, over KVS's 50 MB fragment limit.
    let cluster = &clip[FIFTH_CLUSTER..];
    let size_len = cluster[4].leading_zeros() as usize + 1;
    let mut timecode_at = 4 + size_len;
    if cluster[timecode_at] == 0xBF {
        timecode_at += 2 + 4; // skip the cluster's CRC-32 element
    }
    assert_eq!(cluster[timecode_at], 0xE7, "Timecode first");
    let timecode_len = 2 + (cluster[timecode_at + 1] & 0x7F) as usize;
    bytes.extend_from_slice(&CLUSTER_ID);
    bytes.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    bytes.extend_from_slice(&cluster[timecode_at..timecode_at + timecode_len]);
    const FRAME: u64 = 51_000_000;
    bytes.push(0xA3);
    bytes.extend_from_slice(&vint8(4 + FRAME));
    bytes.extend_from_slice(&[0x81, 0x00, 0x00, 0x80]); // track 1, +0 ms, key frame
    bytes.resize(bytes.len() + FRAME as usize, 0x17);
    let big = site.write("big.mkv", &bytes);
    drop(bytes);
    let (code, err) = site.run(&big, &[]);
    assert_eq!(code, Some(i32::from(EXIT_INPUT)), "{err}");
    assert!(
        err.contains(&format!("is {FRAME} bytes")) && err.contains("over KVS's"),
        "{err}"
    );
    assert_flushed(&site, &err);
    site.shutdown();
}

#[test]
fn unreadable_recipients_file_is_named_with_its_line() {
    let site = site();
    let good = std::fs::read_to_string(&site.keys.recipients).unwrap();
    site.write(
        "recipients.txt",
        format!("{good}kvs-e2ee-viewer-pub-not-a-key someone\n").as_bytes(),
    );
    let (code, err) = site.run(Path::new(CLIP), &[]);
    assert_eq!(code, Some(i32::from(EXIT_SETUP)), "{err}");
    assert!(err.contains("recipients.txt:2"), "{err}");
    // Bytes that are not text at all.
    site.write("recipients.txt", &[0xFF, 0xFE, 0x00, 0x80, b'\n']);
    let (code, err) = site.run(Path::new(CLIP), &[]);
    assert_eq!(code, Some(i32::from(EXIT_SETUP)), "{err}");
    assert!(err.contains("recipients.txt"), "{err}");
    assert_eq!(site.stored(), 0);
    site.shutdown();
}

#[cfg(unix)]
#[test]
fn secret_key_readable_by_others_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let site = site();
    let key = &site.keys.camera;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = site.run(Path::new(CLIP), &[]);
    assert_eq!(code, Some(i32::from(EXIT_SETUP)), "{err}");
    assert!(
        err.contains("camera.key") && err.contains("0644") && err.contains("chmod 600"),
        "{err}"
    );
    let text = std::fs::read_to_string(key).unwrap();
    let secret = text.lines().find(|l| !l.starts_with('#')).unwrap();
    assert!(!err.contains(secret), "secret key in output");
    assert_eq!(site.stored(), 0);
    site.shutdown();
}
