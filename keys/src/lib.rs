//! Key management for kvs-e2ee: camera and viewer identities with key
//! generations, the bech32 text form of keys, and recipients / trusted-cameras
//! files. The file formats and the operational rules are in `docs/KEYS.md`.
//!
//! ```
//! use kvs_e2ee_keys::{Identity, KeyKind, KeyList, decode_public};
//!
//! let mut rng = rand::rngs::SysRng;
//! let mut rng = rand::rand_core::UnwrapErr(&mut rng);
//! let viewer = Identity::generate(KeyKind::Viewer, &mut rng);
//! let line = format!("{} alice\n", viewer.public_text());
//! let recipients = KeyList::parse(&line, "recipients", KeyKind::Viewer)?;
//! assert_eq!(recipients.entries()[0].key, viewer.public_key());
//! assert_eq!(decode_public(&viewer.public_text())?.0, KeyKind::Viewer);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - [`kind`]: [`KeyKind`] (viewer / camera) and its bech32 prefixes.
//! - [`text`]: bech32 encode/decode of public ([`PublicKeyText`]) and secret keys.
//! - [`identity`]: [`Identity`] files with [`Generation`]s (load, generate, rotate, retire, save).
//! - [`list`]: [`KeyList`] for recipients and trusted-cameras files.
//! - [`pair`]: [`PairFiles`], a camera and a viewer that trust each other, as
//!   files (the set-up of end-to-end tests and demos).
//! - [`error`]: [`KeyError`], naming file and line.
#![forbid(unsafe_code)]

pub mod error;
mod file;
pub mod identity;
pub mod kind;
pub mod list;
pub mod pair;
pub mod text;

pub use error::{KeyError, Result, TextError};
pub use identity::{Generation, Identity, Status, parse_key_id};
pub use kind::KeyKind;
pub use kvs_e2ee_envelope::{KeyId, PublicKey, SecretKey};
pub use list::{KeyList, KeyListEntry};
pub use pair::PairFiles;
pub use text::{PublicKeyText, decode_public, encode_public};
