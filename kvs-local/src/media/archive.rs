//! The archived-media APIs as `aws-sdk-kinesisvideoarchivedmedia` calls them:
//! `POST /listFragments` (JSON, paged) and `POST /getMediaForFragmentList` (MKV stream of
//! the named fragments, each with KVS's head tags).

use std::sync::Arc;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{Request, Response};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::getmedia::{MEDIA_CONTENT_TYPE, fragment_head};
use super::store::FragmentMeta;
use super::{MediaPlane, StreamMedia, streaming_response};
use crate::auth::{Action, Principal};
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::faults::{Fault, Plane};
use crate::http::{MAX_JSON_BODY, ResponseBody, json_response, read_body};
use crate::streams::StreamRecord;

/// Largest `MaxResults` (API reference: 1–1000).
const MAX_RESULTS: usize = 1000;
/// Most fragments one GetMediaForFragmentList names (API reference).
const MAX_FRAGMENT_LIST: usize = 1000;

/// Authorizes `action` on the stream named by `name`/`arn` and opens its media state.
pub(crate) fn open_stream(
    plane: &MediaPlane,
    ctx: &RequestContext,
    principal: &Principal,
    action: Action,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<(Arc<StreamMedia>, StreamRecord), ApiError> {
    if let (Some(n), None) = (name, arn) {
        ctx.authorize_stream_name(principal, action, n)?;
    }
    let stream = ctx.state.streams.resolve(name, arn)?;
    ctx.authorize(principal, action, &stream)?;
    let media = plane.stream(&stream)?;
    plane.expire(&stream, &media);
    Ok((media, stream))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListFragmentsInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
    fragment_selector: Option<FragmentSelector>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FragmentSelector {
    fragment_selector_type: String,
    timestamp_range: TimestampRange,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TimestampRange {
    start_timestamp: f64,
    end_timestamp: f64,
}

/// What a `NextToken` carries (base64 JSON): the selector and the last number returned.
#[derive(Debug, Serialize, Deserialize)]
struct PageToken {
    selector: Option<FragmentSelector>,
    after: String,
}

/// Handles `POST /listFragments`.
pub(crate) async fn list_fragments(
    plane: MediaPlane,
    ctx: RequestContext,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let result = match read_body(body, MAX_JSON_BODY).await {
        Ok(body) => list(&plane, &ctx, &parts, &body),
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => json_response(&v, &ctx.request_id),
        Err(e) => ctx.error_response(&e),
    }
}

fn list(
    plane: &MediaPlane,
    ctx: &RequestContext,
    parts: &Parts,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    let principal = ctx.authenticate_body(parts, body)?;
    let input: ListFragmentsInput = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_argument(format!("Invalid ListFragments request: {e}")))?;
    let max = match input.max_results {
        None => MAX_RESULTS,
        Some(n) if (1..=MAX_RESULTS as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::invalid_argument(format!(
                "MaxResults {n} is not between 1 and {MAX_RESULTS}"
            )));
        }
    };
    let (selector, after) = match &input.next_token {
        Some(t) => {
            let token = decode_token(t)?;
            (token.selector, Some(token.after))
        }
        None => (input.fragment_selector.clone(), None),
    };
    let (media, stream) = open_stream(
        plane,
        ctx,
        &principal,
        Action::ListFragments,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    )?;
    take_request_fault(ctx, &stream, &principal)?;
    let in_range = |m: &FragmentMeta| match &selector {
        None => true,
        Some(s) => {
            let t = match s.fragment_selector_type.as_str() {
                "SERVER_TIMESTAMP" => m.server_timestamp_ms,
                _ => m.producer_timestamp_ms,
            };
            let (lo, hi) = (
                seconds_to_ms(s.timestamp_range.start_timestamp),
                seconds_to_ms(s.timestamp_range.end_timestamp),
            );
            (lo..=hi).contains(&t)
        }
    };
    let after_ordinal = after.as_deref().and_then(super::store::parse_number);
    let state = media.lock();
    let mut page: Vec<&FragmentMeta> = state
        .store
        .fragments()
        .iter()
        .filter(|m| after_ordinal.is_none_or(|a| m.ordinal() > a))
        .filter(|m| in_range(m))
        .take(max + 1)
        .collect();
    let more = page.len() > max;
    page.truncate(max);
    let fragments: Vec<serde_json::Value> = page
        .iter()
        .map(|m| {
            json!({
                "FragmentNumber": m.fragment_number,
                "FragmentSizeInBytes": m.size,
                "ProducerTimestamp": m.producer_timestamp_ms as f64 / 1000.0,
                "ServerTimestamp": m.server_timestamp_ms as f64 / 1000.0,
                "FragmentLengthInMilliseconds": m.duration_ms,
            })
        })
        .collect();
    let mut out = json!({ "Fragments": fragments });
    if more && let Some(last) = page.last() {
        out["NextToken"] = json!(encode_token(&PageToken {
            selector,
            after: last.fragment_number.clone(),
        }));
    }
    Ok(out)
}

fn seconds_to_ms(s: f64) -> i64 {
    (s * 1000.0).round() as i64
}

fn encode_token(t: &PageToken) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(t).expect("page tokens serialize"))
}

fn decode_token(t: &str) -> Result<PageToken, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ApiError::invalid_argument("NextToken is not valid"))
}

fn take_request_fault(
    ctx: &RequestContext,
    stream: &StreamRecord,
    principal: &Principal,
) -> Result<Option<Fault>, ApiError> {
    let fault = ctx.take_fault(Plane::Data, Some(&stream.name), Some(principal));
    match fault.as_ref().and_then(Fault::to_api_error) {
        Some(e) => Err(e),
        None => Ok(fault),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FragmentListInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    fragments: Vec<String>,
}

/// Handles `POST /getMediaForFragmentList`.
pub(crate) async fn get_media_for_fragment_list(
    plane: MediaPlane,
    ctx: RequestContext,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let result = match read_body(body, MAX_JSON_BODY).await {
        Ok(body) => fragment_list(&plane, &ctx, &parts, &body),
        Err(e) => Err(e),
    };
    let (media, metas) = match result {
        Ok(r) => r,
        Err(e) => return ctx.error_response(&e),
    };
    let (tx, resp) = streaming_response(&ctx, MEDIA_CONTENT_TYPE);
    tokio::spawn(async move {
        for meta in metas {
            let read = media.lock().store.read(&meta);
            let bytes = match read {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "fragment vanished while being served");
                    let _ = tx.send(Err(e.to_string().into())).await;
                    return;
                }
            };
            let mut out = BytesMut::from(&fragment_head(&meta, &bytes)[..]);
            let at = usize::try_from(meta.cluster_offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            out.extend_from_slice(&bytes[at..]);
            if tx.send(Ok(Bytes::from(out))).await.is_err() {
                return;
            }
        }
    });
    resp
}

fn fragment_list(
    plane: &MediaPlane,
    ctx: &RequestContext,
    parts: &Parts,
    body: &[u8],
) -> Result<(Arc<StreamMedia>, Vec<FragmentMeta>), ApiError> {
    let principal = ctx.authenticate_body(parts, body)?;
    let input: FragmentListInput = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_argument(format!("Invalid GetMediaForFragmentList request: {e}"))
    })?;
    if input.fragments.is_empty() || input.fragments.len() > MAX_FRAGMENT_LIST {
        return Err(ApiError::invalid_argument(format!(
            "Fragments must name 1 to {MAX_FRAGMENT_LIST} fragments"
        )));
    }
    let (media, stream) = open_stream(
        plane,
        ctx,
        &principal,
        Action::GetMediaForFragmentList,
        input.stream_name.as_deref(),
        input.stream_arn.as_deref(),
    )?;
    take_request_fault(ctx, &stream, &principal)?;
    let metas = {
        let state = media.lock();
        input
            .fragments
            .iter()
            .map(|n| {
                state.store.get(n).cloned().ok_or_else(|| {
                    ApiError::resource_not_found(format!("Fragment {n} is not found"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok((media, metas))
}
