//! A viewer for tests: MKV bytes (stored fragments, a PutMedia body, GetMedia output)
//! opened through the consumer's [`Reader`], the same code the viewer runs.

use kvs_e2ee_consumer::{ReadError, ReadEvent, Reader, ReaderConfig};
use kvs_e2ee_envelope::stream::DEFAULT_MAX_BUFFERED_BYTES;
use kvs_e2ee_envelope::{ChainEvent, Failure, FrameMeta, OpenerConfig, Summary};

/// What a viewer made of a stream.
#[derive(Debug, Default)]
pub struct Viewed {
    /// Every released frame, in order: its metadata and plaintext.
    pub frames: Vec<(FrameMeta, Vec<u8>)>,
    /// Every chain verdict, in order.
    pub chain: Vec<ChainEvent>,
    /// Every failure, in order (the reader goes on after each).
    pub failures: Vec<Failure>,
    /// The reader's summary.
    pub summary: Summary,
}

impl Viewed {
    /// `(track, plaintext)` of every released frame.
    pub fn payloads(&self) -> Vec<(u64, Vec<u8>)> {
        self.frames
            .iter()
            .map(|(m, d)| (m.track, d.clone()))
            .collect()
    }

    /// Whether the chain was closed by an end record.
    pub fn closed(&self) -> bool {
        self.chain
            .iter()
            .any(|c| matches!(c, ChainEvent::SessionClosed { .. }))
    }
}

/// Opens `mkv` as a viewer with `opener`, reporting every failure and going on (as
/// `--keep-going`). Errors only on input that is not Matroska or a service error.
pub fn view_mkv(opener: OpenerConfig, mkv: &[u8]) -> Result<Viewed, ReadError> {
    let mut reader = Reader::new(ReaderConfig {
        opener,
        keep_going: true,
        max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
    });
    let mut viewed = Viewed::default();
    let mut on = |ev: ReadEvent| -> Result<(), ReadError> {
        match ev {
            ReadEvent::Frame { meta, data } => viewed.frames.push((meta, data.to_vec())),
            ReadEvent::Chain(c) => viewed.chain.push(c),
            ReadEvent::Failure(f) => viewed.failures.push(f),
            _ => {}
        }
        Ok(())
    };
    reader.push(mkv, &mut on)?;
    reader.finish(&mut on)?;
    viewed.summary = reader.summary().clone();
    Ok(viewed)
}
