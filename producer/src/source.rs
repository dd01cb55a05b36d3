//! Media sources as [`SourceEvent`] streams: Matroska (file or stdin, via
//! `kvs_e2ee_mkv::Demuxer`) and H.264/H.265 Annex-B (via [`crate::annexb`]),
//! plus the task that pumps a source into the engine's bounded channel.
//!
//! **Timestamps of Matroska input.** KVS needs absolute timecodes. A file
//! whose first frame is before [`ABSOLUTE_THRESHOLD_MS`] (September 2001)
//! carries relative times (files from ffmpeg or `matroskamux` start at 0), so
//! the wall-clock time at which the first frame is read is added to every
//! frame; later timecodes are kept as they are (a source that jumps back is
//! reported by the fragmenter, not rewritten).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kvs_e2ee_mkv::{Demuxer, Event, MkvError, TrackEntry, TrackType};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{Notify, mpsc};

use crate::annexb::{AnnexBConfig, AnnexBError, AnnexBEvent, AnnexBReader};
use crate::config::{Input, Source};
use crate::media::{MediaFrame, SourceEvent, TrackInfo};

/// Timecodes below this (ms since the epoch, 2001-09-09) are taken as relative.
pub const ABSOLUTE_THRESHOLD_MS: i64 = 1_000_000_000_000;

/// Bytes read from a Matroska source at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Why a source failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The input could not be opened or read.
    #[error("reading {input}: {source}")]
    Io {
        /// The input.
        input: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Matroska input is malformed or truncated.
    #[error("Matroska input {input}: {source}")]
    Mkv {
        /// The input.
        input: String,
        /// The parser error, with byte offset.
        source: MkvError,
    },
    /// The Annex-B input is malformed.
    #[error("Annex-B input {input}: {source}")]
    AnnexB {
        /// The input.
        input: String,
        /// The parser error, with byte offset.
        source: AnnexBError,
    },
    /// The source kind is not available in this build.
    #[error("{0}")]
    Unsupported(String),
    /// A GStreamer source pipeline failed (`gstreamer` feature).
    #[error("GStreamer source: {0}")]
    GStreamer(String),
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// A readable media source.
pub struct MediaReader {
    input: String,
    kind: Kind,
    /// Invented timelines (Annex-B, relative Matroska) must start after this.
    not_before_ms: Option<i64>,
    /// Shift applied to such a timeline, fixed at its first frame.
    shift_ms: Option<i64>,
}

enum Kind {
    Mkv(Box<MkvReader>),
    AnnexB(Box<AnnexBReader<Reader>>),
    #[cfg(feature = "gstreamer")]
    Gst(Box<crate::gst_input::pipeline::GstReader>),
}

struct MkvReader {
    reader: Reader,
    demuxer: Demuxer,
    chunk: Vec<u8>,
    eof: bool,
    /// Nanoseconds per timecode unit of the current segment.
    scale_ns: u64,
    /// Added to every timecode (ms); fixed at the first frame.
    offset_ms: Option<i64>,
    /// Track numbers passed on (video and audio).
    tracks: Vec<u64>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn open_input(input: &Input) -> Result<Reader, SourceError> {
    match input {
        Input::Stdin => Ok(Box::new(tokio::io::stdin())),
        Input::File(path) => tokio::fs::File::open(path)
            .await
            .map(|f| Box::new(f) as Reader)
            .map_err(|source| SourceError::Io {
                input: input.to_string(),
                source,
            }),
    }
}

impl MediaReader {
    /// Opens the configured source.
    pub async fn open(source: &Source) -> Result<Self, SourceError> {
        match source {
            Source::Mkv(input) => Ok(Self::mkv(input.to_string(), open_input(input).await?)),
            Source::AnnexB { input, codec, fps } => {
                let config = AnnexBConfig {
                    codec: *codec,
                    track_number: 1,
                    frame_rate: *fps,
                    start_time_ms: now_ms(),
                };
                Ok(Self::annexb(
                    input.to_string(),
                    open_input(input).await?,
                    config,
                ))
            }
            #[cfg(feature = "gstreamer")]
            Source::GStreamer { pipeline } => Ok(Self {
                input: format!("gst:{pipeline}"),
                not_before_ms: None,
                shift_ms: None,
                kind: Kind::Gst(Box::new(crate::gst_input::pipeline::GstReader::launch(
                    pipeline,
                )?)),
            }),
            #[cfg(not(feature = "gstreamer"))]
            Source::GStreamer { .. } => Err(SourceError::Unsupported(
                "gst: sources need a build with the `gstreamer` feature".into(),
            )),
        }
    }

    /// A Matroska source reading `reader`, named `input` in errors.
    pub fn mkv(input: String, reader: Reader) -> Self {
        Self {
            input,
            not_before_ms: None,
            shift_ms: None,
            kind: Kind::Mkv(Box::new(MkvReader {
                reader,
                demuxer: Demuxer::new(),
                chunk: vec![0; READ_CHUNK],
                eof: false,
                scale_ns: 1_000_000,
                offset_ms: None,
                tracks: Vec::new(),
            })),
        }
    }

    /// An Annex-B source reading `reader`, named `input` in errors.
    pub fn annexb(input: String, reader: Reader, config: AnnexBConfig) -> Self {
        Self {
            input,
            not_before_ms: None,
            shift_ms: None,
            kind: Kind::AnnexB(Box::new(AnnexBReader::new(reader, config))),
        }
    }

    /// Makes a timeline this reader invents (Annex-B from `--fps`, Matroska
    /// with relative times) start after `ms`: after a restart, fragments
    /// recovered from the spool are sent first and KVS needs the new ones to
    /// be later (ErrorId 4004). Absolute source times are never moved.
    pub fn not_before(&mut self, ms: i64) {
        self.not_before_ms = Some(ms);
    }

    fn invented_timeline(&self) -> bool {
        match &self.kind {
            Kind::AnnexB(_) => true,
            Kind::Mkv(r) => r.offset_ms.is_some_and(|o| o != 0),
            // Anchored at the wall clock when the first buffer arrives.
            #[cfg(feature = "gstreamer")]
            Kind::Gst(_) => true,
        }
    }

    /// The next event; `Ok(None)` at the end of the input.
    pub async fn next_event(&mut self) -> Result<Option<SourceEvent>, SourceError> {
        let mut event = self.next_raw().await?;
        if let Some(SourceEvent::Frame(f)) = &mut event {
            if self.shift_ms.is_none() {
                let floor = self.not_before_ms.filter(|_| self.invented_timeline());
                let shift = floor.map_or(0, |fl| (fl + 1).saturating_sub(f.timecode_ms).max(0));
                if shift > 0 {
                    tracing::info!(
                        "moving this run's timeline {shift} ms later, after the spooled fragments"
                    );
                }
                self.shift_ms = Some(shift);
            }
            f.timecode_ms = f.timecode_ms.saturating_add(self.shift_ms.unwrap_or(0));
        }
        Ok(event)
    }

    async fn next_raw(&mut self) -> Result<Option<SourceEvent>, SourceError> {
        let input = &self.input;
        match &mut self.kind {
            Kind::AnnexB(r) => match r.next_event().await {
                Ok(ev) => Ok(ev.map(|e| match e {
                    AnnexBEvent::Track(t) => SourceEvent::Tracks(vec![t]),
                    AnnexBEvent::Frame(f) => SourceEvent::Frame(f),
                })),
                Err(source) => Err(SourceError::AnnexB {
                    input: input.clone(),
                    source,
                }),
            },
            Kind::Mkv(r) => r.next_event(input).await,
            #[cfg(feature = "gstreamer")]
            Kind::Gst(r) => r.next_event().await,
        }
    }
}

impl MkvReader {
    async fn next_event(&mut self, input: &str) -> Result<Option<SourceEvent>, SourceError> {
        let mkv_err = |source| SourceError::Mkv {
            input: input.to_owned(),
            source,
        };
        loop {
            if let Some(event) = self.demuxer.next_event().map_err(mkv_err)? {
                if let Some(out) = self.map(event) {
                    return Ok(Some(out));
                }
                continue;
            }
            if self.eof {
                return Ok(None);
            }
            let n = self
                .reader
                .read(&mut self.chunk)
                .await
                .map_err(|source| SourceError::Io {
                    input: input.to_owned(),
                    source,
                })?;
            if n == 0 {
                self.eof = true;
                self.demuxer.finish().map_err(mkv_err)?;
            } else {
                self.demuxer.push(&self.chunk[..n]);
            }
        }
    }

    fn map(&mut self, event: Event) -> Option<SourceEvent> {
        match event {
            Event::Info(info) => {
                self.scale_ns = info.timecode_scale.max(1);
                None
            }
            Event::Tracks(tracks) => {
                let infos: Vec<TrackInfo> = tracks.entries.iter().filter_map(track_info).collect();
                self.tracks = infos.iter().map(|t| t.number).collect();
                Some(SourceEvent::Tracks(infos))
            }
            Event::Frame(f) if self.tracks.contains(&f.track) => {
                let ms =
                    i64::try_from(u128::from(f.timecode) * u128::from(self.scale_ns) / 1_000_000)
                        .unwrap_or(i64::MAX);
                let offset = *self.offset_ms.get_or_insert_with(|| {
                    if ms < ABSOLUTE_THRESHOLD_MS {
                        let now = now_ms();
                        tracing::info!(
                            "source timecodes are relative (first frame at {ms} ms): adding the start time {now} ms"
                        );
                        now
                    } else {
                        0
                    }
                });
                Some(SourceEvent::Frame(MediaFrame {
                    track: f.track,
                    timecode_ms: ms.saturating_add(offset),
                    keyframe: f.keyframe,
                    data: f.data,
                }))
            }
            _ => None,
        }
    }
}

/// The video and audio tracks; others (subtitles…) are left out.
fn track_info(t: &TrackEntry) -> Option<TrackInfo> {
    let clamp32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let (video, audio) = match t.track_type {
        TrackType::Video => {
            let v = t.video.unwrap_or_default();
            (
                Some((clamp32(v.pixel_width), clamp32(v.pixel_height))),
                None,
            )
        }
        TrackType::Audio => {
            let a = t.audio.unwrap_or_default();
            // Saturating float-to-int conversion: a nonsense rate stays nonsense, not UB.
            let hz = a.sampling_frequency as u32;
            (
                None,
                Some((hz, u8::try_from(a.channels).unwrap_or(u8::MAX))),
            )
        }
        _ => {
            tracing::warn!(track = t.number, codec = %t.codec_id, "ignoring a track that is neither video nor audio");
            return None;
        }
    };
    Some(TrackInfo {
        number: t.number,
        codec_id: t.codec_id.clone(),
        codec_private: t
            .codec_private
            .as_ref()
            .map(|b| b.to_vec())
            .unwrap_or_default(),
        video,
        audio,
    })
}

/// Reads `reader` on its own task into a bounded channel of `capacity`
/// events (so a slow network slows reading instead of growing memory).
/// `stop` ends reading early (graceful shutdown): the channel then closes
/// like at the end of input.
pub fn spawn_pump(
    mut reader: MediaReader,
    capacity: usize,
    stop: Arc<Notify>,
) -> mpsc::Receiver<Result<SourceEvent, SourceError>> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                biased;
                () = stop.notified() => {
                    tracing::info!("stopping: no more input is read");
                    return;
                }
                item = reader.next_event() => item,
            };
            let last = !matches!(item, Ok(Some(_)));
            let item = match item {
                Ok(Some(ev)) => Ok(ev),
                Ok(None) => return,
                Err(e) => Err(e),
            };
            if tx.send(item).await.is_err() || last {
                return;
            }
        }
    });
    rx
}
