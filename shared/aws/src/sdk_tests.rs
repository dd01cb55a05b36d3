//! The SDK-based wrappers (control, GetMedia, archive) and `ClientConfig` against a local
//! fake KVS: checks the SDK's requests decode with our server-side types (GetMediaInput),
//! that their SigV4 signatures verify with the one verifier (`sigv4::verify`), and the error mapping.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::StreamId;
use super::archive::{TimestampKind, get_media_for_fragment_list, list_fragments};
use super::config::{ClientConfig, ConfigOptions, CredentialSource};
use super::control::{DataApi, StreamStatus, create_stream, describe_stream, get_data_endpoint};
use super::error::ServiceErrorKind;
use super::getmedia::{GetMediaInput, StartSelector, get_media};
use super::sigv4::verify::PayloadHash;
use super::test_support::verify_signed;

const REGION: &str = "us-west-2";

fn creds() -> Credentials {
    Credentials::new(
        "AKIDLOCAL",
        "local-secret",
        Some("local-token".into()),
        None,
        "test",
    )
}

#[derive(Default)]
struct Log {
    /// (path, signature verified, body JSON)
    requests: Vec<(String, Result<(), String>, Value)>,
}

fn json_response(status: u16, error_type: Option<&str>, body: Value) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1");
    if let Some(t) = error_type {
        b = b.header(
            "x-amzn-ErrorType",
            format!("{t}:http://internal.amazon.com/coral/"),
        );
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

async fn fake_kvs(
    req: Request<Incoming>,
    log: Arc<Mutex<Log>>,
    me: SocketAddr,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let c = creds();
    let verified = verify_signed(&parts, &c, REGION, PayloadHash::Body(&body));
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = parts.uri.path().to_owned();
    log.lock()
        .unwrap()
        .requests
        .push((path.clone(), verified, input.clone()));
    match path.as_str() {
        "/describeStream" if input["StreamName"] == "missing" => json_response(
            404,
            Some("ResourceNotFoundException"),
            json!({"message": "The requested stream is not found or not active."}),
        ),
        "/describeStream" => json_response(
            200,
            None,
            json!({"StreamInfo": {
                "StreamName": input["StreamName"], "StreamARN": "arn:aws:kinesisvideo:us-west-2:1:stream/cam/1",
                "Status": "ACTIVE", "DataRetentionInHours": 24, "MediaType": "video/h264",
                "CreationTime": 1_700_000_000.5, "Version": "v1"}}),
        ),
        "/createStream" => json_response(
            200,
            None,
            json!({"StreamARN": "arn:aws:kinesisvideo:us-west-2:1:stream/new/2"}),
        ),
        "/getDataEndpoint" => {
            json_response(200, None, json!({"DataEndpoint": format!("http://{me}")}))
        }
        "/getMedia" => {
            let parsed: GetMediaInput = serde_json::from_value(input).unwrap();
            let text = format!("MKV for {:?}", parsed.start_selector);
            Response::builder()
                .header("content-type", "video/webm")
                .body(Full::new(Bytes::from(text)))
                .unwrap()
        }
        "/listFragments" => {
            let frag = |n: &str, producer: f64| {
                json!({"FragmentNumber": n, "FragmentSizeInBytes": 100, "ProducerTimestamp": producer,
                       "ServerTimestamp": producer + 1.0, "FragmentLengthInMilliseconds": 2000})
            };
            if input.get("NextToken").is_some() {
                json_response(
                    200,
                    None,
                    json!({"Fragments": [frag("10", 1_700_000_002.0)]}),
                )
            } else {
                json_response(
                    200,
                    None,
                    json!({"Fragments": [frag("12", 1_700_000_004.0), frag("9", 1_700_000_000.0)], "NextToken": "page2"}),
                )
            }
        }
        "/getMediaForFragmentList" => Response::builder()
            .header("content-type", "video/webm")
            .body(Full::new(Bytes::from(format!(
                "MKV {}",
                input["Fragments"]
            ))))
            .unwrap(),
        _ => json_response(
            400,
            Some("InvalidArgumentException"),
            json!({"message": "unknown path"}),
        ),
    }
}

async fn start() -> (SocketAddr, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let l = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let l = l.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let l = l.clone();
                    async move { Ok::<_, Infallible>(fake_kvs(req, l, addr).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, log)
}

async fn config(addr: SocketAddr) -> ClientConfig {
    ClientConfig::load(ConfigOptions {
        region: Some(REGION.into()),
        endpoint_url: Some(format!("http://{addr}")),
        credentials: CredentialSource::Static(creds()),
        media_stall_grace: Some(Duration::from_secs(30)),
        ca_bundle: None,
    })
    .await
    .unwrap()
}

fn all_signatures_verified(log: &Mutex<Log>) {
    for (path, verified, _) in &log.lock().unwrap().requests {
        assert_eq!(verified, &Ok(()), "{path}");
    }
}

#[tokio::test]
async fn control_plane_calls_map_results_and_errors() {
    let (addr, log) = start().await;
    let cfg = config(addr).await;
    assert_eq!(cfg.region(), REGION);
    assert_eq!(
        cfg.credentials().await.unwrap().access_key_id(),
        "AKIDLOCAL"
    );
    let client = cfg.control_client();
    let cam = StreamId::Name("cam".into());

    let d = describe_stream(&client, &cam).await.unwrap();
    assert_eq!(
        (d.name.as_str(), d.status.clone(), d.retention_hours),
        ("cam", StreamStatus::Active, 24)
    );
    assert_eq!(
        d.creation_time,
        Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
    );

    let err = describe_stream(&client, &StreamId::Name("missing".into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::ResourceNotFound);
    assert!(!err.is_retryable());
    assert_eq!(err.status, Some(404));
    assert!(
        err.to_string().contains("DescribeStream") && err.to_string().contains("missing"),
        "{err}"
    );

    assert_eq!(
        create_stream(&client, "new", 48, Some("video/h264"))
            .await
            .unwrap(),
        "arn:aws:kinesisvideo:us-west-2:1:stream/new/2"
    );
    let input = &log.lock().unwrap().requests.last().unwrap().2.clone();
    assert_eq!(input["DataRetentionInHours"], 48);

    let endpoint = get_data_endpoint(&client, &cam, DataApi::PutMedia)
        .await
        .unwrap();
    assert_eq!(endpoint, format!("http://{addr}"));
    let input = &log.lock().unwrap().requests.last().unwrap().2.clone();
    assert_eq!(input["APIName"], "PUT_MEDIA");
    all_signatures_verified(&log);
}

#[tokio::test]
async fn get_media_sends_selectors_our_server_types_decode() {
    let (addr, log) = start().await;
    let cfg = config(addr).await;
    let client = cfg.media_client(&format!("http://{addr}"));
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_511_852_109_126);
    for selector in [
        StartSelector::Now,
        StartSelector::Earliest,
        StartSelector::FragmentNumber("913".into()),
        StartSelector::ServerTimestamp(t),
        StartSelector::ProducerTimestamp(t),
        StartSelector::ContinuationToken("tok".into()),
    ] {
        let mut media = get_media(&client, &StreamId::Name("cam".into()), &selector)
            .await
            .unwrap();
        assert_eq!(media.content_type(), Some("video/webm"));
        let mut body = Vec::new();
        while let Some(chunk) = media.next_chunk().await {
            body.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(
            String::from_utf8(body).unwrap(),
            format!("MKV for {selector:?}")
        );
    }
    all_signatures_verified(&log);
}

#[tokio::test]
async fn list_fragments_follows_pages_and_sorts() {
    let (addr, log) = start().await;
    let cfg = config(addr).await;
    let client = cfg.archive_client(&format!("http://{addr}"));
    let cam = StreamId::Arn("arn:aws:kinesisvideo:us-west-2:1:stream/cam/1".into());
    let start_t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_699_999_999);
    let frags = list_fragments(
        &client,
        &cam,
        start_t,
        start_t + Duration::from_secs(60),
        TimestampKind::Producer,
    )
    .await
    .unwrap();
    let numbers: Vec<&str> = frags.iter().map(|f| f.number.as_str()).collect();
    assert_eq!(numbers, vec!["9", "10", "12"]);
    assert_eq!(frags[0].duration_ms, 2000);
    {
        let log = log.lock().unwrap();
        let first = &log.requests[0].2;
        assert_eq!(
            first["FragmentSelector"]["FragmentSelectorType"],
            "PRODUCER_TIMESTAMP"
        );
        assert_eq!(
            first["StreamARN"],
            "arn:aws:kinesisvideo:us-west-2:1:stream/cam/1"
        );
        assert_eq!(log.requests[1].2["NextToken"], "page2");
    }

    let numbers: Vec<String> = frags.iter().map(|f| f.number.clone()).collect();
    let mut media = get_media_for_fragment_list(&client, &cam, &numbers)
        .await
        .unwrap();
    let chunk = media.next_chunk().await.unwrap().unwrap();
    assert_eq!(&chunk[..], br#"MKV ["9","10","12"]"#);
    assert!(
        get_media_for_fragment_list(&client, &cam, &[])
            .await
            .is_err()
    );
    all_signatures_verified(&log);
}

#[tokio::test]
async fn unreachable_endpoint_is_a_retryable_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let cfg = config(addr).await;
    let err = describe_stream(&cfg.control_client(), &StreamId::Name("cam".into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::Transport, "{err}");
    assert!(err.is_retryable());
}
