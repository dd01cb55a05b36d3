//! The `kvse2eesink` element: wrapper type and registration.

use gst::glib;
use gst::prelude::*;

mod bridge;
mod collect;
mod imp;
mod log;
mod settings;

/// The element's debug category (`GST_DEBUG=kvse2eesink:5`).
static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "kvse2eesink",
        gst::DebugColorFlags::empty(),
        Some("End-to-end encrypting Kinesis Video Streams sink"),
    )
});

glib::wrapper! {
    /// `kvse2eesink`: encrypts H.264/H.265 video and optional AAC/G.711 audio
    /// end to end and streams it to Kinesis Video Streams, with `kvssink`'s
    /// properties and request pads (`video_%u`, `audio_%u`).
    pub struct KvsE2eeSink(ObjectSubclass<imp::KvsE2eeSink>)
        @extends gst::Element, gst::Object;
}

/// Name of the element factory.
pub const ELEMENT_NAME: &str = "kvse2eesink";

/// Name of the structure of the element messages posted with the engine's
/// counters (see `docs/GSTREAMER.md` for the fields).
pub const STATS_MESSAGE: &str = "kvse2eesink-stats";

/// Registers `kvse2eesink` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        ELEMENT_NAME,
        gst::Rank::NONE,
        KvsE2eeSink::static_type(),
    )
}
