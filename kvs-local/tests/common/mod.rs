//! Helpers shared by the integration tests: start kvs-local in-process, build SDK clients
//! with static credentials, and sign raw requests with `aws-sigv4` for the cases the SDK
//! cannot produce (clock skew, malformed bodies, admin API).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_kinesisvideo::config::retry::RetryConfig;
use aws_sdk_kinesisvideo::config::{BehaviorVersion, Region};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use kvs_local::{Config, RunningServer, Server};

pub mod media;

pub async fn start(dir: &Path) -> RunningServer {
    start_with(Config::new(dir)).await
}

pub async fn start_with(config: Config) -> RunningServer {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Server::start(config).await.expect("kvs-local starts")
}

/// An SDK client without retries, so each call is exactly one request.
pub fn client(server: &RunningServer, creds: Credentials) -> aws_sdk_kinesisvideo::Client {
    client_with_retries(server, creds, RetryConfig::disabled())
}

pub fn client_with_retries(
    server: &RunningServer,
    creds: Credentials,
    retry: RetryConfig,
) -> aws_sdk_kinesisvideo::Client {
    let conf = aws_sdk_kinesisvideo::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(server.region().to_owned()))
        .credentials_provider(creds)
        .endpoint_url(server.control_url())
        .retry_config(retry)
        .build();
    aws_sdk_kinesisvideo::Client::from_conf(conf)
}

pub fn admin(server: &RunningServer) -> aws_sdk_kinesisvideo::Client {
    client(server, server.admin_credentials())
}

/// HTTP status of an SDK error that reached the server.
pub fn status<E>(
    err: &aws_sdk_kinesisvideo::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> u16 {
    err.raw_response()
        .map(|r| r.status().as_u16())
        .expect("the error came from an HTTP response")
}

/// POSTs `body` to `url + path`, signed by `creds` at `at` (SigV4 as the SDK does it).
pub async fn signed_request(
    method: &str,
    base_url: &str,
    path: &str,
    body: &[u8],
    creds: &Credentials,
    at: SystemTime,
) -> reqwest::Response {
    let url = format!("{base_url}{path}");
    let host = base_url.trim_start_matches("http://").to_owned();
    let identity: Identity = creds.clone().into();
    let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kinesisvideo")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/json"),
    ];
    let req = SignableRequest::new(
        method,
        url.as_str(),
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    let mut rb = reqwest::Client::new()
        .request(method.parse().unwrap(), &url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in instructions.headers() {
        rb = rb.header(k, v);
    }
    rb.send().await.expect("request reaches kvs-local")
}

/// Status, `x-amzn-ErrorType` and JSON body of a raw response.
pub async fn parts(resp: reqwest::Response) -> (u16, Option<String>, serde_json::Value) {
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.bytes().await.unwrap();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, kind, json)
}
