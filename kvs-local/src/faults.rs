//! Fault injection: rules that make the next N matching requests fail the way AWS fails
//! (5xx, throttling) and hooks the data plane consults (drop the connection after N bytes,
//! stall, answer an ERROR ack with a chosen `ErrorId`).
//!
//! A rule has a [`FaultScope`] (any request, one stream, one TCP connection, one access
//! key), a [`Fault`] and a count. Handlers call [`Faults::take`] with what they know about
//! the request and the plane they serve; the first live matching rule is consumed. Rules
//! are set from the library ([`Faults::inject`]) or the admin HTTP API (`crate::admin`).

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultScope {
    /// Every request.
    Any,
    /// Requests naming this stream.
    Stream(String),
    /// Requests on this TCP connection (id from the `x-kvs-local-connection-id` header).
    Connection(u64),
    /// Requests signed with this access key id.
    AccessKeyId(String),
}

/// What happens to a matching request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum Fault {
    /// Answer `InternalFailure` (500) or `ServiceUnavailable` (503).
    ServerError {
        /// 500 or 503.
        #[serde(rename = "Status")]
        status: u16,
    },
    /// Answer `ClientLimitExceededException` (400), KVS's throttling error.
    Throttle,
    /// Data plane: close the connection after this many body bytes.
    DropConnectionAfterBytes {
        /// Bytes let through before the drop.
        #[serde(rename = "Bytes")]
        bytes: u64,
    },
    /// Data plane: stop reading/writing for this long.
    Stall {
        /// Stall duration in milliseconds.
        #[serde(rename = "Millis")]
        millis: u64,
    },
    /// Data plane (PutMedia): answer an `ERROR` ack with this `ErrorId` (e.g. 4000, 5000).
    AckError {
        /// The ErrorId.
        #[serde(rename = "ErrorId")]
        error_id: u32,
    },
}

impl Fault {
    /// Whether the fault makes sense before a request is handled at all (control plane).
    pub fn is_request_level(&self) -> bool {
        matches!(self, Self::ServerError { .. } | Self::Throttle)
    }

    /// The error response of a request-level fault, `None` for data-plane-only faults.
    pub fn to_api_error(&self) -> Option<ApiError> {
        match self {
            Self::ServerError { status: 503 } => Some(ApiError::service_unavailable(
                "Service is unavailable. Please try again later. (injected by kvs-local)",
            )),
            Self::ServerError { .. } => Some(ApiError::internal_failure(
                "An internal error occurred. (injected by kvs-local)",
            )),
            Self::Throttle => Some(ApiError::client_limit_exceeded(
                "Your request rate is too high. (injected by kvs-local)",
            )),
            _ => None,
        }
    }

    /// For [`Fault::Stall`], the stall duration.
    pub fn stall_duration(&self) -> Option<Duration> {
        match self {
            Self::Stall { millis } => Some(Duration::from_millis(*millis)),
            _ => None,
        }
    }
}

/// Which plane is asking (the data plane can receive every fault, the control plane only
/// request-level ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Control-plane API.
    Control,
    /// Data-plane API (PutMedia, GetMedia, …).
    Data,
}

/// What a handler knows about the request when asking for a fault.
#[derive(Debug, Clone, Copy)]
pub struct FaultContext<'a> {
    /// Plane of the handler.
    pub plane: Plane,
    /// Stream named by the request, if known.
    pub stream: Option<&'a str>,
    /// TCP connection id.
    pub connection: u64,
    /// Access key that signed the request, if authenticated.
    pub access_key_id: Option<&'a str>,
}

/// An installed rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Rule id (to list or remove it).
    #[serde(rename = "FaultId")]
    pub id: u64,
    /// Which requests it applies to.
    #[serde(rename = "Scope")]
    pub scope: FaultScope,
    /// What it does.
    #[serde(rename = "Fault")]
    pub fault: Fault,
    /// How many more requests it affects.
    #[serde(rename = "Remaining")]
    pub remaining: u32,
}

/// The installed rules.
#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<(u64, Vec<FaultRule>)>,
}

impl Faults {
    /// Installs a rule affecting the next `count` matching requests; returns its id.
    pub fn inject(&self, scope: FaultScope, fault: Fault, count: u32) -> u64 {
        let mut g = self.lock();
        g.0 += 1;
        let id = g.0;
        if count > 0 {
            g.1.push(FaultRule {
                id,
                scope,
                fault,
                remaining: count,
            });
        }
        id
    }

    /// Consumes one use of the first live rule matching `ctx`.
    pub fn take(&self, ctx: &FaultContext<'_>) -> Option<Fault> {
        let mut g = self.lock();
        let idx = g.1.iter().position(|r| {
            (ctx.plane == Plane::Data || r.fault.is_request_level()) && scope_matches(&r.scope, ctx)
        })?;
        let rule = &mut g.1[idx];
        let fault = rule.fault.clone();
        rule.remaining = rule.remaining.saturating_sub(1);
        if rule.remaining == 0 {
            g.1.remove(idx);
        }
        Some(fault)
    }

    /// The live rules.
    pub fn list(&self) -> Vec<FaultRule> {
        self.lock().1.clone()
    }

    /// Removes rule `id`; `false` if there was none.
    pub fn remove(&self, id: u64) -> bool {
        let mut g = self.lock();
        let before = g.1.len();
        g.1.retain(|r| r.id != id);
        g.1.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().1.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<FaultRule>)> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn scope_matches(scope: &FaultScope, ctx: &FaultContext<'_>) -> bool {
    match scope {
        FaultScope::Any => true,
        FaultScope::Stream(s) => ctx.stream == Some(s.as_str()),
        FaultScope::Connection(c) => ctx.connection == *c,
        FaultScope::AccessKeyId(k) => ctx.access_key_id == Some(k.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(plane: Plane, stream: Option<&str>) -> FaultContext<'_> {
        FaultContext {
            plane,
            stream,
            connection: 7,
            access_key_id: None,
        }
    }

    #[test]
    fn rules_fire_count_times_for_their_scope_only() {
        let f = Faults::default();
        f.inject(FaultScope::Stream("cam1".into()), Fault::Throttle, 2);
        assert_eq!(f.take(&ctx(Plane::Control, Some("cam2"))), None);
        assert_eq!(
            f.take(&ctx(Plane::Control, Some("cam1"))),
            Some(Fault::Throttle)
        );
        assert_eq!(
            f.take(&ctx(Plane::Control, Some("cam1"))),
            Some(Fault::Throttle)
        );
        assert_eq!(f.take(&ctx(Plane::Control, Some("cam1"))), None);
        assert!(f.list().is_empty());
    }

    #[test]
    fn data_plane_faults_skip_the_control_plane() {
        let f = Faults::default();
        let id = f.inject(
            FaultScope::Connection(7),
            Fault::AckError { error_id: 4000 },
            1,
        );
        assert_eq!(f.take(&ctx(Plane::Control, None)), None);
        assert_eq!(
            f.take(&ctx(Plane::Data, None)),
            Some(Fault::AckError { error_id: 4000 })
        );
        assert!(!f.remove(id));
    }

    #[test]
    fn rules_have_a_stable_json_form() {
        let rule = FaultRule {
            id: 1,
            scope: FaultScope::Stream("cam1".into()),
            fault: Fault::ServerError { status: 503 },
            remaining: 2,
        };
        let json = serde_json::to_string(&rule).expect("serialize");
        assert_eq!(
            json,
            r#"{"FaultId":1,"Scope":{"Stream":"cam1"},"Fault":{"Type":"ServerError","Status":503},"Remaining":2}"#
        );
        let any: FaultScope = serde_json::from_str(r#""Any""#).expect("unit variant");
        assert_eq!(any, FaultScope::Any);
    }
}
