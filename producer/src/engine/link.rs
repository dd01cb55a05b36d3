//! The engine's view of a PutMedia connection, as traits, so the
//! retry/resend/buffer logic is written once against [`Connector`] and runs
//! on the real client ([`KvsConnector`]: `kvs_e2ee_aws::putmedia`) in
//! production and on a scripted connection in unit tests.

use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::ack::AckEvent;
use kvs_e2ee_aws::config::ClientConfig;
use kvs_e2ee_aws::control::{self, DataApi};
use kvs_e2ee_aws::error::ApiError;
use kvs_e2ee_aws::putmedia::{
    AckStream, PutMediaConnection, PutMediaError, PutMediaRequest, PutMediaSender,
};

/// Consecutive failed connections after which the data endpoint is looked up again.
pub const REFRESH_ENDPOINT_AFTER: u32 = 3;

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The credentials provider failed (IoT endpoint down, profile unreadable).
    #[error("getting AWS credentials: {0}")]
    Credentials(String),
    /// GetDataEndpoint failed.
    #[error(transparent)]
    Endpoint(#[from] ApiError),
    /// The PutMedia request could not be started.
    #[error(transparent)]
    PutMedia(#[from] PutMediaError),
}

impl ConnectError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            // A provider that fails now (network, IoT endpoint) may work later; setup
            // mistakes are caught by the control-plane calls before streaming starts.
            Self::Credentials(_) => true,
            Self::Endpoint(e) => e.is_retryable(),
            Self::PutMedia(e) => e.is_retryable(),
        }
    }
}

/// The body side of a connection.
pub trait MediaSink: Send {
    /// Queues bytes for the body; waits while the network is slower than the
    /// camera. Cancel-safe: if the future is dropped, nothing was queued.
    fn send(&mut self, bytes: Bytes) -> impl Future<Output = Result<(), PutMediaError>> + Send;
    /// Ends the body (KVS then completes the last fragment).
    fn finish(&mut self);
    /// Breaks the body off, so KVS discards the fragment in progress rather
    /// than completing it truncated (a connection given up on).
    fn abort(&mut self);
}

/// The ACK side of a connection.
pub trait AckSource: Send {
    /// The next event; `None` when the response has ended. Cancel-safe.
    fn recv(&mut self) -> impl Future<Output = Option<Result<AckEvent, PutMediaError>>> + Send;
}

/// Opens connections.
pub trait Connector: Send {
    /// Body side.
    type Sink: MediaSink;
    /// ACK side.
    type Acks: AckSource;
    /// Opens a new PutMedia connection; `failures` is how many attempts in a
    /// row have failed so far (0 after progress).
    fn connect(
        &mut self,
        failures: u32,
    ) -> impl Future<Output = Result<(Self::Sink, Self::Acks), ConnectError>> + Send;
}

impl MediaSink for PutMediaSender {
    async fn send(&mut self, bytes: Bytes) -> Result<(), PutMediaError> {
        // tokio's mpsc `send` queues nothing when cancelled.
        PutMediaSender::send(self, bytes).await
    }

    fn finish(&mut self) {
        PutMediaSender::finish(self);
    }

    fn abort(&mut self) {
        PutMediaSender::abort(self);
    }
}

impl AckSource for AckStream {
    async fn recv(&mut self) -> Option<Result<AckEvent, PutMediaError>> {
        AckStream::recv(self).await
    }
}

/// Opens real PutMedia connections: fresh credentials from the shared
/// provider for each (IoT credentials are refreshed there, before they
/// expire). The data endpoint comes from GetDataEndpoint and is kept: KVS
/// data endpoints are stable per stream, and asking on every reconnect would
/// add rate-limited control-plane calls to every retry. After
/// [`REFRESH_ENDPOINT_AFTER`] failures in a row it is asked again (the
/// endpoint may have moved: `InvalidEndpointException`).
pub struct KvsConnector {
    config: ClientConfig,
    control: aws_sdk_kinesisvideo::Client,
    http: reqwest::Client,
    stream: StreamId,
    endpoint: Option<String>,
    start: SystemTime,
}

impl KvsConnector {
    /// A connector for `stream`; `endpoint` is a data endpoint already known
    /// (from GetDataEndpoint), if any.
    pub fn new(
        config: ClientConfig,
        stream: StreamId,
        endpoint: Option<String>,
    ) -> Result<Self, ConnectError> {
        Ok(Self {
            control: config.control_client(),
            http: config.put_media_http_client(Duration::from_secs(10))?,
            config,
            stream,
            endpoint,
            start: SystemTime::now(),
        })
    }
}

impl Connector for KvsConnector {
    type Sink = PutMediaSender;
    type Acks = AckStream;

    async fn connect(
        &mut self,
        failures: u32,
    ) -> Result<(PutMediaSender, AckStream), ConnectError> {
        if failures >= REFRESH_ENDPOINT_AFTER {
            self.endpoint = None;
        }
        let endpoint = match &self.endpoint {
            Some(e) => e.clone(),
            None => {
                let e = control::get_data_endpoint(&self.control, &self.stream, DataApi::PutMedia)
                    .await?;
                self.endpoint = Some(e.clone());
                e
            }
        };
        let credentials = self
            .config
            .credentials()
            .await
            .map_err(|e| ConnectError::Credentials(error_chain(&e)))?;
        let request = PutMediaRequest::new(
            endpoint,
            self.stream.clone(),
            self.start,
            credentials,
            self.config.region(),
        );
        let opened = PutMediaConnection::open_with(&self.http, request).await?;
        Ok(opened)
    }
}

/// `error: cause: cause` (credential errors carry their cause in `source`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
