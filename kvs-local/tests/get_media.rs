//! GetMedia through the real `aws-sdk-kinesisvideomedia` client
//! (`kvs_e2ee_aws::getmedia::get_media`): KVS's element order compared with the real
//! recording `tests/fixtures/kvs/test_mixed_tags.mkv`, every start selector, live frames
//! flowing before their fragment is complete, stored fragments served after a restart,
//! resuming after a dropped connection, and per-stream authorization of the data plane.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use common::media::{
    Frag, create_stream, describe, events_of, payload, producer_mkv, put_media, start_media,
};
use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions, CredentialSource};
use kvs_e2ee_aws::getmedia::{
    StartSelector, TAG_CONTINUATION_TOKEN, TAG_FRAGMENT_NUMBER, TAG_PRODUCER_TIMESTAMP,
    TAG_SERVER_TIMESTAMP, get_media, parse_tag_timestamp,
};
use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaRequest};
use kvs_e2ee_mkv::{Demuxer, Event, Muxer, MuxerConfig, TrackEntry};
use kvs_local::RunningServer;
use kvs_local::media::store::{FRAGMENTS_DIR, INDEX_FILE};

async fn media_client(server: &RunningServer) -> aws_sdk_kinesisvideomedia::Client {
    let cfg = ClientConfig::load(server.admin_client_options())
        .await
        .unwrap();
    cfg.media_client(server.data_endpoint_url())
}

/// The whole GetMedia response (kvs-local ends it once nothing new arrives).
async fn read_all(server: &RunningServer, stream: &str, selector: StartSelector) -> Vec<u8> {
    let client = media_client(server).await;
    let mut media = get_media(&client, &StreamId::Name(stream.into()), &selector)
        .await
        .unwrap();
    assert_eq!(media.content_type(), Some("video/webm"));
    let mut out = Vec::new();
    let all = async {
        while let Some(chunk) = media.next_chunk().await {
            out.extend_from_slice(&chunk.unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(15), all)
        .await
        .expect("GetMedia ends in time");
    out
}

/// Per segment, the readable element list.
fn per_segment(events: &[Event]) -> Vec<Vec<String>> {
    let mut segments: Vec<Vec<Event>> = Vec::new();
    for e in events {
        if matches!(e, Event::EbmlHeader { .. }) {
            segments.push(Vec::new());
        }
        segments.last_mut().unwrap().push(e.clone());
    }
    segments.iter().map(|s| describe(s)).collect()
}

fn tag_values(events: &[Event], name: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Tags(t) => t.get_str(name).map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// The producer of `test_mixed_tags.mkv`: 10 fragments of 10 frames, absolute timecodes
/// from 0 in 5 s steps, tags `testTag_0…4` before every cluster and once more at the end.
fn mixed_tags_producer() -> Vec<Bytes> {
    let tags: Vec<(String, String)> = (0..5)
        .map(|i| (format!("testTag_{i}"), format!("testTag_{i}_Value")))
        .collect();
    let frags: Vec<Frag> = (0..10)
        .map(|i| {
            let mut f = Frag::new(i * 5_000, 10);
            f.tags.clone_from(&tags);
            f
        })
        .collect();
    let mut chunks = producer_mkv(&frags);
    let mut mux = Muxer::new(MuxerConfig::default());
    let mut tail = BytesMut::new();
    // Only to reach the Tags writer: the header bytes are discarded.
    mux.write_header(&mut BytesMut::new(), &[TrackEntry::h264(1, 1)])
        .unwrap();
    mux.write_tags(&mut tail, &tags).unwrap();
    chunks.push(tail.freeze());
    chunks
}

#[tokio::test]
async fn element_order_matches_the_real_recording() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "mixed").await;
    put_media(&server, "mixed", &mixed_tags_producer()).await;
    let ours = per_segment(&events_of(
        &read_all(&server, "mixed", StartSelector::Earliest).await,
    ));
    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/kvs/test_mixed_tags.mkv"
    ))
    .unwrap();
    let real = per_segment(&events_of(&fixture));
    assert_eq!(ours.len(), 10);
    assert_eq!(ours, real);
    server.shutdown().await;
}

#[tokio::test]
async fn every_start_selector_and_the_kvs_tags() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    let frags = [
        Frag::new(1_000, 3),
        Frag::new(2_000, 3),
        Frag::new(3_000, 3),
    ];
    // Paced, so each fragment has its own server timestamp.
    let acks = common::media::put_media_paced(
        &server,
        "cam1",
        &producer_mkv(&frags),
        Duration::from_millis(30),
    )
    .await;
    let numbers: Vec<String> = acks
        .iter()
        .step_by(3)
        .map(|a| a.fragment_number.clone().unwrap())
        .collect();

    let all = events_of(&read_all(&server, "cam1", StartSelector::Earliest).await);
    assert_eq!(tag_values(&all, TAG_FRAGMENT_NUMBER), numbers);
    assert_eq!(tag_values(&all, TAG_CONTINUATION_TOKEN), numbers);
    assert_eq!(
        tag_values(&all, TAG_PRODUCER_TIMESTAMP),
        ["1.000", "2.000", "3.000"]
    );
    let server_ts: Vec<SystemTime> = tag_values(&all, TAG_SERVER_TIMESTAMP)
        .iter()
        .map(|v| parse_tag_timestamp(v).unwrap())
        .collect();
    let frames: Vec<Vec<u8>> = all
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f.data.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 9);
    assert_eq!(frames[4], payload(2_000, 1));

    let first_number = |selector| async {
        let events = events_of(&read_all(&server, "cam1", selector).await);
        tag_values(&events, TAG_FRAGMENT_NUMBER)
    };
    assert_eq!(
        first_number(StartSelector::FragmentNumber(numbers[1].clone())).await,
        numbers[1..]
    );
    assert_eq!(
        first_number(StartSelector::ContinuationToken(numbers[0].clone())).await,
        numbers[1..]
    );
    assert_eq!(
        first_number(StartSelector::ServerTimestamp(server_ts[2])).await,
        numbers[2..]
    );
    assert_eq!(
        first_number(StartSelector::ProducerTimestamp(
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_500)
        ))
        .await,
        numbers[1..]
    );
    // NOW with nobody sending: nothing, and the response ends.
    assert!(first_number(StartSelector::Now).await.is_empty());

    // A crash while fragment 4 was being persisted: its file exists, its index line is
    // torn. After a restart the complete fragments are served again, and only those.
    let frag_dir = common::media::stream_dir(&server, "cam1").join(FRAGMENTS_DIR);
    server.shutdown().await;
    let half = format!("{}9", &numbers[2][..46]);
    std::fs::write(
        frag_dir.join(format!("{half}.mkv")),
        b"\x1a\x45\xdf\xa3half",
    )
    .unwrap();
    let mut index = std::fs::OpenOptions::new()
        .append(true)
        .open(frag_dir.join(INDEX_FILE))
        .unwrap();
    std::io::Write::write_all(
        &mut index,
        format!("{{\"FragmentNumber\":\"{half}\"").as_bytes(),
    )
    .unwrap();
    drop(index);
    let server = start_media(dir.path()).await;
    let again = events_of(&read_all(&server, "cam1", StartSelector::Earliest).await);
    assert_eq!(tag_values(&again, TAG_FRAGMENT_NUMBER), numbers);
    assert!(!frag_dir.join(format!("{half}.mkv")).exists());
    server.shutdown().await;
}

#[tokio::test]
async fn live_frames_flow_before_their_fragment_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    // A generous idle end: the reader must still be there when the producer starts.
    let server = common::media::start_media_with(dir.path(), Duration::from_secs(3)).await;
    create_stream(&server, "live").await;
    let client = media_client(&server).await;
    let mut media = get_media(&client, &StreamId::Name("live".into()), &StartSelector::Now)
        .await
        .unwrap();

    let req = PutMediaRequest::new(
        server.data_endpoint_url(),
        StreamId::Name("live".into()),
        SystemTime::now(),
        server.admin_credentials(),
        server.region(),
    );
    let (mut tx, mut acks) = PutMediaConnection::open(req).await.unwrap();
    let mut mux = Muxer::new(MuxerConfig::default());
    let mut b = BytesMut::new();
    mux.write_header(&mut b, &[TrackEntry::h264(1, 1)]).unwrap();
    mux.start_cluster(&mut b, 10_000).unwrap();
    mux.write_frame(&mut b, 1, 10_000, true, b"key frame")
        .unwrap();
    mux.write_frame(&mut b, 1, 10_040, false, b"delta frame")
        .unwrap();
    tx.send(b.split().freeze()).await.unwrap();

    // Both frames reach the reader while the fragment is still open.
    let mut demux = Demuxer::new();
    let mut seen = Vec::new();
    let two_frames = async {
        while seen.len() < 2 {
            let chunk = media.next_chunk().await.expect("more media").unwrap();
            demux.push(&chunk);
            while let Some(e) = demux.next_event().unwrap() {
                match e {
                    Event::Frame(f) => seen.push(f.data.to_vec()),
                    Event::Tags(t) => {
                        assert!(
                            t.get_str(TAG_CONTINUATION_TOKEN).is_none(),
                            "not complete yet"
                        )
                    }
                    _ => {}
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), two_frames)
        .await
        .expect("live frames arrive before the fragment ends");
    assert_eq!(seen, [b"key frame".to_vec(), b"delta frame".to_vec()]);

    // Finish the fragment: its tail tags follow.
    mux.write_frame(&mut b, 1, 10_080, false, b"last").unwrap();
    tx.send(b.split().freeze()).await.unwrap();
    tx.finish();
    let mut token = None;
    let rest = async {
        while let Some(chunk) = media.next_chunk().await {
            demux.push(&chunk.unwrap());
            while let Some(e) = demux.next_event().unwrap() {
                if let Event::Tags(t) = e
                    && let Some(v) = t.get_str(TAG_CONTINUATION_TOKEN)
                {
                    token = Some(v.to_owned());
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), rest)
        .await
        .expect("GetMedia ends after the producer stops");
    let mut numbers = Vec::new();
    while let Some(ack) = acks.recv().await {
        if let Some(n) = ack.unwrap().fragment_number {
            numbers.push(n);
        }
    }
    assert_eq!(token.as_deref(), numbers.last().map(String::as_str));
    server.shutdown().await;
}

#[tokio::test]
async fn a_dropped_get_media_resumes_from_the_continuation_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    let frags: Vec<Frag> = (1..=3).map(|i| Frag::new(i * 1_000, 5)).collect();
    let acks = put_media(&server, "cam1", &producer_mkv(&frags)).await;
    let numbers: Vec<String> = acks
        .iter()
        .step_by(3)
        .map(|a| a.fragment_number.clone().unwrap())
        .collect();
    let whole = read_all(&server, "cam1", StartSelector::Earliest)
        .await
        .len() as u64;

    // Cut the response half-way, inside fragment 2.
    server.faults().inject(
        kvs_local::faults::FaultScope::Stream("cam1".into()),
        kvs_local::faults::Fault::DropConnectionAfterBytes { bytes: whole / 2 },
        1,
    );
    let client = media_client(&server).await;
    let mut media = get_media(
        &client,
        &StreamId::Name("cam1".into()),
        &StartSelector::Earliest,
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let mut broke = false;
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = media.next_chunk().await {
            match chunk {
                Ok(c) => got.extend_from_slice(&c),
                Err(_) => {
                    broke = true;
                    break;
                }
            }
        }
    })
    .await
    .unwrap();
    assert!(broke, "the client sees the connection break");
    assert_eq!(got.len() as u64, whole / 2);
    let mut demux = Demuxer::new();
    demux.push(&got);
    let mut token = None;
    while let Ok(Some(e)) = demux.next_event() {
        if let Event::Tags(t) = e
            && let Some(v) = t.get_str(TAG_CONTINUATION_TOKEN)
        {
            token = Some(v.to_owned());
        }
    }
    assert_eq!(token.as_deref(), Some(numbers[0].as_str()));
    let resumed = events_of(
        &read_all(
            &server,
            "cam1",
            StartSelector::ContinuationToken(token.unwrap()),
        )
        .await,
    );
    assert_eq!(tag_values(&resumed, TAG_FRAGMENT_NUMBER), numbers[1..]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_camera_writes_only_its_own_stream_and_reads_none() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    create_stream(&server, "cam2").await;
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
    let cam = aws_credential_types::Credentials::new(
        &session.access_key_id,
        session.secret_access_key.expose(),
        Some(session.session_token.expose().to_owned()),
        None,
        "test",
    );
    let put = |stream: &'static str| {
        let cam = cam.clone();
        let server = &server;
        async move {
            let req = PutMediaRequest::new(
                server.data_endpoint_url(),
                StreamId::Name(stream.into()),
                SystemTime::now(),
                cam,
                server.region(),
            );
            let (mut tx, mut acks) = PutMediaConnection::open(req).await.unwrap();
            let _ = tx
                .send(producer_mkv(&[Frag::new(1_000, 2)])[0].clone())
                .await;
            tx.finish();
            let mut out = Vec::new();
            while let Some(ev) = acks.recv().await {
                out.push(ev);
            }
            out
        }
    };
    let own = put("cam1").await;
    assert_eq!(own.len(), 3, "BUFFERING, RECEIVED, PERSISTED");
    assert!(own.iter().all(Result::is_ok));
    let other = put("cam2").await;
    let err = other[0].as_ref().expect_err("refused");
    assert!(err.to_string().contains("AccessDenied"), "{err}");

    let cfg = ClientConfig::load(ConfigOptions {
        region: Some(server.region().to_owned()),
        endpoint_url: Some(server.control_url().to_owned()),
        credentials: CredentialSource::Static(cam),
        media_stall_grace: None,
        ca_bundle: None,
    })
    .await
    .unwrap();
    let client = cfg.media_client(server.data_endpoint_url());
    let err = get_media(
        &client,
        &StreamId::Name("cam1".into()),
        &StartSelector::Earliest,
    )
    .await
    .expect_err("a camera may not read");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    server.shutdown().await;
}
