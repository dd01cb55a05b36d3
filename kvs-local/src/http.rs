//! HTTP plumbing shared by every handler: the response body type (streaming-capable, so
//! data-plane handlers can stream ACKs and media), JSON/error responses, request ids and
//! bounded body reads.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use serde::Serialize;

use crate::error::ApiError;

/// Error type of response bodies (a streaming data-plane body may fail mid-way).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Body of every response kvs-local sends: a fixed buffer or a stream.
pub type ResponseBody = BoxBody<Bytes, BoxError>;

/// Header carrying the request id on every response (`x-amzn-RequestId`, as KVS sends it).
pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";

/// Header naming the error type on error responses (read by every AWS SDK).
pub const ERROR_TYPE_HEADER: &str = "x-amzn-ErrorType";

/// kvs-local's own header with the id of the TCP connection that carried the request, so a
/// test can aim a fault at its connection. AWS does not send it; SDKs ignore unknown headers.
pub const CONNECTION_ID_HEADER: &str = "x-kvs-local-connection-id";

/// Largest control-plane request body accepted (KVS bodies are a few hundred bytes; the
/// bound keeps a hostile client from making us buffer without limit).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// A body holding `bytes`.
pub fn full_body(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A new request id in the UUID form AWS uses (`8f0c…-…`).
pub fn new_request_id() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
    // RFC 4122 version 4 / variant bits, so the id looks like AWS's.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A `200 OK` JSON response.
pub fn json_response<T: Serialize>(value: &T, request_id: &str) -> Response<ResponseBody> {
    let body = serde_json::to_vec(value).expect("response types serialize to JSON infallibly");
    with_common_headers(Response::new(full_body(body)), StatusCode::OK, request_id)
}

/// The AWS-shaped response for `err`: status, `x-amzn-ErrorType`, JSON message body.
pub fn error_response(err: &ApiError, request_id: &str) -> Response<ResponseBody> {
    let mut resp = with_common_headers(
        Response::new(full_body(err.body_json())),
        err.status(),
        request_id,
    );
    if let Ok(v) = HeaderValue::from_str(err.code()) {
        resp.headers_mut().insert(ERROR_TYPE_HEADER, v);
    }
    resp
}

fn with_common_headers(
    mut resp: Response<ResponseBody>,
    status: StatusCode,
    request_id: &str,
) -> Response<ResponseBody> {
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    resp
}

/// Reads a whole request body, refusing more than `limit` bytes before buffering them.
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::invalid_argument(
            format!("Request body exceeds the maximum size of {limit} bytes"),
        )),
        Err(e) => Err(ApiError::serialization(format!(
            "Could not read the request body: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_shaped_and_distinct() {
        let a = new_request_id();
        let b = new_request_id();
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn oversized_body_is_refused() {
        let body = Full::new(Bytes::from(vec![b'x'; 100]));
        let err = read_body(body, 10).await.expect_err("over the limit");
        assert_eq!(err.code(), "InvalidArgumentException");
        let ok = read_body(Full::new(Bytes::from_static(b"{}")), 10).await;
        assert_eq!(ok.expect("within the limit"), Bytes::from_static(b"{}"));
    }
}
