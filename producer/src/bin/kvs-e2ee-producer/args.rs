//! The command line's values checked and lowered into the library's [`Config`]: every
//! mistake is one clear message naming its flag at start-up, not a failure minutes into a
//! stream. The checks every front end shares come from `kvs_e2ee_aws::settings` and
//! `kvs_e2ee_aws::iot::IotSettings`, under this binary's flag names.

use std::io::Read;
use std::path::{Path, PathBuf};

use kvs_e2ee_aws::settings;
use kvs_e2ee_envelope::FrameCipher;
use kvs_e2ee_producer::annexb::Codec;
use kvs_e2ee_producer::config::{
    Config, Credentials, DEFAULT_RETENTION_HOURS, Input, MAX_RETENTION_HOURS, MIN_BUFFER_BYTES,
    Source, StreamSettings,
};
use kvs_e2ee_producer::fragmenter::KVS_MAX_FRAGMENT_DURATION_MS;

use crate::cli::{Cli, SourceFormat};

/// A configuration mistake, named after the flag.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A flag's value is malformed or out of range.
    #[error("{flag}: {reason}")]
    Invalid {
        /// The flag, e.g. `--buffer-size`.
        flag: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The IoT settings do not make a configuration (partly given, a bad endpoint, a
    /// missing file): the one rule of [`kvs_e2ee_aws::iot::IotSettings`].
    #[error(transparent)]
    Iot(#[from] kvs_e2ee_aws::iot::IotSettingsError),
    /// A flag was given that makes no sense with the others.
    #[error("{flag} {reason}")]
    Conflict {
        /// The flag.
        flag: &'static str,
        /// Why it does not apply.
        reason: &'static str,
    },
}

fn invalid(flag: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        flag,
        reason: reason.into(),
    }
}

/// Parses `64MiB`, `60MB`, `500kB`, `1G`, `1048576` (bytes). Decimal units
/// (kB/MB/GB, also K/M/G) are powers of 1000; binary (KiB/MiB/GiB) of 1024.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 64MiB or 60MB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use B, kB, KiB, MB, MiB, GB or GiB)"
            ));
        }
    };
    num.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// A shared setting check ([`settings`]) under this binary's flag name.
fn flag(flag: &'static str, r: Result<(), settings::SettingError>) -> Result<(), ConfigError> {
    r.map_err(|e| invalid(flag, e.reason))
}

fn require_file(flag: &'static str, path: &Path) -> Result<(), ConfigError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(invalid(
            flag,
            format!("{} does not exist or is not a file", path.display()),
        ))
    }
}

/// Detects a file's format from its extension, else from its first bytes.
fn detect_format(path: &Path) -> Result<SourceFormat, ConfigError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("mkv" | "webm" | "mka") => return Ok(SourceFormat::Mkv),
        Some("h264" | "264" | "avc") => return Ok(SourceFormat::Annexb),
        Some("h265" | "265" | "hevc") => return Ok(SourceFormat::Hevc),
        _ => {}
    }
    // Sniffing a pipe or device would consume the bytes the producer needs.
    if !path.is_file() {
        return Err(invalid(
            "--source",
            format!(
                "{} is not a regular file, so its format cannot be sniffed; pass --format",
                path.display()
            ),
        ));
    }
    let mut head = [0u8; 6];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| invalid("--source", format!("cannot read {}: {e}", path.display())))?;
    // After an Annex-B start code, an H.265 stream opens with a VPS (40 01)
    // or an AUD (46 01); an H.264 stream with an SPS (x7) or AUD (09).
    match &head[..n] {
        [0x1A, 0x45, 0xDF, 0xA3, ..] => Ok(SourceFormat::Mkv),
        [0, 0, 0, 1, 0x40 | 0x46, 0x01] | [0, 0, 1, 0x40 | 0x46, 0x01, ..] => {
            Ok(SourceFormat::Hevc)
        }
        [0, 0, 0, 1, ..] | [0, 0, 1, ..] => Ok(SourceFormat::Annexb),
        _ => Err(invalid(
            "--source",
            format!(
                "cannot tell the format of {}: it starts with neither the EBML magic 1A 45 DF A3 nor an Annex-B \
                 start code; name it .mkv/.h264 or pass --format",
                path.display()
            ),
        )),
    }
}

fn parse_source(cli: &Cli) -> Result<Source, ConfigError> {
    if let Some(pipeline) = cli.source.strip_prefix("gst:") {
        if !cfg!(feature = "gstreamer") {
            return Err(invalid(
                "--source",
                "gst: sources need a build with the `gstreamer` feature",
            ));
        }
        if pipeline.trim().is_empty() {
            return Err(invalid(
                "--source",
                "gst: needs a pipeline, e.g. gst:videotestsrc ! x264enc",
            ));
        }
        if cli.fps.is_some() {
            return Err(ConfigError::Conflict {
                flag: "--fps",
                reason: "does not apply to gst: sources (GStreamer timestamps frames)",
            });
        }
        return Ok(Source::GStreamer {
            pipeline: pipeline.to_owned(),
        });
    }
    let (input, format) = match cli.source.as_str() {
        "" => {
            return Err(invalid(
                "--source",
                "empty; give a file, - (stdin) or gst:PIPELINE",
            ));
        }
        "-" => (Input::Stdin, cli.format.unwrap_or(SourceFormat::Mkv)),
        path => {
            let path = PathBuf::from(path);
            require_file("--source", &path).or_else(|e| {
                // FIFOs and devices are fine sources too.
                if path.exists() { Ok(()) } else { Err(e) }
            })?;
            let format = match cli.format {
                Some(f) => f,
                None => detect_format(&path)?,
            };
            (Input::File(path), format)
        }
    };
    match (format, &cli.fps) {
        (SourceFormat::Mkv, Some(_)) => Err(ConfigError::Conflict {
            flag: "--fps",
            reason: "does not apply to Matroska sources (they carry timestamps)",
        }),
        (SourceFormat::Mkv, None) => Ok(Source::Mkv(input)),
        (SourceFormat::Annexb | SourceFormat::Hevc, None) => Err(invalid(
            "--fps",
            "required for an Annex-B source (it has no timestamps)",
        )),
        (SourceFormat::Annexb | SourceFormat::Hevc, Some(fps)) => {
            let fps =
                fps.parse()
                    .map_err(|e: kvs_e2ee_producer::annexb::ParseFrameRateError| {
                        invalid("--fps", e.to_string())
                    })?;
            let codec = if format == SourceFormat::Hevc {
                Codec::H265
            } else {
                Codec::H264
            };
            Ok(Source::AnnexB { input, codec, fps })
        }
    }
}

fn parse_iot(cli: &Cli) -> Result<Credentials, ConfigError> {
    let iot = &cli.iot;
    let settings = kvs_e2ee_aws::iot::IotSettings {
        endpoint: iot.iot_endpoint.clone(),
        role_alias: iot.iot_role_alias.clone(),
        thing_name: iot.iot_thing_name.clone(),
        cert: iot.iot_cert.clone(),
        key: iot.iot_key.clone(),
        ca: iot.iot_ca.clone(),
    };
    Ok(match settings.resolve(&cli.stream)? {
        Some(config) => Credentials::Iot(config),
        None => Credentials::DefaultChain,
    })
}

impl TryFrom<Cli> for Config {
    type Error = ConfigError;

    fn try_from(cli: Cli) -> Result<Self, Self::Error> {
        flag("--stream", settings::stream_name(&cli.stream))?;
        require_file("--identity", &cli.identity)?;
        require_file("--recipients", &cli.recipients)?;
        let source = parse_source(&cli)?;
        flag(
            "--endpoint-url",
            settings::endpoint_url(cli.endpoint_url.as_deref()).map(drop),
        )?;
        if let Some(region) = &cli.region {
            flag("--region", settings::region(region))?;
        }
        let create_stream = match (cli.create_stream, cli.retention_hours) {
            (false, Some(_)) => {
                return Err(ConfigError::Conflict {
                    flag: "--retention-hours",
                    reason: "only applies with --create-stream",
                });
            }
            (false, None) => None,
            (true, hours) => {
                let hours = hours.unwrap_or(DEFAULT_RETENTION_HOURS);
                if !(1..=MAX_RETENTION_HOURS).contains(&hours) {
                    return Err(invalid(
                        "--retention-hours",
                        format!("{hours} is outside 1..={MAX_RETENTION_HOURS}"),
                    ));
                }
                Some(hours)
            }
        };
        let fragment_duration = settings::parse_duration(&cli.fragment_duration)
            .map_err(|e| invalid("--fragment-duration", e))?;
        if fragment_duration.is_zero()
            || fragment_duration.as_millis() >= KVS_MAX_FRAGMENT_DURATION_MS as u128
        {
            return Err(invalid(
                "--fragment-duration",
                format!(
                    "{fragment_duration:?} must be above 0 and below KVS's 10 s fragment limit (1-6 s is typical)"
                ),
            ));
        }
        let buffer_size = parse_size(&cli.buffer_size).map_err(|e| invalid("--buffer-size", e))?;
        if buffer_size < MIN_BUFFER_BYTES {
            return Err(invalid(
                "--buffer-size",
                format!("{buffer_size} bytes is below the {MIN_BUFFER_BYTES}-byte minimum"),
            ));
        }
        let stats_interval = match &cli.stats {
            None => None,
            Some(s) => match settings::parse_duration(s).map_err(|e| invalid("--stats", e))? {
                d if d.is_zero() => return Err(invalid("--stats", "the interval must be above 0")),
                d => Some(d),
            },
        };
        let frame_cipher = parse_frame_cipher(&cli.frame_cipher)?;
        let credentials = parse_iot(&cli)?;
        Ok(Self {
            stream: StreamSettings {
                stream_name: cli.stream,
                identity: cli.identity,
                recipients: cli.recipients,
                create_stream,
                fragment_duration,
                frame_cipher,
                buffer_size,
                spool: cli.spool,
                stats_interval,
            },
            source,
            endpoint_url: cli.endpoint_url,
            ca_bundle: cli.ca_bundle,
            region: cli.region,
            credentials,
        })
    }
}

/// `--frame-cipher`: `auto` (the faster one on this CPU) or a cipher's name,
/// checked as the GStreamer element's `frame-cipher` property is.
fn parse_frame_cipher(value: &str) -> Result<FrameCipher, ConfigError> {
    settings::frame_cipher(Some(value)).map_err(|e| invalid("--frame-cipher", e.reason))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::cli::IotArgs;

    /// Path of a file in `producer/tests/data/`.
    fn data(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            for f in [
                "camera.key",
                "recipients.txt",
                "cert.pem",
                "key.pem",
                "ca.pem",
            ] {
                std::fs::write(dir.path().join(f), b"x").unwrap();
            }
            Self { dir }
        }

        fn path(&self, f: &str) -> PathBuf {
            self.dir.path().join(f)
        }

        /// A CLI built directly (not from argv) so the process environment
        /// (AWS_REGION, AWS_IOT_CORE_*) cannot leak into the test.
        fn cli(&self, source: &str) -> Cli {
            Cli {
                stream: "cam-1".into(),
                identity: self.path("camera.key"),
                recipients: self.path("recipients.txt"),
                source: source.into(),
                format: None,
                fps: None,
                endpoint_url: None,
                ca_bundle: None,
                region: None,
                create_stream: false,
                retention_hours: None,
                fragment_duration: "2s".into(),
                frame_cipher: "auto".into(),
                buffer_size: "60MB".into(),
                spool: None,
                stats: None,
                iot: IotArgs::default(),
            }
        }
    }

    fn sample(name: &str) -> String {
        data(name).to_string_lossy().into_owned()
    }

    #[test]
    fn frame_cipher_is_auto_by_default_and_named_ciphers_are_taken() {
        let fx = Fixture::new();
        let cfg = Config::try_from(fx.cli(&sample("sample-320x240.mkv"))).unwrap();
        assert_eq!(cfg.stream.frame_cipher, FrameCipher::fastest_here());
        for cipher in FrameCipher::ALL {
            let mut cli = fx.cli(&sample("sample-320x240.mkv"));
            cli.frame_cipher = cipher.name().to_uppercase();
            assert_eq!(Config::try_from(cli).unwrap().stream.frame_cipher, cipher);
        }
        let mut cli = fx.cli(&sample("sample-320x240.mkv"));
        cli.frame_cipher = "rot13".into();
        let err = Config::try_from(cli).unwrap_err().to_string();
        assert!(
            err.contains("--frame-cipher") && err.contains("rot13"),
            "{err}"
        );
    }

    #[test]
    fn config_accepts_defaults_and_applies_them() {
        let fx = Fixture::new();
        let cfg = Config::try_from(fx.cli(&sample("sample-320x240.mkv"))).unwrap();
        assert_eq!(
            cfg.source,
            Source::Mkv(Input::File(data("sample-320x240.mkv")))
        );
        assert_eq!(
            (cfg.stream.fragment_duration, cfg.stream.buffer_size),
            (Duration::from_secs(2), 60_000_000)
        );
        assert_eq!(cfg.credentials, Credentials::DefaultChain);
        assert!(cfg.to_string().contains("Matroska"));
    }

    #[test]
    fn config_detects_source_format_by_extension_and_by_sniffing() {
        let fx = Fixture::new();
        let mut cli = fx.cli(&sample("sample-320x240.h264"));
        cli.fps = Some("30".into());
        assert!(matches!(
            Config::try_from(cli).unwrap().source,
            Source::AnnexB { .. }
        ));
        // No telling extension: sniff the bytes.
        let raw = fx.path("capture.bin");
        std::fs::copy(data("sample-320x240.h264"), &raw).unwrap();
        let mut cli = fx.cli(raw.to_str().unwrap());
        cli.fps = Some("25".into());
        assert!(matches!(
            Config::try_from(cli).unwrap().source,
            Source::AnnexB { .. }
        ));
        let raw = fx.path("capture2.bin");
        std::fs::copy(data("sample-320x240.mkv"), &raw).unwrap();
        assert!(matches!(
            Config::try_from(fx.cli(raw.to_str().unwrap()))
                .unwrap()
                .source,
            Source::Mkv(_)
        ));
        let raw = fx.path("capture3.bin");
        std::fs::copy(data("sample-hevc-320x240.h265"), &raw).unwrap();
        let mut cli = fx.cli(raw.to_str().unwrap());
        cli.fps = Some("30".into());
        let source = Config::try_from(cli).unwrap().source;
        assert!(
            matches!(
                source,
                Source::AnnexB {
                    codec: Codec::H265,
                    ..
                }
            ),
            "{source:?}"
        );
        let junk = fx.path("junk.bin");
        std::fs::write(&junk, b"hello").unwrap();
        let err = Config::try_from(fx.cli(junk.to_str().unwrap())).unwrap_err();
        assert!(err.to_string().contains("--format"), "{err}");
    }

    #[test]
    fn config_requires_fps_for_annexb_and_rejects_it_for_mkv() {
        let fx = Fixture::new();
        let err = Config::try_from(fx.cli(&sample("sample-320x240.h264"))).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { flag: "--fps", .. }),
            "{err}"
        );
        let mut cli = fx.cli(&sample("sample-320x240.mkv"));
        cli.fps = Some("30".into());
        assert!(matches!(
            Config::try_from(cli).unwrap_err(),
            ConfigError::Conflict { flag: "--fps", .. }
        ));
        // stdin is Matroska unless --format annexb.
        assert_eq!(
            Config::try_from(fx.cli("-")).unwrap().source,
            Source::Mkv(Input::Stdin)
        );
        let mut cli = fx.cli("-");
        cli.format = Some(SourceFormat::Annexb);
        cli.fps = Some("30000/1001".into());
        assert!(matches!(
            Config::try_from(cli).unwrap().source,
            Source::AnnexB {
                input: Input::Stdin,
                ..
            }
        ));
    }

    #[test]
    fn config_names_missing_iot_flags_when_partly_given() {
        let fx = Fixture::new();
        let mut cli = fx.cli("-");
        cli.iot.iot_cert = Some(fx.path("cert.pem"));
        cli.iot.iot_endpoint = Some("abc.credentials.iot.eu-west-1.amazonaws.com".into());
        let err = Config::try_from(cli.clone()).unwrap_err();
        use kvs_e2ee_aws::iot::{IotSetting, IotSettingsError};
        assert_eq!(
            err,
            ConfigError::Iot(IotSettingsError::Incomplete {
                missing: vec![IotSetting::RoleAlias, IotSetting::Key, IotSetting::Ca]
            })
        );
        assert!(
            err.to_string()
                .contains("--iot-key (AWS_IOT_CORE_PRIVATE_KEY)"),
            "{err}"
        );
        cli.iot.iot_key = Some(fx.path("key.pem"));
        cli.iot.iot_role_alias = Some("KvsCameraRole".into());
        cli.iot.iot_ca = Some(fx.path("missing-ca.pem"));
        assert!(matches!(
            Config::try_from(cli.clone()).unwrap_err(),
            ConfigError::Iot(IotSettingsError::NoFile {
                setting: IotSetting::Ca,
                ..
            })
        ));
        cli.iot.iot_ca = Some(fx.path("cert.pem"));
        let Credentials::Iot(iot) = Config::try_from(cli).unwrap().credentials else {
            panic!("not IoT")
        };
        assert_eq!(iot.thing_name, "cam-1", "thing name defaults to the stream");
    }

    #[test]
    fn config_rejects_bad_values_naming_the_flag() {
        let fx = Fixture::new();
        type Edit = Box<dyn Fn(&mut Cli)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("--stream", Box::new(|c| c.stream = "bad name!".into())),
            (
                "--identity",
                Box::new(|c| c.identity = "/nonexistent/camera.key".into()),
            ),
            (
                "--fragment-duration",
                Box::new(|c| c.fragment_duration = "10s".into()),
            ),
            (
                "--fragment-duration",
                Box::new(|c| c.fragment_duration = "fast".into()),
            ),
            (
                "--buffer-size",
                Box::new(|c| c.buffer_size = "12 parsecs".into()),
            ),
            ("--buffer-size", Box::new(|c| c.buffer_size = "1KiB".into())),
            (
                "--endpoint-url",
                Box::new(|c| c.endpoint_url = Some("localhost:4566".into())),
            ),
            ("--region", Box::new(|c| c.region = Some("EU West".into()))),
            (
                "--retention-hours",
                Box::new(|c| c.retention_hours = Some(5)),
            ),
            ("--stats", Box::new(|c| c.stats = Some("0s".into()))),
            (
                "--source",
                Box::new(|c| c.source = "/nonexistent.mkv".into()),
            ),
        ];
        for (flag, edit) in cases {
            let mut cli = fx.cli("-");
            edit(&mut cli);
            let err = Config::try_from(cli).unwrap_err();
            assert!(err.to_string().starts_with(flag), "{flag}: {err}");
        }
    }

    #[test]
    fn config_gst_source_requires_the_gstreamer_feature() {
        let fx = Fixture::new();
        let result = Config::try_from(fx.cli("gst:videotestsrc ! x264enc"));
        if cfg!(feature = "gstreamer") {
            assert!(matches!(result.unwrap().source, Source::GStreamer { .. }));
        } else {
            assert!(
                result
                    .unwrap_err()
                    .to_string()
                    .contains("`gstreamer` feature")
            );
        }
    }

    #[test]
    fn create_stream_defaults_retention_to_a_day() {
        let fx = Fixture::new();
        let mut cli = fx.cli("-");
        cli.create_stream = true;
        assert_eq!(
            Config::try_from(cli.clone()).unwrap().stream.create_stream,
            Some(24)
        );
        cli.retention_hours = Some(720);
        assert_eq!(
            Config::try_from(cli).unwrap().stream.create_stream,
            Some(720)
        );
    }

    #[test]
    fn sizes_and_durations_parse_with_units() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("60MB"), Ok(60_000_000));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("2gib"), Ok(2 << 30));
        assert!(
            parse_size("MB").is_err()
                && parse_size("99999999999GB").is_err()
                && parse_size("1.5MB").is_err()
        );
    }
}
