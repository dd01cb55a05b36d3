//! Thin wrappers over `aws-sdk-kinesisvideo` (control plane): describe and create a stream,
//! and find the data endpoint of a data-plane API, with [`ApiError`] errors.

use std::fmt;
use std::time::SystemTime;

use aws_sdk_kinesisvideo::types as sdk;

use super::StreamId;
use super::error::ApiError;

/// Data-plane APIs that have their own endpoint (`GetDataEndpoint` `APIName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataApi {
    /// PutMedia.
    PutMedia,
    /// GetMedia.
    GetMedia,
    /// ListFragments.
    ListFragments,
    /// GetMediaForFragmentList.
    GetMediaForFragmentList,
}

impl DataApi {
    fn to_sdk(self) -> sdk::ApiName {
        match self {
            Self::PutMedia => sdk::ApiName::PutMedia,
            Self::GetMedia => sdk::ApiName::GetMedia,
            Self::ListFragments => sdk::ApiName::ListFragments,
            Self::GetMediaForFragmentList => sdk::ApiName::GetMediaForFragmentList,
        }
    }
}

impl fmt::Display for DataApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_sdk().as_str())
    }
}

/// Stream lifecycle status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStatus {
    /// Ready.
    Active,
    /// Being created.
    Creating,
    /// Being updated.
    Updating,
    /// Being deleted.
    Deleting,
    /// A status this SDK version does not know.
    Other(String),
}

/// What DescribeStream says about a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDescription {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Status.
    pub status: StreamStatus,
    /// Retention in hours (0 = not stored).
    pub retention_hours: i32,
    /// Media type, if set.
    pub media_type: Option<String>,
    /// KMS key id, if set.
    pub kms_key_id: Option<String>,
    /// Creation time.
    pub creation_time: Option<SystemTime>,
}

/// DescribeStream.
pub async fn describe_stream(
    client: &aws_sdk_kinesisvideo::Client,
    stream: &StreamId,
) -> Result<StreamDescription, ApiError> {
    let target = stream.to_string();
    let req = client.describe_stream();
    let req = match stream {
        StreamId::Name(n) => req.stream_name(n),
        StreamId::Arn(a) => req.stream_arn(a),
    };
    let out = req
        .send()
        .await
        .map_err(|e| ApiError::from_sdk("DescribeStream", &target, e))?;
    let info = out
        .stream_info()
        .ok_or_else(|| ApiError::invalid_response("DescribeStream", &target, "no StreamInfo"))?;
    let missing =
        |what: &str| ApiError::invalid_response("DescribeStream", &target, format!("no {what}"));
    Ok(StreamDescription {
        name: info
            .stream_name()
            .ok_or_else(|| missing("StreamName"))?
            .to_owned(),
        arn: info
            .stream_arn()
            .ok_or_else(|| missing("StreamARN"))?
            .to_owned(),
        status: match info.status() {
            Some(sdk::Status::Active) => StreamStatus::Active,
            Some(sdk::Status::Creating) => StreamStatus::Creating,
            Some(sdk::Status::Updating) => StreamStatus::Updating,
            Some(sdk::Status::Deleting) => StreamStatus::Deleting,
            Some(other) => StreamStatus::Other(other.as_str().to_owned()),
            None => return Err(missing("Status")),
        },
        retention_hours: info.data_retention_in_hours().unwrap_or(0),
        media_type: info.media_type().map(str::to_owned),
        kms_key_id: info.kms_key_id().map(str::to_owned),
        creation_time: info
            .creation_time()
            .and_then(|t| SystemTime::try_from(*t).ok()),
    })
}

/// CreateStream with a data retention (hours; must be > 0 for the archive APIs to work).
/// Returns the new stream's ARN.
pub async fn create_stream(
    client: &aws_sdk_kinesisvideo::Client,
    name: &str,
    retention_hours: i32,
    media_type: Option<&str>,
) -> Result<String, ApiError> {
    let mut req = client
        .create_stream()
        .stream_name(name)
        .data_retention_in_hours(retention_hours);
    if let Some(m) = media_type {
        req = req.media_type(m);
    }
    let out = req
        .send()
        .await
        .map_err(|e| ApiError::from_sdk("CreateStream", name, e))?;
    out.stream_arn()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid_response("CreateStream", name, "no StreamARN"))
}

/// GetDataEndpoint: the base URL to send `api` requests for `stream` to.
pub async fn get_data_endpoint(
    client: &aws_sdk_kinesisvideo::Client,
    stream: &StreamId,
    api: DataApi,
) -> Result<String, ApiError> {
    let target = format!("{stream} ({api})");
    let req = client.get_data_endpoint().api_name(api.to_sdk());
    let req = match stream {
        StreamId::Name(n) => req.stream_name(n),
        StreamId::Arn(a) => req.stream_arn(a),
    };
    let out = req
        .send()
        .await
        .map_err(|e| ApiError::from_sdk("GetDataEndpoint", &target, e))?;
    out.data_endpoint()
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid_response("GetDataEndpoint", &target, "no DataEndpoint"))
}
