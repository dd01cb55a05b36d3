//! The HTTPS handler of the IoT credentials endpoint (the listener and TLS handshake are in
//! `crate::server`): routes `GET /role-aliases/{alias}/credentials` to
//! [`super::IotProvider::issue_credentials`] and encodes the answer with the shared wire
//! types, so our client and this server cannot drift apart.

use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use kvs_e2ee_aws::iot::wire::{IotCredentials, IotCredentialsResponse, THING_NAME_HEADER};
use rustls_pki_types::CertificateDer;

use crate::context::ServerState;
use crate::error::ApiError;
use crate::http::{ERROR_TYPE_HEADER, REQUEST_ID_HEADER, ResponseBody, full_body, new_request_id};

/// Handles one request on the IoT endpoint; `chain` is the client certificate chain.
pub async fn handle<B>(
    state: Arc<ServerState>,
    chain: Arc<Vec<CertificateDer<'static>>>,
    req: Request<B>,
) -> Response<ResponseBody> {
    let request_id = new_request_id();
    let result = credentials(&state, &chain, &req);
    let (status, body, error_type) = match result {
        Ok(body) => (StatusCode::OK, body, None),
        Err(e) => (e.status(), e.body_json(), Some(e.code())),
    };
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    if let Some(t) = error_type {
        h.insert(ERROR_TYPE_HEADER, HeaderValue::from_static(t));
    }
    resp
}

fn credentials<B>(
    state: &ServerState,
    chain: &[CertificateDer<'static>],
    req: &Request<B>,
) -> Result<String, ApiError> {
    let path = req.uri().path();
    let alias = path
        .strip_prefix("/role-aliases/")
        .and_then(|rest| rest.strip_suffix("/credentials"))
        .filter(|a| !a.contains('/'));
    let (Some(alias), &Method::GET) = (alias, req.method()) else {
        // Guessed shape: the real endpoint serves only this path.
        return Err(ApiError::iot(
            "ResourceNotFoundException",
            StatusCode::NOT_FOUND,
            "Not Found",
        ));
    };
    let thing = match req.headers().get(THING_NAME_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::iot(
                "AccessDeniedException",
                StatusCode::FORBIDDEN,
                "Invalid thing name passed",
            )
        })?),
    };
    let session = state.iot.issue_credentials(chain, alias, thing)?;
    let body = IotCredentialsResponse {
        credentials: IotCredentials {
            access_key_id: session.access_key_id.clone(),
            secret_access_key: session.secret_access_key.expose().to_owned(),
            session_token: session.session_token.expose().to_owned(),
            expiration: session.expires_at(),
        },
    };
    Ok(body.to_json())
}
