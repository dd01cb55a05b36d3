//! Authentication (SigV4 against the credential store) and authorization (the caller's
//! IAM-style policy) of every request.
//!
//! Data-plane handlers use the same two calls as the control plane:
//! [`Authenticator::authenticate`] with [`PayloadHash::Streaming`] from the request head
//! alone (before reading a PutMedia body), then [`Authenticator::authorize`] with the
//! stream's ARN.
//!
//! # Layout
//! - [`policy`]: the IAM policy subset and its evaluation.
//! - [`store`]: users, temporary sessions and key generation.
//! - [`bootstrap`]: the admin user and its shared-credentials file.

pub mod bootstrap;
pub mod policy;
pub mod store;

use std::sync::Arc;

use http::request::Parts;
use time::OffsetDateTime;

use crate::error::ApiError;
pub use kvs_e2ee_aws::sigv4::verify::{PayloadHash, SignatureClaims};
pub use policy::{Decision, PolicyDocument, PolicyVariables};
pub use store::{CredentialStore, KeyLookup, NewSession, Principal, Secret, Session, User};

/// An action as IAM names it (`kinesisvideo:PutMedia`), including the data-plane ones the
/// later handlers authorize, and kvs-local's own admin action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// `kinesisvideo:CreateStream`
    CreateStream,
    /// `kinesisvideo:DescribeStream`
    DescribeStream,
    /// `kinesisvideo:ListStreams`
    ListStreams,
    /// `kinesisvideo:DeleteStream`
    DeleteStream,
    /// `kinesisvideo:GetDataEndpoint`
    GetDataEndpoint,
    /// `kinesisvideo:TagStream`
    TagStream,
    /// `kinesisvideo:UntagStream`
    UntagStream,
    /// `kinesisvideo:ListTagsForStream`
    ListTagsForStream,
    /// `kinesisvideo:UpdateDataRetention`
    UpdateDataRetention,
    /// `kinesisvideo:PutMedia`
    PutMedia,
    /// `kinesisvideo:GetMedia`
    GetMedia,
    /// `kinesisvideo:ListFragments`
    ListFragments,
    /// `kinesisvideo:GetMediaForFragmentList`
    GetMediaForFragmentList,
    /// `kinesisvideo:GetHLSStreamingSessionURL`
    GetHlsStreamingSessionUrl,
    /// `kinesisvideo:GetDASHStreamingSessionURL`
    GetDashStreamingSessionUrl,
    /// `kinesisvideo:GetClip`
    GetClip,
    /// `kinesisvideo:GetImages`
    GetImages,
    /// `kvs-local:Admin`: the fault-injection and credential admin API.
    Admin,
}

impl Action {
    /// The IAM action name.
    pub fn iam_name(self) -> &'static str {
        match self {
            Self::CreateStream => "kinesisvideo:CreateStream",
            Self::DescribeStream => "kinesisvideo:DescribeStream",
            Self::ListStreams => "kinesisvideo:ListStreams",
            Self::DeleteStream => "kinesisvideo:DeleteStream",
            Self::GetDataEndpoint => "kinesisvideo:GetDataEndpoint",
            Self::TagStream => "kinesisvideo:TagStream",
            Self::UntagStream => "kinesisvideo:UntagStream",
            Self::ListTagsForStream => "kinesisvideo:ListTagsForStream",
            Self::UpdateDataRetention => "kinesisvideo:UpdateDataRetention",
            Self::PutMedia => "kinesisvideo:PutMedia",
            Self::GetMedia => "kinesisvideo:GetMedia",
            Self::ListFragments => "kinesisvideo:ListFragments",
            Self::GetMediaForFragmentList => "kinesisvideo:GetMediaForFragmentList",
            Self::GetHlsStreamingSessionUrl => "kinesisvideo:GetHLSStreamingSessionURL",
            Self::GetDashStreamingSessionUrl => "kinesisvideo:GetDASHStreamingSessionURL",
            Self::GetClip => "kinesisvideo:GetClip",
            Self::GetImages => "kinesisvideo:GetImages",
            Self::Admin => "kvs-local:Admin",
        }
    }
}

/// Authenticates and authorizes requests against the credential store.
#[derive(Debug)]
pub struct Authenticator {
    store: Arc<CredentialStore>,
    region: String,
    account_id: String,
}

impl Authenticator {
    /// An authenticator for `region` / `account_id` over `store`.
    pub fn new(store: Arc<CredentialStore>, region: &str, account_id: &str) -> Self {
        Self {
            store,
            region: region.to_owned(),
            account_id: account_id.to_owned(),
        }
    }

    /// The credential store.
    pub fn store(&self) -> &Arc<CredentialStore> {
        &self.store
    }

    /// Verifies the SigV4 signature of a request whose head is `parts` and returns the
    /// caller. `payload` says what the body hash may be ([`PayloadHash::Streaming`] lets a
    /// streaming handler authenticate before reading the body).
    pub fn authenticate(
        &self,
        parts: &Parts,
        payload: PayloadHash<'_>,
    ) -> Result<Principal, ApiError> {
        let claims = SignatureClaims::parse(parts)?;
        let now = OffsetDateTime::now_utc();
        let invalid_token = || {
            ApiError::unrecognized_client("The security token included in the request is invalid.")
        };
        let (principal, secret, token) = match self.store.lookup(&claims.access_key_id) {
            KeyLookup::Unknown => return Err(invalid_token()),
            KeyLookup::User(user) => {
                // A session token with a long-term key is refused by AWS the same way.
                if claims.security_token.is_some() {
                    return Err(invalid_token());
                }
                let secret = user.secret_access_key.clone();
                (Principal::User(user), secret, None)
            }
            KeyLookup::Session(session) => {
                let sent = claims.security_token.as_deref().unwrap_or("");
                if !sigv4_token_eq(sent, session.session_token.expose()) {
                    return Err(invalid_token());
                }
                if session.expires_at() <= now {
                    return Err(ApiError::expired_token(
                        "The security token included in the request is expired",
                    ));
                }
                let secret = session.secret_access_key.clone();
                let token = Some(session.session_token.clone());
                (Principal::AssumedRole(session), secret, token)
            }
        };
        claims.check_scope(&self.region)?;
        claims.check_clock_skew(now)?;
        claims.verify_signature(
            parts,
            secret.expose(),
            token.as_ref().map(Secret::expose),
            payload,
        )?;
        Ok(principal)
    }

    /// Checks `principal` may perform `action` on `resource_arn`; the denial names
    /// `resource_label` (KVS prints the stream name when the request named the stream, e.g.
    /// producer-sdk-cpp issue #869: `User: arn:aws:iam::…:user/… is not authorized to
    /// perform: kinesisvideo:DescribeStream on resource: new_stream_cpp`).
    pub fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        resource_arn: &str,
        resource_label: &str,
    ) -> Result<(), ApiError> {
        let decision =
            principal
                .policy()
                .evaluate(action.iam_name(), resource_arn, &principal.variables());
        match decision {
            Decision::Allow => Ok(()),
            Decision::ExplicitDeny | Decision::ImplicitDeny => {
                Err(ApiError::access_denied(format!(
                    "User: {} is not authorized to perform: {} on resource: {}",
                    principal.arn(&self.account_id),
                    action.iam_name(),
                    resource_label
                )))
            }
        }
    }
}

fn sigv4_token_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
