//! kvs-local's admin HTTP API, under `/_kvs-local/` (a path no AWS SDK uses): fault rules
//! and early credential expiry. Requests are SigV4-signed like any KVS request (service
//! `kinesisvideo`) and need the `kvs-local:Admin` action (the bootstrap admin has it).
//!
//! | request | body | answer |
//! |---|---|---|
//! | `POST /_kvs-local/faults` | `{"Scope": "Any" \| {"Stream": "cam1"} \| {"Connection": 7} \| {"AccessKeyId": "ASIA…"}, "Fault": {"Type": "Throttle"} \| {"Type": "ServerError", "Status": 503} \| {"Type": "DropConnectionAfterBytes", "Bytes": 1000} \| {"Type": "Stall", "Millis": 2000} \| {"Type": "AckError", "ErrorId": 4000}, "Count": 3}` | `{"FaultId": 1}` |
//! | `GET /_kvs-local/faults` | — | `{"Faults": [rule…]}` |
//! | `DELETE /_kvs-local/faults` | — | `{}` (all rules removed) |
//! | `DELETE /_kvs-local/faults/{id}` | — | `{}` or `ResourceNotFoundException` |
//! | `POST /_kvs-local/expire-credentials` | `{"AccessKeyId": "ASIA…"}` or `{}` (all sessions) | `{"Expired": n}` |

use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::auth::{Action, PayloadHash};
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::faults::{Fault, FaultScope};
use crate::http::{MAX_JSON_BODY, ResponseBody, json_response, read_body};

/// Path prefix of the admin API.
pub const ADMIN_PREFIX: &str = "/_kvs-local/";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct InjectFault {
    scope: FaultScope,
    fault: Fault,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ExpireCredentials {
    access_key_id: Option<String>,
}

/// Handles one admin request.
pub async fn handle(ctx: &RequestContext, req: Request<Incoming>) -> Response<ResponseBody> {
    match handle_inner(ctx, req).await {
        Ok(v) => json_response(&v, &ctx.request_id),
        Err(e) => ctx.error_response(&e),
    }
}

async fn handle_inner(ctx: &RequestContext, req: Request<Incoming>) -> Result<Value, ApiError> {
    let (parts, body) = req.into_parts();
    let body = read_body(body, MAX_JSON_BODY).await?;
    let principal = ctx
        .state
        .auth
        .authenticate(&parts, PayloadHash::Body(&body))?;
    ctx.state
        .auth
        .authorize(&principal, Action::Admin, "*", parts.uri.path())?;
    let path = parts
        .uri
        .path()
        .strip_prefix(ADMIN_PREFIX)
        .unwrap_or_default();
    let faults = &ctx.state.faults;
    match (&parts.method, path) {
        (&Method::POST, "faults") => {
            let req: InjectFault = parse(&body)?;
            if let Fault::ServerError { status } = req.fault
                && status != 500
                && status != 503
            {
                return Err(ApiError::invalid_argument(
                    "ServerError Status must be 500 or 503",
                ));
            }
            let id = faults.inject(req.scope.clone(), req.fault.clone(), req.count);
            tracing::info!(id, scope = ?req.scope, fault = ?req.fault, count = req.count, "fault injected");
            Ok(json!({ "FaultId": id }))
        }
        (&Method::GET, "faults") => Ok(json!({ "Faults": faults.list() })),
        (&Method::DELETE, "faults") => {
            faults.clear();
            Ok(json!({}))
        }
        (&Method::DELETE, p) if p.starts_with("faults/") => {
            let id: u64 = p["faults/".len()..]
                .parse()
                .map_err(|_| ApiError::invalid_argument("fault id must be a number"))?;
            if faults.remove(id) {
                Ok(json!({}))
            } else {
                Err(ApiError::resource_not_found(format!("no fault rule {id}")))
            }
        }
        (&Method::POST, "expire-credentials") => {
            let req: ExpireCredentials = parse(&body)?;
            let store = ctx.state.auth.store();
            let now = OffsetDateTime::now_utc();
            let n = match req.access_key_id {
                Some(k) if store.expire_session(&k, now) => 1,
                Some(k) => {
                    return Err(ApiError::resource_not_found(format!(
                        "no temporary credentials with access key {k}"
                    )));
                }
                None => store.expire_all_sessions(now),
            };
            Ok(json!({ "Expired": n }))
        }
        _ => Err(ApiError::unknown_operation(format!(
            "{} {} is not an admin operation",
            parts.method,
            parts.uri.path()
        ))),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::serialization(format!("Malformed admin request: {e}")))
}
