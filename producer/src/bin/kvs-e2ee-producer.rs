//! `kvs-e2ee-producer`: thin binary over the library — logging, flags,
//! validation. The streaming engine is wired in by a later change; until then
//! the binary validates its configuration, prints it and exits with
//! [`EXIT_ENGINE_NOT_WIRED`] so no script mistakes it for a working camera.

use std::process::ExitCode;

use clap::Parser;
use kvs_e2ee_producer::cli::Cli;
use kvs_e2ee_producer::config::Config;
use tracing_subscriber::EnvFilter;

/// Exit status for a configuration error (as clap uses for usage errors).
const EXIT_CONFIG: u8 = 2;
/// Exit status while the engine is not wired into the binary.
const EXIT_ENGINE_NOT_WIRED: u8 = 3;

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
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    eprintln!("configuration is valid:\n{config}");
    eprintln!("error: the streaming engine is not wired into this build yet; nothing was sent");
    ExitCode::from(EXIT_ENGINE_NOT_WIRED)
}
