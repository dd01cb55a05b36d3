//! The producer's configuration types: [`StreamSettings`] (what the engine needs for one
//! stream, from any front end) and [`Config`] (a run of the `kvs-e2ee-producer` binary:
//! the stream, its source and how it reaches AWS). The binary builds them from its flags;
//! the GStreamer element from its properties.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use kvs_e2ee_envelope::FrameCipher;

use crate::annexb::{Codec, FrameRate};

/// Retention given to a stream created with `--create-stream` and no
/// `--retention-hours`: a day, so the archive a viewer reads exists (KVS's own
/// default of 0 keeps nothing but the live edge).
pub const DEFAULT_RETENTION_HOURS: u32 = 24;
/// KVS's maximum data retention (87 600 h = 10 years).
pub const MAX_RETENTION_HOURS: u32 = 87_600;
/// Smallest buffer accepted: the buffer must hold whole fragments.
pub const MIN_BUFFER_BYTES: u64 = 1_000_000;

/// Where media bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file (or FIFO).
    File(PathBuf),
}

/// The media source and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Matroska/WebM (read with `kvs_e2ee_mkv`); timestamps come from the file.
    Mkv(Input),
    /// H.264 or H.265 Annex-B; timestamps from the frame rate.
    AnnexB {
        /// Where the stream comes from.
        input: Input,
        /// H.264 or H.265.
        codec: Codec,
        /// `--fps`.
        fps: FrameRate,
    },
    /// A GStreamer pipeline ending in encoded H.264 (`gstreamer` feature).
    GStreamer {
        /// The pipeline description after `gst:`.
        pipeline: String,
    },
}

pub use kvs_e2ee_aws::iot::IotConfig;

/// Where AWS credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// The AWS SDK's default chain (environment, profile, instance role…).
    DefaultChain,
    /// The AWS IoT credentials provider with the camera's certificate.
    Iot(IotConfig),
}

/// What the camera's engine needs for one stream, whatever feeds it (a source of the
/// binary, or the GStreamer element's buffers) and however it reaches AWS: the one
/// validated configuration every front end builds, from its flags or its properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// KVS stream name.
    pub stream_name: String,
    /// Camera identity file.
    pub identity: PathBuf,
    /// Recipients file.
    pub recipients: PathBuf,
    /// `Some(retention_hours)` if the stream should be created when missing.
    pub create_stream: Option<u32>,
    /// Target fragment duration.
    pub fragment_duration: Duration,
    /// The AEAD frames are sealed with (`--frame-cipher`).
    pub frame_cipher: FrameCipher,
    /// Buffer (or spool) capacity in bytes.
    pub buffer_size: u64,
    /// On-disk spool directory.
    pub spool: Option<PathBuf>,
    /// Statistics interval, if `--stats`.
    pub stats_interval: Option<Duration>,
}

/// The validated configuration of one run of the `kvs-e2ee-producer` binary: the stream,
/// where its media comes from, and how it reaches AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The stream and the engine's settings.
    pub stream: StreamSettings,
    /// Media source.
    pub source: Source,
    /// Control-plane endpoint override.
    pub endpoint_url: Option<String>,
    /// CA bundle trusted for the KVS endpoints besides the system roots.
    pub ca_bundle: Option<PathBuf>,
    /// AWS region (else the SDK's default resolution).
    pub region: Option<String>,
    /// Credential source.
    pub credentials: Credentials,
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Stdin => f.write_str("stdin"),
            Input::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A human summary (paths only: no key material is ever read here).
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stream:            {}", self.stream.stream_name)?;
        writeln!(f, "identity:          {}", self.stream.identity.display())?;
        writeln!(f, "recipients:        {}", self.stream.recipients.display())?;
        match &self.source {
            Source::Mkv(i) => writeln!(f, "source:            Matroska from {i}")?,
            Source::AnnexB { input, codec, fps } => {
                let name = if *codec == Codec::H265 {
                    "H.265"
                } else {
                    "H.264"
                };
                writeln!(
                    f,
                    "source:            {name} Annex-B from {input} at {fps} fps"
                )?
            }
            Source::GStreamer { pipeline } => {
                writeln!(f, "source:            GStreamer `{pipeline}`")?
            }
        }
        writeln!(
            f,
            "endpoint:          {}",
            self.endpoint_url.as_deref().unwrap_or("(AWS default)")
        )?;
        writeln!(
            f,
            "region:            {}",
            self.region.as_deref().unwrap_or("(AWS default)")
        )?;
        if let Some(h) = self.stream.create_stream {
            writeln!(f, "create stream:     yes, retention {h} h")?;
        }
        writeln!(f, "fragment duration: {:?}", self.stream.fragment_duration)?;
        writeln!(f, "frame cipher:      {}", self.stream.frame_cipher)?;
        match &self.stream.spool {
            Some(dir) => writeln!(
                f,
                "buffer:            {} bytes on disk in {}",
                self.stream.buffer_size,
                dir.display()
            )?,
            None => writeln!(
                f,
                "buffer:            {} bytes in memory",
                self.stream.buffer_size
            )?,
        }
        if let Some(i) = self.stream.stats_interval {
            writeln!(f, "stats every:       {i:?}")?;
        }
        match &self.credentials {
            Credentials::DefaultChain => write!(f, "credentials:       AWS default chain"),
            Credentials::Iot(iot) => write!(
                f,
                "credentials:       AWS IoT {} (role alias {}, thing {}, cert {})",
                iot.endpoint,
                iot.role_alias,
                iot.thing_name,
                iot.cert_path.display()
            ),
        }
    }
}
