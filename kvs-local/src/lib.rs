//! kvs-local: a local, faithful stand-in for Amazon Kinesis Video Streams and the AWS IoT
//! credentials provider, so the AWS SDK for Rust, the AWS CLI, producer SDKs and our own
//! clients can run against it unchanged (see `docs/KVS-LOCAL.md`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), kvs_local::Error> {
//! let server = kvs_local::Server::start(kvs_local::Config::new("/tmp/kvs-local-data")).await?;
//! println!("control plane: {}", server.control_url());
//! let _creds = server.admin_credentials(); // static credentials for an SDK client
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`server`]: [`Server::start`] / [`RunningServer`], listeners and shutdown.
//! - [`router`]: routing of each request to the admin, control or data plane.
//! - [`context`]: what handlers share: [`context::ServerState`], the per-request
//!   [`context::RequestContext`] (auth from headers, stream registry, fault hooks) and the
//!   [`context::DataPlane`] extension point.
//! - [`control`]: the control-plane operations (CreateStream, DescribeStream, …).
//! - [`auth`]: SigV4 verification, policies, users and temporary sessions.
//! - [`streams`]: the persistent stream registry (one folder per stream).
//! - [`iot`]: the IoT credentials provider (mTLS), CA and device provisioning.
//! - [`media`]: the data plane (PutMedia, GetMedia, ListFragments,
//!   GetMediaForFragmentList) and fragment storage, registered by default.
//! - [`faults`]: fault injection rules; [`admin`]: their HTTP API.
//! - [`https`]: the optional HTTPS listener's TLS configuration and certificate.
//! - [`config`], [`error`], [`http`]: configuration, error shapes, HTTP helpers.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod config;
pub mod context;
pub mod control;
pub mod error;
pub mod faults;
mod fsutil;
pub mod http;
pub mod https;
pub mod iot;
pub mod media;
pub mod router;
pub mod server;
pub mod streams;

pub use config::Config;
pub use error::{ApiError, Error};
pub use server::{RunningServer, Server};
