//! The kvs-e2ee viewer: reads a Kinesis Video Stream (live or a stored time range),
//! verifies and decrypts every frame locally, and writes a standard, playable MKV.
//!
//! Nothing unauthenticated reaches the output: a frame is written only after its
//! ChaCha20-Poly1305 tag verified under a key unwrapped from a header the trusted camera
//! created for this viewer and this stream (`docs/FORMAT.md` §7). Deleted, truncated,
//! reordered, replayed and spliced fragments are reported by name; identical re-sends of
//! the producer are dropped silently.
//!
//! ```
//! use kvs_e2ee_consumer::pipeline::{Pipeline, PipelineConfig, DEFAULT_MAX_BUFFERED_BYTES};
//! use kvs_e2ee_envelope::{OpenerConfig, SecretKey};
//! # let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! # use rand::SeedableRng;
//! let viewer = SecretKey::generate(&mut rng);
//! let camera = SecretKey::generate(&mut rng);
//! let mut pipeline = Pipeline::new(
//!     PipelineConfig {
//!         opener: OpenerConfig {
//!             stream_name: "front-door".into(),
//!             identities: vec![viewer],
//!             trusted_cameras: vec![camera.public_key()],
//!             danger_accept_plaintext: false,
//!         },
//!         keep_going: false,
//!         max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
//!     },
//!     Vec::new(),
//! );
//! pipeline.push(&[])?; // GetMedia bytes, in chunks of any size
//! pipeline.finish()?;
//! assert!(pipeline.summary().all_verified());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - [`reader`]: [`Reader`], MKV bytes in → the envelope's `StreamOpener` → verified
//!   frames out, for every front end.
//! - [`pipeline`]: [`Pipeline`], the reader writing a playable MKV.
//! - [`output`]: [`MkvOutput`], the playable MKV with the codec data restored.
//! - reports ([`Failure`], [`Summary`]) are the envelope's (`kvs_e2ee_envelope::report`),
//!   re-exported here.
//! - [`inspect`]: [`Inspector`], what the cloud sees (`--inspect`).
//! - `fuzzing` (hidden): the entry point of the cargo-fuzz target and its proptest.
//! - `play` (feature `gstreamer`): `--play`, the verified MKV decoded and shown.
//! - [`mod@run`]: live (GetMedia with resume) and archive reads against KVS or kvs-local.
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod fuzzing;
pub mod inspect;
pub mod output;
pub mod pipeline;
#[cfg(feature = "gstreamer")]
pub mod play;
pub mod reader;
pub mod run;

pub use inspect::Inspector;
pub use kvs_e2ee_envelope::{Failure, FailureKind, FragmentRef, Summary};
pub use output::MkvOutput;
pub use pipeline::{Pipeline, PipelineConfig, PipelineError};
pub use reader::{ReadError, ReadEvent, Reader, ReaderConfig};
pub use run::{Config, Mode, Outcome, OutputTarget, RunError, Start, run, run_with_output};
