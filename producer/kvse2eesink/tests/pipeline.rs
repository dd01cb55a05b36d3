//! `kvse2eesink` in real GStreamer pipelines against kvs-local started
//! in-process: `videotestsrc ! x264enc ! h264parse ! kvse2eesink` streams 300
//! frames that the viewer library decrypts back (and ffprobe decodes), with
//! access keys and with kvssink's `iot-certificate` string; bad properties,
//! an unreadable key and an unreachable endpoint end in a GStreamer error that
//! names the problem, not a hang. With AAC audio on a second request pad, as
//! kvssink takes it (`kvse2eesink name=sink … ! sink. … ! sink.`), both tracks
//! come back interleaved in timestamp order.
//!
//! Needs GStreamer with x264enc (gstreamer1.0-plugins-ugly); nothing here is
//! skipped when a plugin is missing: the pipeline fails to build.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::Setup;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gst::prelude::*;
use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions};
use kvs_e2ee_aws::control;
use kvs_e2ee_consumer::run::{Config as ViewerConfig, Mode, OutputTarget, Start};
use kvs_e2ee_envelope::FrameCipher;
use kvs_e2ee_keys::{Identity, KeyKind, KeyList};
use kvs_e2ee_mkv::{Demuxer, Event};
use kvs_local::faults::{Fault, FaultScope};
use kvs_local::iot::KeyType;

const FRAMES: u64 = 300;
/// Encoder settings that keep the test fast: tiny frames, fastest preset, a
/// key frame every second.
const SOURCE: &str = "videotestsrc num-buffers=300 ! video/x-raw,width=160,height=120,framerate=30/1 \
                      ! x264enc key-int-max=30 speed-preset=ultrafast tune=zerolatency ! h264parse";
/// The same in H.265 (x265enc is in gstreamer1.0-plugins-bad).
const SOURCE_H265: &str = "videotestsrc num-buffers=300 ! video/x-raw,width=160,height=120,framerate=30/1 \
                           ! x265enc key-int-max=30 speed-preset=ultrafast tune=zerolatency ! h265parse";
/// 10 s of AAC (48 kHz mono, 1024 samples a frame) beside [`SOURCE`]'s video.
const AUDIO_SOURCE: &str = "audiotestsrc num-buffers=470 samplesperbuffer=1024 \
                            ! audio/x-raw,rate=48000,channels=1 ! voaacenc ! aacparse";
/// Upper bound on one pipeline run.
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(40);

async fn setup() -> Setup {
    gst::init().unwrap();
    gstkvse2ee::plugin_register_static().unwrap();
    Setup::start().await
}

impl Setup {
    fn admin(&self) -> ConfigOptions {
        self.server.admin_client_options()
    }

    /// Reads `stream` back with the viewer library; returns the output MKV.
    async fn watch(&self, stream: &str) -> PathBuf {
        self.read(stream, false).await
    }

    /// Reads `stream` with the viewer library from its first fragment until
    /// caught up: verified into an MKV, or (`inspect`) listed as the cloud
    /// sees it (`--inspect`); returns the output file.
    async fn read(&self, stream: &str, inspect: bool) -> PathBuf {
        let output = self
            .dir
            .join(format!("{stream}.{}", if inspect { "txt" } else { "mkv" }));
        let identities = Identity::load_kind(&self.keys.viewer, KeyKind::Viewer)
            .unwrap()
            .secrets()
            .cloned()
            .collect();
        let trusted_cameras = KeyList::load(&self.keys.trusted_cameras, KeyKind::Camera)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let outcome = tokio::time::timeout(
            Duration::from_secs(30),
            kvs_e2ee_consumer::run(
                ViewerConfig {
                    stream: stream.into(),
                    identities,
                    trusted_cameras,
                    mode: Mode::Live {
                        start: Start::Earliest,
                        until_current: true,
                    },
                    max_duration: Some(Duration::from_secs(25)),
                    keep_going: false,
                    inspect,
                    client: self.admin(),
                    catch_up_idle: Duration::from_secs(1),
                    progress: None,
                    stop: None,
                },
                &OutputTarget::File(output.clone()),
            ),
        )
        .await
        .expect("the viewer finished in time")
        .unwrap();
        assert!(outcome.success(), "{}", outcome.summary);
        output
    }
}

/// How a pipeline run ended.
#[derive(Debug)]
struct Ended {
    /// The error message (with its debug details), if it failed.
    error: Option<String>,
    /// The `kvse2eesink-stats` messages posted.
    stats: Vec<gst::Structure>,
}

/// Runs `description` to EOS or the first error, on a blocking thread.
async fn run_pipeline(description: String) -> Ended {
    tokio::time::timeout(
        PIPELINE_TIMEOUT,
        tokio::task::spawn_blocking(move || run_blocking(&description)),
    )
    .await
    .expect("the pipeline ended in time (no hang)")
    .unwrap()
}

fn run_blocking(description: &str) -> Ended {
    let pipeline = gst::parse::launch(description).unwrap();
    run_to_end(&pipeline)
}

/// Runs `pipeline` (built) to EOS or the first error, then to NULL.
fn run_to_end(pipeline: &gst::Element) -> Ended {
    let bus = pipeline.bus().unwrap();
    // A failed state change is also posted on the bus as an error.
    let _ = pipeline.set_state(gst::State::Playing);
    let mut ended = Ended {
        error: None,
        stats: Vec::new(),
    };
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(PIPELINE_TIMEOUT.as_secs())) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                // The message itself (not only the debug details) must say it.
                eprintln!("pipeline error: {} ({:?})", e.error(), e.debug());
                ended.error = Some(e.error().to_string());
                break;
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "kvse2eesink-stats") {
                    ended.stats.push(s.to_owned());
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    ended
}

/// Video frames in an MKV file.
fn count_frames(path: &Path) -> u64 {
    let mut demux = Demuxer::new();
    demux.push(&std::fs::read(path).unwrap());
    demux.finish().unwrap();
    let mut n = 0;
    while let Some(ev) = demux.next_event().unwrap() {
        if matches!(ev, Event::Frame(_)) {
            n += 1;
        }
    }
    n
}

/// ffprobe's count of decoded video frames, or `None` when ffprobe is not
/// installed (a failure when `CI` is set).
fn ffprobe_frames(path: &Path) -> Option<u64> {
    let streams = ffprobe_streams(path)?;
    let video = streams.iter().find(|(kind, _)| kind == "video");
    Some(video.expect("ffprobe finds a video stream").1)
}

/// The streams ffprobe finds in `path` (`video`, `audio`, …) and its count of
/// decoded frames in each, or `None` when ffprobe is not installed (a failure
/// when `CI` is set).
fn ffprobe_streams(path: &Path) -> Option<Vec<(String, u64)>> {
    let out = match Command::new("ffprobe")
        .args(["-v", "error", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_type,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
    {
        Ok(out) => out,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("ffprobe not available ({e}); skipping the decode check outside CI");
            return None;
        }
        Err(e) => panic!("ffprobe is required when CI is set: {e}"),
    };
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .map(|l| {
                let (kind, n) = l.split_once(',').unwrap();
                (kind.to_owned(), n.trim().parse().unwrap())
            })
            .collect(),
    )
}

fn last_stats(ended: &Ended) -> &gst::Structure {
    let last = ended.stats.last().expect("stats messages were posted");
    assert!(
        last.get::<bool>("eos").unwrap(),
        "the last stats are EOS's: {last}"
    );
    last
}

async fn assert_round_trip(s: &Setup, stream: &str) {
    let output = s.watch(stream).await;
    assert_eq!(count_frames(&output), FRAMES, "every frame decrypted");
    if let Some(n) = ffprobe_frames(&output) {
        assert_eq!(n, FRAMES, "ffprobe decodes every frame");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_stream_h264_with_access_keys_creates_the_stream_and_every_frame_decrypts() {
    let s = setup().await;
    let sink = s.sink("garden", &s.static_keys());
    // Annex-B input: the element builds avcC from the in-band SPS/PPS.
    let ended = run_pipeline(format!(
        "{SOURCE} ! video/x-h264,stream-format=byte-stream,alignment=au ! {sink}"
    ))
    .await;
    assert_eq!(ended.error, None);
    let last = last_stats(&ended);
    let fragments = last.get::<u64>("fragments").unwrap();
    // 10 s of video in 2 s fragments (the default fragment-duration).
    assert_eq!(fragments, 5, "{last}");
    assert_eq!(last.get::<u64>("fragments-persisted").unwrap(), fragments);
    assert_eq!(last.get::<u64>("dropped-fragments").unwrap(), 0);
    assert!(ended.stats.len() > 1, "progress was reported before EOS");
    assert_round_trip(&s, "garden").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_https_with_the_ca_bundle_property() {
    let s = setup().await;
    let ca = kvs_local::https::ca_path(s.server.data_dir());
    let sink = s.sink(
        "tls-garden",
        &format!(
            "{} endpoint-url={} ca-bundle={}",
            s.static_keys(),
            s.server.https_url().unwrap(),
            ca.display()
        ),
    );
    let ended = run_pipeline(format!("{SOURCE} ! {sink}")).await;
    assert_eq!(ended.error, None);
    let last = last_stats(&ended);
    assert_eq!(
        last.get::<u64>("fragments-persisted").unwrap(),
        last.get::<u64>("fragments").unwrap()
    );
    assert_round_trip(&s, "tls-garden").await;
    // Without the CA the same endpoint is refused.
    let e = error_of(
        &s,
        &format!(
            "{} endpoint-url={}",
            s.static_keys(),
            s.server.https_url().unwrap()
        ),
    )
    .await;
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("tls") || e.contains("TLS"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvssink_iot_certificate_string_works_unchanged() {
    let s = setup().await;
    // As the account owner would: the camera role may not create streams.
    let admin = ClientConfig::load(s.admin()).await.unwrap();
    control::create_stream(&admin.control_client(), "porch", 24, Some("video/h264"))
        .await
        .unwrap();
    let device = s
        .server
        .provision_thing("porch", KeyType::EcP256, &s.dir.join("device"))
        .unwrap();
    // The string kvs-local prints for kvssink, pasted as is.
    let iot = format!("iot-certificate=\"{}\"", device.kvssink_iot_certificate());
    let sink = s.sink("porch", &format!("{iot} fragment-duration=1000"));
    // avc input: the caps' codec_data is the avcC record.
    let ended = run_pipeline(format!(
        "{SOURCE} ! video/x-h264,stream-format=avc,alignment=au ! {sink}"
    ))
    .await;
    assert_eq!(ended.error, None);
    let last = last_stats(&ended);
    assert_eq!(last.get::<u64>("fragments").unwrap(), 10, "{last}");
    assert_eq!(last.get::<u64>("fragments-persisted").unwrap(), 10);
    assert_round_trip(&s, "porch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_hvc1_and_byte_stream_both_decrypt() {
    let s = setup().await;
    for format in ["hvc1", "byte-stream"] {
        let stream = format!("h265-{format}");
        let sink = s.sink(&stream, &s.static_keys());
        let ended = run_pipeline(format!(
            "{SOURCE_H265} ! video/x-h265,stream-format={format},alignment=au ! {sink}"
        ))
        .await;
        assert_eq!(ended.error, None, "{format}");
        let last = last_stats(&ended);
        assert_eq!(last.get::<u64>("fragments-persisted").unwrap(), 5, "{last}");
        assert_round_trip(&s, &stream).await;
    }
}

/// A retryable `ERROR` ack (5000) on the first PutMedia connection: with
/// `restart-on-error=true` (the default) the engine reconnects and resends,
/// nothing is lost; with `false` the pipeline ends with an error saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_error_decides_whether_a_lost_connection_is_retried() {
    let s = setup().await;
    let faults = s.server.faults();
    for (stream, restart) in [("retried", true), ("not-retried", false)] {
        faults.inject(
            FaultScope::Stream(stream.into()),
            Fault::AckError { error_id: 5000 },
            1,
        );
        let sink = s.sink(
            stream,
            &format!("{} restart-on-error={restart}", s.static_keys()),
        );
        let ended = run_pipeline(format!("{SOURCE} ! {sink}")).await;
        assert!(faults.list().is_empty(), "the fault was hit");
        if restart {
            assert_eq!(ended.error, None);
            let last = last_stats(&ended);
            assert!(last.get::<u64>("reconnects").unwrap() >= 1, "{last}");
            assert_eq!(last.get::<u64>("fragments-persisted").unwrap(), 5);
            assert_round_trip(&s, stream).await;
        } else {
            let e = ended.error.expect("the pipeline failed");
            assert!(e.contains("restart-on-error is false"), "{e}");
        }
    }
}

/// A live source never ends; going to NULL without EOS (an application
/// closing, or gst-launch-1.0 without -e) must return promptly: the element
/// unblocks the streaming thread, gives the engine a bounded time to flush,
/// and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_live_pipeline_without_eos_returns_promptly() {
    let s = setup().await;
    let sink = s.sink("live", &s.static_keys());
    let stopped_in =
        stop_after_first_fragment(format!("{LIVE_SOURCE} ! {sink} fragment-duration=500")).await;
    assert!(stopped_in < Duration::from_secs(8), "{stopped_in:?}");
}

/// The same with live audio beside the video: a streaming thread waiting in
/// the interleaver for the other pad is released as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_live_pipeline_with_audio_returns_promptly() {
    let s = setup().await;
    let sink = s.sink("live-audio", &s.static_keys());
    let stopped_in = stop_after_first_fragment(format!(
        "{sink} name=sink fragment-duration=500  {LIVE_SOURCE} ! queue ! sink.  \
         audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=1 ! voaacenc ! aacparse \
         ! queue ! sink."
    ))
    .await;
    assert!(stopped_in < Duration::from_secs(8), "{stopped_in:?}");
}

/// A live camera: never ends, a key frame every half second.
const LIVE_SOURCE: &str = "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=30/1 \
                           ! x264enc key-int-max=15 speed-preset=ultrafast tune=zerolatency ! h264parse";

/// Plays `description` until a fragment is persisted, then sets it to NULL;
/// returns how long that took.
async fn stop_after_first_fragment(description: String) -> Duration {
    tokio::time::timeout(
        PIPELINE_TIMEOUT,
        tokio::task::spawn_blocking(move || {
            let pipeline = gst::parse::launch(&description).unwrap();
            let bus = pipeline.bus().unwrap();
            pipeline.set_state(gst::State::Playing).unwrap();
            // Streaming: wait for the first persisted fragment.
            let persisted =
                bus.iter_timed(gst::ClockTime::from_seconds(20))
                    .find(|m| match m.view() {
                        gst::MessageView::Element(e) => e
                            .structure()
                            .and_then(|s| s.get::<u64>("fragments-persisted").ok())
                            .is_some_and(|n| n > 0),
                        gst::MessageView::Error(e) => panic!("{}", e.error()),
                        _ => false,
                    });
            assert!(persisted.is_some(), "a fragment was persisted");
            let started = std::time::Instant::now();
            pipeline.set_state(gst::State::Null).unwrap();
            started.elapsed()
        }),
    )
    .await
    .expect("no hang")
    .unwrap()
}

/// `frame-cipher` chooses the AEAD the frames are sealed with (the producer's
/// `--frame-cipher`): a stream of each decrypts with the viewer library, and
/// every header the cloud stores names the chosen cipher (the cipher id is
/// in the header's authenticated core, so a viewer that decrypted the frames
/// used it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_cipher_property_chooses_the_cipher_and_both_decrypt() {
    const SHORT_FRAMES: u64 = 90;
    let short = SOURCE.replace(
        &format!("num-buffers={FRAMES}"),
        &format!("num-buffers={SHORT_FRAMES}"),
    );
    let s = setup().await;
    for cipher in FrameCipher::ALL {
        let stream = format!("cipher-{cipher}");
        let sink = s.sink(
            &stream,
            &format!("{} frame-cipher={cipher}", s.static_keys()),
        );
        let ended = run_pipeline(format!("{short} ! {sink}")).await;
        assert_eq!(ended.error, None, "{cipher}");
        let output = s.watch(&stream).await;
        assert_eq!(
            count_frames(&output),
            SHORT_FRAMES,
            "{cipher}: every frame decrypted"
        );
        let listing = std::fs::read_to_string(s.read(&stream, true).await).unwrap();
        assert!(!listing.contains("unreadable"), "{cipher}: {listing}");
        let named: Vec<&str> = listing
            .split(" frame-cipher ")
            .skip(1)
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        // 3 s in 2 s fragments: headers 0 and 1 (each stored as look-ahead
        // and as repeat) and the end record, which names the session's cipher.
        assert_eq!(named.len(), 5, "{cipher}: {listing}");
        assert!(
            named.iter().all(|n| *n == cipher.name()),
            "{cipher}: {listing}"
        );
    }
}

/// Runs a short pipeline into a misconfigured sink; returns the error text.
async fn error_of(s: &Setup, extra: &str) -> String {
    let sink = s.sink("errors", extra);
    let ended = run_pipeline(format!("{SOURCE} ! {sink}")).await;
    ended.error.expect("the pipeline failed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_properties_fail_at_state_change_naming_the_property() {
    let s = setup().await;
    let keys = s.static_keys();
    let cases = [
        ("fragment-duration=0", "fragment-duration"),
        ("fragment-duration=20000", "fragment-duration"),
        ("stream-name=has/slash", "stream-name"),
        ("retention-period=100000", "retention-period"),
        ("storage-size=0", "storage-size"),
        ("endpoint-url=ftp://x", "endpoint-url"),
        ("ca-bundle=/nonexistent/ca.pem", "property ca-bundle"),
        ("identity=/nonexistent/camera.key", "property identity"),
        (
            "frame-cipher=rot13",
            "property frame-cipher: \"rot13\": expected auto",
        ),
    ];
    for (extra, expected) in cases {
        // Later properties override the sink's defaults.
        let e = error_of(&s, &format!("{keys} {extra}")).await;
        assert!(e.contains(expected), "{extra}: {e}");
    }
    // Credentials: half a key pair, and a key pair KVS refuses.
    let e = error_of(&s, "access-key=AKIAEXAMPLE").await;
    assert!(
        e.contains("property secret-key: required with access-key"),
        "{e}"
    );
    let e = error_of(&s, "access-key=AKIAEXAMPLE secret-key=wrong").await;
    assert!(e.contains("credentials") && e.contains("403"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_identity_and_wrong_key_kind_are_named() {
    let s = setup().await;
    let keys = s.static_keys();
    let garbage = s.dir.join("garbage.key");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let e = error_of(&s, &format!("{keys} identity={}", garbage.display())).await;
    assert!(
        e.contains("property identity") && e.contains("too open"),
        "{e}"
    );
    std::fs::set_permissions(
        &garbage,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let e = error_of(&s, &format!("{keys} identity={}", garbage.display())).await;
    assert!(
        e.contains("property identity") && e.contains("garbage.key"),
        "{e}"
    );
    // A viewer key is not a camera identity.
    let viewer = &s.keys.viewer;
    let e = error_of(&s, &format!("{keys} identity={}", viewer.display())).await;
    assert!(e.contains("property identity"), "{e}");
    let e = error_of(&s, &format!("{keys} recipients={}", viewer.display())).await;
    assert!(e.contains("property recipients"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_is_a_clear_error_not_a_hang() {
    let s = setup().await;
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = error_of(
        &s,
        &format!("{} endpoint-url=http://127.0.0.1:{port}", s.static_keys()),
    )
    .await;
    assert!(e.contains("cannot reach Kinesis Video Streams"), "{e}");
}

/// This build's plugin, as GStreamer's tools load it.
const LIBRARY: &str = "libgstkvse2ee.so";

/// The AWS guide's kvssink command, with `kvssink` replaced by `kvse2eesink`,
/// the IoT paths and endpoint pointing at kvs-local, and our two properties
/// added; run by `gst-launch-1.0` loading the plugin from `GST_PLUGIN_PATH`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gst_launch_runs_the_aws_guide_command_with_the_element_renamed() {
    let s = setup().await;
    let admin = ClientConfig::load(s.admin()).await.unwrap();
    control::create_stream(&admin.control_client(), "driveway", 24, Some("video/h264"))
        .await
        .unwrap();
    let device = s
        .server
        .provision_thing("driveway", KeyType::EcP256, &s.dir.join("device"))
        .unwrap();
    // argv after the shell removed the guide's quotes.
    let mut args: Vec<String> = SOURCE.split_whitespace().map(str::to_owned).collect();
    args.extend([
        "!".into(),
        "kvse2eesink".into(),
        "stream-name=driveway".into(),
        "storage-size=128".into(),
        format!("iot-certificate={}", device.kvssink_iot_certificate()),
        format!("aws-region={}", s.server.region()),
        format!("endpoint-url={}", s.server.control_url()),
        format!("identity={}", s.keys.camera.display()),
        format!("recipients={}", s.keys.recipients.display()),
    ]);
    let work = s.dir.clone();
    let (ok, output) = tokio::task::spawn_blocking(move || {
        support::gst_tool("gst-launch-1.0", LIBRARY, &work, &args, PIPELINE_TIMEOUT)
    })
    .await
    .unwrap();
    assert!(ok, "gst-launch-1.0 failed:\n{output}");
    assert!(output.contains("Got EOS"), "{output}");
    assert_round_trip(&s, "driveway").await;
}

/// `gst-inspect-1.0 kvse2eesink` (plugin loaded from `GST_PLUGIN_PATH`)
/// lists every property with its description, kvssink's names included.
#[test]
fn gst_inspect_documents_every_property() {
    let work = tempfile::tempdir().unwrap();
    let (ok, text) = support::gst_tool(
        "gst-inspect-1.0",
        LIBRARY,
        work.path(),
        &["kvse2eesink".to_owned()],
        PIPELINE_TIMEOUT,
    );
    assert!(ok, "{text}");
    for property in [
        "stream-name",
        "aws-region",
        "iot-certificate",
        "access-key",
        "secret-key",
        "session-token",
        "fragment-duration",
        "storage-size",
        "retention-period",
        "restart-on-error",
        "recipients",
        "identity",
        "endpoint-url",
        "ca-bundle",
        "frame-cipher",
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{property} ")))
            .unwrap_or_else(|| panic!("{property} is not listed:\n{text}"));
        let blurb = line.split_once(':').map(|(_, b)| b.trim()).unwrap_or("");
        assert!(blurb.len() > 10, "{property} has no description: {line}");
    }
    for expected in [
        "video_%u",
        "audio_%u",
        "video/x-h264",
        "video/x-h265",
        "audio/mpeg",
        "audio/x-alaw",
        "audio/x-mulaw",
    ] {
        assert!(text.contains(expected), "{expected} is not listed:\n{text}");
    }
}

/// Every frame of an MKV file as (track, absolute timecode in ms), in file order.
fn frame_times(path: &Path) -> Vec<(u64, u64)> {
    let mut demux = Demuxer::new();
    demux.push(&std::fs::read(path).unwrap());
    demux.finish().unwrap();
    let mut frames = Vec::new();
    while let Some(ev) = demux.next_event().unwrap() {
        if let Event::Frame(f) = ev {
            frames.push((f.track, f.timecode));
        }
    }
    frames
}

/// kvssink's two-pad form: video and AAC audio linked to `kvse2eesink
/// name=sink` by name. Every video and audio frame comes back, ffprobe
/// decodes both tracks, and the frames are interleaved in timestamp order on
/// one timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_and_aac_audio_on_request_pads_both_decrypt_interleaved() {
    let s = setup().await;
    let sink = s.sink("with-audio", &s.static_keys());
    let description = format!("{sink} name=sink  {SOURCE} ! sink.  {AUDIO_SOURCE} ! sink.");
    let (ended, audio_in) = tokio::time::timeout(
        PIPELINE_TIMEOUT,
        tokio::task::spawn_blocking(move || {
            let pipeline = gst::parse::launch(&description)
                .unwrap()
                .downcast::<gst::Bin>()
                .unwrap();
            let element = pipeline.by_name("sink").unwrap();
            let names: Vec<String> = element
                .sink_pads()
                .iter()
                .map(|p| p.name().into())
                .collect();
            assert_eq!(names, ["video_0", "audio_0"], "kvssink's pad names");
            let audio_in = Arc::new(AtomicU64::new(0));
            let counter = audio_in.clone();
            element.static_pad("audio_0").unwrap().add_probe(
                gst::PadProbeType::BUFFER,
                move |_, _| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    gst::PadProbeReturn::Ok
                },
            );
            let ended = run_to_end(pipeline.upcast_ref());
            (ended, audio_in.load(Ordering::SeqCst))
        }),
    )
    .await
    .expect("the pipeline ended in time (no hang)")
    .unwrap();
    assert_eq!(ended.error, None);
    assert!(audio_in > 400, "the encoder produced audio: {audio_in}");
    let last = last_stats(&ended);
    assert_eq!(last.get::<u64>("fragments-persisted").unwrap(), 5, "{last}");

    let output = s.watch("with-audio").await;
    let frames = frame_times(&output);
    let video: Vec<u64> = frames.iter().filter(|f| f.0 == 1).map(|f| f.1).collect();
    let audio: Vec<u64> = frames.iter().filter(|f| f.0 == 2).map(|f| f.1).collect();
    assert_eq!(video.len() as u64, FRAMES, "every video frame decrypted");
    assert_eq!(audio.len() as u64, audio_in, "every audio frame decrypted");
    assert!(
        audio.windows(2).all(|w| w[0] < w[1]),
        "audio timecodes increase"
    );
    assert!(
        frames.windows(2).all(|w| w[0].1 <= w[1].1),
        "frames are interleaved in timestamp order"
    );
    // One timeline: both tracks span the same 10 s.
    let (v0, a0) = (video[0], audio[0]);
    assert!(a0.abs_diff(v0) < 100, "video starts at {v0}, audio at {a0}");
    let (v1, a1) = (video[video.len() - 1], audio[audio.len() - 1]);
    assert!(a1.abs_diff(v1) < 200, "video ends at {v1}, audio at {a1}");

    if let Some(streams) = ffprobe_streams(&output) {
        assert_eq!(
            streams,
            [("video".to_owned(), FRAMES), ("audio".to_owned(), audio_in)],
            "ffprobe decodes both tracks completely"
        );
    }
}

/// G.711 as kvssink takes it (`A_MS/ACM` with a `WAVEFORMATEX`): A-law and
/// µ-law both come back and decode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g711_audio_beside_video_decrypts_and_decodes() {
    let s = setup().await;
    for encoder in ["alawenc", "mulawenc"] {
        let stream = format!("g711-{encoder}");
        let sink = s.sink(&stream, &s.static_keys());
        // 10 s of 8 kHz mono in 40 ms buffers.
        let ended = run_pipeline(format!(
            "{sink} name=sink  {SOURCE} ! sink.  audiotestsrc num-buffers=250 samplesperbuffer=320 \
             ! audio/x-raw,rate=8000,channels=1 ! {encoder} ! sink."
        ))
        .await;
        assert_eq!(ended.error, None, "{encoder}");
        let output = s.watch(&stream).await;
        let frames = frame_times(&output);
        assert_eq!(frames.iter().filter(|f| f.0 == 1).count() as u64, FRAMES);
        assert_eq!(frames.iter().filter(|f| f.0 == 2).count(), 250, "{encoder}");
        if let Some(streams) = ffprobe_streams(&output) {
            assert_eq!(streams.len(), 2, "{streams:?}");
            assert_eq!(streams[1].0, "audio", "{streams:?}");
            assert!(streams[1].1 > 0, "{encoder}: ffprobe decodes the audio");
        }
    }
}

/// KVS fragments start at video key frames: audio alone is an error that
/// says so, not a silent empty stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_without_video_is_a_clear_error() {
    let s = setup().await;
    let sink = s.sink("audio-only", &s.static_keys());
    let ended = run_pipeline(format!("{AUDIO_SOURCE} ! {sink}")).await;
    let e = ended.error.expect("the pipeline failed");
    assert!(e.contains("needs video on a video_%u pad"), "{e}");
}

/// Like kvssink, one video and at most one audio pad: a second video pad is
/// refused, and the bus says why.
#[test]
fn a_second_video_pad_is_refused_with_a_clear_error() {
    gst::init().unwrap();
    gstkvse2ee::plugin_register_static().unwrap();
    let pipeline = gst::Pipeline::new();
    let sink = gst::ElementFactory::make("kvse2eesink").build().unwrap();
    pipeline.add(&sink).unwrap();
    let first = sink
        .request_pad_simple("video_%u")
        .expect("the first video pad");
    assert_eq!(first.name(), "video_0");
    assert!(sink.request_pad_simple("video_%u").is_none());
    let audio = sink
        .request_pad_simple("audio_%u")
        .expect("an audio pad beside it");
    assert_eq!(audio.name(), "audio_0");
    assert!(sink.request_pad_simple("audio_%u").is_none());
    let bus = pipeline.bus().unwrap();
    let errors: Vec<String> = bus
        .iter()
        .filter_map(|m| match m.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("one video stream") && errors[0].contains("video_0"),
        "{errors:?}"
    );
    assert!(errors[1].contains("one audio stream"), "{errors:?}");
    // A released pad can be requested again.
    sink.release_request_pad(&first);
    assert!(sink.request_pad_simple("video_%u").is_some());
}
