//! `--spool DIR`: the fragment buffer on disk, so fragments KVS has not yet
//! PERSISTED survive a crash, a reboot or a long outage. It stores only what
//! the engine hands it (encrypted MKV fragments), one file per fragment.
//!
//! File `DIR/<seq, 20 digits>.kvsfrag` = header ‖ payload, header (68 bytes,
//! big-endian): magic `KE2SPOOL`, version `u16` (1), reserved `u16` (0),
//! seq `u64`, fragment timecode `i64` (ms), payload length `u64`,
//! SHA-256(payload) `[u8; 32]`.
//!
//! Crash safety: a fragment is written to `<name>.tmp`, fsynced, renamed into
//! place and the directory fsynced, so after a crash a `.kvsfrag` file is
//! either complete or absent. At start-up leftover `.tmp` files are deleted
//! and any file whose header, length or hash does not check out is deleted
//! with a warning — never sent. A deletion after PERSISTED is not fsynced: if
//! it is lost in a crash the fragment is merely resent (KVS keeps both
//! copies; the consumer's chain check flags the duplicate).
//!
//! `DIR/.lock` is locked (`flock`) while the spool is open, so two producers
//! cannot share a directory and delete each other's fragments.
//!
//! All I/O is blocking `std::fs`; the engine calls it from a blocking task.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::buffer::{
    AckKind, AckOutcome, BufferError, BufferStats, Entry, FragmentBuffer, FragmentState, Payload,
};

/// First bytes of every spool file.
pub const SPOOL_MAGIC: [u8; 8] = *b"KE2SPOOL";
/// Spool file format version.
pub const SPOOL_VERSION: u16 = 1;
/// Size of the spool file header.
pub const HEADER_LEN: usize = 8 + 2 + 2 + 8 + 8 + 8 + 32;
const EXT: &str = "kvsfrag";
const TMP_EXT: &str = "tmp";
const LOCK_FILE: &str = ".lock";

/// Errors of the on-disk spool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// A file-system operation failed.
    /// (The OS error is part of the message, not chained, so it is said once.)
    #[error("spool {op} {path}: {error}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A spooled fragment no longer verifies when read back.
    #[error("spool file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What did not check out.
        reason: String,
    },
    /// The bounded store refused the fragment.
    #[error(transparent)]
    Buffer(#[from] BufferError),
    /// Another process holds the spool directory.
    #[error("spool directory {path} is in use by another producer (lock file held)")]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// The requested fragment is not in the spool.
    #[error("fragment {seq} is not in the spool (persisted or dropped)")]
    NotFound {
        /// Its sequence number.
        seq: u64,
    },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + use<> {
    let path = path.to_owned();
    move |error| SpoolError::Io { op, path, error }
}

/// Where a spooled fragment lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolFile {
    /// Path of the `.kvsfrag` file.
    pub path: PathBuf,
    /// Payload length (what counts against `--buffer-size`).
    pub len: u64,
}

impl Payload for SpoolFile {
    fn byte_len(&self) -> u64 {
        self.len
    }
}

/// What start-up recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Intact fragments recovered (sequence numbers, oldest first).
    pub recovered: Vec<u64>,
    /// Files deleted because they were torn or corrupt.
    pub corrupt_removed: usize,
    /// Leftover temporary files deleted.
    pub temp_removed: usize,
    /// Intact fragments dropped because they exceed `--buffer-size`.
    pub dropped_over_capacity: usize,
}

/// Header fields of a spool file.
struct Header {
    seq: u64,
    timecode_ms: i64,
    len: u64,
    hash: [u8; 32],
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&SPOOL_MAGIC);
        h[8..10].copy_from_slice(&SPOOL_VERSION.to_be_bytes());
        h[12..20].copy_from_slice(&self.seq.to_be_bytes());
        h[20..28].copy_from_slice(&self.timecode_ms.to_be_bytes());
        h[28..36].copy_from_slice(&self.len.to_be_bytes());
        h[36..68].copy_from_slice(&self.hash);
        h
    }

    fn decode(h: &[u8]) -> Result<Self, String> {
        if h.len() < HEADER_LEN {
            return Err(format!(
                "{} bytes, shorter than the {HEADER_LEN}-byte header",
                h.len()
            ));
        }
        if h[..8] != SPOOL_MAGIC {
            return Err("bad magic".into());
        }
        let version = u16::from_be_bytes([h[8], h[9]]);
        if version != SPOOL_VERSION {
            return Err(format!("unknown version {version}"));
        }
        let u64_at = |i: usize| u64::from_be_bytes(h[i..i + 8].try_into().expect("8-byte slice"));
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&h[36..68]);
        Ok(Self {
            seq: u64_at(12),
            timecode_ms: u64_at(20) as i64,
            len: u64_at(28),
            hash,
        })
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(data));
    out
}

/// Reads and verifies a spool file; `max_len` bounds the payload before allocating.
fn read_verified(path: &Path, max_len: u64) -> Result<(Header, Vec<u8>), SpoolError> {
    let corrupt = |reason: String| SpoolError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let mut file = File::open(path).map_err(io("open", path))?;
    let mut head = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = file.read(&mut head[got..]).map_err(io("read", path))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let header = Header::decode(&head[..got]).map_err(corrupt)?;
    if header.len > max_len {
        return Err(corrupt(format!(
            "payload length {} exceeds the {max_len}-byte spool",
            header.len
        )));
    }
    let mut payload = Vec::with_capacity(header.len as usize);
    file.take(header.len + 1)
        .read_to_end(&mut payload)
        .map_err(io("read", path))?;
    if payload.len() as u64 != header.len {
        return Err(corrupt(format!(
            "payload is {} bytes, header says {} (torn write?)",
            payload.len(),
            header.len
        )));
    }
    if sha256(&payload) != header.hash {
        return Err(corrupt(
            "SHA-256 of the payload does not match the header".into(),
        ));
    }
    Ok((header, payload))
}

/// Sequence number from a `<seq>.kvsfrag` file name.
fn seq_of(path: &Path) -> Option<u64> {
    if path.extension()? != EXT {
        return None;
    }
    path.file_stem()?.to_str()?.parse().ok()
}

/// The crash-safe on-disk fragment store.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    buffer: FragmentBuffer<SpoolFile>,
    /// Held for the spool's lifetime: two producers sharing a directory would
    /// delete each other's fragments.
    _lock: File,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir` holding at most
    /// `capacity` payload bytes, and recovers the intact fragments in order.
    pub fn open(
        dir: impl Into<PathBuf>,
        capacity: u64,
    ) -> Result<(Self, RecoveryReport), SpoolError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(SpoolError::Locked { path: dir }),
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", &lock_path)(e)),
        }
        let mut report = RecoveryReport::default();
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io("list", &dir))? {
            let path = entry.map_err(io("list", &dir))?.path();
            if path.extension().is_some_and(|e| e == TMP_EXT) {
                tracing::warn!(path = %path.display(), "removing a spool file left half-written by a crash");
                fs::remove_file(&path).map_err(io("remove", &path))?;
                report.temp_removed += 1;
                continue;
            }
            let Some(name_seq) = seq_of(&path) else {
                continue;
            };
            match read_verified(&path, capacity) {
                Ok((h, _)) if h.seq == name_seq => {
                    found.push((h.seq, h.timecode_ms, SpoolFile { path, len: h.len }))
                }
                Ok((h, _)) => Self::discard(
                    &path,
                    &format!("header seq {} does not match the file name", h.seq),
                    &mut report,
                )?,
                Err(SpoolError::Corrupt { reason, .. }) => {
                    Self::discard(&path, &reason, &mut report)?
                }
                Err(e) => return Err(e),
            }
        }
        found.sort_by_key(|(seq, _, _)| *seq);
        let mut buffer = FragmentBuffer::starting_at(capacity, 0);
        for (seq, timecode_ms, file) in found {
            for old in buffer.insert(seq, timecode_ms, file)? {
                report.dropped_over_capacity += 1;
                Self::remove(&old.payload.path)?;
            }
        }
        report.recovered = buffer.unacknowledged_from(0).map(|e| e.seq).collect();
        if !report.recovered.is_empty() {
            tracing::info!(fragments = report.recovered.len(), dir = %dir.display(), "recovered unpersisted fragments from the spool");
        }
        Ok((
            Self {
                dir,
                buffer,
                _lock: lock,
            },
            report,
        ))
    }

    fn discard(path: &Path, reason: &str, report: &mut RecoveryReport) -> Result<(), SpoolError> {
        tracing::warn!(path = %path.display(), reason, "dropping a torn or corrupt spool file; it will not be sent");
        report.corrupt_removed += 1;
        Self::remove(path)
    }

    fn remove(path: &Path) -> Result<(), SpoolError> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path)(e)),
            _ => Ok(()),
        }
    }

    /// Durably stores a fragment; returns its sequence number and how many
    /// oldest fragments were dropped (and deleted) to make room.
    pub fn push(&mut self, timecode_ms: i64, payload: &[u8]) -> Result<(u64, usize), SpoolError> {
        let seq = self.buffer.next_seq();
        let capacity = self.buffer.stats().capacity;
        if payload.len() as u64 > capacity {
            return Err(BufferError::FragmentLargerThanBuffer {
                timecode_ms,
                bytes: payload.len() as u64,
                capacity,
            }
            .into());
        }
        let path = self.dir.join(format!("{seq:020}.{EXT}"));
        let tmp = path.with_extension(format!("{EXT}.{TMP_EXT}"));
        let header = Header {
            seq,
            timecode_ms,
            len: payload.len() as u64,
            hash: sha256(payload),
        };
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        f.write_all(&header.encode()).map_err(io("write", &tmp))?;
        f.write_all(payload).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io("rename", &tmp))?;
        // The rename is durable only once the directory entry is.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync directory", &self.dir))?;
        let pushed = self.buffer.push(
            timecode_ms,
            SpoolFile {
                path,
                len: payload.len() as u64,
            },
        )?;
        for old in &pushed.evicted {
            Self::remove(&old.payload.path)?;
        }
        Ok((pushed.seq, pushed.evicted.len()))
    }

    /// Reads fragment `seq` back, re-verifying its hash (disks rot while we wait).
    pub fn read(&self, seq: u64) -> Result<Bytes, SpoolError> {
        let entry = self.buffer.get(seq).ok_or(SpoolError::NotFound { seq })?;
        let (_, payload) = read_verified(&entry.payload.path, entry.payload.len)?;
        Ok(Bytes::from(payload))
    }

    /// Records that fragment `seq` was written to the connection.
    pub fn mark_sent(&mut self, seq: u64) -> bool {
        self.buffer.mark_sent(seq)
    }

    /// Applies an ACK; PERSISTED deletes the fragment's file.
    pub fn on_ack(
        &mut self,
        kind: AckKind,
        timecode_ms: i64,
    ) -> Result<AckOutcome<SpoolFile>, SpoolError> {
        let outcome = self.buffer.on_ack(kind, timecode_ms);
        if let AckOutcome::Persisted(e) = &outcome {
            Self::remove(&e.payload.path)?;
        }
        Ok(outcome)
    }

    /// After a lost connection: resend everything not persisted.
    pub fn requeue_all(&mut self) {
        self.buffer.requeue_all();
    }

    /// The oldest fragment not yet sent on the current connection.
    pub fn next_unsent(&self) -> Option<&Entry<SpoolFile>> {
        self.buffer.next_unsent()
    }

    /// Fragments not yet persisted with `seq >= from`, oldest first.
    pub fn unacknowledged_from(&self, from: u64) -> impl Iterator<Item = &Entry<SpoolFile>> {
        self.buffer.unacknowledged_from(from)
    }

    /// State of fragment `seq`, if held.
    pub fn state(&self, seq: u64) -> Option<FragmentState> {
        self.buffer.get(seq).map(|e| e.state)
    }

    /// Counters.
    pub fn stats(&self) -> BufferStats {
        self.buffer.stats()
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn payload(i: u64) -> Vec<u8> {
        (0..1000 + i * 10).map(|b| (b as u8) ^ (i as u8)).collect()
    }

    fn write_n(dir: &Path, n: u64) -> Spool {
        let (mut spool, report) = Spool::open(dir, 1 << 20).unwrap();
        assert_eq!(report, RecoveryReport::default());
        for i in 0..n {
            assert_eq!(
                spool.push(1_000 + i as i64 * 2000, &payload(i)).unwrap(),
                (i, 0)
            );
        }
        spool
    }

    fn file(dir: &Path, seq: u64) -> PathBuf {
        dir.join(format!("{seq:020}.kvsfrag"))
    }

    #[test]
    fn spool_recovers_exactly_the_intact_fragments_in_order() {
        let dir = tempfile::tempdir().unwrap();
        drop(write_n(dir.path(), 6));
        // Torn write: truncated payload.
        let f1 = file(dir.path(), 1);
        let len = fs::metadata(&f1).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&f1)
            .unwrap()
            .set_len(len - 7)
            .unwrap();
        // Bit rot: one payload byte flipped.
        let f3 = file(dir.path(), 3);
        let mut bytes = fs::read(&f3).unwrap();
        bytes[HEADER_LEN + 5] ^= 0x01;
        fs::write(&f3, bytes).unwrap();
        // Torn header.
        fs::write(file(dir.path(), 4), &SPOOL_MAGIC[..5]).unwrap();
        // A crash between write and rename leaves a temp file.
        fs::write(
            dir.path().join("00000000000000000006.kvsfrag.tmp"),
            b"partial",
        )
        .unwrap();
        // Unrelated files are left alone.
        fs::write(dir.path().join("README"), b"x").unwrap();

        let (spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(report.recovered, vec![0, 2, 5]);
        assert_eq!((report.corrupt_removed, report.temp_removed), (3, 1));
        for seq in [0, 2, 5] {
            assert_eq!(spool.read(seq).unwrap(), Bytes::from(payload(seq)));
            assert_eq!(
                spool.unacknowledged_from(seq).next().unwrap().timecode_ms,
                1_000 + seq as i64 * 2000
            );
        }
        assert!(!f1.exists() && !f3.exists() && dir.path().join("README").exists());
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names.len(), 5, "{names:?}");
    }

    #[test]
    fn spool_refuses_a_directory_another_producer_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (first, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(matches!(
            Spool::open(dir.path(), 1 << 20),
            Err(SpoolError::Locked { .. })
        ));
        drop(first);
        assert!(Spool::open(dir.path(), 1 << 20).is_ok());
    }

    #[test]
    fn spool_continues_numbering_after_recovery_and_deletes_on_persisted() {
        let dir = tempfile::tempdir().unwrap();
        drop(write_n(dir.path(), 3));
        let (mut spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(spool.push(99_000, b"new").unwrap(), (3, 0));
        let out = spool.on_ack(AckKind::Persisted, 1_000).unwrap();
        assert!(matches!(out, AckOutcome::Persisted(Entry { seq: 0, .. })));
        assert!(!file(dir.path(), 0).exists());
        spool.on_ack(AckKind::Received, 3_000).unwrap();
        assert_eq!(spool.state(1), Some(FragmentState::Received));
        drop(spool);
        let (_, report) = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(report.recovered, vec![1, 2, 3]);
    }

    #[test]
    fn spool_is_bounded_and_counts_dropped_fragments() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), 2500).unwrap();
        for i in 0..3 {
            spool.push(i * 1000, &[i as u8; 1000]).unwrap();
        }
        assert_eq!(spool.stats().dropped_fragments, 1);
        assert!(!file(dir.path(), 0).exists());
        assert!(matches!(
            spool.read(0),
            Err(SpoolError::NotFound { seq: 0 })
        ));
        drop(spool);
        // Reopening with a smaller size drops the oldest intact ones, counted.
        let (spool, report) = Spool::open(dir.path(), 1500).unwrap();
        assert_eq!(
            (report.recovered.clone(), report.dropped_over_capacity),
            (vec![2], 1)
        );
        assert!(!file(dir.path(), 1).exists());
        assert_eq!(spool.read(2).unwrap(), Bytes::from(vec![2u8; 1000]));
    }

    #[test]
    fn spool_read_detects_corruption_after_startup() {
        let dir = tempfile::tempdir().unwrap();
        let spool = write_n(dir.path(), 1);
        let f0 = file(dir.path(), 0);
        let mut bytes = fs::read(&f0).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x80;
        fs::write(&f0, bytes).unwrap();
        assert!(matches!(spool.read(0), Err(SpoolError::Corrupt { .. })));
    }
}
