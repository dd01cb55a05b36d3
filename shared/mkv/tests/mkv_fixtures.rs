//! The reader against real KVS recordings (GetMedia output from AWS's parser library's
//! test resources, copied into `tests/fixtures/kvs/`): exact segment/cluster/block counts,
//! tag names, element order, and what KVS does to cluster timecodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kvs_e2ee_mkv::{Demuxer, Event};

/// The in-repo copy of the fixtures (`<repo>/tests/fixtures/kvs/`).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/kvs/");

fn read_fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {path}: {e}"))
}

fn events_of(data: &[u8]) -> Vec<Event> {
    let mut demuxer = Demuxer::new();
    demuxer.push(data);
    let mut events = Vec::new();
    while let Some(e) = demuxer.next_event().expect("fixture parses") {
        events.push(e);
    }
    demuxer
        .finish()
        .expect("fixture ends at an element boundary");
    while let Some(e) = demuxer.next_event().expect("closing events") {
        events.push(e);
    }
    events
}

#[derive(Debug, Default, PartialEq)]
struct Counts {
    segments: usize,
    clusters: usize,
    blocks: usize,
    segment_ends: usize,
    cluster_ends: usize,
    tags: Vec<String>,
}

fn counts(events: &[Event]) -> Counts {
    let mut c = Counts::default();
    for e in events {
        match e {
            Event::SegmentStart { .. } => c.segments += 1,
            Event::ClusterStart { .. } => c.clusters += 1,
            Event::Frame(_) => c.blocks += 1,
            Event::SegmentEnd => c.segment_ends += 1,
            Event::ClusterEnd => c.cluster_ends += 1,
            Event::Tags(t) => c.tags.extend(t.tags.iter().map(|t| t.name.clone())),
            _ => {}
        }
    }
    c
}

fn check_counts(name: &str, segments: usize, clusters: usize, blocks: usize) -> Counts {
    let c = counts(&events_of(&read_fixture(name)));
    assert_eq!(
        (c.segments, c.clusters, c.blocks),
        (segments, clusters, blocks),
        "{name}"
    );
    assert_eq!(c.segment_ends, segments, "{name}: every Segment ends");
    assert_eq!(c.cluster_ends, clusters, "{name}: every Cluster ends");
    c
}

fn count_named(c: &Counts, name: &str) -> usize {
    c.tags.iter().filter(|t| *t == name).count()
}

const KVS_TAGS: [&str; 5] = [
    "AWS_KINESISVIDEO_FRAGMENT_NUMBER",
    "AWS_KINESISVIDEO_SERVER_TIMESTAMP",
    "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP",
    "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW",
    "AWS_KINESISVIDEO_CONTINUATION_TOKEN",
];

#[test]
fn output_get_media_has_5_segments_5_clusters_300_blocks() {
    let c = check_counts("output_get_media.mkv", 5, 5, 300);
    for name in KVS_TAGS {
        assert_eq!(count_named(&c, name), 5, "{name}");
    }
    // The source MP4's metadata, carried through by the producer, once per fragment.
    assert_eq!(count_named(&c, "ENCODER"), 10);
    assert_eq!(c.tags.len(), 5 * 5 + 5 * 7);
}

#[test]
fn renderer_example_has_8_segments_8_clusters_444_blocks() {
    let c = check_counts("kinesis_video_renderer_example_output.mkv", 8, 8, 444);
    for name in KVS_TAGS {
        assert_eq!(count_named(&c, name), 8, "{name}");
    }
    assert_eq!(c.tags.len(), 8 * 5);
}

#[test]
fn mixed_tags_has_10_segments_10_clusters_100_blocks() {
    let c = check_counts("test_mixed_tags.mkv", 10, 10, 100);
    for name in KVS_TAGS {
        assert_eq!(count_named(&c, name), 10, "{name}");
    }
    for i in 0..5 {
        // Sent before each of 10 clusters; the ones before cluster 1 come back at the start
        // of fragment 1, the others after the cluster of the previous fragment (11 in all).
        assert_eq!(count_named(&c, &format!("testTag_{i}")), 11, "testTag_{i}");
    }
}

#[test]
fn tags_empty_cluster_has_1_segment_and_no_cluster() {
    let c = check_counts("test_tags_empty_cluster.mkv", 1, 0, 0);
    assert_eq!(
        c.tags,
        (0..5).map(|i| format!("testTag_{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn empty_mkv_with_tags_has_1_segment_and_no_cluster() {
    let c = check_counts("empty-mkv-with-tags.mkv", 1, 0, 0);
    assert_eq!(c.tags, KVS_TAGS[..3].to_vec());
}

/// A readable name for each event, tags spelled out by name.
fn describe(e: &Event) -> String {
    match e {
        Event::EbmlHeader { doc_type } => format!("EBML({doc_type})"),
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
    }
}

/// Splits the event list into one list per Segment (from its EBML header to SegmentEnd).
fn per_segment(events: &[Event]) -> Vec<Vec<String>> {
    let mut segments: Vec<Vec<String>> = Vec::new();
    for e in events {
        if matches!(e, Event::EbmlHeader { .. }) {
            segments.push(Vec::new());
        }
        let mut d = describe(e);
        if d == "Frame"
            && segments
                .last()
                .and_then(|s| s.last())
                .is_some_and(|l| l.starts_with("Frame"))
        {
            let last = segments.last_mut().and_then(|s| s.pop()).unwrap();
            let n: usize = last
                .trim_start_matches("Frame")
                .trim_start_matches('×')
                .parse()
                .unwrap_or(1);
            d = format!("Frame×{}", n + 1);
        }
        segments
            .last_mut()
            .expect("events start with an EBML header")
            .push(d);
    }
    segments
}

#[test]
fn mixed_tags_element_order_puts_producer_tags_after_the_previous_cluster() {
    let segments = per_segment(&events_of(&read_fixture("test_mixed_tags.mkv")));
    assert_eq!(segments.len(), 10);
    let producer_tags: Vec<String> = (0..5).map(|i| format!("Tags(testTag_{i})")).collect();
    let kvs_head = "Tags(AWS_KINESISVIDEO_FRAGMENT_NUMBER,AWS_KINESISVIDEO_SERVER_TIMESTAMP,AWS_KINESISVIDEO_PRODUCER_TIMESTAMP)";
    let kvs_tail = "Tags(AWS_KINESISVIDEO_MILLIS_BEHIND_NOW,AWS_KINESISVIDEO_CONTINUATION_TOKEN)";
    let middle = |first: bool| {
        let mut s = vec!["EBML(matroska)".to_owned(), "Segment".to_owned()];
        if first {
            // Tags sent before the session's first cluster come back before Info.
            s.extend(producer_tags.iter().cloned());
        }
        s.extend(
            [
                "Info",
                "Tracks",
                kvs_head,
                "Cluster",
                "Frame×10",
                "/Cluster",
            ]
            .map(String::from),
        );
        // Tags sent before cluster N+1 come back in fragment N, after its cluster.
        s.extend(producer_tags.iter().cloned());
        s.extend([kvs_tail, "/Segment"].map(String::from));
        s
    };
    assert_eq!(segments[0], middle(true));
    for (i, s) in segments.iter().enumerate().skip(1) {
        assert_eq!(*s, middle(false), "segment {i}");
    }
}

/// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP` ("seconds.millis") in milliseconds, exactly.
fn producer_ms(value: &str) -> u64 {
    let (secs, millis) = value.split_once('.').expect("seconds.millis");
    assert_eq!(millis.len(), 3, "{value}");
    secs.parse::<u64>().unwrap() * 1000 + millis.parse::<u64>().unwrap()
}

/// (cluster timecode, producer timestamp in ms) for every fragment of a recording.
fn cluster_vs_producer(name: &str) -> Vec<(u64, u64)> {
    let mut pairs = Vec::new();
    let mut producer = None;
    for e in events_of(&read_fixture(name)) {
        match e {
            Event::Tags(t) => {
                if let Some(v) = t.get_str("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP") {
                    producer = Some(producer_ms(v));
                }
            }
            Event::ClusterStart { timecode, .. } => pairs.push((
                timecode,
                producer.take().expect("producer tag before cluster"),
            )),
            _ => {}
        }
    }
    pairs
}

/// Finding for the envelope (which binds absolute timecodes): what GetMedia returns is
/// consistent with KVS keeping the cluster Timecode the producer wrote, unchanged. When the producer wrote absolute timecodes
/// (test_mixed_tags, whose producer clock started at 0) the cluster Timecode equals
/// PRODUCER_TIMESTAMP × 1000. When it wrote timecodes relative to its stream start (PIC's
/// default, `x-amzn-fragment-timecode-type: RELATIVE`), the cluster Timecode is
/// PRODUCER_TIMESTAMP × 1000 minus a constant (the producer start timestamp), with the
/// first cluster at 0.
#[test]
fn cluster_timecodes_are_the_producers_own() {
    let mixed = cluster_vs_producer("test_mixed_tags.mkv");
    assert_eq!(mixed.len(), 10);
    for (tc, ms) in &mixed {
        assert_eq!(
            tc, ms,
            "test_mixed_tags.mkv: Timecode == PRODUCER_TIMESTAMP×1000"
        );
    }
    for (name, start) in [
        ("output_get_media.mkv", 1_511_852_108_513),
        (
            "kinesis_video_renderer_example_output.mkv",
            1_519_423_067_997,
        ),
    ] {
        let pairs = cluster_vs_producer(name);
        assert_eq!(
            pairs[0].0, 0,
            "{name}: first cluster at 0 (relative timecodes)"
        );
        for (tc, ms) in &pairs {
            assert_ne!(tc, ms, "{name}");
            assert_eq!(
                ms - tc,
                start,
                "{name}: PRODUCER_TIMESTAMP×1000 − Timecode is the producer start time"
            );
        }
        println!(
            "{name}: cluster Timecode = PRODUCER_TIMESTAMP×1000 − {start} for all {} fragments",
            pairs.len()
        );
    }
}

/// The same recordings through `webm-iterable`, an independent reader.
#[derive(Debug, Default, PartialEq)]
struct Independent {
    segments: usize,
    clusters: usize,
    blocks: usize,
    tags: Vec<String>,
}

fn webm_iterable_counts(data: &[u8]) -> Independent {
    use webm_iterable::WebmIterator;
    use webm_iterable::matroska_spec::{Master, MatroskaSpec};
    let mut c = Independent::default();
    for tag in WebmIterator::new(data, &[]) {
        match tag.expect("webm-iterable reads the fixture") {
            MatroskaSpec::Segment(Master::Start) => c.segments += 1,
            MatroskaSpec::Cluster(Master::Start) => c.clusters += 1,
            MatroskaSpec::SimpleBlock(_) | MatroskaSpec::Block(_) => c.blocks += 1,
            MatroskaSpec::TagName(name) => c.tags.push(name),
            _ => {}
        }
    }
    c
}

#[test]
fn counts_agree_with_webm_iterable_on_every_fixture() {
    for name in [
        "output_get_media.mkv",
        "kinesis_video_renderer_example_output.mkv",
        "test_mixed_tags.mkv",
        "test_tags_empty_cluster.mkv",
        "empty-mkv-with-tags.mkv",
    ] {
        let data = read_fixture(name);
        let ours = counts(&events_of(&data));
        let theirs = webm_iterable_counts(&data);
        assert_eq!(
            Independent {
                segments: ours.segments,
                clusters: ours.clusters,
                blocks: ours.blocks,
                tags: ours.tags
            },
            theirs,
            "{name}"
        );
    }
}
