//! What kvs-local stores and serves, judged by independent tools: real H.264 frames (from
//! the KVS recording `output_get_media.mkv`) sent through PutMedia come back from a stored
//! fragment file and from GetMedia decodable by `ffprobe` and accepted by `mkvinfo`. When
//! a tool is missing the test fails if `CI` is set and is skipped with a note otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::media::{create_stream, put_media, start_media, stream_dir};
use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::config::ClientConfig;
use kvs_e2ee_aws::getmedia::{StartSelector, get_media};
use kvs_e2ee_mkv::{Demuxer, Event, Muxer, MuxerConfig, TrackEntry};
use kvs_local::media::store::FRAGMENTS_DIR;

/// The recording's 5 fragments as a producer would send them: one buffer per fragment.
fn producer_stream() -> Vec<Bytes> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/kvs/output_get_media.mkv"
    );
    let mut demuxer = Demuxer::new();
    demuxer.push(&std::fs::read(path).unwrap());
    demuxer.finish().unwrap();
    let mut muxer = Muxer::new(MuxerConfig::default());
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    let mut header = false;
    while let Some(event) = demuxer.next_event().unwrap() {
        match event {
            Event::Tracks(tracks) if !header => {
                let src = &tracks.entries[0];
                let video = src.video.unwrap();
                let track = TrackEntry::h264(1, src.uid.max(1))
                    .with_codec_private(src.codec_private.clone().unwrap())
                    .with_video(video.pixel_width, video.pixel_height);
                muxer.write_header(&mut buf, &[track]).unwrap();
                header = true;
            }
            Event::ClusterStart { timecode, .. } => {
                if !buf.is_empty() && muxer.cluster_timecode().is_some() {
                    out.push(buf.split().freeze());
                }
                muxer.start_cluster(&mut buf, timecode).unwrap();
            }
            Event::Frame(f) => muxer
                .write_frame(&mut buf, 1, f.timecode, f.keyframe, &f.data)
                .unwrap(),
            _ => {}
        }
    }
    out.push(buf.freeze());
    out
}

/// `codec_name,nb_read_frames` of the first video stream.
fn ffprobe(path: &std::path::Path) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe failed on {}", path.display());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn mkvinfo_accepts(path: &std::path::Path) {
    let out = Command::new("mkvinfo").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "mkvinfo rejects {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn stored_fragments_and_get_media_output_play_in_ffprobe_and_mkvinfo() {
    let ffprobe_ok = kvs_e2ee_test_support::have_tool_with("ffprobe", "-version");
    let mkvinfo_ok = kvs_e2ee_test_support::have_tool_with("mkvinfo", "--version");
    let dir = tempfile::tempdir().unwrap();
    let server = start_media(dir.path()).await;
    create_stream(&server, "real").await;
    let chunks = producer_stream();
    assert_eq!(chunks.len(), 5);
    let acks = put_media(&server, "real", &chunks).await;
    assert_eq!(acks.len(), 15, "{acks:?}");
    let first = acks[0].fragment_number.clone().unwrap();
    let file = stream_dir(&server, "real")
        .join(FRAGMENTS_DIR)
        .join(format!("{first}.mkv"));

    let cfg = ClientConfig::load(server.admin_client_options())
        .await
        .unwrap();
    let client = cfg.media_client(server.data_endpoint_url());
    let mut media = get_media(
        &client,
        &StreamId::Name("real".into()),
        &StartSelector::Earliest,
    )
    .await
    .unwrap();
    let mut output = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(c) = media.next_chunk().await {
            output.extend_from_slice(&c.unwrap());
        }
    })
    .await
    .unwrap();
    let served = dir.path().join("get_media.mkv");
    std::fs::write(&served, &output).unwrap();

    if ffprobe_ok {
        assert_eq!(ffprobe(&file), "h264,60", "one stored fragment");
        assert_eq!(ffprobe(&served), "h264,300", "the whole GetMedia output");
    }
    if mkvinfo_ok {
        mkvinfo_accepts(&file);
        mkvinfo_accepts(&served);
    }
    server.shutdown().await;
}
