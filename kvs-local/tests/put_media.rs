//! PutMedia through the real client (`kvs_e2ee_aws::putmedia::PutMediaConnection`, signed
//! like producer-c): ACK sequence and fragment numbers, storage as plain MKV files plus an
//! index, rejection of invalid fragments with the real ErrorIds, restart persistence and
//! the removal of a fragment left half-received by a crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::media::{
    Frag, create_stream, describe, events_of, producer_mkv, put_media, start_media, stream_dir,
};
use kvs_e2ee_aws::ack::{AckErrorId, AckEventType};
use kvs_e2ee_aws::archive::cmp_fragment_numbers;
use kvs_e2ee_mkv::Event;
use kvs_local::faults::{Fault, FaultScope};
use kvs_local::media::store::{FRAGMENTS_DIR, FragmentStore, INDEX_FILE};

#[tokio::test]
async fn put_media_acks_stores_fragments_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    let frags = [
        Frag::new(1_000, 5).with_tags(&[("first", "1")]),
        Frag::new(2_000, 5).with_tags(&[("second", "2")]),
        Frag::new(3_000, 5),
    ];
    let acks = put_media(&server, "cam1", &producer_mkv(&frags)).await;
    let kinds: Vec<AckEventType> = acks.iter().map(|a| a.event_type).collect();
    use AckEventType::{Buffering as B, Persisted as P, Received as R};
    // RECEIVED/PERSISTED for fragment N come when cluster N+1 starts (or the body ends).
    assert_eq!(kinds, [B, R, P, B, R, P, B, R, P]);
    let numbers: Vec<String> = acks
        .chunks(3)
        .map(|c| {
            let n = c[0].fragment_number.clone().unwrap();
            assert!(c.iter().all(|a| a.fragment_number.as_deref() == Some(&n)));
            n
        })
        .collect();
    for w in numbers.windows(2) {
        assert_eq!(w[0].len(), 47);
        assert_eq!(cmp_fragment_numbers(&w[0], &w[1]), std::cmp::Ordering::Less);
    }
    assert_eq!(acks[3].fragment_timecode, Some(2_000));

    // Each fragment is a plain MKV file named by its number, listed in the index.
    let frag_dir = stream_dir(&server, "cam1").join(FRAGMENTS_DIR);
    let first = std::fs::read(frag_dir.join(format!("{}.mkv", numbers[0]))).unwrap();
    assert_eq!(
        describe(&events_of(&first)),
        [
            "EBML",
            "Segment",
            "Tags(first)", // sent before the session's first cluster
            "Info",
            "Tracks",
            "Cluster",
            "Frame×5",
            "/Cluster",
            "Tags(second)", // sent before cluster 2: stored with fragment 1
            "/Segment"
        ]
    );
    let frame_data: Vec<Vec<u8>> = events_of(&first)
        .into_iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f.data.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(frame_data[2], common::media::payload(1_000, 2));
    let index = std::fs::read_to_string(frag_dir.join(INDEX_FILE)).unwrap();
    assert_eq!(index.lines().count(), 3);

    // Restart: the fragments are still there and new numbers keep increasing.
    let stream_path = stream_dir(&server, "cam1");
    server.shutdown().await;
    let server = start_media(dir.path()).await;
    let acks = put_media(&server, "cam1", &producer_mkv(&[Frag::new(4_000, 3)])).await;
    let newer = acks[0].fragment_number.clone().unwrap();
    assert_eq!(
        cmp_fragment_numbers(&numbers[2], &newer),
        std::cmp::Ordering::Less
    );
    let stored = FragmentStore::read_index(&stream_path).unwrap();
    assert_eq!(stored.len(), 4);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_fragments_get_error_acks_and_are_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;

    // Fragment 2 does not start with a key frame: 4006 INVALID_MKV_DATA for fragment 2.
    let mut bad = Frag::new(2_000, 3);
    bad.key_first = false;
    let acks = put_media(&server, "cam1", &producer_mkv(&[Frag::new(1_000, 3), bad])).await;
    let last = acks.last().unwrap();
    assert_eq!(last.event_type, AckEventType::Error);
    assert_eq!(last.error(), Some(AckErrorId::INVALID_MKV_DATA));
    assert_eq!(last.fragment_timecode, Some(2_000));
    assert_eq!(acks[3].event_type, AckEventType::Buffering);
    assert_eq!(acks[3].fragment_number, last.fragment_number);
    let stored = FragmentStore::read_index(&stream_dir(&server, "cam1")).unwrap();
    assert_eq!(stored.len(), 1, "only the valid fragment is stored");

    // Timecode going back: 4004.
    let acks = put_media(
        &server,
        "cam1",
        &producer_mkv(&[Frag::new(5_000, 2), Frag::new(4_000, 2)]),
    )
    .await;
    assert_eq!(
        acks.last().unwrap().error(),
        Some(AckErrorId::FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS)
    );

    // A name only GetMedia writes, and more than 25 tags: 4009.
    let acks = put_media(
        &server,
        "cam1",
        &producer_mkv(&[
            Frag::new(6_000, 2).with_tags(&[("AWS_KINESISVIDEO_FRAGMENT_NUMBER", "1")])
        ]),
    )
    .await;
    assert_eq!(
        acks.last().unwrap().error(),
        Some(AckErrorId::FRAGMENT_METADATA_LIMIT_REACHED)
    );
    let many: Vec<(String, String)> = (0..26).map(|i| (format!("t{i}"), "v".into())).collect();
    let mut f = Frag::new(7_000, 1);
    f.tags = many;
    let acks = put_media(&server, "cam1", &producer_mkv(&[f])).await;
    assert_eq!(
        acks.last().unwrap().error(),
        Some(AckErrorId::FRAGMENT_METADATA_LIMIT_REACHED)
    );
    let mut mkv = producer_mkv(&[Frag::new(8_000, 1)]);
    // One more frame 10.04 s into the fragment (relative timecode 10040 fits 16 bits).
    mkv.push(long_frame(8_000, 18_040));
    let acks = put_media(&server, "cam1", &mkv).await;
    assert_eq!(
        acks.last().unwrap().error(),
        Some(AckErrorId::MAX_FRAGMENT_DURATION_REACHED)
    );

    // Garbage: 4006.
    let acks = put_media(
        &server,
        "cam1",
        &[bytes::Bytes::from_static(b"not matroska at all")],
    )
    .await;
    assert_eq!(
        acks.last().unwrap().error(),
        Some(AckErrorId::INVALID_MKV_DATA)
    );

    // An injected ERROR ack.
    server.faults().inject(
        FaultScope::Stream("cam1".into()),
        Fault::AckError { error_id: 5000 },
        1,
    );
    let acks = put_media(&server, "cam1", &producer_mkv(&[Frag::new(9_000, 1)])).await;
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].error(), Some(AckErrorId::INTERNAL_ERROR));

    let stored = FragmentStore::read_index(&stream_dir(&server, "cam1")).unwrap();
    assert_eq!(stored.len(), 2, "the valid fragment at 5000 ms only");
    server.shutdown().await;
}

/// A SimpleBlock for track 1 at `timecode` in the cluster at `cluster` (not a key frame).
fn long_frame(cluster: u64, timecode: u64) -> bytes::Bytes {
    let rel = i16::try_from(timecode - cluster).unwrap();
    let mut b = vec![0xA3, 0x88]; // SimpleBlock, size 8
    b.push(0x81); // track 1
    b.extend_from_slice(&rel.to_be_bytes());
    b.push(0x00);
    b.extend_from_slice(b"data");
    bytes::Bytes::from(b)
}

#[tokio::test]
async fn put_media_to_an_unknown_stream_is_refused_with_resource_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    let mut req = kvs_e2ee_aws::putmedia::PutMediaRequest::new(
        server.data_endpoint_url(),
        kvs_e2ee_aws::StreamId::Name("nope".into()),
        std::time::SystemTime::now(),
        server.admin_credentials(),
        server.region(),
    );
    req.body_channel = 1;
    let (_tx, mut acks) = kvs_e2ee_aws::putmedia::PutMediaConnection::open(req)
        .await
        .unwrap();
    let err = acks.recv().await.unwrap().expect_err("refused");
    match err {
        kvs_e2ee_aws::putmedia::PutMediaError::Service { error, .. } => {
            assert_eq!(error.status, 404);
            assert_eq!(
                error.error_type.as_deref(),
                Some("ResourceNotFoundException")
            );
        }
        other => panic!("unexpected {other}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_fragment_cut_off_mid_way_is_never_stored_and_idle_acks_keep_the_connection_alive() {
    use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaRequest};
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    let mkv = producer_mkv(&[Frag::new(1_000, 3), Frag::new(2_000, 3)]);
    // Cut 20 bytes into fragment 2: its Cluster has started, its frames never arrive.
    let cut = mkv[0].len() as u64 + 20;
    server.faults().inject(
        FaultScope::Stream("cam1".into()),
        Fault::DropConnectionAfterBytes { bytes: cut },
        1,
    );
    let open = || async {
        let req = PutMediaRequest::new(
            server.data_endpoint_url(),
            kvs_e2ee_aws::StreamId::Name("cam1".into()),
            std::time::SystemTime::now(),
            server.admin_credentials(),
            server.region(),
        );
        PutMediaConnection::open(req).await.unwrap()
    };
    let (mut tx, mut acks) = open().await;
    for c in &mkv {
        let _ = tx.send(c.clone()).await;
    }
    tx.finish();
    let mut kinds = Vec::new();
    let mut broke = false;
    while let Some(ev) = tokio::time::timeout(std::time::Duration::from_secs(10), acks.recv())
        .await
        .unwrap()
    {
        match ev {
            Ok(ev) if ev.event_type != AckEventType::Idle => kinds.push(ev.event_type),
            Ok(_) => {}
            Err(_) => broke = true,
        }
    }
    use AckEventType::{Buffering as B, Persisted as P, Received as R};
    assert_eq!(kinds, [B, R, P, B]);
    assert!(broke, "the client sees the connection break");
    let stored = FragmentStore::read_index(&stream_dir(&server, "cam1")).unwrap();
    assert_eq!(stored.len(), 1);

    // A producer that goes quiet gets IDLE events (every 300 ms in this test server).
    let (tx, mut acks) = open().await;
    tx.send(mkv[0].slice(..40)).await.unwrap();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), acks.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ev.event_type, AckEventType::Idle);
    assert_eq!(ev.fragment_number, None);
    drop(tx);
    server.shutdown().await;
}

#[tokio::test]
async fn relative_timecodes_count_from_the_start_header_and_a_deleted_stream_gets_4507() {
    use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaRequest, TimecodeType};
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    let open = || async {
        let mut req = PutMediaRequest::new(
            server.data_endpoint_url(),
            kvs_e2ee_aws::StreamId::Name("cam1".into()),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
            server.admin_credentials(),
            server.region(),
        );
        req.timecode_type = TimecodeType::Relative;
        PutMediaConnection::open(req).await.unwrap()
    };
    let mkv = producer_mkv(&[Frag::new(0, 2), Frag::new(2_000, 2), Frag::new(4_000, 2)]);
    let (mut tx, mut acks) = open().await;
    tx.send(mkv[0].clone()).await.unwrap();
    tx.send(mkv[1].clone()).await.unwrap();
    tx.finish();
    while let Some(ev) = acks.recv().await {
        ev.unwrap();
    }
    let stored = FragmentStore::read_index(&stream_dir(&server, "cam1")).unwrap();
    let producer: Vec<i64> = stored.iter().map(|f| f.producer_timestamp_ms).collect();
    assert_eq!(producer, [1_700_000_000_500, 1_700_000_002_500]);

    // The stream is deleted while a fragment is being received.
    let (tx, mut acks) = open().await;
    tx.send(mkv[0].clone()).await.unwrap();
    let first = acks.recv().await.unwrap().unwrap();
    assert_eq!(first.event_type, AckEventType::Buffering);
    let arn = server.state().streams.get("cam1").unwrap().arn;
    common::admin(&server)
        .delete_stream()
        .stream_arn(arn)
        .send()
        .await
        .unwrap();
    tx.send(mkv[2].clone()).await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), acks.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(err.error(), Some(AckErrorId::STREAM_DELETED));
    assert_eq!(err.fragment_number, first.fragment_number);
    drop(tx);
    server.shutdown().await;
}

#[tokio::test]
async fn two_overlapping_connections_both_store_their_fragments() {
    use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaRequest};
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    let open = || async {
        let req = PutMediaRequest::new(
            server.data_endpoint_url(),
            kvs_e2ee_aws::StreamId::Name("cam1".into()),
            std::time::SystemTime::now(),
            server.admin_credentials(),
            server.region(),
        );
        PutMediaConnection::open(req).await.unwrap()
    };
    // A producer rotating its connection: the old one still finishes its last fragment
    // after the new one has started.
    let (mut old_tx, mut old_acks) = open().await;
    old_tx
        .send(producer_mkv(&[Frag::new(1_000, 3)])[0].clone())
        .await
        .unwrap();
    assert_eq!(
        old_acks.recv().await.unwrap().unwrap().event_type,
        AckEventType::Buffering
    );
    let acks = put_media(
        &server,
        "cam1",
        &producer_mkv(&[Frag::new(2_000, 3), Frag::new(3_000, 3)]),
    )
    .await;
    assert_eq!(acks.len(), 6);
    old_tx.finish();
    let mut kinds = Vec::new();
    while let Some(ev) = old_acks.recv().await {
        kinds.push(ev.unwrap().event_type);
    }
    assert_eq!(kinds, [AckEventType::Received, AckEventType::Persisted]);
    let stored = FragmentStore::read_index(&stream_dir(&server, "cam1")).unwrap();
    let timecodes: Vec<u64> = stored.iter().map(|f| f.cluster_timecode).collect();
    assert_eq!(timecodes, [1_000, 2_000, 3_000], "in fragment-number order");
    server.shutdown().await;
}

#[tokio::test]
async fn a_connection_over_the_configured_duration_gets_4003_at_the_next_fragment() {
    use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaRequest};
    use kvs_local::media::{MediaConfig, MediaPlane};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let mut config = kvs_local::Config::new(dir.path());
    config.data_plane = Some(std::sync::Arc::new(MediaPlane::new(MediaConfig {
        max_connection_duration: Some(Duration::from_millis(1_000)),
        ..MediaConfig::default()
    })));
    let server = common::start_with(config).await;
    create_stream(&server, "cam1").await;
    let req = PutMediaRequest::new(
        server.data_endpoint_url(),
        kvs_e2ee_aws::StreamId::Name("cam1".into()),
        std::time::SystemTime::now(),
        server.admin_credentials(),
        server.region(),
    );
    let (tx, mut acks) = PutMediaConnection::open(req).await.unwrap();
    let mkv = producer_mkv(&[Frag::new(1_000, 2), Frag::new(2_000, 2)]);
    tx.send(mkv[0].clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    tx.send(mkv[1].clone()).await.unwrap();
    let mut events = Vec::new();
    while let Some(ev) = tokio::time::timeout(Duration::from_secs(5), acks.recv())
        .await
        .unwrap()
    {
        events.push(ev.unwrap());
    }
    let kinds: Vec<AckEventType> = events.iter().map(|e| e.event_type).collect();
    use AckEventType::{Buffering as B, Error as E, Persisted as P, Received as R};
    assert_eq!(kinds, [B, R, P, E]);
    assert_eq!(
        events[3].error(),
        Some(AckErrorId::MAX_CONNECTION_DURATION_REACHED)
    );
    assert_eq!(events[3].fragment_timecode, Some(2_000));
    drop(tx);
    server.shutdown().await;
}

/// What PIC writes at the end of every upload (`Stream.c`): an end-of-fragment tag.
const EOFR: &str = kvs_e2ee_aws::putmedia::tags::END_OF_FRAGMENT;

fn tags_chunk(tags: &[(&str, &str)]) -> bytes::Bytes {
    let mut b = bytes::BytesMut::new();
    for (n, v) in tags {
        kvs_e2ee_mkv::elements::write_tag(&mut b, n, v);
    }
    b.freeze()
}

/// Opens a PutMedia connection to `stream` with absolute timecodes.
async fn open_put_media(
    server: &kvs_local::RunningServer,
    stream: &str,
) -> (
    kvs_e2ee_aws::putmedia::PutMediaSender,
    kvs_e2ee_aws::putmedia::AckStream,
) {
    use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaRequest, TimecodeType};
    let mut req = PutMediaRequest::new(
        server.data_endpoint_url(),
        kvs_e2ee_aws::StreamId::Name(stream.into()),
        std::time::SystemTime::now(),
        server.admin_credentials(),
        server.region(),
    );
    req.timecode_type = TimecodeType::Absolute;
    PutMediaConnection::open(req).await.unwrap()
}

/// The next non-IDLE ACK, within 5 s.
async fn next_ack(
    acks: &mut kvs_e2ee_aws::putmedia::AckStream,
) -> Option<kvs_e2ee_aws::ack::AckEvent> {
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), acks.recv())
            .await
            .expect("an ACK in time");
        match next {
            Some(Ok(ev)) if ev.event_type == AckEventType::Idle => {}
            Some(Ok(ev)) => return Some(ev),
            Some(Err(e)) => panic!("PutMedia failed: {e}"),
            None => return None,
        }
    }
}

#[tokio::test]
async fn end_of_fragment_tag_completes_the_fragment_at_once_and_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    let mkv = producer_mkv(&[Frag::new(1_000, 3), Frag::new(2_000, 3)]);
    let (tx, mut acks) = open_put_media(&server, "cam1").await;

    // Fragment 1, then the tag PIC writes before the next key frame (here in one element
    // with metadata around it, which is split there): RECEIVED and PERSISTED come while
    // the connection stays open and no further Cluster has started.
    tx.send(mkv[0].clone()).await.unwrap();
    tx.send(tags_chunk(&[("before", "b"), (EOFR, ""), ("after", "a")]))
        .await
        .unwrap();
    let kinds: Vec<AckEventType> = [
        next_ack(&mut acks).await.unwrap(),
        next_ack(&mut acks).await.unwrap(),
        next_ack(&mut acks).await.unwrap(),
    ]
    .iter()
    .map(|a| a.event_type)
    .collect();
    use AckEventType::{Buffering as B, Persisted as P, Received as R};
    assert_eq!(kinds, [B, R, P]);

    // Tags after the end-of-fragment tag lead the next fragment.
    tx.send(mkv[1].clone()).await.unwrap();
    tx.send(tags_chunk(&[("inside", "i"), (EOFR, "")]))
        .await
        .unwrap();
    let mut rest = Vec::new();
    for _ in 0..3 {
        rest.push(next_ack(&mut acks).await.unwrap());
    }
    assert_eq!(
        rest.iter().map(|a| a.event_type).collect::<Vec<_>>(),
        [B, R, P]
    );
    assert_eq!(rest[0].fragment_timecode, Some(2_000));
    drop(tx);
    assert!(
        next_ack(&mut acks).await.is_none(),
        "no ACK after the body ends"
    );

    let stored = FragmentStore::read_index(&stream_dir(&server, "cam1")).unwrap();
    assert_eq!(stored.len(), 2);
    let frag_dir = stream_dir(&server, "cam1").join(FRAGMENTS_DIR);
    let read = |n: &str| {
        describe(&events_of(
            &std::fs::read(frag_dir.join(format!("{n}.mkv"))).unwrap(),
        ))
    };
    assert_eq!(
        read(&stored[0].fragment_number),
        [
            "EBML",
            "Segment",
            "Info",
            "Tracks",
            "Cluster",
            "Frame×3",
            "/Cluster",
            "Tags(before)",
            "/Segment"
        ]
    );
    assert_eq!(
        read(&stored[1].fragment_number),
        [
            "EBML",
            "Segment",
            "Tags(after)",
            "Info",
            "Tracks",
            "Cluster",
            "Frame×3",
            "/Cluster",
            "Tags(inside)",
            "/Segment"
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_body_of_header_and_end_of_fragment_tag_only_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    // What PIC sends when a stream stops right after it opened a connection.
    let mut head = bytes::BytesMut::new();
    let mut mux = kvs_e2ee_mkv::Muxer::new(kvs_e2ee_mkv::MuxerConfig::default());
    mux.write_header(
        &mut head,
        &[kvs_e2ee_mkv::TrackEntry::h264(1, 1).with_video(64, 48)],
    )
    .unwrap();
    let body = [head.freeze(), tags_chunk(&[(EOFR, "")])];
    let acks = put_media(&server, "cam1", &body).await;
    assert!(acks.is_empty(), "no fragment, no error: {acks:?}");
    let stored = FragmentStore::read_index(&stream_dir(&server, "cam1")).unwrap();
    assert!(stored.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn an_error_before_any_cluster_names_no_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    // A forged service tag ahead of the first Cluster: 4009, and no fragment to name.
    let frags = [Frag::new(1_000, 2).with_tags(&[("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "1")])];
    let acks = put_media(&server, "cam1", &producer_mkv(&frags)).await;
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(
        acks[0].error(),
        Some(AckErrorId::FRAGMENT_METADATA_LIMIT_REACHED)
    );
    assert_eq!(acks[0].fragment_timecode, None);
    assert_eq!(acks[0].fragment_number, None);
    // On the wire: neither field is present (PIC's parser fixes the timestamp up itself).
    let json = acks[0].encode();
    assert!(
        !json.contains("FragmentTimecode") && !json.contains("FragmentNumber"),
        "{json}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn event_tags_pic_writes_are_stored_with_their_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "cam1").await;
    let (tx, mut acks) = open_put_media(&server, "cam1").await;
    let mkv = producer_mkv(&[Frag::new(1_000, 3)]);
    tx.send(mkv[0].clone()).await.unwrap();
    tx.send(tags_chunk(&[
        ("AWS_KINESISVIDEO_NOTIFICATION", ""),
        ("AWS_KINESISVIDEO_IMAGE_GENERATION", ""),
        ("AWS_KINESISVIDEO_IMAGE_PREFIX", "cam1/"),
    ]))
    .await
    .unwrap();
    tx.send(tags_chunk(&[(EOFR, "")])).await.unwrap();
    drop(tx);
    let mut kinds = Vec::new();
    while let Some(a) = next_ack(&mut acks).await {
        kinds.push(a.event_type);
    }
    use AckEventType::{Buffering as B, Persisted as P, Received as R};
    assert_eq!(kinds, [B, R, P]);
    let stored = FragmentStore::read_index(&stream_dir(&server, "cam1")).unwrap();
    let frag_dir = stream_dir(&server, "cam1").join(FRAGMENTS_DIR);
    let file = std::fs::read(frag_dir.join(format!("{}.mkv", stored[0].fragment_number))).unwrap();
    let names: Vec<String> = events_of(&file)
        .into_iter()
        .filter_map(|e| match e {
            Event::Tags(t) => Some(t.tags.into_iter().map(|t| t.name)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        names,
        [
            "AWS_KINESISVIDEO_NOTIFICATION",
            "AWS_KINESISVIDEO_IMAGE_GENERATION",
            "AWS_KINESISVIDEO_IMAGE_PREFIX"
        ]
    );
    server.shutdown().await;
}
