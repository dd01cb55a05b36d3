//! The command line of `kvs-e2ee-producer` as clap-derive types; validation
//! and defaults that need thought live in [`crate::args`].
//!
//! Environment fallbacks (a flag on the command line wins):
//! `--endpoint-url` ← `AWS_ENDPOINT_URL`, `--region` ← `AWS_REGION`,
//! `--ca-bundle` ← `AWS_CA_BUNDLE` (as the AWS CLI and boto3 read it),
//! `--iot-endpoint` ← `AWS_IOT_CORE_CREDENTIAL_ENDPOINT`,
//! `--iot-cert` ← `AWS_IOT_CORE_CERT`, `--iot-key` ← `AWS_IOT_CORE_PRIVATE_KEY`,
//! `--iot-ca` ← `AWS_IOT_CORE_CA`, `--iot-role-alias` ← `AWS_IOT_CORE_ROLE_ALIAS`,
//! `--iot-thing-name` ← `AWS_IOT_CORE_THING_NAME` (the names the KVS producer
//! SDK samples use).

use std::path::PathBuf;

use clap::{Args, Parser, ValueEnum};

/// Encrypt a camera's video end to end and stream it to Amazon Kinesis Video Streams.
#[derive(Debug, Clone, Parser)]
#[command(name = "kvs-e2ee-producer", version, about, long_about = None)]
pub struct Cli {
    /// Name of the Kinesis video stream.
    #[arg(long, value_name = "NAME")]
    pub stream: String,

    /// The camera's identity (private key) file.
    #[arg(long, value_name = "FILE")]
    pub identity: PathBuf,

    /// File listing the viewers' public keys, one per line.
    #[arg(long, value_name = "FILE")]
    pub recipients: PathBuf,

    /// Media source: a file (.mkv/.webm = Matroska, .h264/.264 = H.264
    /// Annex-B, .h265/.265/.hevc = H.265 Annex-B, otherwise detected from its
    /// first bytes), `-` for stdin (Matroska unless --format), or `gst:PIPELINE`.
    #[arg(long, value_name = "FILE|-|gst:PIPELINE")]
    pub source: String,

    /// Force the source format instead of detecting it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<SourceFormat>,

    /// Frame rate of an Annex-B source (it carries no timestamps): 30, 29.97 or 30000/1001.
    #[arg(long, value_name = "N")]
    pub fps: Option<String>,

    /// KVS control-plane endpoint (e.g. a local kvs-local at http://127.0.0.1:PORT).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// CA certificate(s) to trust for the KVS endpoints besides the system roots (PEM),
    /// e.g. kvs-local's DATA_DIR/ca.pem for its HTTPS listener.
    #[arg(long, env = "AWS_CA_BUNDLE", value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,

    /// AWS region.
    #[arg(long, env = "AWS_REGION", value_name = "R")]
    pub region: Option<String>,

    /// Create the stream if it does not exist.
    #[arg(long)]
    pub create_stream: bool,

    /// Retention of a stream created with --create-stream, in hours (default 24).
    #[arg(long, value_name = "N")]
    pub retention_hours: Option<u32>,

    /// Target fragment duration; fragments start at the first key frame after it.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub fragment_duration: String,

    /// Frame cipher: `auto` picks AES-256-GCM on CPUs with AES instructions and
    /// ChaCha20-Poly1305 elsewhere; viewers read both.
    #[arg(long, value_name = "CIPHER", default_value = "auto")]
    pub frame_cipher: String,

    /// Most bytes of fragments kept until KVS persists them (e.g. 64MiB, 60MB);
    /// when full, the oldest are dropped and counted.
    #[arg(long, value_name = "SIZE", default_value = "60MB")]
    pub buffer_size: String,

    /// Keep unpersisted fragments on disk in DIR (survives crashes and reboots).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,

    /// Print statistics periodically (default every 10s).
    #[arg(long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "10s")]
    pub stats: Option<String>,

    /// AWS IoT credentials provider flags.
    #[command(flatten)]
    pub iot: IotArgs,
}

/// Source formats for `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceFormat {
    /// Matroska / WebM.
    Mkv,
    /// H.264 Annex-B elementary stream.
    Annexb,
    /// H.265 Annex-B elementary stream.
    Hevc,
}

/// AWS IoT credentials-provider flags (a camera's X.509 certificate instead of
/// AWS access keys).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "AWS IoT credentials provider")]
pub struct IotArgs {
    /// IoT credentials endpoint (`aws iot describe-endpoint --endpoint-type iot:CredentialProvider`).
    #[arg(long, env = "AWS_IOT_CORE_CREDENTIAL_ENDPOINT", value_name = "HOST")]
    pub iot_endpoint: Option<String>,
    /// Device certificate (PEM).
    #[arg(long, env = "AWS_IOT_CORE_CERT", value_name = "FILE")]
    pub iot_cert: Option<PathBuf>,
    /// Device private key (PEM).
    #[arg(long, env = "AWS_IOT_CORE_PRIVATE_KEY", value_name = "FILE")]
    pub iot_key: Option<PathBuf>,
    /// Root CA of the endpoint (PEM; for AWS, Amazon Root CA 1): the only CA trusted.
    #[arg(long, env = "AWS_IOT_CORE_CA", value_name = "FILE")]
    pub iot_ca: Option<PathBuf>,
    /// IoT role alias.
    #[arg(long, env = "AWS_IOT_CORE_ROLE_ALIAS", value_name = "ALIAS")]
    pub iot_role_alias: Option<String>,
    /// IoT thing name (default: the stream name).
    #[arg(long, env = "AWS_IOT_CORE_THING_NAME", value_name = "NAME")]
    pub iot_thing_name: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cli_declares_documented_environment_fallbacks() {
        let cmd = Cli::command();
        let env_of = |id: &str| {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_env().map(|e| e.to_string_lossy().into_owned())
        };
        for (id, env) in [
            ("endpoint_url", "AWS_ENDPOINT_URL"),
            ("region", "AWS_REGION"),
            ("ca_bundle", "AWS_CA_BUNDLE"),
            ("iot_endpoint", "AWS_IOT_CORE_CREDENTIAL_ENDPOINT"),
            ("iot_cert", "AWS_IOT_CORE_CERT"),
            ("iot_key", "AWS_IOT_CORE_PRIVATE_KEY"),
            ("iot_ca", "AWS_IOT_CORE_CA"),
            ("iot_role_alias", "AWS_IOT_CORE_ROLE_ALIAS"),
            ("iot_thing_name", "AWS_IOT_CORE_THING_NAME"),
        ] {
            assert_eq!(env_of(id).as_deref(), Some(env), "{id}");
        }
    }

    #[test]
    fn stats_flag_takes_an_optional_interval() {
        let base = [
            "p",
            "--stream",
            "s",
            "--identity",
            "i",
            "--recipients",
            "r",
            "--source",
            "-",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(&["--stats"])).unwrap();
        assert_eq!(cli.stats.as_deref(), Some("10s"));
        let cli = Cli::try_parse_from(base.iter().chain(&["--stats", "30s"])).unwrap();
        assert_eq!(cli.stats.as_deref(), Some("30s"));
        let cli = Cli::try_parse_from(base).unwrap();
        assert_eq!(
            (
                cli.stats,
                cli.fragment_duration.as_str(),
                cli.buffer_size.as_str()
            ),
            (None, "2s", "60MB")
        );
    }
}
