//! Wrapping the per-fragment content key `K` for each recipient: HPKE Auth mode once per
//! recipient and *wrap epoch*, then a key exported from that context for each header.
//!
//! Suite (RFC 9180 §7): DHKEM(X25519, HKDF-SHA256) (0x0020), HKDF-SHA256 (0x0001),
//! ChaCha20-Poly1305 (0x0003), mode Auth (0x02, §5.1.3) with the camera's static key as the
//! sender key, `info` = [`super::kdf::wrap_info`] (stream name, camera key id, session id).
//! Per header, the wrap key is the HPKE export (§5.3) under
//! [`super::kdf::WRAP_KEY_LABEL`] ‖ `H` (the header hash, which covers every core byte), and
//! `K` is sealed under it with ChaCha20-Poly1305, nonce 0 (the key is unique to the header).
//!
//! Why an epoch and not one encapsulation per header: the three X25519 operations of an
//! HPKE Auth setup cost ~0.15 ms per recipient on a desktop core and ~1 ms on a camera's
//! Cortex-A7, every fragment, for every viewer — more than sealing all the fragment's
//! frames. The export keeps what the per-header setup gave: only the camera (or the
//! recipient) can derive a header's wrap key (Auth mode), any changed core byte changes it,
//! and a stanza moved to another header fails. A camera re-encapsulates at session start,
//! when its recipients change and every [`WRAP_EPOCH_HEADERS`] headers; a viewer derives a
//! context once per `enc` and caches it.
//!
//! Implemented with the `hpke` crate (rozbb/rust-hpke), which has not been externally
//! audited (FORMAT.md §8).

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::kdf::{ContentKey, KEY_LEN, WRAP_KEY_LABEL};
use super::key::{KeyId, PublicKey, SecretKey};

/// The HPKE KEM: DHKEM(X25519, HKDF-SHA256).
pub type Kem = hpke::kem::X25519HkdfSha256;
/// The HPKE KDF: HKDF-SHA256.
pub type Kdf = hpke::kdf::HkdfSha256;
/// The HPKE AEAD: ChaCha20-Poly1305 (the context's own AEAD; keys are wrapped under exports).
pub type Aead = hpke::aead::ChaCha20Poly1305;

/// Length of the KEM encapsulation `enc` (Nenc for X25519).
pub const ENC_LEN: usize = 32;
/// Length of `K` sealed under the header's wrap key: 32 bytes + 16-byte tag.
pub const WRAPPED_LEN: usize = KEY_LEN + 16;
/// Encoded length of one recipient stanza: key id ‖ enc ‖ wrapped key.
pub const STANZA_LEN: usize = KeyId::LEN + ENC_LEN + WRAPPED_LEN;
/// Headers a camera wraps under one HPKE context per recipient before it encapsulates
/// again (an hour of 2-second fragments).
pub const WRAP_EPOCH_HEADERS: u64 = 1800;

/// `K` wrapped for one recipient: the only per-recipient part of a header.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Stanza {
    /// Id of the recipient's public key, so a viewer finds its stanza without trial decryption.
    pub key_id: KeyId,
    /// HPKE encapsulated key of the recipient's current wrap epoch.
    pub enc: [u8; ENC_LEN],
    /// `K` sealed under the header's wrap key (nonce 0, empty AAD).
    pub wrapped: [u8; WRAPPED_LEN],
}

/// Why wrapping or unwrapping failed. Deliberately coarse: callers collapse it into one
/// opaque error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WrapError {
    /// HPKE encapsulation to a recipient key failed (e.g. a low-order public key).
    #[error("HPKE encapsulation to recipient {0} failed")]
    Encap(KeyId),
    /// Decapsulation or decryption of the wrapped key failed.
    #[error("wrapped key did not authenticate")]
    Unwrap,
}

/// The camera's static key pair in the form HPKE needs, converted once per session.
pub struct SenderKeys {
    sk: <Kem as hpke::Kem>::PrivateKey,
    pk: <Kem as hpke::Kem>::PublicKey,
}

impl SenderKeys {
    /// Converts the camera's secret key.
    pub fn new(camera: &SecretKey) -> Self {
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(camera.to_bytes().as_slice())
            .expect("any 32 bytes are an X25519 private key");
        let pk = <Kem as hpke::Kem>::sk_to_pk(&sk);
        Self { sk, pk }
    }
}

fn hpke_public(pk: &PublicKey) -> <Kem as hpke::Kem>::PublicKey {
    <Kem as hpke::Kem>::PublicKey::from_bytes(pk.as_bytes())
        .expect("any 32 bytes are an X25519 public key")
}

/// The header's wrap key: `Export(WRAP_KEY_LABEL ‖ H, 32)`.
fn wrap_key(
    export: impl FnOnce(&[u8], &mut [u8]) -> Result<(), hpke::HpkeError>,
    header_hash: &[u8; 32],
) -> Result<Zeroizing<[u8; KEY_LEN]>, WrapError> {
    let mut context = [0u8; WRAP_KEY_LABEL.len() + 32];
    context[..WRAP_KEY_LABEL.len()].copy_from_slice(WRAP_KEY_LABEL);
    context[WRAP_KEY_LABEL.len()..].copy_from_slice(header_hash);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    export(&context, key.as_mut_slice()).map_err(|_| WrapError::Unwrap)?;
    Ok(key)
}

/// A camera's HPKE Auth context with one recipient for one wrap epoch.
pub struct WrapContext {
    key_id: KeyId,
    enc: [u8; ENC_LEN],
    ctx: hpke::aead::AeadCtxS<Aead, Kdf, Kem>,
}

impl WrapContext {
    /// Encapsulates to `recipient` in Auth mode with `info` ([`super::kdf::wrap_info`]).
    pub fn new<R: CryptoRng + ?Sized>(
        sender: &SenderKeys,
        recipient: &PublicKey,
        info: &[u8],
        rng: &mut R,
    ) -> Result<Self, WrapError> {
        let mode = OpModeS::Auth((sender.sk.clone(), sender.pk.clone()));
        let (enc, ctx) = hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
            &mode,
            &hpke_public(recipient),
            info,
            &mut &mut *rng,
        )
        .map_err(|_| WrapError::Encap(recipient.key_id()))?;
        Ok(Self {
            key_id: recipient.key_id(),
            enc: enc.to_bytes().into(),
            ctx,
        })
    }

    /// Wraps `K` for the header whose hash is `header_hash`.
    pub fn wrap(
        &self,
        header_hash: &[u8; 32],
        content_key: &ContentKey,
    ) -> Result<Stanza, WrapError> {
        let key = wrap_key(|c, out| self.ctx.export(c, out), header_hash)
            .map_err(|_| WrapError::Encap(self.key_id))?;
        let mut wrapped = [0u8; WRAPPED_LEN];
        wrapped[..KEY_LEN].copy_from_slice(content_key.as_slice());
        let tag = ChaCha20Poly1305::new(&Key::from(*key))
            .encrypt_inout_detached(&Nonce::default(), b"", (&mut wrapped[..KEY_LEN]).into())
            .map_err(|_| WrapError::Encap(self.key_id))?;
        wrapped[KEY_LEN..].copy_from_slice(&tag);
        Ok(Stanza {
            key_id: self.key_id,
            enc: self.enc,
            wrapped,
        })
    }
}

/// A viewer's HPKE Auth context for one `enc` (one recipient epoch of one camera session).
pub struct UnwrapContext {
    ctx: hpke::aead::AeadCtxR<Aead, Kdf, Kem>,
}

impl UnwrapContext {
    /// Decapsulates `enc` with the viewer's `identity`, requiring that `camera` sent it.
    pub fn new(
        identity: &SecretKey,
        camera: &PublicKey,
        info: &[u8],
        enc: &[u8; ENC_LEN],
    ) -> Result<Self, WrapError> {
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(identity.to_bytes().as_slice())
            .map_err(|_| WrapError::Unwrap)?;
        let enc =
            <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| WrapError::Unwrap)?;
        let mode = OpModeR::Auth(hpke_public(camera));
        let ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(&mode, &sk, &enc, info)
            .map_err(|_| WrapError::Unwrap)?;
        Ok(Self { ctx })
    }

    /// Unwraps `K` from `stanza` for the header whose hash is `header_hash`.
    pub fn unwrap(&self, header_hash: &[u8; 32], stanza: &Stanza) -> Result<ContentKey, WrapError> {
        let key = wrap_key(|c, out| self.ctx.export(c, out), header_hash)?;
        let mut content_key = ContentKey::new([0u8; KEY_LEN]);
        content_key.copy_from_slice(&stanza.wrapped[..KEY_LEN]);
        let tag = Tag::try_from(&stanza.wrapped[KEY_LEN..]).map_err(|_| WrapError::Unwrap)?;
        ChaCha20Poly1305::new(&Key::from(*key))
            .decrypt_inout_detached(
                &Nonce::default(),
                b"",
                content_key.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| WrapError::Unwrap)?;
        Ok(content_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_wrapped_key_opens_only_for_its_header_recipient_and_camera() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let camera = SecretKey::generate(&mut rng);
        let viewer = SecretKey::generate(&mut rng);
        let other = SecretKey::generate(&mut rng);
        let info = b"info";
        let ctx = WrapContext::new(
            &SenderKeys::new(&camera),
            &viewer.public_key(),
            info,
            &mut rng,
        )
        .expect("encapsulates");
        let k = ContentKey::new([7; KEY_LEN]);
        let stanza = ctx.wrap(&[1; 32], &k).expect("wraps");
        let open = UnwrapContext::new(&viewer, &camera.public_key(), info, &stanza.enc)
            .expect("decapsulates");
        assert_eq!(
            *open.unwrap(&[1; 32], &stanza).expect("opens"),
            [7; KEY_LEN]
        );
        // Another header (a stanza moved between headers of one epoch).
        assert!(open.unwrap(&[2; 32], &stanza).is_err());
        // Another recipient, another claimed camera, another info.
        for (who, cam, inf) in [
            (&other, camera.public_key(), &info[..]),
            (&viewer, other.public_key(), &info[..]),
            (&viewer, camera.public_key(), &b"other"[..]),
        ] {
            let c = UnwrapContext::new(who, &cam, inf, &stanza.enc).expect("any enc decapsulates");
            assert!(c.unwrap(&[1; 32], &stanza).is_err());
        }
        // One context wraps many headers, each under its own key.
        let second = ctx.wrap(&[2; 32], &k).expect("wraps");
        assert_eq!(second.enc, stanza.enc);
        assert_ne!(second.wrapped, stanza.wrapped);
        assert!(open.unwrap(&[2; 32], &second).is_ok());
    }
}
