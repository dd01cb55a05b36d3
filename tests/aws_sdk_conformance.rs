//! AWS's own producer SDK against kvs-local, unmodified: the producer-c samples (PIC
//! 1.2.0, producer-c 1.6.0) over HTTPS with static and with IoT credentials, and `kvssink`
//! (producer-sdk-cpp 3.5.0) in the AWS guide's pipeline, video only and with AAC audio,
//! with static and with IoT credentials. Real KVS accepts all of this traffic, so kvs-local
//! must too (docs/KVS-LOCAL.md, "Tested with AWS's SDK").
//!
//! Each case runs against a fresh kvs-local, bounded by a timeout, and must: exit 0 by
//! itself; have every fragment BUFFERING/RECEIVED/PERSISTED on one connection (no
//! reconnect) with no ERROR ack; and have GetMedia and GetMediaForFragmentList return
//! every frame kvs-local stored, which ffprobe counts too. Where the input is known the
//! frames are checked against it: the realtime sample's 40 ms frame clock has no gap and
//! its nine user tags per fragment come back on the fragment they were put in;
//! `num-buffers=300` gives 300 video frames.
//!
//! The SDK is built by `../shared/conformance/aws-kvs-sdk/build.sh` into
//! `$AWS_KVS_SDK_PREFIX` (default `~/.cache/aws-kvs-sdk`). The IoT variants of the samples
//! are compiled here from that release's own sample sources with
//! `IOT_CORE_ENABLE_CREDENTIALS` defined, as its README says to (nothing is changed in
//! them). Without the SDK the tests are skipped — and fail when `CI` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::archive::{TimestampKind, get_media_for_fragment_list, list_fragments};
use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions, CredentialSource};
use kvs_e2ee_aws::getmedia::{StartSelector, TAG_FRAGMENT_NUMBER, get_media};
use kvs_e2ee_mkv::{Demuxer, Event};
use kvs_local::media::{MediaConfig, MediaPlane, PutMediaCounts};
use kvs_local::{Config, RunningServer, Server};

/// The producer-c release whose samples are compiled with IoT credentials.
const PRODUCER_C: &str = "amazon-kinesis-video-streams-producer-c-1.6.0";
/// Bound on one SDK run.
const LIMIT: Duration = Duration::from_secs(90);

/// A built SDK (`build.sh`'s PREFIX).
struct Sdk {
    prefix: PathBuf,
}

impl Sdk {
    fn bin(&self, name: &str) -> PathBuf {
        self.prefix.join("bin").join(name)
    }
    fn samples(&self) -> PathBuf {
        self.prefix.join("samples")
    }
    fn gst(&self) -> PathBuf {
        self.prefix.join("gst")
    }
    fn log_config(&self) -> PathBuf {
        self.prefix.join("kvs_log_configuration")
    }
}

/// The SDK, or `None` (skip) when it is not built and `CI` is not set.
fn sdk() -> Option<&'static Sdk> {
    static SDK: OnceLock<Option<Sdk>> = OnceLock::new();
    SDK.get_or_init(|| {
        let prefix = std::env::var_os("AWS_KVS_SDK_PREFIX")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/aws-kvs-sdk")))
            .unwrap_or_else(|| PathBuf::from("/nonexistent"));
        let sdk = Sdk { prefix };
        if sdk.bin("kvsVideoOnlyRealtimeStreamingSample").is_file()
            && sdk.gst().join("libgstkvssink.so").is_file()
        {
            return Some(sdk);
        }
        let why = format!(
            "AWS's KVS producer SDK is not built in {} (run ../shared/conformance/aws-kvs-sdk/build.sh)",
            sdk.prefix.display()
        );
        assert!(std::env::var_os("CI").is_none(), "CI is set: {why}");
        eprintln!("skipped: {why}");
        None
    })
    .as_ref()
}

/// The folder of `build.sh` and the SDK's tarballs.
fn conformance_dir() -> PathBuf {
    std::env::var_os("AWS_KVS_SDK_SOURCES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/aws-kvs-sdk")
        })
}

/// The samples compiled with `IOT_CORE_ENABLE_CREDENTIALS` (cached beside the SDK).
fn iot_samples(sdk: &Sdk) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let key = {
            let tarball = conformance_dir().join(format!("{PRODUCER_C}.tar.xz"));
            let meta = std::fs::metadata(&tarball)
                .unwrap_or_else(|e| panic!("{}: {e}", tarball.display()));
            format!("{}", meta.len())
        };
        let out = sdk.prefix.join(format!("iot-bin-{key}"));
        let names = [
            "KvsVideoOnlyRealtimeStreamingSample",
            "KvsVideoOnlyOfflineStreamingSample",
            "KvsAudioVideoStreamingSample",
        ];
        if names.iter().all(|n| out.join(n).is_file()) {
            return out;
        }
        let scratch = tempfile::tempdir().unwrap();
        let status = Command::new("tar")
            .arg("-xJf")
            .arg(conformance_dir().join(format!("{PRODUCER_C}.tar.xz")))
            .arg("-C")
            .arg(scratch.path())
            .arg(format!("{PRODUCER_C}/samples"))
            .status()
            .expect("tar runs");
        assert!(status.success(), "extracting the producer-c samples failed");
        let src = scratch.path().join(PRODUCER_C).join("samples");
        let install = sdk.prefix.join("install");
        let building = sdk
            .prefix
            .join(format!("iot-bin-{key}.tmp-{}", std::process::id()));
        std::fs::create_dir_all(&building).unwrap();
        for name in names {
            let out = Command::new("cc")
                .args(["-O1", "-w", "-DIOT_CORE_ENABLE_CREDENTIALS=1", "-I"])
                .arg(install.join("include"))
                .arg(src.join(format!("{name}.c")))
                .arg(src.join("Common.c"))
                .arg("-o")
                .arg(building.join(name))
                .arg("-L")
                .arg(install.join("lib"))
                .args(["-lcproducer", "-lkvsCommonCurl", "-lpthread"])
                .arg(format!("-Wl,-rpath,{}", install.join("lib").display()))
                .output()
                .expect("cc runs");
            assert!(
                out.status.success(),
                "compiling {name} with IoT credentials failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Another test process may have won the race; either copy is good.
        if std::fs::rename(&building, &out).is_err() {
            let _ = std::fs::remove_dir_all(&building);
        }
        out
    })
}

/// A fresh kvs-local with the HTTPS listener and the IoT endpoint, and its data plane.
struct Local {
    dir: tempfile::TempDir,
    server: RunningServer,
    plane: MediaPlane,
}

impl Local {
    async fn start() -> Self {
        kvs_e2ee_aws::config::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let plane = MediaPlane::new(MediaConfig::default());
        let mut config = Config::new(dir.path().join("kvs"));
        config.tls_listen = Some("127.0.0.1:0".parse().unwrap());
        config.iot_listen = Some("127.0.0.1:0".parse().unwrap());
        config.data_plane = Some(Arc::new(plane.clone()));
        let server = Server::start(config).await.unwrap();
        Self { dir, server, plane }
    }

    fn ca(&self) -> PathBuf {
        kvs_local::https::ca_path(self.server.data_dir())
    }

    fn work(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    async fn client(&self) -> ClientConfig {
        ClientConfig::load(self.server.admin_client_options())
            .await
            .unwrap()
    }

    /// Creates `stream` as an administrator (the AWS guide's camera policy does not allow
    /// CreateStream: the stream is made beforehand).
    async fn create_stream(&self, stream: &str) {
        self.client()
            .await
            .control_client()
            .create_stream()
            .stream_name(stream)
            .data_retention_in_hours(24)
            .send()
            .await
            .unwrap();
    }

    /// The environment of a static-credentials run.
    fn static_env(&self, cmd: &mut Command) {
        let creds = self.server.admin_credentials();
        cmd.env("AWS_ACCESS_KEY_ID", creds.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key())
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_DEFAULT_REGION", self.server.region());
    }

    /// Provisions `thing` (its device files under the work dir).
    fn provision(&self, thing: &str) -> kvs_local::iot::ProvisionedThing {
        self.server
            .provision_thing(
                thing,
                kvs_local::iot::KeyType::EcP256,
                &self.work(&format!("device-{thing}")),
            )
            .unwrap()
    }
}

/// Runs `cmd` (output to `log`) until it exits, killing it at [`LIMIT`].
async fn run_bounded(mut cmd: Command, log: PathBuf) {
    let file = std::fs::File::create(&log).unwrap();
    cmd.stdout(file.try_clone().unwrap()).stderr(file);
    let described = format!("{cmd:?}");
    let status = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{described}: {e}"));
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(described);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    let tail = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    match status {
        Ok(s) => assert!(
            s.success(),
            "exited with {s}; log {}:\n{}",
            log.display(),
            tail()
        ),
        Err(cmd) => panic!(
            "did not exit within {LIMIT:?}: {cmd}\nlog {}:\n{}",
            log.display(),
            tail()
        ),
    }
}

/// One frame as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReadFrame {
    track: u64,
    timecode: u64,
    keyframe: bool,
    len: usize,
}

/// One fragment as read back: its number, user tags and frames.
#[derive(Debug, Clone, Default)]
struct ReadFragment {
    number: String,
    tags: BTreeMap<String, String>,
    frames: Vec<ReadFrame>,
}

/// Splits a GetMedia / GetMediaForFragmentList body into fragments (one Segment each).
fn fragments_of(mkv: &[u8]) -> Vec<ReadFragment> {
    let mut d = Demuxer::new();
    d.push(mkv);
    d.finish().unwrap();
    let mut out: Vec<ReadFragment> = Vec::new();
    while let Some(ev) = d.next_event().unwrap() {
        match ev {
            Event::SegmentStart { .. } => out.push(ReadFragment::default()),
            Event::Tags(t) => {
                let f = out.last_mut().unwrap();
                for tag in t.tags {
                    let value = tag.as_str().unwrap_or_default().to_owned();
                    if tag.name == TAG_FRAGMENT_NUMBER {
                        f.number = value;
                    } else if !tag.name.starts_with("AWS_KINESISVIDEO_") {
                        f.tags.insert(tag.name, value);
                    }
                }
            }
            Event::Frame(fr) => out.last_mut().unwrap().frames.push(ReadFrame {
                track: fr.track,
                timecode: fr.timecode,
                keyframe: fr.keyframe,
                len: fr.data.len(),
            }),
            _ => {}
        }
    }
    out
}

/// ffprobe's count of the packets of the first stream of `kind` (`v`/`a`) in `path`.
fn ffprobe_packets(path: &Path, kind: &str) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams"])
        .arg(format!("{kind}:0"))
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe is installed (Debian ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe said {text:?}"))
}

/// What a run left in kvs-local, checked against the rules every run must meet.
struct Verified {
    fragments: Vec<ReadFragment>,
}

impl Verified {
    fn frames(&self, track: u64) -> Vec<&ReadFrame> {
        self.fragments
            .iter()
            .flat_map(|f| &f.frames)
            .filter(|f| f.track == track)
            .collect()
    }
}

/// Checks the acks of `stream` and reads it back both ways.
async fn verify(local: &Local, stream: &str, tracks: &[(u64, &str)]) -> Verified {
    let counts = local
        .plane
        .put_media_counts(stream)
        .expect("PutMedia reached kvs-local");
    let client = local.client().await;
    let id = StreamId::Name(stream.into());

    // ListFragments, then GetMediaForFragmentList of all of them.
    let archive = client.archive_client(local.server.data_endpoint_url());
    let listed = list_fragments(
        &archive,
        &id,
        SystemTime::UNIX_EPOCH,
        SystemTime::now() + Duration::from_secs(3600),
        TimestampKind::Server,
    )
    .await
    .unwrap();
    assert!(!listed.is_empty(), "{stream}: no fragment stored");
    assert_eq!(
        counts,
        PutMediaCounts {
            connections: 1,
            buffering: listed.len() as u64,
            received: listed.len() as u64,
            persisted: listed.len() as u64,
            errors: Vec::new(),
        },
        "{stream}: one connection, every fragment acked through PERSISTED, no ERROR"
    );
    let numbers: Vec<String> = listed.iter().map(|f| f.number.clone()).collect();
    let mut gfl = Vec::new();
    for chunk in numbers.chunks(kvs_e2ee_aws::archive::MAX_FRAGMENTS_PER_CALL) {
        let mut body = get_media_for_fragment_list(&archive, &id, chunk)
            .await
            .unwrap();
        while let Some(c) = body.next_chunk().await {
            gfl.extend_from_slice(&c.unwrap());
        }
    }

    // GetMedia from the earliest fragment (kvs-local ends it once nothing new arrives).
    let media = client.media_client(local.server.data_endpoint_url());
    let mut body = get_media(&media, &id, &StartSelector::Earliest)
        .await
        .unwrap();
    let mut live = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(c) = body.next_chunk().await {
            live.extend_from_slice(&c.unwrap());
        }
    })
    .await
    .expect("GetMedia ends");

    let from_live = fragments_of(&live);
    let from_list = fragments_of(&gfl);
    assert_eq!(
        from_live.len(),
        listed.len(),
        "{stream}: GetMedia fragments"
    );
    assert_eq!(
        from_live.iter().map(|f| &f.number).collect::<Vec<_>>(),
        numbers.iter().collect::<Vec<_>>(),
        "{stream}: GetMedia serves the listed fragments in order"
    );
    for (a, b) in from_live.iter().zip(&from_list) {
        assert_eq!(a.number, b.number);
        assert_eq!(a.frames, b.frames, "{stream}: fragment {}", a.number);
        assert_eq!(a.tags, b.tags, "{stream}: fragment {}", a.number);
        assert!(
            a.frames.first().is_some_and(|f| f.keyframe),
            "{stream}: fragment {} starts with a key frame",
            a.number
        );
    }
    let verified = Verified {
        fragments: from_live,
    };
    let live_path = local.work("read").join(format!("{stream}-getmedia.mkv"));
    let list_path = local.work("read").join(format!("{stream}-gfl.mkv"));
    std::fs::File::create(&live_path)
        .unwrap()
        .write_all(&live)
        .unwrap();
    std::fs::File::create(&list_path)
        .unwrap()
        .write_all(&gfl)
        .unwrap();
    for (track, kind) in tracks {
        let n = verified.frames(*track).len() as u64;
        assert!(n > 0, "{stream}: no frame on track {track}");
        assert_eq!(
            ffprobe_packets(&live_path, kind),
            n,
            "{stream}: ffprobe, GetMedia"
        );
        assert_eq!(
            ffprobe_packets(&list_path, kind),
            n,
            "{stream}: ffprobe, fragment list"
        );
    }
    verified
}

/// A producer-c sample run from a scratch folder.
fn sample(local: &Local, program: &Path, work: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(work)
        .env("CONTROL_PLANE_URI", local.server.https_url().unwrap())
        .env("AWS_KVS_CACERT_PATH", local.ca())
        .env("AWS_KVS_LOG_LEVEL", "3")
        .stdin(Stdio::null());
    cmd
}

/// IoT environment of a sample (the stream is named for the thing).
fn iot_env(cmd: &mut Command, local: &Local, device: &kvs_local::iot::ProvisionedThing) {
    cmd.env(
        "AWS_IOT_CORE_CREDENTIAL_ENDPOINT",
        local.server.iot_addr().unwrap().to_string(),
    )
    .env("AWS_IOT_CORE_CERT", &device.certificate_path)
    .env("AWS_IOT_CORE_PRIVATE_KEY", &device.private_key_path)
    .env("AWS_IOT_CORE_ROLE_ALIAS", &device.role_alias)
    .env("AWS_IOT_CORE_THING_NAME", &device.thing_name)
    .env("AWS_DEFAULT_REGION", local.server.region())
    .env_remove("AWS_ACCESS_KEY_ID")
    .env_remove("AWS_SECRET_ACCESS_KEY")
    .env_remove("AWS_SESSION_TOKEN");
}

#[derive(Clone, Copy)]
enum Creds {
    Static,
    Iot,
}

/// The producer-c sample `kvs{name}` with `creds`: static keys, or its IoT build with a
/// device provisioned for `stream` (the stream created beforehand, as the guide does).
async fn sample_for(
    local: &Local,
    sdk: &Sdk,
    name: &str,
    stream: &str,
    creds: Creds,
    work: &Path,
) -> Command {
    match creds {
        Creds::Static => {
            let mut c = sample(local, &sdk.bin(&format!("kvs{name}")), work);
            local.static_env(&mut c);
            c
        }
        Creds::Iot => {
            let device = local.provision(stream);
            local.create_stream(stream).await;
            let mut c = sample(local, &iot_samples(sdk).join(format!("Kvs{name}")), work);
            iot_env(&mut c, local, &device);
            c
        }
    }
}

/// This release's offline sample reads `h265SampleFrames/*.h265` whatever the codec: a
/// folder under `work` whose `h265SampleFrames` holds the H.264 frames under those names.
fn h264_frames_as_h265(sdk: &Sdk, work: &Path) -> PathBuf {
    let frames_dir = work.join("frames");
    let h265 = frames_dir.join("h265SampleFrames");
    std::fs::create_dir_all(&h265).unwrap();
    for e in std::fs::read_dir(sdk.samples().join("h264SampleFrames")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        std::os::unix::fs::symlink(&p, h265.join(format!("{name}.h265"))).unwrap();
    }
    frames_dir
}

/// The realtime sample: a 40 ms frame clock, a key frame every 45 frames, an
/// end-of-fragment tag before each, and nine `TEST_KEY_n = TEST_VALUE_{i+n}` tags after
/// key frame `i`.
async fn realtime(creds: Creds) {
    let Some(sdk) = sdk() else { return };
    let local = Local::start().await;
    let stream = "rt-cam";
    let work = local.work("realtime");
    let mut cmd = sample_for(
        &local,
        sdk,
        "VideoOnlyRealtimeStreamingSample",
        stream,
        creds,
        &work,
    )
    .await;
    cmd.arg(stream).arg("h264").arg("8").arg(sdk.samples());
    run_bounded(cmd, work.join("sample.log")).await;

    let v = verify(&local, stream, &[(1, "v")]).await;
    let frames = v.frames(1);
    let first = frames[0].timecode;
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.timecode, first + 40 * i as u64, "frame {i}: no gap");
        assert_eq!(f.keyframe, i % 45 == 0, "frame {i}");
    }
    assert!(frames.len() >= 6 * 25, "{} frames in 8 s", frames.len());
    for f in &v.fragments {
        let index = (f.frames[0].timecode - first) / 40;
        let expected: BTreeMap<String, String> = (1..=9)
            .map(|n| (format!("TEST_KEY_{n}"), format!("TEST_VALUE_{}", index + n)))
            .collect();
        assert_eq!(
            f.tags, expected,
            "user tags of the fragment at frame {index}"
        );
    }
    local.server.shutdown().await;
}

/// The offline sample: frames as fast as PIC takes them, 25 fps timestamps.
async fn offline(creds: Creds) {
    let Some(sdk) = sdk() else { return };
    let local = Local::start().await;
    let stream = "offline-cam";
    let work = local.work("offline");
    let frames_dir = h264_frames_as_h265(sdk, &work);
    let mut cmd = sample_for(
        &local,
        sdk,
        "VideoOnlyOfflineStreamingSample",
        stream,
        creds,
        &work,
    )
    .await;
    cmd.arg(stream).arg("h264").arg("8").arg(&frames_dir);
    run_bounded(cmd, work.join("sample.log")).await;

    let v = verify(&local, stream, &[(1, "v")]).await;
    let frames = v.frames(1);
    // 8 s at 25 fps, a key frame every 45.
    assert_eq!(frames.len(), 200);
    let first = frames[0].timecode;
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.timecode, first + 40 * i as u64, "frame {i}: no gap");
        assert_eq!(f.keyframe, i % 45 == 0, "frame {i}");
    }
    local.server.shutdown().await;
}

/// The audio-video sample with its event metadata on (notification + image generation).
async fn audio_video(creds: Creds) {
    let Some(sdk) = sdk() else { return };
    let local = Local::start().await;
    let stream = "av-cam";
    let work = local.work("av");
    let mut cmd = sample_for(
        &local,
        sdk,
        "AudioVideoStreamingSample",
        stream,
        creds,
        &work,
    )
    .await;
    cmd.arg(stream)
        .arg("8")
        .arg(sdk.samples())
        .arg("aac")
        .arg("h264")
        .arg("1");
    run_bounded(cmd, work.join("sample.log")).await;
    let v = verify(&local, stream, &[(1, "v"), (2, "a")]).await;
    assert!(
        v.frames(1).len() >= 6 * 25,
        "{} video frames",
        v.frames(1).len()
    );
    local.server.shutdown().await;
}

/// gst-launch-1.0 with kvssink, as in the AWS guide, 300 frames of 640x480 at 30 fps.
async fn kvssink(audio: bool, creds: Creds) {
    let Some(sdk) = sdk() else { return };
    let local = Local::start().await;
    let stream = if audio { "sink-av" } else { "sink-v" };
    let work = local.work(stream);
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.current_dir(&work)
        .env("GST_PLUGIN_PATH", sdk.gst())
        .env("LD_LIBRARY_PATH", sdk.gst())
        .env("CONTROL_PLANE_URI", local.server.control_url())
        .env("AWS_DEFAULT_REGION", local.server.region())
        .stdin(Stdio::null());
    let mut sink = vec![
        "kvssink".to_owned(),
        "name=sink".to_owned(),
        format!("stream-name={stream}"),
        "storage-size=128".to_owned(),
        format!("log-config={}", sdk.log_config().display()),
    ];
    match creds {
        Creds::Static => {
            local.static_env(&mut cmd);
        }
        Creds::Iot => {
            let device = local.provision(stream);
            local.create_stream(stream).await;
            cmd.env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY");
            assert!(
                device.endpoint.is_some(),
                "the provisioned files name the endpoint"
            );
            sink.push(format!(
                "iot-certificate={}",
                device.kvssink_iot_certificate()
            ));
        }
    }
    let video = "videotestsrc is-live=true num-buffers=300 ! video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! x264enc bframes=0 key-int-max=45 bitrate=500 ! video/x-h264,stream-format=avc,alignment=au,profile=baseline";
    let mut pipeline = format!("{video} ! {}", sink.join(" "));
    if audio {
        pipeline.push_str(
            " audiotestsrc is-live=true num-buffers=430 ! audioconvert ! voaacenc ! aacparse ! sink.",
        );
    }
    cmd.arg("-e");
    cmd.args(shell_words(&pipeline));
    run_bounded(cmd, work.join("gst.log")).await;

    let tracks: &[(u64, &str)] = if audio {
        &[(1, "v"), (2, "a")]
    } else {
        &[(1, "v")]
    };
    let v = verify(&local, stream, tracks).await;
    let (video, audio_frames) = (v.frames(1).len(), v.frames(2).len());
    if audio {
        // kvssink refuses some frames itself, before any upload: PIC's MKV generator
        // rejects a frame whose timecode does not fit its cluster (status 0x30000005,
        // STATUS_MKV_NUMBER_TOO_BIG, logged "Put frame for STREAM failed"), and PIC skips
        // the audio frames that come before the first video key frame. Everything else
        // (aacparse gives 430 AAC frames) reaches kvs-local and comes back.
        let log = std::fs::read_to_string(work.join("gst.log")).unwrap();
        let refused = log
            .matches(&format!("Put frame for {stream} failed"))
            .count();
        assert!(refused <= 10, "kvssink refused {refused} frames");
        assert!(
            video + refused >= 300,
            "{video} video frames, {refused} refused"
        );
        assert!(video + audio_frames + refused <= 730);
        // At most a third of a second of audio before the first key frame.
        assert!(
            audio_frames + refused + 15 >= 430,
            "{audio_frames} audio frames, {refused} refused"
        );
    } else {
        assert_eq!(video, 300, "every video frame put");
    }
    local.server.shutdown().await;
}

/// Splits a pipeline description on spaces (it holds no quoted parts).
fn shell_words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_sample_over_https_with_static_credentials() {
    realtime(Creds::Static).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_sample_over_https_with_iot_credentials() {
    realtime(Creds::Iot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_sample_over_https_with_static_credentials() {
    offline(Creds::Static).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_sample_over_https_with_iot_credentials() {
    offline(Creds::Iot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_video_sample_over_https_with_static_credentials() {
    audio_video(Creds::Static).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_video_sample_over_https_with_iot_credentials() {
    audio_video(Creds::Iot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvssink_video_only_with_static_credentials() {
    kvssink(false, Creds::Static).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvssink_video_and_aac_audio_with_static_credentials() {
    kvssink(true, Creds::Static).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvssink_video_only_with_an_iot_certificate() {
    kvssink(false, Creds::Iot).await;
}

/// One element of a body's skeleton: depth, ID, width of its size field, and its value
/// where the value is not payload (a SimpleBlock: its track, relative timecode, flags).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    depth: usize,
    id: u32,
    size_width: usize,
    value: String,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{:X} [{}] {}",
            "  ".repeat(self.depth),
            self.id,
            self.size_width,
            self.value
        )
    }
}

const MASTERS: [u32; 13] = [
    0x1A45_DFA3, // EBML
    0x1853_8067, // Segment
    0x1549_A966, // Info
    0x1654_AE6B, // Tracks
    0xAE,        // TrackEntry
    0xE0,        // Video
    0xE1,        // Audio
    0x1254_C367, // Tags
    0x7373,      // Tag
    0x63C0,      // Targets
    0x67C8,      // SimpleTag
    0x1F43_B675, // Cluster
    0xA0,        // BlockGroup
];
/// Level-1 elements: one ends an unknown-size Cluster.
const LEVEL1: [u32; 5] = [
    0x1549_A966,
    0x1654_AE6B,
    0x1254_C367,
    0x1F43_B675,
    0x1A45_DFA3,
];

/// Reads an EBML variable-length integer: (value with the marker bit kept, as IDs are
/// written; value without it, as sizes are; length).
fn vint(data: &[u8]) -> (u64, u64, usize) {
    let len = data[0].leading_zeros() as usize + 1;
    assert!(len <= 8, "bad vint");
    let mut raw = 0u64;
    for b in &data[..len] {
        raw = raw << 8 | u64::from(*b);
    }
    let value = raw & ((1u64 << (7 * len)) - 1);
    (raw, value, len)
}

/// The skeleton of a whole PutMedia body.
fn skeleton(body: &[u8]) -> Vec<Node> {
    let mut out = Vec::new();
    // (id, end offset or None for unknown size) of the open masters.
    let mut open: Vec<(u32, Option<usize>)> = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        while let Some(&(_, Some(end))) = open.last() {
            if pos >= end {
                open.pop();
            } else {
                break;
            }
        }
        let (id, _, id_len) = vint(&body[pos..]);
        let id = u32::try_from(id).unwrap();
        if LEVEL1.contains(&id) {
            // Ends an unknown-size Cluster (and anything below the Segment).
            while open.last().is_some_and(|(o, _)| *o != 0x1853_8067) {
                open.pop();
            }
            if id == 0x1A45_DFA3 {
                open.clear();
            }
        }
        let (_, size, size_len) = vint(&body[pos + id_len..]);
        let unknown = size == (1u64 << (7 * size_len)) - 1;
        let start = pos + id_len + size_len;
        let depth = open.len();
        if MASTERS.contains(&id) {
            out.push(Node {
                depth,
                id,
                size_width: size_len,
                value: if unknown {
                    "unknown-size".into()
                } else {
                    String::new()
                },
            });
            open.push((id, (!unknown).then(|| start + size as usize)));
            pos = start;
            continue;
        }
        let data = &body[start..start + size as usize];
        let value = match id {
            0xA3 => {
                let (_, track, n) = vint(data);
                let rel = i16::from_be_bytes([data[n], data[n + 1]]);
                format!("track {track} rel {rel} flags {:#04x}", data[n + 2])
            }
            // Strings.
            0x4282 | 0x86 | 0x536E | 0x7BA9 | 0x4D80 | 0x5741 | 0x45A3 | 0x4487 | 0x22B59C => {
                format!("{:?}", String::from_utf8_lossy(data))
            }
            _ if data.len() <= 8 => {
                let mut v = 0u64;
                for b in data {
                    v = v << 8 | u64::from(*b);
                }
                format!("{v:#x}")
            }
            _ => format!("<{} bytes>", data.len()),
        };
        out.push(Node {
            depth,
            id,
            size_width: size_len,
            value,
        });
        pos = start + size as usize;
    }
    out
}

/// Removes the subtrees rooted at the nodes `drop` selects.
fn without(nodes: Vec<Node>, drop: impl Fn(&[Node], usize) -> bool) -> Vec<Node> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        if drop(&nodes, i) {
            let depth = nodes[i].depth;
            i += 1;
            while i < nodes.len() && nodes[i].depth > depth {
                i += 1;
            }
            continue;
        }
        out.push(nodes[i].clone());
        i += 1;
    }
    out
}

/// Values that differ by nature between any two runs: the random SegmentUID and the
/// clusters' absolute timecodes.
fn normalize(nodes: Vec<Node>) -> Vec<Node> {
    nodes
        .into_iter()
        .map(|mut n| {
            if n.id == 0x73A4 || n.id == 0xE7 {
                n.value = "<per run>".into();
            }
            n
        })
        .collect()
}

/// The names of the SimpleTags under the Tags element at `i`.
fn tag_names(nodes: &[Node], i: usize) -> Vec<String> {
    let depth = nodes[i].depth;
    nodes[i + 1..]
        .iter()
        .take_while(|n| n.depth > depth)
        .filter(|n| n.id == 0x45A3)
        .map(|n| n.value.trim_matches('"').to_owned())
        .collect()
}

/// PIC's body and ours for the same H.264 frames (the SDK samples' 200 first frames,
/// 25 fps, a key frame every 45): the same element skeleton — IDs, order, size-field
/// widths and every value outside payloads — but for the documented, deliberate
/// differences (docs/FORMAT.md §4): no CodecPrivate and no Video element in our clear
/// Tracks (they travel encrypted), our envelope tags, and our application names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_put_media_body_has_pics_skeleton_on_the_same_input() {
    let Some(sdk) = sdk() else { return };
    kvs_e2ee_aws::config::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture");
    let plane = MediaPlane::new(MediaConfig {
        capture_dir: Some(capture.clone()),
        ..MediaConfig::default()
    });
    let mut config = Config::new(dir.path().join("kvs"));
    config.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    config.data_plane = Some(Arc::new(plane.clone()));
    let server = Server::start(config).await.unwrap();
    let local = Local { dir, server, plane };

    // PIC: the offline sample, 8 s of the frames.
    let work = local.work("pic");
    let frames_dir = h264_frames_as_h265(sdk, &work);
    let mut files: Vec<PathBuf> = std::fs::read_dir(sdk.samples().join("h264SampleFrames"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut cmd = sample(
        &local,
        &sdk.bin("kvsVideoOnlyOfflineStreamingSample"),
        &work,
    );
    local.static_env(&mut cmd);
    cmd.arg("pic").arg("h264").arg("8").arg(&frames_dir);
    run_bounded(cmd, work.join("sample.log")).await;

    // Ours: the same 200 frames as one Annex-B file at 25 fps, over HTTPS too.
    let ours_dir = local.work("ours");
    let annexb = ours_dir.join("frames.h264");
    let mut all = Vec::new();
    for p in files.iter().take(200) {
        all.extend_from_slice(&std::fs::read(p).unwrap());
    }
    std::fs::write(&annexb, all).unwrap();
    let camera = kvs_e2ee_keys::Identity::generate(
        kvs_e2ee_keys::KeyKind::Camera,
        &mut rand::rand_core::UnwrapErr(rand::rngs::SysRng),
    );
    camera.save_new(&ours_dir.join("camera.key")).unwrap();
    let viewer = kvs_e2ee_keys::Identity::generate(
        kvs_e2ee_keys::KeyKind::Viewer,
        &mut rand::rand_core::UnwrapErr(rand::rngs::SysRng),
    );
    let recipients = ours_dir.join("recipients.txt");
    std::fs::write(&recipients, format!("{} viewer\n", viewer.public_text())).unwrap();
    let options = ConfigOptions {
        region: Some(local.server.region().to_owned()),
        endpoint_url: Some(local.server.https_url().unwrap().to_owned()),
        credentials: CredentialSource::Static(local.server.admin_credentials()),
        media_stall_grace: None,
        ca_bundle: Some(local.ca()),
    };
    let camera_config = kvs_e2ee_producer::config::Config {
        stream: kvs_e2ee_producer::config::StreamSettings {
            stream_name: "ours".into(),
            identity: ours_dir.join("camera.key"),
            recipients,
            create_stream: Some(24),
            fragment_duration: Duration::from_secs(1),
            frame_cipher: kvs_e2ee_envelope::FrameCipher::ChaCha20Poly1305,
            buffer_size: 64 << 20,
            spool: None,
            stats_interval: None,
        },
        source: kvs_e2ee_producer::config::Source::AnnexB {
            input: kvs_e2ee_producer::config::Input::File(annexb),
            codec: kvs_e2ee_producer::annexb::Codec::H264,
            fps: kvs_e2ee_producer::annexb::FrameRate::new(25, 1).unwrap(),
        },
        endpoint_url: options.endpoint_url.clone(),
        ca_bundle: options.ca_bundle.clone(),
        region: options.region.clone(),
        credentials: kvs_e2ee_producer::config::Credentials::DefaultChain,
    };
    let stats = tokio::time::timeout(
        LIMIT,
        kvs_e2ee_producer::run::stream_with(
            camera_config,
            ClientConfig::load(options).await.unwrap(),
            kvs_e2ee_producer::engine::EngineConfig::default(),
            Arc::new(tokio::sync::Notify::new()),
        ),
    )
    .await
    .expect("our camera finishes in time")
    .unwrap();
    assert_eq!(stats.fragments, stats.fragments_persisted);

    let body = |stream: &str| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&capture)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{stream}-"))
            })
            .collect();
        assert_eq!(found.len(), 1, "one connection of {stream}");
        std::fs::read(found.pop().unwrap()).unwrap()
    };
    let pic = normalize(skeleton(&body("pic")));
    let ours = normalize(skeleton(&body("ours")));

    // Deliberate: the clear Tracks carry no codec data and no picture size.
    let pic = without(pic, |n, i| n[i].id == 0x63A2 || n[i].id == 0xE0);
    // Deliberate: the envelope's tags (headers, end record) are ours alone.
    let ours = without(ours, |n, i| {
        n[i].id == 0x1254_C367
            && tag_names(n, i)
                .iter()
                .all(|t| !t.starts_with("AWS_KINESISVIDEO_"))
    });
    // Deliberate: we name ourselves in Info (MuxingApp, WritingApp, Title).
    let apps = |n: Vec<Node>| -> Vec<Node> {
        n.into_iter()
            .map(|mut n| {
                if [0x4D80, 0x5741, 0x7BA9].contains(&n.id) {
                    n.value = "<application>".into();
                }
                n
            })
            .collect()
    };
    let (pic, ours) = (apps(pic), apps(ours));
    let show = |n: &[Node]| n.iter().map(ToString::to_string).collect::<Vec<_>>();
    let blocks = |n: &[Node]| n.iter().filter(|n| n.id == 0xA3).count();
    assert_eq!(
        (blocks(&pic), blocks(&ours)),
        (200, 200),
        "every frame in both bodies"
    );
    if pic != ours {
        let (a, b) = (show(&pic), show(&ours));
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "skeletons differ at element {first} ({} vs {} elements)\nPIC:\n{}\nours:\n{}",
            a.len(),
            b.len(),
            a[first.saturating_sub(5)..(first + 10).min(a.len())].join("\n"),
            b[first.saturating_sub(5)..(first + 10).min(b.len())].join("\n"),
        );
    }
    local.server.shutdown().await;
}
