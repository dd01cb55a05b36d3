//! The kvs-e2ee camera: reads H.264 (Annex-B or Matroska), cuts it into
//! fragments at key frames, and keeps encrypted fragments until KVS has
//! persisted them (in memory or in a crash-safe on-disk spool).
//!
//! The [`engine`] drives these pieces:
//! source ([`annexb`] or `kvs_e2ee_mkv`) → [`media::MediaFrame`] →
//! [`fragmenter::Fragmenter`] → envelope + `kvs_e2ee_mkv::Muxer` →
//! [`buffer::FragmentBuffer`] / [`spool::Spool`] → PutMedia.
//!
//! ```
//! use kvs_e2ee_producer::annexb::{AnnexBConfig, AnnexBEvent, AnnexBParser, Codec};
//! use kvs_e2ee_producer::fragmenter::{Fragmenter, FragmenterConfig};
//!
//! let stream = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sample-320x240.h264"))?;
//! let mut parser = AnnexBParser::new(AnnexBConfig {
//!     codec: Codec::H264,
//!     track_number: 1,
//!     frame_rate: "30".parse()?,
//!     start_time_ms: 1_700_000_000_000,
//! });
//! parser.push(&stream);
//! parser.finish();
//! let mut fragmenter = Fragmenter::new(FragmenterConfig::new(1, 1000));
//! let mut fragments = Vec::new();
//! while let Some(event) = parser.next_event()? {
//!     if let AnnexBEvent::Frame(frame) = event {
//!         fragments.extend(fragmenter.push(frame)?);
//!     }
//! }
//! fragments.extend(fragmenter.finish());
//! assert_eq!(fragments.len(), 2); // two 1-second GOPs
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - [`media`]: the frame and track model all sources produce.
//! - [`annexb`]: H.264/H.265 Annex-B reader (NAL/access-unit splitting, SPS, `avcC`/`hvcC`).
//! - [`fragmenter`]: key-frame-aligned fragments within KVS's limits.
//! - [`buffer`]: bounded in-memory store of fragments awaiting PERSISTED.
//! - [`spool`]: the same store on disk, crash-safe (`--spool DIR`).
//! - [`store`]: the [`store::FragmentStore`] trait over both, for the engine.
//! - [`source`]: Matroska / Annex-B inputs as event streams.
//! - [`engine`]: packaging (seal each frame as it arrives) and the PutMedia
//!   send/ACK/retry loop over a [`engine::link::Connector`].
//! - [`recipients`]: re-reads the recipients file on change or SIGHUP.
//! - [`run`]: credentials, DescribeStream/CreateStream, GetDataEndpoint, then the engine.
//! - [`config`]: the configuration types ([`config::StreamSettings`], [`config::Config`]);
//!   the binary's flags are parsed and checked in the binary.
//! - `gst_input` (feature `gstreamer`): GStreamer caps/buffers as source events,
//!   and `--source gst:PIPELINE`.
#![forbid(unsafe_code)]

pub mod annexb;
pub mod buffer;
pub mod config;
pub mod engine;
pub mod fragmenter;
#[cfg(feature = "gstreamer")]
pub mod gst_input;
pub mod media;
pub mod recipients;
pub mod run;
pub mod source;
pub mod spool;
pub mod store;

#[cfg(test)]
mod test_support;
