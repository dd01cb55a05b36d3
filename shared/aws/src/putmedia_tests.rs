//! PutMedia client tests against a tiny hyper server that checks the request like KVS would
//! (headers, SigV4 recomputed with aws-sigv4) and streams ACKs back while the upload runs.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use super::*;
use crate::ack::{AckErrorId, AckEventType};
use crate::sigv4::verify::PayloadHash;
use crate::test_support::verify_signed;

const REGION: &str = "us-west-2";

fn creds() -> Credentials {
    Credentials::new(
        "ASIATEST",
        "secret/key",
        Some("session-token".into()),
        None,
        "test",
    )
}

type Body = BoxBody<Bytes, Infallible>;

/// What the fake server saw.
#[derive(Default, Debug)]
struct Seen {
    header_problems: Vec<String>,
    signature: Option<Result<(), String>>,
    body: Vec<u8>,
}

fn check_headers(req: &Request<Incoming>) -> Vec<String> {
    let expect = [
        ("transfer-encoding", "chunked"),
        ("connection", "keep-alive"),
        ("x-amzn-stream-name", "camera-1"),
        ("x-amzn-producer-start-timestamp", "1511852108.013"),
        ("x-amzn-fragment-acknowledgment-required", "1"),
        ("x-amzn-fragment-timecode-type", "ABSOLUTE"),
        ("user-agent", "kvs-e2ee-test/1"),
        ("x-amz-security-token", "session-token"),
    ];
    let mut problems = Vec::new();
    if req.method() != http::Method::POST || req.uri().path() != "/putMedia" {
        problems.push(format!("{} {}", req.method(), req.uri()));
    }
    for (name, value) in expect {
        let got = req.headers().get(name).and_then(|v| v.to_str().ok());
        if got != Some(value) {
            problems.push(format!("{name}: {got:?}"));
        }
    }
    problems
}

fn ack(ty: AckEventType, n: u64) -> Bytes {
    Bytes::from(
        AckEvent {
            event_type: ty,
            fragment_timecode: Some(n * 1000),
            fragment_number: Some(format!("9134385233318{n}")),
            error_id: None,
        }
        .encode_line(),
    )
}

/// KVS-like handler: verifies, answers 200 at once, then for every body chunk `FRAG<n>`
/// sends BUFFERING+RECEIVED(n), and PERSISTED for all when the body ends.
async fn kvs_like(req: Request<Incoming>, seen: Arc<Mutex<Seen>>) -> Response<Body> {
    let problems = check_headers(&req);
    let c = creds();
    let (parts, body) = req.into_parts();
    let verified = verify_signed(&parts, &c, REGION, PayloadHash::Streaming);
    let req = Request::from_parts(parts, body);
    {
        let mut s = seen.lock().unwrap();
        s.header_problems = problems;
        s.signature = Some(verified);
    }
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    let mut body = req.into_body();
    tokio::spawn(async move {
        let mut fragments = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.unwrap().into_data() else {
                continue;
            };
            seen.lock().unwrap().body.extend_from_slice(&data);
            let n: u64 = std::str::from_utf8(&data)
                .unwrap()
                .trim_start_matches("FRAG")
                .parse()
                .unwrap();
            fragments.push(n);
            for ty in [AckEventType::Buffering, AckEventType::Received] {
                tx.send(Ok(Frame::data(ack(ty, n)))).await.unwrap();
            }
        }
        for n in fragments {
            tx.send(Ok(Frame::data(ack(AckEventType::Persisted, n))))
                .await
                .unwrap();
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    Response::new(BodyExt::boxed(StreamBody::new(stream)))
}

async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

fn request(addr: SocketAddr) -> PutMediaRequest {
    let mut req = PutMediaRequest::new(
        format!("http://{addr}"),
        StreamId::Name("camera-1".into()),
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_511_852_108_013),
        creds(),
        REGION,
    );
    req.user_agent = "kvs-e2ee-test/1".into();
    req
}

async fn next_ack(acks: &mut AckStream) -> AckEvent {
    tokio::time::timeout(Duration::from_secs(5), acks.recv())
        .await
        .expect("ACK within 5 s")
        .expect("stream open")
        .expect("ACK, not error")
}

#[tokio::test]
async fn acks_arrive_while_the_upload_continues_and_signature_verifies() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let addr = serve(move |req| kvs_like(req, s.clone())).await;
    let (mut sender, mut acks) = PutMediaConnection::open(request(addr)).await.unwrap();

    // Fragment 1 goes up and its ACKs come back before fragment 2 is sent: the response is
    // read concurrently with an unfinished chunked body.
    sender.send(Bytes::from_static(b"FRAG1")).await.unwrap();
    assert_eq!(
        next_ack(&mut acks).await.event_type,
        AckEventType::Buffering
    );
    let received = next_ack(&mut acks).await;
    assert_eq!(
        (received.event_type, received.fragment_timecode),
        (AckEventType::Received, Some(1000))
    );
    assert_eq!(acks.state(), PutMediaState::Streaming);

    sender.send(Bytes::from_static(b"FRAG2")).await.unwrap();
    assert_eq!(next_ack(&mut acks).await.fragment_timecode, Some(2000));
    assert_eq!(next_ack(&mut acks).await.event_type, AckEventType::Received);

    sender.finish();
    assert_eq!(acks.state(), PutMediaState::Draining);
    for n in [1u64, 2] {
        let ev = next_ack(&mut acks).await;
        assert_eq!(
            (ev.event_type, ev.fragment_timecode),
            (AckEventType::Persisted, Some(n * 1000))
        );
    }
    // The Stream impl sees the end of the response.
    assert!(
        tokio::time::timeout(Duration::from_secs(5), acks.next())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(acks.state(), PutMediaState::Closed);

    let seen = seen.lock().unwrap();
    assert!(
        seen.header_problems.is_empty(),
        "{:?}",
        seen.header_problems
    );
    assert_eq!(seen.signature, Some(Ok(())));
    assert_eq!(seen.body, b"FRAG1FRAG2");
}

fn refusing(
    status: u16,
    error_type: &'static str,
    message: &'static str,
) -> impl Fn(Request<Incoming>) -> std::future::Ready<Response<Body>> + Clone {
    move |_req| {
        std::future::ready(
            Response::builder()
                .status(status)
                .header("x-amzn-ErrorType", error_type)
                .header("x-amzn-RequestId", "req-1")
                .body(BodyExt::boxed(http_body_util::Full::new(Bytes::from(
                    ServiceError::encode_body(message),
                ))))
                .unwrap(),
        )
    }
}

#[tokio::test]
async fn http_errors_carry_aws_error_type_and_retry_class() {
    let cases = [
        (
            401,
            "NotAuthorizedException:http://internal.amazon.com/coral/",
            ServiceErrorKind::NotAuthorized,
            false,
        ),
        (
            404,
            "ResourceNotFoundException",
            ServiceErrorKind::ResourceNotFound,
            false,
        ),
        (
            400,
            "ClientLimitExceededException",
            ServiceErrorKind::ClientLimitExceeded,
            true,
        ),
        (
            403,
            "ExpiredTokenException",
            ServiceErrorKind::ExpiredToken,
            true,
        ),
        (500, "InternalFailure", ServiceErrorKind::Server, true),
    ];
    for (status, error_type, kind, retryable) in cases {
        let addr = serve(refusing(status, error_type, "nope")).await;
        let (_sender, mut acks) = PutMediaConnection::open(request(addr)).await.unwrap();
        let err = tokio::time::timeout(Duration::from_secs(5), acks.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        let PutMediaError::Service { error, .. } = &err else {
            panic!("unexpected {err}")
        };
        assert_eq!(error.status, status);
        assert_eq!(error.kind(), kind, "{error}");
        assert_eq!(err.is_retryable(), retryable, "{err}");
        assert_eq!(error.message.as_deref(), Some("nope"));
        assert_eq!(error.request_id.as_deref(), Some("req-1"));
        assert!(
            err.to_string()
                .contains(error.error_type.as_deref().unwrap()),
            "{err}"
        );
        assert!(!err.to_string().contains("http://internal"), "{err}");
    }
}

#[tokio::test]
async fn malformed_ack_stream_is_an_error_with_offset() {
    let addr = serve(|_req| {
        std::future::ready(Response::new(BodyExt::boxed(http_body_util::Full::new(
            Bytes::from_static(b"{\"EventType\":\"IDLE\"}\nnot json"),
        ))))
    })
    .await;
    let (_sender, mut acks) = PutMediaConnection::open(request(addr)).await.unwrap();
    assert_eq!(next_ack(&mut acks).await.event_type, AckEventType::Idle);
    let err = acks.recv().await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            PutMediaError::Ack {
                source: AckError::UnexpectedByte { offset: 21, .. },
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn error_ack_is_delivered_as_event() {
    let addr = serve(|_req| {
        let line = AckEvent {
            event_type: AckEventType::Error,
            fragment_timecode: Some(5),
            fragment_number: Some("1".into()),
            error_id: Some(4004),
        }
        .encode_line();
        std::future::ready(Response::new(BodyExt::boxed(http_body_util::Full::new(
            Bytes::from(line),
        ))))
    })
    .await;
    let (_sender, mut acks) = PutMediaConnection::open(request(addr)).await.unwrap();
    let ev = next_ack(&mut acks).await;
    assert_eq!(
        ev.error(),
        Some(AckErrorId::FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS)
    );
    assert!(!ev.error().unwrap().is_retryable());
}

#[tokio::test]
async fn unreachable_endpoint_is_a_retryable_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (sender, mut acks) = PutMediaConnection::open(request(addr)).await.unwrap();
    let err = acks.recv().await.unwrap().unwrap_err();
    assert!(matches!(err, PutMediaError::Transport { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert_eq!(acks.state(), PutMediaState::Closed);
    // The body channel is closed with the connection.
    let mut sent = Ok(());
    for _ in 0..=DEFAULT_BODY_CHANNEL {
        sent = sender.send(Bytes::from_static(b"x")).await;
        if sent.is_err() {
            break;
        }
    }
    assert!(matches!(sent, Err(PutMediaError::Closed)));
}

#[test]
fn producer_timestamp_has_three_millisecond_digits() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_511_852_108_513);
    assert_eq!(format_producer_timestamp(t), "1511852108.513");
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_511_852_108_005);
    assert_eq!(format_producer_timestamp(t), "1511852108.005");
}

#[test]
fn signed_request_uses_stream_arn_when_given() {
    let mut req = request("127.0.0.1:9".parse().unwrap());
    req.stream = StreamId::Arn("arn:aws:kinesisvideo:us-west-2:1:stream/s/1".into());
    let head = build_signed_request(&req, SystemTime::now()).unwrap();
    assert_eq!(
        head.headers()["x-amzn-stream-arn"],
        "arn:aws:kinesisvideo:us-west-2:1:stream/s/1"
    );
    assert!(!head.headers().contains_key("x-amzn-stream-name"));
    assert_eq!(head.uri().to_string(), "http://127.0.0.1:9/putMedia");
    assert!(PutMediaConnection::http_client(Duration::from_secs(1)).is_ok());
    req.endpoint = "ftp://x".into();
    assert!(matches!(
        build_signed_request(&req, SystemTime::now()),
        Err(PutMediaError::InvalidRequest(_))
    ));
}

#[test]
fn service_error_parses_type_from_body_when_header_missing() {
    let e = ServiceError::from_response(
        400,
        &HeaderMap::new(),
        br#"{"__type":"com.amazonaws.kinesisvideo#ConnectionLimitExceededException","Message":"too many"}"#,
    );
    assert_eq!(e.kind(), ServiceErrorKind::ConnectionLimitExceeded);
    assert_eq!(e.message.as_deref(), Some("too many"));
    assert!(e.is_retryable());
}

#[tokio::test]
async fn dropping_the_ack_stream_does_not_cut_the_upload() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let addr = serve(move |req| kvs_like(req, s.clone())).await;
    let (mut sender, acks) = PutMediaConnection::open(request(addr)).await.unwrap();
    drop(acks);
    for n in 1..=3 {
        sender.send(Bytes::from(format!("FRAG{n}"))).await.unwrap();
        // Let each chunk reach the server as its own frame (the fake server parses frames).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sender.finish();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while seen.lock().unwrap().body.len() < 15 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.lock().unwrap().body, b"FRAG1FRAG2FRAG3");
}

#[tokio::test]
async fn abort_breaks_the_body_off_instead_of_ending_it() {
    // What the server got: the body bytes if it ended cleanly, `None` if it broke off.
    type Outcome = Arc<Mutex<Option<Option<Vec<u8>>>>>;
    async fn read_body(req: Request<Incoming>, out: Outcome) -> Response<Body> {
        let body = req
            .into_body()
            .collect()
            .await
            .ok()
            .map(|b| b.to_bytes().to_vec());
        *out.lock().unwrap() = Some(body);
        Response::new(BodyExt::boxed(StreamBody::new(
            futures_util::stream::empty(),
        )))
    }
    for abort in [false, true] {
        let out: Outcome = Arc::default();
        let o = out.clone();
        let addr = serve(move |req| read_body(req, o.clone())).await;
        let (mut sender, _acks) = PutMediaConnection::open(request(addr)).await.unwrap();
        sender.send(Bytes::from_static(b"PARTIAL")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if abort {
            sender.abort();
            assert_eq!(sender.state(), PutMediaState::Closed);
            assert!(sender.send(Bytes::from_static(b"x")).await.is_err());
        } else {
            sender.finish();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while out.lock().unwrap().is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let got = out
            .lock()
            .unwrap()
            .clone()
            .expect("the server saw the body end");
        if abort {
            assert_eq!(got, None, "an aborted body must not end cleanly");
        } else {
            assert_eq!(got.as_deref(), Some(&b"PARTIAL"[..]));
        }
    }
}

#[test]
fn tag_roles_follow_what_pic_writes_and_what_getmedia_owns() {
    assert_eq!(tag_role(tags::END_OF_FRAGMENT), TagRole::EndOfFragment);
    for event in [
        tags::NOTIFICATION,
        tags::IMAGE_GENERATION,
        tags::IMAGE_PREFIX,
    ] {
        assert_eq!(tag_role(event), TagRole::Event, "{event}");
    }
    for service in crate::getmedia::SERVICE_TAGS {
        assert_eq!(tag_role(service), TagRole::ServiceOnly, "{service}");
    }
    // PIC refuses an `AWS` prefix on user metadata client-side; the service rule is only
    // about the names it writes itself.
    assert_eq!(tag_role("AWS_MY_TAG"), TagRole::Metadata);
    assert_eq!(tag_role("kvs-e2ee.header"), TagRole::Metadata);
    assert_eq!(
        tag_role("aws_kinesisvideo_end_of_fragment"),
        TagRole::Metadata
    );
}
