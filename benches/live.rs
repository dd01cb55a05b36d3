//! Live-path numbers through a real kvs-local (in-process, loopback), for docs/BENCHMARKS.md:
//! - `ingest` (issue 3): PutMedia ingest throughput, MB/s, from the first body byte to the
//!   last PERSISTED ack, plaintext Matroska sent as fast as the client can;
//! - `latency` (issues 3 and 5): frames paced at 30 fps through PutMedia → kvs-local → a
//!   live GetMedia (`NOW`) reader. Per frame: from the frame handed to the producer side
//!   (packager or plain muxer) to (a) the GetMedia chunk that completes it reaching the
//!   reader, (b) the frame coming out of the consumer's `Pipeline`. Encrypted and plaintext
//!   runs are interleaved on the same frames;
//! - `producer` (issue 4): the same generated 1080p 4 Mbps clip streamed unpaced,
//!   encrypted (the producer's `Packager`) vs plaintext (plain Matroska), same send loop:
//!   client-thread CPU time, wall time, time to the first PERSISTED ack;
//! - `rss` (issue 4): the release `kvs-e2ee-producer` binary streaming that clip under
//!   `/usr/bin/time -v` (peak RSS) and the time from spawn to its first "fragment
//!   persisted" log line.
//!
//! `cargo build --release -p kvs-e2ee-producer && cargo bench -p kvs-e2ee --bench live`
//! (add `-- NAME…` to run some sections only). Needs `ffmpeg` (the clip is made at run
//! time, never committed) and, for `rss`, `/usr/bin/time`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kvs_e2ee_aws::StreamId;
use kvs_e2ee_aws::ack::AckEventType;
use kvs_e2ee_aws::config::{ClientConfig, ConfigOptions};
use kvs_e2ee_aws::control::{self, DataApi};
use kvs_e2ee_aws::getmedia::{StartSelector, get_media};
use kvs_e2ee_aws::putmedia::{PutMediaConnection, PutMediaRequest};
use kvs_e2ee_consumer::pipeline::{DEFAULT_MAX_BUFFERED_BYTES, Pipeline, PipelineConfig};
use kvs_e2ee_envelope::{FrameCipher, OpenerConfig, SecretKey};
use kvs_e2ee_keys::{Identity, KeyKind};
use kvs_e2ee_mkv::{Demuxer, Event, Muxer, MuxerConfig, TrackEntry, TrackType};
use kvs_e2ee_producer::engine::package::Packager;
use kvs_e2ee_producer::media::{CODEC_ID_H264, MediaFrame, SourceEvent, TrackInfo};
use kvs_e2ee_producer::source::MediaReader;
use kvs_local::RunningServer;
use rand::SeedableRng;
use rand::rngs::StdRng;

const FRAGMENT_MS: i64 = 2000;
const FPS: u64 = 30;
/// Live runs: 6 s of 30 fps, ~4 Mbps (16 KiB frames, 96 KiB key frames every second).
const LIVE_FRAMES: usize = 180;
const LIVE_ROUNDS: usize = 3;
const PRODUCER_ROUNDS: usize = 9;
const RSS_ROUNDS: usize = 3;
/// Ingest: 64 KiB frames, 30 a second, 60 s of media (112.5 MiB).
const INGEST_FRAMES: usize = 1800;
const INGEST_FRAME: usize = 64 << 10;
const INGEST_ROUNDS: usize = 3;
const CLIP_SECONDS: u32 = 20;
/// The long clip (encrypted vs plaintext CPU) is the short one this many times: 5 min, ~150 MB.
const LONG_LOOPS: u32 = 15;

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    kvs_e2ee_aws::config::install_crypto_provider();
    // kvs-local on its own worker thread; the client side (producer, reader) on this thread
    // only, so this thread's CPU time is the client's.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = server_rt
        .block_on(kvs_local::Server::start(kvs_local::Config::new(
            work.path().join("kvs-data"),
        )))
        .unwrap();
    let bench = Bench {
        server,
        keys: Keys::new(),
        work: work.path().to_owned(),
        streams: std::cell::Cell::new(0),
    };
    println!("load average at start: {}", load_average());
    if want("ingest") {
        client_rt.block_on(bench.ingest());
    }
    if want("latency") {
        client_rt.block_on(bench.latency());
    }
    let clips = (want("producer") || want("rss")).then(|| make_clips(&bench.work));
    if let Some(clips) = &clips {
        if want("producer") {
            client_rt.block_on(bench.producer(&clips.long));
        }
        if want("rss") {
            bench.rss(clips, &client_rt);
        }
    }
    println!("load average at end: {}", load_average());
    server_rt.block_on(bench.server.shutdown());
}

struct Keys {
    camera: SecretKey,
    viewer: SecretKey,
}

impl Keys {
    fn new() -> Self {
        let mut rng = StdRng::seed_from_u64(7);
        Self {
            camera: SecretKey::generate(&mut rng),
            viewer: SecretKey::generate(&mut rng),
        }
    }
}

struct Bench {
    server: RunningServer,
    keys: Keys,
    work: PathBuf,
    streams: std::cell::Cell<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Sealed with the producer's `Packager`, frames under this cipher.
    Encrypted(FrameCipher),
    /// The producer's packaging path with the sealing left out: each fragment built in its
    /// own buffer and kept whole (as the engine keeps it until PERSISTED), new bytes copied
    /// out to the connection as the engine's `send_open` does. What encryption adds to a
    /// producer that loses nothing is `Encrypted` minus this.
    PlaintextProducer,
    /// Plain Matroska straight into the send loop: no fragment kept, no copy.
    Plaintext,
}

/// What one PutMedia session did.
struct Sent {
    bytes: u64,
    wall: Duration,
    cpu: Duration,
    /// CPU time of the whole process (client and kvs-local).
    process_cpu: Duration,
    first_persisted: Option<Duration>,
    persisted: u64,
    /// `(timecode ms, when the frame was handed to the packager)`.
    handed: Vec<(u64, Instant)>,
}

impl Bench {
    fn options(&self) -> ConfigOptions {
        self.server.admin_client_options()
    }

    /// A fresh stream per run, so every run starts a new session and fragment sequence.
    async fn new_stream(&self) -> String {
        let n = self.streams.get() + 1;
        self.streams.set(n);
        let name = format!("bench-{n}");
        let client = ClientConfig::load(self.options()).await.unwrap();
        control::create_stream(&client.control_client(), &name, 24, Some("video/h264"))
            .await
            .unwrap();
        name
    }

    /// Sends `events` over one PutMedia connection (paced at `pace` per video frame if
    /// set), mirroring the engine's live order: every frame's bytes go out as soon as it
    /// is packaged. Returns once the ACK stream ends (every fragment acknowledged).
    async fn put(&self, stream: &str, mode: Mode, source: Source, pace: Option<Duration>) -> Sent {
        let mut packer = Packer::new(mode, &self.keys, stream);
        let req = PutMediaRequest::new(
            self.server.data_endpoint_url(),
            StreamId::Name(stream.into()),
            SystemTime::now(),
            self.server.admin_credentials(),
            self.server.region(),
        );
        let cpu0 = thread_cpu();
        let pcpu0 = cpu_ticks("/proc/self/stat");
        let t0 = Instant::now();
        let (mut tx, mut acks) = PutMediaConnection::open(req).await.unwrap();
        let ack_task = tokio::spawn(async move {
            let (mut first, mut persisted) = (None, 0u64);
            while let Some(ev) = acks.recv().await {
                let ev = ev.expect("PutMedia session");
                assert_ne!(ev.event_type, AckEventType::Error, "{ev:?}");
                if ev.event_type == AckEventType::Persisted {
                    first.get_or_insert_with(|| t0.elapsed());
                    persisted += 1;
                }
            }
            (first, persisted)
        });
        let mut events = source.pump();
        let (mut bytes, mut handed, mut out) = (0u64, Vec::new(), Vec::new());
        while let Some(ev) = events.recv().await {
            if let SourceEvent::Frame(f) = &ev {
                if let Some(p) = pace {
                    tokio::time::sleep_until((t0 + p * handed.len() as u32).into()).await;
                }
                handed.push((f.timecode_ms as u64, Instant::now()));
            }
            packer.push(ev, &mut out);
            for b in out.drain(..) {
                bytes += b.len() as u64;
                tx.send(b).await.unwrap();
            }
        }
        packer.finish(&mut out);
        for b in out.drain(..) {
            bytes += b.len() as u64;
            tx.send(b).await.unwrap();
        }
        tx.finish();
        let (first_persisted, persisted) = tokio::time::timeout(Duration::from_secs(120), ack_task)
            .await
            .expect("ACKs end in time")
            .unwrap();
        Sent {
            bytes,
            wall: t0.elapsed(),
            cpu: thread_cpu() - cpu0,
            process_cpu: cpu_ticks("/proc/self/stat") - pcpu0,
            first_persisted,
            persisted,
            handed,
        }
    }

    async fn ingest(&self) {
        println!("\n## ingest: PutMedia, plaintext MKV, 64 KiB frames, unpaced");
        let mut rates = Vec::new();
        for _ in 0..INGEST_ROUNDS {
            let stream = self.new_stream().await;
            let events = synthetic(INGEST_FRAMES, |_| INGEST_FRAME);
            let s = self
                .put(&stream, Mode::Plaintext, Source::Events(events), None)
                .await;
            let mb_s = s.bytes as f64 / 1e6 / s.wall.as_secs_f64();
            println!(
                "  {} bytes, {} fragments persisted, {:.2} s: {mb_s:.1} MB/s",
                s.bytes,
                s.persisted,
                s.wall.as_secs_f64()
            );
            rates.push(mb_s);
        }
        println!("  median: {:.1} MB/s", median(&mut rates));
    }

    async fn latency(&self) {
        println!("\n## latency: 30 fps through PutMedia -> kvs-local -> live GetMedia");
        // [plaintext, encrypted] × per-frame ms.
        let mut getmedia: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut viewer: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..LIVE_ROUNDS {
            for (i, mode) in [
                Mode::Plaintext,
                Mode::Encrypted(FrameCipher::fastest_here()),
            ]
            .into_iter()
            .enumerate()
            {
                let (g, v) = self.live_run(mode).await;
                println!(
                    "  {mode:?}: handed -> GetMedia reader p50 {:.2} ms p99 {:.2} ms; handed -> viewer out p50 {:.2} ms p99 {:.2} ms",
                    pct(&g, 50.0),
                    pct(&g, 99.0),
                    pct(&v, 50.0),
                    pct(&v, 99.0)
                );
                getmedia[i].extend(g);
                viewer[i].extend(v);
            }
        }
        for (i, mode) in [
            Mode::Plaintext,
            Mode::Encrypted(FrameCipher::fastest_here()),
        ]
        .into_iter()
        .enumerate()
        {
            println!(
                "  all {mode:?} ({} frames): handed -> GetMedia reader p50 {:.2} ms p99 {:.2} ms; handed -> viewer out p50 {:.2} ms p99 {:.2} ms",
                viewer[i].len(),
                pct(&getmedia[i], 50.0),
                pct(&getmedia[i], 99.0),
                pct(&viewer[i], 50.0),
                pct(&viewer[i], 99.0)
            );
        }
        println!(
            "  encrypted minus plaintext, viewer out: p50 {:+.2} ms, p99 {:+.2} ms",
            pct(&viewer[1], 50.0) - pct(&viewer[0], 50.0),
            pct(&viewer[1], 99.0) - pct(&viewer[0], 99.0)
        );
    }

    /// One paced run; per-frame latencies (ms) from the frame handed to the producer side
    /// to (a) the GetMedia chunk completing it reaching the reader, (b) the frame out of
    /// the viewer: the consumer's `Pipeline` when encrypted; for plaintext, the demuxed
    /// GetMedia frame itself (a plaintext viewer has nothing more to do, and the
    /// Pipeline's `danger_accept_plaintext` mode holds a plaintext cluster until it ends).
    async fn live_run(&self, mode: Mode) -> (Vec<f64>, Vec<f64>) {
        let stream = self.new_stream().await;
        let client = ClientConfig::load(self.options()).await.unwrap();
        let id = StreamId::Name(stream.clone());
        let endpoint = control::get_data_endpoint(&client.control_client(), &id, DataApi::GetMedia)
            .await
            .unwrap();
        let media = client.media_client(&endpoint);
        let mut body = get_media(&media, &id, &StartSelector::Now).await.unwrap();
        let seen_out = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = matches!(mode, Mode::Encrypted(_)).then(|| {
            Pipeline::new(
                PipelineConfig {
                    opener: OpenerConfig {
                        stream_name: stream.clone(),
                        identities: vec![self.keys.viewer.clone()],
                        trusted_cameras: vec![self.keys.camera.public_key()],
                        danger_accept_plaintext: false,
                    },
                    keep_going: false,
                    max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
                },
                Probe::new(seen_out.clone()),
            )
        });
        let reader = tokio::spawn(async move {
            let mut raw = Demuxer::new();
            let mut seen_raw = Vec::new();
            let done = |raw: &Vec<_>, p: &Option<Pipeline<Probe>>| {
                let out = p
                    .as_ref()
                    .map_or(LIVE_FRAMES as u64, |p| p.summary().frames_written);
                raw.len() >= LIVE_FRAMES && out >= LIVE_FRAMES as u64
            };
            while !done(&seen_raw, &pipe) {
                let chunk =
                    match tokio::time::timeout(Duration::from_secs(20), body.next_chunk()).await {
                        Ok(Some(c)) => c.expect("GetMedia body"),
                        Ok(None) | Err(_) => break,
                    };
                let at = Instant::now();
                raw.push(&chunk);
                while let Some(ev) = raw.next_event().expect("GetMedia MKV") {
                    if let Event::Frame(f) = ev {
                        seen_raw.push((f.timecode, at));
                    }
                }
                if let Some(p) = &mut pipe {
                    p.push(&chunk).expect("pipeline");
                }
            }
            seen_raw
        });
        let sent = self
            .put(
                &stream,
                mode,
                Source::Events(synthetic(LIVE_FRAMES, frame_4mbps)),
                Some(Duration::from_micros(1_000_000 / FPS)),
            )
            .await;
        let seen_raw = reader.await.unwrap();
        let seen_out = match mode {
            Mode::Encrypted(_) => seen_out.lock().unwrap().clone(),
            Mode::Plaintext | Mode::PlaintextProducer => seen_raw.clone(),
        };
        let lat = |seen: &[(u64, Instant)]| -> Vec<f64> {
            let v: Vec<f64> = sent
                .handed
                .iter()
                .filter_map(|(tc, t)| {
                    let (_, at) = seen.iter().find(|(s, _)| s == tc)?;
                    Some(at.duration_since(*t).as_secs_f64() * 1e3)
                })
                .collect();
            assert_eq!(v.len(), LIVE_FRAMES, "{mode:?}: frames missing");
            v
        };
        (lat(&seen_raw), lat(&seen_out))
    }

    async fn producer(&self, clip: &Path) {
        println!(
            "\n## producer: {} s 1080p 4 Mbps clip, unpaced, encrypted (each frame cipher) vs plaintext",
            CLIP_SECONDS * LONG_LOOPS
        );
        let modes = [
            Mode::Plaintext,
            Mode::PlaintextProducer,
            Mode::Encrypted(FrameCipher::Aes256Gcm),
            Mode::Encrypted(FrameCipher::ChaCha20Poly1305),
        ];
        println!(
            "  this CPU's `--frame-cipher auto`: {}",
            FrameCipher::fastest_here()
        );
        let mut cpu: [Vec<f64>; 4] = Default::default();
        let mut wall: [Vec<f64>; 4] = Default::default();
        let mut first: [Vec<f64>; 4] = Default::default();
        let mut pcpu: [Vec<f64>; 4] = Default::default();
        for _ in 0..PRODUCER_ROUNDS {
            for (i, mode) in modes.into_iter().enumerate() {
                let stream = self.new_stream().await;
                let s = self
                    .put(&stream, mode, Source::Clip(clip.to_owned()), None)
                    .await;
                let f = s.first_persisted.expect("a PERSISTED ack").as_secs_f64() * 1e3;
                println!(
                    "  {mode:?}: {} bytes, {} persisted, wall {:.3} s, client CPU {:.3} s, process CPU {:.3} s, first PERSISTED {f:.1} ms",
                    s.bytes,
                    s.persisted,
                    s.wall.as_secs_f64(),
                    s.cpu.as_secs_f64(),
                    s.process_cpu.as_secs_f64()
                );
                pcpu[i].push(s.process_cpu.as_secs_f64());
                cpu[i].push(s.cpu.as_secs_f64());
                wall[i].push(s.wall.as_secs_f64());
                first[i].push(f);
            }
        }
        // Each round runs every mode back to back on the same clip; the ratio within a
        // round cancels what drifts between rounds (page cache, the other core's load).
        // Computed before the medians below sort the samples.
        let least = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        for (i, mode) in modes.into_iter().enumerate().skip(2) {
            let mut paired: Vec<f64> = cpu[i].iter().zip(&cpu[1]).map(|(e, p)| e / p).collect();
            let rounds = format!("{paired:.3?}");
            println!(
                "  {mode:?} vs PlaintextProducer, client CPU: per-round ratios {rounds}, median {:.3}; least CPU of each {:.3} s vs {:.3} s, ratio {:.3}",
                median(&mut paired),
                least(&cpu[i]),
                least(&cpu[1]),
                least(&cpu[i]) / least(&cpu[1])
            );
        }
        let (c0, p0, w0) = (
            median(&mut cpu[0]),
            median(&mut pcpu[0]),
            median(&mut wall[0]),
        );
        let (c1, p1, w1) = (
            median(&mut cpu[1]),
            median(&mut pcpu[1]),
            median(&mut wall[1]),
        );
        println!(
            "  median Plaintext: client CPU {c0:.3} s, process CPU (client + kvs-local) {p0:.3} s, wall {w0:.3} s, first PERSISTED {:.1} ms",
            median(&mut first[0])
        );
        println!(
            "  median PlaintextProducer: client CPU {c1:.3} s, process CPU {p1:.3} s, wall {w1:.3} s, first PERSISTED {:.1} ms",
            median(&mut first[1])
        );
        for (i, mode) in modes.into_iter().enumerate().skip(2) {
            let (c, p, w) = (
                median(&mut cpu[i]),
                median(&mut pcpu[i]),
                median(&mut wall[i]),
            );
            println!(
                "  median {mode:?}: client CPU {c:.3} s (vs PlaintextProducer {:.3}, vs Plaintext {:.3}), process CPU {p:.3} s ({:.3}, {:.3}), wall {w:.3} s ({:.3}, {:.3}; throughput {:.3}, {:.3}), first PERSISTED {:.1} ms",
                c / c1,
                c / c0,
                p / p1,
                p / p0,
                w / w1,
                w / w0,
                w1 / w,
                w0 / w,
                median(&mut first[i])
            );
        }
    }

    fn rss(&self, clips: &Clips, rt: &tokio::runtime::Runtime) {
        let bin = release_bin("kvs-e2ee-producer");
        println!("\n## rss: {} under /usr/bin/time -v", bin.display());
        let dir = self.work.join("rss-keys");
        std::fs::create_dir_all(&dir).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        let camera = Identity::generate(KeyKind::Camera, &mut rng);
        let viewer = Identity::generate(KeyKind::Viewer, &mut rng);
        camera.save_new(&dir.join("camera.key")).unwrap();
        std::fs::write(
            dir.join("recipients.txt"),
            format!("{} viewer\n", viewer.public_text()),
        )
        .unwrap();
        let cases = [
            ("live: ffmpeg -re | --source -", true, &clips.short),
            ("file, unpaced", false, &clips.long),
        ];
        for (what, live, clip) in cases {
            for buffer in ["60MB", "8MB"] {
                let (mut rss, mut first) = (Vec::new(), Vec::new());
                for _ in 0..RSS_ROUNDS {
                    let stream = rt.block_on(self.new_stream());
                    let r = self.run_producer(&bin, &dir, &stream, buffer, clip, live);
                    println!(
                        "  {what} {}, --buffer-size {buffer}: peak RSS {:.1} MiB, first PERSISTED {:.0} ms after spawn, run {:.2} s, exit {}, {} fragments dropped",
                        clip.file_name().unwrap().to_string_lossy(),
                        r.rss_mib,
                        r.first_ms,
                        r.run_s,
                        r.exit,
                        r.dropped
                    );
                    rss.push(r.rss_mib);
                    first.push(r.first_ms);
                }
                println!(
                    "  {what}, --buffer-size {buffer}: median peak RSS {:.1} MiB, median first PERSISTED {:.0} ms",
                    median(&mut rss),
                    median(&mut first)
                );
            }
        }
    }

    /// Runs the release producer binary on `clip` (piped through `ffmpeg -re` when
    /// `live`, so frames arrive in real time as from a camera).
    fn run_producer(
        &self,
        bin: &Path,
        dir: &Path,
        stream: &str,
        buffer: &str,
        clip: &Path,
        live: bool,
    ) -> ProducerRun {
        let creds = self.server.admin_credentials();
        let mut feeder = live.then(|| {
            Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-re", "-i"])
                .arg(clip)
                .args([
                    "-c",
                    "copy",
                    "-cluster_time_limit",
                    "100",
                    "-f",
                    "matroska",
                    "-",
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("ffmpeg")
        });
        let mut cmd = Command::new("/usr/bin/time");
        cmd.arg("-v").arg(bin);
        cmd.args(["--stream", stream, "--buffer-size", buffer]);
        cmd.arg("--identity").arg(dir.join("camera.key"));
        cmd.arg("--recipients").arg(dir.join("recipients.txt"));
        match &mut feeder {
            Some(f) => {
                cmd.args(["--source", "-"]);
                cmd.stdin(Stdio::from(f.stdout.take().unwrap()));
            }
            None => {
                cmd.arg("--source").arg(clip);
            }
        }
        cmd.args(["--endpoint-url", self.server.control_url()]);
        cmd.args(["--region", self.server.region()]);
        cmd.env("AWS_ACCESS_KEY_ID", creds.access_key_id());
        cmd.env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key());
        cmd.env_remove("AWS_SESSION_TOKEN");
        cmd.env("AWS_CONFIG_FILE", dir.join("no-config"));
        cmd.env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"));
        cmd.env("RUST_LOG", "kvs_e2ee_producer=debug")
            .env("NO_COLOR", "1");
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let t0 = Instant::now();
        let mut child = cmd.spawn().expect("spawn /usr/bin/time");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (mut first_ms, mut kbytes, mut dropped) = (None, None, 0u64);
        for line in stderr.lines() {
            let line = line.unwrap();
            if first_ms.is_none() && line.contains("fragment persisted") {
                first_ms = Some(t0.elapsed().as_secs_f64() * 1e3);
            }
            // The binary's error when the full buffer dropped fragments (exit 4).
            if let Some(i) = line.find(" fragments were dropped") {
                let n = line[..i].rsplit(|c: char| !c.is_ascii_digit()).next();
                dropped = n.and_then(|n| n.parse().ok()).unwrap_or(dropped);
            }
            if let Some(v) = line
                .trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
            {
                kbytes = v.trim().parse::<f64>().ok();
            }
        }
        let status = child.wait().unwrap();
        let run_s = t0.elapsed().as_secs_f64();
        if let Some(mut f) = feeder {
            f.wait().unwrap();
        }
        // Unpaced input can outrun the uplink: a full buffer drops whole fragments and the
        // binary exits 4 (incomplete). Anything else is a failure of the bench.
        assert!(
            status.success() || (!live && status.code() == Some(4)),
            "producer failed: {status}"
        );
        ProducerRun {
            exit: status.code().unwrap_or(-1),
            rss_mib: kbytes.expect("time -v output") / 1024.0,
            first_ms: first_ms.expect("a 'fragment persisted' line"),
            run_s,
            dropped,
        }
    }
}

struct ProducerRun {
    rss_mib: f64,
    first_ms: f64,
    run_s: f64,
    exit: i32,
    dropped: u64,
}

/// The generated clips: `short` is CLIP_SECONDS of 1080p 4 Mbps H.264, `long` the same
/// looped LONG_LOOPS times (stream copy, so it costs no encoding).
struct Clips {
    short: PathBuf,
    long: PathBuf,
}

/// The producer side of one session: the real packager, or the same frames as plain
/// Matroska cut at the same key frames.
enum Packer {
    Encrypted {
        packager: Box<Packager<StdRng>>,
        header_sent: bool,
        open_sent: usize,
    },
    Plaintext {
        muxer: Muxer,
        buf: BytesMut,
        cluster_start: Option<i64>,
    },
    PlaintextProducer {
        muxer: Muxer,
        header: BytesMut,
        open: Option<(i64, BytesMut)>,
        open_sent: usize,
    },
}

impl Packer {
    fn new(mode: Mode, keys: &Keys, stream: &str) -> Self {
        match mode {
            Mode::Encrypted(cipher) => Self::Encrypted {
                packager: Box::new(
                    Packager::new(
                        stream.to_owned(),
                        keys.camera.clone(),
                        vec![keys.viewer.public_key()],
                        FRAGMENT_MS,
                        StdRng::seed_from_u64(8),
                    )
                    .with_frame_cipher(cipher),
                ),
                header_sent: false,
                open_sent: 0,
            },
            Mode::Plaintext => Self::Plaintext {
                muxer: Muxer::new(MuxerConfig::default()),
                buf: BytesMut::new(),
                cluster_start: None,
            },
            Mode::PlaintextProducer => Self::PlaintextProducer {
                muxer: Muxer::new(MuxerConfig::default()),
                header: BytesMut::new(),
                open: None,
                open_sent: 0,
            },
        }
    }

    /// Packages one event; the bytes to send now go to `out` (as the engine's `send_open`).
    fn push(&mut self, ev: SourceEvent, out: &mut Vec<Bytes>) {
        match self {
            Self::Encrypted {
                packager,
                header_sent,
                open_sent,
            } => {
                let closed = packager.push(ev).unwrap();
                if !*header_sent && let Some((_, h)) = packager.header() {
                    out.push(h.clone());
                    *header_sent = true;
                }
                for c in closed {
                    out.push(c.bytes.slice((*open_sent).min(c.bytes.len())..));
                    *open_sent = 0;
                }
                if let Some(open) = packager.open()
                    && open.bytes.len() > *open_sent
                {
                    out.push(Bytes::copy_from_slice(&open.bytes[*open_sent..]));
                    *open_sent = open.bytes.len();
                }
            }
            Self::Plaintext {
                muxer,
                buf,
                cluster_start,
            } => {
                match ev {
                    SourceEvent::Tracks(tracks) => {
                        let entries: Vec<_> = tracks.iter().map(plain_entry).collect();
                        muxer.write_header(buf, &entries).unwrap();
                    }
                    SourceEvent::Frame(f) => {
                        let t = f.timecode_ms;
                        if f.keyframe && cluster_start.is_none_or(|s| t - s >= FRAGMENT_MS) {
                            muxer.start_cluster(buf, t as u64).unwrap();
                            *cluster_start = Some(t);
                        }
                        if cluster_start.is_some() {
                            muxer
                                .write_frame(buf, f.track, t as u64, f.keyframe, &f.data)
                                .unwrap();
                        }
                    }
                }
                if !buf.is_empty() {
                    out.push(buf.split().freeze());
                }
            }
            Self::PlaintextProducer {
                muxer,
                header,
                open,
                open_sent,
            } => match ev {
                SourceEvent::Tracks(tracks) => {
                    let entries: Vec<_> = tracks.iter().map(plain_entry).collect();
                    muxer.write_header(header, &entries).unwrap();
                    out.push(header.split().freeze());
                }
                SourceEvent::Frame(f) => {
                    let t = f.timecode_ms;
                    if f.keyframe && open.as_ref().is_none_or(|(s, _)| t - s >= FRAGMENT_MS) {
                        if let Some((_, closed)) = open.take() {
                            let closed = closed.freeze();
                            out.push(closed.slice((*open_sent).min(closed.len())..));
                            *open_sent = 0;
                        }
                        let mut bytes = BytesMut::new();
                        muxer.start_cluster(&mut bytes, t as u64).unwrap();
                        *open = Some((t, bytes));
                    }
                    if let Some((_, bytes)) = open.as_mut() {
                        muxer
                            .write_frame(bytes, f.track, t as u64, f.keyframe, &f.data)
                            .unwrap();
                        if bytes.len() > *open_sent {
                            out.push(Bytes::copy_from_slice(&bytes[*open_sent..]));
                            *open_sent = bytes.len();
                        }
                    }
                }
            },
        }
    }

    fn finish(&mut self, out: &mut Vec<Bytes>) {
        if let Self::Encrypted {
            packager,
            open_sent,
            ..
        } = self
            && let Some(last) = packager.finish().unwrap()
        {
            out.push(last.bytes.slice((*open_sent).min(last.bytes.len())..));
        }
    }
}

fn plain_entry(t: &TrackInfo) -> TrackEntry {
    let kind = if t.is_video() {
        TrackType::Video
    } else {
        TrackType::Audio
    };
    let mut e = TrackEntry::new(t.number, t.number.max(1), kind, t.codec_id.clone())
        .with_codec_private(t.codec_private.clone());
    if let Some((w, h)) = t.video {
        e = e.with_video(u64::from(w), u64::from(h));
    }
    e
}

/// A 4 Mbps 1080p stream averages ~16 KiB a frame; key frames (one a second) are larger.
fn frame_4mbps(i: usize) -> usize {
    if i.is_multiple_of(FPS as usize) {
        96 << 10
    } else {
        16 << 10
    }
}

/// One H.264 track and `n` frames at 30 fps starting now (key frame every second).
fn synthetic(n: usize, len: impl Fn(usize) -> usize) -> Vec<SourceEvent> {
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut events = vec![SourceEvent::Tracks(vec![TrackInfo {
        number: 1,
        codec_id: CODEC_ID_H264.into(),
        codec_private: vec![
            1, 0x64, 0, 0x28, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x28, 1, 0, 2, 0x68, 0xee,
        ],
        video: Some((1920, 1080)),
        audio: None,
    }])];
    events.extend((0..n).map(|i| {
        SourceEvent::Frame(MediaFrame {
            track: 1,
            timecode_ms: start + (i as i64) * 1000 / FPS as i64,
            keyframe: i % FPS as usize == 0,
            data: BytesMut::from(&vec![(i % 251) as u8; len(i)][..]),
        })
    }));
    events
}

/// Where a session's frames come from.
enum Source {
    /// Made in memory beforehand.
    Events(Vec<SourceEvent>),
    /// Read from a Matroska file by the producer's own source, as the binary does.
    Clip(PathBuf),
}

impl Source {
    /// A task feeding a bounded channel, as the producer's source pump does; on a
    /// current-thread runtime it runs on the caller's thread (its CPU time is counted).
    fn pump(self) -> tokio::sync::mpsc::Receiver<SourceEvent> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            match self {
                Self::Events(events) => {
                    for ev in events {
                        if tx.send(ev).await.is_err() {
                            return;
                        }
                    }
                }
                Self::Clip(path) => {
                    let file = tokio::fs::File::open(&path).await.unwrap();
                    let mut reader = MediaReader::mkv(path.display().to_string(), Box::new(file));
                    while let Some(ev) = reader.next_event().await.unwrap() {
                        if tx.send(ev).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        rx
    }
}

/// 1080p H.264 at 4 Mbps, key frame every second, made with ffmpeg; and a long copy.
fn make_clips(dir: &Path) -> Clips {
    let short = dir.join("clip-1080p-4M.mkv");
    let long = dir.join("clip-1080p-4M-long.mkv");
    let ffmpeg = |args: &[&str], out: &Path| {
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .arg(out)
            .status()
            .expect("ffmpeg");
        assert!(status.success(), "ffmpeg failed");
        println!(
            "clip: {} ({} bytes)",
            out.display(),
            std::fs::metadata(out).unwrap().len()
        );
    };
    let src = format!("testsrc2=size=1920x1080:rate=30:duration={CLIP_SECONDS}");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            &src,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "4M",
            "-maxrate",
            "4M",
            "-bufsize",
            "8M",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
        ],
        &short,
    );
    let loops = (LONG_LOOPS - 1).to_string();
    let short_s = short.to_string_lossy().into_owned();
    ffmpeg(
        &["-stream_loop", &loops, "-i", &short_s, "-c", "copy"],
        &long,
    );
    Clips { short, long }
}

/// `target/release/NAME`, next to this bench's `target/release/deps/`.
fn release_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/release/deps/")
        .join(name);
    assert!(
        bin.exists(),
        "{} missing: cargo build --release -p kvs-e2ee-producer",
        bin.display()
    );
    bin
}

/// Collects the timecode and time of every frame the pipeline writes.
struct Probe {
    demuxer: Demuxer,
    seen: Arc<Mutex<Vec<(u64, Instant)>>>,
}

impl Probe {
    fn new(seen: Arc<Mutex<Vec<(u64, Instant)>>>) -> Self {
        Self {
            demuxer: Demuxer::new(),
            seen,
        }
    }
}

impl Write for Probe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let at = Instant::now();
        self.demuxer.push(buf);
        while let Some(ev) = self.demuxer.next_event().map_err(std::io::Error::other)? {
            if let Event::Frame(f) = ev {
                self.seen.lock().unwrap().push((f.timecode, at));
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// CPU time (user + system) of the calling thread, from `/proc/thread-self/stat`.
/// This thread's CPU time, to the nanosecond: the first field of `schedstat` (time spent
/// on the CPU; proc(5)), where `stat`'s user + system ticks have only 10 ms resolution.
fn thread_cpu() -> Duration {
    match std::fs::read_to_string("/proc/thread-self/schedstat") {
        Ok(s) => Duration::from_nanos(
            s.split(' ')
                .next()
                .and_then(|ns| ns.parse().ok())
                .expect("schedstat starts with the on-CPU nanoseconds"),
        ),
        Err(_) => cpu_ticks("/proc/thread-self/stat"),
    }
}

/// User + system CPU time from a proc(5) `stat` file.
fn cpu_ticks(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of proc(5), counted from `state` (field 3); USER_HZ is 100.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((p / 100.0) * (s.len() - 1) as f64).round() as usize;
    s[i]
}
