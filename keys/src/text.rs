//! Bech32 text forms of public and secret keys (the Bech32 checksum variant, as age uses).
//!
//! Public keys are lowercase with a per-kind prefix (`kvsviewer1…`,
//! `kvscamera1…`); secret keys are uppercase (`KVS-E2EE-VIEWER-SECRET-KEY-1…`)
//! so they are recognisable at a glance. The BCH checksum detects any error in
//! up to four characters of a string of at most 90 characters (BIP-173), so a
//! typo in a copied key is caught before video is encrypted to the wrong key.

use std::fmt;
use std::str::FromStr;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Hrp};
use kvs_e2ee_envelope::key::KEY_LEN;
use kvs_e2ee_envelope::{PublicKey, SecretKey};
use zeroize::Zeroizing;

use crate::error::TextError;
use crate::kind::KeyKind;

/// Number of bech32 data characters for 32 bytes: ceil(256 / 5).
const KEY_CHARS: usize = 52;

/// A public key together with its kind: the unit of the text form.
///
/// `Display` writes `kvsviewer1…`/`kvscamera1…`; `FromStr` reads either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKeyText {
    /// Whose key it is.
    pub kind: KeyKind,
    /// The key.
    pub key: PublicKey,
}

impl fmt::Display for PublicKeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_public(self.kind, &self.key))
    }
}

impl FromStr for PublicKeyText {
    type Err = TextError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, key) = decode_public(s)?;
        Ok(Self { kind, key })
    }
}

/// Encodes a public key as one lowercase bech32 word (`kvsviewer1…` or `kvscamera1…`).
pub fn encode_public(kind: KeyKind, key: &PublicKey) -> String {
    let hrp = Hrp::parse(kind.public_hrp()).expect("constant HRP is valid");
    bech32::encode_lower::<Bech32>(hrp, key.as_bytes()).expect("68 chars is within bech32 limits")
}

/// Decodes a public key text, returning its kind. Surrounding whitespace is not accepted.
pub fn decode_public(s: &str) -> Result<(KeyKind, PublicKey), TextError> {
    let checked = checked(s)?;
    let hrp = checked.hrp().to_lowercase();
    if let Some(kind) = KeyKind::ALL.into_iter().find(|k| k.public_hrp() == hrp) {
        let bytes = payload(&checked)?;
        return Ok((kind, PublicKey::from_bytes(*bytes)));
    }
    if KeyKind::ALL
        .into_iter()
        .any(|k| k.secret_hrp().eq_ignore_ascii_case(&hrp))
    {
        return Err(TextError::SecretWherePublicExpected);
    }
    Err(TextError::UnknownPrefix(hrp))
}

/// Encodes a secret key as uppercase bech32, in a buffer that zeroizes on drop.
pub fn encode_secret(kind: KeyKind, key: &SecretKey) -> Zeroizing<String> {
    let hrp = Hrp::parse(kind.secret_hrp()).expect("constant HRP is valid");
    let bytes = key.to_bytes();
    // Pre-sized so the string never reallocates (a reallocation would leave an
    // un-zeroized copy of the secret behind in freed memory).
    let mut out = Zeroizing::new(String::with_capacity(128));
    bech32::encode_upper_to_fmt::<Bech32, String>(&mut out, hrp, bytes.as_ref())
        .expect("86 chars is within bech32 limits");
    out
}

/// Decodes a secret key text of the given kind.
///
/// Errors never quote the input: it is (almost) a secret key.
pub fn decode_secret(s: &str) -> Result<(KeyKind, SecretKey), TextError> {
    // Only the error's kind is kept: bech32's own messages may quote a character of the input.
    let checked = CheckedHrpstring::new::<Bech32>(s)
        .map_err(|_| TextError::Bech32("malformed secret key or bad checksum".to_owned()))?;
    let hrp = checked.hrp().to_lowercase();
    let kind = KeyKind::ALL
        .into_iter()
        .find(|k| k.secret_hrp().eq_ignore_ascii_case(&hrp))
        .ok_or_else(|| TextError::UnknownPrefix(hrp.clone()))?;
    let bytes = payload(&checked)?;
    Ok((kind, SecretKey::from_bytes(*bytes)))
}

fn checked(s: &str) -> Result<CheckedHrpstring<'_>, TextError> {
    CheckedHrpstring::new::<Bech32>(s).map_err(|e| TextError::Bech32(e.to_string()))
}

/// Extracts exactly 32 bytes with canonical (zero) padding, so each key has one text form.
fn payload(checked: &CheckedHrpstring<'_>) -> Result<Zeroizing<[u8; KEY_LEN]>, TextError> {
    let chars = checked.data_part_ascii_no_checksum().len();
    let bytes = checked.byte_iter().len();
    if chars != KEY_CHARS || bytes != KEY_LEN {
        return Err(TextError::WrongLength(bytes));
    }
    checked
        .validate_segwit_padding()
        .map_err(|_| TextError::Bech32("non-zero padding bits".to_owned()))?;
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    for (dst, src) in out.iter_mut().zip(checked.byte_iter()) {
        *dst = src;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHARSET: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

    fn kind_strategy() -> impl Strategy<Value = KeyKind> {
        prop_oneof![Just(KeyKind::Viewer), Just(KeyKind::Camera)]
    }

    // Vectors computed with the BIP-173 reference implementation (Python), independently of
    // the `bech32` crate, so a change of checksum variant or prefix breaks these tests.
    #[test]
    fn public_text_matches_bip173_reference_vectors() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            encode_public(KeyKind::Viewer, &PublicKey::from_bytes(bytes)),
            "kvsviewer1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0sf26x75"
        );
        assert_eq!(
            encode_public(KeyKind::Camera, &PublicKey::from_bytes([0xff; 32])),
            "kvscamera1lllllllllllllllllllllllllllllllllllllllllllllllllllsrpa3ut"
        );
    }

    #[test]
    fn secret_text_matches_bip173_reference_vector() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
        let text = encode_secret(KeyKind::Viewer, &SecretKey::from_bytes(bytes));
        assert_eq!(
            text.as_str(),
            "KVS-E2EE-VIEWER-SECRET-KEY-1QYPQXPQ9QCRSSZG2PVXQ6RS0ZQG3YYC5Z5TPWXQERGD3C8G7RUSQDD2QSA"
        );
    }

    proptest! {
        #[test]
        fn public_text_round_trips(kind in kind_strategy(), bytes in any::<[u8; 32]>()) {
            let key = PublicKey::from_bytes(bytes);
            let text = encode_public(kind, &key);
            prop_assert_eq!(decode_public(&text), Ok((kind, key)));
            prop_assert_eq!(text.parse::<PublicKeyText>(), Ok(PublicKeyText { kind, key }));
            // Bech32 is case-insensitive as a whole; an all-uppercase copy still decodes.
            prop_assert_eq!(decode_public(&text.to_uppercase()), Ok((kind, key)));
        }

        #[test]
        fn secret_text_round_trips(kind in kind_strategy(), bytes in any::<[u8; 32]>()) {
            let text = encode_secret(kind, &SecretKey::from_bytes(bytes));
            let (k, secret) = decode_secret(&text).expect("own encoding decodes");
            prop_assert_eq!(k, kind);
            prop_assert_eq!(*secret.to_bytes(), bytes);
        }

        #[test]
        fn single_character_typo_is_detected(
            kind in kind_strategy(),
            bytes in any::<[u8; 32]>(),
            pos in 10usize..68,
            replacement in 0usize..32,
        ) {
            let text = encode_public(kind, &PublicKey::from_bytes(bytes));
            let old = text.as_bytes()[pos] as char;
            let new = CHARSET.as_bytes()[replacement] as char;
            prop_assume!(old != new);
            let mut typo = text.clone();
            typo.replace_range(pos..pos + 1, &new.to_string());
            prop_assert!(matches!(decode_public(&typo), Err(TextError::Bech32(_))));
        }

        #[test]
        fn swapped_adjacent_characters_are_detected(
            bytes in any::<[u8; 32]>(),
            pos in 10usize..67,
        ) {
            let text = encode_public(KeyKind::Viewer, &PublicKey::from_bytes(bytes));
            let mut b = text.into_bytes();
            prop_assume!(b[pos] != b[pos + 1]);
            b.swap(pos, pos + 1);
            let typo = String::from_utf8(b).expect("ascii");
            prop_assert!(decode_public(&typo).is_err());
        }
    }

    #[test]
    fn secret_key_text_is_refused_as_public_key() {
        let text = encode_secret(KeyKind::Camera, &SecretKey::from_bytes([7; 32]));
        assert_eq!(
            decode_public(&text),
            Err(TextError::SecretWherePublicExpected)
        );
    }

    #[test]
    fn unknown_prefix_is_refused() {
        let hrp = Hrp::parse("age").expect("valid");
        let text = bech32::encode_lower::<Bech32>(hrp, &[1; 32]).expect("encodes");
        assert_eq!(
            decode_public(&text),
            Err(TextError::UnknownPrefix("age".to_owned()))
        );
    }

    #[test]
    fn wrong_payload_length_is_refused() {
        let hrp = Hrp::parse("kvsviewer").expect("valid");
        for len in [0, 31, 33] {
            let text = bech32::encode_lower::<Bech32>(hrp, &vec![1; len]).expect("encodes");
            assert!(matches!(
                decode_public(&text),
                Err(TextError::WrongLength(_))
            ));
        }
    }

    #[test]
    fn bech32m_checksum_is_refused() {
        let hrp = Hrp::parse("kvsviewer").expect("valid");
        let text = bech32::encode_lower::<bech32::Bech32m>(hrp, &[1; 32]).expect("encodes");
        assert!(matches!(decode_public(&text), Err(TextError::Bech32(_))));
    }

    #[test]
    fn mixed_case_is_refused() {
        let text = encode_public(KeyKind::Viewer, &PublicKey::from_bytes([3; 32]));
        let mixed = format!("{}{}", &text[..20], text[20..].to_uppercase());
        assert!(decode_public(&mixed).is_err());
    }

    #[test]
    fn secret_decode_error_does_not_quote_the_input() {
        let text = encode_secret(KeyKind::Viewer, &SecretKey::from_bytes([9; 32]));
        let mut typo = text.to_string();
        typo.replace_range(40..41, if &typo[40..41] == "Q" { "P" } else { "Q" });
        let msg = decode_secret(&typo)
            .err()
            .expect("typo detected")
            .to_string();
        assert!(!msg.contains(&typo[28..]), "{msg}");
        for w in typo.as_bytes()[28..].windows(6) {
            assert!(
                !msg.contains(std::str::from_utf8(w).expect("ascii")),
                "{msg}"
            );
        }
    }
}
