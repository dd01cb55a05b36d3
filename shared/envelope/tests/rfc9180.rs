//! RFC 9180 Appendix A.2 test vectors (A.2.1 Base, A.2.3 Auth) for our HPKE suite:
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, via the `hpke` crate.
//!
//! The crate clamps X25519 secret keys when serialising, so secret bytes are not compared;
//! public keys, `enc`, every ciphertext and every exported value are.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use kvs_e2ee_envelope::SecretKey;
use kvs_e2ee_envelope::suite::{Aead, Kdf, Kem};
use serde_json::Value;

/// An "RNG" that yields the RFC's ikmE, so encapsulation is deterministic.
struct Replay(Vec<u8>);

impl rand_core::TryRng for Replay {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        unreachable!("HPKE only asks for bytes")
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        unreachable!("HPKE only asks for bytes")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert!(dst.len() <= self.0.len(), "asked for more than ikmE");
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Replay {}

fn h(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap_or_else(|| panic!("field {k}"))).unwrap()
}

#[test]
fn hpke_matches_rfc9180_a2_base_and_auth() {
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/rfc9180-x25519-chacha.json"
    ))
    .unwrap();
    let doc: Value = serde_json::from_str(&file).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let section = case["section"].as_str().unwrap();
        let info = h(case, "info");
        let (sk_r, pk_r) = Kem::derive_keypair(&h(case, "ikmR"));
        assert_eq!(pk_r.to_bytes().as_slice(), h(case, "pkRm"), "{section} pkR");
        // Our key type agrees with the RFC's serialised secret key.
        let ours = SecretKey::from_bytes(h(case, "skRm").try_into().unwrap());
        assert_eq!(ours.public_key().to_bytes().as_slice(), h(case, "pkRm"));

        let sender = match case["mode"].as_u64().unwrap() {
            0 => None,
            2 => {
                let (sk_s, pk_s) = Kem::derive_keypair(&h(case, "ikmS"));
                assert_eq!(pk_s.to_bytes().as_slice(), h(case, "pkSm"), "{section} pkS");
                Some((sk_s, pk_s))
            }
            m => panic!("unexpected mode {m}"),
        };
        let (mode_s, mode_r) = match &sender {
            None => (OpModeS::Base, OpModeR::Base),
            Some((sk, pk)) => (
                OpModeS::Auth((sk.clone(), pk.clone())),
                OpModeR::Auth(pk.clone()),
            ),
        };
        let (enc, mut ctx_s) = hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
            &mode_s,
            &pk_r,
            &info,
            &mut Replay(h(case, "ikmE")),
        )
        .unwrap();
        assert_eq!(enc.to_bytes().as_slice(), h(case, "enc"), "{section} enc");
        assert_eq!(h(case, "enc"), h(case, "pkEm"));
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&h(case, "enc")).unwrap();
        let mut ctx_r =
            hpke::setup_receiver::<Aead, Kdf, Kem>(&mode_r, &sk_r, &enc, &info).unwrap();

        let encs = case["encryptions"].as_array().unwrap();
        let last = encs
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .max()
            .unwrap();
        for seq in 0..=last {
            let listed = encs.iter().find(|e| e["seq"].as_u64() == Some(seq));
            let (pt, aad) = match listed {
                Some(e) => (h(e, "pt"), h(e, "aad")),
                None => (b"filler".to_vec(), Vec::new()),
            };
            let ct = ctx_s.seal(&pt, &aad).unwrap();
            if let Some(e) = listed {
                assert_eq!(ct, h(e, "ct"), "{section} ct at seq {seq}");
            }
            assert_eq!(
                ctx_r.open(&ct, &aad).unwrap(),
                pt,
                "{section} open at seq {seq}"
            );
        }
        for e in case["exports"].as_array().unwrap() {
            let mut out_s = vec![0u8; e["L"].as_u64().unwrap() as usize];
            let mut out_r = out_s.clone();
            ctx_s.export(&h(e, "exporter_context"), &mut out_s).unwrap();
            ctx_r.export(&h(e, "exporter_context"), &mut out_r).unwrap();
            assert_eq!(out_s, h(e, "exported_value"), "{section} export");
            assert_eq!(out_r, out_s);
        }
    }
}

#[test]
fn auth_mode_rejects_wrong_sender() {
    let (_, pk_r) = Kem::derive_keypair(b"recipient ikm with enough bytes!");
    let (sk_s, pk_s) = Kem::derive_keypair(b"sender ikm with enough bytes....");
    let (_, pk_x) = Kem::derive_keypair(b"impostor ikm with enough bytes..");
    let (sk_r, _) = Kem::derive_keypair(b"recipient ikm with enough bytes!");
    let (enc, mut ctx) = hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Auth((sk_s, pk_s)),
        &pk_r,
        b"info",
        &mut Replay(vec![7; 32]),
    )
    .unwrap();
    let ct = ctx.seal(b"k", b"").unwrap();
    let mut wrong =
        hpke::setup_receiver::<Aead, Kdf, Kem>(&OpModeR::Auth(pk_x), &sk_r, &enc, b"info").unwrap();
    assert!(wrong.open(&ct, b"").is_err());
}
