//! `kvse2eesrc` in real GStreamer pipelines against kvs-local started
//! in-process: a stream written by `kvse2eesink` (300 frames from
//! videotestsrc) is read back by `kvse2eesrc ! matroskademux ! h264parse !
//! avdec_h264 ! fakesink`, which decodes every frame; a bad property, an
//! unreadable key, an untrusted camera and an unreachable endpoint end in a
//! GStreamer error that names the problem, not a hang. `gst-launch-1.0` and
//! `gst-inspect-1.0` load the built plugin from `GST_PLUGIN_PATH`.
//!
//! Needs GStreamer with x264enc and avdec_h264 (plugins-ugly, libav); nothing
//! here is skipped when a plugin is missing: the pipeline fails to build.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The GStreamer tool helpers of producer/kvse2eesink's tests, shared rather than copied.
#[path = "../../../producer/kvse2eesink/tests/support/mod.rs"]
mod support;

use support::Setup;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gst::prelude::*;
use kvs_e2ee_keys::{Identity, KeyKind};

const FRAMES: u64 = 300;
/// Tiny frames, fastest preset, a key frame every second.
const SOURCE: &str = "videotestsrc num-buffers=300 ! video/x-raw,width=160,height=120,framerate=30/1 \
                      ! x264enc key-int-max=30 speed-preset=ultrafast tune=zerolatency ! h264parse";
/// Decodes whatever the source outputs into a counted fakesink.
const DECODE: &str = "matroskademux ! h264parse ! avdec_h264 ! fakesink name=out sync=false";
/// Upper bound on one pipeline run.
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(40);

async fn setup() -> Setup {
    gst::init().unwrap();
    gstkvse2ee::plugin_register_static().unwrap();
    gstkvse2eesrc::plugin_register_static().unwrap();
    let s = Setup::start().await;
    let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
    let other = Identity::generate(KeyKind::Camera, &mut rng);
    std::fs::write(
        s.dir.join("other-cameras.txt"),
        format!("{} another camera\n", other.public_text()),
    )
    .unwrap();
    s
}

impl Setup {
    /// Streams 300 frames into `stream` with `kvse2eesink`.
    async fn publish(&self, stream: &str) {
        let ended = run_pipeline(format!(
            "{SOURCE} ! {}",
            self.sink(stream, &self.static_keys())
        ))
        .await;
        assert_eq!(ended.error, None, "the stream was published");
    }

    /// `kvse2eesrc` reading `stream` from the start until caught up, then `extra`.
    fn src(&self, stream: &str, extra: &str) -> String {
        format!(
            "kvse2eesrc stream-name={stream} aws-region={} endpoint-url={} identity={} \
             trusted-cameras={} start=earliest until-current=true {} {extra}",
            self.server.region(),
            self.server.control_url(),
            self.keys.viewer.display(),
            self.keys.trusted_cameras.display(),
            self.static_keys(),
        )
    }
}

/// How a pipeline run ended.
#[derive(Debug)]
struct Ended {
    /// The error message, if it failed.
    error: Option<String>,
    /// Buffers that reached the fakesink named `out`, if there is one.
    frames: u64,
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
    let pipeline = gst::parse::launch(description)
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
    let frames = Arc::new(AtomicU64::new(0));
    if let Some(out) = pipeline.by_name("out") {
        let counter = frames.clone();
        out.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter.fetch_add(1, Ordering::SeqCst);
                gst::PadProbeReturn::Ok
            });
    }
    let bus = pipeline.bus().unwrap();
    // A failed state change is also posted on the bus as an error.
    let _ = pipeline.set_state(gst::State::Playing);
    let mut error = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(PIPELINE_TIMEOUT.as_secs())) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                eprintln!("pipeline error: {} ({:?})", e.error(), e.debug());
                error = Some(e.error().to_string());
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    Ended {
        error,
        frames: frames.load(Ordering::SeqCst),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvse2eesrc_decodes_every_frame_the_sink_streamed() {
    let s = setup().await;
    s.publish("garden").await;
    let ended = run_pipeline(format!("{} ! {DECODE}", s.src("garden", ""))).await;
    assert_eq!(ended.error, None);
    assert_eq!(ended.frames, FRAMES, "every frame decoded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_camera_is_an_error_and_nothing_is_decoded() {
    let s = setup().await;
    s.publish("spoofed").await;
    let src = s.src(
        "spoofed",
        &format!(
            "trusted-cameras={}",
            s.dir.join("other-cameras.txt").display()
        ),
    );
    let ended = run_pipeline(format!("{src} ! {DECODE}")).await;
    let e = ended.error.expect("the read fails");
    assert!(e.contains("the read stopped"), "{e}");
    assert_eq!(ended.frames, 0, "nothing unverified was output");
}

/// Runs the source with `extra` properties into a fakesink; returns its error.
async fn error_of(s: &Setup, extra: &str) -> String {
    let ended = run_pipeline(format!("{} ! fakesink", s.src("nothing", extra))).await;
    ended.error.expect("the pipeline failed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_properties_are_named_in_the_error() {
    let s = setup().await;
    let cases = [
        ("start=yesterday", "property start"),
        ("start=fragment:abc", "property start"),
        ("stream-name=no/slash", "property stream-name"),
        ("aws-region=EU_WEST", "property aws-region"),
        ("endpoint-url=ftp://x", "property endpoint-url"),
        ("trusted-cameras=\"\"", "property trusted-cameras"),
        ("access-key=\"\" secret-key=abc", "property access-key"),
    ];
    for (extra, expected) in cases {
        let e = error_of(&s, extra).await;
        assert!(e.contains(expected), "{extra}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_keys_are_named_in_the_error() {
    let s = setup().await;
    let missing = s.dir.join("missing.key");
    let e = error_of(&s, &format!("identity={}", missing.display())).await;
    assert!(e.contains("property identity"), "{e}");
    assert!(e.contains("missing.key"), "the path is named: {e}");
    // A camera key where the viewer's is expected.
    let e = error_of(
        &s,
        &format!("identity={}", s.dir.join("camera.key").display()),
    )
    .await;
    assert!(e.contains("property identity"), "{e}");
    let e = error_of(&s, &format!("trusted-cameras={}", missing.display())).await;
    assert!(e.contains("property trusted-cameras"), "{e}");
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
    let e = error_of(&s, &format!("endpoint-url=http://127.0.0.1:{port}")).await;
    assert!(e.contains("check endpoint-url"), "{e}");
}

/// Runs a GStreamer tool with this build's `libgstkvse2eesrc.so` on
/// `GST_PLUGIN_PATH`, bounded by [`PIPELINE_TIMEOUT`]; returns its exit
/// status and output.
fn gst_tool(tool: &str, work: &Path, args: &[String]) -> (bool, String) {
    support::gst_tool(tool, "libgstkvse2eesrc.so", work, args, PIPELINE_TIMEOUT)
}

/// The documented command line: `gst-launch-1.0` loads the plugin from
/// `GST_PLUGIN_PATH` and decodes the stream to EOS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gst_launch_reads_the_stream_with_the_plugin_from_gst_plugin_path() {
    let s = setup().await;
    s.publish("driveway").await;
    let work = s.dir.join("launch");
    let mut args: Vec<String> = s
        .src("driveway", "")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    args.extend(
        "! matroskademux ! h264parse ! avdec_h264 ! fakesink"
            .split_whitespace()
            .map(str::to_owned),
    );
    let (ok, output) = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&work).unwrap();
        gst_tool("gst-launch-1.0", &work, &args)
    })
    .await
    .unwrap();
    assert!(ok, "gst-launch-1.0 failed:\n{output}");
    assert!(output.contains("Got EOS"), "{output}");
}

/// `gst-inspect-1.0 kvse2eesrc` lists every property with its description,
/// and the output caps.
#[test]
fn gst_inspect_documents_every_property() {
    let work = tempfile::tempdir().unwrap();
    let (ok, text) = gst_tool("gst-inspect-1.0", work.path(), &["kvse2eesrc".to_owned()]);
    assert!(ok, "{text}");
    for property in [
        "stream-name",
        "aws-region",
        "identity",
        "trusted-cameras",
        "start",
        "until-current",
        "endpoint-url",
        "access-key",
        "secret-key",
        "session-token",
    ] {
        assert!(
            text.contains(&format!("  {property}")),
            "{property}:\n{text}"
        );
    }
    assert!(text.contains("video/x-matroska"), "{text}");
    assert!(
        text.contains("producer-time:T"),
        "the start selector is documented"
    );
}
