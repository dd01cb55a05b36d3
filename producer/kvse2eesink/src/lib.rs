//! GStreamer plugin `kvse2ee` with the element `kvse2eesink`: an end-to-end
//! encrypting drop-in for the Kinesis Video Streams producer SDK's `kvssink`.
//! Replace `kvssink` by `kvse2eesink` in a pipeline, keep its properties and
//! pads (`video_%u`, optional `audio_%u`), and add `recipients` (who may
//! watch) and `identity` (the camera's key):
//!
//! ```text
//! gst-launch-1.0 videotestsrc ! x264enc key-int-max=30 ! h264parse ! \
//!     kvse2eesink stream-name=front-door aws-region=eu-west-1 \
//!     identity=camera.key recipients=recipients.txt
//! ```
//!
//! The element is a thin adapter: it turns caps and buffers into the
//! producer's [`kvs_e2ee_producer::media::SourceEvent`]s and runs the same
//! engine as the `kvs-e2ee-producer` binary ([`kvs_e2ee_producer::run::prepare`],
//! [`kvs_e2ee_producer::run::Prepared::stream`]): fragmenting, sealing,
//! buffering until PERSISTED, reconnecting and resending.
//!
//! Load it with `GST_PLUGIN_PATH=<dir of libgstkvse2ee.so>`, or, in a Rust
//! program, with [`plugin_register_static`].
//!
//! # Layout
//! - [`kvse2eesink`]: the element — `mod.rs` (wrapper, registration),
//!   `imp.rs` (properties, state, GStreamer virtual methods), `settings.rs`
//!   (property values → the producer's validated configuration), `collect.rs`
//!   (the `video_%u` and `audio_%u` request pads' buffers interleaved in
//!   timestamp order, one buffer a pad), `bridge.rs` (the producer engine on
//!   its own runtime, fed through a bounded channel).
//!   Caps and buffers become tracks and frames in the producer's `gst` module
//!   (feature `gstreamer`), shared with `kvs-e2ee-producer --source gst:…`.
#![deny(unsafe_code)]

use gst::glib;

pub mod kvse2eesink;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    kvse2eesink::register(plugin)
}

// SAFETY: `plugin_define!` expands to the C entry points GStreamer's plugin
// loader calls (`gst_plugin_kvse2ee_get_desc`, `gst_plugin_kvse2ee_register`);
// they only hand static descriptors to GStreamer and call `plugin_init`.
#[allow(unsafe_code)]
mod plugin_desc {
    use super::plugin_init;

    gst::plugin_define!(
        kvse2ee,
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

/// Registers the plugin (and so `kvse2eesink`) in this process without
/// loading the shared library: for applications and tests that link the crate.
/// Call after `gst::init()`.
pub fn plugin_register_static() -> Result<(), glib::BoolError> {
    plugin_desc::plugin_register_static()
}
