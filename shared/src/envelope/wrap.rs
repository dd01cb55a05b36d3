//! Wrapping the per-fragment content key `K` for each recipient with HPKE Auth mode.
//!
//! Suite (RFC 9180 §7): DHKEM(X25519, HKDF-SHA256) (0x0020), HKDF-SHA256 (0x0001),
//! ChaCha20-Poly1305 (0x0003), mode Auth (0x02, §5.1.3) with the camera's static key as the
//! sender key. The HPKE `info` is the header core (see [`super::kdf::hpke_info`]), so a
//! successful unwrap proves both that the camera sent this header and that no byte of the
//! core was changed. Implemented with the `hpke` crate (rozbb/rust-hpke), which has not been
//! externally audited (FORMAT.md §Dependencies).

use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;

use super::kdf::{ContentKey, KEY_LEN};
use super::key::{KeyId, PublicKey, SecretKey};

/// The HPKE KEM: DHKEM(X25519, HKDF-SHA256).
pub type Kem = hpke::kem::X25519HkdfSha256;
/// The HPKE KDF: HKDF-SHA256.
pub type Kdf = hpke::kdf::HkdfSha256;
/// The HPKE AEAD: ChaCha20-Poly1305.
pub type Aead = hpke::aead::ChaCha20Poly1305;

/// Length of the KEM encapsulation `enc` (Nenc for X25519).
pub const ENC_LEN: usize = 32;
/// Length of `K` sealed under the HPKE context: 32 bytes + 16-byte tag.
pub const WRAPPED_LEN: usize = KEY_LEN + 16;
/// Encoded length of one recipient stanza: key id ‖ enc ‖ wrapped key.
pub const STANZA_LEN: usize = KeyId::LEN + ENC_LEN + WRAPPED_LEN;

/// `K` wrapped for one recipient: the only per-recipient part of a header.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Stanza {
    /// Id of the recipient's public key, so a viewer finds its stanza without trial decryption.
    pub key_id: KeyId,
    /// HPKE encapsulated key (the ephemeral X25519 public key).
    pub enc: [u8; ENC_LEN],
    /// `K` sealed with the HPKE context (sequence number 0, empty AAD).
    pub wrapped: [u8; WRAPPED_LEN],
}

/// Why an unwrap failed. Deliberately coarse: callers collapse it into one opaque error.
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

/// Wraps `K` for `recipient` in Auth mode with `info`.
pub fn wrap_key<R: CryptoRng + ?Sized>(
    sender: &SenderKeys,
    recipient: &PublicKey,
    info: &[u8],
    content_key: &ContentKey,
    rng: &mut R,
) -> Result<Stanza, WrapError> {
    let mode = OpModeS::Auth((sender.sk.clone(), sender.pk.clone()));
    let (enc, mut ctx) = hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
        &mode,
        &hpke_public(recipient),
        info,
        &mut &mut *rng,
    )
    .map_err(|_| WrapError::Encap(recipient.key_id()))?;
    let mut wrapped = [0u8; WRAPPED_LEN];
    wrapped[..KEY_LEN].copy_from_slice(content_key.as_slice());
    let tag = ctx
        .seal_inout_detached(hpke::inout::InOutBuf::from(&mut wrapped[..KEY_LEN]), b"")
        .map_err(|_| WrapError::Encap(recipient.key_id()))?;
    wrapped[KEY_LEN..].copy_from_slice(&tag.to_bytes());
    Ok(Stanza {
        key_id: recipient.key_id(),
        enc: enc.to_bytes().into(),
        wrapped,
    })
}

/// Unwraps `K` from `stanza` with the viewer's `identity`, requiring that `camera` sent it.
pub fn unwrap_key(
    identity: &SecretKey,
    camera: &PublicKey,
    info: &[u8],
    stanza: &Stanza,
) -> Result<ContentKey, WrapError> {
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(identity.to_bytes().as_slice())
        .map_err(|_| WrapError::Unwrap)?;
    let enc =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(&stanza.enc).map_err(|_| WrapError::Unwrap)?;
    let mode = OpModeR::Auth(hpke_public(camera));
    let mut ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(&mode, &sk, &enc, info)
        .map_err(|_| WrapError::Unwrap)?;
    let mut key = ContentKey::new([0u8; KEY_LEN]);
    key.copy_from_slice(&stanza.wrapped[..KEY_LEN]);
    let tag = hpke::aead::AeadTag::<Aead>::from_bytes(&stanza.wrapped[KEY_LEN..])
        .map_err(|_| WrapError::Unwrap)?;
    ctx.open_inout_detached(hpke::inout::InOutBuf::from(key.as_mut_slice()), b"", &tag)
        .map_err(|_| WrapError::Unwrap)?;
    Ok(key)
}
