//! The verify-and-decrypt pipeline: KVS MKV bytes in, verified frames out as a playable
//! MKV — the [`Reader`] writing into an [`MkvOutput`]. A frame is written only after its
//! tag verified — never a byte of an unauthenticated frame.

use std::io::Write;

use kvs_e2ee_envelope::{Failure, Summary};

use crate::output::{MkvOutput, OutputError};
use crate::reader::{ReadError, ReadEvent, Reader, ReaderConfig};

pub use crate::reader::DEFAULT_MAX_BUFFERED_BYTES;

/// What the pipeline needs: what its reader needs.
pub type PipelineConfig = ReaderConfig;

/// Why the pipeline stopped: reading (verification, input, the service) or writing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Reading stopped: a fragment failed verification (and `keep_going` is off), the
    /// input is not Matroska, or the service ended the stream with an error.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The output could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl PipelineError {
    /// The failure that stopped a read without `keep_going`.
    pub fn verification_failure(&self) -> Option<&Failure> {
        match self {
            Self::Read(ReadError::Verification(f)) => Some(f),
            _ => None,
        }
    }

    /// Whether this is the output's reader going away (`-o -` piped into a closed player).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Output(OutputError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// The verify-and-decrypt pipeline writing a playable MKV to `W`.
pub struct Pipeline<W: Write> {
    reader: Reader,
    out: Writer<W>,
}

/// The output side: what the reader's events become.
struct Writer<W: Write> {
    out: MkvOutput<W>,
    tracks_warned: bool,
}

impl<W: Write> Writer<W> {
    fn on_event(&mut self, ev: ReadEvent) -> Result<(), PipelineError> {
        match ev {
            ReadEvent::FragmentBegins {
                fragment,
                timecode,
                tracks,
                ..
            } => {
                let same_tracks = self.out.begin_fragment(timecode, &tracks)?;
                if !same_tracks && !self.tracks_warned {
                    self.tracks_warned = true;
                    tracing::warn!(
                        "{fragment}: codec data changed; the output keeps the first fragment's"
                    );
                }
            }
            ReadEvent::Frame { meta, data } => {
                self.out
                    .write_frame(meta.track, meta.timecode, meta.keyframe, &data)?;
            }
            ReadEvent::Failure(failure) => tracing::warn!("{failure} (skipped, continuing)"),
            _ => {}
        }
        Ok(())
    }
}

impl<W: Write> Pipeline<W> {
    /// A pipeline writing to `writer`.
    pub fn new(config: PipelineConfig, writer: W) -> Self {
        Self {
            reader: Reader::new(config),
            out: Writer {
                out: MkvOutput::new(writer),
                tracks_warned: false,
            },
        }
    }

    /// Feeds input bytes; writes (and flushes) every frame that verified.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), PipelineError> {
        let Self { reader, out } = self;
        reader.push(bytes, &mut |ev| out.on_event(ev))?;
        out.out.flush()?;
        Ok(())
    }

    /// The input ended: closes the last fragment and the chain.
    pub fn finish(&mut self) -> Result<(), PipelineError> {
        let Self { reader, out } = self;
        reader.finish(&mut |ev| out.on_event(ev))?;
        out.out.flush()?;
        Ok(())
    }

    /// The connection dropped; the source resumes from [`Pipeline::continuation_token`] and
    /// re-sends the interrupted fragment from its start. Bytes of the cut element are
    /// discarded; frames of the interrupted fragment already handled are not written twice.
    pub fn reconnected(&mut self) {
        self.reader.reconnected();
    }

    /// The last `AWS_KINESISVIDEO_CONTINUATION_TOKEN` seen (where a resumed GetMedia starts).
    pub fn continuation_token(&self) -> Option<&str> {
        self.reader.continuation_token()
    }

    /// The last `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW` seen.
    pub fn millis_behind_now(&self) -> Option<u64> {
        self.reader.millis_behind_now()
    }

    /// What has been verified and written so far.
    pub fn summary(&self) -> &Summary {
        self.reader.summary()
    }

    /// Flushes the output and returns the writer (also after an error: everything written
    /// had verified).
    pub fn into_output(self) -> Result<W, OutputError> {
        self.out.out.into_inner()
    }
}
