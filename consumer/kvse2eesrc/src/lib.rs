//! GStreamer plugin `kvse2eesrc` with the element of the same name: reads a
//! Kinesis Video Stream encrypted by `kvse2eesink` or `kvs-e2ee-producer`,
//! verifies and decrypts it locally, and outputs the plain MKV
//! (`video/x-matroska`), so any pipeline can be built on it:
//!
//! ```text
//! gst-launch-1.0 kvse2eesrc stream-name=front-door aws-region=eu-west-1 \
//!     identity=viewer.key trusted-cameras=cameras.txt \
//!     ! matroskademux ! decodebin ! autovideosink
//! ```
//!
//! The element is a thin adapter around the viewer library: it runs
//! [`kvs_e2ee_consumer::run_with_output`] (live GetMedia with resume, every
//! frame authenticated before it is written) on its own thread and pushes the
//! bytes it writes as buffers. No EBML or cryptography here.
//!
//! Load it with `GST_PLUGIN_PATH=<dir of libgstkvse2eesrc.so>`, or, in a Rust
//! program, with [`plugin_register_static`].
//!
//! # Layout
//! - [`kvse2eesrc`]: the element — `mod.rs` (wrapper, registration),
//!   `imp.rs` (properties, state, GStreamer virtual methods), `settings.rs`
//!   (property values → the viewer's validated configuration), `bridge.rs`
//!   (the viewer on its own thread and runtime, read through a bounded channel).
#![deny(unsafe_code)]

use gst::glib;

pub mod kvse2eesrc;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    kvse2eesrc::register(plugin)
}

// SAFETY: `plugin_define!` expands to the C entry points GStreamer's plugin
// loader calls (`gst_plugin_kvse2eesrc_get_desc`, `…_register`); they only
// hand static descriptors to GStreamer and call `plugin_init`.
#[allow(unsafe_code)]
mod plugin_desc {
    use super::plugin_init;

    gst::plugin_define!(
        kvse2eesrc,
        env!("CARGO_PKG_DESCRIPTION"),
        plugin_init,
        env!("CARGO_PKG_VERSION"),
        // GStreamer knows a fixed list of licence names; the crate is
        // Apache-2.0 OR MIT, and MIT is the one on that list.
        "MIT/X11",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_REPOSITORY"),
        "2026-11-23"
    );
}

/// Registers the plugin (and so `kvse2eesrc`) in this process without
/// loading the shared library: for applications and tests that link the crate.
/// Call after `gst::init()`.
pub fn plugin_register_static() -> Result<(), glib::BoolError> {
    plugin_desc::plugin_register_static()
}
