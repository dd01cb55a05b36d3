//! X25519 key pairs and the key ids that name them in the envelope.
//!
//! Cameras and viewers both hold X25519 keys (RFC 7748). These types are the
//! only way key material enters the envelope, so the rules for secrets live
//! here once: a [`SecretKey`] zeroizes on drop and implements neither `Debug`
//! nor `Display`, so it cannot reach a log or an error message by accident.
//! Text forms (bech32) and key files belong to the `kvs-e2ee-keys` crate.

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Domain separation label for [`KeyId`]: `SHA-256(KEY_ID_LABEL || public key)[..8]`.
pub const KEY_ID_LABEL: &[u8] = b"kvs-e2ee/v1/key-id";

/// Length in bytes of an X25519 public or secret key.
pub const KEY_LEN: usize = 32;

/// An X25519 public key (a camera's or a viewer's).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    /// Wraps the 32 bytes of an X25519 public key (RFC 7748 §5, little-endian u-coordinate).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.0
    }

    /// The 32 bytes of the key, borrowed.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The short public id that names this key in fragment headers and listings.
    pub fn key_id(&self) -> KeyId {
        let mut h = Sha256::new();
        h.update(KEY_ID_LABEL);
        h.update(self.0);
        let digest = h.finalize();
        let mut id = [0u8; KeyId::LEN];
        id.copy_from_slice(&digest[..KeyId::LEN]);
        KeyId(id)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

/// An X25519 secret key. Zeroized on drop; deliberately neither `Debug` nor `Display`.
pub struct SecretKey(x25519_dalek::StaticSecret);

impl SecretKey {
    /// Generates a fresh key from a cryptographic RNG (injected so tests can be deterministic).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_bytes(*bytes)
    }

    /// Wraps 32 secret bytes. The bytes are clamped when used (RFC 7748 §5).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(x25519_dalek::StaticSecret::from(bytes))
    }

    /// The secret bytes, in a buffer that zeroizes on drop. Only key files need this.
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// The id of the matching public key.
    pub fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }
}

impl Clone for SecretKey {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.to_bytes())
    }
}

/// The public id of a key: the first 8 bytes of `SHA-256("kvs-e2ee/v1/key-id" || public key)`.
///
/// Shown in clear in fragment headers so a viewer finds its wrapped key without
/// trial decryption; it reveals which keys a fragment is for, never the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; KeyId::LEN]);

impl KeyId {
    /// Length of a key id in bytes.
    pub const LEN: usize = 8;

    /// Wraps raw id bytes (as read from a header).
    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// The raw id bytes.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_matches_rfc7748_vector() {
        // RFC 7748 §6.1: Alice's private and public key.
        let sk: [u8; 32] =
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .expect("valid hex")
                .try_into()
                .expect("32 bytes");
        let pk = hex::decode("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
            .expect("valid hex");
        assert_eq!(
            SecretKey::from_bytes(sk).public_key().to_bytes().as_slice(),
            pk
        );
    }

    #[test]
    fn key_id_is_stable_and_distinct() {
        let a = PublicKey::from_bytes([1; 32]);
        let b = PublicKey::from_bytes([2; 32]);
        assert_eq!(a.key_id(), a.key_id());
        assert_ne!(a.key_id(), b.key_id());
        assert_eq!(a.key_id().to_string().len(), 16);
    }
}
