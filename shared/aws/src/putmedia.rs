//! One PutMedia connection: a chunked HTTP/1.1 POST whose body is the producer's MKV
//! stream, with the ACK events read from the response *while the upload continues*.
//!
//! PutMedia is in no AWS SDK but Java, so it is built here by hand, following producer-c
//! `src/source/CurlApiCallbacks.c` (`putStreamCurlHandler` and the request it builds):
//! `POST {data endpoint}/putMedia` with headers `user-agent`, `x-amzn-stream-name`,
//! `x-amzn-producer-start-timestamp` (`<seconds>.<millis>`), `x-amzn-fragment-acknowledgment-required: 1`,
//! `x-amzn-fragment-timecode-type: ABSOLUTE|RELATIVE`, `transfer-encoding: chunked`,
//! `connection: keep-alive`, plus `content-type: application/json` that its signer adds to
//! every request (`AwsV4Signer.c`), signed as in [`super::sigv4`].
//!
//! Session states ([`PutMediaState`]; one private function moves between them):
//! `Connecting` (request sent, waiting for the status line) → `Streaming` (200 received,
//! ACKs flowing, body still open) → `Draining` (body finished, remaining ACKs being read)
//! → `Closed`. Buffering, rotation and retry are the producer's job; this is one connection.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, HeaderValue};
use tokio::sync::{mpsc, oneshot};

use super::StreamId;
use super::ack::{AckError, AckEvent, AckParser};
pub use super::error::ServiceErrorKind;
use super::iot::provider::error_chain;
use super::sigv4::{self, KVS_SERVICE, PayloadSigning, SigV4Error};

/// Path appended to the data endpoint (producer-c `PUT_MEDIA_API_POSTFIX`).
pub const PUT_MEDIA_PATH: &str = "/putMedia";

/// Header names, as producer-c spells them.
pub mod headers {
    /// Stream name.
    pub const STREAM_NAME: &str = "x-amzn-stream-name";
    /// Stream ARN (alternative to the name).
    pub const STREAM_ARN: &str = "x-amzn-stream-arn";
    /// Producer start timestamp, `seconds.millis`.
    pub const PRODUCER_START_TIMESTAMP: &str = "x-amzn-producer-start-timestamp";
    /// `1` to receive ACKs.
    pub const ACK_REQUIRED: &str = "x-amzn-fragment-acknowledgment-required";
    /// `ABSOLUTE` or `RELATIVE`.
    pub const TIMECODE_TYPE: &str = "x-amzn-fragment-timecode-type";
    /// AWS error type on failed responses (`NotAuthorizedException[:…]`).
    pub const ERROR_TYPE: &str = "x-amzn-ErrorType";
    /// Request id on responses.
    pub const REQUEST_ID: &str = "x-amzn-RequestId";
}

/// Tags PIC writes into the PutMedia body itself (PIC `src/client/src/Stream.h`), and what
/// the service does with each (docs/KVS-LOCAL.md, "Tags in the PutMedia body").
pub mod tags {
    /// Ends the fragment in progress at once (PIC `EOFR_METADATA_NAME`, empty value): PIC
    /// writes it at the end of every upload and, with key-frame fragmentation, before every
    /// key frame. The service consumes it: it is neither stored nor returned by GetMedia.
    pub const END_OF_FRAGMENT: &str = "AWS_KINESISVIDEO_END_OF_FRAGMENT";
    /// Asks for an SNS notification on the fragment (`putKinesisVideoEventMetadata`).
    pub const NOTIFICATION: &str = "AWS_KINESISVIDEO_NOTIFICATION";
    /// Asks for image generation from the fragment (`putKinesisVideoEventMetadata`).
    pub const IMAGE_GENERATION: &str = "AWS_KINESISVIDEO_IMAGE_GENERATION";
    /// The S3 key prefix of generated images, nested in an image-generation event.
    pub const IMAGE_PREFIX: &str = "AWS_KINESISVIDEO_IMAGE_PREFIX";
}

/// What the service does with a tag found in a PutMedia body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRole {
    /// [`tags::END_OF_FRAGMENT`]: ends the fragment in progress; not stored.
    EndOfFragment,
    /// An event tag PIC writes (notification, image generation, image prefix): stored with
    /// the fragment and counted towards its 25 metadata items, like PIC counts it.
    Event,
    /// A name GetMedia itself writes (`AWS_KINESISVIDEO_FRAGMENT_NUMBER`, …): a producer
    /// sending it would forge what readers take from the service, so it is refused with
    /// ErrorId 4009 (inferred: no AWS source shows the service receiving one).
    ServiceOnly,
    /// Producer fragment metadata.
    Metadata,
}

/// The role of the PutMedia-body tag `name` (see [`TagRole`]).
pub fn tag_role(name: &str) -> TagRole {
    match name {
        tags::END_OF_FRAGMENT => TagRole::EndOfFragment,
        tags::NOTIFICATION | tags::IMAGE_GENERATION | tags::IMAGE_PREFIX => TagRole::Event,
        n if super::getmedia::SERVICE_TAGS.contains(&n) => TagRole::ServiceOnly,
        _ => TagRole::Metadata,
    }
}

/// Default depth of the body channel, in chunks (the producer sizes its own buffer).
pub const DEFAULT_BODY_CHANNEL: usize = 64;

/// Largest error body read from a failed response.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Whether cluster timecodes are absolute or relative to the start timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimecodeType {
    /// Cluster timecodes are absolute (what kvs-e2ee sends).
    #[default]
    Absolute,
    /// Cluster timecodes are relative to `x-amzn-producer-start-timestamp`.
    Relative,
}

impl TimecodeType {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Absolute => "ABSOLUTE",
            Self::Relative => "RELATIVE",
        }
    }
}

/// Everything needed to open one PutMedia connection.
#[derive(Debug, Clone)]
pub struct PutMediaRequest {
    /// Data endpoint from `GetDataEndpoint(PUT_MEDIA)`, e.g. `https://s-1234.kinesisvideo.us-west-2.amazonaws.com`.
    pub endpoint: String,
    /// The stream.
    pub stream: StreamId,
    /// Producer start timestamp (millisecond precision on the wire).
    pub start_timestamp: SystemTime,
    /// Credentials to sign with (resolve them from the shared provider just before opening).
    pub credentials: Credentials,
    /// Signing region.
    pub region: String,
    /// `user-agent` header.
    pub user_agent: String,
    /// Timecode type.
    pub timecode_type: TimecodeType,
    /// Depth of the body channel in chunks.
    pub body_channel: usize,
}

impl PutMediaRequest {
    /// A request with absolute timecodes and the default channel depth.
    pub fn new(
        endpoint: impl Into<String>,
        stream: StreamId,
        start_timestamp: SystemTime,
        credentials: Credentials,
        region: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            stream,
            start_timestamp,
            credentials,
            region: region.into(),
            user_agent: default_user_agent(),
            timecode_type: TimecodeType::Absolute,
            body_channel: DEFAULT_BODY_CHANNEL,
        }
    }
}

/// `kvs-e2ee/<version>`.
pub fn default_user_agent() -> String {
    format!("kvs-e2ee/{}", env!("CARGO_PKG_VERSION"))
}

/// `seconds.millis` with the millis zero-padded to three digits, as in the API reference's
/// `1511852108.513`. (producer-c prints `millis % 1000` unpadded, so 5 ms becomes `.5`;
/// we do not copy that.)
pub fn format_producer_timestamp(t: SystemTime) -> String {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A PutMedia request the service refused, with AWS's error type and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// HTTP status.
    pub status: u16,
    /// AWS error type (`NotAuthorizedException`), the part of `x-amzn-ErrorType` before `:`.
    pub error_type: Option<String>,
    /// The message from the JSON body.
    pub message: Option<String>,
    /// `x-amzn-RequestId`.
    pub request_id: Option<String>,
}

impl ServiceError {
    /// Reads status, `x-amzn-ErrorType` and the JSON body (`message`/`Message`, or
    /// `__type`/`code` when the header is absent) as AWS REST-JSON services send them.
    pub fn from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |names: &[&str]| {
            json.as_ref().and_then(|v| {
                names
                    .iter()
                    .find_map(|n| v.get(*n)?.as_str().map(str::to_owned))
            })
        };
        let header = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let raw_type = header(headers::ERROR_TYPE).or_else(|| field(&["__type", "code", "Code"]));
        // `x-amzn-ErrorType` may carry a suffix (`Type:http://…`); `__type` may carry a
        // namespace prefix (`com.amazonaws…#Type`).
        let error_type = raw_type.map(|t| {
            let t = t.split(':').next().unwrap_or_default();
            t.rsplit('#').next().unwrap_or_default().to_owned()
        });
        Self {
            status,
            error_type: error_type.filter(|t| !t.is_empty()),
            message: field(&["message", "Message"]),
            request_id: header(headers::REQUEST_ID),
        }
    }

    /// The body kvs-local answers with: `{"message":"…"}` (send `error_type` in
    /// `x-amzn-ErrorType`).
    pub fn encode_body(message: &str) -> String {
        serde_json::json!({ "message": message }).to_string()
    }

    /// The error class.
    pub fn kind(&self) -> ServiceErrorKind {
        ServiceErrorKind::classify(self.error_type.as_deref(), Some(self.status))
    }

    /// Whether reconnecting (after refreshing credentials / endpoint, with backoff) can help;
    /// see [`ServiceErrorKind::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(t) = &self.error_type {
            write!(f, " {t}")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// A PutMedia connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PutMediaError {
    /// The request could not be built (bad endpoint URL, header value).
    #[error("PutMedia request invalid: {0}")]
    InvalidRequest(String),
    /// Signing failed.
    #[error("PutMedia signing failed: {0}")]
    Signing(#[from] SigV4Error),
    /// Connect, TLS or I/O failure talking to the endpoint.
    #[error("PutMedia to {endpoint}: connection failed: {detail}")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// Error chain.
        detail: String,
    },
    /// The service answered with an HTTP error.
    #[error("PutMedia to {endpoint} refused: {error}")]
    Service {
        /// The endpoint.
        endpoint: String,
        /// Status, AWS error type and message.
        error: Box<ServiceError>,
    },
    /// The ACK stream was malformed.
    #[error("PutMedia to {endpoint}: {source}")]
    Ack {
        /// The endpoint.
        endpoint: String,
        /// Parser error with byte offset.
        source: AckError,
    },
    /// The connection is closed; no more body bytes can be sent.
    #[error("PutMedia connection is closed")]
    Closed,
}

impl PutMediaError {
    /// Whether opening a new connection may succeed: transport failures, malformed ACK
    /// streams and retryable service errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Ack { .. } | Self::Closed => true,
            Self::Service { error, .. } => error.is_retryable(),
            Self::InvalidRequest(_) | Self::Signing(_) => false,
        }
    }
}

/// Where a connection is in its life. Declared in life order: the connection stores the
/// discriminant and only ever raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMediaState {
    /// Request sent, waiting for the response status.
    Connecting,
    /// 200 received; body open; ACKs flowing.
    Streaming,
    /// Body finished; reading the remaining ACKs.
    Draining,
    /// The response ended or failed.
    Closed,
}

/// Shared state of one connection, moved forward only by [`StateCell::advance`].
#[derive(Debug)]
struct StateCell(AtomicU8);

impl StateCell {
    fn new() -> Self {
        Self(AtomicU8::new(0))
    }

    fn get(&self) -> PutMediaState {
        match self.0.load(Ordering::Acquire) {
            0 => PutMediaState::Connecting,
            1 => PutMediaState::Streaming,
            2 => PutMediaState::Draining,
            _ => PutMediaState::Closed,
        }
    }

    /// States only move forward; `Draining` may be entered before the 200 arrives (the body
    /// can be finished early), and then the 200 does not move it back to `Streaming`.
    fn advance(&self, to: PutMediaState) {
        let rank = to as u8;
        self.0.fetch_max(rank, Ordering::AcqRel);
    }
}

/// Sends MKV bytes into the connection's body. Bounded: `send` waits when the network is slower
/// than the producer. Dropping it (or [`finish`](Self::finish)) ends the chunked body.
#[derive(Debug)]
pub struct PutMediaSender {
    tx: Option<mpsc::Sender<Bytes>>,
    /// Fired by [`abort`](Self::abort): the body then fails instead of ending.
    abort: Option<oneshot::Sender<()>>,
    state: Arc<StateCell>,
}

impl PutMediaSender {
    /// Queues `bytes` for the body; `Err(Closed)` if the connection has ended.
    pub async fn send(&self, bytes: Bytes) -> Result<(), PutMediaError> {
        let tx = self.tx.as_ref().ok_or(PutMediaError::Closed)?;
        tx.send(bytes).await.map_err(|_| PutMediaError::Closed)
    }

    /// Ends the body (the final zero-length chunk is sent after queued bytes) and moves the
    /// connection to `Draining`.
    pub fn finish(&mut self) {
        if self.tx.take().is_some() {
            self.state.advance(PutMediaState::Draining);
        }
    }

    /// Ends the body abnormally: the request fails and the connection closes without the
    /// final zero-length chunk, so the service discards the fragment in progress instead of
    /// completing it truncated (as [`finish`](Self::finish) would make it do). Bytes still
    /// queued are dropped. For a connection the producer gives up on (e.g. stalled).
    pub fn abort(&mut self) {
        if let Some(abort) = self.abort.take() {
            // The body stream may already be gone; then there is nothing to abort.
            let _ = abort.send(());
        }
        self.tx = None;
        self.state.advance(PutMediaState::Closed);
    }

    /// The connection's state.
    pub fn state(&self) -> PutMediaState {
        self.state.get()
    }
}

impl Drop for PutMediaSender {
    fn drop(&mut self) {
        self.finish();
    }
}

/// ACK events of one connection, in order. The first item is an `Err` if the service
/// refused the request; the stream ends when the service closes the response. Dropping it
/// does not cut the upload: the response is still read (and its events discarded).
#[derive(Debug)]
pub struct AckStream {
    rx: mpsc::Receiver<Result<AckEvent, PutMediaError>>,
    state: Arc<StateCell>,
}

impl AckStream {
    /// The next event, `None` when the response has ended.
    pub async fn recv(&mut self) -> Option<Result<AckEvent, PutMediaError>> {
        self.rx.recv().await
    }

    /// The connection's state.
    pub fn state(&self) -> PutMediaState {
        self.state.get()
    }
}

impl Stream for AckStream {
    type Item = Result<AckEvent, PutMediaError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Opens PutMedia connections.
pub struct PutMediaConnection;

impl PutMediaConnection {
    /// An HTTP client suited to PutMedia: HTTP/1.1 only (chunked upload with a concurrent
    /// response), no pooling (each PutMedia is its own long connection), TCP keep-alive.
    pub fn http_client(connect_timeout: Duration) -> Result<reqwest::Client, PutMediaError> {
        Self::http_client_trusting(connect_timeout, None)
    }

    /// [`http_client`](Self::http_client) trusting the CAs of `ca_pem` (a PEM bundle)
    /// besides the system roots.
    pub fn http_client_trusting(
        connect_timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<reqwest::Client, PutMediaError> {
        super::config::install_crypto_provider();
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| PutMediaError::InvalidRequest(error_chain(&e)))?;
            builder = builder.tls_certs_merge(certs);
        }
        builder
            .http1_only()
            .tls_backend_rustls()
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .tcp_keepalive(Some(Duration::from_secs(30)))
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| PutMediaError::InvalidRequest(error_chain(&e)))
    }

    /// Opens a connection with a fresh [`http_client`](Self::http_client).
    pub async fn open(req: PutMediaRequest) -> Result<(PutMediaSender, AckStream), PutMediaError> {
        let client = Self::http_client(Duration::from_secs(10))?;
        Self::open_with(&client, req).await
    }

    /// Signs and starts the request on `client`. Returns at once: the sender accepts bytes
    /// immediately (they flow once the connection is up); HTTP errors arrive as the first
    /// item of the [`AckStream`].
    pub async fn open_with(
        client: &reqwest::Client,
        req: PutMediaRequest,
    ) -> Result<(PutMediaSender, AckStream), PutMediaError> {
        let (body_tx, body_rx) = mpsc::channel::<Bytes>(req.body_channel.max(1));
        let (abort_tx, abort_rx) = oneshot::channel::<()>();
        let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(
            (body_rx, Some(abort_rx)),
            next_body_chunk,
        ));
        let signed = build_signed_request(&req, SystemTime::now())?;
        let request = reqwest::Request::try_from(signed.map(|()| body))
            .map_err(|e| PutMediaError::InvalidRequest(error_chain(&e)))?;
        let endpoint = request.url().authority().to_owned();
        let state = Arc::new(StateCell::new());
        let (ack_tx, ack_rx) = mpsc::channel(64);
        let driver = Driver {
            endpoint,
            state: state.clone(),
            acks: ack_tx,
        };
        tokio::spawn(driver.run(client.execute(request)));
        Ok((
            PutMediaSender {
                tx: Some(body_tx),
                abort: Some(abort_tx),
                state: state.clone(),
            },
            AckStream { rx: ack_rx, state },
        ))
    }
}

type BodyState = (mpsc::Receiver<Bytes>, Option<oneshot::Receiver<()>>);

/// The next body chunk: queued bytes until the sender finishes (end of body), or an error
/// once [`PutMediaSender::abort`] fires (hyper then drops the connection mid-body).
async fn next_body_chunk(
    (mut rx, mut abort): BodyState,
) -> Option<(Result<Bytes, std::io::Error>, BodyState)> {
    loop {
        let Some(signal) = abort.as_mut() else {
            return rx.recv().await.map(|b| (Ok(b), (rx, None)));
        };
        tokio::select! {
            biased;
            fired = signal => match fired {
                Ok(()) => {
                    rx.close();
                    while rx.try_recv().is_ok() {}
                    let err = std::io::Error::other("PutMedia body aborted by the producer");
                    return Some((Err(err), (rx, None)));
                }
                // The sender was dropped without aborting: a normal end follows.
                Err(_) => abort = None,
            },
            b = rx.recv() => return b.map(|b| (Ok(b), (rx, abort))),
        }
    }
}

/// Builds and signs the request head (body attached by the caller).
pub fn build_signed_request(
    req: &PutMediaRequest,
    now: SystemTime,
) -> Result<http::Request<()>, PutMediaError> {
    let url = reqwest::Url::parse(req.endpoint.trim_end_matches('/'))
        .map_err(|e| PutMediaError::InvalidRequest(format!("endpoint {:?}: {e}", req.endpoint)))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(PutMediaError::InvalidRequest(format!(
            "endpoint {:?} is not an http(s) URL",
            req.endpoint
        )));
    }
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let uri = format!("{}://{host}{PUT_MEDIA_PATH}", url.scheme());
    let (stream_header, stream_value) = match &req.stream {
        StreamId::Name(n) => (headers::STREAM_NAME, n.as_str()),
        StreamId::Arn(a) => (headers::STREAM_ARN, a.as_str()),
    };
    let mut signed = http::Request::post(uri)
        .header(http::header::HOST, host)
        .header(http::header::USER_AGENT, &req.user_agent)
        .header(stream_header, stream_value)
        .header(
            headers::PRODUCER_START_TIMESTAMP,
            format_producer_timestamp(req.start_timestamp),
        )
        .header(headers::ACK_REQUIRED, "1")
        .header(headers::TIMECODE_TYPE, req.timecode_type.as_str())
        .header(http::header::TRANSFER_ENCODING, "chunked")
        .header(http::header::CONNECTION, "keep-alive")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(())
        .map_err(|e| PutMediaError::InvalidRequest(e.to_string()))?;
    sigv4::sign_request(
        &mut signed,
        &req.credentials,
        &req.region,
        KVS_SERVICE,
        now,
        PayloadSigning::EmptyBody,
    )?;
    Ok(signed)
}

/// Reads the response of one connection and forwards ACK events.
struct Driver {
    endpoint: String,
    state: Arc<StateCell>,
    acks: mpsc::Sender<Result<AckEvent, PutMediaError>>,
}

impl Driver {
    async fn run(
        self,
        response: impl std::future::Future<Output = Result<reqwest::Response, reqwest::Error>>,
    ) {
        let result = self.drive(response).await;
        self.state.advance(PutMediaState::Closed);
        if let Err(e) = result {
            // The receiver may be gone; then nobody is interested in the error.
            let _ = self.acks.send(Err(e)).await;
        }
    }

    async fn drive(
        &self,
        response: impl std::future::Future<Output = Result<reqwest::Response, reqwest::Error>>,
    ) -> Result<(), PutMediaError> {
        let mut response = response.await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = read_bounded(&mut response, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            return Err(PutMediaError::Service {
                endpoint: self.endpoint.clone(),
                error: Box::new(ServiceError::from_response(
                    status.as_u16(),
                    &headers,
                    &body,
                )),
            });
        }
        self.state.advance(PutMediaState::Streaming);
        let mut parser = AckParser::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(&e))? {
            parser.push(&chunk);
            while let Some(event) = parser.next_event().map_err(|e| self.ack_error(e))? {
                // If the caller dropped the AckStream we keep reading (and discarding): dropping
                // the response would close the connection and cut the upload.
                let _ = self.acks.send(Ok(event)).await;
            }
        }
        parser.finish().map_err(|e| self.ack_error(e))
    }

    fn transport(&self, e: &reqwest::Error) -> PutMediaError {
        PutMediaError::Transport {
            endpoint: self.endpoint.clone(),
            detail: error_chain(e),
        }
    }

    fn ack_error(&self, source: AckError) -> PutMediaError {
        PutMediaError::Ack {
            endpoint: self.endpoint.clone(),
            source,
        }
    }
}

async fn read_bounded(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    Ok(body)
}

#[cfg(test)]
#[path = "putmedia_tests.rs"]
mod tests;
