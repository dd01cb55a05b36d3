//! Checks of the settings every front end takes the same way — stream name,
//! region, endpoint URL, key file paths, static keys, frame cipher, durations — each
//! failure named after the setting, with the `kvssink` property names the
//! GStreamer elements use (`stream-name`, `aws-region`, `endpoint-url`,
//! `access-key`, `secret-key`, `session-token`; ours: `frame-cipher`). No
//! GStreamer here: the elements (`kvse2eesink`, `kvse2eesrc`) call these from
//! their own settings code, the producer's `--frame-cipher` too.

use std::fmt;
use std::path::PathBuf;

use aws_credential_types::Credentials;
use zeroize::Zeroizing;

use super::config::CredentialSource;
use kvs_e2ee_envelope::FrameCipher;

/// A setting whose value cannot work.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("property {property}: {reason}")]
pub struct SettingError {
    /// The setting (property) name, e.g. `identity`.
    pub property: &'static str,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl SettingError {
    /// `property` cannot work, because of `reason`.
    pub fn new(property: &'static str, reason: impl Into<String>) -> Self {
        Self {
            property,
            reason: reason.into(),
        }
    }
}

/// A secret setting (an AWS secret key, a session token): zeroized on drop,
/// never printed (`Debug` shows `<redacted>`, there is no `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Takes `text` over; the caller's copy is the caller's to drop.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The secret itself, to hand to the credentials provider.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (an unset property).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The path of a required key file (`identity`, `recipients`,
/// `trusted-cameras`); empty counts as unset.
pub fn key_path(property: &'static str, value: Option<&str>) -> Result<PathBuf, SettingError> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) => Ok(PathBuf::from(v)),
        None => Err(SettingError::new(
            property,
            "required: the path of the key file (see `kvs-e2ee-keys`)",
        )),
    }
}

/// `stream-name`: KVS's rule, 1–256 characters of `[a-zA-Z0-9_.-]`
/// ([`super::is_valid_stream_name`]).
pub fn stream_name(name: &str) -> Result<(), SettingError> {
    if !super::is_valid_stream_name(name) {
        return Err(SettingError::new(
            "stream-name",
            format!("{name:?} is not a KVS stream name (1-256 of a-z A-Z 0-9 _ . -)"),
        ));
    }
    Ok(())
}

/// `aws-region`: a region name like `eu-west-1` ([`super::is_valid_region`]).
pub fn region(region: &str) -> Result<(), SettingError> {
    if !super::is_valid_region(region) {
        return Err(SettingError::new(
            "aws-region",
            format!("{region:?} is not an AWS region name like eu-west-1"),
        ));
    }
    Ok(())
}

/// `endpoint-url`: unset or empty is `None` (the region's endpoint), else an
/// `http://` or `https://` URL with a host.
pub fn endpoint_url(value: Option<&str>) -> Result<Option<String>, SettingError> {
    let Some(url) = value.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        return Err(SettingError::new(
            "endpoint-url",
            format!("{url:?} is not an http:// or https:// URL"),
        ));
    }
    Ok(Some(url.to_owned()))
}

/// `frame-cipher`: `auto` (also unset or empty) is the faster cipher on this
/// CPU ([`FrameCipher::fastest_here`]), else a cipher's name
/// ([`FrameCipher::name`], any case).
pub fn frame_cipher(value: Option<&str>) -> Result<FrameCipher, SettingError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(FrameCipher::fastest_here()),
        Some(v) if v.eq_ignore_ascii_case("auto") => Ok(FrameCipher::fastest_here()),
        Some(v) => v.parse().map_err(|_| {
            SettingError::new(
                "frame-cipher",
                format!("{v:?}: expected auto, chacha20-poly1305 or aes-256-gcm"),
            )
        }),
    }
}

/// `access-key`, `secret-key` and `session-token` (empty counts as unset):
/// the keys when both are given, the standard chain when none is, an error
/// naming the missing one otherwise. `provider` names the source in the AWS
/// SDK's logs (e.g. `kvse2eesink-properties`). No error carries a secret.
pub fn static_credentials(
    access_key: Option<&str>,
    secret_key: Option<&SecretText>,
    session_token: Option<&SecretText>,
    provider: &'static str,
) -> Result<CredentialSource, SettingError> {
    let access = access_key.filter(|s| !s.is_empty());
    let secret = secret_key.filter(|s| !s.is_empty());
    let token = session_token.filter(|s| !s.is_empty());
    match (access, secret) {
        (Some(access), Some(secret)) => Ok(CredentialSource::Static(Credentials::new(
            access,
            secret.expose(),
            token.map(|t| t.expose().to_owned()),
            None,
            provider,
        ))),
        (Some(_), None) => Err(SettingError::new("secret-key", "required with access-key")),
        (None, Some(_)) => Err(SettingError::new("access-key", "required with secret-key")),
        (None, None) if token.is_some() => Err(SettingError::new(
            "session-token",
            "given without access-key and secret-key",
        )),
        (None, None) => Ok(CredentialSource::DefaultChain),
    }
}

/// Parses a duration as every front end writes it: `2s`, `1500ms`, `2.5s`, `1m`, `1h`, or a
/// bare number of seconds; at most 10^9 s.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a duration like 2s, 1500ms, 5m or 1h");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn secret(s: &str) -> SecretText {
        SecretText::new(s.into())
    }

    #[test]
    fn secret_text_never_prints() {
        let s = secret("wJalrXUtnFEMI");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        assert_eq!(s.expose(), "wJalrXUtnFEMI");
    }

    #[test]
    fn urls_must_be_http_or_https() {
        assert_eq!(endpoint_url(None).unwrap(), None);
        assert_eq!(endpoint_url(Some("")).unwrap(), None);
        assert!(
            endpoint_url(Some("http://127.0.0.1:4566"))
                .unwrap()
                .is_some()
        );
        assert!(
            endpoint_url(Some("https://kinesisvideo.eu-west-1.amazonaws.com"))
                .unwrap()
                .is_some()
        );
        for bad in ["ftp://x", "http://", "127.0.0.1:4566", "https:///path"] {
            assert_eq!(
                endpoint_url(Some(bad)).unwrap_err().property,
                "endpoint-url"
            );
        }
    }

    #[test]
    fn frame_cipher_is_auto_unless_named() {
        for auto in [None, Some(""), Some("auto"), Some("AUTO")] {
            assert_eq!(frame_cipher(auto).unwrap(), FrameCipher::fastest_here());
        }
        for cipher in FrameCipher::ALL {
            assert_eq!(frame_cipher(Some(cipher.name())).unwrap(), cipher);
            let upper = cipher.name().to_uppercase();
            assert_eq!(frame_cipher(Some(&upper)).unwrap(), cipher);
        }
        let e = frame_cipher(Some("rot13")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "property frame-cipher: \"rot13\": expected auto, chacha20-poly1305 or aes-256-gcm"
        );
    }

    #[test]
    fn names_and_paths_are_checked() {
        assert_eq!(stream_name("a b").unwrap_err().property, "stream-name");
        assert!(stream_name("front-door").is_ok());
        assert_eq!(region("Mars").unwrap_err().property, "aws-region");
        assert!(region("eu-west-1").is_ok());
        let e = key_path("identity", Some("")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "property identity: required: the path of the key file (see `kvs-e2ee-keys`)"
        );
        assert_eq!(
            key_path("identity", Some("c.key")).unwrap(),
            PathBuf::from("c.key")
        );
    }

    #[test]
    fn static_keys_need_both_halves_and_errors_carry_no_secret() {
        let s = secret("wJalrXUtnFEMI");
        let t = secret("FwoGZXIvYXdzE");
        match static_credentials(Some("AKIA1"), Some(&s), Some(&t), "test").unwrap() {
            CredentialSource::Static(c) => {
                assert_eq!(c.secret_access_key(), "wJalrXUtnFEMI");
                assert_eq!(c.session_token(), Some("FwoGZXIvYXdzE"));
                assert!(!format!("{c:?}").contains("wJalrXUtnFEMI"));
            }
            other => panic!("{other:?}"),
        }
        let e = static_credentials(None, Some(&s), None, "test").unwrap_err();
        assert_eq!(e.property, "access-key");
        let e = static_credentials(Some("AKIA1"), Some(&secret("")), None, "test").unwrap_err();
        assert_eq!(e.property, "secret-key");
        let e = static_credentials(None, None, Some(&t), "test").unwrap_err();
        assert_eq!(e.property, "session-token");
        assert!(!e.to_string().contains("FwoGZXIvYXdzE"));
        assert!(matches!(
            static_credentials(None, None, None, "test").unwrap(),
            CredentialSource::DefaultChain
        ));
    }

    #[test]
    fn durations_parse_in_every_unit_and_refuse_the_rest() {
        use std::time::Duration;
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        for bad in ["-1s", "2 fortnights", "", "5 minutes", "1e99s", "NaN"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
