//! `--play` (feature `gstreamer`): the verified MKV fed into
//! `appsrc ! matroskademux`, each video pad decoded into `autovideosink`, each
//! audio pad into `autoaudiosink`. Only bytes the pipeline already
//! authenticated reach GStreamer.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gst::prelude::*;

/// Environment variable that replaces `autovideosink` (a GStreamer bin
/// description such as `fakesink sync=false`): for headless tests and for
/// choosing a sink (`waylandsink`, `xvimagesink`).
pub const VIDEO_SINK_ENV: &str = "KVS_E2EE_PLAY_VIDEO_SINK";
/// Environment variable that replaces `autoaudiosink`.
pub const AUDIO_SINK_ENV: &str = "KVS_E2EE_PLAY_AUDIO_SINK";
/// The default video sink: a window.
pub const DEFAULT_VIDEO_SINK: &str = "autovideosink";
/// The default audio sink.
pub const DEFAULT_AUDIO_SINK: &str = "autoaudiosink";
/// Verified MKV queued in the appsrc before a write blocks (so memory stays
/// bounded when decoding is slower than the network).
const MAX_QUEUED_BYTES: u64 = 8 << 20;
/// Name of the element whose output buffers are counted as shown frames.
const FRAME_COUNTER: &str = "kvs-e2ee-video-out";
/// Name of the queue each track enters by.
const TRACK_INPUT: &str = "kvs-e2ee-track-in";
/// How long [`Player::finish`] waits for the queued frames to play out.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Why playback could not start or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlayError {
    /// GStreamer could not be initialised.
    #[error("cannot initialise GStreamer: {0}")]
    Init(String),
    /// The playback pipeline could not be built (a missing plugin or a bad sink description).
    #[error("cannot build the playback pipeline: {0}")]
    Build(String),
    /// GStreamer reported an error while playing (for example the window was closed).
    #[error("playback failed: {0}")]
    Playback(String),
    /// The queued frames did not finish playing in time.
    #[error("playback did not finish within {0:?}")]
    Timeout(Duration),
}

/// Which sinks to use.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// Bin description of the video sink.
    pub video_sink: String,
    /// Bin description of the audio sink.
    pub audio_sink: String,
}

impl PlayOptions {
    /// `autovideosink`/`autoaudiosink`, or what [`VIDEO_SINK_ENV`]/[`AUDIO_SINK_ENV`] say.
    pub fn from_env() -> Self {
        let var = |name, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            video_sink: var(VIDEO_SINK_ENV, DEFAULT_VIDEO_SINK),
            audio_sink: var(AUDIO_SINK_ENV, DEFAULT_AUDIO_SINK),
        }
    }
}

/// A running playback pipeline.
pub struct Player {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    frames: Arc<AtomicU64>,
}

impl Player {
    /// Builds and starts `appsrc ! matroskademux`, linking decoders and sinks as
    /// the demuxer finds tracks.
    pub fn new(options: &PlayOptions) -> Result<Self, PlayError> {
        gst::init().map_err(|e| PlayError::Init(e.to_string()))?;
        let build = |e: &dyn std::fmt::Display| PlayError::Build(e.to_string());
        let pipeline = gst::Pipeline::with_name("kvs-e2ee-play");
        let appsrc = gst_app::AppSrc::builder()
            .caps(&gst::Caps::builder("video/x-matroska").build())
            .format(gst::Format::Bytes)
            .block(true)
            .max_bytes(MAX_QUEUED_BYTES)
            .build();
        let demux = gst::ElementFactory::make("matroskademux")
            .build()
            .map_err(|e| build(&e))?;
        pipeline
            .add_many([appsrc.upcast_ref(), &demux])
            .map_err(|e| build(&e))?;
        appsrc.link(&demux).map_err(|e| build(&e))?;
        // Check the sink descriptions now, so a typo fails before anything is read.
        for description in [&options.video_sink, &options.audio_sink] {
            gst::parse::bin_from_description(description, true)
                .map_err(|e| PlayError::Build(format!("sink {description:?}: {e}")))?;
        }
        let frames = Arc::new(AtomicU64::new(0));
        let (pipeline_weak, options2, counter) =
            (pipeline.downgrade(), options.clone(), frames.clone());
        demux.connect_pad_added(move |_, pad| {
            if let Some(pipeline) = pipeline_weak.upgrade()
                && let Err(e) = link_track(&pipeline, pad, &options2, &counter)
            {
                gst::element_error!(pipeline, gst::CoreError::Negotiation, ("{}", e));
            }
        });
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| build(&e))?;
        Ok(Self {
            pipeline,
            appsrc,
            frames,
        })
    }

    /// A writer for [`crate::run_with_output`]: each write becomes a buffer. It
    /// fails with a broken pipe once playback failed, which ends the read.
    pub fn writer(&self) -> PlayerWriter {
        PlayerWriter(self.appsrc.clone())
    }

    /// Video frames shown so far.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::SeqCst)
    }

    /// Signals the end of the stream, waits until what was queued has played
    /// (or the first error), stops, and returns the number of video frames shown.
    pub fn finish(self) -> Result<u64, PlayError> {
        let _ = self.appsrc.end_of_stream();
        self.wait()?;
        Ok(self.frames())
        // Drop stops the pipeline.
    }

    fn wait(&self) -> Result<(), PlayError> {
        let bus = self
            .pipeline
            .bus()
            .ok_or_else(|| PlayError::Build("no bus".into()))?;
        let timeout = gst::ClockTime::from_seconds(DRAIN_TIMEOUT.as_secs());
        for msg in bus.iter_timed(timeout) {
            match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(e) => {
                    return Err(PlayError::Playback(e.error().to_string()));
                }
                _ => {}
            }
        }
        Err(PlayError::Timeout(DRAIN_TIMEOUT))
    }
}

impl Drop for Player {
    /// Stops the pipeline (also when the read failed before [`Player::finish`]).
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Decodes the demuxer's new `pad` into the video or audio sink.
fn link_track(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    options: &PlayOptions,
    frames: &Arc<AtomicU64>,
) -> Result<(), String> {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let kind = caps
        .structure(0)
        .map(|s| s.name().to_string())
        .unwrap_or_default();
    let description = if kind.starts_with("video/") {
        format!(
            "queue name={TRACK_INPUT} ! decodebin ! videoconvert name={FRAME_COUNTER} ! {}",
            options.video_sink
        )
    } else if kind.starts_with("audio/") {
        format!(
            "queue name={TRACK_INPUT} ! decodebin ! audioconvert ! audioresample ! {}",
            options.audio_sink
        )
    } else {
        // Subtitles or data tracks: not played.
        return Ok(());
    };
    // No automatic ghost pads: the converter's sink pad, linked only once
    // decodebin has found the codec, would look unlinked too.
    let bin = gst::parse::bin_from_description(&description, false).map_err(|e| e.to_string())?;
    let input = bin
        .by_name(TRACK_INPUT)
        .and_then(|q| q.static_pad("sink"))
        .ok_or("the track bin has no input queue")?;
    let ghost = gst::GhostPad::builder_with_target(&input)
        .map_err(|e| e.to_string())?
        .name("sink")
        .build();
    bin.add_pad(&ghost).map_err(|e| e.to_string())?;
    if let Some(counter) = bin.by_name(FRAME_COUNTER).and_then(|c| c.static_pad("src")) {
        let frames = frames.clone();
        counter.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            frames.fetch_add(1, Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        });
    }
    pipeline.add(&bin).map_err(|e| e.to_string())?;
    bin.sync_state_with_parent().map_err(|e| e.to_string())?;
    let sink = bin
        .static_pad("sink")
        .ok_or("the decoder bin has no sink pad")?;
    pad.link(&sink).map_err(|e| format!("{kind}: {e}"))?;
    Ok(())
}

/// [`Player::writer`]: pushes each write into the appsrc.
pub struct PlayerWriter(gst_app::AppSrc);

impl io::Write for PlayerWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .push_buffer(gst::Buffer::from_mut_slice(buf.to_vec()))
            .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, format!("playback: {e:?}")))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
