//! The pipeline on hostile input: arbitrary bytes and random corruptions of a sealed
//! GetMedia stream never panic and never put anything but the camera's plaintexts in the
//! output. Also key rotation: the viewer's identity with every generation opens video from
//! before and after a rotation; a retired generation no longer opens old video.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kvs_e2ee_consumer::FailureKind;
use kvs_e2ee_consumer::pipeline::{DEFAULT_MAX_BUFFERED_BYTES, Pipeline, PipelineConfig};
use kvs_e2ee_envelope::OpenerConfig;
use kvs_e2ee_keys::{Identity, KeyKind};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn sealed_stream() -> (World, Vec<u8>) {
    let mut w = World::new(7);
    let segs = session(&mut w);
    let bytes = encode(&segs);
    (w, bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn consumer_never_panics_on_arbitrary_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..4096),
        chunk in 1usize..512,
        keep_going in any::<bool>(),
    ) {
        let w = World::new(7);
        let p = pipeline(&w.viewer, vec![w.camera.public_key()], keep_going);
        let (out, _, _) = run_pipeline(p, &data, chunk);
        prop_assert!(read_output_lenient(&out).iter().all(|f| all_plaintexts().contains(f)));
        kvs_e2ee_consumer::fuzzing::pipeline_arbitrary(&data);
    }

    #[test]
    fn consumer_writes_only_camera_plaintexts_from_corrupted_streams(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6),
        chunk in 1usize..2048,
    ) {
        let (w, mut bytes) = sealed_stream();
        for (at, x) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        let p = pipeline(&w.viewer, vec![w.camera.public_key()], true);
        let (out, _, _) = run_pipeline(p, &bytes, chunk);
        for f in read_output_lenient(&out) {
            prop_assert!(all_plaintexts().contains(&f), "unauthenticated bytes written: {:?}", f);
        }
    }
}

fn all_plaintexts() -> Vec<Vec<u8>> {
    frames_of("A", &[0, 1, 2, 3, 4])
}

/// Frames of an output that may end early (a stopped read).
fn read_output_lenient(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut d = kvs_e2ee_mkv::Demuxer::new();
    d.push(bytes);
    let _ = d.finish();
    let mut out = Vec::new();
    while let Ok(Some(ev)) = d.next_event() {
        if let kvs_e2ee_mkv::Event::Frame(f) = ev {
            out.push(f.data.to_vec());
        }
    }
    out
}

fn pipeline_for(identity: &Identity, w: &World) -> Pipeline<Vec<u8>> {
    Pipeline::new(
        PipelineConfig {
            opener: OpenerConfig {
                stream_name: STREAM.into(),
                identities: identity.secrets().cloned().collect(),
                trusted_cameras: vec![w.camera.public_key()],
                danger_accept_plaintext: false,
            },
            keep_going: false,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
        },
        Vec::new(),
    )
}

#[test]
fn consumer_opens_video_from_before_and_after_a_rotation() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut identity = Identity::generate(KeyKind::Viewer, &mut rng);
    let mut w = World::new(8);
    w.viewer = identity.active().clone();
    let before = session(&mut w);
    identity.rotate(&mut rng).unwrap();
    w.viewer = identity.active().clone();
    let camera = w.camera.clone();
    let mut sealer = w.camera_sealer(STREAM, &camera);
    let after = getmedia_segments(&produce(
        &mut w,
        &mut sealer,
        "A",
        90_000,
        FRAGMENTS,
        true,
        |_, _| {},
    ));
    for segs in [&before, &after] {
        let (out, summary, err) = run_pipeline(pipeline_for(&identity, &w), &encode(segs), 512);
        assert!(err.is_none(), "{err:?}");
        assert!(summary.all_verified());
        assert_eq!(read_output(&out).payloads(), all_plaintexts());
    }

    // Retiring the first generation: old video no longer opens, and the report says why.
    let first = identity.generations()[0].id();
    identity.retire(&first).unwrap();
    let (out, _, err) = run_pipeline(pipeline_for(&identity, &w), &encode(&before), 512);
    match err {
        Some(kvs_e2ee_consumer::PipelineError::Read(
            kvs_e2ee_consumer::ReadError::Verification(f),
        )) => {
            assert_eq!(
                f.kind,
                FailureKind::NotARecipient {
                    recipients: vec![first]
                }
            );
            assert!(f.to_string().contains("not a recipient"), "{f}");
        }
        other => panic!("expected not-a-recipient, got {other:?}"),
    }
    assert!(out.is_empty());
}
