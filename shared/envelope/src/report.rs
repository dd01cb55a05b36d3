//! What a viewer found, in words a user reads: a [`Failure`] per refused fragment, named by
//! a [`FragmentRef`], and the [`Summary`] of a read. The [`StreamOpener`](crate::StreamOpener)
//! produces them; every front end (CLI, GStreamer source, browser viewer) prints them as
//! they are, so a report reads the same everywhere.

use std::fmt;
use std::ops::Range;

use crate::{KeyId, OpenError, SessionId};

/// Where in the stream something happened: as much as is known of the fragment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FragmentRef {
    /// KVS fragment number (`AWS_KINESISVIDEO_FRAGMENT_NUMBER`), when the source sent it.
    pub kvs_number: Option<String>,
    /// Envelope sequence number in the camera session, when a header named it.
    pub seq: Option<u64>,
    /// Cluster timecode (TimecodeScale units, 1 ms on KVS).
    pub timecode: Option<u64>,
    /// Producer timestamp (`AWS_KINESISVIDEO_PRODUCER_TIMESTAMP`, epoch seconds).
    pub producer_time: Option<String>,
}

impl fmt::Display for FragmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fragment")?;
        if let Some(n) = &self.kvs_number {
            write!(f, " {n}")?;
        }
        let mut parts = Vec::new();
        if let Some(s) = self.seq {
            parts.push(format!("seq {s}"));
        }
        if let Some(t) = self.timecode {
            parts.push(format!("timecode {t}"));
        }
        if let Some(p) = &self.producer_time {
            parts.push(format!("producer time {p}"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// What was wrong with a fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// A frame failed to authenticate (altered, moved, re-timed, or from elsewhere).
    TamperedFrame {
        /// Frame index within the fragment.
        frame: u32,
    },
    /// The fragment header failed to authenticate.
    TamperedHeader,
    /// Fragments of the session never arrived (deleted, or late).
    Missing {
        /// Missing sequence numbers.
        missing: Range<u64>,
    },
    /// Fewer frames arrived than the camera sealed (frames cut from the end).
    MissingFrames {
        /// Frames the camera sealed.
        expected: u32,
        /// Frames that arrived.
        seen: u32,
    },
    /// The frames that arrived differ from those the camera committed to.
    FramesChanged,
    /// A fragment reported missing arrived later, out of order.
    Reordered,
    /// An old fragment was delivered again (not a reconnect re-send).
    Replayed,
    /// A fragment (or end record) of another camera session was inserted mid-session.
    Spliced {
        /// The session it belongs to.
        session: SessionId,
        /// The camera (key id) whose session that is, when a header of the session
        /// authenticated (an end record alone does not name it to the viewer).
        camera: Option<KeyId>,
    },
    /// A new camera session began while the previous one never closed (camera crash or a
    /// cut tail).
    PreviousSessionUnclosed,
    /// The fragment was sealed for another stream.
    WrongStream {
        /// The stream named in its header.
        found: String,
    },
    /// None of the viewer's identities is a recipient (revoked, or the wrong identity file).
    NotARecipient {
        /// Key ids it was encrypted to.
        recipients: Vec<KeyId>,
    },
    /// The camera key is not in the trusted-cameras file.
    UntrustedCamera {
        /// The camera's key id.
        camera: KeyId,
    },
    /// A cluster with no e2ee header: unencrypted data (downgrade attempt or a plain producer).
    Unencrypted,
    /// An envelope of a format version this viewer does not know.
    UnknownVersion {
        /// What was found.
        detail: String,
    },
    /// Envelope tags or a header that break the format.
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// The fragment's cluster is larger than the configured buffer for a fragment whose
    /// header comes after it.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

impl FailureKind {
    /// The kind for an opener error.
    pub fn from_open_error(e: &OpenError) -> Self {
        match e {
            OpenError::Tampered {
                frame: Some(frame), ..
            } => Self::TamperedFrame { frame: *frame },
            OpenError::Tampered { frame: None, .. } => Self::TamperedHeader,
            OpenError::WrongStream { found, .. } => Self::WrongStream {
                found: found.clone(),
            },
            OpenError::UntrustedCamera { camera, .. } => Self::UntrustedCamera { camera: *camera },
            OpenError::NotARecipient { recipients, .. } => Self::NotARecipient {
                recipients: recipients.clone(),
            },
            OpenError::Unencrypted { .. } => Self::Unencrypted,
            OpenError::UnknownVersion { detail } => Self::UnknownVersion {
                detail: detail.clone(),
            },
            other => Self::Malformed {
                detail: other.to_string(),
            },
        }
    }

    /// The sequence number an opener error names, if any.
    pub fn seq_of(e: &OpenError) -> Option<u64> {
        match e {
            OpenError::Tampered { seq, .. }
            | OpenError::WrongStream { seq, .. }
            | OpenError::UntrustedCamera { seq, .. }
            | OpenError::NotARecipient { seq, .. } => Some(*seq),
            OpenError::Malformed { seq, .. } => *seq,
            _ => None,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TamperedFrame { frame } => {
                write!(f, "tampered frame: frame {frame} failed to authenticate")
            }
            Self::TamperedHeader => f.write_str("tampered header: it failed to authenticate"),
            Self::Missing { missing } => match missing.end.saturating_sub(missing.start) {
                0 | 1 => write!(
                    f,
                    "missing fragment: sequence number {} never arrived",
                    missing.start
                ),
                _ => write!(
                    f,
                    "missing fragments: sequence numbers {} to {} never arrived",
                    missing.start,
                    missing.end - 1
                ),
            },
            Self::MissingFrames { expected, seen } => write!(
                f,
                "missing frames: the camera sealed {expected}, {seen} arrived"
            ),
            Self::FramesChanged => f.write_str(
                "frames replaced or reordered: they differ from the camera's commitment",
            ),
            Self::Reordered => f.write_str("reordered fragment: it arrived after its successors"),
            Self::Replayed => f.write_str("replayed fragment: an old fragment delivered again"),
            Self::Spliced { session, camera } => {
                f.write_str("spliced fragment: from another camera session (")?;
                if let Some(camera) = camera {
                    write!(f, "camera {camera}, ")?;
                }
                write!(f, "session {session})")
            }
            Self::PreviousSessionUnclosed => f.write_str(
                "new camera session while the previous one never closed (crash or cut tail)",
            ),
            Self::WrongStream { found } => write!(f, "wrong stream: sealed for stream {found:?}"),
            Self::NotARecipient { recipients } => {
                let ids: Vec<String> = recipients.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "not a recipient: encrypted to {}, none of them a generation of this identity \
                     (viewer revoked, generation retired, or the wrong identity file)",
                    ids.join(", ")
                )
            }
            Self::UntrustedCamera { camera } => write!(
                f,
                "untrusted camera {camera}: add its key to the trusted-cameras file if it is yours"
            ),
            Self::Unencrypted => f.write_str("unencrypted: no valid kvs-e2ee header"),
            Self::UnknownVersion { detail } => {
                write!(f, "unknown envelope version ({detail}): upgrade the viewer")
            }
            Self::Malformed { detail } => write!(f, "malformed envelope: {detail}"),
            Self::TooLarge { limit } => write!(
                f,
                "fragment larger than the {limit}-byte buffer for fragments awaiting their header"
            ),
        }
    }
}

/// One refused (or incomplete) fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Where.
    pub fragment: FragmentRef,
    /// What.
    pub kind: FailureKind,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.fragment, self.kind)
    }
}

/// The outcome of a read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Fragments whose every frame authenticated and was written.
    pub fragments_verified: u64,
    /// Identical re-sends (producer reconnects) dropped silently.
    pub duplicates_dropped: u64,
    /// Frames written to the output.
    pub frames_written: u64,
    /// Plaintext bytes written (frame payloads).
    pub bytes_written: u64,
    /// Fragments reported missing (sum over gaps).
    pub fragments_missing: u64,
    /// Every failure, in order.
    pub failures: Vec<Failure>,
    /// Fragments re-read from their start after the connection dropped in their middle
    /// (frames already written are not written again).
    pub fragments_resumed: u64,
    /// Sessions that ended without an end record within what was read (expected when a
    /// live read or a time range stops while the camera runs).
    pub unterminated_sessions: u64,
}

impl Summary {
    /// Whether everything read was verified: no failure and no gap.
    pub fn all_verified(&self) -> bool {
        self.failures.is_empty() && self.fragments_missing == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} fragments verified, {} frames ({} bytes) written, {} duplicates dropped",
            self.fragments_verified,
            self.frames_written,
            self.bytes_written,
            self.duplicates_dropped
        )?;
        writeln!(
            f,
            "{} fragments missing, {} failures",
            self.fragments_missing,
            self.failures.len()
        )?;
        for failure in &self.failures {
            writeln!(f, "  {failure}")?;
        }
        if self.unterminated_sessions > 0 {
            writeln!(
                f,
                "note: the stream read ends inside a camera session (no end record yet)"
            )?;
        }
        f.write_str(if self.all_verified() {
            "everything read was verified"
        } else {
            "NOT everything read was verified"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fragments_are_named_as_people_count_them() {
        let one = FailureKind::Missing { missing: 1..2 };
        assert_eq!(
            one.to_string(),
            "missing fragment: sequence number 1 never arrived"
        );
        let three = FailureKind::Missing { missing: 2..5 };
        assert_eq!(
            three.to_string(),
            "missing fragments: sequence numbers 2 to 4 never arrived"
        );
    }
}
