//! kvs-e2ee end to end: the one-command demo and the helpers the end-to-end tests share.
//!
//! The demo runs the whole product on one machine: kvs-local (the local stand-in for
//! Kinesis Video Streams and the AWS IoT credentials provider) in-process, a camera
//! (`kvs-e2ee-producer`'s engine) that authenticates with an IoT device certificate and
//! streams a bundled clip, and a viewer (`kvs-e2ee-consumer`'s engine) that reads it back,
//! verifies and decrypts it. It then checks what a user would want checked: every frame
//! came back bit-identical, the cloud holds only ciphertext, and a viewer key that is not a
//! recipient gets nothing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kvs_e2ee::demo::DemoError> {
//! let work = tempfile::tempdir().expect("temp dir");
//! let report = kvs_e2ee::demo::run(kvs_e2ee::demo::DemoOptions {
//!     work_dir: work.path().to_owned(),
//!     output: "demo-output.mkv".into(),
//! })
//! .await?;
//! println!("{report}");
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`demo`]: the demo's steps and its [`demo::DemoReport`].
//! - [`clip`]: the bundled sample clip and reading the frames of an MKV file.
#![forbid(unsafe_code)]

pub mod clip;
pub mod demo;
