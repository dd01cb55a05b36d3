//! The bytes kvs-local writes: a stored fragment's head (EBML header, Segment, Info,
//! Tracks), its Cluster and blocks, and the `AWS_KINESISVIDEO_*` Tags GetMedia inserts —
//! in the layout of the real GetMedia recordings (`tests/fixtures/kvs/test_mixed_tags.mkv`).
//! Element writing goes through `kvs_e2ee_mkv::ebml`; nothing here parses.

use bytes::{BufMut, BytesMut};
use kvs_e2ee_mkv::ElementId;
use kvs_e2ee_mkv::Frame;
use kvs_e2ee_mkv::ebml;

/// SimpleBlock flags (Matroska: key `0x80`, invisible `0x08`, discardable `0x01`).
const FLAG_KEY: u8 = 0x80;
const FLAG_INVISIBLE: u8 = 0x08;
const FLAG_DISCARDABLE: u8 = 0x01;

/// EBML header as the KVS producer SDK writes it (DocType `matroska`, version 2) and the
/// Segment header KVS sends (unknown size on 8 bytes, as in every real recording).
pub fn write_segment_start(out: &mut BytesMut) {
    kvs_e2ee_mkv::mux::write_ebml_header(out);
    ebml::write_unknown_size_header(out, ElementId::SEGMENT, 8);
}

/// A Cluster of unknown size with its 8-byte Timecode and Position 0, as the producer SDK
/// writes it and GetMedia returns it.
pub fn write_cluster_start(out: &mut BytesMut, timecode: u64) {
    ebml::write_unknown_size_header(out, ElementId::CLUSTER, 1);
    ebml::write_uint_width(out, ElementId::TIMECODE, timecode, 8);
    ebml::write_uint(out, ElementId::POSITION, 0);
}

/// One frame as a SimpleBlock (8-byte size as the producer SDK writes), relative to the
/// cluster timecode. `None` if the relative timecode does not fit 16 bits.
pub fn write_simple_block(out: &mut BytesMut, cluster_timecode: u64, frame: &Frame) -> Option<()> {
    let relative = i16::try_from(i128::from(frame.timecode) - i128::from(cluster_timecode)).ok()?;
    let track_len = ebml::size_len(frame.track);
    let size = (track_len + 3 + frame.data.len()) as u64;
    let mut flags = 0;
    if frame.keyframe {
        flags |= FLAG_KEY;
    }
    if frame.invisible {
        flags |= FLAG_INVISIBLE;
    }
    if frame.discardable {
        flags |= FLAG_DISCARDABLE;
    }
    ebml::write_id(out, ElementId::SIMPLE_BLOCK);
    ebml::write_size_width(out, size, 8);
    ebml::write_size_width(out, frame.track, track_len);
    out.put_i16(relative);
    out.put_u8(flags);
    out.put_slice(&frame.data);
    Some(())
}

/// One `Tags` › `Tag` › `SimpleTag`… element holding `tags`, every size on 4 bytes, as KVS
/// writes its own fragment tags (`1254c367 100000e2` in the recordings).
pub fn write_service_tags(out: &mut BytesMut, tags: &[(&str, &str)]) {
    const W: usize = 4;
    let leaf = |s: &str| 2 + W + s.len();
    let simple_sizes: Vec<usize> = tags.iter().map(|(n, v)| leaf(n) + leaf(v)).collect();
    let tag_size: usize = simple_sizes.iter().map(|s| 2 + W + s).sum();
    let tags_size = 2 + W + tag_size;
    ebml::write_id(out, ElementId::TAGS);
    ebml::write_size_width(out, tags_size as u64, W);
    ebml::write_id(out, ElementId::TAG);
    ebml::write_size_width(out, tag_size as u64, W);
    for ((name, value), size) in tags.iter().zip(simple_sizes) {
        ebml::write_id(out, ElementId::SIMPLE_TAG);
        ebml::write_size_width(out, size as u64, W);
        for (id, s) in [(ElementId::TAG_NAME, name), (ElementId::TAG_STRING, value)] {
            ebml::write_id(out, id);
            ebml::write_size_width(out, s.len() as u64, W);
            out.put_slice(s.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvs_e2ee_mkv::{Demuxer, Event};

    #[test]
    fn service_tags_match_the_recorded_bytes() {
        let mut out = BytesMut::new();
        write_service_tags(
            &mut out,
            &[
                ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "910"),
                (
                    "AWS_KINESISVIDEO_CONTINUATION_TOKEN",
                    "91343852333713038908964877623801423530396737899",
                ),
            ],
        );
        // test_mixed_tags.mkv, bytes 2449..2618.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/kvs/test_mixed_tags.mkv"
        );
        let fixture = std::fs::read(path).expect("fixture");
        assert_eq!(&out[..], &fixture[2449..2618]);
    }

    #[test]
    fn written_fragment_reads_back() {
        let mut out = BytesMut::new();
        write_segment_start(&mut out);
        write_cluster_start(&mut out, 5000);
        let mut d = Demuxer::new();
        d.push(&out);
        let mut events = Vec::new();
        while let Some(e) = d.next_event().expect("parses") {
            events.push(e);
        }
        assert!(matches!(events[0], Event::EbmlHeader { .. }));
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::ClusterStart { timecode: 5000, .. }))
        );
    }
}
