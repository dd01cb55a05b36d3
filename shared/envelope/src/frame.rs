//! Frame encryption: an AEAD under the fragment's frame key, in place.
//!
//! Nonce = frame index within the fragment (the key is fresh per fragment, so a nonce never
//! repeats under a key). AAD = header hash ‖ track ‖ timecode ‖ flags ‖ index (53 bytes on
//! the stack), so a frame moved to another index, fragment, track, stream or time fails to
//! authenticate. This is the per-frame hot path: no allocation here.
//!
//! Two frame ciphers, named in every header's authenticated core ([`FrameCipher`]):
//! ChaCha20-Poly1305 (the default, fast everywhere, in constant time without AES hardware:
//! most camera SoCs) and AES-256-GCM (five to eight times faster where the CPU has AES and
//! carry-less multiply instructions: x86-64 NVRs, ARMv8 SoCs with the crypto extension).
//! Both come from `aws-lc-rs` (AWS-LC's assembly, already linked for TLS): its
//! ChaCha20-Poly1305 runs at twice the speed of the portable RustCrypto crate here
//! (`docs/BENCHMARKS.md`), and the frame AEAD is the camera's one per-byte cost.

use aws_lc_rs::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

use super::header::DIGEST_LEN;
use super::kdf::{
    self, FRAGMENT_DIGEST_LABEL, FRAME_KEY_AES_256_GCM_LABEL, FRAME_KEY_LABEL, KEY_LEN,
};

/// Length of the authentication tag appended to every frame (both ciphers).
pub const TAG_LEN: usize = 16;
/// Length of a frame's AAD: header hash (32) ‖ track (8) ‖ timecode (8) ‖ flags (1) ‖ index (4).
pub const AAD_LEN: usize = 32 + 8 + 8 + 1 + 4;

/// The AEAD that seals a fragment's frames; its id is a byte of the header core, so it is
/// authenticated with everything else and a viewer cannot be made to use another.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum FrameCipher {
    /// ChaCha20-Poly1305 (RFC 8439), id 1: the default.
    #[default]
    ChaCha20Poly1305 = 1,
    /// AES-256-GCM (NIST SP 800-38D), id 2: for CPUs with AES instructions.
    Aes256Gcm = 2,
}

impl FrameCipher {
    /// Every cipher, in id order.
    pub const ALL: [FrameCipher; 2] = [FrameCipher::ChaCha20Poly1305, FrameCipher::Aes256Gcm];

    /// The id written in the header core.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The cipher with header id `id`, if this version knows it.
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.id() == id)
    }

    /// The name used on command lines and in reports (`chacha20-poly1305`, `aes-256-gcm`).
    pub fn name(self) -> &'static str {
        match self {
            FrameCipher::ChaCha20Poly1305 => "chacha20-poly1305",
            FrameCipher::Aes256Gcm => "aes-256-gcm",
        }
    }

    /// The faster cipher on this CPU: AES-256-GCM when it has AES and carry-less multiply
    /// instructions (x86-64 AES-NI + PCLMULQDQ, AArch64 AES + PMULL), else ChaCha20-Poly1305,
    /// whose software implementation is both faster and constant-time without them.
    pub fn fastest_here() -> Self {
        if has_aes_hardware() {
            FrameCipher::Aes256Gcm
        } else {
            FrameCipher::ChaCha20Poly1305
        }
    }

    fn algorithm(self) -> &'static aws_lc_rs::aead::Algorithm {
        match self {
            FrameCipher::ChaCha20Poly1305 => &CHACHA20_POLY1305,
            FrameCipher::Aes256Gcm => &AES_256_GCM,
        }
    }

    fn key_label(self) -> &'static [u8] {
        match self {
            FrameCipher::ChaCha20Poly1305 => FRAME_KEY_LABEL,
            FrameCipher::Aes256Gcm => FRAME_KEY_AES_256_GCM_LABEL,
        }
    }
}

impl std::fmt::Display for FrameCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A frame cipher name that is not one of [`FrameCipher::name`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown frame cipher {0:?}: expected chacha20-poly1305 or aes-256-gcm")]
pub struct UnknownFrameCipher(pub String);

impl std::str::FromStr for FrameCipher {
    type Err = UnknownFrameCipher;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFrameCipher(s.to_owned()))
    }
}

#[cfg(target_arch = "x86_64")]
fn has_aes_hardware() -> bool {
    std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
}

#[cfg(target_arch = "aarch64")]
fn has_aes_hardware() -> bool {
    std::arch::is_aarch64_feature_detected!("aes")
        && std::arch::is_aarch64_feature_detected!("pmull")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn has_aes_hardware() -> bool {
    false
}

/// What the container says of a frame, all of it bound into the frame's AAD: a frame moved
/// to another track, re-timed or re-flagged fails to authenticate.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct FrameMeta {
    /// Matroska track number.
    pub track: u64,
    /// Absolute timecode (cluster timecode + block offset, TimecodeScale units).
    pub timecode: u64,
    /// The SimpleBlock key-frame flag.
    pub keyframe: bool,
}

/// Where a frame sits in its fragment: its [`FrameMeta`] and its index, from 0 (also the
/// nonce). Every field is bound into the AAD.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FramePosition {
    /// Track, timecode and key-frame flag.
    pub meta: FrameMeta,
    /// Index of the frame within its fragment, from 0.
    pub index: u32,
}

impl FramePosition {
    fn flags(&self) -> u8 {
        u8::from(self.meta.keyframe)
    }

    fn aad(&self, header_hash: &[u8; 32]) -> [u8; AAD_LEN] {
        let mut aad = [0u8; AAD_LEN];
        aad[..32].copy_from_slice(header_hash);
        aad[32..40].copy_from_slice(&self.meta.track.to_be_bytes());
        aad[40..48].copy_from_slice(&self.meta.timecode.to_be_bytes());
        aad[48] = self.flags();
        aad[49..].copy_from_slice(&self.index.to_be_bytes());
        aad
    }

    fn nonce(&self) -> Nonce {
        let mut n = [0u8; 12];
        n[8..].copy_from_slice(&self.index.to_be_bytes());
        Nonce::assume_unique_for_key(n)
    }
}

/// A frame failed to authenticate (nothing more is said on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameAuthError;

/// The frame cipher of one fragment, bound to its header.
pub struct FrameKey {
    key: LessSafeKey,
    header_hash: [u8; 32],
}

impl FrameKey {
    /// Derives the `cipher` frame key from `K` (HKDF label `kvs-e2ee/v1/frame-key`, or
    /// `kvs-e2ee/v1/frame-key/aes-256-gcm` for AES-256-GCM) for the header whose hash is
    /// `header_hash`.
    pub fn new(content_key: &[u8; KEY_LEN], header_hash: [u8; 32], cipher: FrameCipher) -> Self {
        let bytes = kdf::derive(content_key, cipher.key_label());
        let key = UnboundKey::new(cipher.algorithm(), bytes.as_ref())
            .expect("both frame ciphers take a 32-byte key");
        Self {
            key: LessSafeKey::new(key),
            header_hash,
        }
    }

    /// The hash of the header this key belongs to.
    pub fn header_hash(&self) -> &[u8; 32] {
        &self.header_hash
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal_in_place(&self, meta: &FramePosition, buf: &mut [u8]) -> [u8; TAG_LEN] {
        let aad = meta.aad(&self.header_hash);
        let tag = self
            .key
            .seal_in_place_separate_tag(meta.nonce(), Aad::from(aad), buf)
            .expect("a frame under 2^36 bytes always encrypts");
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Verifies `tag` and decrypts `buf` in place. On failure `buf` is zeroed (the AEAD may
    /// have decrypted part of it) and must be discarded: the caller never releases it.
    pub fn open_in_place(
        &self,
        meta: &FramePosition,
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), FrameAuthError> {
        let aad = meta.aad(&self.header_hash);
        match self
            .key
            .open_in_place_separate_tag(meta.nonce(), Aad::from(aad), tag, buf)
        {
            Ok(_) => Ok(()),
            Err(_) => {
                buf.fill(0);
                Err(FrameAuthError)
            }
        }
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
    pub fn update(&mut self, meta: &FramePosition, tag: &[u8; TAG_LEN]) {
        let mut rec = [0u8; 4 + 8 + 8 + 1 + TAG_LEN];
        rec[..4].copy_from_slice(&meta.index.to_be_bytes());
        rec[4..12].copy_from_slice(&meta.meta.track.to_be_bytes());
        rec[12..20].copy_from_slice(&meta.meta.timecode.to_be_bytes());
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

    fn meta(index: u32) -> FramePosition {
        FramePosition {
            meta: FrameMeta {
                track: 1,
                timecode: 1000 + u64::from(index),
                keyframe: index == 0,
            },
            index,
        }
    }

    #[test]
    fn frame_round_trips_and_binds_every_aad_field() {
        for cipher in FrameCipher::ALL {
            round_trip_binding(cipher);
        }
    }

    fn round_trip_binding(cipher: FrameCipher) {
        let key = FrameKey::new(&[5; 32], [6; 32], cipher);
        let mut buf = *b"sixteen byte msg";
        let m = meta(3);
        let tag = key.seal_in_place(&m, &mut buf);
        assert_ne!(&buf, b"sixteen byte msg");
        let variants = [
            FramePosition {
                meta: FrameMeta { track: 2, ..m.meta },
                ..m
            },
            FramePosition {
                meta: FrameMeta {
                    timecode: m.meta.timecode + 1,
                    ..m.meta
                },
                ..m
            },
            FramePosition {
                meta: FrameMeta {
                    keyframe: !m.meta.keyframe,
                    ..m.meta
                },
                ..m
            },
            FramePosition { index: 4, ..m },
        ];
        for v in variants {
            let mut b = buf;
            assert_eq!(key.open_in_place(&v, &mut b, &tag), Err(FrameAuthError));
        }
        let other_header = FrameKey::new(&[5; 32], [7; 32], cipher);
        let mut b = buf;
        assert!(other_header.open_in_place(&m, &mut b, &tag).is_err());
        assert_eq!(
            b, [0; 16],
            "a frame that fails is zeroed, not left half-decrypted"
        );
        key.open_in_place(&m, &mut buf, &tag).expect("authentic");
        assert_eq!(&buf, b"sixteen byte msg");
    }

    #[test]
    fn a_frame_sealed_under_one_cipher_never_opens_under_the_other() {
        let chacha = FrameKey::new(&[5; 32], [6; 32], FrameCipher::ChaCha20Poly1305);
        let aes = FrameKey::new(&[5; 32], [6; 32], FrameCipher::Aes256Gcm);
        let m = meta(0);
        let mut buf = *b"sixteen byte msg";
        let tag = chacha.seal_in_place(&m, &mut buf);
        assert_eq!(
            aes.open_in_place(&m, &mut buf.clone(), &tag),
            Err(FrameAuthError)
        );
        let mut buf = *b"sixteen byte msg";
        let tag = aes.seal_in_place(&m, &mut buf);
        assert_eq!(
            chacha.open_in_place(&m, &mut buf.clone(), &tag),
            Err(FrameAuthError)
        );
    }

    #[test]
    fn chacha_frames_match_rfc8439_under_the_derived_key() {
        // The aws-lc-rs backend produces exactly what the RFC 8439 construction (the
        // RustCrypto crate) produces for the same key, nonce and AAD.
        use chacha20poly1305::aead::{AeadInOut, KeyInit};
        let key = FrameKey::new(&[5; 32], [6; 32], FrameCipher::ChaCha20Poly1305);
        let m = meta(7);
        let mut ours = vec![0x5a; 1000];
        let tag = key.seal_in_place(&m, &mut ours);
        let raw = chacha20poly1305::ChaCha20Poly1305::new(&chacha20poly1305::Key::from(
            *kdf::derive(&[5; 32], FRAME_KEY_LABEL),
        ));
        let mut theirs = vec![0x5a; 1000];
        let mut nonce = [0u8; 12];
        nonce[8..].copy_from_slice(&7u32.to_be_bytes());
        let their_tag = raw
            .encrypt_inout_detached(
                &chacha20poly1305::Nonce::from(nonce),
                &m.aad(&[6; 32]),
                theirs.as_mut_slice().into(),
            )
            .expect("encrypts");
        assert_eq!(ours, theirs);
        assert_eq!(tag.as_slice(), their_tag.as_slice());
    }

    #[test]
    fn cipher_ids_and_names_round_trip() {
        for c in FrameCipher::ALL {
            assert_eq!(FrameCipher::from_id(c.id()), Some(c));
            assert_eq!(c.name().parse::<FrameCipher>(), Ok(c));
        }
        assert_eq!(FrameCipher::from_id(0), None);
        assert_eq!(FrameCipher::from_id(3), None);
        assert!("aes-128-gcm".parse::<FrameCipher>().is_err());
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
