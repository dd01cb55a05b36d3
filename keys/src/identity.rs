//! Identity files: a viewer's or camera's secret keys, one line per generation.
//!
//! A generation is one X25519 key. The newest is *active* (a camera seals new
//! video with it; a viewer's newest is the one cameras should list); older
//! ones are *old*, kept so a viewer can still open archived video wrapped to
//! them. Retiring a generation deletes its secret: video wrapped only to it
//! becomes unreadable, which is the point of retiring. Format: `docs/KEYS.md`.

use std::fmt;
use std::path::Path;

use kvs_e2ee_envelope::{KeyId, PublicKey, SecretKey};
use rand_core::CryptoRng;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::error::{KeyError, Result};
use crate::file::{self, MAX_IDENTITY_BYTES, Overwrite};
use crate::kind::KeyKind;
use crate::text;

/// First word of the header line of an identity file.
pub const IDENTITY_MAGIC: &str = "kvs-e2ee-identity";
/// Identity file format version written and accepted.
pub const IDENTITY_VERSION: &str = "v1";

/// Whether a generation seals new video or only opens archived video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The newest generation: used for new video.
    Active,
    /// An older generation: kept to decrypt archived video.
    Old,
}

impl Status {
    /// The word written in identity files and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Old => "old",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key of an identity, with its number, id, creation time and status.
pub struct Generation {
    number: u32,
    id: KeyId,
    created: OffsetDateTime,
    status: Status,
    secret: SecretKey,
}

impl Generation {
    /// Generation number, from 1, increasing with each rotation.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The key id (names this key in fragment headers).
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// When the key was created (UTC).
    pub fn created(&self) -> OffsetDateTime {
        self.created
    }

    /// Active (newest) or old.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The public key of this generation.
    pub fn public_key(&self) -> PublicKey {
        self.secret.public_key()
    }

    /// Creation time as RFC 3339 (UTC, `Z`).
    pub fn created_rfc3339(&self) -> String {
        self.created
            .format(&Rfc3339)
            .expect("times come from the clock or an RFC 3339 parse, so they are in range")
    }
}

impl fmt::Debug for Generation {
    // Hand-written: the secret must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generation")
            .field("number", &self.number)
            .field("id", &self.id)
            .field("created", &self.created)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// A viewer's or camera's secret keys: every generation, the newest active.
///
/// Invariant: at least one generation; numbers strictly increase; the last
/// one is [`Status::Active`] and all others [`Status::Old`].
pub struct Identity {
    kind: KeyKind,
    generations: Vec<Generation>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("kind", &self.kind)
            .field("generations", &self.generations)
            .finish()
    }
}

impl Identity {
    /// A new identity with one generation, from a cryptographic RNG.
    pub fn generate<R: CryptoRng + ?Sized>(kind: KeyKind, rng: &mut R) -> Self {
        let secret = SecretKey::generate(rng);
        Self {
            kind,
            generations: vec![Generation {
                number: 1,
                id: secret.key_id(),
                created: now(),
                status: Status::Active,
                secret,
            }],
        }
    }

    /// Loads an identity file, refusing one that group or others can access.
    pub fn load(path: &Path) -> Result<Self> {
        let text = file::read_bounded(path, MAX_IDENTITY_BYTES, true)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Loads an identity file and checks it holds `expected` keys.
    pub fn load_kind(path: &Path, expected: KeyKind) -> Result<Self> {
        let id = Self::load(path)?;
        if id.kind != expected {
            return Err(KeyError::WrongIdentityKind {
                file: path.display().to_string(),
                expected,
                found: id.kind,
            });
        }
        Ok(id)
    }

    /// Parses identity file text; `source` names it in errors. No permission check.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        parse::identity(text, source)
    }

    /// Viewer or camera.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The active (newest) generation.
    pub fn active_generation(&self) -> &Generation {
        self.generations
            .last()
            .expect("an identity always has at least one generation")
    }

    /// The active (newest) secret key.
    pub fn active(&self) -> &SecretKey {
        &self.active_generation().secret
    }

    /// The active public key.
    pub fn public_key(&self) -> PublicKey {
        self.active().public_key()
    }

    /// The active public key in text form (`kvsviewer1…` / `kvscamera1…`).
    pub fn public_text(&self) -> String {
        text::encode_public(self.kind, &self.public_key())
    }

    /// All generations, oldest first (the last is active).
    pub fn generations(&self) -> &[Generation] {
        &self.generations
    }

    /// All secret keys, newest (active) first, for trying every generation.
    pub fn secrets(&self) -> impl Iterator<Item = &SecretKey> + '_ {
        self.generations.iter().rev().map(|g| &g.secret)
    }

    /// The secret of the generation with this key id, if the identity still holds it.
    pub fn secret_for(&self, id: &KeyId) -> Option<&SecretKey> {
        self.generation_by_id(id).map(|g| &g.secret)
    }

    /// The generation with this key id.
    pub fn generation_by_id(&self, id: &KeyId) -> Option<&Generation> {
        self.generations.iter().find(|g| g.id == *id)
    }

    /// The generation with this number.
    pub fn generation_by_number(&self, number: u32) -> Option<&Generation> {
        self.generations.iter().find(|g| g.number == number)
    }

    /// Adds a new active generation; the previous active one becomes old.
    pub fn rotate<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<&Generation> {
        let number = self
            .active_generation()
            .number
            .checked_add(1)
            .ok_or(KeyError::GenerationOverflow)?;
        let secret = SecretKey::generate(rng);
        // Only a broken (or replayed) RNG repeats a key; keeping two copies would hide it.
        if self.generation_by_id(&secret.key_id()).is_some() {
            return Err(KeyError::RepeatedKey);
        }
        for g in &mut self.generations {
            g.status = Status::Old;
        }
        self.generations.push(Generation {
            number,
            id: secret.key_id(),
            created: now(),
            status: Status::Active,
            secret,
        });
        Ok(self.active_generation())
    }

    /// The generation `retire(id)` would drop, or why it would refuse (unknown, or active).
    ///
    /// Lets a caller ask for confirmation only when the retirement is possible.
    pub fn check_retirable(&self, id: &KeyId) -> Result<&Generation> {
        let g = self
            .generation_by_id(id)
            .ok_or_else(|| KeyError::NoSuchGeneration(id.to_string()))?;
        if g.status == Status::Active {
            return Err(KeyError::RetireActive {
                number: g.number,
                id: g.id,
            });
        }
        Ok(g)
    }

    /// Drops an old generation (its secret is zeroized). The active one is refused.
    pub fn retire(&mut self, id: &KeyId) -> Result<Generation> {
        self.check_retirable(id)?;
        let pos = self
            .generations
            .iter()
            .position(|g| g.id == *id)
            .expect("check_retirable found it");
        Ok(self.generations.remove(pos))
    }

    /// Writes a new identity file (mode 0600); fails if `path` exists.
    pub fn save_new(&self, path: &Path) -> Result<()> {
        file::write_atomic(path, self.serialize().as_bytes(), Overwrite::Refuse)
    }

    /// Atomically replaces the identity file at `path` (mode 0600).
    pub fn save(&self, path: &Path) -> Result<()> {
        file::write_atomic(path, self.serialize().as_bytes(), Overwrite::Replace)
    }

    /// The file text, in a buffer that zeroizes on drop.
    pub fn serialize(&self) -> Zeroizing<String> {
        use std::fmt::Write as _;
        // Sized up front so it never reallocates (each line is < 160 bytes).
        let mut out = Zeroizing::new(String::with_capacity(512 + 160 * self.generations.len()));
        let w = &mut *out;
        let res = (|| -> fmt::Result {
            writeln!(w, "# kvs-e2ee {} identity: SECRET KEYS.", self.kind)?;
            writeln!(w, "# Keep this file private (chmod 600) and backed up.")?;
            writeln!(w, "# Public key: kvs-e2ee-keys public FILE")?;
            writeln!(w, "{IDENTITY_MAGIC} {IDENTITY_VERSION} {}", self.kind)?;
            writeln!(w, "# generation key-id created status secret-key")?;
            for g in &self.generations {
                let secret = text::encode_secret(self.kind, &g.secret);
                writeln!(
                    w,
                    "{} {} {} {} {}",
                    g.number,
                    g.id,
                    g.created_rfc3339(),
                    g.status,
                    secret.as_str()
                )?;
            }
            Ok(())
        })();
        res.expect("writing to a String cannot fail");
        out
    }
}

/// The current time in UTC, to the second.
fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0)
        .expect("0 is a valid nanosecond value")
}

mod parse {
    //! The reading side of the identity file format.

    use super::*;

    fn err(source: &str, line: usize, reason: impl Into<String>) -> KeyError {
        KeyError::IdentityFormat {
            file: source.to_owned(),
            line,
            reason: reason.into(),
        }
    }

    pub(super) fn identity(text: &str, source: &str) -> Result<Identity> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let (hline, header) = lines
            .next()
            .ok_or_else(|| err(source, 0, "empty file: not a kvs-e2ee identity file"))?;
        let kind = self::header(header, source, hline)?;
        let mut generations: Vec<Generation> = Vec::new();
        for (n, line) in lines {
            let g = generation(line, kind, source, n)?;
            if let Some(prev) = generations.last()
                && g.number <= prev.number
            {
                return Err(err(
                    source,
                    n,
                    format!(
                        "generation {} follows generation {}; numbers must increase",
                        g.number, prev.number
                    ),
                ));
            }
            if let Some(dup) = generations.iter().find(|p| p.id == g.id) {
                return Err(err(
                    source,
                    n,
                    format!("same key as generation {}", dup.number),
                ));
            }
            generations.push(g);
        }
        let count = generations.len();
        if count == 0 {
            return Err(err(source, 0, "no key generations in the file"));
        }
        // Redundant with the order, and checked so a hand edit cannot leave two active keys.
        for (i, g) in generations.iter().enumerate() {
            let want = if i + 1 == count {
                Status::Active
            } else {
                Status::Old
            };
            if g.status != want {
                return Err(err(
                    source,
                    0,
                    format!(
                        "generation {} is marked {} but must be {} (only the newest generation is active)",
                        g.number, g.status, want
                    ),
                ));
            }
        }
        Ok(Identity { kind, generations })
    }

    fn header(line: &str, source: &str, n: usize) -> Result<KeyKind> {
        let mut words = line.split_ascii_whitespace();
        if words.next() != Some(IDENTITY_MAGIC) {
            return Err(err(
                source,
                n,
                format!("not a kvs-e2ee identity file (expected a `{IDENTITY_MAGIC}` header)"),
            ));
        }
        let version = words.next().unwrap_or("");
        if version != IDENTITY_VERSION {
            return Err(err(
                source,
                n,
                format!(
                    "unsupported identity file version `{version}` (this program reads {IDENTITY_VERSION})"
                ),
            ));
        }
        let kind = words
            .next()
            .unwrap_or("")
            .parse::<KeyKind>()
            .map_err(|e| err(source, n, e.to_string()))?;
        if words.next().is_some() {
            return Err(err(source, n, "unexpected text after the header"));
        }
        Ok(kind)
    }

    fn generation(line: &str, kind: KeyKind, source: &str, n: usize) -> Result<Generation> {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [number, id, created, status, secret] = fields[..] else {
            return Err(err(
                source,
                n,
                format!(
                    "expected 5 fields (generation key-id created status secret-key), found {}",
                    fields.len()
                ),
            ));
        };
        let number: u32 = number
            .parse()
            .ok()
            .filter(|&v| v >= 1)
            .ok_or_else(|| err(source, n, "generation number must be an integer from 1"))?;
        let id = parse_key_id(id).ok_or_else(|| err(source, n, "key id must be 16 hex digits"))?;
        let created = OffsetDateTime::parse(created, &Rfc3339)
            .map_err(|e| err(source, n, format!("creation time is not RFC 3339: {e}")))?
            .to_offset(time::UtcOffset::UTC);
        let status = match status {
            "active" => Status::Active,
            "old" => Status::Old,
            _ => return Err(err(source, n, "status must be `active` or `old`")),
        };
        let (secret_kind, secret) =
            text::decode_secret(secret).map_err(|e| err(source, n, format!("secret key: {e}")))?;
        if secret_kind != kind {
            return Err(err(
                source,
                n,
                format!("a {secret_kind} secret key in a {kind} identity file"),
            ));
        }
        if secret.key_id() != id {
            return Err(err(
                source,
                n,
                format!(
                    "secret key does not match the recorded key id {id} (file corrupted or edited)"
                ),
            ));
        }
        Ok(Generation {
            number,
            id,
            created,
            status,
            secret,
        })
    }
}

/// Parses a 16-hex-digit key id (either case).
pub fn parse_key_id(s: &str) -> Option<KeyId> {
    // from_str_radix alone would accept a `+` sign.
    if s.len() != 2 * KeyId::LEN || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0u8; KeyId::LEN];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(KeyId::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn three_generations() -> Identity {
        let mut rng = rng();
        let mut id = Identity::generate(KeyKind::Viewer, &mut rng);
        id.rotate(&mut rng).expect("rotates");
        id.rotate(&mut rng).expect("rotates");
        id
    }

    fn ids(id: &Identity) -> Vec<(u32, KeyId, Status)> {
        id.generations()
            .iter()
            .map(|g| (g.number(), g.id(), g.status()))
            .collect()
    }

    #[test]
    fn rotate_adds_an_active_generation_and_keeps_the_old_ones() {
        let id = three_generations();
        let got: Vec<_> = ids(&id).into_iter().map(|(n, _, s)| (n, s)).collect();
        assert_eq!(
            got,
            vec![(1, Status::Old), (2, Status::Old), (3, Status::Active)]
        );
        assert_eq!(id.active().key_id(), id.generations()[2].id());
        let newest_first: Vec<KeyId> = id.secrets().map(|s| s.key_id()).collect();
        let mut expected: Vec<KeyId> = id.generations().iter().map(|g| g.id()).collect();
        expected.reverse();
        assert_eq!(newest_first, expected);
        let g1 = id.generations()[0].id();
        assert_eq!(id.secret_for(&g1).map(|s| s.key_id()), Some(g1));
    }

    #[test]
    fn serialize_then_parse_round_trips() {
        let mut id = three_generations();
        let middle = id.generations()[1].id();
        id.retire(&middle).expect("old generation retires");
        let text = id.serialize();
        let back = Identity::parse(&text, "mem").expect("own output parses");
        assert_eq!(ids(&back), ids(&id));
        assert_eq!(back.kind(), KeyKind::Viewer);
        assert_eq!(back.public_text(), id.public_text());
        for (a, b) in back.generations().iter().zip(id.generations()) {
            assert_eq!(a.created(), b.created());
            assert_eq!(*a.secret().to_bytes(), *b.secret().to_bytes());
        }
    }

    #[test]
    fn rotate_refuses_a_repeated_key_from_a_broken_rng() {
        let mut id = Identity::generate(KeyKind::Camera, &mut rng());
        assert!(matches!(id.rotate(&mut rng()), Err(KeyError::RepeatedKey)));
        assert_eq!(id.generations().len(), 1);
    }

    #[test]
    fn retire_refuses_the_active_generation() {
        let mut id = three_generations();
        let active = id.active_generation().id();
        assert!(matches!(
            id.retire(&active),
            Err(KeyError::RetireActive { number: 3, .. })
        ));
        assert_eq!(id.generations().len(), 3);
    }

    #[test]
    fn retire_of_unknown_id_is_an_error() {
        let mut id = three_generations();
        let other = KeyId::from_bytes([0; 8]);
        assert!(matches!(
            id.retire(&other),
            Err(KeyError::NoSuchGeneration(_))
        ));
    }

    #[test]
    fn retired_generation_is_gone_and_numbers_keep_increasing() {
        let mut id = three_generations();
        let first = id.generations()[0].id();
        id.retire(&first).expect("old");
        assert!(id.secret_for(&first).is_none());
        let g = id.rotate(&mut StdRng::seed_from_u64(9)).expect("rotates");
        assert_eq!(g.number(), 4);
    }

    /// Rewrites the generation lines of a serialized identity with `f`.
    fn edited(id: &Identity, f: impl Fn(usize, Vec<String>) -> Vec<String>) -> String {
        let text = id.serialize();
        let mut n = 0;
        let mut out = String::new();
        for line in text.lines() {
            let fields: Vec<String> = line.split(' ').map(str::to_owned).collect();
            if line.starts_with('#') || line.starts_with(IDENTITY_MAGIC) {
                out.push_str(line);
            } else {
                out.push_str(&f(n, fields).join(" "));
                n += 1;
            }
            out.push('\n');
        }
        out
    }

    fn assert_parse_error(text: &str, line: usize, needle: &str, id: &Identity) {
        let err = Identity::parse(text, "id.key").expect_err("must be refused");
        let msg = err.to_string();
        assert!(
            matches!(err, KeyError::IdentityFormat { line: l, .. } if l == line),
            "{msg}"
        );
        assert!(msg.contains(needle), "{msg}");
        // No error may quote a secret, whichever line was broken.
        for g in id.generations() {
            let secret = text::encode_secret(id.kind(), g.secret());
            assert!(!msg.contains(&secret[28..44]), "{msg}");
        }
    }

    #[test]
    fn parse_rejects_a_secret_that_does_not_match_its_key_id() {
        let id = three_generations();
        let text = edited(&id, |n, mut f| {
            if n == 1 {
                f[1] = "0011223344556677".to_owned();
            }
            f
        });
        assert_parse_error(&text, 7, "does not match the recorded key id", &id);
    }

    #[test]
    fn parse_rejects_two_active_generations() {
        let id = three_generations();
        let text = edited(&id, |_, mut f| {
            f[3] = "active".to_owned();
            f
        });
        assert_parse_error(&text, 0, "only the newest generation is active", &id);
    }

    #[test]
    fn parse_rejects_decreasing_generation_numbers() {
        let id = three_generations();
        let text = edited(&id, |n, mut f| {
            if n == 2 {
                f[0] = "1".to_owned();
            }
            f
        });
        assert_parse_error(&text, 8, "numbers must increase", &id);
    }

    #[test]
    fn parse_rejects_a_corrupted_secret_without_quoting_it() {
        let id = three_generations();
        let text = edited(&id, |n, mut f| {
            if n == 0 {
                let s = &mut f[4];
                let c = if s.ends_with('Q') { "P" } else { "Q" };
                s.replace_range(s.len() - 1.., c);
            }
            f
        });
        assert_parse_error(&text, 6, "secret key", &id);
    }

    #[test]
    fn parse_rejects_a_camera_secret_in_a_viewer_file() {
        let id = three_generations();
        let cam = Identity::generate(KeyKind::Camera, &mut StdRng::seed_from_u64(1));
        let cam_gen = &cam.generations()[0];
        let cam_secret = text::encode_secret(KeyKind::Camera, cam_gen.secret());
        let text = edited(&id, |n, mut f| {
            if n == 2 {
                f[1] = cam_gen.id().to_string();
                f[4] = cam_secret.to_string();
            }
            f
        });
        assert_parse_error(
            &text,
            8,
            "a camera secret key in a viewer identity file",
            &id,
        );
    }

    #[test]
    fn parse_rejects_wrong_field_count_unknown_version_and_missing_header() {
        let id = three_generations();
        let text = edited(&id, |n, mut f| {
            if n == 0 {
                f.push("extra".to_owned());
            }
            f
        });
        assert_parse_error(&text, 6, "expected 5 fields", &id);
        let text = id.serialize().replace(" v1 ", " v2 ");
        assert_parse_error(&text, 4, "unsupported identity file version `v2`", &id);
        assert_parse_error("# only comments\n\n", 0, "empty file", &id);
        let text = id.serialize().replace(IDENTITY_MAGIC, "age-identity");
        assert_parse_error(&text, 4, "not a kvs-e2ee identity file", &id);
        let header_only = format!("{IDENTITY_MAGIC} v1 viewer\n");
        assert_parse_error(&header_only, 0, "no key generations", &id);
    }

    #[test]
    fn debug_output_never_contains_secrets() {
        let id = three_generations();
        let dbg = format!("{id:?}");
        for g in id.generations() {
            let secret = text::encode_secret(id.kind(), g.secret());
            assert!(!dbg.contains(&secret[28..44]));
            assert!(!dbg.to_uppercase().contains(&secret[28..44]));
        }
        assert!(dbg.contains(&id.generations()[0].id().to_string()));
    }

    #[test]
    fn parse_key_id_accepts_only_16_hex_digits() {
        let id = KeyId::from_bytes([0xab, 0xcd, 0, 1, 2, 3, 4, 0xff]);
        assert_eq!(parse_key_id(&id.to_string()), Some(id));
        assert_eq!(parse_key_id("ABCD0001020304FF"), Some(id));
        assert_eq!(parse_key_id("+bcd0001020304ff"), None);
        assert_eq!(parse_key_id("abcd0001020304f"), None);
        assert_eq!(parse_key_id("abcd0001020304fg"), None);
    }

    #[cfg(unix)]
    mod files {
        use super::*;
        use std::os::unix::fs::PermissionsExt;

        fn mode(path: &Path) -> u32 {
            std::fs::metadata(path)
                .expect("exists")
                .permissions()
                .mode()
                & 0o777
        }

        #[test]
        fn save_new_creates_a_0600_file_and_refuses_to_overwrite() {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("viewer.key");
            let id = three_generations();
            id.save_new(&path).expect("new file");
            assert_eq!(mode(&path), 0o600);
            let before = std::fs::read(&path).expect("read");
            let other = Identity::generate(KeyKind::Viewer, &mut StdRng::seed_from_u64(3));
            assert!(matches!(
                other.save_new(&path),
                Err(KeyError::AlreadyExists { .. })
            ));
            assert_eq!(std::fs::read(&path).expect("read"), before);
            let loaded = Identity::load(&path).expect("loads");
            assert_eq!(ids(&loaded), ids(&id));
        }

        #[test]
        fn save_replaces_atomically_and_leaves_no_temporary_files() {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("camera.key");
            let mut id = Identity::generate(KeyKind::Camera, &mut rng());
            id.save_new(&path).expect("new file");
            id.rotate(&mut StdRng::seed_from_u64(8)).expect("rotates");
            id.save(&path).expect("replaces");
            assert_eq!(mode(&path), 0o600);
            assert_eq!(Identity::load(&path).expect("loads").generations().len(), 2);
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .expect("list")
                .map(|e| e.expect("entry").file_name())
                .collect();
            assert_eq!(names, vec![std::ffi::OsString::from("camera.key")]);
        }

        #[test]
        fn load_refuses_group_or_world_accessible_files() {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("viewer.key");
            three_generations().save_new(&path).expect("new file");
            for loose in [0o644, 0o640, 0o604, 0o620, 0o660] {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose))
                    .expect("chmod");
                let err = Identity::load(&path).expect_err("too open");
                assert!(matches!(err, KeyError::InsecurePermissions { mode, .. } if mode == loose));
                let msg = err.to_string();
                assert!(msg.contains(&format!("{loose:04o}")), "{msg}");
                assert!(
                    msg.contains(&format!("chmod 600 {}", path.display())),
                    "{msg}"
                );
            }
            for tight in [0o600, 0o400] {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(tight))
                    .expect("chmod");
                Identity::load(&path).expect("owner-only is fine");
            }
        }

        #[test]
        fn load_kind_refuses_the_other_kind() {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("camera.key");
            Identity::generate(KeyKind::Camera, &mut rng())
                .save_new(&path)
                .expect("new file");
            assert!(matches!(
                Identity::load_kind(&path, KeyKind::Viewer),
                Err(KeyError::WrongIdentityKind {
                    expected: KeyKind::Viewer,
                    found: KeyKind::Camera,
                    ..
                })
            ));
            Identity::load_kind(&path, KeyKind::Camera).expect("right kind");
        }

        #[test]
        fn load_refuses_oversized_and_non_utf8_files() {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("big.key");
            std::fs::write(&path, vec![b'#'; MAX_IDENTITY_BYTES as usize + 1]).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            assert!(matches!(
                Identity::load(&path),
                Err(KeyError::TooLarge { .. })
            ));
            std::fs::write(&path, b"# ok\n# ok\n\xff\n").expect("write");
            assert!(matches!(
                Identity::load(&path),
                Err(KeyError::NotUtf8 { line: 3, .. })
            ));
        }
    }
}

#[cfg(test)]
mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(text in ".{0,400}") {
            let _ = Identity::parse(&text, "fuzz");
        }

        #[test]
        fn parse_never_panics_on_near_valid_lines(
            fields in proptest::collection::vec("[0-9a-zA-Z:+\\-]{0,90}", 0..7)
        ) {
            let text = format!("{IDENTITY_MAGIC} v1 viewer\n{}\n", fields.join(" "));
            let _ = Identity::parse(&text, "fuzz");
        }
    }
}
