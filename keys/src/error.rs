//! The one error type of the key layer; every message names the file (and line) at fault.
//!
//! No variant carries key material: parse errors describe what was wrong with
//! a line, never echo it, because the line may hold a secret key.

use std::path::PathBuf;

use crate::kind::KeyKind;

/// Why a key text (bech32) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// Not a well-formed bech32 string, or its checksum does not match (a typo).
    #[error("not a valid key: {0} (a typo? the checksum catches mistyped characters)")]
    Bech32(String),
    /// A well-formed bech32 string whose prefix is not one of ours.
    #[error("unknown key prefix `{0}` (expected `kvsviewer1…` or `kvscamera1…`)")]
    UnknownPrefix(String),
    /// A secret key was given where a public key belongs.
    #[error(
        "this is a SECRET key; it must never be shared (use `kvs-e2ee-keys public FILE` to get the public key)"
    )]
    SecretWherePublicExpected,
    /// The payload is not exactly 32 bytes with zero padding.
    #[error("key payload is {0} bytes; an X25519 key is 32")]
    WrongLength(usize),
}

/// Everything that can go wrong loading, parsing or saving keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An I/O error on a named file. The OS error is part of the message and not chained
    /// as a source, so a report that prints the chain says it once.
    #[error("{path}: {error}", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The target of `save_new` already exists.
    #[error("{path}: already exists; refusing to overwrite a key file", path = .path.display())]
    AlreadyExists {
        /// The file that exists.
        path: PathBuf,
    },
    /// A secret key file is readable or writable by group or others.
    #[error(
        "{path}: permissions {mode:04o} are too open; a secret key file must be accessible only by its owner (run `chmod 600 {path}`)",
        path = .path.display()
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its Unix permission bits.
        mode: u32,
    },
    /// The path is not a regular file.
    #[error("{path}: not a regular file", path = .path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is larger than any valid file of its kind.
    #[error("{path}: larger than the {limit}-byte limit for this kind of file", path = .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file is not valid UTF-8 text.
    #[error("{file}:{line}: not valid UTF-8 text")]
    NotUtf8 {
        /// The file (or source name).
        file: String,
        /// The first line with invalid UTF-8 (1-based).
        line: usize,
    },
    /// A malformed line in an identity (secret key) file.
    #[error("{file}:{line}: {reason}")]
    IdentityFormat {
        /// The file (or source name).
        file: String,
        /// 1-based line number (0 when the problem is the file as a whole).
        line: usize,
        /// What is wrong (never the line itself: it may hold a secret).
        reason: String,
    },
    /// An identity file holds a different kind of key than required.
    #[error("{file}: is a {found} identity, expected a {expected} identity")]
    WrongIdentityKind {
        /// The file.
        file: String,
        /// The kind required.
        expected: KeyKind,
        /// The kind found.
        found: KeyKind,
    },
    /// A malformed public key on a line of a recipients or trusted-cameras file.
    #[error("{file}:{line}: {source}")]
    ListKey {
        /// The file (or source name).
        file: String,
        /// 1-based line number.
        line: usize,
        /// Why the key did not decode.
        #[source]
        source: TextError,
    },
    /// A key of the wrong kind in a recipients or trusted-cameras file.
    #[error("{file}:{line}: this is a {found} public key; this file lists {expected} keys")]
    ListWrongKind {
        /// The file (or source name).
        file: String,
        /// 1-based line number.
        line: usize,
        /// The kind the file lists.
        expected: KeyKind,
        /// The kind found on the line.
        found: KeyKind,
    },
    /// The same key appears twice in a list.
    #[error("{file}:{line}: duplicate key (key id {id}), first listed on line {first}")]
    ListDuplicate {
        /// The file (or source name).
        file: String,
        /// 1-based line number of the repeat.
        line: usize,
        /// 1-based line number of the first occurrence.
        first: usize,
        /// The key's id.
        id: kvs_e2ee_envelope::KeyId,
    },
    /// A bare key text (not from a file) did not decode.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A public key of the wrong kind was given.
    #[error("this is a {found} public key; expected a {expected} public key")]
    WrongKind {
        /// The kind required.
        expected: KeyKind,
        /// The kind found.
        found: KeyKind,
    },
    /// No generation with this key id (or number) exists.
    #[error("no generation with key id {0}")]
    NoSuchGeneration(String),
    /// The active (newest) generation cannot be retired.
    #[error(
        "generation {number} (key id {id}) is the active key; rotate first, then retire the old generation"
    )]
    RetireActive {
        /// Its generation number.
        number: u32,
        /// Its key id.
        id: kvs_e2ee_envelope::KeyId,
    },
    /// A newly generated key equals an existing generation (the RNG is broken).
    #[error("the new key equals an existing generation: the random number generator is broken")]
    RepeatedKey,
    /// The generation counter would overflow.
    #[error("too many generations")]
    GenerationOverflow,
}

/// `Result` with [`KeyError`] as the default error.
pub type Result<T, E = KeyError> = std::result::Result<T, E>;
