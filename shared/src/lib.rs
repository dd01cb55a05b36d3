//! Shared core of kvs-e2ee: the encryption envelope, the Matroska layer, and the
//! KVS and IoT clients. Every other crate uses these; none has its own copy.
//!
//! # Layout
//! - [`envelope`]: keys, fragment headers and frame encryption (format v1, `docs/FORMAT.md`).
//! - [`mkv`]: incremental EBML/Matroska reader and writer for the layout KVS uses.
//! - [`kvs`]: PutMedia/GetMedia/ACK formats and clients, SigV4, the IoT credentials provider.
#![forbid(unsafe_code)]

pub mod envelope;
pub mod kvs;
pub mod mkv;
