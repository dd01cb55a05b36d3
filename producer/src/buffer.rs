//! The bounded store of encrypted fragments awaiting KVS's PERSISTED ack, so a
//! lost connection can resend them byte-identically. Memory is a configured
//! number (`--buffer-size`): when full, whole oldest fragments are dropped,
//! counted and logged — never silently.
//!
//! [`FragmentBuffer`] is generic over its payload: `Bytes` (the exact MKV bytes
//! sent) in memory, or a handle to a file for the on-disk [`crate::spool`].
//! Each fragment moves `Buffered → Sent → Received → (Persisted = removed)`;
//! ACKs name fragments by their FragmentTimecode, which is the fragment's
//! cluster timecode we record at push.

use std::collections::VecDeque;

use bytes::Bytes;

/// Default `--buffer-size`: two minutes of 4 Mbit/s video (120 s × 0.5 MB/s).
pub const DEFAULT_BUFFER_BYTES: u64 = 60_000_000;

/// Something with a size that counts against the buffer's capacity.
pub trait Payload {
    /// Size in bytes charged to the buffer.
    fn byte_len(&self) -> u64;
}

impl Payload for Bytes {
    fn byte_len(&self) -> u64 {
        self.len() as u64
    }
}

/// Where a buffered fragment is on its way to KVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FragmentState {
    /// Stored, not yet (re)sent on the current connection.
    Buffered,
    /// Written to the PutMedia body (or KVS acknowledged with BUFFERING).
    Sent,
    /// KVS acknowledged RECEIVED: complete, not yet durable.
    Received,
}

/// The ACK kinds that move a fragment's state (KVS `AckEventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    /// KVS started receiving the fragment.
    Buffering,
    /// KVS received the whole fragment.
    Received,
    /// KVS stored the fragment durably: it leaves the buffer.
    Persisted,
}

/// One stored fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<P> {
    /// Local sequence number (increasing in push order, never reused).
    pub seq: u64,
    /// Fragment (cluster) timecode in ms, as KVS's ACKs report it.
    pub timecode_ms: i64,
    /// Delivery state.
    pub state: FragmentState,
    /// The bytes (or their location).
    pub payload: P,
}

/// Result of [`FragmentBuffer::push`].
#[derive(Debug)]
pub struct Pushed<P> {
    /// Sequence number given to the new fragment.
    pub seq: u64,
    /// Oldest fragments dropped to make room (already counted and logged).
    pub evicted: Vec<Entry<P>>,
}

/// Result of [`FragmentBuffer::on_ack`].
#[derive(Debug, PartialEq, Eq)]
pub enum AckOutcome<P> {
    /// No buffered fragment has that timecode (already persisted or dropped).
    Unknown,
    /// The fragment `seq` is now in `state`.
    Updated {
        /// Its sequence number.
        seq: u64,
        /// Its new state.
        state: FragmentState,
    },
    /// The fragment was persisted and removed; here it is (e.g. to delete its file).
    Persisted(Entry<P>),
}

/// Counters for `--stats` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferStats {
    /// Fragments held now.
    pub fragments: usize,
    /// Bytes held now.
    pub bytes: u64,
    /// Capacity in bytes.
    pub capacity: u64,
    /// Fragments ever pushed (including recovered ones).
    pub pushed: u64,
    /// Fragments removed by a PERSISTED ack.
    pub persisted: u64,
    /// Fragments dropped because the buffer was full (data loss).
    pub dropped_fragments: u64,
    /// Bytes of those fragments.
    pub dropped_bytes: u64,
}

/// Errors of the fragment buffer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BufferError {
    /// One fragment is bigger than the whole buffer.
    #[error(
        "fragment at timecode {timecode_ms} ms is {bytes} bytes, larger than the whole {capacity}-byte buffer; raise --buffer-size"
    )]
    FragmentLargerThanBuffer {
        /// The fragment's timecode.
        timecode_ms: i64,
        /// Its size.
        bytes: u64,
        /// The buffer's capacity.
        capacity: u64,
    },
}

/// Bounded FIFO of fragments not yet persisted by KVS.
#[derive(Debug)]
pub struct FragmentBuffer<P = Bytes> {
    entries: VecDeque<Entry<P>>,
    next_seq: u64,
    stats: BufferStats,
}

impl<P: Payload> FragmentBuffer<P> {
    /// An empty buffer holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        Self::starting_at(capacity, 0)
    }

    /// An empty buffer whose first sequence number is `next_seq` (the spool
    /// continues numbering after the fragments it recovered).
    pub fn starting_at(capacity: u64, next_seq: u64) -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq,
            stats: BufferStats {
                capacity,
                ..BufferStats::default()
            },
        }
    }

    /// Stores a fragment, evicting the oldest ones if needed.
    pub fn push(&mut self, timecode_ms: i64, payload: P) -> Result<Pushed<P>, BufferError> {
        let seq = self.next_seq;
        let evicted = self.insert(seq, timecode_ms, payload)?;
        Ok(Pushed { seq, evicted })
    }

    /// Stores a fragment under a given sequence number, which must exceed
    /// every one stored so far (used by spool recovery).
    pub(crate) fn insert(
        &mut self,
        seq: u64,
        timecode_ms: i64,
        payload: P,
    ) -> Result<Vec<Entry<P>>, BufferError> {
        debug_assert!(seq >= self.next_seq, "sequence numbers only grow");
        let bytes = payload.byte_len();
        let capacity = self.stats.capacity;
        if bytes > capacity {
            return Err(BufferError::FragmentLargerThanBuffer {
                timecode_ms,
                bytes,
                capacity,
            });
        }
        let mut evicted = Vec::new();
        while self.stats.bytes + bytes > capacity {
            let old = self
                .entries
                .pop_front()
                .expect("bytes > 0 implies a stored entry");
            let len = old.payload.byte_len();
            self.stats.bytes -= len;
            self.stats.dropped_fragments += 1;
            self.stats.dropped_bytes += len;
            tracing::warn!(
                seq = old.seq,
                timecode_ms = old.timecode_ms,
                bytes = len,
                dropped_total = self.stats.dropped_fragments,
                "buffer full ({capacity} bytes): dropped the oldest fragment before KVS persisted it"
            );
            evicted.push(old);
        }
        self.stats.bytes += bytes;
        self.stats.pushed += 1;
        self.next_seq = seq + 1;
        self.entries.push_back(Entry {
            seq,
            timecode_ms,
            state: FragmentState::Buffered,
            payload,
        });
        self.stats.fragments = self.entries.len();
        Ok(evicted)
    }

    /// Records that fragment `seq` was written to the connection.
    pub fn mark_sent(&mut self, seq: u64) -> bool {
        match self.entries.iter_mut().find(|e| e.seq == seq) {
            Some(e) => {
                e.state = e.state.max(FragmentState::Sent);
                true
            }
            None => false,
        }
    }

    /// Applies an ACK for the fragment with `timecode_ms` (the oldest such
    /// fragment if, after a restart, two share a timecode).
    pub fn on_ack(&mut self, kind: AckKind, timecode_ms: i64) -> AckOutcome<P> {
        let Some(idx) = self
            .entries
            .iter()
            .position(|e| e.timecode_ms == timecode_ms)
        else {
            return AckOutcome::Unknown;
        };
        let state = match kind {
            AckKind::Buffering => FragmentState::Sent,
            AckKind::Received => FragmentState::Received,
            AckKind::Persisted => {
                let e = self.entries.remove(idx).expect("index found above");
                self.stats.bytes -= e.payload.byte_len();
                self.stats.persisted += 1;
                self.stats.fragments = self.entries.len();
                return AckOutcome::Persisted(e);
            }
        };
        let e = &mut self.entries[idx];
        // ACKs may arrive late or repeat; a state never moves backwards.
        e.state = e.state.max(state);
        AckOutcome::Updated {
            seq: e.seq,
            state: e.state,
        }
    }

    /// After a lost connection: every fragment not persisted must be sent again.
    pub fn requeue_all(&mut self) {
        for e in &mut self.entries {
            e.state = FragmentState::Buffered;
        }
    }

    /// The oldest fragment not yet sent on the current connection.
    pub fn next_unsent(&self) -> Option<&Entry<P>> {
        self.entries
            .iter()
            .find(|e| e.state == FragmentState::Buffered)
    }

    /// Fragments not yet persisted with `seq >= from`, oldest first (for resend).
    pub fn unacknowledged_from(&self, from: u64) -> impl Iterator<Item = &Entry<P>> {
        self.entries.iter().filter(move |e| e.seq >= from)
    }

    /// The fragment with sequence number `seq`, if still held.
    pub fn get(&self, seq: u64) -> Option<&Entry<P>> {
        self.entries.iter().find(|e| e.seq == seq)
    }

    /// Counters.
    pub fn stats(&self) -> BufferStats {
        self.stats
    }

    /// Number of fragments held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no fragment is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The sequence number the next push gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn bytes(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    #[test]
    fn buffer_moves_fragments_through_ack_states_and_drops_on_persisted() {
        let mut b = FragmentBuffer::new(1000);
        let s0 = b.push(1000, bytes(10)).unwrap().seq;
        let s1 = b.push(3000, bytes(20)).unwrap().seq;
        assert_eq!((s0, s1), (0, 1));
        assert!(b.mark_sent(s0));
        assert_eq!(b.next_unsent().unwrap().seq, s1);
        assert_eq!(
            b.on_ack(AckKind::Buffering, 1000),
            AckOutcome::Updated {
                seq: 0,
                state: FragmentState::Sent
            }
        );
        assert_eq!(
            b.on_ack(AckKind::Received, 1000),
            AckOutcome::Updated {
                seq: 0,
                state: FragmentState::Received
            }
        );
        // A late BUFFERING does not move it back.
        assert_eq!(
            b.on_ack(AckKind::Buffering, 1000),
            AckOutcome::Updated {
                seq: 0,
                state: FragmentState::Received
            }
        );
        let AckOutcome::Persisted(e) = b.on_ack(AckKind::Persisted, 1000) else {
            panic!("not persisted")
        };
        assert_eq!((e.seq, e.payload.len()), (0, 10));
        assert_eq!(b.on_ack(AckKind::Persisted, 1000), AckOutcome::Unknown);
        assert_eq!(b.stats().bytes, 20);
        assert_eq!(b.stats().persisted, 1);
    }

    #[test]
    fn buffer_drops_whole_oldest_fragments_when_full_and_counts_them() {
        let mut b = FragmentBuffer::new(100);
        for i in 0..3 {
            assert!(b.push(i * 2000, bytes(30)).unwrap().evicted.is_empty());
        }
        // 90 + 50 > 100: dropping one (60 + 50) is not enough, so two go.
        let p = b.push(8000, bytes(50)).unwrap();
        assert_eq!(
            p.evicted.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![0, 1]
        );
        let s = b.stats();
        assert_eq!(
            (s.dropped_fragments, s.dropped_bytes, s.bytes, s.fragments),
            (2, 60, 80, 2)
        );
        assert_eq!(
            b.unacknowledged_from(0).map(|e| e.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
        let err = b.push(10_000, bytes(101)).unwrap_err();
        assert!(matches!(
            err,
            BufferError::FragmentLargerThanBuffer {
                bytes: 101,
                capacity: 100,
                ..
            }
        ));
    }

    #[test]
    fn requeue_after_disconnect_resends_everything_unpersisted_in_order() {
        let mut b = FragmentBuffer::new(1000);
        for i in 0..3 {
            let s = b.push(i, bytes(5)).unwrap().seq;
            b.mark_sent(s);
        }
        b.on_ack(AckKind::Received, 1);
        b.on_ack(AckKind::Persisted, 0);
        assert!(b.next_unsent().is_none());
        b.requeue_all();
        assert_eq!(b.next_unsent().unwrap().seq, 1);
        assert_eq!(
            b.unacknowledged_from(0).map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(
            b.unacknowledged_from(2).map(|e| e.seq).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(b.get(2).unwrap().payload, bytes(5));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize),
        Persist(usize),
        Send(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..300).prop_map(Op::Push),
            (0usize..16).prop_map(Op::Persist),
            (0usize..16).prop_map(Op::Send),
        ]
    }

    proptest! {
        #[test]
        fn buffer_invariants_hold_for_any_operation_sequence(cap in 1u64..1000, ops in prop::collection::vec(op(), 0..200)) {
            let mut b = FragmentBuffer::new(cap);
            let mut tc = 0i64;
            for op in ops {
                match op {
                    Op::Push(n) => {
                        tc += 1;
                        if b.push(tc, bytes(n)).is_err() {
                            prop_assert!(n as u64 > cap);
                        }
                    }
                    Op::Persist(i) => {
                        let t = b.entries.get(i).map(|e| e.timecode_ms);
                        if let Some(t) = t {
                            prop_assert!(matches!(b.on_ack(AckKind::Persisted, t), AckOutcome::Persisted(_)));
                        }
                    }
                    Op::Send(i) => {
                        let s = b.entries.get(i).map(|e| e.seq);
                        if let Some(s) = s { prop_assert!(b.mark_sent(s)); }
                    }
                }
                let s = b.stats();
                // Never over capacity; byte count exact.
                prop_assert!(s.bytes <= cap);
                prop_assert_eq!(s.bytes, b.entries.iter().map(|e| e.payload.byte_len()).sum::<u64>());
                // Every push is accounted for: held, persisted or counted as dropped.
                prop_assert_eq!(s.pushed, s.fragments as u64 + s.persisted + s.dropped_fragments);
                // Order preserved: sequence numbers and timecodes strictly increase.
                prop_assert!(b.entries.iter().zip(b.entries.iter().skip(1)).all(|(a, c)| a.seq < c.seq && a.timecode_ms < c.timecode_ms));
            }
        }
    }
}
