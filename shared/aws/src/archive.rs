//! Thin wrappers over `aws-sdk-kinesisvideoarchivedmedia` for reading stored fragments:
//! `ListFragments` (all pages, sorted) and `GetMediaForFragmentList` (an MKV byte stream).
//! The client must be built for the stream's data endpoint of the matching API
//! ([`super::control::get_data_endpoint`], [`super::config::ClientConfig::archive_client`]).

use std::cmp::Ordering;
use std::time::SystemTime;

use aws_sdk_kinesisvideoarchivedmedia::types as sdk;
use aws_smithy_types::DateTime;

use super::StreamId;
use super::error::ApiError;
use super::getmedia::MediaStream;

/// Page size asked of ListFragments (the API maximum is 1000).
const PAGE_SIZE: i64 = 1000;

/// Most fragments one GetMediaForFragmentList call accepts (API reference).
pub const MAX_FRAGMENTS_PER_CALL: usize = 1000;

/// Which timestamp a time range refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampKind {
    /// When KVS received the fragment.
    Server,
    /// The producer's timestamp.
    Producer,
}

/// One stored fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentInfo {
    /// Fragment number (decimal string, may exceed 64 bits).
    pub number: String,
    /// Producer timestamp.
    pub producer_timestamp: SystemTime,
    /// Server timestamp.
    pub server_timestamp: SystemTime,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Duration in milliseconds.
    pub duration_ms: i64,
}

/// Orders fragment numbers numerically (they are decimal strings longer than `u64`).
pub fn cmp_fragment_numbers(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Lists every fragment whose `kind` timestamp lies in `[start, end]`, following all pages,
/// sorted by that timestamp and then fragment number (ListFragments itself returns pages in
/// no particular order).
pub async fn list_fragments(
    client: &aws_sdk_kinesisvideoarchivedmedia::Client,
    stream: &StreamId,
    start: SystemTime,
    end: SystemTime,
    kind: TimestampKind,
) -> Result<Vec<FragmentInfo>, ApiError> {
    let target = stream.to_string();
    let range = sdk::TimestampRange::builder()
        .start_timestamp(DateTime::from(start))
        .end_timestamp(DateTime::from(end))
        .build()
        .map_err(|e| ApiError::invalid_response("ListFragments", &target, e.to_string()))?;
    let selector = sdk::FragmentSelector::builder()
        .fragment_selector_type(match kind {
            TimestampKind::Server => sdk::FragmentSelectorType::ServerTimestamp,
            TimestampKind::Producer => sdk::FragmentSelectorType::ProducerTimestamp,
        })
        .timestamp_range(range)
        .build()
        .map_err(|e| ApiError::invalid_response("ListFragments", &target, e.to_string()))?;
    let mut out = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let mut req = client.list_fragments().max_results(PAGE_SIZE);
        // The API wants either the selector (first page) or the token (later pages).
        req = match next_token.take() {
            Some(token) => req.next_token(token),
            None => req.fragment_selector(selector.clone()),
        };
        req = match stream {
            StreamId::Name(n) => req.stream_name(n),
            StreamId::Arn(a) => req.stream_arn(a),
        };
        let page = req
            .send()
            .await
            .map_err(|e| ApiError::from_sdk("ListFragments", &target, e))?;
        for f in page.fragments() {
            out.push(fragment_info(f, &target)?);
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
            _ => break,
        }
    }
    out.sort_by(|a, b| {
        let (ta, tb) = match kind {
            TimestampKind::Server => (a.server_timestamp, b.server_timestamp),
            TimestampKind::Producer => (a.producer_timestamp, b.producer_timestamp),
        };
        ta.cmp(&tb)
            .then_with(|| cmp_fragment_numbers(&a.number, &b.number))
    });
    Ok(out)
}

fn fragment_info(f: &sdk::Fragment, target: &str) -> Result<FragmentInfo, ApiError> {
    let missing = |what: &str| {
        ApiError::invalid_response("ListFragments", target, format!("fragment without {what}"))
    };
    let time = |t: Option<&DateTime>, what: &str| {
        t.and_then(|t| SystemTime::try_from(*t).ok())
            .ok_or_else(|| missing(what))
    };
    Ok(FragmentInfo {
        number: f
            .fragment_number()
            .ok_or_else(|| missing("FragmentNumber"))?
            .to_owned(),
        producer_timestamp: time(f.producer_timestamp(), "ProducerTimestamp")?,
        server_timestamp: time(f.server_timestamp(), "ServerTimestamp")?,
        size_bytes: f.fragment_size_in_bytes(),
        duration_ms: f.fragment_length_in_milliseconds(),
    })
}

/// Fetches the given fragments as one MKV stream (each fragment its own segment, with the
/// KVS tags of [`super::getmedia`]). At most [`MAX_FRAGMENTS_PER_CALL`] numbers.
pub async fn get_media_for_fragment_list(
    client: &aws_sdk_kinesisvideoarchivedmedia::Client,
    stream: &StreamId,
    numbers: &[String],
) -> Result<MediaStream, ApiError> {
    let target = stream.to_string();
    if numbers.is_empty() || numbers.len() > MAX_FRAGMENTS_PER_CALL {
        return Err(ApiError::invalid_response(
            "GetMediaForFragmentList",
            &target,
            format!(
                "{} fragment numbers given; 1 to {MAX_FRAGMENTS_PER_CALL} allowed",
                numbers.len()
            ),
        ));
    }
    let mut req = client.get_media_for_fragment_list();
    for n in numbers {
        req = req.fragments(n);
    }
    req = match stream {
        StreamId::Name(n) => req.stream_name(n),
        StreamId::Arn(a) => req.stream_arn(a),
    };
    let out = req
        .send()
        .await
        .map_err(|e| ApiError::from_sdk("GetMediaForFragmentList", &target, e))?;
    Ok(MediaStream::new(out.payload, out.content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_numbers_order_numerically() {
        assert_eq!(cmp_fragment_numbers("9", "10"), Ordering::Less);
        assert_eq!(
            cmp_fragment_numbers(
                "91343852333181432397633822764885441725874549018",
                "91343852333181432392682062607743920146159169392"
            ),
            Ordering::Greater
        );
        assert_eq!(cmp_fragment_numbers("007", "7"), Ordering::Equal);
    }
}
