//! The data-plane extension point, exercised with a probe handler (a test double, not a
//! data plane): a streamed, chunked request signed the way producer-c (empty-body hash,
//! `user-agent` signed) and the Java producer (`UNSIGNED-PAYLOAD`) sign PutMedia is
//! authenticated from its headers before the body is read, authorized against the
//! caller's policy, and sees data-plane faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use kvs_local::Config;
use kvs_local::auth::Action;
use kvs_local::context::{DataPlane, RequestContext, ResponseFuture};
use kvs_local::faults::{Fault, FaultScope, Plane};
use kvs_local::http::{ResponseBody, json_response};
use serde_json::json;

struct Probe;

impl DataPlane for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }

    fn call(&self, ctx: RequestContext, req: Request<Incoming>) -> ResponseFuture {
        Box::pin(async move { probe(ctx, req).await })
    }
}

async fn probe(ctx: RequestContext, req: Request<Incoming>) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let principal = match ctx.authenticate_streaming(&parts) {
        Ok(p) => p,
        Err(e) => return ctx.error_response(&e),
    };
    let name = parts
        .headers
        .get("x-amzn-stream-name")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let stream = match ctx.state.streams.resolve(Some(&name), None) {
        Ok(s) => s,
        Err(e) => return ctx.error_response(&e),
    };
    if let Err(e) = ctx.authorize(&principal, Action::PutMedia, &stream) {
        return ctx.error_response(&e);
    }
    let fault = ctx.take_fault(Plane::Data, Some(&name), Some(&principal));
    let received = body.collect().await.unwrap().to_bytes().len();
    json_response(
        &json!({
            "Bytes": received,
            "Caller": principal.arn(&ctx.state.account_id),
            "Fault": fault,
            "StreamDirExists": stream.dir().is_dir(),
        }),
        &ctx.request_id,
    )
}

/// Sends a chunked PutMedia-shaped request signed with `signable` (no body hash).
async fn put_media(
    url: &str,
    creds: &Credentials,
    stream: &str,
    signable: SignableBody<'static>,
) -> (u16, serde_json::Value) {
    let target = format!("{url}/putMedia");
    let host = url.trim_start_matches("http://").to_owned();
    let identity: Identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(Vec::new()); // producer-c signs user-agent too
    let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kinesisvideo")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", host.as_str()),
        ("user-agent", "AWS-SDK-KVS-CPP-CLIENT/3.4.1"),
        ("x-amzn-stream-name", stream),
        ("x-amzn-fragment-acknowledgment-required", "1"),
        ("x-amzn-fragment-timecode-type", "ABSOLUTE"),
        ("x-amzn-producer-start-timestamp", "1511852108.513"),
    ];
    let req =
        SignableRequest::new("POST", target.as_str(), headers.iter().copied(), signable).unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    let chunks = futures_util::stream::iter(
        (0..4).map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![i as u8; 1000]))),
    );
    let mut rb = reqwest::Client::builder()
        .http1_only()
        .build()
        .unwrap()
        .post(&target)
        .body(reqwest::Body::wrap_stream(chunks));
    for (k, v) in headers.iter().skip(1) {
        rb = rb.header(*k, *v);
    }
    for (k, v) in instructions.headers() {
        rb = rb.header(k, v);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn data_plane_handler_authenticates_streamed_requests_from_headers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.data_plane = Some(Arc::new(Probe));
    let server = common::start_with(config).await;
    let kvs = common::admin(&server);
    for n in ["cam1", "cam2"] {
        kvs.create_stream().stream_name(n).send().await.unwrap();
    }
    let url = server.control_url().to_owned();
    let admin = server.admin_credentials();

    for signable in [SignableBody::Bytes(&[]), SignableBody::UnsignedPayload] {
        let (status, body) = put_media(&url, &admin, "cam1", signable).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Bytes"], 4000);
        assert_eq!(body["StreamDirExists"], true);
    }

    // Wrong secret: refused before the body matters.
    let forged = Credentials::new(admin.access_key_id(), "nope", None, None, "test");
    let (status, body) = put_media(&url, &forged, "cam1", SignableBody::Bytes(&[])).await;
    assert_eq!(status, 403);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("The request signature")
    );

    // A camera's IoT session may write its own stream only.
    let session = server
        .state()
        .auth
        .store()
        .issue_session(kvs_local::auth::NewSession {
            role_name: "KVSCameraCertificateBasedIAMRole".into(),
            session_name: "cert".into(),
            thing_name: Some("cam1".into()),
            policy: kvs_local::auth::PolicyDocument::iot_camera_role(),
            expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        });
    let cam = Credentials::new(
        &session.access_key_id,
        session.secret_access_key.expose(),
        Some(session.session_token.expose().to_owned()),
        None,
        "test",
    );
    let (status, _) = put_media(&url, &cam, "cam1", SignableBody::Bytes(&[])).await;
    assert_eq!(status, 200);
    let (status, body) = put_media(&url, &cam, "cam2", SignableBody::Bytes(&[])).await;
    assert_eq!(status, 403);
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .ends_with("kinesisvideo:PutMedia on resource: cam2"),
        "{body}"
    );

    // Data-plane hooks reach the handler.
    server.faults().inject(
        FaultScope::Stream("cam1".into()),
        Fault::AckError { error_id: 4000 },
        1,
    );
    let (_, body) = put_media(&url, &admin, "cam1", SignableBody::Bytes(&[])).await;
    assert_eq!(body["Fault"], json!({"Type": "AckError", "ErrorId": 4000}));
    server.shutdown().await;
}
