//! Authorization of config-file users and fault injection (library calls and the admin
//! HTTP API), driven by the real SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_kinesisvideo::config::retry::RetryConfig;
use aws_sdk_kinesisvideo::error::ProvideErrorMetadata as _;
use aws_sdk_kinesisvideo::types::ApiName;
use common::{
    admin, client, client_with_retries, parts, signed_request, start, start_with, status,
};
use kvs_local::Config;
use kvs_local::faults::{Fault, FaultScope};

const VIEWER_KEY: &str = "AKIAVIEWER0000000001";
const VIEWER_SECRET: &str = "viewer-secret-viewer-secret-viewer-secre";

fn write_config(dir: &std::path::Path) {
    std::fs::write(
        dir.join("kvs-local.json"),
        format!(
            r#"{{"users":[{{"name":"viewer","access_key_id":"{VIEWER_KEY}","secret_access_key":"{VIEWER_SECRET}",
                "policy":{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
                  "Action":["kinesisvideo:DescribeStream","kinesisvideo:GetDataEndpoint",
                            "kinesisvideo:GetMedia","kinesisvideo:ListFragments",
                            "kinesisvideo:GetMediaForFragmentList"],
                  "Resource":"arn:aws:kinesisvideo:*:*:stream/cam-*/*"}}]}}}}]}}"#
        ),
    )
    .unwrap();
}

#[tokio::test]
async fn viewer_policy_limits_access_to_matching_streams() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let server = start(dir.path()).await;
    let kvs = admin(&server);
    for n in ["cam-1", "private"] {
        kvs.create_stream().stream_name(n).send().await.unwrap();
    }
    let viewer = client(
        &server,
        Credentials::new(VIEWER_KEY, VIEWER_SECRET, None, None, "test"),
    );

    viewer
        .describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap();
    viewer
        .get_data_endpoint()
        .stream_name("cam-1")
        .api_name(ApiName::GetMedia)
        .send()
        .await
        .unwrap();

    let err = viewer
        .describe_stream()
        .stream_name("private")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403);
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(
        err.message(),
        Some(
            "User: arn:aws:iam::123456789012:user/viewer is not authorized to perform: \
             kinesisvideo:DescribeStream on resource: private"
        )
    );
    let err = viewer
        .create_stream()
        .stream_name("cam-9")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let arn = kvs
        .describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap()
        .stream_arn
        .unwrap();
    let err = viewer
        .delete_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let err = viewer.list_streams().send().await.unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    // The stream is untouched.
    kvs.describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn injected_throttling_and_server_errors_reach_the_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let kvs = admin(&server);
    for n in ["cam1", "cam2"] {
        kvs.create_stream().stream_name(n).send().await.unwrap();
    }
    server
        .faults()
        .inject(FaultScope::Stream("cam1".into()), Fault::Throttle, 2);
    for _ in 0..2 {
        let err = kvs
            .describe_stream()
            .stream_name("cam1")
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(&err), 400);
        assert!(
            err.as_service_error()
                .unwrap()
                .is_client_limit_exceeded_exception()
        );
        // Other streams are not affected.
        kvs.describe_stream()
            .stream_name("cam2")
            .send()
            .await
            .unwrap();
    }
    kvs.describe_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap();

    // 503 twice: the SDK's standard retry policy (3 attempts) rides over it.
    server
        .faults()
        .inject(FaultScope::Any, Fault::ServerError { status: 503 }, 2);
    let retrying = client_with_retries(
        &server,
        server.admin_credentials(),
        RetryConfig::standard().with_max_attempts(3),
    );
    retrying.list_streams().send().await.unwrap();
    assert!(server.faults().list().is_empty());
    server
        .faults()
        .inject(FaultScope::Any, Fault::ServerError { status: 500 }, 1);
    let err = kvs.list_streams().send().await.unwrap_err();
    assert_eq!(status(&err), 500);
    assert_eq!(err.code(), Some("InternalFailure"));

    // Data-plane-only faults never fire on the control plane.
    server
        .faults()
        .inject(FaultScope::Any, Fault::AckError { error_id: 4000 }, 1);
    kvs.list_streams().send().await.unwrap();
    assert_eq!(server.faults().list().len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn admin_api_injects_faults_and_expires_credentials() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let server = start_with(Config::new(dir.path())).await;
    let url = server.control_url().to_owned();
    let creds = server.admin_credentials();
    admin(&server)
        .create_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap();

    let body = br#"{"Scope":{"Stream":"cam-1"},"Fault":{"Type":"Throttle"},"Count":1}"#;
    let resp = signed_request(
        "POST",
        &url,
        "/_kvs-local/faults",
        body,
        &creds,
        SystemTime::now(),
    )
    .await;
    let (st, _, json) = parts(resp).await;
    assert_eq!(st, 200, "{json}");
    assert!(json["FaultId"].as_u64().is_some());
    let resp = signed_request(
        "GET",
        &url,
        "/_kvs-local/faults",
        b"",
        &creds,
        SystemTime::now(),
    )
    .await;
    let (_, _, json) = parts(resp).await;
    assert_eq!(json["Faults"][0]["Fault"]["Type"], "Throttle");

    let err = admin(&server)
        .describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ClientLimitExceededException"));

    // A non-admin user cannot use the admin API.
    let viewer = Credentials::new(VIEWER_KEY, VIEWER_SECRET, None, None, "test");
    let resp = signed_request(
        "POST",
        &url,
        "/_kvs-local/faults",
        body,
        &viewer,
        SystemTime::now(),
    )
    .await;
    let (st, kind, _) = parts(resp).await;
    assert_eq!((st, kind.as_deref()), (403, Some("AccessDeniedException")));
    assert!(server.faults().list().is_empty());

    // Malformed rules are refused with the service's error shape.
    let resp = signed_request(
        "POST",
        &url,
        "/_kvs-local/faults",
        br#"{"Scope":"Any","Fault":{"Type":"Explode"}}"#,
        &creds,
        SystemTime::now(),
    )
    .await;
    assert_eq!(parts(resp).await.0, 400);

    // Expire every temporary credential.
    let session = server
        .state()
        .auth
        .store()
        .issue_session(kvs_local::auth::NewSession {
            role_name: "r".into(),
            session_name: "s".into(),
            thing_name: Some("cam-1".into()),
            policy: kvs_local::auth::PolicyDocument::iot_camera_role(),
            expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        });
    let resp = signed_request(
        "POST",
        &url,
        "/_kvs-local/expire-credentials",
        b"{}",
        &creds,
        SystemTime::now(),
    )
    .await;
    let (st, _, json) = parts(resp).await;
    assert_eq!((st, json["Expired"].as_u64()), (200, Some(1)));
    let cam = client(
        &server,
        Credentials::new(
            &session.access_key_id,
            session.secret_access_key.expose(),
            Some(session.session_token.expose().to_owned()),
            None,
            "test",
        ),
    );
    let err = cam
        .describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ExpiredTokenException"));
    server.shutdown().await;
}

#[tokio::test]
async fn connection_scoped_fault_hits_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let url = server.control_url().to_owned();
    let creds = server.admin_credentials();
    // One keep-alive connection: learn its id from the response header.
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    let first = http
        .post(format!("{url}/listStreams"))
        .send()
        .await
        .unwrap();
    let conn: u64 = first.headers()["x-kvs-local-connection-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    drop(first.bytes().await);
    server
        .faults()
        .inject(FaultScope::Connection(conn), Fault::Throttle, 1);
    // Another connection is not affected.
    let other = signed_request(
        "POST",
        &url,
        "/listStreams",
        b"{}",
        &creds,
        SystemTime::now(),
    )
    .await;
    assert_eq!(parts(other).await.0, 200);
    assert_eq!(server.faults().list().len(), 1);
    // The same connection is (faults apply after authentication, so sign this one).
    let signed = signed_request_on(&http, &url, &creds).await;
    assert_eq!(
        signed.headers()["x-kvs-local-connection-id"]
            .to_str()
            .unwrap(),
        conn.to_string()
    );
    let (st, kind, _) = parts(signed).await;
    assert_eq!(
        (st, kind.as_deref()),
        (400, Some("ClientLimitExceededException"))
    );
    server.shutdown().await;
}

/// A signed ListStreams on a given reqwest client (to reuse its pooled connection).
async fn signed_request_on(
    http: &reqwest::Client,
    url: &str,
    creds: &Credentials,
) -> reqwest::Response {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity: aws_smithy_runtime_api::client::identity::Identity = creds.clone().into();
    let params: aws_sigv4::http_request::SigningParams<'_> =
        aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("kinesisvideo")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
    let target = format!("{url}/listStreams");
    let host = url.trim_start_matches("http://");
    let req = SignableRequest::new(
        "POST",
        target.as_str(),
        [("host", host)].into_iter(),
        SignableBody::Bytes(b"{}"),
    )
    .unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    let mut rb = http.post(&target).body("{}");
    for (k, v) in instructions.headers() {
        rb = rb.header(k, v);
    }
    rb.send().await.unwrap()
}
