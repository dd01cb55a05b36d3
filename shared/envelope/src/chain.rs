//! The consumer-side completeness check: is this the fragment that should come next?
//!
//! Each header commits to the previous fragment (sequence number, frame count, digest) and a
//! graceful stop sends an end record committing to the last one. [`ChainVerifier`] is fed
//! fragments in arrival order and classifies each, so a consumer can tell a harmless
//! duplicate (KVS producers re-send fragments after a reconnect) from deletion, truncation,
//! reordering, replay and splicing — and report them distinctly (FORMAT.md §Chain).

use std::collections::{BTreeSet, VecDeque};
use std::ops::Range;

use super::header::{ChainLink, DIGEST_LEN, SessionId};
use super::key::KeyId;

/// How far back (in sequence numbers) an identical copy still counts as a reconnect re-send.
/// The producer SDK rolls back to the last acknowledged fragment, a few fragments at most.
pub const DUPLICATE_WINDOW: u64 = 3;
/// Headers remembered for duplicate and replay detection.
const RECENT: usize = 64;
/// Missing sequence numbers remembered for reorder detection (bounded memory under attack).
const MAX_MISSING: usize = 1024;

/// What the chain learns from a fragment header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LinkInfo {
    /// Producer session.
    pub session: SessionId,
    /// Camera key id.
    pub camera: KeyId,
    /// Sequence number.
    pub seq: u64,
    /// Header hash (identifies the exact header).
    pub header_hash: [u8; 32],
    /// Commitment to the previous fragment.
    pub prev: Option<ChainLink>,
}

/// A verdict about the stream's completeness and order.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ChainEvent {
    /// The first fragment this reader sees (it may join a session midway).
    Started {
        /// Session.
        session: SessionId,
        /// Its sequence number.
        seq: u64,
    },
    /// The expected next fragment; the previous one was complete.
    Continued {
        /// Sequence number.
        seq: u64,
    },
    /// An identical re-send of a recent fragment (KVS reconnect): dropped silently.
    Duplicate {
        /// Sequence number.
        seq: u64,
    },
    /// An old fragment delivered again long after: dropped.
    Replayed {
        /// Its session.
        session: SessionId,
        /// Its sequence number.
        seq: u64,
    },
    /// Fragments that never arrived (deleted, or late: see `Reordered`).
    Gap {
        /// Session.
        session: SessionId,
        /// Missing sequence numbers.
        missing: Range<u64>,
    },
    /// A fragment that was reported missing arrived late.
    Reordered {
        /// Sequence number.
        seq: u64,
    },
    /// The camera sealed more frames in this fragment than arrived (frames cut at the end).
    Truncated {
        /// Fragment sequence number.
        seq: u64,
        /// Frames the camera sealed.
        expected: u32,
        /// Frames that arrived.
        seen: u32,
    },
    /// The frames that arrived differ from those the camera committed to.
    Mismatch {
        /// Fragment sequence number.
        seq: u64,
    },
    /// A fragment from another session (or camera) in the middle of a session.
    Spliced {
        /// Its session.
        session: SessionId,
        /// Its sequence number.
        seq: u64,
    },
    /// A new session started from its first fragment.
    NewSession {
        /// The new session.
        session: SessionId,
        /// Whether the previous session ended with an end record.
        previous_closed: bool,
    },
    /// The session ended gracefully and every fragment up to the end record was checked.
    SessionClosed {
        /// Session.
        session: SessionId,
        /// Last fragment's sequence number (None: the session had no fragment).
        last_seq: Option<u64>,
    },
    /// The stream ended without an end record (camera crash, or the tail was cut).
    Unterminated {
        /// Session.
        session: SessionId,
        /// Last fragment seen.
        last_seq: u64,
    },
}

impl ChainEvent {
    /// Whether this event signals possible tampering or loss (everything but normal flow).
    pub fn is_alarm(&self) -> bool {
        !matches!(
            self,
            Self::Started { .. }
                | Self::Continued { .. }
                | Self::Duplicate { .. }
                | Self::NewSession {
                    previous_closed: true,
                    ..
                }
                | Self::SessionClosed { .. }
        )
    }
}

/// What to do with a fragment's frames.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Disposition {
    /// Authenticate and release its frames.
    Release,
    /// Authenticate but release nothing (duplicate or replay).
    Drop,
}

#[derive(Clone, Copy)]
struct Cursor {
    session: SessionId,
    camera: KeyId,
    last_seq: u64,
    closed: bool,
}

#[derive(Clone, Copy)]
struct Observed {
    seq: u64,
    count: u32,
    digest: [u8; DIGEST_LEN],
}

/// An end record as the chain sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EndLink {
    /// Session it closes.
    pub session: SessionId,
    /// Header hash of the end record.
    pub header_hash: [u8; 32],
    /// Commitment to the last fragment (None: no fragment was sent).
    pub prev: Option<ChainLink>,
}

/// Classifies fragments in arrival order (see the module docs).
#[derive(Default)]
pub struct ChainVerifier {
    cursor: Option<Cursor>,
    recent: VecDeque<(SessionId, u64, [u8; 32])>,
    missing: BTreeSet<u64>,
    open: Option<u64>,
    observed: Option<Observed>,
    pending_end: Option<EndLink>,
    seen_ends: VecDeque<[u8; 32]>,
}

impl ChainVerifier {
    /// A verifier that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    fn remember(&mut self, link: &LinkInfo) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent
            .push_back((link.session, link.seq, link.header_hash));
    }

    /// Checks the commitment in `prev` against what was observed of that fragment.
    fn check_prev(&self, prev: Option<&ChainLink>, out: &mut Vec<ChainEvent>) {
        let (Some(p), Some(o)) = (prev, self.observed) else {
            return;
        };
        if o.seq != p.seq {
            return;
        }
        if p.frame_count > o.count {
            out.push(ChainEvent::Truncated {
                seq: p.seq,
                expected: p.frame_count,
                seen: o.count,
            });
        } else if p.frame_count < o.count || p.digest != o.digest {
            out.push(ChainEvent::Mismatch { seq: p.seq });
        }
    }

    /// A fragment begins: classifies it and says whether to release its frames.
    pub fn begin(&mut self, link: &LinkInfo) -> (Vec<ChainEvent>, Disposition) {
        let mut out = Vec::new();
        if let Some(&(session, seq, _)) =
            self.recent.iter().find(|(_, _, h)| *h == link.header_hash)
        {
            let recent = self.cursor.is_some_and(|c| {
                c.session == session && c.last_seq.saturating_sub(seq) < DUPLICATE_WINDOW
            });
            out.push(if recent {
                ChainEvent::Duplicate { seq }
            } else {
                ChainEvent::Replayed { session, seq }
            });
            self.open = None;
            return (out, Disposition::Drop);
        }
        let Some(c) = self.cursor else {
            out.push(ChainEvent::Started {
                session: link.session,
                seq: link.seq,
            });
            return self.advance(link, out);
        };
        if c.session != link.session || c.camera != link.camera {
            if link.seq == 0 && link.prev.is_none() {
                out.push(ChainEvent::NewSession {
                    session: link.session,
                    previous_closed: c.closed,
                });
            } else {
                out.push(ChainEvent::Spliced {
                    session: link.session,
                    seq: link.seq,
                });
            }
            self.missing.clear();
            self.observed = None;
            return self.advance(link, out);
        }
        if c.closed && link.seq > c.last_seq {
            out.push(ChainEvent::Spliced {
                session: link.session,
                seq: link.seq,
            });
            return self.advance(link, out);
        }
        if link.seq == c.last_seq + 1 {
            self.check_prev(link.prev.as_ref(), &mut out);
            out.push(ChainEvent::Continued { seq: link.seq });
            self.advance(link, out)
        } else if link.seq > c.last_seq {
            let missing = c.last_seq + 1..link.seq;
            for s in missing.clone() {
                if self.missing.len() >= MAX_MISSING {
                    break;
                }
                self.missing.insert(s);
            }
            out.push(ChainEvent::Gap {
                session: link.session,
                missing,
            });
            self.advance(link, out)
        } else if self.missing.remove(&link.seq) {
            self.remember(link);
            self.open = Some(link.seq);
            out.push(ChainEvent::Reordered { seq: link.seq });
            (out, Disposition::Release)
        } else {
            out.push(ChainEvent::Replayed {
                session: link.session,
                seq: link.seq,
            });
            self.open = None;
            (out, Disposition::Drop)
        }
    }

    fn advance(&mut self, link: &LinkInfo, out: Vec<ChainEvent>) -> (Vec<ChainEvent>, Disposition) {
        self.cursor = Some(Cursor {
            session: link.session,
            camera: link.camera,
            last_seq: link.seq,
            closed: false,
        });
        self.observed = None;
        self.open = Some(link.seq);
        self.remember(link);
        (out, Disposition::Release)
    }

    /// The fragment begun last is complete: `count` frames with digest `digest` arrived.
    pub fn end(&mut self, count: u32, digest: [u8; DIGEST_LEN]) -> Vec<ChainEvent> {
        let Some(seq) = self.open.take() else {
            return Vec::new();
        };
        if self.cursor.is_some_and(|c| c.last_seq == seq) {
            self.observed = Some(Observed { seq, count, digest });
        }
        self.resolve_end()
    }

    /// An authenticated end record arrived. It is checked once its last fragment has ended.
    pub fn end_record(&mut self, end: EndLink) -> Vec<ChainEvent> {
        if self.seen_ends.contains(&end.header_hash) {
            return Vec::new();
        }
        if self.seen_ends.len() == 8 {
            self.seen_ends.pop_front();
        }
        self.seen_ends.push_back(end.header_hash);
        self.pending_end = Some(end);
        self.resolve_end()
    }

    fn resolve_end(&mut self) -> Vec<ChainEvent> {
        let mut out = Vec::new();
        let Some(end) = self.pending_end else {
            return out;
        };
        let last_seq = end.prev.map(|p| p.seq);
        match (self.cursor, end.prev) {
            (Some(c), _) if c.session != end.session => {
                out.push(ChainEvent::Spliced {
                    session: end.session,
                    seq: last_seq.map_or(0, |s| s + 1),
                });
            }
            (Some(c), Some(p)) => {
                if c.last_seq == p.seq && self.open == Some(p.seq) {
                    return out; // the last fragment is still arriving
                }
                if c.last_seq < p.seq {
                    out.push(ChainEvent::Gap {
                        session: end.session,
                        missing: c.last_seq + 1..p.seq + 1,
                    });
                } else {
                    self.check_prev(Some(&p), &mut out);
                }
                out.push(ChainEvent::SessionClosed {
                    session: end.session,
                    last_seq,
                });
            }
            _ => out.push(ChainEvent::SessionClosed {
                session: end.session,
                last_seq,
            }),
        }
        if let Some(c) = self.cursor.as_mut()
            && c.session == end.session
        {
            c.closed = true;
        }
        self.pending_end = None;
        out
    }

    /// The stream ended (no more data will come).
    pub fn finish(&mut self) -> Vec<ChainEvent> {
        self.open = None;
        let mut out = self.resolve_end();
        if let Some(c) = self.cursor
            && !c.closed
        {
            out.push(ChainEvent::Unterminated {
                session: c.session,
                last_seq: c.last_seq,
            });
        }
        out
    }
}
