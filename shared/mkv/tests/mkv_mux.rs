//! The writer: PIC's exact bytes where we match it, call-order and KVS-limit checks, and
//! round trips through the reader.
#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use kvs_e2ee_mkv::{Demuxer, ElementId, Event, MkvError, Muxer, MuxerConfig, TrackEntry};

fn demux_all(data: &[u8]) -> Vec<Event> {
    let mut d = Demuxer::new();
    d.push(data);
    let mut events = Vec::new();
    while let Some(e) = d.next_event().unwrap() {
        events.push(e);
    }
    d.finish().unwrap();
    while let Some(e) = d.next_event().unwrap() {
        events.push(e);
    }
    events
}

#[test]
fn ebml_header_and_segment_match_pic_bytes() {
    let mut out = BytesMut::new();
    let mut m = Muxer::new(MuxerConfig::default());
    m.write_header(&mut out, &[TrackEntry::h264(1, 7)]).unwrap();
    // PIC `gMkvHeaderBits` followed by `gMkvSegmentHeaderBits`.
    let expected = "1a45dfa3a3428681014 2f7810142f2810442f381084282886d6174726f736b61\
                    4287810242858102185380 67ff"
        .replace(' ', "");
    assert_eq!(hex::encode(&out[..expected.len() / 2]), expected);
    // Info follows with a 2-byte size, as PIC reserves.
    assert_eq!(
        &out[expected.len() / 2..][..5],
        &[0x15, 0x49, 0xA9, 0x66, 0x40]
    );
}

#[test]
fn simple_block_header_matches_pic_layout() {
    let mut out = BytesMut::new();
    let mut m = Muxer::new(MuxerConfig::default());
    m.write_header(&mut out, &[TrackEntry::h264(1, 7)]).unwrap();
    m.start_cluster(&mut out, 1000).unwrap();
    out.clear();
    m.write_frame(&mut out, 1, 1033, true, b"abc").unwrap();
    // A3, 8-byte size 7, track 0x81, relative timecode 33, key flag, payload.
    assert_eq!(
        hex::encode(&out),
        "a30100000000000007810021806162 63".replace(' ', "")
    );
}

#[test]
fn header_tags_cluster_frames_round_trip_through_demuxer() {
    let mut out = BytesMut::new();
    let mut m = Muxer::new(MuxerConfig::default().with_title("t"));
    let tracks = [
        TrackEntry::h264(1, 11)
            .with_codec_private(vec![1, 2, 3])
            .with_video(640, 360)
            .with_name("v"),
        TrackEntry::aac(2, 22, 48000.0, 2).with_codec_private(vec![0x11, 0x90]),
    ];
    m.write_header(&mut out, &tracks).unwrap();
    m.write_tags(&mut out, &[("hdr", "v0"), ("more", "")])
        .unwrap();
    m.start_cluster(&mut out, 1_700_000_000_000).unwrap();
    m.write_frame(&mut out, 1, 1_700_000_000_000, true, b"key")
        .unwrap();
    m.write_frame(&mut out, 2, 1_700_000_000_010, false, b"aud")
        .unwrap();
    m.write_tags(&mut out, &[("next", "v1")]).unwrap();
    assert!(
        m.write_frame(&mut out, 1, 1_700_000_000_040, false, b"x")
            .is_err(),
        "tags close the cluster"
    );
    m.start_cluster(&mut out, 1_700_000_002_000).unwrap();
    m.write_frame(&mut out, 1, 1_700_000_001_999, false, b"late")
        .unwrap();

    let events = demux_all(&out);
    let mut frames = Vec::new();
    let mut tags = Vec::new();
    let mut clusters = Vec::new();
    for e in &events {
        match e {
            Event::Tracks(t) => assert_eq!(t.entries, tracks),
            Event::Info(i) => {
                assert_eq!(i.timecode_scale, 1_000_000);
                assert_eq!(i.title.as_deref(), Some("t"));
            }
            Event::Tags(t) => tags.extend(
                t.tags
                    .iter()
                    .map(|t| (t.name.clone(), t.as_str().unwrap().to_owned())),
            ),
            Event::ClusterStart { timecode, .. } => clusters.push(*timecode),
            Event::Frame(f) => frames.push((f.track, f.timecode, f.keyframe, f.data.to_vec())),
            _ => {}
        }
    }
    assert_eq!(clusters, [1_700_000_000_000, 1_700_000_002_000]);
    assert_eq!(
        tags,
        [("hdr", "v0"), ("more", ""), ("next", "v1")].map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(
        frames,
        [
            (1, 1_700_000_000_000, true, b"key".to_vec()),
            (2, 1_700_000_000_010, false, b"aud".to_vec()),
            (1, 1_700_000_001_999, false, b"late".to_vec()),
        ]
    );
}

#[test]
fn write_frame_rejects_relative_timecode_outside_i16() {
    let mut out = BytesMut::new();
    let mut m = Muxer::new(MuxerConfig::default());
    m.write_header(&mut out, &[TrackEntry::h264(1, 7)]).unwrap();
    m.start_cluster(&mut out, 100_000).unwrap();
    let err = m
        .write_frame(&mut out, 1, 100_000 + 32_768, false, b"x")
        .unwrap_err();
    assert!(
        matches!(
            err,
            MkvError::RelativeTimecodeOutOfRange {
                relative: 32_768,
                ..
            }
        ),
        "{err}"
    );
    m.write_frame(&mut out, 1, 100_000 + 32_767, false, b"x")
        .unwrap();
    m.write_frame(&mut out, 1, 100_000 - 32_768, false, b"x")
        .unwrap();
    assert!(
        m.write_frame(&mut out, 9, 100_000, false, b"x").is_err(),
        "unknown track"
    );
}

#[test]
fn muxer_enforces_call_order_and_kvs_tag_limits() {
    let mut out = BytesMut::new();
    let mut m = Muxer::new(MuxerConfig::default());
    assert!(m.start_cluster(&mut out, 0).is_err());
    assert!(m.write_tags(&mut out, &[("a", "b")]).is_err());
    assert!(m.write_header(&mut out, &[]).is_err());
    assert!(
        m.write_header(&mut out, &[TrackEntry::h264(1, 0)]).is_err(),
        "zero UID"
    );
    assert!(
        m.write_header(&mut out, &[TrackEntry::h264(1, 1), TrackEntry::h264(1, 2)])
            .is_err()
    );
    m.write_header(&mut out, &[TrackEntry::h264(1, 1)]).unwrap();
    assert!(m.write_tags(&mut out, &[("", "b")]).is_err());
    assert!(
        m.write_tags(&mut out, &[("a".repeat(129), "b".to_owned())])
            .is_err()
    );
    assert!(m.write_tags(&mut out, &[("a", "b".repeat(257))]).is_err());
    m.write_tags(&mut out, &[("a".repeat(128), "b".repeat(256))])
        .unwrap();
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/kvs/");

/// `test_mixed_tags.mkv` came from a PIC-based producer, and GetMedia passed its Tags,
/// Tracks and Cluster bytes through; its events, in order.
fn mixed_tags_events() -> Vec<Event> {
    let data = std::fs::read(format!("{FIXTURES}test_mixed_tags.mkv")).unwrap();
    demux_all(&data)
}

#[test]
fn muxer_tags_match_kvs_recording_byte_for_byte() {
    let events = mixed_tags_events();
    let Some(Event::Tags(first)) = events.iter().find(|e| matches!(e, Event::Tags(_))) else {
        panic!("fixture starts with producer tags")
    };
    let mut out = BytesMut::new();
    let mut m = Muxer::new(MuxerConfig::default());
    m.write_header(&mut out, &[TrackEntry::h264(1, 1)]).unwrap();
    out.clear();
    m.write_tags(&mut out, &[("testTag_0", "testTag_0_Value")])
        .unwrap();
    assert_eq!(hex::encode(&out), hex::encode(&first.raw));
}

#[test]
fn muxer_cluster_and_block_headers_match_kvs_recording() {
    let data = std::fs::read(format!("{FIXTURES}test_mixed_tags.mkv")).unwrap();
    let events = demux_all(&data);
    let Some(Event::ClusterStart { offset, .. }) = events
        .iter()
        .find(|e| matches!(e, Event::ClusterStart { .. }))
    else {
        panic!("fixture has clusters")
    };
    let Some(Event::Frame(frame)) = events.iter().find(|e| matches!(e, Event::Frame(_))) else {
        panic!("fixture has frames")
    };
    let mut out = BytesMut::new();
    let mut m = Muxer::new(MuxerConfig::default());
    m.write_header(&mut out, &[TrackEntry::h264(1, 1)]).unwrap();
    out.clear();
    m.start_cluster(&mut out, 0).unwrap();
    m.write_simple_block_header(&mut out, 1, 0, frame.keyframe, frame.data.len())
        .unwrap();
    let at = *offset as usize;
    assert_eq!(hex::encode(&out), hex::encode(&data[at..at + out.len()]));
}

#[test]
fn muxer_track_entry_layout_matches_kvs_recording() {
    use kvs_e2ee_mkv::ebml::{Children, read_header};
    let events = mixed_tags_events();
    let Some(Event::Tracks(tracks)) = events.iter().find(|e| matches!(e, Event::Tracks(_))) else {
        panic!("fixture has Tracks")
    };
    let mut out = BytesMut::new();
    let mut m = Muxer::new(MuxerConfig::default());
    m.write_header(&mut out, &tracks.entries).unwrap();
    let ours = demux_all(&out)
        .into_iter()
        .find_map(|e| match e {
            Event::Tracks(t) => Some(t),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        ours.entries, tracks.entries,
        "reads back to the same entries"
    );
    let ours = ours.raw;
    // Same children in the same order, with PIC's 4-byte sizes on Tracks, TrackEntry, Video.
    // (This older PIC padded Name and CodecID with NULs to 32 bytes; current PIC does not.)
    let layout = |raw: &bytes::Bytes| {
        let tracks = read_header(raw, 0).unwrap().unwrap();
        let entry = Children::new(ElementId::TRACKS, raw.slice(tracks.len..), 0)
            .next()
            .unwrap()
            .unwrap();
        let entry_header = read_header(&raw[tracks.len..], 0).unwrap().unwrap();
        let children: Vec<(ElementId, usize)> =
            Children::new(ElementId::TRACK_ENTRY, entry.data, 0)
                .map(|c| {
                    let c = c.unwrap();
                    (c.id, c.data.len())
                })
                .collect();
        (
            tracks.len,
            entry_header.len,
            children.iter().map(|c| c.0).collect::<Vec<_>>(),
        )
    };
    assert_eq!(layout(&ours), layout(&tracks.raw));
    assert_eq!(layout(&ours).0, 8, "Tracks: 4-byte ID + 4-byte size");
}
