//! The credential store: long-term users (the bootstrap admin and the config file's users)
//! and temporary sessions issued by the IoT credentials provider, each with its policy.
//!
//! Key formats follow AWS (IAM user guide, "Unique identifier prefixes"): long-term access
//! keys start with `AKIA`, temporary ones with `ASIA`, then 16 characters of `[A-Z2-7]`;
//! secret keys are 40 characters of the base64 alphabet.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use rand::{Rng as _, RngExt as _};
use time::OffsetDateTime;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::policy::{PolicyDocument, PolicyVariables};

/// A secret string (secret access key, session token): zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret text, for signing or for writing to its file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

/// A long-term IAM user.
#[derive(Debug)]
pub struct User {
    /// User name (`arn:aws:iam::ACCOUNT:user/NAME`).
    pub name: String,
    /// Access key id (`AKIA…`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// The user's identity policy.
    pub policy: PolicyDocument,
}

/// Temporary credentials issued through a role alias.
#[derive(Debug)]
pub struct Session {
    /// Access key id (`ASIA…`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Session token (sent as `x-amz-security-token`).
    pub session_token: Secret,
    /// Role the session assumed.
    pub role_name: String,
    /// Session name (the certificate id, as the IoT credentials provider names it).
    pub session_name: String,
    /// Thing named in the credentials request, if any.
    pub thing_name: Option<String>,
    /// The role's policy.
    pub policy: PolicyDocument,
    expires_at: RwLock<OffsetDateTime>,
}

impl Session {
    /// When the credentials stop working.
    pub fn expires_at(&self) -> OffsetDateTime {
        *self
            .expires_at
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn expire_now(&self, now: OffsetDateTime) {
        let mut e = self
            .expires_at
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *e > now {
            *e = now;
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A long-term user.
    User(Arc<User>),
    /// A role session (IoT credentials provider).
    AssumedRole(Arc<Session>),
}

impl Principal {
    /// The caller's ARN as AWS prints it in `AccessDenied` messages.
    pub fn arn(&self, account_id: &str) -> String {
        match self {
            Self::User(u) => format!("arn:aws:iam::{account_id}:user/{}", u.name),
            Self::AssumedRole(s) => format!(
                "arn:aws:sts::{account_id}:assumed-role/{}/{}",
                s.role_name, s.session_name
            ),
        }
    }

    /// The policy that governs the caller.
    pub fn policy(&self) -> &PolicyDocument {
        match self {
            Self::User(u) => &u.policy,
            Self::AssumedRole(s) => &s.policy,
        }
    }

    /// Values of the policy variables for this caller.
    pub fn variables(&self) -> PolicyVariables {
        match self {
            Self::User(_) => PolicyVariables::default(),
            Self::AssumedRole(s) => PolicyVariables {
                iot_thing_name: s.thing_name.clone(),
            },
        }
    }

    /// The access key id the caller signed with.
    pub fn access_key_id(&self) -> &str {
        match self {
            Self::User(u) => &u.access_key_id,
            Self::AssumedRole(s) => &s.access_key_id,
        }
    }
}

/// What the store knows about an access key.
#[derive(Debug, Clone)]
pub enum KeyLookup {
    /// A long-term user's key.
    User(Arc<User>),
    /// A session's key.
    Session(Arc<Session>),
    /// Unknown key.
    Unknown,
}

/// Parameters of a new session.
#[derive(Debug)]
pub struct NewSession {
    /// Role assumed.
    pub role_name: String,
    /// Session name.
    pub session_name: String,
    /// Thing named in the request.
    pub thing_name: Option<String>,
    /// Role policy.
    pub policy: PolicyDocument,
    /// Expiration.
    pub expires_at: OffsetDateTime,
}

/// All credentials kvs-local accepts.
#[derive(Debug, Default)]
pub struct CredentialStore {
    users: RwLock<HashMap<String, Arc<User>>>,
    sessions: RwLock<HashMap<String, Arc<Session>>>,
}

impl CredentialStore {
    /// Adds (or replaces) a long-term user.
    pub fn add_user(&self, user: User) -> Arc<User> {
        let user = Arc::new(user);
        write(&self.users).insert(user.access_key_id.clone(), Arc::clone(&user));
        user
    }

    /// Issues temporary credentials.
    pub fn issue_session(&self, params: NewSession) -> Arc<Session> {
        let session = Arc::new(Session {
            access_key_id: new_access_key_id("ASIA"),
            secret_access_key: new_secret_access_key(),
            session_token: new_session_token(),
            role_name: params.role_name,
            session_name: params.session_name,
            thing_name: params.thing_name,
            policy: params.policy,
            expires_at: RwLock::new(params.expires_at),
        });
        let mut sessions = write(&self.sessions);
        // Drop sessions that expired long ago so a camera refreshing for weeks does not
        // grow the map without bound (an hour of grace keeps ExpiredToken answers exact).
        let horizon = OffsetDateTime::now_utc() - time::Duration::hours(1);
        sessions.retain(|_, s| s.expires_at() > horizon);
        sessions.insert(session.access_key_id.clone(), Arc::clone(&session));
        session
    }

    /// Finds the owner of `access_key_id`.
    pub fn lookup(&self, access_key_id: &str) -> KeyLookup {
        if let Some(u) = read(&self.users).get(access_key_id) {
            return KeyLookup::User(Arc::clone(u));
        }
        match read(&self.sessions).get(access_key_id) {
            Some(s) => KeyLookup::Session(Arc::clone(s)),
            None => KeyLookup::Unknown,
        }
    }

    /// Makes the session with `access_key_id` expire now; `false` if there is none.
    pub fn expire_session(&self, access_key_id: &str, now: OffsetDateTime) -> bool {
        match read(&self.sessions).get(access_key_id) {
            Some(s) => {
                s.expire_now(now);
                true
            }
            None => false,
        }
    }

    /// Makes every session expire now; returns how many were live.
    pub fn expire_all_sessions(&self, now: OffsetDateTime) -> usize {
        let sessions = read(&self.sessions);
        let live = sessions.values().filter(|s| s.expires_at() > now).count();
        sessions.values().for_each(|s| s.expire_now(now));
        live
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A new access key id: `prefix` (`AKIA` or `ASIA`) and 16 characters of `[A-Z2-7]`.
pub fn new_access_key_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    let tail: String = (0..16)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{prefix}{tail}")
}

/// A new 40-character secret access key (240 random bits, base64 alphabet).
pub fn new_secret_access_key() -> Secret {
    let mut b = [0u8; 30];
    rand::rng().fill_bytes(&mut b);
    let s = base64::engine::general_purpose::STANDARD.encode(b);
    b.zeroize();
    Secret(s)
}

fn new_session_token() -> Secret {
    let mut b = [0u8; 96];
    rand::rng().fill_bytes(&mut b);
    let s = base64::engine::general_purpose::STANDARD.encode(b);
    b.zeroize();
    Secret(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_aws_shapes() {
        let k = new_access_key_id("AKIA");
        assert_eq!(k.len(), 20);
        assert!(k.starts_with("AKIA"));
        assert!(
            k[4..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        assert_eq!(new_secret_access_key().expose().len(), 40);
        assert_eq!(format!("{:?}", new_secret_access_key()), "** redacted **");
    }

    #[test]
    fn sessions_expire_on_demand() {
        let store = CredentialStore::default();
        let now = OffsetDateTime::now_utc();
        let s = store.issue_session(NewSession {
            role_name: "r".into(),
            session_name: "s".into(),
            thing_name: Some("cam1".into()),
            policy: PolicyDocument::iot_camera_role(),
            expires_at: now + time::Duration::hours(1),
        });
        assert!(s.access_key_id.starts_with("ASIA"));
        assert!(matches!(
            store.lookup(&s.access_key_id),
            KeyLookup::Session(_)
        ));
        assert!(store.expire_session(&s.access_key_id, now));
        assert_eq!(s.expires_at(), now);
        assert!(!store.expire_session("ASIANOPE", now));
        assert!(matches!(store.lookup("AKIANOPE"), KeyLookup::Unknown));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(s.session_token.expose()));
    }
}
