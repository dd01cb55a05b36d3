//! Tests of the IoT credentials provider against a real rustls mutual-TLS server.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use tempfile::TempDir;
use time::OffsetDateTime;

use super::provider::{IotConfig, IotCredentialsProvider, IotError};
use super::wire::{IotCredentials, IotCredentialsResponse, IotErrorBody};
use crate::test_support::{Handler, KeyEncoding, Pki, start_mtls_server, write};

const ALIAS: &str = "KvsCameraRoleAlias";
const THING: &str = "camera-1";

/// A fake credentials endpoint: counts requests, answers 404 for other aliases, 403 for
/// other things, and otherwise credentials valid for `lifetime`.
fn credentials_handler(count: Arc<AtomicUsize>, lifetime: Duration) -> Handler {
    Arc::new(move |req| {
        let count = count.clone();
        Box::pin(async move {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let thing = req
                .headers()
                .get("x-amzn-iot-thingname")
                .and_then(|v| v.to_str().ok());
            let (status, error_type, body) =
                if req.uri().path() != format!("/role-aliases/{ALIAS}/credentials") {
                    (
                        404,
                        "ResourceNotFoundException",
                        IotErrorBody {
                            message: "Role alias does not exist".into(),
                        }
                        .to_json(),
                    )
                } else if thing != Some(THING) {
                    (
                        403,
                        "AccessDeniedException",
                        IotErrorBody {
                            message: "Access Denied".into(),
                        }
                        .to_json(),
                    )
                } else {
                    let expiration = OffsetDateTime::now_utc() + lifetime;
                    let creds = IotCredentialsResponse {
                        credentials: IotCredentials {
                            access_key_id: format!("ASIA{n}"),
                            secret_access_key: "secret".into(),
                            session_token: "token".into(),
                            expiration,
                        },
                    };
                    return Response::builder()
                        .status(200)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(creds.to_json())))
                        .unwrap();
                };
            Response::builder()
                .status(status)
                .header("x-amzn-ErrorType", error_type)
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        })
    })
}

struct Fixture {
    _dir: TempDir,
    config: IotConfig,
    count: Arc<AtomicUsize>,
}

async fn fixture(encoding: KeyEncoding, lifetime: Duration) -> Fixture {
    let pki = Pki::new("iot");
    let count = Arc::new(AtomicUsize::new(0));
    let addr = start_mtls_server(&pki, credentials_handler(count.clone(), lifetime)).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.device(THING, encoding);
    let config = IotConfig::new(
        format!("localhost:{}", addr.port()),
        ALIAS,
        THING,
        write(dir.path(), "device.crt", &cert),
        write(dir.path(), "device.key", &key),
        write(dir.path(), "ca.pem", &pki.ca_pem),
    );
    Fixture {
        _dir: dir,
        config,
        count,
    }
}

#[tokio::test]
async fn provider_fetches_over_mtls_with_rsa_and_ec_keys_in_every_encoding() {
    for encoding in [
        KeyEncoding::RsaPkcs1,
        KeyEncoding::RsaPkcs8,
        KeyEncoding::EcSec1,
        KeyEncoding::EcPkcs8,
    ] {
        let fx = fixture(encoding, Duration::from_secs(3600)).await;
        let provider =
            IotCredentialsProvider::new(&fx.config).unwrap_or_else(|e| panic!("{encoding:?}: {e}"));
        let creds = provider
            .provide_credentials()
            .await
            .unwrap_or_else(|e| panic!("{encoding:?}: {e:?}"));
        assert_eq!(creds.access_key_id(), "ASIA0");
        assert_eq!(creds.session_token(), Some("token"));
        let left = creds
            .expiry()
            .unwrap()
            .duration_since(SystemTime::now())
            .unwrap();
        assert!(left > Duration::from_secs(3500), "{left:?}");
        assert_eq!(fx.count.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn mismatched_certificate_and_key_are_named() {
    let pki = Pki::new("iot");
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, _) = pki.device("a", KeyEncoding::EcPkcs8);
    let (_, key_b) = pki.device("b", KeyEncoding::EcSec1);
    let config = IotConfig::new(
        "localhost:1",
        ALIAS,
        THING,
        write(dir.path(), "a.crt", &cert_a),
        write(dir.path(), "b.key", &key_b),
        write(dir.path(), "ca.pem", &pki.ca_pem),
    );
    let err = IotCredentialsProvider::new(&config).unwrap_err();
    assert!(matches!(err, IotError::KeyMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("a.crt") && text.contains("b.key") && text.contains("do not match"),
        "{text}"
    );
}

#[tokio::test]
async fn missing_ca_cert_and_key_files_are_named() {
    let fx = fixture(KeyEncoding::EcPkcs8, Duration::from_secs(3600)).await;
    for (field, what) in [
        ("ca", "CA"),
        ("cert", "certificate"),
        ("key", "private key"),
    ] {
        let mut config = fx.config.clone();
        let missing = fx._dir.path().join(format!("missing-{field}.pem"));
        match field {
            "ca" => config.ca_path = missing.clone(),
            "cert" => config.cert_path = missing.clone(),
            _ => config.key_path = missing.clone(),
        }
        let err = IotCredentialsProvider::new(&config).unwrap_err();
        assert!(
            matches!(err, IotError::FileUnreadable { what: w, .. } if w == what),
            "{err}"
        );
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
    }
    let mut config = fx.config.clone();
    config.ca_path = write(fx._dir.path(), "empty-ca.pem", "not a certificate\n");
    let err = IotCredentialsProvider::new(&config).unwrap_err();
    assert!(
        matches!(err, IotError::NoPemItem { what: "CA", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_role_alias_reports_404_with_server_message() {
    let fx = fixture(KeyEncoding::RsaPkcs8, Duration::from_secs(3600)).await;
    let mut config = fx.config.clone();
    config.role_alias = "NoSuchAlias".into();
    let err = IotCredentialsProvider::new(&config)
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    match &err {
        IotError::Refused(r) if r.status == 404 => {
            assert_eq!(r.error_type.as_deref(), Some("ResourceNotFoundException"));
            assert_eq!(r.message.as_deref(), Some("Role alias does not exist"));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("NoSuchAlias"), "{err}");
}

#[tokio::test]
async fn thing_not_attached_reports_403_with_hint() {
    let fx = fixture(KeyEncoding::EcSec1, Duration::from_secs(3600)).await;
    let mut config = fx.config.clone();
    config.thing_name = "other-thing".into();
    let err = IotCredentialsProvider::new(&config)
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IotError::Refused(r) if r.status == 403),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("Access Denied") && text.contains("not attached to the thing"),
        "{text}"
    );
}

#[tokio::test]
async fn unreachable_endpoint_is_named() {
    let fx = fixture(KeyEncoding::EcPkcs8, Duration::from_secs(3600)).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = fx.config.clone();
    config.endpoint = format!("127.0.0.1:{port}");
    let err = IotCredentialsProvider::new(&config)
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert!(matches!(err, IotError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn server_outside_pinned_ca_is_refused() {
    let fx = fixture(KeyEncoding::EcPkcs8, Duration::from_secs(3600)).await;
    let mut config = fx.config.clone();
    config.ca_path = write(fx._dir.path(), "other-ca.pem", &Pki::new("other").ca_pem);
    let err = IotCredentialsProvider::new(&config)
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert!(matches!(err, IotError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert_eq!(fx.count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn credentials_are_cached_then_refreshed_inside_the_margin() {
    // Lifetime 65 s, margin 60 s: fresh for ~4-5 s (expiration has 1 s resolution), room
    // for a slow first fetch on a loaded machine.
    let mut fx = fixture(KeyEncoding::EcPkcs8, Duration::from_secs(65)).await;
    fx.config.refresh_margin = Duration::from_secs(60);
    let provider = IotCredentialsProvider::new(&fx.config).unwrap();
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id(),
        "ASIA0"
    );
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id(),
        "ASIA0"
    );
    assert_eq!(fx.count.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(5200)).await;
    assert_eq!(
        provider.credentials().await.unwrap().access_key_id(),
        "ASIA1"
    );
    assert_eq!(fx.count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_fetch() {
    let fx = fixture(KeyEncoding::EcPkcs8, Duration::from_secs(3600)).await;
    let provider = IotCredentialsProvider::new(&fx.config).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let p = provider.clone();
            tokio::spawn(async move { p.credentials().await.unwrap().access_key_id().to_owned() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "ASIA0");
    }
    assert_eq!(fx.count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn credentials_inside_the_margin_are_rejected() {
    let fx = fixture(KeyEncoding::EcPkcs8, Duration::from_secs(30)).await;
    let err = IotCredentialsProvider::new(&fx.config)
        .unwrap()
        .credentials()
        .await
        .unwrap_err();
    assert!(matches!(err, IotError::ExpiresTooSoon { .. }), "{err}");
}

#[test]
fn bad_role_alias_and_endpoint_are_rejected_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = IotConfig::new(
        "localhost",
        "bad/alias",
        THING,
        dir.path(),
        dir.path(),
        dir.path(),
    );
    assert!(matches!(
        IotCredentialsProvider::new(&config),
        Err(IotError::Config(_))
    ));
    config.role_alias = ALIAS.into();
    config.endpoint = "http://localhost".into();
    assert!(matches!(
        IotCredentialsProvider::new(&config),
        Err(IotError::Config(_))
    ));
}

#[tokio::test]
async fn client_config_shares_one_cached_iot_provider() {
    use crate::config::{ClientConfig, ConfigOptions, CredentialSource};
    let fx = fixture(KeyEncoding::RsaPkcs1, Duration::from_secs(3600)).await;
    let cfg = ClientConfig::load(ConfigOptions {
        region: Some("us-west-2".into()),
        endpoint_url: Some("http://127.0.0.1:9".into()),
        credentials: CredentialSource::Iot(fx.config.clone()),
        media_stall_grace: None,
        ca_bundle: None,
    })
    .await
    .unwrap();
    for _ in 0..3 {
        assert_eq!(cfg.credentials().await.unwrap().access_key_id(), "ASIA0");
    }
    assert_eq!(fx.count.load(Ordering::SeqCst), 1);

    let mut broken = fx.config.clone();
    broken.ca_path = fx._dir.path().join("nope.pem");
    let err = ClientConfig::load(ConfigOptions {
        region: Some("us-west-2".into()),
        credentials: CredentialSource::Iot(broken),
        ..ConfigOptions::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("nope.pem"), "{err}");
}

#[test]
fn expired_device_certificate_is_named_with_its_dates() {
    let pki = Pki::new("iot");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.device_with(THING, KeyEncoding::EcPkcs8, |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let config = IotConfig::new(
        "localhost:1",
        ALIAS,
        THING,
        write(dir.path(), "old.crt", &cert),
        write(dir.path(), "old.key", &key),
        write(dir.path(), "ca.pem", &pki.ca_pem),
    );
    let err = IotCredentialsProvider::new(&config).unwrap_err();
    assert!(
        matches!(err, IotError::CertificateNotValidNow { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("old.crt") && text.contains("2021"), "{text}");
}
