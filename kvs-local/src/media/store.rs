//! Fragment storage of one stream: `STREAM_DIR/fragments/NUMBER.mkv` (each a plain,
//! playable MKV file holding exactly the producer's bytes KVS would keep) plus
//! `STREAM_DIR/fragments/index.jsonl`, one JSON line per *complete* fragment.
//!
//! Crash safety: a fragment file is written to a temporary name, synced and renamed before
//! its index line is appended (and synced). The index is the only source of truth: on
//! open, a torn last line is cut off, and files that no line names (a fragment that was
//! being received or persisted when the process died) are deleted. So a half-received
//! fragment is never served as complete.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::fsutil;

/// Folder of the fragments inside a stream's folder.
pub const FRAGMENTS_DIR: &str = "fragments";
/// The index file inside [`FRAGMENTS_DIR`].
pub const INDEX_FILE: &str = "index.jsonl";

/// Leading digits of every fragment number: real KVS numbers are 47-digit decimal strings
/// starting like this (`91343852333181432407537343122594611150428754261`).
const NUMBER_PREFIX: &str = "91343852333";
/// Digits after the prefix (47 in all, as on KVS).
const NUMBER_DIGITS: usize = 36;

/// What the index records of one complete fragment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FragmentMeta {
    /// The fragment number (decimal string).
    pub fragment_number: String,
    /// When kvs-local received the fragment's first byte (ms since the epoch).
    pub server_timestamp_ms: i64,
    /// The producer's timestamp of the fragment (ms since the epoch).
    pub producer_timestamp_ms: i64,
    /// The Cluster timecode as sent, in the producer's timecode units.
    pub cluster_timecode: u64,
    /// Duration in milliseconds (last frame minus first).
    pub duration_ms: i64,
    /// Size of the fragment file in bytes.
    pub size: u64,
    /// Byte offset of the Cluster in the file: GetMedia inserts KVS's fragment tags here.
    pub cluster_offset: u64,
}

impl FragmentMeta {
    /// The fragment number as an integer (for ordering); 0 if it is not one of ours.
    pub fn ordinal(&self) -> u128 {
        number_ordinal(&self.fragment_number)
    }
}

/// The numeric part of a fragment number we issued (`None` for anything else).
pub fn parse_number(number: &str) -> Option<u128> {
    let rest = number.strip_prefix(NUMBER_PREFIX)?;
    if rest.len() != NUMBER_DIGITS || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

fn number_ordinal(number: &str) -> u128 {
    parse_number(number).unwrap_or(0)
}

fn format_number(n: u128) -> String {
    format!("{NUMBER_PREFIX}{n:0width$}", width = NUMBER_DIGITS)
}

/// The complete lines of an index and the byte length they cover. A line without its
/// newline, or one that does not parse, was being appended when the process stopped: it
/// and anything after it never became durable.
fn parse_index(text: &[u8]) -> (Vec<FragmentMeta>, usize) {
    let mut fragments = Vec::new();
    let mut good_len = 0usize;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let Some(body) = line.strip_suffix(b"\n") else {
            break;
        };
        match serde_json::from_slice::<FragmentMeta>(body) {
            Ok(m) => fragments.push(m),
            Err(_) => break,
        }
        good_len += line.len();
    }
    (fragments, good_len)
}

/// The stored fragments of one stream, oldest first.
#[derive(Debug)]
pub struct FragmentStore {
    dir: PathBuf,
    fragments: Vec<FragmentMeta>,
    last_number: u128,
}

impl FragmentStore {
    /// A read-only view of a stream's stored fragments: reads the index (complete lines
    /// only) and changes nothing, so it is safe while a server writes the stream (tests,
    /// tools). `read` works; do not `persist` or `expire` through it.
    pub fn open(stream_dir: &Path) -> Result<Self, Error> {
        let fragments = Self::read_index(stream_dir)?;
        Ok(Self {
            last_number: fragments
                .iter()
                .map(FragmentMeta::ordinal)
                .max()
                .unwrap_or(0),
            dir: stream_dir.join(FRAGMENTS_DIR),
            fragments,
        })
    }

    /// Opens (creating if needed) `stream_dir/fragments` for the server that owns it,
    /// recovering from a crash: cuts a torn last index line and deletes files the index
    /// does not name. Never call this on a stream a running server serves.
    pub fn recover(stream_dir: &Path) -> Result<Self, Error> {
        let dir = stream_dir.join(FRAGMENTS_DIR);
        fsutil::create_dir_private(&dir)?;
        let index = dir.join(INDEX_FILE);
        let text = match fs::read(&index) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("read", &index, e)),
        };
        let (mut fragments, good_len) = parse_index(&text);
        if good_len != text.len() {
            tracing::warn!(index = %index.display(), kept = fragments.len(), "cutting a torn fragment index line");
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&index)
                .map_err(|e| Error::io("open", &index, e))?;
            f.set_len(good_len as u64)
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::io("truncate", &index, e))?;
        }
        // Two connections may persist fragments out of number order: keep them sorted.
        fragments.sort_by_key(FragmentMeta::ordinal);
        let store = Self {
            last_number: fragments
                .iter()
                .map(FragmentMeta::ordinal)
                .max()
                .unwrap_or(0),
            dir,
            fragments,
        };
        store.remove_strays()?;
        Ok(store)
    }

    /// The complete fragments of a stream as its index lists them (ascending number),
    /// without touching anything: safe while a server is writing (tests, tools).
    pub fn read_index(stream_dir: &Path) -> Result<Vec<FragmentMeta>, Error> {
        let index = stream_dir.join(FRAGMENTS_DIR).join(INDEX_FILE);
        let text = match fs::read(&index) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("read", &index, e)),
        };
        let (mut fragments, _) = parse_index(&text);
        fragments.sort_by_key(FragmentMeta::ordinal);
        Ok(fragments)
    }

    /// Deletes files the index does not name (temporary files, unfinished fragments).
    fn remove_strays(&self) -> Result<(), Error> {
        let entries = fs::read_dir(&self.dir).map_err(|e| Error::io("list", &self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", &self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == INDEX_FILE {
                continue;
            }
            let known = name
                .strip_suffix(".mkv")
                .is_some_and(|n| self.fragments.iter().any(|f| f.fragment_number == n));
            if !known {
                tracing::info!(file = %entry.path().display(), "removing an unfinished fragment");
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// A new fragment number, greater than every earlier one of this stream (also across
    /// restarts): derived from the clock so numbers also grow like KVS's with time.
    pub fn next_number(&mut self, now_ms: i64) -> String {
        let from_clock = u128::try_from(now_ms).unwrap_or(0) * 1_000_000;
        self.last_number = from_clock.max(self.last_number + 1);
        format_number(self.last_number)
    }

    /// The complete fragments in ascending fragment-number order.
    pub fn fragments(&self) -> &[FragmentMeta] {
        &self.fragments
    }

    /// The fragment numbered `number`.
    pub fn get(&self, number: &str) -> Option<&FragmentMeta> {
        self.fragments.iter().find(|f| f.fragment_number == number)
    }

    fn path_of(&self, number: &str) -> PathBuf {
        self.dir.join(format!("{number}.mkv"))
    }

    /// Stores a complete fragment durably: file first, then its index line.
    pub fn persist(&mut self, meta: FragmentMeta, bytes: &[u8]) -> Result<(), Error> {
        fsutil::write_atomic(&self.path_of(&meta.fragment_number), bytes)?;
        let mut line = serde_json::to_vec(&meta).expect("fragment metadata serializes");
        line.push(b'\n');
        let index = self.dir.join(INDEX_FILE);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&index)
            .map_err(|e| Error::io("open", &index, e))?;
        f.write_all(&line)
            .and_then(|()| f.sync_data())
            .map_err(|e| Error::io("append to", &index, e))?;
        let at = self
            .fragments
            .partition_point(|f| f.ordinal() < meta.ordinal());
        self.fragments.insert(at, meta);
        Ok(())
    }

    /// Reads a stored fragment's file.
    pub fn read(&self, meta: &FragmentMeta) -> Result<Vec<u8>, Error> {
        let path = self.path_of(&meta.fragment_number);
        fs::read(&path).map_err(|e| Error::io("read", &path, e))
    }

    /// Drops fragments received before `cutoff_ms` (data retention): index first (rewritten
    /// atomically), then their files. Returns how many were dropped.
    pub fn expire(&mut self, cutoff_ms: i64) -> Result<usize, Error> {
        if self
            .fragments
            .iter()
            .all(|f| f.server_timestamp_ms >= cutoff_ms)
        {
            return Ok(0);
        }
        let (dropped, kept): (Vec<FragmentMeta>, Vec<FragmentMeta>) = self
            .fragments
            .drain(..)
            .partition(|f| f.server_timestamp_ms < cutoff_ms);
        let mut text = Vec::new();
        for m in &kept {
            text.extend(serde_json::to_vec(m).expect("fragment metadata serializes"));
            text.push(b'\n');
        }
        self.fragments = kept;
        fsutil::write_atomic(&self.dir.join(INDEX_FILE), &text)?;
        for m in &dropped {
            let _ = fs::remove_file(self.path_of(&m.fragment_number));
        }
        Ok(dropped.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(number: String, server_ms: i64) -> FragmentMeta {
        FragmentMeta {
            fragment_number: number,
            server_timestamp_ms: server_ms,
            producer_timestamp_ms: server_ms,
            cluster_timecode: 0,
            duration_ms: 1000,
            size: 3,
            cluster_offset: 0,
        }
    }

    #[test]
    fn numbers_are_47_digits_and_increase_across_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = FragmentStore::recover(dir.path()).expect("open");
        let a = s.next_number(1_700_000_000_000);
        let b = s.next_number(1_600_000_000_000); // clock went back: still increases
        assert_eq!(a.len(), 47);
        assert!(parse_number(&b) > parse_number(&a));
        s.persist(meta(b.clone(), 1), b"abc").expect("persist");
        let mut s = FragmentStore::recover(dir.path()).expect("reopen");
        let c = s.next_number(0);
        assert!(parse_number(&c) > parse_number(&b));
        assert_eq!(s.fragments().len(), 1);
    }

    #[test]
    fn torn_index_line_and_unindexed_files_are_dropped_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = FragmentStore::recover(dir.path()).expect("open");
        let a = s.next_number(1);
        s.persist(meta(a.clone(), 1), b"abc").expect("persist");
        let b = s.next_number(2);
        let frag_dir = dir.path().join(FRAGMENTS_DIR);
        // A crash while persisting b: its file exists, its index line is torn.
        fs::write(frag_dir.join(format!("{b}.mkv")), b"half").expect("write");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(frag_dir.join(INDEX_FILE))
            .expect("open index");
        f.write_all(b"{\"FragmentNumber\":\"9").expect("append");
        drop(f);
        // A read-only view ignores the torn line and the stray file and touches nothing.
        let view = FragmentStore::open(dir.path()).expect("view");
        assert_eq!(view.fragments().len(), 1);
        assert!(frag_dir.join(format!("{b}.mkv")).exists());
        let s = FragmentStore::recover(dir.path()).expect("reopen");
        assert_eq!(s.fragments().len(), 1);
        assert!(!frag_dir.join(format!("{b}.mkv")).exists());
        assert_eq!(s.read(&s.fragments()[0]).expect("read"), b"abc");
        let text = fs::read_to_string(frag_dir.join(INDEX_FILE)).expect("index");
        assert!(text.ends_with("}\n") && text.lines().count() == 1);
    }

    #[test]
    fn fragments_persisted_out_of_order_are_kept_in_number_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = FragmentStore::recover(dir.path()).expect("open");
        let a = s.next_number(1);
        let b = s.next_number(2);
        s.persist(meta(b.clone(), 2), b"b").expect("persist");
        s.persist(meta(a.clone(), 1), b"a").expect("persist");
        let order = |s: &FragmentStore| {
            s.fragments()
                .iter()
                .map(|f| f.fragment_number.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&s), [a.clone(), b.clone()]);
        let s = FragmentStore::recover(dir.path()).expect("reopen");
        assert_eq!(order(&s), [a, b]);
    }

    #[test]
    fn expiry_drops_old_fragments_and_their_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = FragmentStore::recover(dir.path()).expect("open");
        for t in [10, 20, 30] {
            let n = s.next_number(t);
            s.persist(meta(n, t), b"x").expect("persist");
        }
        let old = s.fragments()[0].clone();
        assert_eq!(s.expire(15).expect("expire"), 1);
        assert_eq!(s.fragments().len(), 2);
        assert!(s.read(&old).is_err());
        let s = FragmentStore::recover(dir.path()).expect("reopen");
        assert_eq!(s.fragments().len(), 2);
    }
}
