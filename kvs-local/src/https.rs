//! TLS for the control and data planes' optional HTTPS listener.
//!
//! Real KVS endpoints are HTTPS only, and AWS's producer SDK samples put `https://` in
//! front of any `CONTROL_PLANE_URI` they are given, so an unmodified sample reaches
//! kvs-local only over TLS. The listener serves exactly what the plain one serves; its
//! certificate is either given (PEM files) or issued for `localhost`, `127.0.0.1` and `::1`
//! by the data dir's CA, whose certificate is written to `DATA_DIR/ca.pem` for clients to
//! pin (`AWS_KVS_CACERT_PATH`, `AWS_CA_BUNDLE`, `--ca-bundle`). No client certificate is
//! asked for: that is the IoT endpoint's job.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsIdentity;
use crate::error::Error;
use crate::fsutil;
use crate::iot::CertificateAuthority;

/// Where the CA that signs the generated HTTPS certificate is written.
pub fn ca_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ca.pem")
}

/// The HTTPS listener's rustls configuration: the given identity, or a certificate
/// issued by `ca` (then `DATA_DIR/ca.pem` is written).
pub fn server_config(
    identity: Option<&TlsIdentity>,
    ca: &CertificateAuthority,
    data_dir: &Path,
) -> Result<Arc<ServerConfig>, Error> {
    let (chain, key) = match identity {
        Some(id) => load_identity(id)?,
        None => {
            fsutil::write_atomic(&ca_path(data_dir), ca.certificate_pem().as_bytes())?;
            ca.issue_server("kvs-local", &[])?
        }
    };
    let mut config = ServerConfig::builder_with_provider(crate::iot::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Tls(format!("HTTPS certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn load_identity(
    id: &TlsIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let pem_err = |path: &Path, what: &str, e: rustls_pki_types::pem::Error| {
        Error::Tls(format!("{}: {what}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(&id.certificate_chain)
        .map_err(|e| pem_err(&id.certificate_chain, "certificate chain", e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(&id.certificate_chain, "certificate chain", e))?;
    if chain.is_empty() {
        return Err(Error::Tls(format!(
            "{}: no CERTIFICATE block",
            id.certificate_chain.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&id.private_key)
        .map_err(|e| pem_err(&id.private_key, "private key", e))?;
    Ok((chain, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_certificate_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = TlsIdentity {
            certificate_chain: dir.path().join("nope.pem"),
            private_key: dir.path().join("key.pem"),
        };
        let err = load_identity(&id).expect_err("missing file");
        assert!(err.to_string().contains("nope.pem"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, "not a pem file\n").expect("write");
        let id = TlsIdentity {
            certificate_chain: cert,
            private_key: dir.path().join("key.pem"),
        };
        let err = load_identity(&id).expect_err("empty chain");
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    }
}
