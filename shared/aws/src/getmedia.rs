//! GetMedia: the MKV tag names KVS adds to every fragment it returns, the start selector
//! (as the SDK type for our client and as JSON for kvs-local's server), and a thin client
//! over `aws-sdk-kinesisvideomedia`.
//!
//! Tag names: GetMedia API reference (`Payload`), confirmed in the real recordings
//! `tests/fixtures/kvs/*.mkv` (FRAGMENT_NUMBER, SERVER_TIMESTAMP,
//! PRODUCER_TIMESTAMP at the start of each fragment's segment; MILLIS_BEHIND_NOW and
//! CONTINUATION_TOKEN after the cluster). Timestamps are `seconds.millis` strings
//! (`1511852109.126`).

use std::time::{Duration, SystemTime};

use aws_sdk_kinesisvideomedia::types as sdk;
use aws_smithy_types::DateTime;
use aws_smithy_types::byte_stream::ByteStream;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::StreamId;
use super::error::ApiError;

/// Fragment number of the fragment (a decimal string). The envelope's stream opener names
/// fragments in reports with it, so the name is defined there.
pub const TAG_FRAGMENT_NUMBER: &str = kvs_e2ee_envelope::stream::KVS_FRAGMENT_NUMBER_TAG;
/// When KVS started receiving the fragment (`seconds.millis`).
pub const TAG_SERVER_TIMESTAMP: &str = "AWS_KINESISVIDEO_SERVER_TIMESTAMP";
/// The producer's timestamp of the fragment (`seconds.millis`); defined by the envelope's
/// stream opener, which puts it in reports.
pub const TAG_PRODUCER_TIMESTAMP: &str = kvs_e2ee_envelope::stream::KVS_PRODUCER_TIMESTAMP_TAG;
/// How far behind the newest fragment this one is, in milliseconds.
pub const TAG_MILLIS_BEHIND_NOW: &str = "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW";
/// Token to resume GetMedia after this fragment.
pub const TAG_CONTINUATION_TOKEN: &str = "AWS_KINESISVIDEO_CONTINUATION_TOKEN";
/// Text of the error that stopped GetMedia.
pub const TAG_ERROR_CODE: &str = "AWS_KINESISVIDEO_ERROR_CODE";
/// Numeric id of the error that stopped GetMedia (see [`getmedia_error_meaning`]).
pub const TAG_ERROR_ID: &str = "AWS_KINESISVIDEO_ERROR_ID";

/// Every tag name KVS itself writes into GetMedia output.
pub const SERVICE_TAGS: [&str; 7] = [
    TAG_FRAGMENT_NUMBER,
    TAG_SERVER_TIMESTAMP,
    TAG_PRODUCER_TIMESTAMP,
    TAG_MILLIS_BEHIND_NOW,
    TAG_CONTINUATION_TOKEN,
    TAG_ERROR_CODE,
    TAG_ERROR_ID,
];

/// The GetMedia `AWS_KINESISVIDEO_ERROR_ID` values (GetMedia API reference).
pub fn getmedia_error_meaning(id: u32) -> Option<&'static str> {
    Some(match id {
        3002 => "error writing to the stream",
        4000 => "requested fragment is not found",
        4500 => "access denied for the stream's KMS key",
        4501 => "stream's KMS key is disabled",
        4502 => "validation error on the stream's KMS key",
        4503 => "KMS key specified in the stream is unavailable",
        4504 => "invalid usage of the KMS key specified in the stream",
        4505 => "invalid state of the KMS key specified in the stream",
        4506 => "unable to find the KMS key specified in the stream",
        5000 => "internal error",
        _ => return None,
    })
}

/// Formats a tag timestamp: `seconds.millis`, millis zero-padded.
pub fn format_tag_timestamp(t: SystemTime) -> String {
    super::putmedia::format_producer_timestamp(t)
}

/// Parses a tag timestamp `seconds[.fraction]` (millisecond precision kept); `None` if
/// malformed.
pub fn parse_tag_timestamp(s: &str) -> Option<SystemTime> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    // Keep up to three fractional digits: "5" is 500 ms, "05" is 50 ms.
    let mut millis = 0u64;
    for (i, b) in frac.bytes().take(3).enumerate() {
        millis += u64::from(b - b'0') * 10u64.pow(2 - i as u32);
    }
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs) + Duration::from_millis(millis))
}

/// Where GetMedia starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartSelector {
    /// The newest fragment (live).
    Now,
    /// The oldest stored fragment.
    Earliest,
    /// The fragment after this fragment number.
    FragmentNumber(String),
    /// The first fragment whose server timestamp is at or after this time.
    ServerTimestamp(SystemTime),
    /// The first fragment whose producer timestamp is at or after this time.
    ProducerTimestamp(SystemTime),
    /// Resume where a previous GetMedia ended.
    ContinuationToken(String),
}

impl StartSelector {
    /// The SDK value.
    pub fn to_sdk(&self) -> Result<sdk::StartSelector, ApiError> {
        use sdk::StartSelectorType as T;
        let b = sdk::StartSelector::builder();
        let b = match self {
            Self::Now => b.start_selector_type(T::Now),
            Self::Earliest => b.start_selector_type(T::Earliest),
            Self::FragmentNumber(n) => b
                .start_selector_type(T::FragmentNumber)
                .after_fragment_number(n),
            Self::ServerTimestamp(t) => b
                .start_selector_type(T::ServerTimestamp)
                .start_timestamp(DateTime::from(*t)),
            Self::ProducerTimestamp(t) => b
                .start_selector_type(T::ProducerTimestamp)
                .start_timestamp(DateTime::from(*t)),
            Self::ContinuationToken(c) => b
                .start_selector_type(T::ContinuationToken)
                .continuation_token(c),
        };
        b.build()
            .map_err(|e| ApiError::invalid_response("GetMedia", "start selector", e.to_string()))
    }

    fn to_wire(&self) -> WireSelector {
        let mut w = WireSelector {
            start_selector_type: String::new(),
            after_fragment_number: None,
            start_timestamp: None,
            continuation_token: None,
        };
        w.start_selector_type = match self {
            Self::Now => "NOW",
            Self::Earliest => "EARLIEST",
            Self::FragmentNumber(n) => {
                w.after_fragment_number = Some(n.clone());
                "FRAGMENT_NUMBER"
            }
            Self::ServerTimestamp(t) => {
                w.start_timestamp = Some(epoch_seconds(*t));
                "SERVER_TIMESTAMP"
            }
            Self::ProducerTimestamp(t) => {
                w.start_timestamp = Some(epoch_seconds(*t));
                "PRODUCER_TIMESTAMP"
            }
            Self::ContinuationToken(c) => {
                w.continuation_token = Some(c.clone());
                "CONTINUATION_TOKEN"
            }
        }
        .to_owned();
        w
    }

    fn from_wire(w: WireSelector) -> Result<Self, String> {
        let need = |v: Option<String>, field: &str| {
            v.ok_or_else(|| format!("{} needs {field}", w.start_selector_type))
        };
        let time = |v: Option<f64>| {
            v.and_then(from_epoch_seconds)
                .ok_or_else(|| format!("{} needs a valid StartTimestamp", w.start_selector_type))
        };
        Ok(match w.start_selector_type.as_str() {
            "NOW" => Self::Now,
            "EARLIEST" => Self::Earliest,
            "FRAGMENT_NUMBER" => Self::FragmentNumber(need(
                w.after_fragment_number.clone(),
                "AfterFragmentNumber",
            )?),
            "SERVER_TIMESTAMP" => Self::ServerTimestamp(time(w.start_timestamp)?),
            "PRODUCER_TIMESTAMP" => Self::ProducerTimestamp(time(w.start_timestamp)?),
            "CONTINUATION_TOKEN" => {
                Self::ContinuationToken(need(w.continuation_token.clone(), "ContinuationToken")?)
            }
            other => return Err(format!("unknown StartSelectorType {other:?}")),
        })
    }
}

/// The JSON shape (AWS REST-JSON; timestamps are epoch seconds, possibly fractional).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireSelector {
    start_selector_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    after_fragment_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_timestamp: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    continuation_token: Option<String>,
}

fn epoch_seconds(t: SystemTime) -> f64 {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    // Millisecond precision: what KVS timestamps carry; exact in f64 for any real date.
    ms as f64 / 1000.0
}

fn from_epoch_seconds(s: f64) -> Option<SystemTime> {
    if !s.is_finite() || !(0.0..=1e13).contains(&s) {
        return None;
    }
    let ms = (s * 1000.0).round() as u64;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

impl Serialize for StartSelector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_wire().serialize(s)
    }
}

impl<'de> Deserialize<'de> for StartSelector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_wire(WireSelector::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The GetMedia request body as the SDK sends it (`POST /getMedia`), for kvs-local.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMediaInput {
    /// Stream name (one of name/ARN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN.
    #[serde(rename = "StreamARN", skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Where to start.
    pub start_selector: StartSelector,
}

impl GetMediaInput {
    /// The stream named in the request; `None` unless exactly one of name/ARN is given.
    pub fn stream(&self) -> Option<StreamId> {
        match (&self.stream_name, &self.stream_arn) {
            (Some(n), None) => Some(StreamId::Name(n.clone())),
            (None, Some(a)) => Some(StreamId::Arn(a.clone())),
            _ => None,
        }
    }
}

/// A streaming MKV response body (GetMedia, GetMediaForFragmentList).
#[derive(Debug)]
pub struct MediaStream {
    body: ByteStream,
    content_type: Option<String>,
}

impl MediaStream {
    pub(crate) fn new(body: ByteStream, content_type: Option<String>) -> Self {
        Self { body, content_type }
    }

    /// The next chunk of bytes as it arrives; `None` at the end of the response.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        self.body.next().await.map(|r| {
            r.map_err(|e| {
                std::io::Error::other(
                    aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
                )
            })
        })
    }

    /// The response's content type (`video/webm` from KVS).
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// As a tokio `AsyncRead`.
    pub fn into_async_read(self) -> impl tokio::io::AsyncBufRead + Send + Unpin {
        self.body.into_async_read()
    }
}

/// Starts GetMedia on `client` (built for the stream's GET_MEDIA data endpoint, see
/// [`super::config::ClientConfig::media_client`]).
pub async fn get_media(
    client: &aws_sdk_kinesisvideomedia::Client,
    stream: &StreamId,
    selector: &StartSelector,
) -> Result<MediaStream, ApiError> {
    let req = client.get_media().start_selector(selector.to_sdk()?);
    let req = match stream {
        StreamId::Name(n) => req.stream_name(n),
        StreamId::Arn(a) => req.stream_arn(a),
    };
    let out = req
        .send()
        .await
        .map_err(|e| ApiError::from_sdk("GetMedia", stream.to_string(), e))?;
    Ok(MediaStream::new(out.payload, out.content_type))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn t(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn tag_timestamps_round_trip_and_match_recordings() {
        assert_eq!(
            parse_tag_timestamp("1511852109.126"),
            Some(t(1_511_852_109_126))
        );
        assert_eq!(format_tag_timestamp(t(1_511_852_109_126)), "1511852109.126");
        assert_eq!(
            parse_tag_timestamp("1511852109.5"),
            Some(t(1_511_852_109_500))
        );
        assert_eq!(
            parse_tag_timestamp("1511852109"),
            Some(t(1_511_852_109_000))
        );
        for bad in ["", ".5", "1.2.3", "-1.0", "1e9", "12a.3"] {
            assert_eq!(parse_tag_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn fixtures_carry_the_service_tag_names() {
        // A real GetMedia capture (parser library test resources), kept in the repository.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/kvs/output_get_media.mkv"
        );
        let data = std::fs::read(path).unwrap();
        let text = String::from_utf8_lossy(&data);
        for tag in [
            TAG_FRAGMENT_NUMBER,
            TAG_SERVER_TIMESTAMP,
            TAG_PRODUCER_TIMESTAMP,
            TAG_MILLIS_BEHIND_NOW,
            TAG_CONTINUATION_TOKEN,
        ] {
            assert_eq!(text.matches(tag).count(), 5, "{tag}");
        }
        assert!(text.contains("1511852109.126"));
    }

    #[test]
    fn selector_json_matches_aws_shape_and_round_trips() {
        let cases = [
            (StartSelector::Now, r#"{"StartSelectorType":"NOW"}"#),
            (
                StartSelector::Earliest,
                r#"{"StartSelectorType":"EARLIEST"}"#,
            ),
            (
                StartSelector::FragmentNumber("913".into()),
                r#"{"StartSelectorType":"FRAGMENT_NUMBER","AfterFragmentNumber":"913"}"#,
            ),
            (
                StartSelector::ServerTimestamp(t(1_511_852_109_126)),
                r#"{"StartSelectorType":"SERVER_TIMESTAMP","StartTimestamp":1511852109.126}"#,
            ),
            (
                StartSelector::ProducerTimestamp(t(1_000)),
                r#"{"StartSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":1.0}"#,
            ),
            (
                StartSelector::ContinuationToken("tok".into()),
                r#"{"StartSelectorType":"CONTINUATION_TOKEN","ContinuationToken":"tok"}"#,
            ),
        ];
        for (sel, json) in cases {
            assert_eq!(serde_json::to_string(&sel).unwrap(), json);
            assert_eq!(serde_json::from_str::<StartSelector>(json).unwrap(), sel);
            sel.to_sdk().unwrap();
        }
        // The SDK sends integral timestamps as integers.
        let parsed: StartSelector = serde_json::from_str(
            r#"{"StartSelectorType":"SERVER_TIMESTAMP","StartTimestamp":1511852109}"#,
        )
        .unwrap();
        assert_eq!(parsed, StartSelector::ServerTimestamp(t(1_511_852_109_000)));
        for bad in [
            r#"{"StartSelectorType":"FRAGMENT_NUMBER"}"#,
            r#"{"StartSelectorType":"SERVER_TIMESTAMP","StartTimestamp":-5}"#,
            r#"{"StartSelectorType":"LATEST"}"#,
        ] {
            assert!(serde_json::from_str::<StartSelector>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn get_media_input_names_exactly_one_stream() {
        let input: GetMediaInput = serde_json::from_str(
            r#"{"StreamName":"cam","StartSelector":{"StartSelectorType":"NOW"}}"#,
        )
        .unwrap();
        assert_eq!(input.stream(), Some(StreamId::Name("cam".into())));
        let both: GetMediaInput = serde_json::from_str(
            r#"{"StreamName":"cam","StreamARN":"arn","StartSelector":{"StartSelectorType":"NOW"}}"#,
        )
        .unwrap();
        assert_eq!(both.stream(), None);
        assert_eq!(
            getmedia_error_meaning(4000),
            Some("requested fragment is not found")
        );
        assert_eq!(getmedia_error_meaning(1), None);
    }
}
