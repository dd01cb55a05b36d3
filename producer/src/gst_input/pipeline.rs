//! `--source gst:PIPELINE`: the description, with an appsink appended that
//! takes [`super::accepted_caps`], runs on its own thread; samples become
//! [`SourceEvent`]s in a bounded channel, so a slow network slows the
//! pipeline (the appsink holds a few buffers, then blocks upstream).

use std::thread::JoinHandle;
use std::time::Duration;

use gst::prelude::*;
use tokio::sync::mpsc;

use super::input::VideoInput;
use crate::media::SourceEvent;
use crate::source::SourceError;

/// Name of the appsink we append.
const APPSINK: &str = "kvs_e2ee_appsink";
/// Buffers the appsink queues before it blocks the pipeline.
const APPSINK_BUFFERS: u32 = 8;
/// Events queued between the pipeline thread and the engine.
const CHANNEL: usize = 64;
/// How often the puller checks the bus and whether the reader is gone.
const POLL: Duration = Duration::from_millis(100);

fn error(reason: impl Into<String>) -> SourceError {
    SourceError::GStreamer(reason.into())
}

/// A running pipeline read as a source; stopped when dropped.
pub struct GstReader {
    pipeline: gst::Element,
    rx: mpsc::Receiver<Result<SourceEvent, SourceError>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for GstReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GstReader")
            .field("pipeline", &self.pipeline.name())
            .finish_non_exhaustive()
    }
}

impl GstReader {
    /// Parses `description` (which must end in encoded H.264/H.265, e.g.
    /// `videotestsrc ! x264enc ! h264parse`), appends the appsink and starts it.
    pub fn launch(description: &str) -> Result<Self, SourceError> {
        gst::init().map_err(|e| error(format!("cannot initialise GStreamer: {e}")))?;
        let full = format!("{description} ! appsink name={APPSINK} sync=false");
        let pipeline = gst::parse::launch(&full)
            .map_err(|e| error(format!("cannot build the pipeline {description:?}: {e}")))?;
        let appsink = pipeline
            .downcast_ref::<gst::Bin>()
            .and_then(|bin| bin.by_name(APPSINK))
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| error("the pipeline must end in an encoder or parser to link to"))?;
        appsink.set_caps(Some(&super::accepted_caps()));
        appsink.set_max_buffers(APPSINK_BUFFERS);
        let bus = pipeline
            .bus()
            .ok_or_else(|| error("the pipeline has no bus"))?;
        if pipeline.set_state(gst::State::Playing).is_err() {
            let reason = bus_error(&bus).unwrap_or_else(|| "it failed to start".into());
            let _ = pipeline.set_state(gst::State::Null);
            return Err(error(reason));
        }
        let (tx, rx) = mpsc::channel(CHANNEL);
        let thread = std::thread::Builder::new()
            .name("gst-source".into())
            .spawn(move || pull(&appsink, &bus, &tx))
            .map_err(|e| error(format!("cannot start the reader thread: {e}")))?;
        Ok(Self {
            pipeline,
            rx,
            thread: Some(thread),
        })
    }

    /// The next event; `Ok(None)` at EOS.
    pub async fn next_event(&mut self) -> Result<Option<SourceEvent>, SourceError> {
        self.rx.recv().await.transpose()
    }
}

impl Drop for GstReader {
    fn drop(&mut self) {
        self.rx.close();
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The first error message on the bus, if any, with the element that posted it.
fn bus_error(bus: &gst::Bus) -> Option<String> {
    let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
    let gst::MessageView::Error(e) = msg.view() else {
        return None;
    };
    let from = msg
        .src()
        .map(|s| s.path_string().to_string())
        .unwrap_or_default();
    Some(format!("{from}: {}", e.error()))
}

/// Pulls samples until EOS, an error, or the reader is dropped.
fn pull(
    appsink: &gst_app::AppSink,
    bus: &gst::Bus,
    tx: &mpsc::Sender<Result<SourceEvent, SourceError>>,
) {
    let mut input = VideoInput::default();
    let mut caps: Option<gst::Caps> = None;
    loop {
        if tx.is_closed() {
            return;
        }
        if let Some(reason) = bus_error(bus) {
            let _ = tx.blocking_send(Err(error(reason)));
            return;
        }
        let Some(sample) = appsink.try_pull_sample(gst::ClockTime::from_mseconds(
            u64::try_from(POLL.as_millis()).unwrap_or(100),
        )) else {
            if appsink.is_eos() {
                return;
            }
            continue;
        };
        let mut events = Vec::new();
        let result = (|| {
            if let Some(c) = sample.caps()
                && caps.as_ref().is_none_or(|old| old.as_ref() != c)
            {
                events.extend(input.set_caps(c)?);
                caps = Some(c.to_owned());
            }
            if let Some(buffer) = sample.buffer() {
                events.extend(input.buffer(buffer)?);
            }
            Ok::<_, super::input::MediaError>(())
        })();
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(error(e.to_string())));
            return;
        }
        for event in events {
            if tx.blocking_send(Ok(event)).is_err() {
                return;
            }
        }
    }
}
