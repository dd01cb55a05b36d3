//! Data-plane test helpers: a kvs-local with short data-plane timings, MKV built with the
//! project's own muxer (the bytes the producer sends), and a PutMedia session through the
//! real client `kvs_e2ee_aws::putmedia::PutMediaConnection`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::ack::{AckEvent, AckEventType};
use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaRequest, TimecodeType};
use kvs_e2ee_mkv::{Demuxer, Event, Muxer, MuxerConfig, TrackEntry};
use kvs_local::media::{MediaConfig, MediaPlane};
use kvs_local::{Config, RunningServer};

/// Starts kvs-local on `dir` with short IDLE / GetMedia-end timings.
pub async fn start_media(dir: &Path) -> RunningServer {
    start_media_with(dir, Duration::from_millis(700)).await
}

/// [`start_media`] with GetMedia ending after `get_media_idle_end` without news.
pub async fn start_media_with(dir: &Path, get_media_idle_end: Duration) -> RunningServer {
    let mut config = Config::new(dir);
    config.data_plane = Some(Arc::new(MediaPlane::new(MediaConfig {
        idle_ack_interval: Duration::from_millis(300),
        get_media_idle_end,
        ..MediaConfig::default()
    })));
    super::start_with(config).await
}

/// Creates `name` with 24 h retention.
pub async fn create_stream(server: &RunningServer, name: &str) {
    super::admin(server)
        .create_stream()
        .stream_name(name)
        .data_retention_in_hours(24)
        .send()
        .await
        .unwrap();
}

/// The stream's folder.
pub fn stream_dir(server: &RunningServer, name: &str) -> PathBuf {
    server.state().streams.get(name).unwrap().dir()
}

/// One fragment to send: cluster timecode (ms), frame count, tags sent before its cluster.
#[derive(Clone, Debug)]
pub struct Frag {
    pub timecode: u64,
    pub frames: u64,
    pub key_first: bool,
    pub tags: Vec<(String, String)>,
}

impl Frag {
    pub fn new(timecode: u64, frames: u64) -> Self {
        Self {
            timecode,
            frames,
            key_first: true,
            tags: Vec::new(),
        }
    }

    pub fn with_tags(mut self, tags: &[(&str, &str)]) -> Self {
        self.tags = tags
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        self
    }
}

/// Frame payload: recognisable bytes naming the fragment and frame.
pub fn payload(timecode: u64, i: u64) -> Vec<u8> {
    format!("frame {timecode}/{i} ").repeat(8).into_bytes()
}

/// The MKV a producer sends for `frags`, one buffer per fragment (header in the first).
pub fn producer_mkv(frags: &[Frag]) -> Vec<Bytes> {
    let mut mux = Muxer::new(MuxerConfig::default());
    let mut out = Vec::new();
    for (i, f) in frags.iter().enumerate() {
        let mut b = BytesMut::new();
        if i == 0 {
            mux.write_header(&mut b, &[TrackEntry::h264(1, 1).with_video(64, 48)])
                .unwrap();
        }
        if !f.tags.is_empty() {
            mux.write_tags(&mut b, &f.tags).unwrap();
        }
        mux.start_cluster(&mut b, f.timecode).unwrap();
        for k in 0..f.frames {
            let key = k == 0 && f.key_first;
            mux.write_frame(&mut b, 1, f.timecode + k * 40, key, &payload(f.timecode, k))
                .unwrap();
        }
        out.push(b.freeze());
    }
    out
}

/// Sends `chunks` over one PutMedia connection and returns every ACK (IDLE excluded).
pub async fn put_media(server: &RunningServer, stream: &str, chunks: &[Bytes]) -> Vec<AckEvent> {
    put_media_paced(server, stream, chunks, Duration::ZERO).await
}

/// [`put_media`] waiting `pause` between chunks (so fragments get distinct server times).
pub async fn put_media_paced(
    server: &RunningServer,
    stream: &str,
    chunks: &[Bytes],
    pause: Duration,
) -> Vec<AckEvent> {
    let mut req = PutMediaRequest::new(
        server.data_endpoint_url(),
        StreamId::Name(stream.into()),
        SystemTime::now(),
        server.admin_credentials(),
        server.region(),
    );
    req.timecode_type = TimecodeType::Absolute;
    let (mut tx, mut acks) = PutMediaConnection::open(req).await.unwrap();
    for c in chunks {
        // The session may end early (ERROR ack): a closed body is then expected.
        if tx.send(c.clone()).await.is_err() {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    tx.finish();
    let mut events = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), acks.recv())
            .await
            .expect("ACK stream ends in time");
        match next {
            Some(Ok(ev)) if ev.event_type == AckEventType::Idle => {}
            Some(Ok(ev)) => events.push(ev),
            Some(Err(e)) => panic!("PutMedia failed: {e}"),
            None => break,
        }
    }
    events
}

/// Every event of a complete MKV byte string.
pub fn events_of(data: &[u8]) -> Vec<Event> {
    let mut d = Demuxer::new();
    d.push(data);
    let mut events = Vec::new();
    while let Some(e) = d.next_event().expect("valid MKV") {
        events.push(e);
    }
    d.finish().expect("ends at a boundary");
    while let Some(e) = d.next_event().expect("closing events") {
        events.push(e);
    }
    events
}

/// A readable name per event, runs of frames collapsed (`Frame×10`).
pub fn describe(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let d = match e {
            Event::EbmlHeader { .. } => "EBML".to_owned(),
            Event::SegmentStart { .. } => "Segment".into(),
            Event::Info(_) => "Info".into(),
            Event::Tracks(_) => "Tracks".into(),
            Event::Tags(t) => format!(
                "Tags({})",
                t.tags
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Event::ClusterStart { .. } => "Cluster".into(),
            Event::Frame(_) => "Frame".into(),
            Event::ClusterEnd => "/Cluster".into(),
            Event::SegmentEnd => "/Segment".into(),
            _ => "other".into(),
        };
        if d == "Frame"
            && let Some(last) = out.last_mut()
            && last.starts_with("Frame")
        {
            let n: usize = last.trim_start_matches("Frame×").parse().unwrap_or(1);
            *last = format!("Frame×{}", n + 1);
            continue;
        }
        out.push(d);
    }
    out
}
