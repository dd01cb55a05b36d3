//! kvs-local's certificate authority (`rcgen`): created once per data dir
//! (`DATA_DIR/iot/ca.pem`, key in `ca-key.pem`, mode 0600), it signs device certificates
//! (as `aws iot create-keys-and-certificate` would) and the IoT endpoint's server
//! certificate. Cameras pin `ca.pem` the way they pin Amazon Root CA 1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::auth::Secret;
use crate::error::Error;
use crate::fsutil;

/// Key algorithm of a device certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// ECDSA P-256 (default).
    #[default]
    EcP256,
    /// RSA 2048 (what `create-keys-and-certificate` issues).
    Rsa2048,
}

impl KeyType {
    /// `EC` or `RSA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcP256 => "EC",
            Self::Rsa2048 => "RSA",
        }
    }
}

/// A device certificate and its private key.
#[derive(Debug)]
pub struct IssuedCertificate {
    /// PEM certificate.
    pub certificate_pem: String,
    /// PEM private key (PKCS#8).
    pub private_key_pem: Secret,
    /// Certificate id: hex SHA-256 of the DER certificate (AWS IoT's certificateId form).
    pub certificate_id: String,
}

/// The CA of one data dir.
pub struct CertificateAuthority {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key: KeyPair,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("certificate_id", &certificate_id(&self.cert_der))
            .finish_non_exhaustive()
    }
}

fn cert_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Certificate {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

/// `DATA_DIR/iot/ca.pem`.
pub fn ca_path(iot_dir: &Path) -> PathBuf {
    iot_dir.join("ca.pem")
}

impl CertificateAuthority {
    /// Loads the CA of `iot_dir`, creating it on first use.
    pub fn load_or_create(iot_dir: &Path) -> Result<Self, Error> {
        fsutil::create_dir_private(iot_dir)?;
        let cert_path = ca_path(iot_dir);
        let key_path = iot_dir.join("ca-key.pem");
        let cert = fsutil::read_optional(&cert_path)?;
        let key = fsutil::read_optional(&key_path)?;
        match (cert, key) {
            (Some(cert_pem), Some(key_pem)) => {
                let key = KeyPair::from_pem(&key_pem).map_err(|e| cert_err("CA key", e))?;
                let cert_der = pem_to_der(&cert_pem, &cert_path)?;
                Ok(Self {
                    cert_pem,
                    cert_der,
                    key,
                })
            }
            (None, None) => {
                let key = KeyPair::generate().map_err(|e| cert_err("CA key", e))?;
                let mut params =
                    CertificateParams::new(Vec::<String>::new()).map_err(|e| cert_err("CA", e))?;
                params
                    .distinguished_name
                    .push(DnType::CommonName, "kvs-local Root CA");
                params
                    .distinguished_name
                    .push(DnType::OrganizationName, "kvs-local");
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
                params.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
                params.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
                let cert = params.self_signed(&key).map_err(|e| cert_err("CA", e))?;
                fsutil::write_private(&key_path, key.serialize_pem().as_bytes())?;
                fsutil::write_atomic(&cert_path, cert.pem().as_bytes())?;
                Ok(Self {
                    cert_pem: cert.pem(),
                    cert_der: cert.der().clone(),
                    key,
                })
            }
            _ => Err(Error::Config(format!(
                "{} has only one of ca.pem and ca-key.pem; restore the other or remove both",
                iot_dir.display()
            ))),
        }
    }

    /// The CA certificate (PEM), what cameras pin.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate (DER).
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    fn issuer(&self) -> Result<Issuer<'_, &KeyPair>, Error> {
        Issuer::from_ca_cert_der(&self.cert_der, &self.key).map_err(|e| cert_err("CA issuer", e))
    }

    /// Issues a client certificate for a device (`thing` goes in the subject for humans;
    /// the binding to the thing is the attachment record, as in AWS IoT).
    pub fn issue_device(&self, thing: &str, key_type: KeyType) -> Result<IssuedCertificate, Error> {
        let key = match key_type {
            KeyType::EcP256 => KeyPair::generate(),
            KeyType::Rsa2048 => KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256),
        }
        .map_err(|e| cert_err("device key", e))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| cert_err("device", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("kvs-local device {thing}"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(random_serial());
        params.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
        // AWS IoT device certificates are valid until 2049-12-31.
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let cert = params
            .signed_by(&key, &self.issuer()?)
            .map_err(|e| cert_err("device", e))?;
        Ok(IssuedCertificate {
            certificate_pem: cert.pem(),
            private_key_pem: Secret::new(key.serialize_pem()),
            certificate_id: certificate_id(cert.der()),
        })
    }

    /// Issues a server certificate (the IoT endpoint's, the HTTPS listener's) named
    /// `common_name`, for `localhost`, `127.0.0.1`, `::1` and `extra_names`.
    pub fn issue_server(
        &self,
        common_name: &str,
        extra_names: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
        let key = KeyPair::generate().map_err(|e| cert_err("server key", e))?;
        let mut names = vec!["localhost".to_owned()];
        names.extend(extra_names.iter().cloned());
        let mut params = CertificateParams::new(names).map_err(|e| cert_err("server", e))?;
        params.subject_alt_names.extend([
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ]);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.serial_number = Some(random_serial());
        params.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + time::Duration::days(365);
        let cert = params
            .signed_by(&key, &self.issuer()?)
            .map_err(|e| cert_err("server", e))?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone(), self.cert_der.clone()], key_der))
    }
}

fn random_serial() -> SerialNumber {
    let mut b = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
    b[0] &= 0x7f; // positive INTEGER
    SerialNumber::from_slice(&b)
}

/// AWS IoT's certificate id: hex SHA-256 of the DER certificate.
pub fn certificate_id(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

fn pem_to_der(pem: &str, path: &Path) -> Result<CertificateDer<'static>, Error> {
    use rustls_pki_types::pem::PemObject as _;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| cert_err(&path.display().to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_created_once_and_signs_devices() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = CertificateAuthority::load_or_create(dir.path()).expect("create");
        let b = CertificateAuthority::load_or_create(dir.path()).expect("load");
        assert_eq!(a.certificate_pem(), b.certificate_pem());
        let dev = b.issue_device("cam1", KeyType::EcP256).expect("issue");
        assert!(
            dev.certificate_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(dev.private_key_pem.expose().contains("PRIVATE KEY"));
        assert_eq!(dev.certificate_id.len(), 64);
        let rsa = b.issue_device("cam2", KeyType::Rsa2048).expect("rsa");
        assert_ne!(rsa.certificate_id, dev.certificate_id);
    }

    #[test]
    fn half_a_ca_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        CertificateAuthority::load_or_create(dir.path()).expect("create");
        std::fs::remove_file(dir.path().join("ca-key.pem")).expect("rm");
        assert!(CertificateAuthority::load_or_create(dir.path()).is_err());
    }
}
