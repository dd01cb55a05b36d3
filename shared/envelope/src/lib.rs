//! The kvs-e2ee encryption envelope (format v1, specified in `docs/FORMAT.md`).
//!
//! A camera seals every fragment (one Matroska Cluster) under a fresh content key `K`,
//! wrapped for each viewer with HPKE Auth mode; headers travel as KVS fragment metadata
//! (MKV `Tags`); each frame is sealed in place (ChaCha20-Poly1305, or AES-256-GCM where the
//! CPU has AES instructions); a hash chain over fragments
//! lets a viewer detect deletion, truncation, reordering, replay and splicing.
//!
//! # Producer
//! ```
//! # use kvs_e2ee_envelope::*;
//! # let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! # use rand::SeedableRng;
//! let camera = SecretKey::generate(&mut rng);
//! let viewer = SecretKey::generate(&mut rng);
//! let mut sealer = SessionSealer::new(
//!     SessionConfig {
//!         stream_name: "front-door".into(),
//!         camera: camera.clone(),
//!         recipients: vec![viewer.public_key()],
//!         tracks: vec![TrackCodecData {
//!             track_number: 1,
//!             codec_private: vec![1, 0x64, 0, 0x1f],
//!             video: Some((1280, 720)),
//!             audio: None,
//!         }],
//!         frame_cipher: FrameCipher::fastest_here(),
//!     },
//!     &mut rng,
//! )?;
//! // Before each cluster: write these tags as one top-level Tags element.
//! let tags = sealer.begin_fragment(1_000, &mut rng)?;
//! let mut frame = b"h264 access unit".to_vec();
//! let meta = FrameMeta { track: 1, timecode: 1_000, keyframe: true };
//! sealer.seal_frame(&meta, &mut frame)?; // frame is now ciphertext ‖ 16-byte tag
//! // Graceful stop: write these tags after the last cluster.
//! let end_tags = sealer.finish(&mut rng)?;
//!
//! // Viewer
//! let mut opener = FragmentOpener::new(OpenerConfig {
//!     stream_name: "front-door".into(),
//!     identities: vec![viewer],
//!     trusted_cameras: vec![camera.public_key()],
//!     danger_accept_plaintext: false,
//! });
//! opener.on_tags(&tags)?;                 // HeaderVerified { codec data, … }
//! let start = opener.begin_fragment(1_000)?; // on ClusterStart { timecode: 1000 }
//! assert_eq!(start.disposition, Disposition::Release);
//! let n = opener.open_frame(&meta, &mut frame)?.expect("released");
//! assert_eq!(&frame[..n], b"h264 access unit");
//! opener.end_fragment();                  // on ClusterEnd
//! let events = opener.on_tags(&end_tags)?; // … SessionClosed
//! assert!(events.iter().any(|e| matches!(e, TagEvent::Chain(ChainEvent::SessionClosed { .. }))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Viewer
//! A viewer drives a [`StreamOpener`] with what its demuxer reads and takes
//! [`StreamEvent`]s back: released frames, verified fragments and [`Failure`]s worded for
//! the user. It implements the call order of [`FragmentOpener`] — tags gathered across
//! `Tags` elements, a cluster buffered (bounded) until a header that comes after it,
//! restart after the reader's reconnect, verdicts named by fragment — so no front end
//! re-implements it (module [`stream`]).
//!
//! # Layout
//! - [`key`]: X25519 keys and key ids. `kdf` (private): labels and HKDF. `wrap` (private):
//!   HPKE Auth key wrap; [`suite`] names its HPKE suite and wrap epoch.
//! - [`header`]: header core and stanzas, codec data (encode/decode). [`frame`]: frame AEAD.
//! - [`tags`]: header ⇄ KVS tags. [`chain`]: completeness verifier.
//! - [`seal`]: [`SessionSealer`] (camera). [`open`]: [`FragmentOpener`] (one header, one
//!   frame at a time). [`stream`]: [`StreamOpener`] (the viewer's stream algorithm).
//! - [`report`]: [`Failure`], [`FragmentRef`] and [`Summary`], as users read them.

pub mod chain;
pub mod frame;
pub mod header;
mod kdf;
pub mod key;
pub mod open;
pub mod report;
pub mod seal;
pub mod stream;
pub mod tags;
mod wrap;

/// The HPKE suite every key wrap uses (FORMAT.md §3) and the length of a wrap epoch, for
/// ports and for the RFC 9180 conformance test.
pub mod suite {
    pub use crate::wrap::{Aead, Kdf, Kem, WRAP_EPOCH_HEADERS};
}

pub use chain::{ChainEvent, ChainVerifier, Disposition};
pub use frame::{FrameCipher, FrameMeta, TAG_LEN};
pub use header::{SessionId, TrackCodecData};
pub use key::{KeyId, PublicKey, SecretKey};
pub use open::{FragmentInfo, FragmentOpener, FragmentStart, OpenError, OpenerConfig, TagEvent};
pub use report::{Failure, FailureKind, FragmentRef, Summary};
pub use seal::{FrameBuffer, SealError, SessionConfig, SessionSealer, Tag};
pub use stream::{Input, StreamConfig, StreamEvent, StreamOpener};
