//! What every request handler shares: the server's state ([`ServerState`]), the
//! per-request [`RequestContext`] (SigV4 from the head alone
//! ([`RequestContext::authenticate_streaming`]), authorization
//! ([`RequestContext::authorize`]), fault hooks ([`RequestContext::take_fault`])), and the
//! [`DataPlane`] extension point the media plane implements. Its own module so the router
//! and the handlers it calls (admin, control, media) depend on it, not on each other.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::request::Parts;
use http::{Request, Response};
use hyper::body::Incoming;

use crate::auth::{Action, Authenticator, PayloadHash, Principal};
use crate::error::ApiError;
use crate::faults::{Fault, FaultContext, Faults, Plane};
use crate::http::{ResponseBody, error_response};
use crate::iot::IotProvider;
use crate::streams::{StreamRecord, StreamRegistry};

/// Paths of the KVS data-plane APIs (kinesis-video-media and -archived-media), served by
/// the registered [`DataPlane`].
pub const DATA_PLANE_PATHS: &[&str] = &[
    "/putMedia",
    "/getMedia",
    "/listFragments",
    "/getMediaForFragmentList",
    "/getHLSStreamingSessionURL",
    "/getDASHStreamingSessionURL",
    "/getClip",
    "/getImages",
];

/// A boxed response future (what a [`DataPlane`] returns).
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send>>;

/// The data-plane extension point: a handler for [`DATA_PLANE_PATHS`].
///
/// It receives the request with its body unread (PutMedia streams for an hour) and must
/// authenticate and authorize it itself through the [`RequestContext`].
pub trait DataPlane: Send + Sync + 'static {
    /// Short name for logs and `Debug`.
    fn name(&self) -> &'static str;

    /// Handles one data-plane request (`req.uri().path()` is one of [`DATA_PLANE_PATHS`]).
    fn call(&self, ctx: RequestContext, req: Request<Incoming>) -> ResponseFuture;
}

/// State shared by every handler of one running server.
pub struct ServerState {
    /// Region of this server.
    pub region: String,
    /// Account id of this server.
    pub account_id: String,
    /// URL clients reach the control plane at (`http://127.0.0.1:PORT`).
    pub control_url: String,
    /// URL returned by `GetDataEndpoint` to a request that came over plain HTTP (the same
    /// listener).
    pub data_endpoint_url: String,
    /// URL of the HTTPS listener, if one runs: `GetDataEndpoint` returns it to a request
    /// that came over TLS, so a client stays on the scheme (and CA) it chose.
    pub tls_url: Option<String>,
    /// Authentication and authorization.
    pub auth: Authenticator,
    /// The streams.
    pub streams: StreamRegistry,
    /// Fault rules.
    pub faults: Faults,
    /// The IoT credentials provider's state (certificates, aliases).
    pub iot: IotProvider,
    /// The data-plane handler, if any.
    pub data_plane: Option<Arc<dyn DataPlane>>,
}

impl fmt::Debug for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerState")
            .field("region", &self.region)
            .field("control_url", &self.control_url)
            .field("tls_url", &self.tls_url)
            .field("data_plane", &self.data_plane.as_ref().map(|d| d.name()))
            .finish_non_exhaustive()
    }
}

/// Facts about the TCP connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionInfo {
    /// Connection id (unique per server run).
    pub id: u64,
    /// Client address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS (the HTTPS listener).
    pub tls: bool,
}

/// Per-request context handed to handlers (and to the [`DataPlane`]).
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Shared server state.
    pub state: Arc<ServerState>,
    /// The connection.
    pub connection: ConnectionInfo,
    /// The request id sent back in `x-amzn-RequestId`.
    pub request_id: String,
}

impl RequestContext {
    /// SigV4 verification from the request head alone, for streamed bodies: the client
    /// signed the empty-body hash (producer-c) or `UNSIGNED-PAYLOAD` (Java producer).
    pub fn authenticate_streaming(&self, parts: &Parts) -> Result<Principal, ApiError> {
        self.state.auth.authenticate(parts, PayloadHash::Streaming)
    }

    /// SigV4 verification of a request whose whole body was read.
    pub fn authenticate_body(&self, parts: &Parts, body: &[u8]) -> Result<Principal, ApiError> {
        self.state.auth.authenticate(parts, PayloadHash::Body(body))
    }

    /// Checks `principal` may perform `action` on `stream`.
    pub fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        stream: &StreamRecord,
    ) -> Result<(), ApiError> {
        self.state
            .auth
            .authorize(principal, action, &stream.arn, &stream.name)
    }

    /// Checks `principal` may perform `action` on the stream named `name`, which may not
    /// exist (authorization precedes the existence check, as in AWS).
    pub fn authorize_stream_name(
        &self,
        principal: &Principal,
        action: Action,
        name: &str,
    ) -> Result<(), ApiError> {
        let arn = self.state.streams.resource_arn(name);
        self.state.auth.authorize(principal, action, &arn, name)
    }

    /// Consumes a fault rule matching this request, if any. Data-plane handlers pass
    /// [`Plane::Data`] and act on every [`Fault`] kind (drop, stall, ERROR ack).
    pub fn take_fault(
        &self,
        plane: Plane,
        stream: Option<&str>,
        principal: Option<&Principal>,
    ) -> Option<Fault> {
        self.state.faults.take(&FaultContext {
            plane,
            stream,
            connection: self.connection.id,
            access_key_id: principal.map(Principal::access_key_id),
        })
    }

    /// The AWS-shaped response for `err`.
    pub fn error_response(&self, err: &ApiError) -> Response<ResponseBody> {
        error_response(err, &self.request_id)
    }
}
