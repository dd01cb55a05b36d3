//! Our muxer's output judged by independent tools: the H.264 frames of a real KVS recording
//! re-muxed with [`Muxer`] must be accepted by `ffprobe` (codec h264, all 300 frames decoded
//! as such) and `mkvinfo`. When a tool is missing the test fails if `CI` is set and is
//! skipped with a note otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use bytes::BytesMut;
use kvs_e2ee_mkv::{Demuxer, Event, Muxer, MuxerConfig, TrackEntry};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/kvs/");

/// Re-muxes every frame of `output_get_media.mkv` (5 GetMedia fragments) into one stream
/// with our muxer, keeping the track's CodecPrivate, pixel size, timecodes and key flags.
fn remux_fixture() -> (Vec<u8>, usize) {
    let data = std::fs::read(format!("{FIXTURES}output_get_media.mkv")).unwrap();
    let mut demuxer = Demuxer::new();
    demuxer.push(&data);
    demuxer.finish().unwrap();
    let mut muxer = Muxer::new(MuxerConfig::default());
    let mut out = BytesMut::new();
    let mut frames = 0;
    while let Some(event) = demuxer.next_event().unwrap() {
        match event {
            Event::Tracks(tracks) if muxer.cluster_timecode().is_none() && frames == 0 => {
                let src = &tracks.entries[0];
                let video = src.video.expect("fixture has pixel sizes");
                let track = TrackEntry::h264(1, src.uid.max(1))
                    .with_codec_private(src.codec_private.clone().expect("fixture has avcC"))
                    .with_video(video.pixel_width, video.pixel_height);
                muxer.write_header(&mut out, &[track]).unwrap();
            }
            Event::ClusterStart { timecode, .. } => {
                muxer.start_cluster(&mut out, timecode).unwrap()
            }
            Event::Frame(f) => {
                muxer
                    .write_frame(&mut out, 1, f.timecode, f.keyframe, &f.data)
                    .unwrap();
                frames += 1;
            }
            _ => {}
        }
    }
    (out.to_vec(), frames)
}

fn write_temp(data: &[u8]) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".mkv").tempfile().unwrap();
    std::fs::write(file.path(), data).unwrap();
    file
}

#[test]
fn ffprobe_reads_remuxed_h264_as_300_frames() {
    if !kvs_e2ee_test_support::have_tool_with("ffprobe", "-version") {
        return;
    }
    let (data, frames) = remux_fixture();
    assert_eq!(frames, 300);
    let file = write_temp(&data);
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-of",
            "json",
        ])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = json["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1);
    let s = &streams[0];
    assert_eq!(s["codec_name"], "h264");
    assert_eq!(s["nb_read_frames"], "300");
    assert_eq!(
        (s["width"].as_u64(), s["height"].as_u64()),
        (Some(640), Some(360))
    );
    assert!(
        out.stderr.is_empty(),
        "ffprobe complained: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mkvinfo_accepts_remuxed_stream_and_sees_every_block() {
    if !kvs_e2ee_test_support::have_tool_with("mkvinfo", "--version") {
        return;
    }
    let (data, _) = remux_fixture();
    let file = write_temp(&data);
    let out = Command::new("mkvinfo")
        .arg("-v")
        .arg(file.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mkvinfo failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("Simple block").count(), 300, "{text}");
    assert!(text.contains("Codec ID: V_MPEG4/ISO/AVC"), "{text}");
    assert!(text.contains("Pixel width: 640"), "{text}");
}
