//! The two kinds of key holder, and the bech32 prefixes that keep their keys apart.
//!
//! Viewer and camera keys are both X25519 keys; only the text prefix tells
//! them apart, so a camera key pasted into a recipients file is refused
//! instead of silently encrypting video to a camera.

use std::fmt;
use std::str::FromStr;

/// Who holds a key: a viewer (decrypts video) or a camera (encrypts and authenticates it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A viewer: listed in cameras' recipients files, decrypts video.
    Viewer,
    /// A camera: listed in viewers' trusted-cameras files, the HPKE sender.
    Camera,
}

impl KeyKind {
    /// Both kinds, for iteration.
    pub const ALL: [KeyKind; 2] = [KeyKind::Viewer, KeyKind::Camera];

    /// Lowercase name as written in identity file headers and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Viewer => "viewer",
            KeyKind::Camera => "camera",
        }
    }

    /// Bech32 human-readable part of this kind's public keys (`kvsviewer1…`).
    pub fn public_hrp(self) -> &'static str {
        match self {
            KeyKind::Viewer => "kvsviewer",
            KeyKind::Camera => "kvscamera",
        }
    }

    /// Bech32 human-readable part of this kind's secret keys, written uppercase as age does.
    pub fn secret_hrp(self) -> &'static str {
        match self {
            KeyKind::Viewer => "KVS-E2EE-VIEWER-SECRET-KEY-",
            KeyKind::Camera => "KVS-E2EE-CAMERA-SECRET-KEY-",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`KeyKind`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key kind `{0}` (expected `viewer` or `camera`)")]
pub struct ParseKindError(String);

impl FromStr for KeyKind {
    type Err = ParseKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseKindError(s.to_owned()))
    }
}
