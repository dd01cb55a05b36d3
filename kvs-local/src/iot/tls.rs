//! TLS for the IoT credentials endpoint (rustls with the aws-lc-rs provider).
//!
//! The handshake requires a client certificate and checks the client's proof of possession
//! of its key, but defers the *chain* check to the HTTP handler
//! ([`DeferredChainVerifier`]), which runs rustls's own `WebPkiClientVerifier` against
//! kvs-local's CA. That way a certificate from another CA gets AWS's HTTP answer (403
//! `Certificate is invalid on this endpoint`) instead of an opaque handshake failure, and no
//! request is served before the chain check: the handler does it first.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use crate::error::Error;

/// The crypto provider of every TLS object kvs-local builds.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Requires a client certificate and verifies the handshake signature made with its key;
/// the chain is verified later by [`ChainVerifier`].
#[derive(Debug)]
pub struct DeferredChainVerifier {
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for DeferredChainVerifier {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Deferred: the handler calls `ChainVerifier::verify` before serving anything.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Verifies a client chain against kvs-local's CA with rustls's WebPKI verifier.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ChainVerifier {
    /// A verifier trusting only `ca`.
    pub fn new(ca: &CertificateDer<'static>) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone())
            .map_err(|e| Error::Tls(format!("CA certificate not usable as a root: {e}")))?;
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| Error::Tls(format!("client verifier: {e}")))?;
        Ok(Self { inner })
    }

    /// Whether `chain` (end entity first) is valid and issued by the CA now.
    pub fn verify(&self, chain: &[CertificateDer<'static>]) -> bool {
        let Some((ee, intermediates)) = chain.split_first() else {
            return false;
        };
        self.inner
            .verify_client_cert(ee, intermediates, UnixTime::now())
            .is_ok()
    }
}

/// The endpoint's rustls configuration: server chain and key, mandatory client certificate.
pub fn server_config(
    ca: &CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = provider();
    let hints = x509_parser::parse_x509_certificate(ca)
        .map(|(_, c)| vec![DistinguishedName::from(c.subject().as_raw().to_vec())])
        .unwrap_or_default();
    let verifier = Arc::new(DeferredChainVerifier {
        hints,
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| Error::Tls(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
