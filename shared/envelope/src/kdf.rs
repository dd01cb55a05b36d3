//! Domain-separation labels and the small key-derivation and hashing primitives of format v1.
//!
//! Every label is a constant so the specification (`docs/FORMAT.md` §Keys and labels) and
//! the code cannot drift; each names the one place it is used. All labels start with
//! `kvs-e2ee/v1/` so no value derived here can collide with another protocol's or with a
//! future format version's.

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::header::SessionId;
use super::key::KeyId;

/// Length of the per-fragment content key `K` and of every key derived from it.
pub const KEY_LEN: usize = 32;

/// HKDF-Extract salt for every key derived from `K` (RFC 5869 §2.2).
pub const HKDF_SALT: &[u8] = b"kvs-e2ee/v1";

/// HKDF-Expand info for the frame key: `frame_key = HKDF-SHA256(salt, K, FRAME_KEY_LABEL)`.
/// FORMAT.md §Frames. One key per fragment, so frame-index nonces never repeat under a key.
pub const FRAME_KEY_LABEL: &[u8] = b"kvs-e2ee/v1/frame-key";

/// HKDF-Expand info for the frame key of a fragment whose header names AES-256-GCM
/// (FORMAT.md §Frames): a different label per frame cipher, so one `K` never keys two
/// algorithms.
pub const FRAME_KEY_AES_256_GCM_LABEL: &[u8] = b"kvs-e2ee/v1/frame-key/aes-256-gcm";

/// HKDF-Expand info for the codec-data key (FORMAT.md §Codec data). Distinct from the frame
/// key so the codec ciphertext (nonce 0) can never collide with frame 0's nonce.
pub const CODEC_KEY_LABEL: &[u8] = b"kvs-e2ee/v1/codec-key";

/// Prefix of the header hash `H = SHA-256(HEADER_HASH_LABEL || header core)` that every
/// frame's AAD starts with (FORMAT.md §Frames).
pub const HEADER_HASH_LABEL: &[u8] = b"kvs-e2ee/v1/header-hash";

/// Prefix of the running fragment digest that the next header commits to (FORMAT.md §Chain).
pub const FRAGMENT_DIGEST_LABEL: &[u8] = b"kvs-e2ee/v1/fragment-digest";

/// Prefix of the HPKE `info` string (RFC 9180 §5.1) of a wrap context:
/// `info = HPKE_INFO_LABEL || u16 name length || stream name || camera key id || session id`
/// (FORMAT.md §3).
pub const HPKE_INFO_LABEL: &[u8] = b"kvs-e2ee/v1/wrap";

/// Prefix of the HPKE export context of a header's wrap key:
/// `wrap key = Export(WRAP_KEY_LABEL || H, 32)` (FORMAT.md §3).
pub const WRAP_KEY_LABEL: &[u8] = b"kvs-e2ee/v1/wrap-key";

/// The per-fragment content key `K`: 32 random bytes, zeroized when dropped.
pub type ContentKey = Zeroizing<[u8; KEY_LEN]>;

/// Derives a subkey of `K` with HKDF-SHA256 (RFC 5869): extract with [`HKDF_SALT`], expand
/// with `label`.
pub fn derive(content_key: &[u8; KEY_LEN], label: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), content_key);
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    hk.expand(label, okm.as_mut())
        .expect("32 bytes is far below HKDF-SHA256's 255*32 byte limit");
    okm
}

/// `H = SHA-256(HEADER_HASH_LABEL || core)`: names a header inside frame AADs and digests.
pub fn header_hash(core: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(HEADER_HASH_LABEL);
    h.update(core);
    h.finalize().into()
}

/// The HPKE `info` of a camera session's wrap contexts: `HPKE_INFO_LABEL || u16 stream
/// name length || stream name || camera key id || session id`.
pub fn wrap_info(stream_name: &str, camera: &KeyId, session: &SessionId) -> Vec<u8> {
    let name = stream_name.as_bytes();
    let mut info = Vec::with_capacity(HPKE_INFO_LABEL.len() + 2 + name.len() + 8 + 16);
    info.extend_from_slice(HPKE_INFO_LABEL);
    // Stream names are at most 256 bytes (checked when a header is encoded or decoded).
    info.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes());
    info.extend_from_slice(name);
    info.extend_from_slice(&camera.to_bytes());
    info.extend_from_slice(&session.0);
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_per_label_and_key() {
        let k1 = [1u8; KEY_LEN];
        let k2 = [2u8; KEY_LEN];
        assert_ne!(*derive(&k1, FRAME_KEY_LABEL), *derive(&k1, CODEC_KEY_LABEL));
        assert_ne!(
            *derive(&k1, FRAME_KEY_LABEL),
            *derive(&k1, FRAME_KEY_AES_256_GCM_LABEL)
        );
        assert_ne!(*derive(&k1, FRAME_KEY_LABEL), *derive(&k2, FRAME_KEY_LABEL));
        assert_eq!(*derive(&k1, FRAME_KEY_LABEL), *derive(&k1, FRAME_KEY_LABEL));
    }

    #[test]
    fn header_hash_is_domain_separated() {
        let mut plain = Sha256::new();
        plain.update(b"core");
        let plain: [u8; 32] = plain.finalize().into();
        assert_ne!(header_hash(b"core"), plain);
    }
}
