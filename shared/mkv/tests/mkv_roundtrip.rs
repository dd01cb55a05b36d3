//! Property tests: whatever the muxer writes, the demuxer reads back exactly (tracks, tags,
//! clusters, frames), and the same bytes give the same events however they are chunked. The
//! fuzz target's entry point runs here too, on stable.
#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use kvs_e2ee_mkv::fuzzing::{demux_arbitrary, demux_chunks, demux_whole};
use kvs_e2ee_mkv::{Event, Muxer, MuxerConfig, TrackEntry};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Tags(Vec<(String, String)>),
    Cluster(u64),
    Frame {
        track: usize,
        relative: i16,
        keyframe: bool,
        payload: Vec<u8>,
    },
    NewSegment,
}

fn track_strategy() -> impl Strategy<Value = TrackEntry> {
    (
        0..4u8,
        1..u64::MAX,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..64)),
        proptest::option::of((1..4000u64, 1..3000u64)),
        proptest::option::of("[a-z ]{1,12}"),
    )
        .prop_map(|(kind, uid, cpd, dims, name)| {
            let mut t = match kind {
                0 => TrackEntry::h264(1, uid),
                1 => TrackEntry::h265(1, uid),
                2 => TrackEntry::aac(1, uid, 48000.0, 2),
                _ => TrackEntry::pcm(1, uid, 8000.0, 1, 16),
            };
            if let Some(cpd) = cpd {
                t = t.with_codec_private(cpd);
            }
            if let (Some((w, h)), true) = (dims, kind < 2) {
                t = t.with_video(w, h);
            }
            if let Some(name) = name {
                t = t.with_name(name);
            }
            t
        })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => proptest::collection::vec(("[A-Za-z0-9_]{1,20}", "[ -~]{0,40}"), 1..4).prop_map(Op::Tags),
        2 => (0..100_000u64).prop_map(Op::Cluster),
        8 => (0..3usize, any::<i16>(), any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(track, relative, keyframe, payload)| Op::Frame { track, relative, keyframe, payload }),
        1 => Just(Op::NewSegment),
    ]
}

/// What the demuxer must report, built alongside the muxer's output.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    segments: usize,
    clusters: Vec<u64>,
    tags: Vec<(String, String)>,
    frames: Vec<(u64, u64, bool, Vec<u8>)>,
}

fn mux(tracks: &[TrackEntry], start: u64, ops: &[Op]) -> (Vec<u8>, Expected) {
    let mut out = BytesMut::new();
    let mut m = Muxer::new(MuxerConfig::default());
    let mut exp = Expected::default();
    m.write_header(&mut out, tracks).unwrap();
    exp.segments = 1;
    // Start high enough that negative relative timecodes stay non-negative.
    let mut cluster_tc = start + 40_000;
    let mut open = false;
    for op in ops {
        match op {
            Op::Tags(tags) => {
                m.write_tags(&mut out, tags).unwrap();
                exp.tags.extend(tags.iter().cloned());
                open = false;
            }
            Op::Cluster(delta) => {
                cluster_tc += delta;
                m.start_cluster(&mut out, cluster_tc).unwrap();
                exp.clusters.push(cluster_tc);
                open = true;
            }
            Op::Frame {
                track,
                relative,
                keyframe,
                payload,
            } => {
                if !open {
                    m.start_cluster(&mut out, cluster_tc).unwrap();
                    exp.clusters.push(cluster_tc);
                    open = true;
                }
                let t = &tracks[track % tracks.len()];
                let tc = cluster_tc.checked_add_signed(i64::from(*relative)).unwrap();
                m.write_frame(&mut out, t.number, tc, *keyframe, payload)
                    .unwrap();
                exp.frames.push((t.number, tc, *keyframe, payload.clone()));
            }
            Op::NewSegment => {
                m.reset();
                m.write_header(&mut out, tracks).unwrap();
                exp.segments += 1;
                open = false;
            }
        }
    }
    (out.to_vec(), exp)
}

fn observed(events: &[Event], tracks: &[TrackEntry]) -> Expected {
    let mut got = Expected::default();
    for e in events {
        match e {
            Event::SegmentStart { .. } => got.segments += 1,
            Event::Tracks(t) => assert_eq!(t.entries, tracks),
            Event::Info(i) => assert_eq!(i.timecode_scale, 1_000_000),
            Event::Tags(t) => got.tags.extend(
                t.tags
                    .iter()
                    .map(|t| (t.name.clone(), t.as_str().unwrap().to_owned())),
            ),
            Event::ClusterStart { timecode, .. } => got.clusters.push(*timecode),
            Event::Frame(f) => got
                .frames
                .push((f.track, f.timecode, f.keyframe, f.data.to_vec())),
            _ => {}
        }
    }
    got
}

fn numbered(mut tracks: Vec<TrackEntry>) -> Vec<TrackEntry> {
    for (i, t) in tracks.iter_mut().enumerate() {
        t.number = i as u64 + 1;
    }
    tracks
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn muxed_streams_demux_to_what_was_written(
        tracks in proptest::collection::vec(track_strategy(), 1..4),
        start in 0..(1u64 << 42),
        ops in proptest::collection::vec(op_strategy(), 0..40),
        chunks in proptest::collection::vec(1..200usize, 0..64),
    ) {
        let tracks = numbered(tracks);
        let (bytes, expected) = mux(&tracks, start, &ops);
        let whole = demux_whole(&bytes);
        prop_assert_eq!(&whole.error, &None);
        prop_assert_eq!(observed(&whole.events, &tracks), expected);
        prop_assert_eq!(&demux_chunks(&bytes, chunks), &whole);
        prop_assert_eq!(&demux_chunks(&bytes, std::iter::repeat(1)), &whole);
    }

    #[test]
    fn fuzz_entry_point_holds_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        demux_arbitrary(&data);
    }

    #[test]
    fn fuzz_entry_point_holds_on_mutated_valid_streams(
        ops in proptest::collection::vec(op_strategy(), 0..12),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let tracks = numbered(vec![TrackEntry::h264(1, 9).with_codec_private(vec![1, 2, 3]).with_video(640, 360)]);
        let (mut bytes, _) = mux(&tracks, 0, &ops);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        demux_arbitrary(&bytes);
    }
}
