//! Fuzzing entry points, shared by the cargo-fuzz targets in `fuzz/` (nightly) and the
//! proptest runs in the ordinary test suite (stable), so both exercise the same code.

use super::demux::{Demuxer, Event};

/// Outcome of one run over arbitrary input.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// Every event, in order.
    pub events: Vec<Event>,
    /// The first error (its message), if any.
    pub error: Option<String>,
}

/// Feeds `data` to a [`Demuxer`] in one piece and drains it.
pub fn demux_whole(data: &[u8]) -> Outcome {
    demux_chunks(data, std::iter::once(data.len()))
}

/// Feeds `data` in chunks of the given lengths (the rest in one last chunk), draining
/// events after each, then finishes.
pub fn demux_chunks(data: &[u8], chunk_lens: impl IntoIterator<Item = usize>) -> Outcome {
    let mut demuxer = Demuxer::new();
    let mut events = Vec::new();
    let mut rest = data;
    let mut lens = chunk_lens.into_iter();
    loop {
        let n = if rest.is_empty() {
            0
        } else {
            lens.next().unwrap_or(rest.len()).clamp(1, rest.len())
        };
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        demuxer.push(chunk);
        if let Err(e) = drain(&mut demuxer, &mut events) {
            return Outcome {
                events,
                error: Some(e.to_string()),
            };
        }
        if rest.is_empty() {
            break;
        }
    }
    let result = demuxer
        .finish()
        .and_then(|()| drain(&mut demuxer, &mut events));
    Outcome {
        events,
        error: result.err().map(|e| e.to_string()),
    }
}

fn drain(demuxer: &mut Demuxer, events: &mut Vec<Event>) -> Result<(), super::MkvError> {
    while let Some(event) = demuxer.next_event()? {
        events.push(event);
    }
    Ok(())
}

/// The fuzz target: demuxes `data` whole and in chunks whose lengths derive from `data`
/// itself, and panics if the two runs disagree (a chunking bug) — or, through the demuxer,
/// on any panic in the parser.
pub fn demux_arbitrary(data: &[u8]) {
    let whole = demux_whole(data);
    // Chunk lengths 1..=64 drawn from the input bytes, cycling.
    let lens: Vec<usize> = data.iter().map(|&b| usize::from(b % 64) + 1).collect();
    let chunked = demux_chunks(data, lens);
    assert_eq!(whole, chunked, "chunked and whole demuxing disagree");
}
