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
//! - [`retry`]: the reconnect policy (exponential backoff) of every client.
//! - [`sigv4`]: SigV4 signing (PutMedia, as producer-c does) and verification (kvs-local).
//! - [`getmedia`]: GetMedia tags, start selector, client.
//! - [`archive`]: ListFragments and GetMediaForFragmentList.
//! - [`control`]: DescribeStream, CreateStream, GetDataEndpoint.
//! - [`settings`]: checks of the settings the front ends share (stream name, region,
//!   endpoint URL, key paths, static keys), named after their `kvssink` properties.

use std::fmt;

pub mod ack;
pub mod archive;
pub mod config;
pub mod control;
pub mod error;
pub mod getmedia;
pub mod iot;
pub mod putmedia;
pub mod retry;
pub mod settings;
pub mod sigv4;

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod sdk_tests;

/// Whether `name` satisfies KVS's stream-name rule: 1–256 characters of `[a-zA-Z0-9_.-]`
/// (CreateStream API reference, `StreamName`).
pub fn is_valid_stream_name(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `region` looks like an AWS region name (`eu-west-1`): non-empty, lowercase
/// ASCII letters, digits and `-`. A syntactic check only; the SDK resolves the endpoint.
pub fn is_valid_region(region: &str) -> bool {
    !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

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

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn stream_names_and_regions_follow_the_aws_rules() {
        assert!(is_valid_stream_name("cam-1_a.b"));
        assert!(is_valid_stream_name(&"a".repeat(256)));
        for bad in ["", "a b", "a/b", "é"] {
            assert!(!is_valid_stream_name(bad), "{bad:?}");
        }
        assert!(!is_valid_stream_name(&"a".repeat(257)));
        assert!(is_valid_region("eu-west-1"));
        for bad in ["", "EU-WEST-1", "eu west 1", "eu_west_1"] {
            assert!(!is_valid_region(bad), "{bad:?}");
        }
    }
}
