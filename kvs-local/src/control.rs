//! The KVS control plane: `POST /createStream`, `/describeStream`, `/listStreams`,
//! `/deleteStream`, `/getDataEndpoint`, `/tagStream`, `/untagStream`, `/listTagsForStream`,
//! `/updateDataRetention` — REST-JSON as `aws-sdk-kinesisvideo` sends it (paths and member
//! names from the SDK's `operation/*` and `protocol_serde/*` modules; limits from the KVS API
//! reference).
//!
//! Order of checks, as AWS does it: authenticate (SigV4 over the body), parse, validate,
//! injected faults, authorize, then act.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::auth::{Action, PayloadHash, Principal};
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::faults::Plane;
use crate::http::{MAX_JSON_BODY, ResponseBody, json_response, read_body};
use crate::streams::{
    MAX_RETENTION_HOURS, MAX_TAGS, NewStream, StreamRecord, StreamRegistry, is_valid_stream_name,
};

/// A control-plane operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /createStream`
    CreateStream,
    /// `POST /describeStream`
    DescribeStream,
    /// `POST /listStreams`
    ListStreams,
    /// `POST /deleteStream`
    DeleteStream,
    /// `POST /getDataEndpoint`
    GetDataEndpoint,
    /// `POST /tagStream`
    TagStream,
    /// `POST /untagStream`
    UntagStream,
    /// `POST /listTagsForStream`
    ListTagsForStream,
    /// `POST /updateDataRetention`
    UpdateDataRetention,
}

impl Operation {
    /// The operation served at `path`.
    pub fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            "/createStream" => Self::CreateStream,
            "/describeStream" => Self::DescribeStream,
            "/listStreams" => Self::ListStreams,
            "/deleteStream" => Self::DeleteStream,
            "/getDataEndpoint" => Self::GetDataEndpoint,
            "/tagStream" => Self::TagStream,
            "/untagStream" => Self::UntagStream,
            "/listTagsForStream" => Self::ListTagsForStream,
            "/updateDataRetention" => Self::UpdateDataRetention,
            _ => return None,
        })
    }

    fn action(self) -> Action {
        match self {
            Self::CreateStream => Action::CreateStream,
            Self::DescribeStream => Action::DescribeStream,
            Self::ListStreams => Action::ListStreams,
            Self::DeleteStream => Action::DeleteStream,
            Self::GetDataEndpoint => Action::GetDataEndpoint,
            Self::TagStream => Action::TagStream,
            Self::UntagStream => Action::UntagStream,
            Self::ListTagsForStream => Action::ListTagsForStream,
            Self::UpdateDataRetention => Action::UpdateDataRetention,
        }
    }
}

/// Handles one control-plane request.
pub async fn handle(
    ctx: &RequestContext,
    op: Operation,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    match handle_inner(ctx, op, req).await {
        Ok(v) => json_response(&v, &ctx.request_id),
        Err(e) => {
            tracing::debug!(?op, error = %e, "control-plane request failed");
            ctx.error_response(&e)
        }
    }
}

async fn handle_inner(
    ctx: &RequestContext,
    op: Operation,
    req: Request<Incoming>,
) -> Result<Value, ApiError> {
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST {
        return Err(ApiError::unknown_operation(format!(
            "{} {} is not an operation; KVS operations are POST",
            parts.method,
            parts.uri.path()
        )));
    }
    let body = read_body(body, MAX_JSON_BODY).await?;
    let principal = ctx
        .state
        .auth
        .authenticate(&parts, PayloadHash::Body(&body))?;
    let call = Call {
        ctx,
        principal: &principal,
        op,
    };
    match op {
        Operation::CreateStream => create_stream(&call, parse(&body)?),
        Operation::DescribeStream => describe_stream(&call, parse(&body)?),
        Operation::ListStreams => list_streams(&call, parse(&body)?),
        Operation::DeleteStream => delete_stream(&call, parse(&body)?),
        Operation::GetDataEndpoint => get_data_endpoint(&call, parse(&body)?),
        Operation::TagStream => tag_stream(&call, parse(&body)?),
        Operation::UntagStream => untag_stream(&call, parse(&body)?),
        Operation::ListTagsForStream => list_tags(&call, parse(&body)?),
        Operation::UpdateDataRetention => update_retention(&call, parse(&body)?),
    }
}

/// One authenticated call: runs the fault and authorization steps.
struct Call<'a> {
    ctx: &'a RequestContext,
    principal: &'a Principal,
    op: Operation,
}

impl Call<'_> {
    fn registry(&self) -> &StreamRegistry {
        &self.ctx.state.streams
    }

    /// Injected faults, then authorization on `(arn, label)`.
    fn admit(&self, stream: Option<&str>, arn: &str, label: &str) -> Result<(), ApiError> {
        if let Some(err) = self
            .ctx
            .take_fault(Plane::Control, stream, Some(self.principal))
            .and_then(|f| f.to_api_error())
        {
            return Err(err);
        }
        self.ctx
            .state
            .auth
            .authorize(self.principal, self.op.action(), arn, label)
    }

    /// Admits a request naming a stream by name and/or ARN, then resolves it.
    fn admit_stream(&self, target: &StreamRef) -> Result<StreamRecord, ApiError> {
        target.validate()?;
        let (arn, label) = match (&target.stream_name, &target.stream_arn) {
            (Some(n), _) => (self.registry().resource_arn(n), n.clone()),
            (None, Some(a)) => (a.clone(), a.clone()),
            (None, None) => {
                return Err(ApiError::invalid_argument(
                    "Either StreamName or StreamARN must be specified.",
                ));
            }
        };
        let stream_name = target
            .stream_name
            .clone()
            .or_else(|| self.registry().get_by_arn(&arn).map(|r| r.name));
        self.admit(stream_name.as_deref(), &arn, &label)?;
        self.registry()
            .resolve(target.stream_name.as_deref(), target.stream_arn.as_deref())
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::serialization(format!(
            "Malformed request body at line {}, column {}: {}",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Data => "a member has the wrong type",
                serde_json::error::Category::Eof => "unexpected end of input",
                _ => "not valid JSON",
            }
        ))
    })
}

/// `StreamName` / `StreamARN` members shared by most operations.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamRef {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
}

impl StreamRef {
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(n) = &self.stream_name {
            validate_stream_name(n, "streamName")?;
        }
        if let Some(a) = &self.stream_arn {
            validate_arn(a)?;
        }
        Ok(())
    }
}

/// Coral-style validation message (the shape AWS services use for constraint failures).
fn constraint(value: &str, member: &str, rule: &str) -> ApiError {
    let shown: String = value.chars().take(64).collect();
    ApiError::invalid_argument(format!(
        "1 validation error detected: Value '{shown}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

fn required(member: &str) -> ApiError {
    ApiError::invalid_argument(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

fn validate_stream_name(name: &str, member: &str) -> Result<(), ApiError> {
    if !(1..=256).contains(&name.len()) {
        return Err(constraint(
            name,
            member,
            "Member must have length between 1 and 256",
        ));
    }
    if !is_valid_stream_name(name) {
        return Err(constraint(
            name,
            member,
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

/// `StreamARN`: 1–1024 chars, `arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+`.
fn validate_arn(arn: &str) -> Result<(), ApiError> {
    let ok = (1..=1024).contains(&arn.len()) && {
        let fields: Vec<&str> = arn.splitn(6, ':').collect();
        match fields.as_slice() {
            ["arn", partition, "kinesisvideo", region, account, resource] => {
                let path: Vec<&str> = resource.split('/').collect();
                !partition.is_empty()
                    && !region.is_empty()
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && matches!(path.as_slice(),
                        [kind, name, ts] if !kind.is_empty()
                            && kind.bytes().all(|b| b.is_ascii_lowercase())
                            && is_valid_stream_name(name)
                            && !ts.is_empty()
                            && ts.bytes().all(|b| b.is_ascii_digit()))
            }
            _ => false,
        }
    };
    if ok {
        Ok(())
    } else {
        Err(constraint(
            arn,
            "streamARN",
            "Member must satisfy regular expression pattern: arn:[a-z\\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+",
        ))
    }
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in tags {
        if !(1..=128).contains(&k.chars().count()) {
            return Err(constraint(
                k,
                "tags",
                "Map keys must have length between 1 and 128",
            ));
        }
        if v.chars().count() > 256 {
            return Err(constraint(
                v,
                "tags",
                "Map values must have length between 0 and 256",
            ));
        }
    }
    Ok(())
}

fn stream_info(r: &StreamRecord) -> Value {
    let mut info = json!({
        "StreamName": r.name,
        "StreamARN": r.arn,
        "KmsKeyId": r.kms_key_id,
        "Version": r.version,
        "Status": r.status.as_str(),
        // restJson1 timestamps are epoch seconds; the SDK reads fractional numbers.
        "CreationTime": r.creation_time_ms as f64 / 1000.0,
        "DataRetentionInHours": r.data_retention_hours,
    });
    if let Some(d) = &r.device_name {
        info["DeviceName"] = json!(d);
    }
    if let Some(m) = &r.media_type {
        info["MediaType"] = json!(m);
    }
    info
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateStreamInput {
    stream_name: Option<String>,
    device_name: Option<String>,
    media_type: Option<String>,
    kms_key_id: Option<String>,
    data_retention_in_hours: Option<u32>,
    tags: Option<BTreeMap<String, String>>,
}

fn create_stream(call: &Call<'_>, input: CreateStreamInput) -> Result<Value, ApiError> {
    let name = input.stream_name.ok_or_else(|| required("streamName"))?;
    validate_stream_name(&name, "streamName")?;
    if let Some(d) = &input.device_name {
        let ok = (1..=128).contains(&d.len()) && is_valid_stream_name(d);
        if !ok {
            return Err(constraint(
                d,
                "deviceName",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128",
            ));
        }
    }
    if let Some(m) = &input.media_type {
        let ok = (1..=128).contains(&m.len())
            && m.split(',').all(|t| {
                t.split_once('/').is_some_and(|(a, b)| {
                    let part = |s: &str| {
                        !s.is_empty()
                            && s.bytes().all(|c| {
                                c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'+')
                            })
                    };
                    part(a) && part(b)
                })
            });
        if !ok {
            return Err(constraint(
                m,
                "mediaType",
                "Member must satisfy regular expression pattern: [\\w\\-\\.\\+]+/[\\w\\-\\.\\+]+(,[\\w\\-\\.\\+]+/[\\w\\-\\.\\+]+)*",
            ));
        }
    }
    if let Some(k) = &input.kms_key_id
        && !(1..=2048).contains(&k.len())
    {
        return Err(constraint(
            k,
            "kmsKeyId",
            "Member must have length between 1 and 2048",
        ));
    }
    let retention = input.data_retention_in_hours.unwrap_or(0);
    if retention > MAX_RETENTION_HOURS {
        return Err(constraint(
            &retention.to_string(),
            "dataRetentionInHours",
            "Member must have value less than or equal to 87600",
        ));
    }
    let tags = input.tags.unwrap_or_default();
    validate_tags(&tags)?;
    if tags.len() > MAX_TAGS {
        return Err(ApiError::tags_per_resource_exceeded(format!(
            "A stream can have at most {MAX_TAGS} tags."
        )));
    }
    let arn = call.registry().resource_arn(&name);
    call.admit(Some(&name), &arn, &name)?;
    let rec = call.registry().create(NewStream {
        name,
        device_name: input.device_name,
        media_type: input.media_type,
        kms_key_id: input.kms_key_id,
        data_retention_hours: retention,
        tags,
    })?;
    tracing::info!(stream = %rec.name, arn = %rec.arn, "stream created");
    Ok(json!({ "StreamARN": rec.arn }))
}

fn describe_stream(call: &Call<'_>, input: StreamRef) -> Result<Value, ApiError> {
    let rec = call.admit_stream(&input)?;
    Ok(json!({ "StreamInfo": stream_info(&rec) }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListStreamsInput {
    max_results: Option<i64>,
    next_token: Option<String>,
    stream_name_condition: Option<StreamNameCondition>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamNameCondition {
    comparison_operator: Option<String>,
    comparison_value: Option<String>,
}

fn list_streams(call: &Call<'_>, input: ListStreamsInput) -> Result<Value, ApiError> {
    let max = input.max_results.unwrap_or(10_000);
    if !(1..=10_000).contains(&max) {
        return Err(constraint(
            &max.to_string(),
            "maxResults",
            "Member must have value between 1 and 10000",
        ));
    }
    let prefix = match input.stream_name_condition {
        None => None,
        Some(c) => {
            match c.comparison_operator.as_deref() {
                None | Some("BEGINS_WITH") => {}
                Some(other) => {
                    return Err(constraint(
                        other,
                        "streamNameCondition.comparisonOperator",
                        "Member must satisfy enum value set: [BEGINS_WITH]",
                    ));
                }
            }
            if let Some(v) = &c.comparison_value {
                validate_stream_name(v, "streamNameCondition.comparisonValue")?;
            }
            c.comparison_value
        }
    };
    let start_after = match input.next_token.as_deref() {
        None | Some("") => None,
        Some(t) => Some(decode_token(t)?),
    };
    call.admit(None, "*", "*")?;
    let max = usize::try_from(max).unwrap_or(10_000);
    let (page, more) = call
        .registry()
        .list(prefix.as_deref(), start_after.as_deref(), max);
    let mut out = json!({
        "StreamInfoList": page.iter().map(stream_info).collect::<Vec<_>>(),
    });
    if let (true, Some(last)) = (more, page.last()) {
        out["NextToken"] = json!(encode_token(&last.name));
    }
    Ok(out)
}

/// Pagination tokens are opaque to clients; ours carry the last name returned.
fn encode_token(last_name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last_name)
}

fn decode_token(token: &str) -> Result<String, ApiError> {
    let bad = || {
        constraint(
            token,
            "nextToken",
            "Member must be a token returned by ListStreams",
        )
    };
    if token.len() > 512 {
        return Err(bad());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteStreamInput {
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    current_version: Option<String>,
}

fn delete_stream(call: &Call<'_>, input: DeleteStreamInput) -> Result<Value, ApiError> {
    let arn = input.stream_arn.ok_or_else(|| required("streamARN"))?;
    validate_arn(&arn)?;
    let name = call.registry().get_by_arn(&arn).map(|r| r.name);
    call.admit(name.as_deref(), &arn, &arn)?;
    call.registry()
        .delete(&arn, input.current_version.as_deref())?;
    tracing::info!(%arn, "stream deleted");
    Ok(json!({}))
}

/// `APIName` values of `GetDataEndpoint` (API reference, `GetDataEndpoint`).
const API_NAMES: &[&str] = &[
    "PUT_MEDIA",
    "GET_MEDIA",
    "LIST_FRAGMENTS",
    "GET_MEDIA_FOR_FRAGMENT_LIST",
    "GET_HLS_STREAMING_SESSION_URL",
    "GET_DASH_STREAMING_SESSION_URL",
    "GET_CLIP",
    "GET_IMAGES",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetDataEndpointInput {
    #[serde(flatten)]
    stream: StreamRef,
    #[serde(rename = "APIName")]
    api_name: Option<String>,
}

fn get_data_endpoint(call: &Call<'_>, input: GetDataEndpointInput) -> Result<Value, ApiError> {
    let api = input.api_name.ok_or_else(|| required("aPIName"))?;
    if !API_NAMES.contains(&api.as_str()) {
        return Err(constraint(
            &api,
            "aPIName",
            &format!(
                "Member must satisfy enum value set: [{}]",
                API_NAMES.join(", ")
            ),
        ));
    }
    call.admit_stream(&input.stream)?;
    // One listener serves both planes; AWS returns a per-stream host instead.
    let state = &call.ctx.state;
    let endpoint = match (&state.tls_url, call.ctx.connection.tls) {
        (Some(url), true) => url,
        _ => &state.data_endpoint_url,
    };
    Ok(json!({ "DataEndpoint": endpoint }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagStreamInput {
    #[serde(flatten)]
    stream: StreamRef,
    tags: Option<BTreeMap<String, String>>,
}

fn tag_stream(call: &Call<'_>, input: TagStreamInput) -> Result<Value, ApiError> {
    let tags = input.tags.ok_or_else(|| required("tags"))?;
    if tags.is_empty() || tags.len() > MAX_TAGS {
        return Err(constraint(
            &tags.len().to_string(),
            "tags",
            "Member must have length between 1 and 50",
        ));
    }
    validate_tags(&tags)?;
    let rec = call.admit_stream(&input.stream)?;
    call.registry().update(Some(&rec.name), None, |r| {
        let mut merged = r.tags.clone();
        merged.extend(tags);
        if merged.len() > MAX_TAGS {
            return Err(ApiError::tags_per_resource_exceeded(format!(
                "The stream {} would have {} tags; the limit is {MAX_TAGS}.",
                r.name,
                merged.len()
            )));
        }
        r.tags = merged;
        Ok(())
    })?;
    Ok(json!({}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagStreamInput {
    #[serde(flatten)]
    stream: StreamRef,
    tag_key_list: Option<Vec<String>>,
}

fn untag_stream(call: &Call<'_>, input: UntagStreamInput) -> Result<Value, ApiError> {
    let keys = input.tag_key_list.ok_or_else(|| required("tagKeyList"))?;
    if keys.is_empty() || keys.len() > MAX_TAGS {
        return Err(constraint(
            &keys.len().to_string(),
            "tagKeyList",
            "Member must have length between 1 and 50",
        ));
    }
    let rec = call.admit_stream(&input.stream)?;
    call.registry().update(Some(&rec.name), None, |r| {
        for k in &keys {
            r.tags.remove(k);
        }
        Ok(())
    })?;
    Ok(json!({}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsInput {
    #[serde(flatten)]
    stream: StreamRef,
    next_token: Option<String>,
}

fn list_tags(call: &Call<'_>, input: ListTagsInput) -> Result<Value, ApiError> {
    if let Some(t) = &input.next_token
        && t.len() > 512
    {
        return Err(constraint(
            t,
            "nextToken",
            "Member must have length less than or equal to 512",
        ));
    }
    let rec = call.admit_stream(&input.stream)?;
    // At most 50 tags: everything fits one page, so no NextToken is ever returned.
    Ok(json!({ "Tags": rec.tags }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateRetentionInput {
    #[serde(flatten)]
    stream: StreamRef,
    current_version: Option<String>,
    operation: Option<String>,
    data_retention_change_in_hours: Option<i64>,
}

fn update_retention(call: &Call<'_>, input: UpdateRetentionInput) -> Result<Value, ApiError> {
    let version = input
        .current_version
        .ok_or_else(|| required("currentVersion"))?;
    let op = input.operation.ok_or_else(|| required("operation"))?;
    let change = input
        .data_retention_change_in_hours
        .ok_or_else(|| required("dataRetentionChangeInHours"))?;
    let increase = match op.as_str() {
        "INCREASE_DATA_RETENTION" => true,
        "DECREASE_DATA_RETENTION" => false,
        _ => {
            return Err(constraint(
                &op,
                "operation",
                "Member must satisfy enum value set: [INCREASE_DATA_RETENTION, DECREASE_DATA_RETENTION]",
            ));
        }
    };
    if change < 1 {
        return Err(constraint(
            &change.to_string(),
            "dataRetentionChangeInHours",
            "Member must have value greater than or equal to 1",
        ));
    }
    let rec = call.admit_stream(&input.stream)?;
    StreamRegistry::check_version(&rec, Some(&version))?;
    call.registry().update(Some(&rec.name), None, |r| {
        StreamRegistry::check_version(r, Some(&version))?;
        let current = i64::from(r.data_retention_hours);
        let new = if increase {
            current + change
        } else {
            current - change
        };
        if !(0..=i64::from(MAX_RETENTION_HOURS)).contains(&new) {
            return Err(ApiError::invalid_argument(format!(
                "The resulting data retention {new} hours is outside 0..{MAX_RETENTION_HOURS}."
            )));
        }
        r.data_retention_hours = u32::try_from(new).unwrap_or(0);
        Ok(())
    })?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_validation_accepts_kvs_arns_only() {
        validate_arn("arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam1/1700000000000")
            .expect("a KVS stream ARN");
        for bad in [
            "",
            "cam1",
            "arn:aws:s3:::bucket",
            "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam1",
            "arn:aws:kinesisvideo:us-east-1:123456789012:stream/ca m1/17",
        ] {
            let e = validate_arn(bad).expect_err(bad);
            assert_eq!(e.code(), "InvalidArgumentException");
        }
    }

    #[test]
    fn malformed_json_is_a_serialization_error() {
        let e = parse::<StreamRef>(&Bytes::from_static(b"{\"StreamName\":")).expect_err("eof");
        assert_eq!(e.code(), "SerializationException");
        let e =
            parse::<CreateStreamInput>(&Bytes::from_static(b"{\"DataRetentionInHours\":\"x\"}"))
                .expect_err("wrong type");
        assert!(e.message().contains("wrong type"), "{e}");
        parse::<StreamRef>(&Bytes::new()).expect("an empty body is an empty input");
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        assert_eq!(
            decode_token(&encode_token("cam.1")).expect("round trip"),
            "cam.1"
        );
        assert!(decode_token("!!!").is_err());
        assert!(decode_token(&"A".repeat(600)).is_err());
    }
}
