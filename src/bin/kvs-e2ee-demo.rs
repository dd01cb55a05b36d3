//! `kvs-e2ee-demo`: the whole product on one machine (see the `kvs_e2ee::demo` module).
//! `cargo run --release --bin kvs-e2ee-demo [-- OUTPUT.mkv]`; the decrypted clip goes to
//! `demo-output.mkv` by default.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use kvs_e2ee::demo::{self, DemoOptions};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let output = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("demo-output.mkv"), PathBuf::from);
    let work = tempfile::Builder::new()
        .prefix("kvs-e2ee-demo-")
        .tempdir()
        .context("creating a temporary folder")?;
    println!("kvs-e2ee demo: camera → kvs-local (KVS + AWS IoT on this machine) → viewer");
    println!("working in {} (removed at the end)", work.path().display());
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = runtime.block_on(demo::run(DemoOptions {
        work_dir: work.path().to_owned(),
        output,
    }))?;
    println!("{report}");
    Ok(())
}
