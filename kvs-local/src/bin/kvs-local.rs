//! `kvs-local`: run the local KVS + IoT credentials stand-in, or provision a camera.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use kvs_local::iot::KeyType;
use kvs_local::{Config, Server};

const AFTER_HELP: &str = "\
Data dir layout:
  credentials          admin keys, AWS shared-credentials format, profile kvs-local (0600)
  config               region for profile kvs-local
  kvs-local.json       optional users / role aliases (or pass --config)
  endpoints.json       URLs of the running server
  ca.pem               CA of the --tls-listen certificate (pin it: AWS_KVS_CACERT_PATH)
  streams/NAME@MS/     one folder per stream: stream.json, fragments/NUMBER.mkv (each
                       fragment a plain MKV file) and fragments/index.jsonl
  iot/                 CA (ca.pem, ca-key.pem) and registered device certificates

Use with the AWS CLI:
  AWS_SHARED_CREDENTIALS_FILE=DIR/credentials AWS_PROFILE=kvs-local \\
    aws --endpoint-url http://127.0.0.1:PORT kinesisvideo list-streams

Provision a camera (then point it at the printed IoT endpoint):
  kvs-local iot provision --data-dir DIR --thing cam1 --out cam1/

Fault injection: POST /_kvs-local/faults (SigV4, admin); see docs/KVS-LOCAL.md.";

/// A local, faithful stand-in for Amazon Kinesis Video Streams and the AWS IoT credentials
/// provider.
#[derive(Debug, Parser)]
#[command(name = "kvs-local", version, after_help = AFTER_HELP)]
struct Cli {
    /// Control/data-plane listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", global = true)]
    listen: SocketAddr,
    /// IoT credentials endpoint (HTTPS, mutual TLS) listen address.
    #[arg(long, default_value = "127.0.0.1:0", global = true)]
    iot_listen: SocketAddr,
    /// Do not serve the IoT credentials endpoint.
    #[arg(long)]
    no_iot: bool,
    /// Also serve the control and data planes over HTTPS here (port 0 picks a free port),
    /// with a certificate from the data dir's CA (written to DATA_DIR/ca.pem) unless
    /// --tls-cert/--tls-key give one. AWS's producer SDK samples need it.
    #[arg(long)]
    tls_listen: Option<SocketAddr>,
    /// The HTTPS listener's certificate chain (PEM, leaf first).
    #[arg(long, requires = "tls_key", requires = "tls_listen")]
    tls_cert: Option<PathBuf>,
    /// The HTTPS listener's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Write every PutMedia connection's raw body to DIR/STREAM-CONNECTION.mkv (what the
    /// producer sent, byte for byte).
    #[arg(long, value_name = "DIR")]
    capture_put_media: Option<PathBuf>,
    /// Data directory (created if missing).
    #[arg(
        long,
        default_value = "kvs-local-data",
        env = "KVS_LOCAL_DATA_DIR",
        global = true
    )]
    data_dir: PathBuf,
    /// Region used in ARNs and SigV4 scopes.
    #[arg(long, default_value = kvs_local::config::DEFAULT_REGION)]
    region: String,
    /// Account id used in ARNs.
    #[arg(long, default_value = kvs_local::config::DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// JSON file with further users and role aliases (default: DATA_DIR/kvs-local.json).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Lifetime of IoT-issued credentials in seconds, overriding every role alias.
    #[arg(long)]
    iot_credential_duration: Option<u64>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// AWS IoT operations.
    Iot {
        #[command(subcommand)]
        command: IotCommand,
    },
}

#[derive(Debug, Subcommand)]
enum IotCommand {
    /// Create a device certificate and key signed by kvs-local's CA, attach it to a thing,
    /// and write what a camera needs (certificate, key, CA, endpoint, role alias).
    Provision {
        /// Thing name (the camera's stream name under the default role policy).
        #[arg(long)]
        thing: String,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Key algorithm.
        #[arg(long, value_enum, default_value_t = KeyTypeArg::Ec)]
        key_type: KeyTypeArg,
        /// Role alias to write (default: the first configured, KvsCameraIoTRoleAlias).
        #[arg(long)]
        role_alias: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KeyTypeArg {
    /// ECDSA P-256.
    Ec,
    /// RSA 2048.
    Rsa,
}

impl TryFrom<&Cli> for Config {
    type Error = anyhow::Error;

    fn try_from(cli: &Cli) -> anyhow::Result<Self> {
        let mut c = Config::new(&cli.data_dir);
        c.listen = cli.listen;
        c.iot_listen = (!cli.no_iot).then_some(cli.iot_listen);
        c.region.clone_from(&cli.region);
        c.account_id.clone_from(&cli.account_id);
        c.config_file.clone_from(&cli.config);
        c.credential_duration_override = cli.iot_credential_duration.map(Duration::from_secs);
        c.tls_listen = cli.tls_listen;
        c.tls_identity = match (&cli.tls_cert, &cli.tls_key) {
            (Some(cert), Some(key)) => Some(kvs_local::config::TlsIdentity {
                certificate_chain: cert.clone(),
                private_key: key.clone(),
            }),
            _ => None,
        };
        if let Some(dir) = &cli.capture_put_media {
            c.data_plane = Some(std::sync::Arc::new(kvs_local::media::MediaPlane::new(
                kvs_local::media::MediaConfig {
                    capture_dir: Some(dir.clone()),
                    ..kvs_local::media::MediaConfig::default()
                },
            )));
        }
        c.validate()?;
        Ok(c)
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("kvs_local=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvs-local: {}", kvs_e2ee_aws::error::report(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // One TLS provider for the process (rustls panics if it has to guess between two).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match &cli.command {
        Some(Command::Iot {
            command:
                IotCommand::Provision {
                    thing,
                    out,
                    key_type,
                    role_alias,
                },
        }) => provision(&cli, thing, out, *key_type, role_alias.as_deref()),
        None => serve(Config::try_from(&cli)?),
    }
}

fn provision(
    cli: &Cli,
    thing: &str,
    out: &std::path::Path,
    key_type: KeyTypeArg,
    role_alias: Option<&str>,
) -> anyhow::Result<()> {
    let key_type = match key_type {
        KeyTypeArg::Ec => KeyType::EcP256,
        KeyTypeArg::Rsa => KeyType::Rsa2048,
    };
    let p = kvs_local::iot::provision(&cli.data_dir, thing, key_type, role_alias, out)
        .with_context(|| format!("provisioning thing {thing}"))?;
    println!("thing:           {}", p.thing_name);
    println!("certificate id:  {}", p.certificate_id);
    println!("certificate:     {}", p.certificate_path.display());
    println!("private key:     {}", p.private_key_path.display());
    println!("CA certificate:  {}", p.ca_path.display());
    println!("role alias:      {}", p.role_alias);
    match &p.endpoint {
        Some(e) => println!(
            "iot endpoint:    {e}  (https://{e}/role-aliases/{}/credentials)",
            p.role_alias
        ),
        None => println!(
            "iot endpoint:    unknown until kvs-local runs on this data dir (use a fixed --iot-listen)"
        ),
    }
    println!(
        "kvssink:         iot-certificate=\"{}\"",
        p.kvssink_iot_certificate()
    );
    Ok(())
}

fn serve(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        // Handlers first: a signal arriving right after the endpoint lines must stop us
        // cleanly, not kill us with the default action.
        let signals = Signals::install()?;
        let generated_cert = config.tls_identity.is_none();
        let server = Server::start(config).await.context("starting kvs-local")?;
        println!("control plane: {}", server.control_url());
        if let Some(u) = server.https_url() {
            println!("control plane (https): {u}");
            if generated_cert {
                println!(
                    "https CA: {}",
                    kvs_local::https::ca_path(server.data_dir()).display()
                );
            }
        }
        if let Some(u) = server.iot_url() {
            println!("iot credentials: {u}");
        }
        println!(
            "credentials: {} (profile kvs-local)",
            kvs_local::auth::bootstrap::credentials_path(server.data_dir()).display()
        );
        signals.wait().await;
        server.shutdown().await;
        Ok(())
    })
}

/// SIGINT / SIGTERM listeners, registered before the server starts.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                int: signal(SignalKind::interrupt()).context("installing SIGINT handler")?,
                term: signal(SignalKind::terminate()).context("installing SIGTERM handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
