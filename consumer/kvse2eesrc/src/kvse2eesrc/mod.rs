//! The `kvse2eesrc` element: wrapper type and registration.

use gst::glib;
use gst::prelude::*;

mod bridge;
mod imp;
mod settings;

/// The element's debug category (`GST_DEBUG=kvse2eesrc:5`).
static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "kvse2eesrc",
        gst::DebugColorFlags::empty(),
        Some("End-to-end encrypted Kinesis Video Streams source"),
    )
});

glib::wrapper! {
    /// `kvse2eesrc`: reads an end-to-end encrypted Kinesis Video Stream and
    /// outputs the verified, decrypted MKV.
    pub struct KvsE2eeSrc(ObjectSubclass<imp::KvsE2eeSrc>)
        @extends gst_base::PushSrc, gst_base::BaseSrc, gst::Element, gst::Object;
}

/// Name of the element factory.
pub const ELEMENT_NAME: &str = "kvse2eesrc";

/// Registers `kvse2eesrc` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        ELEMENT_NAME,
        gst::Rank::NONE,
        KvsE2eeSrc::static_type(),
    )
}
