//! Request routing.
//!
//! Every request on the main listener goes through [`route`]: the admin API under
//! [`crate::admin::ADMIN_PREFIX`], the control-plane operations (`POST /createStream`, …),
//! then the data-plane paths ([`DATA_PLANE_PATHS`]) which are handed to the registered
//! [`DataPlane`](crate::context::DataPlane) (the media plane, [`crate::media`]); without one they answer
//! `UnknownOperationException` like any unknown path. Handlers get a
//! [`RequestContext`].

use std::sync::Arc;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use crate::context::{ConnectionInfo, DATA_PLANE_PATHS, RequestContext, ServerState};
use crate::error::ApiError;
use crate::http::{CONNECTION_ID_HEADER, ResponseBody, new_request_id};
use crate::{admin, control};

/// Routes one request of the main listener.
pub async fn route(
    state: Arc<ServerState>,
    connection: ConnectionInfo,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let ctx = RequestContext {
        state,
        connection,
        request_id: new_request_id(),
    };
    let path = req.uri().path().to_owned();
    let mut resp = if path.starts_with(admin::ADMIN_PREFIX) {
        admin::handle(&ctx, req).await
    } else if let Some(op) = control::Operation::from_path(&path) {
        control::handle(&ctx, op, req).await
    } else if let (true, Some(dp)) = (
        DATA_PLANE_PATHS.contains(&path.as_str()),
        ctx.state.data_plane.clone(),
    ) {
        dp.call(ctx.clone(), req).await
    } else {
        tracing::debug!(%path, "unknown operation");
        ctx.error_response(&ApiError::unknown_operation(format!(
            "No operation at {path} (kvs-local serves the KVS control plane{})",
            if ctx.state.data_plane.is_some() {
                " and data plane"
            } else {
                ""
            }
        )))
    };
    resp.headers_mut()
        .insert(CONNECTION_ID_HEADER, HeaderValue::from(connection.id));
    resp
}
