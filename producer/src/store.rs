//! One interface over the two fragment stores — [`FragmentBuffer`] in memory
//! and [`Spool`] on disk — so the engine's send/ack loop is written once and
//! `--spool` only changes which store it is given.

use bytes::Bytes;

use crate::buffer::{AckKind, AckOutcome, BufferError, BufferStats, FragmentBuffer, FragmentState};
use crate::spool::{Spool, SpoolError};

/// Errors from either store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The in-memory buffer refused the fragment.
    #[error(transparent)]
    Buffer(#[from] BufferError),
    /// The on-disk spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The fragment is no longer held (persisted or dropped).
    #[error("fragment {seq} is no longer buffered (persisted or dropped)")]
    NotFound {
        /// Its sequence number.
        seq: u64,
    },
}

/// What an ACK did to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckEffect {
    /// No held fragment has that timecode (already persisted, or dropped).
    Unknown,
    /// Fragment `seq` moved to a new state.
    Updated(u64, FragmentState),
    /// Fragment `seq` was persisted and removed.
    Persisted(u64),
}

/// A bounded store of fragments awaiting PERSISTED.
pub trait FragmentStore: Send {
    /// Stores the exact bytes of a fragment; returns its sequence number and
    /// how many oldest fragments were dropped to make room.
    fn push(&mut self, timecode_ms: i64, bytes: Bytes) -> Result<(u64, usize), StoreError>;
    /// The bytes of fragment `seq`, identical to what was pushed.
    fn load(&self, seq: u64) -> Result<Bytes, StoreError>;
    /// Records that fragment `seq` was written to the connection.
    fn mark_sent(&mut self, seq: u64) -> bool;
    /// Applies an ACK naming a fragment by its timecode.
    fn ack(&mut self, kind: AckKind, timecode_ms: i64) -> Result<AckEffect, StoreError>;
    /// After a lost connection: everything not persisted is to be sent again.
    fn requeue_all(&mut self);
    /// `(seq, timecode_ms)` of the oldest fragment not sent on this connection.
    fn next_unsent(&self) -> Option<(u64, i64)>;
    /// Counters.
    fn stats(&self) -> BufferStats;
    /// Timecode of the newest fragment held (e.g. recovered from a spool).
    fn newest_timecode(&self) -> Option<i64>;
}

fn effect<P>(outcome: AckOutcome<P>) -> AckEffect {
    match outcome {
        AckOutcome::Unknown => AckEffect::Unknown,
        AckOutcome::Updated { seq, state } => AckEffect::Updated(seq, state),
        AckOutcome::Persisted(e) => AckEffect::Persisted(e.seq),
    }
}

impl FragmentStore for FragmentBuffer<Bytes> {
    fn push(&mut self, timecode_ms: i64, bytes: Bytes) -> Result<(u64, usize), StoreError> {
        let pushed = FragmentBuffer::push(self, timecode_ms, bytes)?;
        Ok((pushed.seq, pushed.evicted.len()))
    }

    fn load(&self, seq: u64) -> Result<Bytes, StoreError> {
        self.get(seq)
            .map(|e| e.payload.clone())
            .ok_or(StoreError::NotFound { seq })
    }

    fn mark_sent(&mut self, seq: u64) -> bool {
        FragmentBuffer::mark_sent(self, seq)
    }

    fn ack(&mut self, kind: AckKind, timecode_ms: i64) -> Result<AckEffect, StoreError> {
        Ok(effect(self.on_ack(kind, timecode_ms)))
    }

    fn requeue_all(&mut self) {
        FragmentBuffer::requeue_all(self);
    }

    fn next_unsent(&self) -> Option<(u64, i64)> {
        FragmentBuffer::next_unsent(self).map(|e| (e.seq, e.timecode_ms))
    }

    fn stats(&self) -> BufferStats {
        FragmentBuffer::stats(self)
    }

    fn newest_timecode(&self) -> Option<i64> {
        self.unacknowledged_from(0).last().map(|e| e.timecode_ms)
    }
}

impl FragmentStore for Spool {
    fn push(&mut self, timecode_ms: i64, bytes: Bytes) -> Result<(u64, usize), StoreError> {
        Ok(Spool::push(self, timecode_ms, &bytes)?)
    }

    fn load(&self, seq: u64) -> Result<Bytes, StoreError> {
        match self.read(seq) {
            Err(SpoolError::NotFound { seq }) => Err(StoreError::NotFound { seq }),
            other => Ok(other?),
        }
    }

    fn mark_sent(&mut self, seq: u64) -> bool {
        Spool::mark_sent(self, seq)
    }

    fn ack(&mut self, kind: AckKind, timecode_ms: i64) -> Result<AckEffect, StoreError> {
        Ok(effect(self.on_ack(kind, timecode_ms)?))
    }

    fn requeue_all(&mut self) {
        Spool::requeue_all(self);
    }

    fn next_unsent(&self) -> Option<(u64, i64)> {
        Spool::next_unsent(self).map(|e| (e.seq, e.timecode_ms))
    }

    fn stats(&self) -> BufferStats {
        Spool::stats(self)
    }

    fn newest_timecode(&self) -> Option<i64> {
        self.unacknowledged_from(0).last().map(|e| e.timecode_ms)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The same send/ack script must behave identically on both stores.
    fn exercise(store: &mut dyn FragmentStore) {
        let (s0, _) = store.push(1000, Bytes::from_static(b"fragment-0")).unwrap();
        let (s1, _) = store.push(3000, Bytes::from_static(b"fragment-1")).unwrap();
        assert_eq!(store.next_unsent(), Some((s0, 1000)));
        assert!(store.mark_sent(s0));
        assert_eq!(store.next_unsent(), Some((s1, 3000)));
        assert!(store.mark_sent(s1));
        assert_eq!(
            store.ack(AckKind::Received, 1000).unwrap(),
            AckEffect::Updated(s0, FragmentState::Received)
        );
        assert_eq!(
            store.ack(AckKind::Persisted, 1000).unwrap(),
            AckEffect::Persisted(s0)
        );
        assert_eq!(
            store.ack(AckKind::Persisted, 1000).unwrap(),
            AckEffect::Unknown
        );
        assert_eq!(store.next_unsent(), None);
        store.requeue_all();
        assert_eq!(store.next_unsent(), Some((s1, 3000)));
        assert_eq!(&store.load(s1).unwrap()[..], b"fragment-1");
        assert!(matches!(store.load(s0), Err(StoreError::NotFound { seq }) if seq == s0));
        assert_eq!(store.stats().persisted, 1);
        assert_eq!(store.newest_timecode(), Some(3000));
    }

    #[test]
    fn memory_buffer_and_spool_behave_the_same_behind_the_trait() {
        exercise(&mut FragmentBuffer::<Bytes>::new(1 << 20));
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        exercise(&mut spool);
    }
}
