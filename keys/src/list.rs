//! Recipients and trusted-cameras files: one public key per line, an optional label.
//!
//! A camera's recipients file lists the viewer keys each fragment's content
//! key is wrapped to; a viewer's trusted-cameras file lists the camera keys
//! whose video it accepts. One format for both, differing only in the kind of
//! key allowed, so a key pasted into the wrong file is an error that names
//! the file and line rather than video encrypted to a camera.
//!
//! ```text
//! # Alice's phone
//! kvsviewer1…   alice-phone
//! kvsviewer1…   # no label, a comment
//! ```

use std::path::Path;

use kvs_e2ee_envelope::{KeyId, PublicKey};

use crate::error::{KeyError, Result};
use crate::file::{self, MAX_LIST_BYTES};
use crate::kind::KeyKind;
use crate::text;

/// One line of a key list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListEntry {
    /// The public key.
    pub key: PublicKey,
    /// The text after the key, up to a comment, if any.
    pub label: Option<String>,
    /// 1-based line number in the file.
    pub line: usize,
}

impl KeyListEntry {
    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.key.key_id()
    }
}

/// A parsed recipients (viewer keys) or trusted-cameras (camera keys) file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyList {
    kind: KeyKind,
    source: String,
    entries: Vec<KeyListEntry>,
}

impl KeyList {
    /// Reads and parses a list file; every key must be of `expected_kind`.
    pub fn load(path: &Path, expected_kind: KeyKind) -> Result<Self> {
        let text = file::read_bounded(path, MAX_LIST_BYTES, false)?;
        Self::parse(&text, &path.display().to_string(), expected_kind)
    }

    /// Parses list text; `source_name` names it in errors.
    ///
    /// Rules: blank lines are skipped; a word starting with `#` starts a
    /// comment that runs to the end of the line; the first word is the key;
    /// the remaining words (before any comment) are the label. A key listed
    /// twice is an error (it would be a copy-paste slip, and would wrap twice).
    pub fn parse(text: &str, source_name: &str, expected_kind: KeyKind) -> Result<Self> {
        let mut entries: Vec<KeyListEntry> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = strip_comment(raw);
            let mut words = content.split_whitespace();
            let Some(key_word) = words.next() else {
                continue;
            };
            let (kind, key) =
                text::decode_public(key_word).map_err(|source| KeyError::ListKey {
                    file: source_name.to_owned(),
                    line,
                    source,
                })?;
            if kind != expected_kind {
                return Err(KeyError::ListWrongKind {
                    file: source_name.to_owned(),
                    line,
                    expected: expected_kind,
                    found: kind,
                });
            }
            if let Some(first) = entries.iter().find(|e| e.key == key) {
                return Err(KeyError::ListDuplicate {
                    file: source_name.to_owned(),
                    line,
                    first: first.line,
                    id: key.key_id(),
                });
            }
            let label: Vec<&str> = words.collect();
            let label = (!label.is_empty()).then(|| label.join(" "));
            entries.push(KeyListEntry { key, label, line });
        }
        Ok(Self {
            kind: expected_kind,
            source: source_name.to_owned(),
            entries,
        })
    }

    /// The kind of key this list holds.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The file (or source name) it was read from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[KeyListEntry] {
        &self.entries
    }

    /// The public keys, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> + '_ {
        self.entries.iter().map(|e| &e.key)
    }

    /// The entry whose key has this id.
    pub fn by_id(&self, id: &KeyId) -> Option<&KeyListEntry> {
        self.entries.iter().find(|e| e.key.key_id() == *id)
    }

    /// Whether the list holds this key.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.entries.iter().any(|e| e.key == *key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the file lists no key (only comments or blank lines).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The part of a line before the first word that starts with `#`.
fn strip_comment(line: &str) -> &str {
    let mut prev_ws = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_ws {
            return &line[..i];
        }
        prev_ws = c.is_whitespace();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::encode_public;

    fn key(kind: KeyKind, b: u8) -> (PublicKey, String) {
        let k = PublicKey::from_bytes([b; 32]);
        (k, encode_public(kind, &k))
    }

    #[test]
    fn parses_comments_blank_lines_and_labels() {
        let (a, at) = key(KeyKind::Viewer, 1);
        let (b, bt) = key(KeyKind::Viewer, 2);
        let (c, ct) = key(KeyKind::Viewer, 3);
        let text = format!(
            "# recipients of the front-door camera\n\n  {at}   alice  phone  \n\t{bt} # bob, no label\n{ct} carol#2 # tablet\n   # indented comment\n"
        );
        let list = KeyList::parse(&text, "recipients.txt", KeyKind::Viewer).expect("valid");
        let got: Vec<_> = list
            .entries()
            .iter()
            .map(|e| (e.key, e.label.as_deref(), e.line))
            .collect();
        assert_eq!(
            got,
            vec![
                (a, Some("alice phone"), 3),
                (b, None, 4),
                (c, Some("carol#2"), 5)
            ]
        );
        assert_eq!(list.by_id(&b.key_id()).map(|e| e.line), Some(4));
        assert!(list.contains(&c));
        assert_eq!(list.len(), 3);
    }

    #[test]
    fn empty_list_parses_as_empty() {
        let list = KeyList::parse("# nobody yet\n\n", "r", KeyKind::Viewer).expect("valid");
        assert!(list.is_empty());
    }

    #[test]
    fn camera_key_in_recipients_file_is_rejected_with_line_number() {
        let (_, vt) = key(KeyKind::Viewer, 1);
        let (_, ct) = key(KeyKind::Camera, 2);
        let text = format!("{vt} alice\n# x\n{ct} oops\n");
        let err = KeyList::parse(&text, "cam/recipients", KeyKind::Viewer).expect_err("wrong kind");
        assert!(matches!(err, KeyError::ListWrongKind { line: 3, .. }));
        assert_eq!(
            err.to_string(),
            "cam/recipients:3: this is a camera public key; this file lists viewer keys"
        );
    }

    #[test]
    fn viewer_key_in_trusted_cameras_file_is_rejected() {
        let (_, vt) = key(KeyKind::Viewer, 1);
        let err = KeyList::parse(&vt, "trusted", KeyKind::Camera).expect_err("wrong kind");
        assert!(matches!(err, KeyError::ListWrongKind { line: 1, .. }));
    }

    #[test]
    fn typo_is_an_error_naming_file_and_line() {
        let (_, vt) = key(KeyKind::Viewer, 1);
        let typo = vt.replacen('q', "p", 1);
        let text = format!("\n\n{typo} alice\n");
        let err = KeyList::parse(&text, "recipients", KeyKind::Viewer).expect_err("typo");
        assert!(matches!(err, KeyError::ListKey { line: 3, .. }), "{err}");
        assert!(err.to_string().starts_with("recipients:3: "), "{err}");
    }

    #[test]
    fn secret_key_pasted_into_list_is_refused_without_echoing_it() {
        let secret = crate::text::encode_secret(
            KeyKind::Viewer,
            &kvs_e2ee_envelope::SecretKey::from_bytes([5; 32]),
        );
        let err = KeyList::parse(&secret, "recipients", KeyKind::Viewer).expect_err("secret");
        let msg = err.to_string();
        assert!(msg.contains("SECRET key"), "{msg}");
        assert!(!msg.contains(&secret[28..40]), "{msg}");
    }

    #[test]
    fn duplicate_key_is_rejected_with_both_lines() {
        let (_, vt) = key(KeyKind::Viewer, 1);
        let text = format!("{vt} a\n{vt} b\n");
        let err = KeyList::parse(&text, "r", KeyKind::Viewer).expect_err("duplicate");
        assert!(matches!(
            err,
            KeyError::ListDuplicate {
                line: 2,
                first: 1,
                ..
            }
        ));
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("trusted-cameras");
        let (c, ct) = key(KeyKind::Camera, 4);
        std::fs::write(&path, format!("{ct} porch\nnot-a-key\n")).expect("write");
        let err = KeyList::load(&path, KeyKind::Camera).expect_err("bad line 2");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:2: ", path.display())),
            "{err}"
        );
        std::fs::write(&path, format!("{ct} porch\n")).expect("write");
        let list = KeyList::load(&path, KeyKind::Camera).expect("valid");
        assert_eq!(list.entries()[0].key, c);
    }

    #[test]
    fn oversized_list_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'#'; MAX_LIST_BYTES as usize + 1]).expect("write");
        let err = KeyList::load(&path, KeyKind::Viewer).expect_err("too large");
        assert!(matches!(err, KeyError::TooLarge { .. }));
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(text in ".{0,400}") {
            let _ = KeyList::parse(&text, "fuzz", KeyKind::Viewer);
        }

        #[test]
        fn parse_never_panics_on_key_like_lines(
            lines in proptest::collection::vec("(kvsviewer1|kvscamera1|#)?[qpzry9x8gf2tvdw0s3jn54khce6mua7l #]{0,80}", 0..8)
        ) {
            let _ = KeyList::parse(&lines.join("\n"), "fuzz", KeyKind::Camera);
        }
    }
}
