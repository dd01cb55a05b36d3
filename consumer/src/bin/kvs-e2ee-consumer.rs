//! `kvs-e2ee-consumer`: reads a Kinesis Video Stream, verifies and decrypts every frame
//! locally, and writes a playable MKV. Thin: parses the command line into a validated
//! [`Config`], calls [`run`] and maps the outcome to the exit code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::Parser;
use kvs_e2ee_aws::config::{ConfigOptions, CredentialSource};
use kvs_e2ee_consumer::{Config, Mode, OutputTarget, Start, run};
use kvs_e2ee_keys::{Identity, KeyKind, KeyList};

/// Exit code: something read did not verify (or the read stopped at a failure).
const EXIT_NOT_VERIFIED: u8 = 1;
/// Exit code: the read could not start or the connection failed.
const EXIT_ERROR: u8 = 2;

/// Read a kvs-e2ee stream from Kinesis Video Streams, verify and decrypt it locally.
#[derive(Parser, Debug)]
#[command(name = "kvs-e2ee-consumer", version, about)]
struct Cli {
    /// KVS stream name.
    #[arg(long)]
    stream: String,
    /// The viewer identity file (all generations are tried).
    #[arg(long, required_unless_present = "inspect")]
    identity: Option<PathBuf>,
    /// The trusted-cameras file.
    #[arg(long, required_unless_present = "inspect")]
    trust: Option<PathBuf>,
    /// Live start: now | earliest | fragment:N | producer-time:T | server-time:T
    /// (T: RFC 3339 or epoch seconds).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    start: Option<String>,
    /// Export a stored range from this producer time (RFC 3339 or epoch seconds).
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// End of the stored range.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// Stop a live read once it has caught up with the newest fragment.
    #[arg(long, conflicts_with = "from")]
    until_current: bool,
    /// Stop a live read after this long (e.g. 30s, 5m, 1h).
    #[arg(long, value_parser = kvs_e2ee_aws::settings::parse_duration)]
    max_duration: Option<Duration>,
    /// Output MKV file, or - for standard output.
    #[arg(short = 'o', long, default_value = "-")]
    output: String,
    /// Skip a fragment that fails verification, report it and continue.
    #[arg(long)]
    keep_going: bool,
    /// Show what the cloud sees of each fragment, without decrypting.
    #[arg(long)]
    inspect: bool,
    /// Decode and show the stream in a window (autovideosink; audio to autoaudiosink)
    /// instead of writing MKV. Needs a build with `--features gstreamer`.
    #[arg(long, conflicts_with_all = ["inspect", "output"])]
    play: bool,
    /// KVS endpoint (e.g. kvs-local's http://127.0.0.1:PORT).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// CA certificate(s) to trust for the KVS endpoints besides the system roots (PEM),
    /// e.g. kvs-local's DATA_DIR/ca.pem for its HTTPS listener. Default: AWS_CA_BUNDLE.
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<std::path::PathBuf>,
    /// AWS region.
    #[arg(long)]
    region: Option<String>,
    /// Named AWS profile for credentials (default: the standard chain).
    #[arg(long, conflicts_with = "iot_endpoint")]
    profile: Option<String>,
    /// AWS IoT credentials endpoint, for a device that views with its certificate. All of
    /// the IoT settings but the thing name go together; a partial set is an error naming
    /// what is missing (the camera's rule).
    #[arg(long, env = "AWS_IOT_CORE_CREDENTIAL_ENDPOINT", value_name = "HOST")]
    iot_endpoint: Option<String>,
    /// IoT role alias.
    #[arg(long, env = "AWS_IOT_CORE_ROLE_ALIAS", value_name = "ALIAS")]
    iot_role_alias: Option<String>,
    /// IoT thing name (default: the stream name).
    #[arg(long, env = "AWS_IOT_CORE_THING_NAME", value_name = "NAME")]
    iot_thing_name: Option<String>,
    /// Device certificate (PEM).
    #[arg(long, env = "AWS_IOT_CORE_CERT", value_name = "FILE")]
    iot_cert: Option<PathBuf>,
    /// Device private key (PEM).
    #[arg(long, env = "AWS_IOT_CORE_PRIVATE_KEY", value_name = "FILE")]
    iot_key: Option<PathBuf>,
    /// Root CA of the IoT endpoint (PEM; for AWS, Amazon Root CA 1): the only CA trusted.
    #[arg(long, env = "AWS_IOT_CORE_CA", value_name = "FILE")]
    iot_ca: Option<PathBuf>,
}

impl Cli {
    fn credentials(&self) -> anyhow::Result<CredentialSource> {
        let iot = kvs_e2ee_aws::iot::IotSettings {
            endpoint: self.iot_endpoint.clone(),
            role_alias: self.iot_role_alias.clone(),
            thing_name: self.iot_thing_name.clone(),
            cert: self.iot_cert.clone(),
            key: self.iot_key.clone(),
            ca: self.iot_ca.clone(),
        };
        Ok(match iot.resolve(&self.stream)? {
            Some(config) => CredentialSource::Iot(config),
            None => match &self.profile {
                Some(p) => CredentialSource::Profile(p.clone()),
                None => CredentialSource::DefaultChain,
            },
        })
    }
}

/// What a command line asks for: the read and where its MKV goes.
struct Viewer {
    config: Config,
    output: OutputTarget,
}

impl TryFrom<Cli> for Viewer {
    type Error = anyhow::Error;

    fn try_from(cli: Cli) -> anyhow::Result<Self> {
        // The checks every front end shares, under this binary's flag names.
        use kvs_e2ee_aws::settings;
        settings::stream_name(&cli.stream).map_err(|e| anyhow::anyhow!("--stream {}", e.reason))?;
        if let Some(region) = &cli.region {
            settings::region(region).map_err(|e| anyhow::anyhow!("--region {}", e.reason))?;
        }
        settings::endpoint_url(cli.endpoint_url.as_deref())
            .map_err(|e| anyhow::anyhow!("--endpoint-url {}", e.reason))?;
        let mode = match (&cli.from, &cli.to) {
            (Some(from), Some(to)) => {
                let (from, to) = (parse_time(from)?, parse_time(to)?);
                if to < from {
                    bail!("--to is before --from");
                }
                Mode::Archive { from, to }
            }
            _ => Mode::Live {
                start: parse_start(cli.start.as_deref().unwrap_or("now"))?,
                until_current: cli.until_current,
            },
        };
        let output = if cli.output == "-" {
            if !cli.inspect && !cli.play && std::io::stdout().is_terminal() {
                bail!("refusing to write MKV to a terminal: pass -o FILE, or pipe into a player");
            }
            OutputTarget::Stdout
        } else {
            OutputTarget::File(PathBuf::from(&cli.output))
        };
        let (identities, trusted_cameras) = match (&cli.identity, &cli.trust) {
            (Some(identity), Some(trust)) => {
                let id = Identity::load_kind(identity, KeyKind::Viewer)?;
                let list = KeyList::load(trust, KeyKind::Camera)?;
                if list.is_empty() {
                    bail!("{} lists no camera: nothing would verify", trust.display());
                }
                (
                    id.secrets().cloned().collect(),
                    list.keys().copied().collect(),
                )
            }
            _ => (Vec::new(), Vec::new()),
        };
        let credentials = cli.credentials()?;
        Ok(Viewer {
            output,
            config: Config {
                stream: cli.stream,
                identities,
                trusted_cameras,
                mode,
                max_duration: cli.max_duration,
                keep_going: cli.keep_going,
                inspect: cli.inspect,
                client: ConfigOptions {
                    credentials,
                    region: cli.region,
                    endpoint_url: cli.endpoint_url,
                    ca_bundle: cli.ca_bundle,
                    ..ConfigOptions::default()
                },
                catch_up_idle: kvs_e2ee_consumer::run::DEFAULT_CATCH_UP_IDLE,
                // Terminals and signals are the binary's: set in `main`.
                progress: None,
                stop: None,
            },
        })
    }
}

/// An archive export's progress on standard error, when it is a terminal.
fn progress_bar() -> kvs_e2ee_consumer::run::ProgressFn {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    std::sync::Arc::new(move |p: kvs_e2ee_consumer::run::Progress| {
        bar.set_length(p.total);
        bar.set_position(p.bytes);
        if p.bytes >= p.total {
            bar.finish_and_clear();
        }
    })
}

/// A stop signal cancelled by Ctrl-C: the read ends and keeps what was verified.
fn stop_on_ctrl_c() -> tokio_util::sync::CancellationToken {
    let stop = tokio_util::sync::CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    stop
}

fn parse_start(s: &str) -> anyhow::Result<Start> {
    s.parse::<Start>().map_err(|e| anyhow::anyhow!("--{e}"))
}

fn parse_time(s: &str) -> anyhow::Result<SystemTime> {
    kvs_e2ee_consumer::run::parse_time(s)
        .with_context(|| format!("time {s:?}: expected RFC 3339 or epoch seconds"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let play = cli.play;
    if play && !cfg!(feature = "gstreamer") {
        eprintln!(
            "error: --play needs GStreamer: this kvs-e2ee-consumer was built without it; \
             build it with `cargo build -p kvs-e2ee-consumer --features gstreamer`"
        );
        return ExitCode::from(EXIT_ERROR);
    }
    let Viewer { mut config, output } = match Viewer::try_from(cli) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {}", kvs_e2ee_aws::error::report(e.as_ref()));
            return ExitCode::from(EXIT_ERROR);
        }
    };
    config.progress = Some(progress_bar());
    config.stop = Some(stop_on_ctrl_c());
    let outcome = if play {
        run_play(config).await
    } else {
        run(config, &output).await.map_err(anyhow::Error::from)
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {}", kvs_e2ee_aws::error::report(e.as_ref()));
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let read_something = outcome.summary.fragments_verified > 0
        || outcome.summary.duplicates_dropped > 0
        || !outcome.summary.failures.is_empty();
    if let Some(n) = outcome.inspected {
        eprintln!("{n} fragments listed (nothing decrypted)");
    } else if read_something || outcome.stopped.is_none() {
        eprintln!("{}", outcome.summary);
    }
    match &outcome.stopped {
        None => {}
        // The player closed the pipe: a clean exit, judged on what was verified.
        Some(e) if e.is_broken_pipe() => {}
        Some(e) => {
            let failure = match e {
                kvs_e2ee_consumer::RunError::Pipeline(p) => p.verification_failure(),
                _ => None,
            };
            if let Some(f) = failure {
                eprintln!("error: stopped at {f} (--keep-going skips bad fragments)");
                return ExitCode::from(EXIT_NOT_VERIFIED);
            }
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    }
    if outcome.inspected.is_some() || outcome.summary.all_verified() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NOT_VERIFIED)
    }
}

/// `--play`: the verified MKV into a GStreamer playback pipeline, which then
/// plays out what is queued.
#[cfg(feature = "gstreamer")]
async fn run_play(config: Config) -> anyhow::Result<kvs_e2ee_consumer::Outcome> {
    use kvs_e2ee_consumer::play::{PlayOptions, Player};
    let player = Player::new(&PlayOptions::from_env())?;
    let outcome = kvs_e2ee_consumer::run_with_output(config, Box::new(player.writer())).await?;
    let frames = tokio::task::spawn_blocking(move || player.finish()).await??;
    eprintln!("played {frames} video frames");
    Ok(outcome)
}

#[cfg(not(feature = "gstreamer"))]
async fn run_play(_: Config) -> anyhow::Result<kvs_e2ee_consumer::Outcome> {
    bail!("--play needs a build with `--features gstreamer`")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn start_selectors_parse() {
        assert_eq!(parse_start("now").unwrap(), Start::Now);
        assert_eq!(parse_start("earliest").unwrap(), Start::Earliest);
        assert_eq!(
            parse_start("fragment:91343852333181432397633822764885441725874549018").unwrap(),
            Start::Fragment("91343852333181432397633822764885441725874549018".into())
        );
        assert_eq!(
            parse_start("producer-time:1700000000.5").unwrap(),
            Start::ProducerTime(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500))
        );
        assert_eq!(
            parse_start("server-time:2023-11-14T22:13:20Z").unwrap(),
            Start::ServerTime(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        for bad in [
            "",
            "fragment:",
            "fragment:12a",
            "later",
            "producer-time:soon",
        ] {
            assert!(parse_start(bad).is_err(), "{bad}");
        }
    }
}
