//! Envelope costs: frame seal/open throughput of each frame cipher against the raw AEAD
//! (aws-lc-rs, and RustCrypto's ChaCha20-Poly1305 for reference) on the same frames, and
//! per-fragment key wrapping (seal side) / unwrapping (open side).
//!
//! `cargo bench -p kvs-e2ee-envelope --bench envelope` (numbers in docs/BENCHMARKS.md).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use aws_lc_rs::aead::{self, LessSafeKey, UnboundKey};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kvs_e2ee_envelope::frame::{FrameKey, FrameMeta, FramePosition};
use kvs_e2ee_envelope::{
    FragmentOpener, FrameCipher, OpenerConfig, SecretKey, SessionConfig, SessionSealer,
    TrackCodecData,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const SIZES: [(usize, &str); 3] = [(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

fn tracks() -> Vec<TrackCodecData> {
    vec![TrackCodecData {
        track_number: 1,
        codec_private: vec![0x01; 40],
        video: Some((1920, 1080)),
        audio: None,
    }]
}

fn sealer(
    rng: &mut StdRng,
    recipients: usize,
    frame_cipher: FrameCipher,
) -> (SessionSealer, SecretKey, Vec<SecretKey>) {
    let camera = SecretKey::generate(rng);
    let viewers: Vec<SecretKey> = (0..recipients).map(|_| SecretKey::generate(rng)).collect();
    let s = SessionSealer::new(
        SessionConfig {
            stream_name: "bench-stream".into(),
            camera: camera.clone(),
            recipients: viewers.iter().map(SecretKey::public_key).collect(),
            tracks: tracks(),
            frame_cipher,
        },
        rng,
    )
    .unwrap();
    (s, camera, viewers)
}

fn raw_key(cipher: FrameCipher) -> LessSafeKey {
    let alg = match cipher {
        FrameCipher::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        _ => &aead::AES_256_GCM,
    };
    LessSafeKey::new(UnboundKey::new(alg, &[7u8; 32]).unwrap())
}

fn frames(c: &mut Criterion) {
    let aad = [0u8; 53];
    let meta = FramePosition {
        meta: FrameMeta {
            track: 1,
            timecode: 0,
            keyframe: true,
        },
        index: 0,
    };
    let rustcrypto = ChaCha20Poly1305::new(&Key::from([7u8; 32]));

    let mut g = c.benchmark_group("frame_seal");
    for (size, name) in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let mut buf = vec![0x5au8; size];
        for cipher in FrameCipher::ALL {
            let mut rng = StdRng::seed_from_u64(1);
            let (mut s, _, _) = sealer(&mut rng, 1, cipher);
            s.begin_fragment(0, &mut rng).unwrap();
            g.bench_function(BenchmarkId::new(format!("envelope_{cipher}"), name), |b| {
                b.iter(|| black_box(s.seal_frame_detached(&meta.meta, &mut buf).unwrap()))
            });
            let raw = raw_key(cipher);
            g.bench_function(BenchmarkId::new(format!("raw_{cipher}"), name), |b| {
                b.iter(|| {
                    let nonce = aead::Nonce::assume_unique_for_key([0; 12]);
                    black_box(
                        raw.seal_in_place_separate_tag(nonce, aead::Aad::from(&aad), &mut buf)
                            .unwrap(),
                    )
                })
            });
        }
        g.bench_function(
            BenchmarkId::new("rustcrypto_chacha20-poly1305", name),
            |b| {
                b.iter(|| {
                    black_box(
                        rustcrypto
                            .encrypt_inout_detached(
                                &Nonce::default(),
                                &aad,
                                buf.as_mut_slice().into(),
                            )
                            .unwrap(),
                    )
                })
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("frame_open");
    for (size, name) in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        for cipher in FrameCipher::ALL {
            let key = FrameKey::new(&[9u8; 32], [3u8; 32], cipher);
            let mut ct = vec![0x5au8; size];
            let tag = key.seal_in_place(&meta, &mut ct);
            g.bench_function(BenchmarkId::new(format!("envelope_{cipher}"), name), |b| {
                b.iter_batched_ref(
                    || ct.clone(),
                    |buf| key.open_in_place(&meta, buf, &tag).unwrap(),
                    BatchSize::LargeInput,
                )
            });
            let raw = raw_key(cipher);
            let mut raw_ct = vec![0x5au8; size];
            let raw_tag = raw
                .seal_in_place_separate_tag(
                    aead::Nonce::assume_unique_for_key([0; 12]),
                    aead::Aad::from(&aad),
                    &mut raw_ct,
                )
                .unwrap();
            g.bench_function(BenchmarkId::new(format!("raw_{cipher}"), name), |b| {
                b.iter_batched_ref(
                    || raw_ct.clone(),
                    |buf| {
                        raw.open_in_place_separate_tag(
                            aead::Nonce::assume_unique_for_key([0; 12]),
                            aead::Aad::from(&aad),
                            raw_tag.as_ref(),
                            buf,
                        )
                        .map(|_| ())
                        .unwrap()
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        let mut rc_ct = vec![0x5au8; size];
        let rc_tag = rustcrypto
            .encrypt_inout_detached(&Nonce::default(), &aad, rc_ct.as_mut_slice().into())
            .unwrap();
        g.bench_function(
            BenchmarkId::new("rustcrypto_chacha20-poly1305", name),
            |b| {
                b.iter_batched_ref(
                    || rc_ct.clone(),
                    |buf| {
                        rustcrypto
                            .decrypt_inout_detached(
                                &Nonce::default(),
                                &aad,
                                buf.as_mut_slice().into(),
                                &Tag::from(rc_tag),
                            )
                            .unwrap()
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    g.finish();
}

fn key_wrapping(c: &mut Criterion) {
    let mut g = c.benchmark_group("fragment_key");
    for n in [1usize, 8] {
        let mut rng = StdRng::seed_from_u64(2);
        let (mut s, camera, viewers) = sealer(&mut rng, n, FrameCipher::ChaCha20Poly1305);
        let mut tc = 0u64;
        g.bench_function(BenchmarkId::new("seal_begin_fragment", n), |b| {
            b.iter(|| {
                tc += 1;
                black_box(s.begin_fragment(tc, &mut rng).unwrap())
            })
        });
        tc += 1;
        let tags = s.begin_fragment(tc, &mut rng).unwrap();
        // Only the new header (the repeat of the previous one is skipped by real readers).
        let half = tags.len() / 2;
        let new_header = tags[half..].to_vec();
        let viewer = viewers[n - 1].clone();
        g.bench_function(BenchmarkId::new("open_header", n), |b| {
            b.iter_batched(
                || {
                    FragmentOpener::new(OpenerConfig {
                        stream_name: "bench-stream".into(),
                        identities: vec![viewer.clone()],
                        trusted_cameras: vec![camera.public_key()],
                        danger_accept_plaintext: false,
                    })
                },
                |mut o| black_box(o.on_tags(&new_header).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, frames, key_wrapping);
criterion_main!(benches);
