//! The IoT credentials provider through a real mTLS client (reqwest with a client
//! certificate), and the issued credentials used with the real SDK: scoped to the camera's
//! own stream, expiring, refreshable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_kinesisvideo::error::ProvideErrorMetadata as _;
use aws_sdk_kinesisvideo::types::ApiName;
use common::{admin, client, start, start_with, status};
use kvs_e2ee_aws::iot::wire::{IotCredentialsResponse, IotErrorBody};
use kvs_local::iot::{KeyType, ProvisionedThing};
use kvs_local::{Config, RunningServer};

const ALIAS: &str = "KvsCameraIoTRoleAlias";

/// An mTLS client presenting `cert_pem`/`key_pem` and trusting only kvs-local's CA.
fn mtls_client(server: &RunningServer, cert_pem: &str, key_pem: &str) -> reqwest::Client {
    let identity =
        reqwest::Identity::from_pem(format!("{cert_pem}\n{key_pem}").as_bytes()).unwrap();
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .identity(identity)
        .build()
        .unwrap()
}

fn device_client(server: &RunningServer, p: &ProvisionedThing) -> reqwest::Client {
    let cert = std::fs::read_to_string(&p.certificate_path).unwrap();
    let key = std::fs::read_to_string(&p.private_key_path).unwrap();
    mtls_client(server, &cert, &key)
}

async fn request(
    server: &RunningServer,
    http: &reqwest::Client,
    alias: &str,
    thing: Option<&str>,
) -> reqwest::Response {
    let mut rb = http.get(format!(
        "{}/role-aliases/{alias}/credentials",
        server.iot_url().unwrap()
    ));
    if let Some(t) = thing {
        rb = rb.header("x-amzn-iot-thingname", t);
    }
    rb.send().await.unwrap()
}

async fn credentials(server: &RunningServer, p: &ProvisionedThing) -> Credentials {
    let resp = request(
        server,
        &device_client(server, p),
        ALIAS,
        Some(&p.thing_name),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await.unwrap();
    IotCredentialsResponse::from_json(&body)
        .unwrap()
        .credentials
        .to_aws("kvs-local-test")
}

async fn expect_error(resp: reqwest::Response, status: u16, kind: &str, message: &str) {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(
        resp.headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok()),
        Some(kind)
    );
    let body = IotErrorBody::from_json(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body.message, message);
}

fn provision(server: &RunningServer, thing: &str, dir: &Path, key: KeyType) -> ProvisionedThing {
    server
        .provision_thing(thing, key, &dir.join(thing))
        .unwrap()
}

#[tokio::test]
async fn camera_credentials_reach_only_its_own_stream() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let kvs = admin(&server);
    for n in ["cam1", "cam2"] {
        kvs.create_stream().stream_name(n).send().await.unwrap();
    }
    let cam1 = provision(&server, "cam1", dir.path(), KeyType::EcP256);
    let creds = credentials(&server, &cam1).await;
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert!(creds.session_token().is_some());
    let ttl = creds
        .expiry()
        .unwrap()
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(
        ttl > Duration::from_secs(3500) && ttl <= Duration::from_secs(3600),
        "{ttl:?}"
    );

    let camera = client(&server, creds);
    camera
        .describe_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap();
    camera
        .get_data_endpoint()
        .stream_name("cam1")
        .api_name(ApiName::PutMedia)
        .send()
        .await
        .unwrap();
    camera
        .tag_stream()
        .stream_name("cam1")
        .tags("fw", "1.0")
        .send()
        .await
        .unwrap();

    let err = camera
        .describe_stream()
        .stream_name("cam2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403);
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert!(
        err.message().unwrap().starts_with(
            "User: arn:aws:sts::123456789012:assumed-role/KVSCameraCertificateBasedIAMRole/"
        ),
        "{err:?}"
    );
    let err = camera
        .get_data_endpoint()
        .stream_name("cam2")
        .api_name(ApiName::PutMedia)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    // Reading or managing streams is not in the role policy either.
    let err = camera
        .get_data_endpoint()
        .stream_name("cam1")
        .api_name(ApiName::GetMedia)
        .send()
        .await;
    assert!(
        err.is_ok(),
        "GetDataEndpoint is allowed whatever the API name"
    );
    for err in [
        camera
            .list_streams()
            .send()
            .await
            .unwrap_err()
            .code()
            .map(str::to_owned),
        camera
            .create_stream()
            .stream_name("cam1-extra")
            .send()
            .await
            .unwrap_err()
            .code()
            .map(str::to_owned),
    ] {
        assert_eq!(err.as_deref(), Some("AccessDeniedException"));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn certificate_from_another_ca_is_invalid_on_this_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    provision(&server, "cam1", dir.path(), KeyType::EcP256);

    // A look-alike chain: another CA, same subject shape.
    let other_dir = tempfile::tempdir().unwrap();
    let other_ca = kvs_local::iot::CertificateAuthority::load_or_create(other_dir.path()).unwrap();
    let forged = other_ca.issue_device("cam1", KeyType::EcP256).unwrap();
    let http = mtls_client(
        &server,
        &forged.certificate_pem,
        forged.private_key_pem.expose(),
    );
    let resp = request(&server, &http, ALIAS, Some("cam1")).await;
    expect_error(
        resp,
        403,
        "AccessDeniedException",
        "Certificate is invalid on this endpoint",
    )
    .await;

    // Signed by our CA but never registered (e.g. the registry entry was removed).
    let unregistered = server
        .state()
        .iot
        .ca()
        .issue_device("cam1", KeyType::EcP256)
        .unwrap();
    let http = mtls_client(
        &server,
        &unregistered.certificate_pem,
        unregistered.private_key_pem.expose(),
    );
    let resp = request(&server, &http, ALIAS, Some("cam1")).await;
    expect_error(
        resp,
        403,
        "AccessDeniedException",
        "Certificate is invalid on this endpoint",
    )
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn wrong_thing_and_unknown_alias_get_aws_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let cam1 = provision(&server, "cam1", dir.path(), KeyType::EcP256);
    provision(&server, "cam2", dir.path(), KeyType::EcP256);
    let http = device_client(&server, &cam1);

    let resp = request(&server, &http, ALIAS, Some("cam2")).await;
    expect_error(
        resp,
        403,
        "AccessDeniedException",
        "Invalid thing name passed",
    )
    .await;
    let resp = request(&server, &http, ALIAS, Some("no such thing!")).await;
    expect_error(
        resp,
        403,
        "AccessDeniedException",
        "Invalid thing name passed",
    )
    .await;
    let resp = request(&server, &http, "NoSuchAlias", Some("cam1")).await;
    expect_error(
        resp,
        404,
        "ResourceNotFoundException",
        "Role alias does not exist",
    )
    .await;

    // Without a thing name the credentials are issued but the thing-scoped policy matches
    // nothing (IAM: an unresolvable policy variable).
    let resp = request(&server, &http, ALIAS, None).await;
    assert_eq!(resp.status(), 200);
    let creds = IotCredentialsResponse::from_json(&resp.bytes().await.unwrap())
        .unwrap()
        .credentials
        .to_aws("test");
    admin(&server)
        .create_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap();
    let err = client(&server, creds)
        .describe_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    server.shutdown().await;
}

#[tokio::test]
async fn short_lived_credentials_expire_and_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.credential_duration_override = Some(Duration::from_secs(2));
    let server = start_with(config).await;
    admin(&server)
        .create_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap();
    // RSA device keys work as well as EC ones.
    let cam1 = provision(&server, "cam1", dir.path(), KeyType::Rsa2048);
    let first = credentials(&server, &cam1).await;
    let camera = client(&server, first.clone());
    camera
        .describe_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let err = camera
        .describe_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403);
    assert_eq!(err.code(), Some("ExpiredTokenException"));

    let second = credentials(&server, &cam1).await;
    assert_ne!(second.access_key_id(), first.access_key_id());
    client(&server, second)
        .describe_stream()
        .stream_name("cam1")
        .send()
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn client_without_certificate_fails_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let result = http
        .get(format!(
            "{}/role-aliases/{ALIAS}/credentials",
            server.iot_url().unwrap()
        ))
        .send()
        .await;
    assert!(
        result.is_err(),
        "a request without a client certificate must fail"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn offline_provisioning_is_seen_by_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    // What `kvs-local iot provision` does from another process while the server runs.
    let p = kvs_local::iot::provision(
        dir.path(),
        "cam7",
        KeyType::EcP256,
        None,
        &dir.path().join("cam7"),
    )
    .unwrap();
    assert_eq!(p.endpoint, server.iot_addr().map(|a| a.to_string()));
    assert_eq!(
        std::fs::read_to_string(&p.ca_path).unwrap(),
        server.ca_pem(),
        "the camera pins the server's CA"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&p.private_key_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        p.kvssink_iot_certificate()
            .contains("role-aliases=KvsCameraIoTRoleAlias")
    );
    let creds = credentials(&server, &p).await;
    assert!(creds.access_key_id().starts_with("ASIA"));
    server.shutdown().await;
}
