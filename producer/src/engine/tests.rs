//! Engine logic against a scripted PutMedia peer: it parses the body with the
//! shared demuxer and acknowledges clusters as KVS does (BUFFERING at the
//! cluster start, RECEIVED and PERSISTED once the next cluster or the end of
//! the body shows the cluster is complete), and injects one fault per
//! connection as scripted. The real stand-in (kvs-local) is used by the
//! integration tests in `producer/tests/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kvs_e2ee_aws::ack::{AckEvent, AckEventType};
use kvs_e2ee_aws::putmedia::{PutMediaError, ServiceError};
use kvs_e2ee_envelope::SecretKey;
use kvs_e2ee_mkv::{Demuxer, Event};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::mpsc;

use super::link::{AckSource, ConnectError, Connector, MediaSink};
use super::package::{ClosedFragment, Packager};
use super::*;
use crate::buffer::FragmentBuffer;
use crate::media::{CODEC_ID_H264, MediaFrame, SourceEvent, TrackInfo};

/// What the peer does on one connection.
#[derive(Debug, Clone)]
enum Plan {
    /// Acknowledge everything.
    Healthy,
    /// `connect` itself fails (retryable).
    ConnectFails,
    /// Close the connection after this many body bytes.
    DropAfter(usize),
    /// Answer an ERROR ack with this id at the start of cluster number `at` (0-based on this connection).
    ErrorAck { at: usize, id: u32 },
    /// Read the body but never acknowledge anything (a stalled service).
    Silent,
    /// Refuse the request with an HTTP error.
    Refuse {
        status: u16,
        error_type: &'static str,
    },
}

#[derive(Default)]
struct Record {
    /// Body bytes of each connection.
    bodies: Vec<Vec<u8>>,
    /// Cluster timecodes persisted, in order (duplicates included).
    persisted: Vec<u64>,
}

struct Peer {
    plans: VecDeque<Plan>,
    record: Arc<Mutex<Record>>,
}

struct Sink(mpsc::Sender<Bytes>, Arc<std::sync::atomic::AtomicBool>);
struct Acks(mpsc::Receiver<Result<AckEvent, PutMediaError>>);

impl MediaSink for Sink {
    async fn send(&mut self, bytes: Bytes) -> Result<(), PutMediaError> {
        self.0.send(bytes).await.map_err(|_| PutMediaError::Closed)
    }
    fn finish(&mut self) {
        // Replacing the sender with a closed one ends the body.
        let (tx, _) = mpsc::channel(1);
        self.0 = tx;
    }

    fn abort(&mut self) {
        self.1.store(true, std::sync::atomic::Ordering::SeqCst);
        self.finish();
    }
}

impl AckSource for Acks {
    async fn recv(&mut self) -> Option<Result<AckEvent, PutMediaError>> {
        self.0.recv().await
    }
}

fn ack(t: AckEventType, tc: u64) -> AckEvent {
    AckEvent {
        event_type: t,
        fragment_timecode: Some(tc),
        fragment_number: Some(tc.to_string()),
        error_id: None,
    }
}

impl Connector for Peer {
    type Sink = Sink;
    type Acks = Acks;

    async fn connect(&mut self, _failures: u32) -> Result<(Sink, Acks), ConnectError> {
        let plan = self.plans.pop_front().unwrap_or(Plan::Healthy);
        if let Plan::ConnectFails = plan {
            return Err(ConnectError::Credentials("scripted outage".into()));
        }
        let (body_tx, body_rx) = mpsc::channel(4);
        let (ack_tx, ack_rx) = mpsc::channel(64);
        let record = self.record.clone();
        let conn = {
            let mut r = record.lock().unwrap();
            r.bodies.push(Vec::new());
            r.bodies.len() - 1
        };
        let aborted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn(serve(plan, conn, record, body_rx, ack_tx, aborted.clone()));
        Ok((Sink(body_tx, aborted), Acks(ack_rx)))
    }
}

async fn serve(
    plan: Plan,
    conn: usize,
    record: Arc<Mutex<Record>>,
    mut body: mpsc::Receiver<Bytes>,
    acks: mpsc::Sender<Result<AckEvent, PutMediaError>>,
    aborted: Arc<std::sync::atomic::AtomicBool>,
) {
    if let Plan::Refuse { status, error_type } = plan {
        let err = ServiceError {
            status,
            error_type: Some(error_type.into()),
            message: Some("scripted".into()),
            request_id: None,
        };
        let _ = acks
            .send(Err(PutMediaError::Service {
                endpoint: "peer".into(),
                error: Box::new(err),
            }))
            .await;
        return;
    }
    let mut demux = Demuxer::new();
    let mut open: Option<u64> = None;
    let mut clusters = 0usize;
    let mut total = 0usize;
    let complete = |tc: u64| {
        record.lock().unwrap().persisted.push(tc);
        [
            ack(AckEventType::Received, tc),
            ack(AckEventType::Persisted, tc),
        ]
    };
    loop {
        let chunk = body.recv().await;
        let Some(chunk) = chunk else { break };
        total += chunk.len();
        record.lock().unwrap().bodies[conn].extend_from_slice(&chunk);
        if let Plan::DropAfter(n) = plan
            && total > n
        {
            return;
        }
        demux.push(&chunk);
        while let Some(ev) = demux.next_event().unwrap() {
            let Event::ClusterStart { timecode, .. } = ev else {
                continue;
            };
            if let Plan::ErrorAck { at, id } = plan
                && clusters == at
            {
                let mut e = ack(AckEventType::Error, timecode);
                e.error_id = Some(id);
                let _ = acks.send(Ok(e)).await;
                return;
            }
            clusters += 1;
            if matches!(plan, Plan::Silent) {
                continue;
            }
            let _ = acks.send(Ok(ack(AckEventType::Buffering, timecode))).await;
            if let Some(prev) = open.replace(timecode) {
                for a in complete(prev) {
                    let _ = acks.send(Ok(a)).await;
                }
            }
        }
    }
    // A broken-off body completes nothing (KVS discards the open fragment).
    if matches!(plan, Plan::Silent) || aborted.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    if let Some(last) = open {
        for a in complete(last) {
            let _ = acks.send(Ok(a)).await;
        }
    }
}

const T0: i64 = 1_700_000_000_000;

fn events(fragments: i64) -> Vec<SourceEvent> {
    let mut out = vec![SourceEvent::Tracks(vec![TrackInfo {
        number: 1,
        codec_id: CODEC_ID_H264.into(),
        codec_private: vec![1, 0x64, 0, 0x1f, 0xff],
        video: Some((320, 240)),
        audio: None,
    }])];
    for i in 0..fragments * 10 {
        out.push(SourceEvent::Frame(MediaFrame {
            track: 1,
            timecode_ms: T0 + i * 100,
            keyframe: i % 10 == 0,
            data: BytesMut::from(vec![(i % 251) as u8; 2000].as_slice()),
        }));
    }
    out
}

fn packager() -> Packager<StdRng> {
    let mut rng = StdRng::seed_from_u64(42);
    let camera = SecretKey::generate(&mut rng);
    let viewer = SecretKey::generate(&mut rng).public_key();
    Packager::new("cam".into(), camera, vec![viewer], 1000, rng)
}

/// The header and fragments a fault-free run sends, computed offline.
fn reference(fragments: i64) -> (Bytes, Vec<ClosedFragment>) {
    let mut p = packager();
    let mut out = Vec::new();
    for ev in events(fragments) {
        out.extend(p.push(ev).unwrap());
    }
    let header = p.header().unwrap().1.clone();
    out.extend(p.finish().unwrap());
    (header, out)
}

fn fast() -> EngineConfig {
    EngineConfig {
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        drain_timeout: Duration::from_secs(2),
        close_reason_timeout: Duration::from_millis(200),
        ..EngineConfig::default()
    }
}

async fn stream(
    plans: Vec<Plan>,
    config: EngineConfig,
    capacity: u64,
    fragments: i64,
) -> (Result<EngineStats, EngineError>, Record) {
    let record = Arc::new(Mutex::new(Record::default()));
    let peer = Peer {
        plans: plans.into(),
        record: record.clone(),
    };
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        for ev in events(fragments) {
            if tx.send(Ok(ev)).await.is_err() {
                return;
            }
        }
    });
    let store = Box::new(FragmentBuffer::<Bytes>::new(capacity));
    let engine = Engine::new(config, peer, packager(), store);
    let result = tokio::time::timeout(Duration::from_secs(20), engine.run(rx))
        .await
        .expect("engine finished in time");
    let record = std::mem::take(&mut *record.lock().unwrap());
    (result, record)
}

/// Every connection's body is the session header followed by whole reference
/// fragments, consecutive, byte for byte (the last possibly cut short).
fn assert_bodies_are_reference_bytes(record: &Record, header: &Bytes, frags: &[ClosedFragment]) {
    for (i, body) in record.bodies.iter().enumerate() {
        if body.is_empty() {
            continue;
        }
        assert!(
            body.starts_with(header),
            "connection {i} starts with the header"
        );
        let rest = &body[header.len()..];
        if rest.is_empty() {
            continue;
        }
        let start = frags
            .iter()
            .position(|f| rest.starts_with(&f.bytes[..f.bytes.len().min(rest.len())]))
            .unwrap_or_else(|| panic!("connection {i} does not start at a fragment boundary"));
        let expected: Vec<u8> = frags[start..]
            .iter()
            .flat_map(|f| f.bytes.to_vec())
            .collect();
        assert!(
            expected.starts_with(rest),
            "connection {i} resends different bytes"
        );
    }
}

fn all_timecodes(frags: &[ClosedFragment]) -> BTreeSet<u64> {
    frags.iter().map(|f| f.timecode_ms as u64).collect()
}

#[tokio::test]
async fn healthy_connection_persists_every_fragment_in_one_body() {
    let (header, frags) = reference(5);
    let (result, record) = stream(vec![], fast(), 10_000_000, 5).await;
    let stats = result.unwrap();
    assert_eq!(stats.fragments, 5);
    assert_eq!(stats.fragments_persisted, 5);
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.reconnects, 0);
    let mut expected = header.to_vec();
    for f in &frags {
        expected.extend_from_slice(&f.bytes);
    }
    assert_eq!(record.bodies, vec![expected]);
    assert_eq!(
        record.persisted,
        frags
            .iter()
            .map(|f| f.timecode_ms as u64)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn dropped_connection_mid_fragment_resends_unpersisted_fragments_byte_for_byte() {
    let (header, frags) = reference(6);
    // Cut the first connection inside the third fragment.
    let cut = header.len() + frags[0].bytes.len() + frags[1].bytes.len() + 500;
    let (result, record) = stream(vec![Plan::DropAfter(cut)], fast(), 10_000_000, 6).await;
    let stats = result.unwrap();
    assert_eq!(stats.fragments_persisted, 6);
    assert!(stats.reconnects >= 1 && stats.connections >= 2, "{stats:?}");
    assert_bodies_are_reference_bytes(&record, &header, &frags);
    let persisted: BTreeSet<u64> = record.persisted.iter().copied().collect();
    assert_eq!(persisted, all_timecodes(&frags));
    // The second connection starts with the first fragment not persisted.
    assert!(record.bodies[1][header.len()..].starts_with(&frags[1].bytes));
}

#[tokio::test]
async fn retryable_error_ack_reconnects_and_resends() {
    let (header, frags) = reference(4);
    let plans = vec![
        Plan::ErrorAck { at: 2, id: 5000 },
        Plan::ErrorAck { at: 0, id: 4000 },
    ];
    let (result, record) = stream(plans, fast(), 10_000_000, 4).await;
    let stats = result.unwrap();
    assert_eq!(stats.fragments_persisted, 4);
    assert_eq!(stats.reconnects, 2);
    assert_bodies_are_reference_bytes(&record, &header, &frags);
    let persisted: BTreeSet<u64> = record.persisted.iter().copied().collect();
    assert_eq!(persisted, all_timecodes(&frags));
}

#[tokio::test]
async fn server_errors_throttling_and_expired_tokens_are_retried() {
    let plans = vec![
        Plan::Refuse {
            status: 503,
            error_type: "ServiceUnavailable",
        },
        Plan::Refuse {
            status: 400,
            error_type: "ClientLimitExceededException",
        },
        Plan::Refuse {
            status: 403,
            error_type: "ExpiredTokenException",
        },
        Plan::ConnectFails,
    ];
    let (result, record) = stream(plans, fast(), 10_000_000, 3).await;
    let stats = result.unwrap();
    assert_eq!(stats.fragments_persisted, 3);
    assert_eq!(stats.reconnects, 4);
    assert_eq!(record.persisted.len(), 3);
}

#[tokio::test]
async fn non_retryable_errors_stop_with_the_error_named() {
    let (result, _) = stream(
        vec![Plan::ErrorAck { at: 1, id: 4006 }],
        fast(),
        10_000_000,
        3,
    )
    .await;
    let err = result.unwrap_err();
    assert!(
        matches!(&err, EngineError::Rejected { id, .. } if id.0 == 4006),
        "{err}"
    );
    assert!(err.to_string().contains("INVALID_MKV_DATA"), "{err}");

    let refuse = Plan::Refuse {
        status: 403,
        error_type: "NotAuthorizedException",
    };
    let (result, _) = stream(vec![refuse], fast(), 10_000_000, 3).await;
    let err = result.unwrap_err();
    assert!(matches!(err, EngineError::PutMedia(_)), "{err}");
    assert!(err.to_string().contains("NotAuthorizedException"), "{err}");
}

#[tokio::test]
async fn full_buffer_drops_whole_oldest_fragments_and_counts_them() {
    let (_, frags) = reference(8);
    let biggest = frags.iter().map(|f| f.bytes.len()).max().unwrap() as u64;
    // Room for about three fragments; KVS unreachable while the source runs.
    let plans = vec![Plan::ConnectFails];
    let config = EngineConfig {
        backoff_initial: Duration::from_millis(300),
        backoff_max: Duration::from_millis(300),
        ..fast()
    };
    let (result, record) = stream(plans, config, biggest * 3 + 10, 8).await;
    let stats = result.unwrap();
    assert_eq!(stats.dropped_fragments, 5, "{stats:?}");
    assert_eq!(stats.fragments_persisted + stats.dropped_fragments, 8);
    // What was kept is the newest fragments, sent in order.
    let kept: Vec<u64> = frags
        .iter()
        .rev()
        .take(stats.fragments_persisted as usize)
        .rev()
        .map(|f| f.timecode_ms as u64)
        .collect();
    assert_eq!(record.persisted, kept);
}

#[tokio::test]
async fn connection_is_rotated_at_fragment_boundaries_without_losing_fragments() {
    let (header, frags) = reference(5);
    let config = EngineConfig {
        rotate_after: Duration::ZERO,
        ..fast()
    };
    let (result, record) = stream(vec![], config, 10_000_000, 5).await;
    let stats = result.unwrap();
    assert_eq!(stats.fragments_persisted, 5);
    // Fragments arrive faster than a drain completes, so some rotations
    // carry several fragments; each rotation is one more connection.
    assert!(stats.rotations >= 1, "{stats:?}");
    assert_eq!(stats.connections, stats.rotations + 1, "{stats:?}");
    assert_eq!(stats.reconnects, 0);
    assert_bodies_are_reference_bytes(&record, &header, &frags);
    // Each fragment persisted exactly once: rotation waits for the drain.
    assert_eq!(
        record.persisted,
        frags
            .iter()
            .map(|f| f.timecode_ms as u64)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn source_error_flushes_accepted_fragments_then_reports() {
    let record = Arc::new(Mutex::new(Record::default()));
    let peer = Peer {
        plans: VecDeque::new(),
        record: record.clone(),
    };
    let (tx, rx) = mpsc::channel(64);
    for ev in events(3) {
        tx.send(Ok(ev)).await.unwrap();
    }
    tx.send(Err(crate::source::SourceError::Unsupported(
        "truncated input".into(),
    )))
    .await
    .unwrap();
    drop(tx);
    let engine = Engine::new(
        fast(),
        peer,
        packager(),
        Box::new(FragmentBuffer::<Bytes>::new(10_000_000)),
    );
    let err = tokio::time::timeout(Duration::from_secs(10), engine.run(rx))
        .await
        .unwrap()
        .unwrap_err();
    let EngineError::InputStopped { error, persisted } = &err else {
        panic!("{err}");
    };
    assert!(matches!(**error, EngineError::Source(_)), "{err}");
    assert_eq!(*persisted, 3);
    assert!(
        err.to_string().contains("the 3 fragments accepted"),
        "{err}"
    );
    assert_eq!(record.lock().unwrap().persisted.len(), 3);
}

#[tokio::test]
async fn silent_connection_is_treated_as_stalled_and_replaced() {
    let (header, frags) = reference(4);
    let config = EngineConfig {
        ack_timeout: Duration::from_millis(200),
        ..fast()
    };
    let (result, record) = stream(vec![Plan::Silent], config, 10_000_000, 4).await;
    let stats = result.unwrap();
    assert_eq!(stats.fragments_persisted, 4);
    assert_eq!(stats.reconnects, 1, "{stats:?}");
    assert_bodies_are_reference_bytes(&record, &header, &frags);
    assert_eq!(
        record.persisted,
        frags
            .iter()
            .map(|f| f.timecode_ms as u64)
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn changed_tracks_start_a_new_segment_that_is_resent_with_its_own_header() {
    let mut second = video_track_info();
    second.codec_private = vec![1, 0x4d, 0, 0x28, 0xff];
    second.video = Some((640, 480));
    let mut evs = events(2);
    evs.push(SourceEvent::Tracks(vec![second]));
    for i in 0..20 {
        evs.push(SourceEvent::Frame(MediaFrame {
            track: 1,
            timecode_ms: T0 + 5_000 + i * 100,
            keyframe: i % 10 == 0,
            data: BytesMut::from(&b"second session frame"[..]),
        }));
    }
    // Offline: the bytes the two sessions produce.
    let mut p = packager();
    let mut headers = Vec::new();
    let mut frags = Vec::new();
    for ev in evs.clone() {
        frags.extend(p.push(ev).unwrap());
        if let Some((n, h)) = p.header()
            && headers.last().is_none_or(|(m, _)| *m != n)
        {
            headers.push((n, h.clone()));
        }
    }
    frags.extend(p.finish().unwrap());
    assert_eq!(headers.len(), 2);
    assert_eq!(frags.len(), 4);
    // Cut the first connection inside the second session's first fragment.
    let cut =
        headers[0].1.len() + frags[0].bytes.len() + frags[1].bytes.len() + headers[1].1.len() + 100;
    let record = Arc::new(Mutex::new(Record::default()));
    let peer = Peer {
        plans: vec![Plan::DropAfter(cut)].into(),
        record: record.clone(),
    };
    let (tx, rx) = mpsc::channel(64);
    for ev in evs {
        tx.send(Ok(ev)).await.unwrap();
    }
    drop(tx);
    let engine = Engine::new(
        fast(),
        peer,
        packager(),
        Box::new(FragmentBuffer::<Bytes>::new(10_000_000)),
    );
    let stats = tokio::time::timeout(Duration::from_secs(10), engine.run(rx))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stats.fragments_persisted, 4, "{stats:?}");
    let record = record.lock().unwrap();
    // The first body: session 0's header and fragments, then session 1's header.
    let mut first = headers[0].1.to_vec();
    first.extend_from_slice(&frags[0].bytes);
    first.extend_from_slice(&frags[1].bytes);
    first.extend_from_slice(&headers[1].1);
    assert!(record.bodies[0].starts_with(&first));
    // A resend writes each session's header before that session's first
    // fragment on the connection (whether or not fragment 0's PERSISTED
    // arrived before the cut).
    let from = |k: usize| {
        let mut body = Vec::new();
        let mut current = None;
        for f in &frags[k..] {
            if current != Some(f.session) {
                let h = &headers.iter().find(|(n, _)| *n == f.session).unwrap().1;
                body.extend_from_slice(h);
                current = Some(f.session);
            }
            body.extend_from_slice(&f.bytes);
        }
        body
    };
    let last = record.bodies.last().unwrap();
    assert!(
        (0..frags.len()).any(|k| *last == from(k)),
        "the resend is not whole fragments with their sessions' headers"
    );
    assert!(record.bodies.len() >= 2);
}

fn video_track_info() -> TrackInfo {
    TrackInfo {
        number: 1,
        codec_id: CODEC_ID_H264.into(),
        codec_private: vec![1, 0x64, 0, 0x1f, 0xff],
        video: Some((320, 240)),
        audio: None,
    }
}
