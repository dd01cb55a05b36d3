//! The bootstrap admin: created on a data dir's first start and kept in `DATA_DIR/credentials`
//! (mode 0600) in the AWS shared-credentials format under profile `kvs-local`, with the
//! region in `DATA_DIR/config`, so the AWS CLI and SDKs use it unchanged:
//! `AWS_SHARED_CREDENTIALS_FILE=DATA_DIR/credentials AWS_PROFILE=kvs-local aws --endpoint-url … kinesisvideo list-streams`.
//!
//! The credentials file is the store: on later starts the keys are read back from it (so a
//! user may also edit them), and both files are rewritten with the current region.

use std::path::{Path, PathBuf};

use super::policy::PolicyDocument;
use super::store::{Secret, User, new_access_key_id, new_secret_access_key};
use crate::error::Error;
use crate::fsutil;

/// Profile name written to the credentials and config files.
pub const PROFILE: &str = "kvs-local";

/// Name of the admin user (`arn:aws:iam::ACCOUNT:user/kvs-local-admin`).
pub const ADMIN_USER_NAME: &str = "kvs-local-admin";

/// `DATA_DIR/credentials`.
pub fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials")
}

/// `DATA_DIR/config`.
pub fn config_path(data_dir: &Path) -> PathBuf {
    data_dir.join("config")
}

/// Loads the admin from `DATA_DIR/credentials`, or creates one; then (re)writes the
/// credentials file (0600) and the config file with `region`.
pub fn load_or_create_admin(data_dir: &Path, region: &str) -> Result<User, Error> {
    let path = credentials_path(data_dir);
    let (access_key_id, secret) = match fsutil::read_optional(&path)? {
        Some(text) => parse_profile(&text, &path)?,
        None => (new_access_key_id("AKIA"), new_secret_access_key()),
    };
    let creds = format!(
        "# kvs-local admin user (all permissions). Written by kvs-local; keys are kept on restart.\n\
         [{PROFILE}]\n\
         aws_access_key_id = {access_key_id}\n\
         aws_secret_access_key = {}\n\
         region = {region}\n",
        secret.expose()
    );
    fsutil::write_private(&path, creds.as_bytes())?;
    let config = format!("# Written by kvs-local.\n[profile {PROFILE}]\nregion = {region}\n");
    fsutil::write_atomic(&config_path(data_dir), config.as_bytes())?;
    Ok(User {
        name: ADMIN_USER_NAME.to_owned(),
        access_key_id,
        secret_access_key: secret,
        policy: PolicyDocument::allow_all(),
    })
}

/// Reads `aws_access_key_id` / `aws_secret_access_key` of profile [`PROFILE`].
fn parse_profile(text: &str, path: &Path) -> Result<(String, Secret), Error> {
    let mut in_profile = false;
    let (mut akid, mut secret) = (None, None);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = section.trim() == PROFILE;
            continue;
        }
        if !in_profile {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::Malformed {
                path: path.to_owned(),
                what: "credentials file",
                line: i + 1,
                column: 1,
            });
        };
        match k.trim() {
            "aws_access_key_id" => akid = Some(v.trim().to_owned()),
            "aws_secret_access_key" => secret = Some(Secret::new(v.trim())),
            _ => {}
        }
    }
    match (akid, secret) {
        (Some(a), Some(s)) if !a.is_empty() && !s.expose().is_empty() => Ok((a, s)),
        _ => Err(Error::Config(format!(
            "{}: profile [{PROFILE}] lacks aws_access_key_id or aws_secret_access_key; \
             fix it or delete the file to create a new admin",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_survives_restart_and_file_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = load_or_create_admin(dir.path(), "us-east-1").expect("create");
        let b = load_or_create_admin(dir.path(), "eu-west-1").expect("reload");
        assert_eq!(a.access_key_id, b.access_key_id);
        assert_eq!(a.secret_access_key, b.secret_access_key);
        let text = std::fs::read_to_string(credentials_path(dir.path())).expect("read");
        assert!(text.contains("[kvs-local]"));
        assert!(text.contains("region = eu-west-1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(credentials_path(dir.path()))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let config = std::fs::read_to_string(config_path(dir.path())).expect("read");
        assert!(config.contains("[profile kvs-local]"));
    }

    #[test]
    fn broken_credentials_file_is_an_error_not_a_new_admin() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(credentials_path(dir.path()), "[kvs-local]\nnonsense\n").expect("write");
        let err = load_or_create_admin(dir.path(), "us-east-1").expect_err("malformed");
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
