//! IAM-style identity policies: the subset of the IAM policy language kvs-local evaluates
//! (`Effect`, `Action`, `Resource` with `*`/`?` wildcards and the
//! `${credentials-iot:ThingName}` variable), so a user's or role's policy can be pasted from
//! the AWS guides unchanged.
//!
//! Evaluation follows the IAM logic (IAM user guide, "Policy evaluation logic"): an explicit
//! `Deny` wins, otherwise any matching `Allow` allows, otherwise the request is implicitly
//! denied. A resource pattern whose variable has no value (e.g. the thing name of a session
//! obtained without `x-amzn-iot-thingname`) matches nothing, as IAM treats unresolvable
//! variables.

use serde::{Deserialize, Serialize};

/// A policy document: `{"Version": "2012-10-17", "Statement": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Policy language version; only informative here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The statements.
    pub statement: OneOrMany<Statement>,
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// Optional statement id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Allow or deny.
    pub effect: Effect,
    /// Action patterns, e.g. `kinesisvideo:DescribeStream` or `kinesisvideo:*`.
    pub action: OneOrMany<String>,
    /// Resource ARN patterns, e.g. `arn:aws:kinesisvideo:*:*:stream/cam-*/*`.
    pub resource: OneOrMany<String>,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// The statement grants.
    Allow,
    /// The statement denies (and wins over any allow).
    Deny,
}

/// IAM's "a string or a list of strings" (also used for a single statement object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values as a slice.
    pub fn as_slice(&self) -> &[T] {
        match self {
            Self::One(v) => std::slice::from_ref(v),
            Self::Many(v) => v,
        }
    }
}

/// Values of policy variables for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyVariables {
    /// `${credentials-iot:ThingName}`: the thing named when the credentials were issued.
    pub iot_thing_name: Option<String>,
}

/// The result of evaluating a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows and none denies.
    Allow,
    /// A statement denies.
    ExplicitDeny,
    /// No statement applies.
    ImplicitDeny,
}

impl PolicyDocument {
    /// A policy allowing every action on every resource (the bootstrap admin).
    pub fn allow_all() -> Self {
        Self::single(Effect::Allow, &["*"], &["*"])
    }

    /// The role policy of the KVS guide's IoT setup ("Controlling access to Kinesis Video
    /// Streams resources using AWS IoT"): a camera may describe, write, tag and find the
    /// endpoint of the stream named after its thing, and nothing else.
    pub fn iot_camera_role() -> Self {
        Self::single(
            Effect::Allow,
            &[
                "kinesisvideo:DescribeStream",
                "kinesisvideo:PutMedia",
                "kinesisvideo:TagStream",
                "kinesisvideo:GetDataEndpoint",
            ],
            &["arn:aws:kinesisvideo:*:*:stream/${credentials-iot:ThingName}/*"],
        )
    }

    /// A one-statement policy.
    pub fn single(effect: Effect, actions: &[&str], resources: &[&str]) -> Self {
        Self {
            version: Some("2012-10-17".to_owned()),
            statement: OneOrMany::One(Statement {
                sid: None,
                effect,
                action: OneOrMany::Many(actions.iter().map(|s| (*s).to_owned()).collect()),
                resource: OneOrMany::Many(resources.iter().map(|s| (*s).to_owned()).collect()),
            }),
        }
    }

    /// Evaluates `action` (e.g. `kinesisvideo:PutMedia`) on `resource` (an ARN or `*`).
    pub fn evaluate(&self, action: &str, resource: &str, vars: &PolicyVariables) -> Decision {
        let mut allowed = false;
        for st in self.statement.as_slice() {
            if !st.applies(action, resource, vars) {
                continue;
            }
            match st.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

impl Statement {
    fn applies(&self, action: &str, resource: &str, vars: &PolicyVariables) -> bool {
        // Action names are case-insensitive in IAM; resources are case-sensitive.
        let action_matches = self
            .action
            .as_slice()
            .iter()
            .any(|p| wildcard_match(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()));
        action_matches
            && self.resource.as_slice().iter().any(|p| {
                substitute_variables(p, vars).is_some_and(|p| wildcard_match(&p, resource))
            })
    }
}

/// Replaces `${…}` policy variables; `None` if one has no value (the pattern then matches
/// nothing). `${*}`, `${?}` and `${$}` stand for the literal characters (IAM user guide,
/// "IAM policy elements: Variables and tags"); they are replaced by markers so they are not
/// read as wildcards.
fn substitute_variables(pattern: &str, vars: &PolicyVariables) -> Option<String> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let name = &after[..end];
        match name {
            "credentials-iot:ThingName" => {
                // Thing names are `[a-zA-Z0-9:_-]+`, so they contain no wildcard characters.
                out.push_str(vars.iot_thing_name.as_deref()?);
            }
            "*" => out.push(LITERAL_STAR),
            "?" => out.push(LITERAL_QUESTION),
            "$" => out.push('$'),
            _ => return None,
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

const LITERAL_STAR: char = '\u{E000}';
const LITERAL_QUESTION: char = '\u{E001}';

/// Glob match where `*` matches any run of characters and `?` exactly one (iterative
/// backtracking: linear in practice, no recursion on attacker-sized input).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let pc = p.get(pi).copied();
        match pc {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if c == '?' || literal_eq(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn literal_eq(pattern_char: char, text_char: char) -> bool {
    match pattern_char {
        LITERAL_STAR => text_char == '*',
        LITERAL_QUESTION => text_char == '?',
        c => c == text_char,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thing(name: &str) -> PolicyVariables {
        PolicyVariables {
            iot_thing_name: Some(name.to_owned()),
        }
    }

    const CAM1: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam1/1700000000000";
    const CAM2: &str = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam2/1700000000000";

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*c", "abbbc"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(!wildcard_match("stream/cam1/*", "stream/cam10"));
        assert!(wildcard_match("stream/cam-*/*", "stream/cam-7/123"));
        assert!(!wildcard_match("abc", "abcd"));
    }

    #[test]
    fn camera_role_reaches_only_its_own_stream() {
        let p = PolicyDocument::iot_camera_role();
        assert_eq!(
            p.evaluate("kinesisvideo:PutMedia", CAM1, &thing("cam1")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate("kinesisvideo:PutMedia", CAM2, &thing("cam1")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate("kinesisvideo:GetMedia", CAM1, &thing("cam1")),
            Decision::ImplicitDeny
        );
        // No thing name in the session: the variable is unresolvable, nothing matches.
        assert_eq!(
            p.evaluate("kinesisvideo:PutMedia", CAM1, &PolicyVariables::default()),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn explicit_deny_wins_and_actions_ignore_case() {
        let doc: PolicyDocument = serde_json::from_str(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"kinesisvideo:*","Resource":"*"},
                {"Effect":"Deny","Action":"kinesisvideo:DeleteStream","Resource":"*"}]}"#,
        )
        .expect("valid policy");
        let v = PolicyVariables::default();
        assert_eq!(
            doc.evaluate("kinesisvideo:describestream", CAM1, &v),
            Decision::Allow
        );
        assert_eq!(
            doc.evaluate("kinesisvideo:DeleteStream", CAM1, &v),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn literal_star_variable_is_not_a_wildcard() {
        let doc = PolicyDocument::single(Effect::Allow, &["*"], &["stream/${*}"]);
        let v = PolicyVariables::default();
        assert_eq!(doc.evaluate("x:y", "stream/*", &v), Decision::Allow);
        assert_eq!(doc.evaluate("x:y", "stream/a", &v), Decision::ImplicitDeny);
        let unknown = PolicyDocument::single(Effect::Allow, &["*"], &["${aws:username}"]);
        assert_eq!(unknown.evaluate("x:y", "bob", &v), Decision::ImplicitDeny);
    }
}
