//! `kvs-e2ee-producer`: thin binary over the library — logging, flags,
//! validation, then [`kvs_e2ee_producer::run::run`]; its error picks the exit
//! status (see the `EXIT_*` constants in `kvs_e2ee_producer::run`).

use std::process::ExitCode;

use clap::Parser;
use kvs_e2ee_producer::config::Config;

mod args;
mod cli;

use cli::Cli;
use kvs_e2ee_producer::run::{EXIT_SETUP, run};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = match Config::try_from(cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    tracing::debug!("configuration:\n{config}");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(config));
    // A stdin source may still be blocked in a read on a runtime thread after a
    // stop signal; do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(stats) => {
            eprintln!(
                "done: {} fragments persisted ({} bytes sent, {} reconnects)",
                stats.fragments_persisted, stats.bytes_sent, stats.reconnects
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
