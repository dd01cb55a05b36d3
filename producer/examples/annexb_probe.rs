//! Reads an H.264/H.265 Annex-B file the way the producer will and prints its
//! track, frame counts, fragments and parse speed — a quick check of a camera's
//! stream before pointing the producer at it.
//!
//! `cargo run -p kvs-e2ee-producer --example annexb_probe -- FILE [FPS] [h265]`

use std::time::Instant;

use anyhow::Context;
use kvs_e2ee_producer::annexb::{AnnexBConfig, AnnexBEvent, AnnexBReader, Codec};
use kvs_e2ee_producer::fragmenter::{Fragmenter, FragmenterConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: annexb_probe FILE [FPS] [h265]")?;
    let fps = args.next().unwrap_or_else(|| "30".into()).parse()?;
    let codec = if args.next().as_deref() == Some("h265") {
        Codec::H265
    } else {
        Codec::H264
    };
    let file = tokio::fs::File::open(&path)
        .await
        .with_context(|| format!("opening {path}"))?;
    let bytes = file.metadata().await?.len();
    let config = AnnexBConfig {
        codec,
        track_number: 1,
        frame_rate: fps,
        start_time_ms: 0,
    };
    let mut reader = AnnexBReader::new(file, config);
    let mut fragmenter = Fragmenter::new(FragmenterConfig::new(1, 2000));
    let (mut frames, mut keys, mut fragments) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    while let Some(event) = reader.next_event().await? {
        match event {
            AnnexBEvent::Track(t) => println!(
                "track: {} {:?}, CodecPrivate {} bytes",
                t.codec_id,
                t.video,
                t.codec_private.len()
            ),
            AnnexBEvent::Frame(f) => {
                frames += 1;
                keys += u64::from(f.keyframe);
                fragments += u64::from(fragmenter.push(f)?.is_some());
            }
        }
    }
    fragments += u64::from(fragmenter.finish().is_some());
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{frames} frames, {keys} key frames, {fragments} fragments of ~2 s, {} skipped before the first key frame",
        reader.parser().skipped_before_keyframe()
    );
    println!(
        "{bytes} bytes in {secs:.3} s = {:.1} MB/s",
        bytes as f64 / secs / 1e6
    );
    Ok(())
}
