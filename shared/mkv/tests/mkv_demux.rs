//! The incremental reader on hand-built streams: unknown-size Segments and Clusters, known
//! sizes, BlockGroups, skipping without buffering, and each kind of malformed input (error
//! with a byte offset, never a panic).
#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use kvs_e2ee_mkv::{Demuxer, ElementId, Event, Frame, Limits, MkvError};

use kvs_e2ee_mkv::ebml::{
    write_bytes, write_header, write_id, write_size_width, write_uint, write_unknown_size_header,
};

fn element(id: ElementId, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    write_bytes(&mut out, id, payload);
    out.to_vec()
}

fn ebml_header() -> Vec<u8> {
    element(ElementId::EBML, &element(ElementId::DOC_TYPE, b"matroska"))
}

fn simple_block(track: u8, relative: i16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0x80 | track];
    body.extend_from_slice(&relative.to_be_bytes());
    body.push(flags);
    body.extend_from_slice(payload);
    element(ElementId::SIMPLE_BLOCK, &body)
}

fn unknown(id: ElementId) -> Vec<u8> {
    let mut out = BytesMut::new();
    write_unknown_size_header(&mut out, id, 8);
    out.to_vec()
}

fn timecode(tc: u64) -> Vec<u8> {
    let mut out = BytesMut::new();
    write_uint(&mut out, ElementId::TIMECODE, tc);
    out.to_vec()
}

/// EBML header, unknown-size Segment, unknown-size Cluster at `tc` with two blocks.
fn live_segment(tc: u64) -> Vec<u8> {
    [
        ebml_header(),
        unknown(ElementId::SEGMENT),
        unknown(ElementId::CLUSTER),
        timecode(tc),
        simple_block(1, 0, 0x80, b"key"),
        simple_block(1, 40, 0x00, b"delta"),
    ]
    .concat()
}

fn run(data: &[u8]) -> Result<Vec<Event>, MkvError> {
    let mut d = Demuxer::new();
    d.push(data);
    let mut events = Vec::new();
    while let Some(e) = d.next_event()? {
        events.push(e);
    }
    d.finish()?;
    while let Some(e) = d.next_event()? {
        events.push(e);
    }
    Ok(events)
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            Event::EbmlHeader { .. } => "ebml",
            Event::SegmentStart { .. } => "seg",
            Event::Info(_) => "info",
            Event::Tracks(_) => "tracks",
            Event::Tags(_) => "tags",
            Event::ClusterStart { .. } => "cluster",
            Event::Frame(_) => "frame",
            Event::ClusterEnd => "/cluster",
            Event::SegmentEnd => "/seg",
            _ => "other",
        })
        .collect()
}

#[test]
fn back_to_back_unknown_size_segments_end_at_next_ebml_header() {
    let data = [live_segment(1000), live_segment(3000)].concat();
    let events = run(&data).unwrap();
    let one = [
        "ebml", "seg", "cluster", "frame", "frame", "/cluster", "/seg",
    ];
    assert_eq!(kinds(&events), [one, one].concat());
    let Event::Frame(f) = &events[4] else {
        panic!("frame expected")
    };
    assert_eq!(
        (f.track, f.timecode, f.keyframe, &f.data[..]),
        (1, 1040, false, &b"delta"[..])
    );
    let Event::ClusterStart { timecode, offset } = events[9] else {
        panic!("cluster expected")
    };
    assert_eq!(timecode, 3000);
    assert_eq!(
        offset,
        (live_segment(1000).len() + ebml_header().len() + 12) as u64
    );
}

#[test]
fn tags_after_unknown_size_cluster_end_it() {
    let tags = element(
        ElementId::TAGS,
        &element(
            ElementId::TAG,
            &element(
                ElementId::SIMPLE_TAG,
                &[
                    element(ElementId::TAG_NAME, b"n"),
                    element(ElementId::TAG_STRING, b"v"),
                ]
                .concat(),
            ),
        ),
    );
    let data = [
        live_segment(0),
        tags.clone(),
        unknown(ElementId::CLUSTER),
        timecode(5),
        tags,
    ]
    .concat();
    let events = run(&data).unwrap();
    assert_eq!(
        kinds(&events),
        [
            "ebml", "seg", "cluster", "frame", "frame", "/cluster", "tags", "cluster", "/cluster",
            "tags", "/seg"
        ]
    );
    let Event::Tags(t) = &events[6] else {
        panic!("tags expected")
    };
    assert_eq!(t.get_str("n"), Some("v"));
    assert_eq!(
        t.raw.len(),
        element(ElementId::TAGS, &[]).len() + t.raw.len() - 5
    );
}

#[test]
fn known_size_segment_and_cluster_end_by_size() {
    let cluster_body = [timecode(7), simple_block(2, -3, 0x80, b"x")].concat();
    let cluster = element(ElementId::CLUSTER, &cluster_body);
    let segment = element(
        ElementId::SEGMENT,
        &[element(ElementId::VOID, &[0; 300]), cluster].concat(),
    );
    let events = run(&[ebml_header(), segment.clone(), ebml_header(), segment].concat()).unwrap();
    let one = ["ebml", "seg", "cluster", "frame", "/cluster", "/seg"];
    assert_eq!(kinds(&events), [one, one].concat());
    let Event::Frame(f) = &events[3] else {
        panic!("frame expected")
    };
    assert_eq!((f.track, f.timecode), (2, 4));
}

#[test]
fn block_group_with_reference_block_is_not_a_key_frame() {
    let block = {
        let mut b = vec![0x81, 0, 5, 0];
        b.extend_from_slice(b"payload");
        element(ElementId::BLOCK, &b)
    };
    let mut rb = BytesMut::new();
    write_uint(&mut rb, ElementId::BLOCK_DURATION, 33);
    let group_key = element(
        ElementId::BLOCK_GROUP,
        &[block.clone(), rb.to_vec()].concat(),
    );
    let group_delta = element(
        ElementId::BLOCK_GROUP,
        &[block, element(ElementId::REFERENCE_BLOCK, &[0xFF])].concat(),
    );
    let data = [
        ebml_header(),
        unknown(ElementId::SEGMENT),
        unknown(ElementId::CLUSTER),
        timecode(100),
        group_key,
        group_delta,
    ]
    .concat();
    let frames: Vec<Frame> = run(&data)
        .unwrap()
        .into_iter()
        .filter_map(|e| {
            if let Event::Frame(f) = e {
                Some(f)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(frames.len(), 2);
    assert!(frames[0].keyframe && !frames[1].keyframe);
    assert_eq!(frames[0].duration, Some(33));
    assert_eq!(
        (frames[1].timecode, &frames[1].data[..]),
        (105, &b"payload"[..])
    );
}

#[test]
fn skipped_elements_are_not_buffered() {
    let mut head = [ebml_header(), unknown(ElementId::SEGMENT)].concat();
    let mut cues = BytesMut::new();
    write_header(&mut cues, ElementId::CUES, 10 << 20);
    head.extend_from_slice(&cues);
    let mut d = Demuxer::with_limits(Limits::default().with_max_metadata_size(1024));
    d.push(&head);
    while d.next_event().unwrap().is_some() {}
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..10 {
        d.push(&chunk);
        assert!(d.next_event().unwrap().is_none());
        assert_eq!(d.buffered(), 0, "skipped payload must not be buffered");
    }
    d.push(&[ebml_header(), unknown(ElementId::SEGMENT)].concat());
    assert_eq!(kinds(&[d.next_event().unwrap().unwrap()]), ["/seg"]);
    assert_eq!(d.bytes_consumed(), head.len() as u64 + (10 << 20));
}

#[test]
fn frame_payload_is_split_from_the_input_buffer_and_mutable() {
    let data = live_segment(0);
    let mut d = Demuxer::new();
    d.push(&data);
    let mut frame = loop {
        if let Some(Event::Frame(f)) = d.next_event().unwrap() {
            break f;
        }
    };
    frame.data[0] ^= 0xFF;
    assert_eq!(frame.data[0], b'k' ^ 0xFF);
    assert_eq!(
        frame.offset,
        (data.len() - simple_block(1, 0, 0, b"key").len() - simple_block(1, 0, 0, b"delta").len())
            as u64
    );
}

#[test]
fn reader_rejects_laced_block_with_offset() {
    let data = [
        ebml_header(),
        unknown(ElementId::SEGMENT),
        unknown(ElementId::CLUSTER),
        timecode(0),
    ]
    .concat();
    let block_at = data.len() as u64;
    let err = run(&[data, simple_block(1, 0, 0x82, b"\x01ab")].concat()).unwrap_err();
    assert_eq!(err, MkvError::LacingUnsupported { offset: block_at });
}

#[test]
fn reader_rejects_oversized_frame_before_buffering_it() {
    let mut data = [
        ebml_header(),
        unknown(ElementId::SEGMENT),
        unknown(ElementId::CLUSTER),
        timecode(0),
    ]
    .concat();
    let at = data.len() as u64;
    let mut h = BytesMut::new();
    write_header(&mut h, ElementId::SIMPLE_BLOCK, 2000);
    data.extend_from_slice(&h);
    let mut d = Demuxer::with_limits(Limits::default().with_max_frame_size(1000));
    d.push(&data);
    let err = loop {
        match d.next_event() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("must fail on the header alone"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, MkvError::ElementTooLarge { size: 2000, offset, .. } if offset == at),
        "{err}"
    );
    assert!(matches!(d.next_event(), Err(MkvError::Failed { .. })));
}

#[test]
fn reader_rejects_oversized_metadata() {
    let mut tags = BytesMut::new();
    write_header(&mut tags, ElementId::TAGS, 100);
    let data = [
        ebml_header(),
        unknown(ElementId::SEGMENT),
        tags.to_vec(),
        vec![0; 100],
    ]
    .concat();
    let mut d = Demuxer::with_limits(Limits::default().with_max_metadata_size(64));
    d.push(&data);
    let err = std::iter::from_fn(|| Some(d.next_event()))
        .find_map(Result::err)
        .unwrap();
    assert!(
        matches!(err, MkvError::ElementTooLarge { limit: 64, .. }),
        "{err}"
    );
}

#[test]
fn reader_rejects_unknown_size_on_non_master_element() {
    let data = [
        ebml_header(),
        unknown(ElementId::SEGMENT),
        unknown(ElementId::TAGS),
    ]
    .concat();
    let at = (data.len() - 12) as u64;
    assert_eq!(
        run(&data).unwrap_err(),
        MkvError::UnknownSizeNotAllowed {
            id: ElementId::TAGS,
            offset: at
        }
    );
    let data = [
        ebml_header(),
        unknown(ElementId::SEGMENT),
        unknown(ElementId::CLUSTER),
        timecode(0),
        unknown(ElementId::SIMPLE_BLOCK),
    ]
    .concat();
    assert!(matches!(
        run(&data).unwrap_err(),
        MkvError::UnknownSizeNotAllowed {
            id: ElementId::SIMPLE_BLOCK,
            ..
        }
    ));
}

#[test]
fn reader_rejects_absurd_vints_with_offset() {
    let head = [ebml_header(), unknown(ElementId::SEGMENT)].concat();
    let at = head.len() as u64;
    assert_eq!(
        run(&[head.clone(), vec![0x00, 0x81]].concat()).unwrap_err(),
        MkvError::InvalidId { offset: at }
    );
    // A valid 2-byte ID with a size field whose first byte is 0 (a 9+ byte vint).
    assert_eq!(
        run(&[head, vec![0x42, 0x86, 0x00, 1, 2]].concat()).unwrap_err(),
        MkvError::InvalidSize { offset: at + 2 }
    );
}

#[test]
fn reader_rejects_deeply_nested_simple_tags() {
    let mut inner = [element(ElementId::TAG_NAME, b"n")].concat();
    for _ in 0..40 {
        inner = element(
            ElementId::SIMPLE_TAG,
            &[element(ElementId::TAG_NAME, b"n"), inner].concat(),
        );
    }
    let tags = element(ElementId::TAGS, &element(ElementId::TAG, &inner));
    let err = run(&[ebml_header(), unknown(ElementId::SEGMENT), tags].concat()).unwrap_err();
    assert!(matches!(err, MkvError::TooDeep { limit: 16, .. }), "{err}");
}

#[test]
fn reader_rejects_block_before_cluster_timecode_and_child_overrunning_parent() {
    let data = [
        ebml_header(),
        unknown(ElementId::SEGMENT),
        unknown(ElementId::CLUSTER),
        simple_block(1, 0, 0x80, b"k"),
    ]
    .concat();
    assert!(matches!(
        run(&data).unwrap_err(),
        MkvError::MissingElement { .. }
    ));
    // A block that runs past the end of its known-size Segment.
    let body = [
        unknown(ElementId::CLUSTER),
        timecode(1),
        simple_block(1, 0, 0, b"zz"),
    ]
    .concat();
    let mut segment = BytesMut::new();
    write_header(&mut segment, ElementId::SEGMENT, (body.len() - 2) as u64);
    let data = [ebml_header(), segment.to_vec(), body].concat();
    let block_at = (data.len() - simple_block(1, 0, 0, b"zz").len()) as u64;
    let err = run(&data).unwrap_err();
    assert!(
        matches!(err, MkvError::ElementOverrunsParent { offset, parent: ElementId::SEGMENT, .. } if offset == block_at),
        "{err}"
    );
}

#[test]
fn reader_rejects_garbage_at_top_level() {
    let err = run(&element(ElementId::CLUSTER, &[])).unwrap_err();
    assert!(
        matches!(err, MkvError::UnexpectedElement { offset: 0, .. }),
        "{err}"
    );
}

#[test]
fn truncation_at_every_offset_errors_at_finish_never_panics() {
    let data = [live_segment(0), live_segment(9)].concat();
    let boundaries = [
        0,
        ebml_header().len(),
        live_segment(0).len(),
        live_segment(0).len() + ebml_header().len(),
        data.len(),
    ];
    for cut in 0..=data.len() {
        let mut d = Demuxer::new();
        d.push(&data[..cut]);
        while d.next_event().unwrap().is_some() {}
        let result = d.finish();
        // Ends inside the unknown-size Segment/Cluster are boundaries only between elements.
        let at_boundary = boundaries.contains(&cut) || is_element_boundary(&data, cut);
        assert_eq!(result.is_ok(), at_boundary, "cut at {cut}: {result:?}");
        if let Err(MkvError::Truncated { offset, .. }) = result {
            assert_eq!(offset, cut as u64);
        }
    }
}

/// Offsets where an element of `live_segment` ends, computed independently of the reader.
fn is_element_boundary(data: &[u8], cut: usize) -> bool {
    let one = live_segment(0);
    let parts = [
        ebml_header().len(),
        12,
        12,
        timecode(0).len(),
        simple_block(1, 0, 0x80, b"key").len(),
        simple_block(1, 40, 0, b"delta").len(),
    ];
    let mut ends = Vec::new();
    let mut at = 0;
    for base in [0, one.len()] {
        at = base;
        for p in parts {
            at += p;
            ends.push(at);
        }
    }
    assert_eq!(at, data.len());
    ends.contains(&cut)
}

#[test]
fn one_byte_pushes_give_the_same_events_as_one_push() {
    let data = [live_segment(0), live_segment(2000)].concat();
    let whole = run(&data).unwrap();
    let mut d = Demuxer::new();
    let mut events = Vec::new();
    for b in &data {
        d.push(std::slice::from_ref(b));
        while let Some(e) = d.next_event().unwrap() {
            events.push(e);
        }
    }
    d.finish().unwrap();
    while let Some(e) = d.next_event().unwrap() {
        events.push(e);
    }
    assert_eq!(events, whole);
    let _ = (write_id, write_size_width);
}

#[test]
fn finish_before_draining_detects_truncation_and_keeps_events() {
    let data = [live_segment(0), live_segment(2000)].concat();
    // Whole input: finish may come before draining, and the events still follow.
    let mut d = Demuxer::new();
    d.push(&data);
    d.finish().unwrap();
    let mut events = Vec::new();
    while let Some(e) = d.next_event().unwrap() {
        events.push(e);
    }
    assert_eq!(events, run(&data).unwrap());
    // Cut inside the last block: finish reports where the input ends and what was cut.
    let mut d = Demuxer::new();
    d.push(&data[..data.len() - 2]);
    let err = d.finish().unwrap_err();
    assert!(
        matches!(&err, MkvError::Truncated { offset, what } if *offset == (data.len() - 2) as u64 && what.contains("SimpleBlock")),
        "{err}"
    );
}

#[test]
fn known_size_cluster_cut_short_is_truncated() {
    let cluster = element(
        ElementId::CLUSTER,
        &[timecode(1), simple_block(1, 0, 0x80, b"k")].concat(),
    );
    let data = [ebml_header(), unknown(ElementId::SEGMENT), cluster].concat();
    let cut = data.len() - simple_block(1, 0, 0x80, b"k").len();
    let mut d = Demuxer::new();
    d.push(&data[..cut]);
    while d.next_event().unwrap().is_some() {}
    let err = d.finish().unwrap_err();
    assert!(
        matches!(&err, MkvError::Truncated { what, .. } if what.contains("Cluster")),
        "{err}"
    );
}
