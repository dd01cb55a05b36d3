//! Frame encryption: ChaCha20-Poly1305 under the fragment's frame key, in place.
//!
//! Nonce = frame index within the fragment (the key is fresh per fragment, so a nonce never
//! repeats under a key). AAD = header hash ‖ track ‖ timecode ‖ flags ‖ index (53 bytes on
//! the stack), so a frame moved to another index, fragment, track, stream or time fails to
//! authenticate. This is the per-frame hot path: no allocation here.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use sha2::{Digest, Sha256};

use super::header::DIGEST_LEN;
use super::kdf::{self, FRAGMENT_DIGEST_LABEL, FRAME_KEY_LABEL, KEY_LEN};

/// Length of the Poly1305 tag appended to every frame.
pub const TAG_LEN: usize = 16;
/// Length of a frame's AAD: header hash (32) ‖ track (8) ‖ timecode (8) ‖ flags (1) ‖ index (4).
pub const AAD_LEN: usize = 32 + 8 + 8 + 1 + 4;

/// Where a frame sits: every field is bound into its AAD.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FrameMeta {
    /// Matroska track number.
    pub track: u64,
    /// Absolute timecode (cluster timecode + block offset, TimecodeScale units).
    pub timecode: u64,
    /// The SimpleBlock key-frame flag.
    pub keyframe: bool,
    /// Index of the frame within its fragment, from 0 (also the nonce).
    pub index: u32,
}

impl FrameMeta {
    fn flags(&self) -> u8 {
        u8::from(self.keyframe)
    }

    fn aad(&self, header_hash: &[u8; 32]) -> [u8; AAD_LEN] {
        let mut aad = [0u8; AAD_LEN];
        aad[..32].copy_from_slice(header_hash);
        aad[32..40].copy_from_slice(&self.track.to_be_bytes());
        aad[40..48].copy_from_slice(&self.timecode.to_be_bytes());
        aad[48] = self.flags();
        aad[49..].copy_from_slice(&self.index.to_be_bytes());
        aad
    }

    fn nonce(&self) -> Nonce {
        let mut n = [0u8; 12];
        n[8..].copy_from_slice(&self.index.to_be_bytes());
        Nonce::from(n)
    }
}

/// A frame failed to authenticate (nothing more is said on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameAuthError;

/// The frame cipher of one fragment, bound to its header.
pub struct FrameKey {
    cipher: ChaCha20Poly1305,
    header_hash: [u8; 32],
}

impl FrameKey {
    /// Derives the frame key from `K` (HKDF label [`FRAME_KEY_LABEL`]) for the header whose
    /// hash is `header_hash`.
    pub fn new(content_key: &[u8; KEY_LEN], header_hash: [u8; 32]) -> Self {
        let key = kdf::derive(content_key, FRAME_KEY_LABEL);
        let cipher = ChaCha20Poly1305::new(&Key::from(*key));
        Self {
            cipher,
            header_hash,
        }
    }

    /// The hash of the header this key belongs to.
    pub fn header_hash(&self) -> &[u8; 32] {
        &self.header_hash
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal_in_place(&self, meta: &FrameMeta, buf: &mut [u8]) -> [u8; TAG_LEN] {
        let aad = meta.aad(&self.header_hash);
        let tag = self
            .cipher
            .encrypt_inout_detached(&meta.nonce(), &aad, buf.into())
            .expect("a frame under 2^38 bytes always encrypts");
        tag.into()
    }

    /// Verifies `tag` and decrypts `buf` in place. On failure `buf` must be discarded: the
    /// caller never releases it (the cipher verifies before it decrypts).
    pub fn open_in_place(
        &self,
        meta: &FrameMeta,
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), FrameAuthError> {
        let aad = meta.aad(&self.header_hash);
        self.cipher
            .decrypt_inout_detached(&meta.nonce(), &aad, buf.into(), &Tag::from(*tag))
            .map_err(|_| FrameAuthError)
    }
}

/// The running digest over a fragment's frames that the next header commits to:
/// `SHA-256(FRAGMENT_DIGEST_LABEL ‖ H ‖ Σ (index ‖ track ‖ timecode ‖ flags ‖ tag))`.
#[derive(Clone)]
pub struct FragmentDigest {
    hasher: Sha256,
    count: u32,
}

impl FragmentDigest {
    /// Starts the digest of the fragment whose header hash is `header_hash`.
    pub fn new(header_hash: &[u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(FRAGMENT_DIGEST_LABEL);
        hasher.update(header_hash);
        Self { hasher, count: 0 }
    }

    /// Adds one authenticated frame.
    pub fn update(&mut self, meta: &FrameMeta, tag: &[u8; TAG_LEN]) {
        let mut rec = [0u8; 4 + 8 + 8 + 1 + TAG_LEN];
        rec[..4].copy_from_slice(&meta.index.to_be_bytes());
        rec[4..12].copy_from_slice(&meta.track.to_be_bytes());
        rec[12..20].copy_from_slice(&meta.timecode.to_be_bytes());
        rec[20] = meta.flags();
        rec[21..].copy_from_slice(tag);
        self.hasher.update(rec);
        self.count += 1;
    }

    /// Frames added so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The digest of the frames added so far.
    pub fn finalize(&self) -> [u8; DIGEST_LEN] {
        self.hasher.clone().finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(index: u32) -> FrameMeta {
        FrameMeta {
            track: 1,
            timecode: 1000 + u64::from(index),
            keyframe: index == 0,
            index,
        }
    }

    #[test]
    fn frame_round_trips_and_binds_every_aad_field() {
        let key = FrameKey::new(&[5; 32], [6; 32]);
        let mut buf = *b"sixteen byte msg";
        let m = meta(3);
        let tag = key.seal_in_place(&m, &mut buf);
        assert_ne!(&buf, b"sixteen byte msg");
        let variants = [
            FrameMeta { track: 2, ..m },
            FrameMeta {
                timecode: m.timecode + 1,
                ..m
            },
            FrameMeta {
                keyframe: !m.keyframe,
                ..m
            },
            FrameMeta { index: 4, ..m },
        ];
        for v in variants {
            let mut b = buf;
            assert_eq!(key.open_in_place(&v, &mut b, &tag), Err(FrameAuthError));
        }
        let other_header = FrameKey::new(&[5; 32], [7; 32]);
        let mut b = buf;
        assert!(other_header.open_in_place(&m, &mut b, &tag).is_err());
        key.open_in_place(&m, &mut buf, &tag).expect("authentic");
        assert_eq!(&buf, b"sixteen byte msg");
    }

    #[test]
    fn digest_depends_on_order_and_count() {
        let mut a = FragmentDigest::new(&[1; 32]);
        let mut b = FragmentDigest::new(&[1; 32]);
        a.update(&meta(0), &[1; 16]);
        a.update(&meta(1), &[2; 16]);
        b.update(&meta(0), &[1; 16]);
        assert_ne!(a.finalize(), b.finalize());
        assert_eq!(a.count(), 2);
    }
}
