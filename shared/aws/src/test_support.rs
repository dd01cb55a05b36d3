//! Test fixtures for the KVS clients: a throw-away PKI (rcgen) with device keys in each PEM
//! encoding the IoT provider must accept, and a real rustls mutual-TLS HTTP/1.1 server on
//! `127.0.0.1:0` to talk to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Encodings of a device private key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyEncoding {
    /// RSA, PKCS#1 (`RSA PRIVATE KEY`).
    RsaPkcs1,
    /// RSA, PKCS#8 (`PRIVATE KEY`).
    RsaPkcs8,
    /// P-256, SEC1 / RFC 5915 (`EC PRIVATE KEY`).
    EcSec1,
    /// P-256, PKCS#8 (`PRIVATE KEY`).
    EcPkcs8,
}

/// A CA, a server certificate for 127.0.0.1/localhost, and the CA's issuer handle.
pub(crate) struct Pki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_params =
            CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        Self {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            issuer,
        }
    }

    /// A device certificate and its key in `encoding` (cert PEM, key PEM).
    pub(crate) fn device(&self, thing: &str, encoding: KeyEncoding) -> (String, String) {
        self.device_with(thing, encoding, |_| {})
    }

    /// [`Pki::device`] with a hook to change the certificate parameters.
    pub(crate) fn device_with(
        &self,
        thing: &str,
        encoding: KeyEncoding,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> (String, String) {
        let alg = match encoding {
            KeyEncoding::RsaPkcs1 | KeyEncoding::RsaPkcs8 => &rcgen::PKCS_RSA_SHA256,
            KeyEncoding::EcSec1 | KeyEncoding::EcPkcs8 => &rcgen::PKCS_ECDSA_P256_SHA256,
        };
        let key = KeyPair::generate_for(alg).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, thing);
        edit(&mut params);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let pkcs8 = key.serialize_der();
        let key_pem = match encoding {
            KeyEncoding::RsaPkcs8 | KeyEncoding::EcPkcs8 => key.serialize_pem(),
            KeyEncoding::RsaPkcs1 => pem("RSA PRIVATE KEY", pkcs8_inner_key(&pkcs8)),
            KeyEncoding::EcSec1 => {
                use aws_lc_rs::encoding::AsDer;
                let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    &pkcs8,
                )
                .unwrap();
                let sec1 = pair.private_key().as_der().unwrap();
                pem("EC PRIVATE KEY", sec1.as_ref())
            }
        };
        (cert.pem(), key_pem)
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Reads one DER TLV at `pos`: (tag, content range).
fn der_tlv(buf: &[u8], pos: usize) -> (u8, std::ops::Range<usize>) {
    let tag = buf[pos];
    let first = buf[pos + 1] as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        let len = buf[pos + 2..pos + 2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + n)
    };
    (tag, pos + header..pos + header + len)
}

/// The `privateKey` OCTET STRING of a PKCS#8 PrivateKeyInfo (RFC 5208): for RSA this is
/// the PKCS#1 RSAPrivateKey.
fn pkcs8_inner_key(pkcs8: &[u8]) -> &[u8] {
    let (_, outer) = der_tlv(pkcs8, 0);
    let (_, version) = der_tlv(pkcs8, outer.start);
    let (_, alg) = der_tlv(pkcs8, version.end);
    let (tag, key) = der_tlv(pkcs8, alg.end);
    assert_eq!(tag, 0x04, "PKCS#8 privateKey is an OCTET STRING");
    &pkcs8[key]
}

/// Writes `contents` to `dir/name` and returns the path.
pub(crate) fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A request handler for the test servers.
pub(crate) type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>
        + Send
        + Sync,
>;

/// Serves HTTPS on 127.0.0.1:0, requiring a client certificate issued by the PKI's CA.
pub(crate) async fn start_mtls_server(pki: &Pki, handler: Handler) -> SocketAddr {
    crate::config::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let mut config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let handler = handler.clone();
            tokio::spawn(async move {
                // A failed handshake (e.g. an untrusted client certificate) just drops the connection.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

/// Verifies a request our client sent with the one verifier ([`crate::sigv4::verify`]) as a
/// server holding `creds` would: access key, session token, scope, clock and signature.
pub(crate) fn verify_signed(
    parts: &http::request::Parts,
    creds: &aws_credential_types::Credentials,
    region: &str,
    payload: crate::sigv4::verify::PayloadHash<'_>,
) -> Result<(), String> {
    use crate::sigv4::verify::SignatureClaims;
    let claims = SignatureClaims::parse(parts).map_err(|e| e.to_string())?;
    if claims.access_key_id != creds.access_key_id() {
        return Err(format!("access key id {}", claims.access_key_id));
    }
    if claims.security_token.as_deref() != creds.session_token() {
        return Err("session token differs".into());
    }
    claims.check_scope(region).map_err(|e| e.to_string())?;
    claims
        .check_clock_skew(time::OffsetDateTime::now_utc())
        .map_err(|e| e.to_string())?;
    claims
        .verify_signature(
            parts,
            creds.secret_access_key(),
            creds.session_token(),
            payload,
        )
        .map_err(|e| e.to_string())
}
