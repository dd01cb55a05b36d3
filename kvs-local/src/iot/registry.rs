//! Registered device certificates and their thing attachments
//! (`DATA_DIR/iot/certificates.json`), the local equivalent of AWS IoT's certificate
//! registry and `attach-thing-principal`.
//!
//! `kvs-local iot provision` may write this file while a server runs, so the server re-reads
//! it whenever it meets a certificate it does not know.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::fsutil;

/// Status of a registered certificate (AWS IoT: `ACTIVE`, `INACTIVE`, `REVOKED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificateStatus {
    /// Usable.
    Active,
    /// Deactivated.
    Inactive,
    /// Revoked.
    Revoked,
}

/// A registered certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Hex SHA-256 of the DER certificate.
    pub certificate_id: String,
    /// Status.
    pub status: CertificateStatus,
    /// `EC` or `RSA`.
    pub key_type: String,
    /// Things the certificate is attached to.
    pub things: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    certificates: Vec<CertificateRecord>,
}

/// The certificate registry of a data dir.
#[derive(Debug)]
pub struct CertificateRegistry {
    path: PathBuf,
    inner: RwLock<RegistryFile>,
}

impl CertificateRegistry {
    /// Opens `iot_dir/certificates.json` (empty if absent).
    pub fn open(iot_dir: &Path) -> Result<Self, Error> {
        let path = iot_dir.join("certificates.json");
        let inner = load(&path)?;
        Ok(Self {
            path,
            inner: RwLock::new(inner),
        })
    }

    /// Registers a certificate attached to `thing` and saves the file.
    pub fn register(&self, certificate_id: &str, key_type: &str, thing: &str) -> Result<(), Error> {
        let mut g = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Merge with what another process may have written meanwhile.
        *g = load(&self.path)?;
        match g
            .certificates
            .iter_mut()
            .find(|c| c.certificate_id == certificate_id)
        {
            Some(c) if !c.things.iter().any(|t| t == thing) => c.things.push(thing.to_owned()),
            Some(_) => {}
            None => g.certificates.push(CertificateRecord {
                certificate_id: certificate_id.to_owned(),
                status: CertificateStatus::Active,
                key_type: key_type.to_owned(),
                things: vec![thing.to_owned()],
            }),
        }
        let json = serde_json::to_vec_pretty(&*g).expect("registry serializes infallibly");
        fsutil::write_atomic(&self.path, &json)
    }

    /// The record of `certificate_id`, re-reading the file if it is not known yet.
    pub fn lookup(&self, certificate_id: &str) -> Option<CertificateRecord> {
        let find = |f: &RegistryFile| {
            f.certificates
                .iter()
                .find(|c| c.certificate_id == certificate_id)
                .cloned()
        };
        {
            let g = self
                .inner
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(r) = find(&g) {
                return Some(r);
            }
        }
        let fresh = load(&self.path).ok()?;
        let found = find(&fresh);
        *self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        found
    }
}

fn load(path: &Path) -> Result<RegistryFile, Error> {
    match fsutil::read_optional(path)? {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| Error::json(path, "certificate registry", &e))
        }
        None => Ok(RegistryFile::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_persist_and_are_seen_by_another_instance() {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = CertificateRegistry::open(dir.path()).expect("open");
        let cli = CertificateRegistry::open(dir.path()).expect("open");
        cli.register("abc", "EC", "cam1").expect("register");
        cli.register("abc", "EC", "cam1b")
            .expect("attach a second thing");
        let rec = server.lookup("abc").expect("re-read on miss");
        assert_eq!(rec.things, ["cam1", "cam1b"]);
        assert_eq!(rec.status, CertificateStatus::Active);
        assert!(server.lookup("def").is_none());
    }
}
