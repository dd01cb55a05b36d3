//! Demuxer throughput on the real KVS recordings: how fast a consumer can walk GetMedia
//! output (frames split out zero-copy, metadata parsed), fed in 64 KiB chunks as a network
//! stream arrives. Run: `cargo bench -p kvs-e2ee-mkv --bench mkv`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kvs_e2ee_mkv::{Demuxer, Event};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/kvs/");
const CHUNK: usize = 64 * 1024;

/// Demuxes `data` in `CHUNK`-sized pushes; returns (frames, frame bytes).
fn demux(data: &[u8]) -> (usize, usize) {
    let mut demuxer = Demuxer::new();
    let (mut frames, mut bytes) = (0, 0);
    let mut drain = |d: &mut Demuxer| {
        while let Some(event) = d.next_event().expect("fixture parses") {
            if let Event::Frame(f) = event {
                frames += 1;
                bytes += f.data.len();
            }
        }
    };
    for chunk in data.chunks(CHUNK) {
        demuxer.push(chunk);
        drain(&mut demuxer);
    }
    demuxer.finish().expect("fixture ends at a boundary");
    drain(&mut demuxer);
    (frames, bytes)
}

fn bench_fixtures(c: &mut Criterion) {
    let mut group = c.benchmark_group("mkv_demux");
    for name in [
        "output_get_media.mkv",
        "kinesis_video_renderer_example_output.mkv",
        "test_mixed_tags.mkv",
    ] {
        let data = std::fs::read(format!("{FIXTURES}{name}")).expect("fixture present");
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| b.iter(|| demux(black_box(&data))));
    }
    group.finish();
}

criterion_group!(benches, bench_fixtures);
criterion_main!(benches);
