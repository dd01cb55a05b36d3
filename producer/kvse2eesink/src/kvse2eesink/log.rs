//! The producer engine logs with `tracing`; inside the element those events
//! go to GStreamer's debug log under the `kvse2eesink` category, so
//! `GST_DEBUG=kvse2eesink:4` shows reconnects, rotations and the like next to
//! the pipeline's own messages (and no global subscriber is installed in the
//! host application).

use gst::glib;
use tracing::Level;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

use super::CAT;

/// Writes each formatted event as one line of the debug log.
#[derive(Debug, Clone, Copy)]
pub(super) struct GstLog;

/// One event's writer, at its level.
pub(super) struct LineWriter(gst::DebugLevel);

impl std::io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        CAT.log(
            None::<&gst::Object>,
            self.0,
            glib::gstr!("kvs-e2ee-producer"),
            "engine",
            0,
            format_args!("{}", text.trim_end()),
        );
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for GstLog {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter(gst::DebugLevel::Info)
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LineWriter {
        LineWriter(match *meta.level() {
            Level::ERROR => gst::DebugLevel::Error,
            Level::WARN => gst::DebugLevel::Warning,
            Level::INFO => gst::DebugLevel::Info,
            Level::DEBUG => gst::DebugLevel::Debug,
            Level::TRACE => gst::DebugLevel::Trace,
        })
    }
}

/// A subscriber for the engine's futures, filtered at the category's
/// current threshold so that events GStreamer would drop are not formatted.
pub(super) fn subscriber() -> impl tracing::Subscriber + Send + Sync {
    let max = match CAT.threshold() {
        gst::DebugLevel::None => LevelFilter::OFF,
        gst::DebugLevel::Error => LevelFilter::ERROR,
        gst::DebugLevel::Warning | gst::DebugLevel::Fixme => LevelFilter::WARN,
        gst::DebugLevel::Info => LevelFilter::INFO,
        gst::DebugLevel::Debug => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    tracing_subscriber::fmt()
        .with_writer(GstLog)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_max_level(max)
        .finish()
}
