//! The control plane driven by the real `aws-sdk-kinesisvideo` client: every operation,
//! its error shapes, persistence across restarts, and authentication failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_kinesisvideo::error::ProvideErrorMetadata as _;
use aws_sdk_kinesisvideo::types::{
    ApiName, ComparisonOperator, Status, StreamNameCondition, UpdateDataRetentionOperation,
};
use common::{admin, client, parts, signed_request, start, status};

#[tokio::test]
async fn sdk_drives_every_control_operation() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let kvs = admin(&server);

    let arn = kvs
        .create_stream()
        .stream_name("cam-1")
        .device_name("dev-1")
        .media_type("video/h264")
        .data_retention_in_hours(24)
        .tags("site", "lab")
        .send()
        .await
        .unwrap()
        .stream_arn
        .unwrap();
    assert!(
        arn.starts_with("arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-1/"),
        "{arn}"
    );
    for n in ["cam-2", "other"] {
        kvs.create_stream().stream_name(n).send().await.unwrap();
    }

    let info = kvs
        .describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap();
    assert_eq!(info.stream_arn(), Some(arn.as_str()));
    assert_eq!(info.status(), Some(&Status::Active));
    assert_eq!(info.data_retention_in_hours(), Some(24));
    assert_eq!(info.device_name(), Some("dev-1"));
    assert_eq!(info.media_type(), Some("video/h264"));
    assert!(
        info.kms_key_id()
            .unwrap()
            .ends_with(":alias/aws/kinesisvideo")
    );
    let created = info.creation_time().unwrap();
    let age = SystemTime::now()
        .duration_since(SystemTime::try_from(*created).unwrap())
        .unwrap();
    assert!(age < Duration::from_secs(60), "creation time {created:?}");
    let by_arn = kvs
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap();
    assert_eq!(by_arn.stream_name(), Some("cam-1"));

    // ListStreams: pagination and the name prefix condition.
    let page = kvs.list_streams().max_results(2).send().await.unwrap();
    let names: Vec<_> = page
        .stream_info_list()
        .iter()
        .filter_map(|s| s.stream_name())
        .collect();
    assert_eq!(names, ["cam-1", "cam-2"]);
    let rest = kvs
        .list_streams()
        .max_results(2)
        .next_token(page.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.stream_info_list().len(), 1);
    assert_eq!(rest.next_token(), None);
    let cams = kvs
        .list_streams()
        .stream_name_condition(
            StreamNameCondition::builder()
                .comparison_operator(ComparisonOperator::BeginsWith)
                .comparison_value("cam")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cams.stream_info_list().len(), 2);

    for api in [
        ApiName::PutMedia,
        ApiName::GetMedia,
        ApiName::ListFragments,
        ApiName::GetMediaForFragmentList,
        ApiName::GetHlsStreamingSessionUrl,
    ] {
        let ep = kvs
            .get_data_endpoint()
            .stream_name("cam-1")
            .api_name(api)
            .send()
            .await
            .unwrap();
        assert_eq!(ep.data_endpoint(), Some(server.data_endpoint_url()));
    }

    kvs.tag_stream()
        .stream_arn(&arn)
        .tags("owner", "qa")
        .send()
        .await
        .unwrap();
    let tags = kvs
        .list_tags_for_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!(tags.get("site").map(String::as_str), Some("lab"));
    assert_eq!(tags.get("owner").map(String::as_str), Some("qa"));
    kvs.untag_stream()
        .stream_name("cam-1")
        .tag_key_list("site")
        .send()
        .await
        .unwrap();
    let tags = kvs
        .list_tags_for_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap().len(), 1);

    let version = current_version(&kvs, "cam-1").await;
    kvs.update_data_retention()
        .stream_name("cam-1")
        .current_version(&version)
        .operation(UpdateDataRetentionOperation::IncreaseDataRetention)
        .data_retention_change_in_hours(6)
        .send()
        .await
        .unwrap();
    let err = kvs
        .update_data_retention()
        .stream_name("cam-1")
        .current_version(&version)
        .operation(UpdateDataRetentionOperation::DecreaseDataRetention)
        .data_retention_change_in_hours(1)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_version_mismatch_exception()
    );
    let info = kvs
        .describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap();
    assert_eq!(info.data_retention_in_hours(), Some(30));

    let err = kvs
        .delete_stream()
        .stream_arn(&arn)
        .current_version("stale")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_version_mismatch_exception()
    );
    kvs.delete_stream().stream_arn(&arn).send().await.unwrap();
    let err = kvs
        .describe_stream()
        .stream_name("cam-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 404);
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    server.shutdown().await;
}

async fn current_version(kvs: &aws_sdk_kinesisvideo::Client, name: &str) -> String {
    kvs.describe_stream()
        .stream_name(name)
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap()
        .version
        .unwrap()
}

#[tokio::test]
async fn sdk_parses_the_real_error_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let kvs = admin(&server);
    kvs.create_stream().stream_name("cam").send().await.unwrap();

    let err = kvs
        .create_stream()
        .stream_name("cam")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 400);
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_in_use_exception()
    );

    let err = kvs
        .create_stream()
        .stream_name("bad name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 400);
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_argument_exception()
    );
    assert!(
        err.message().unwrap().contains("[a-zA-Z0-9_.-]+"),
        "{err:?}"
    );

    let err = kvs
        .create_stream()
        .stream_name("x".repeat(257))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_argument_exception()
    );

    let err = kvs
        .create_stream()
        .stream_name("long")
        .data_retention_in_hours(87_601)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_argument_exception()
    );

    let err = kvs
        .describe_stream()
        .stream_name("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 404);
    assert_eq!(err.code(), Some("ResourceNotFoundException"));

    let err = kvs.describe_stream().send().await.unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_argument_exception()
    );

    let err = kvs
        .delete_stream()
        .stream_arn("not-an-arn")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_argument_exception()
    );

    let err = kvs
        .get_data_endpoint()
        .stream_name("missing")
        .api_name(ApiName::PutMedia)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );

    let mut tag_stream = kvs.tag_stream().stream_name("cam");
    for i in 0..51 {
        tag_stream = tag_stream.tags(format!("k{i}"), "v");
    }
    let err = tag_stream.send().await.unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_argument_exception()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn streams_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let creds = server.admin_credentials();
    let arn = admin(&server)
        .create_stream()
        .stream_name("persisted")
        .data_retention_in_hours(2)
        .send()
        .await
        .unwrap()
        .stream_arn
        .unwrap();
    server.shutdown().await;

    let server = start(dir.path()).await;
    assert_eq!(
        server.admin_credentials().access_key_id(),
        creds.access_key_id(),
        "the admin keys persist"
    );
    let info = admin(&server)
        .describe_stream()
        .stream_name("persisted")
        .send()
        .await
        .unwrap()
        .stream_info
        .unwrap();
    assert_eq!(info.stream_arn(), Some(arn.as_str()));
    assert_eq!(info.data_retention_in_hours(), Some(2));
    server.shutdown().await;
}

#[tokio::test]
async fn bad_signature_and_unknown_key_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let real = server.admin_credentials();

    let wrong_secret = Credentials::new(real.access_key_id(), "wrong-secret", None, None, "test");
    let err = client(&server, wrong_secret)
        .list_streams()
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403);
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    assert!(
        err.message()
            .unwrap()
            .starts_with("The request signature we calculated")
    );

    let unknown = Credentials::new("AKIAUNKNOWN000000000", "x", None, None, "test");
    let err = client(&server, unknown)
        .list_streams()
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403);
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
    assert_eq!(
        err.message(),
        Some("The security token included in the request is invalid.")
    );

    let with_token = Credentials::new(
        real.access_key_id(),
        real.secret_access_key(),
        Some("bogus".into()),
        None,
        "test",
    );
    let err = client(&server, with_token)
        .list_streams()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
    server.shutdown().await;
}

#[tokio::test]
async fn expired_session_gets_expired_token_exception() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    admin(&server)
        .create_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap();
    let session = server
        .state()
        .auth
        .store()
        .issue_session(kvs_local::auth::NewSession {
            role_name: "role".into(),
            session_name: "s".into(),
            thing_name: Some("cam1".into()),
            policy: kvs_local::auth::PolicyDocument::iot_camera_role(),
            expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        });
    let creds = Credentials::new(
        &session.access_key_id,
        session.secret_access_key.expose(),
        Some(session.session_token.expose().to_owned()),
        None,
        "test",
    );
    let kvs = client(&server, creds);
    kvs.describe_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap();
    assert!(server.expire_credentials(&session.access_key_id));
    let err = kvs
        .describe_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403);
    assert_eq!(err.code(), Some("ExpiredTokenException"));
    assert_eq!(
        err.message(),
        Some("The security token included in the request is expired")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn raw_requests_get_aws_error_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let creds = server.admin_credentials();
    let url = server.control_url().to_owned();

    // No Authorization header at all.
    let resp = reqwest::Client::new()
        .post(format!("{url}/listStreams"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let (st, kind, body) = parts(resp).await;
    assert_eq!(
        (st, kind.as_deref()),
        (403, Some("MissingAuthenticationTokenException"))
    );
    assert_eq!(body["message"], "Missing Authentication Token");

    // Signed ten minutes in the past.
    let old = SystemTime::now() - Duration::from_secs(600);
    let resp = signed_request("POST", &url, "/listStreams", b"{}", &creds, old).await;
    let (st, kind, body) = parts(resp).await;
    assert_eq!(
        (st, kind.as_deref()),
        (403, Some("InvalidSignatureException"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired: "),
        "{body}"
    );

    // Correctly signed but malformed JSON.
    let now = SystemTime::now();
    let resp = signed_request(
        "POST",
        &url,
        "/createStream",
        b"{\"StreamName\":",
        &creds,
        now,
    )
    .await;
    let (st, kind, body) = parts(resp).await;
    assert_eq!((st, kind.as_deref()), (400, Some("SerializationException")));
    assert!(body["Message"].is_string());

    // Wrong member type.
    let resp = signed_request(
        "POST",
        &url,
        "/createStream",
        br#"{"StreamName":"a","DataRetentionInHours":"many"}"#,
        &creds,
        now,
    )
    .await;
    assert_eq!(parts(resp).await.0, 400);

    // Oversized body: refused before buffering it.
    let big = vec![b' '; 2 * 1024 * 1024];
    let resp = signed_request("POST", &url, "/createStream", &big, &creds, now).await;
    let (st, kind, _) = parts(resp).await;
    assert_eq!(
        (st, kind.as_deref()),
        (400, Some("InvalidArgumentException"))
    );

    // Unknown operation, and a data-plane path kvs-local does not serve.
    for path in ["/nope", "/getClip"] {
        let resp = signed_request("POST", &url, path, b"{}", &creds, now).await;
        let (st, kind, _) = parts(resp).await;
        assert_eq!(
            (st, kind.as_deref()),
            (404, Some("UnknownOperationException")),
            "{path}"
        );
    }
    server.shutdown().await;
}

// `ProfileFiles` is deprecated in favour of `aws_runtime`'s alias of the same type; the
// alias keeps aws-runtime out of our dependencies.
#[allow(deprecated)]
#[tokio::test]
async fn credentials_file_works_with_the_sdk_profile_loader() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    admin(&server)
        .create_stream()
        .stream_name("from-profile")
        .send()
        .await
        .unwrap();
    let files = aws_config::profile::profile_file::ProfileFiles::builder()
        .with_file(
            aws_config::profile::profile_file::ProfileFileKind::Credentials,
            dir.path().join("credentials"),
        )
        .with_file(
            aws_config::profile::profile_file::ProfileFileKind::Config,
            dir.path().join("config"),
        )
        .build();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .profile_files(files)
        .profile_name("kvs-local")
        .endpoint_url(server.control_url())
        .load()
        .await;
    assert_eq!(conf.region().map(|r| r.as_ref()), Some("us-east-1"));
    let kvs = aws_sdk_kinesisvideo::Client::new(&conf);
    let list = kvs.list_streams().send().await.unwrap();
    assert_eq!(list.stream_info_list().len(), 1);
    server.shutdown().await;
}
