//! What encryption costs the camera and the viewer on a whole stream, not one frame:
//! - `camera`: the producer's packager (fragmenting, sealing every frame, HPKE-wrapping each
//!   fragment key, KVS Matroska) against writing the same frames as plain Matroska;
//! - `viewer`: the consumer's pipeline (demuxing GetMedia bytes, unwrapping, verifying the
//!   chain, decrypting, writing the playable MKV) against raw ChaCha20-Poly1305 decryption
//!   (aws-lc-rs, the envelope's own AEAD) of the same frames. Both sides use
//!   ChaCha20-Poly1305, the cipher every CPU runs.
//!
//! `cargo bench -p kvs-e2ee --bench streaming` (numbers in docs/BENCHMARKS.md).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kvs_e2ee_consumer::pipeline::{DEFAULT_MAX_BUFFERED_BYTES, Pipeline, PipelineConfig};
use kvs_e2ee_envelope::{FrameCipher, OpenerConfig, SecretKey};
use kvs_e2ee_mkv::{Muxer, MuxerConfig, TrackEntry};
use kvs_e2ee_producer::engine::package::Packager;
use kvs_e2ee_producer::media::{CODEC_ID_H264, MediaFrame, SourceEvent, TrackInfo};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// 8 s at 30 fps with a key frame every second: 4 fragments of 2 s.
const FRAMES: usize = 240;
/// A 4 Mbps 1080p stream averages ~16 KiB a frame; key frames are larger.
const FRAME: usize = 16 << 10;
const KEY_FRAME: usize = 96 << 10;
const START_MS: i64 = 1_790_000_000_000;

fn frame_len(i: usize) -> usize {
    if i.is_multiple_of(30) {
        KEY_FRAME
    } else {
        FRAME
    }
}

fn tracks() -> Vec<TrackInfo> {
    vec![TrackInfo {
        number: 1,
        codec_id: CODEC_ID_H264.into(),
        codec_private: vec![
            1, 0x64, 0, 0x28, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x28, 1, 0, 2, 0x68, 0xee,
        ],
        video: Some((1920, 1080)),
        audio: None,
    }]
}

fn events() -> Vec<SourceEvent> {
    let mut events = vec![SourceEvent::Tracks(tracks())];
    events.extend((0..FRAMES).map(|i| {
        SourceEvent::Frame(MediaFrame {
            track: 1,
            timecode_ms: START_MS + (i as i64) * 1000 / 30,
            keyframe: i % 30 == 0,
            data: BytesMut::from(&vec![(i % 251) as u8; frame_len(i)][..]),
        })
    }));
    events
}

fn payload_bytes() -> u64 {
    (0..FRAMES).map(|i| frame_len(i) as u64).sum()
}

struct Keys {
    camera: SecretKey,
    viewer: SecretKey,
}

fn keys() -> Keys {
    let mut rng = StdRng::seed_from_u64(7);
    Keys {
        camera: SecretKey::generate(&mut rng),
        viewer: SecretKey::generate(&mut rng),
    }
}

/// The whole sealed stream, as PutMedia would send it and GetMedia return it.
/// The stream as the camera seals it, with ChaCha20-Poly1305 frames (the cipher every CPU
/// runs fast).
fn seal_stream(keys: &Keys, events: Vec<SourceEvent>) -> Vec<u8> {
    seal_stream_with(keys, events, FrameCipher::ChaCha20Poly1305)
}

fn seal_stream_with(keys: &Keys, events: Vec<SourceEvent>, cipher: FrameCipher) -> Vec<u8> {
    let mut p = Packager::new(
        "bench".into(),
        keys.camera.clone(),
        vec![keys.viewer.public_key()],
        2000,
        StdRng::seed_from_u64(8),
    )
    .with_frame_cipher(cipher);
    let mut body = Vec::new();
    let mut header_written = false;
    let mut take = |p: &Packager<StdRng>, frags: Vec<_>, body: &mut Vec<u8>| {
        if !header_written {
            body.extend_from_slice(p.header().expect("tracks are known").1);
            header_written = true;
        }
        for f in frags {
            let f: kvs_e2ee_producer::engine::package::ClosedFragment = f;
            body.extend_from_slice(&f.bytes);
        }
    };
    for e in events {
        let frags = p.push(e).unwrap();
        take(&p, frags, &mut body);
    }
    let last = p.finish().unwrap();
    take(&p, last.into_iter().collect(), &mut body);
    body
}

fn plain_stream(events: &[SourceEvent]) -> BytesMut {
    let mut out = BytesMut::with_capacity(payload_bytes() as usize + (64 << 10));
    let mut mux = Muxer::new(MuxerConfig::default());
    mux.write_header(
        &mut out,
        &[TrackEntry::h264(1, 1).with_codec_private(tracks()[0].codec_private.clone())],
    )
    .unwrap();
    for e in events {
        if let SourceEvent::Frame(f) = e {
            let tc = f.timecode_ms as u64;
            if f.keyframe && (tc - START_MS as u64).is_multiple_of(2000) {
                mux.start_cluster(&mut out, tc).unwrap();
            }
            mux.write_frame(&mut out, 1, tc, f.keyframe, &f.data)
                .unwrap();
        }
    }
    out
}

/// The same frames through the packager's buffering without the sealing: each fragment
/// built in its own buffer and appended whole to the body when the next one starts, as
/// `seal_stream` does with the packager's closed fragments.
fn plain_producer_stream(events: Vec<SourceEvent>) -> Vec<u8> {
    let mut body = Vec::new();
    let mut mux = Muxer::new(MuxerConfig::default());
    let mut open: Option<BytesMut> = None;
    for e in events {
        match e {
            SourceEvent::Tracks(_) => {
                let mut header = BytesMut::new();
                mux.write_header(
                    &mut header,
                    &[
                        TrackEntry::h264(1, 1)
                            .with_codec_private(tracks()[0].codec_private.clone()),
                    ],
                )
                .unwrap();
                body.extend_from_slice(&header);
            }
            SourceEvent::Frame(f) => {
                let tc = f.timecode_ms as u64;
                if f.keyframe && (tc - START_MS as u64).is_multiple_of(2000) {
                    if let Some(done) = open.take() {
                        body.extend_from_slice(&done.freeze());
                    }
                    let mut bytes = BytesMut::new();
                    mux.start_cluster(&mut bytes, tc).unwrap();
                    open = Some(bytes);
                }
                if let Some(bytes) = open.as_mut() {
                    mux.write_frame(bytes, 1, tc, f.keyframe, &f.data).unwrap();
                }
            }
        }
    }
    if let Some(done) = open.take() {
        body.extend_from_slice(&done.freeze());
    }
    body
}

fn camera(c: &mut Criterion) {
    let keys = keys();
    let mut g = c.benchmark_group("camera");
    g.throughput(Throughput::Bytes(payload_bytes()));
    g.sample_size(20);
    g.bench_function("encrypted_kvs_mkv", |b| {
        b.iter_batched(
            events,
            |ev| black_box(seal_stream(&keys, ev)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("encrypted_kvs_mkv_aes-256-gcm", |b| {
        b.iter_batched(
            events,
            |ev| black_box(seal_stream_with(&keys, ev, FrameCipher::Aes256Gcm)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("plaintext_producer", |b| {
        b.iter_batched(
            events,
            |ev| black_box(plain_producer_stream(ev)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("plaintext_mkv", |b| {
        b.iter_batched(
            events,
            |ev| black_box(plain_stream(&ev)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn viewer(c: &mut Criterion) {
    let keys = keys();
    let stream = seal_stream(&keys, events());
    let opener = || OpenerConfig {
        stream_name: "bench".into(),
        identities: vec![keys.viewer.clone()],
        trusted_cameras: vec![keys.camera.public_key()],
        danger_accept_plaintext: false,
    };
    // Sanity: the pipeline verifies every frame of the stream it is timed on.
    let mut p = Pipeline::new(
        PipelineConfig {
            opener: opener(),
            keep_going: false,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
        },
        std::io::sink(),
    );
    p.push(&stream).unwrap();
    p.finish().unwrap();
    assert!(p.summary().all_verified());
    assert_eq!(p.summary().frames_written, FRAMES as u64);

    // The same AEAD implementation the envelope uses (aws-lc-rs), so the ratio is the
    // pipeline's overhead, not a difference of AEAD code.
    let raw = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).unwrap());
    let aad = [0u8; 53];
    let nonce = || Nonce::assume_unique_for_key([0; 12]);
    let sealed: Vec<(Vec<u8>, [u8; 16])> = (0..FRAMES)
        .map(|i| {
            let mut buf = vec![(i % 251) as u8; frame_len(i)];
            let tag = raw
                .seal_in_place_separate_tag(nonce(), Aad::from(&aad), &mut buf)
                .unwrap();
            (buf, tag.as_ref().try_into().unwrap())
        })
        .collect();

    let mut g = c.benchmark_group("viewer");
    g.throughput(Throughput::Bytes(payload_bytes()));
    g.sample_size(20);
    g.bench_function("verify_decrypt_write_mkv", |b| {
        b.iter(|| {
            let mut p = Pipeline::new(
                PipelineConfig {
                    opener: opener(),
                    keep_going: false,
                    max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
                },
                std::io::sink(),
            );
            // GetMedia delivers in chunks; 64 KiB is a typical read.
            for chunk in stream.chunks(64 << 10) {
                p.push(chunk).unwrap();
            }
            p.finish().unwrap();
            black_box(p.summary().frames_written)
        })
    });
    g.bench_function("raw_chacha20poly1305", |b| {
        b.iter_batched(
            || sealed.clone(),
            |mut frames| {
                for (buf, tag) in &mut frames {
                    raw.open_in_place_separate_tag(nonce(), Aad::from(&aad), &tag[..], buf)
                        .unwrap();
                }
                black_box(frames)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, camera, viewer);
criterion_main!(benches);
