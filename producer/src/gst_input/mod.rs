//! GStreamer input (`gstreamer` feature): caps and buffers as
//! [`SourceEvent`](crate::media::SourceEvent)s, for the `kvse2eesink` element
//! (crate `producer/kvse2eesink`) and for `--source gst:PIPELINE`.
//!
//! - [`input`]: caps → track (from `codec_data`, or in-band parameter sets for
//!   byte-stream), buffers → frames on an absolute timeline.
//! - [`audio`]: AAC and G.711 caps → the audio track, buffers → its frames
//!   (for `kvse2eesink`'s `audio_%u` pad).
//! - [`bytestream`]: Annex-B access units → length-prefixed samples and the
//!   `avcC`/`hvcC` record.
//! - [`pipeline`]: a pipeline description with an appsink appended, read as a
//!   source.

pub mod audio;
pub mod bytestream;
pub mod input;
pub mod pipeline;

/// The encoded video the element and the appsink accept: H.264 and H.265,
/// length-prefixed (with `codec_data`) or Annex-B, one access unit a buffer.
pub fn accepted_caps() -> gst::Caps {
    let mut caps = gst::Caps::builder("video/x-h264")
        .field(
            "stream-format",
            gst::List::new(["avc", "avc3", "byte-stream"]),
        )
        .field("alignment", "au")
        .build();
    caps.merge(
        gst::Caps::builder("video/x-h265")
            .field(
                "stream-format",
                gst::List::new(["hvc1", "hev1", "byte-stream"]),
            )
            .field("alignment", "au")
            .build(),
    );
    caps
}
