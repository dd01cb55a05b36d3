//! The producer's source side end to end without the network: Annex-B file →
//! frames → fragments → bounded buffer and spool, as the engine will chain them.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use bytes::Bytes;
use kvs_e2ee_producer::annexb::{AnnexBConfig, AnnexBEvent, AnnexBReader, Codec};
use kvs_e2ee_producer::buffer::{AckKind, AckOutcome, FragmentBuffer};
use kvs_e2ee_producer::fragmenter::{Fragment, Fragmenter, FragmenterConfig};
use kvs_e2ee_producer::spool::Spool;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample-320x240.h264")
}

async fn fragments(target_ms: i64) -> Vec<Fragment> {
    let start = 1_700_000_000_000;
    let file = tokio::fs::File::open(sample()).await.unwrap();
    let config = AnnexBConfig {
        codec: Codec::H264,
        track_number: 1,
        frame_rate: "30".parse().unwrap(),
        start_time_ms: start,
    };
    let mut reader = AnnexBReader::new(file, config);
    let mut fragmenter = Fragmenter::new(FragmenterConfig::new(1, target_ms));
    let mut out = Vec::new();
    while let Some(ev) = reader.next_event().await.unwrap() {
        if let AnnexBEvent::Frame(f) = ev {
            out.extend(fragmenter.push(f).unwrap());
        }
    }
    out.extend(fragmenter.finish());
    out
}

#[tokio::test]
async fn annexb_sample_fragments_on_its_one_second_gops() {
    let frags = fragments(1000).await;
    let shape: Vec<(i64, usize)> = frags
        .iter()
        .map(|f| (f.start_ms - 1_700_000_000_000, f.frames.len()))
        .collect();
    assert_eq!(shape, vec![(0, 30), (1000, 30)]);
    // With the default 2 s target both GOPs share one fragment.
    assert_eq!(fragments(2000).await.len(), 1);
}

#[tokio::test]
async fn fragments_survive_buffer_and_spool_byte_identically() {
    let frags = fragments(1000).await;
    let serialized: Vec<(i64, Bytes)> = frags
        .iter()
        .map(|f| {
            (
                f.start_ms,
                Bytes::from(
                    f.frames
                        .iter()
                        .flat_map(|x| x.data.to_vec())
                        .collect::<Vec<u8>>(),
                ),
            )
        })
        .collect();
    let mut buffer = FragmentBuffer::new(1 << 20);
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), 1 << 20).unwrap();
    for (tc, bytes) in &serialized {
        buffer.push(*tc, bytes.clone()).unwrap();
        spool.push(*tc, bytes).unwrap();
    }
    drop(spool);
    let (spool, report) = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(report.recovered, vec![0, 1]);
    for (seq, (tc, bytes)) in serialized.iter().enumerate() {
        assert_eq!(&spool.read(seq as u64).unwrap(), bytes);
        assert_eq!(&buffer.get(seq as u64).unwrap().payload, bytes);
        assert!(matches!(
            buffer.on_ack(AckKind::Persisted, *tc),
            AckOutcome::Persisted(_)
        ));
    }
    assert!(buffer.is_empty());
}
