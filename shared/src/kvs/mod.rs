//! Clients and wire formats for Kinesis Video Streams and the AWS IoT credentials provider.
//!
//! Formats are encoded and decoded in one module each so our clients and kvs-local (which
//! serves the other side) cannot drift: ACK events ([`ack`]), SigV4 ([`sigv4`]), IoT
//! credentials JSON ([`iot::wire`]), GetMedia start selectors and tags ([`getmedia`]).
//!
//! # Layout
//! - [`ack`]: PutMedia acknowledgement events (parser and encoder, ErrorIds).
//! - [`config`]: region, endpoint and credentials for all clients; the rustls provider.
//! - [`error`]: AWS error classification and SDK call errors.
//! - [`iot`]: the AWS IoT credentials provider (JSON format and cached mTLS client).
//! - [`putmedia`]: one PutMedia connection (chunked MKV up, ACK events down).
//! - [`sigv4`]: SigV4 signing (PutMedia, as producer-c does) and verification (kvs-local).
//! - [`getmedia`]: GetMedia tags, start selector, client.
//! - [`archive`]: ListFragments and GetMediaForFragmentList.
//! - [`control`]: DescribeStream, CreateStream, GetDataEndpoint.

use std::fmt;

pub mod ack;
pub mod archive;
pub mod config;
pub mod control;
pub mod error;
pub mod getmedia;
pub mod iot;
pub mod putmedia;
pub mod sigv4;

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod sdk_tests;

/// How a stream is named in a request: by name or by ARN (KVS APIs take exactly one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamId {
    /// Stream name.
    Name(String),
    /// Stream ARN.
    Arn(String),
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => write!(f, "stream {n:?}"),
            Self::Arn(a) => write!(f, "stream {a}"),
        }
    }
}
