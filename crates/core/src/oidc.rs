//! Signing in with OpenID Connect: what an ID token's claims must say before they
//! identify a person (OpenID Connect Core §3.1.3.7), and which countersign roles the
//! provider's groups give them. Pure: the time, the expected issuer, audience and
//! nonce are arguments; the signature is checked by the caller before this runs.

use crate::role::Role;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// How far the provider's clock may be from ours.
pub const CLOCK_SKEW: Duration = Duration::seconds(60);

/// What the ID token of this sign-in must match.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    /// The provider's issuer URL, exactly.
    pub issuer: &'a str,
    /// Our client id: the token's audience.
    pub client_id: &'a str,
    /// The nonce this sign-in sent.
    pub nonce: &'a str,
    /// When this sign-in started; a fresh sign-in requires the person to have
    /// authenticated after it (`auth_time`).
    pub started_at: DateTime<Utc>,
    /// Whether the person was asked to authenticate again (`max_age=0`).
    pub fresh: bool,
    /// The claim holding the person's groups, when groups map to roles.
    pub groups_claim: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// Who the provider says signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    /// The provider's stable id of the person.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// The groups claim's values (empty without a groups claim).
    pub groups: Vec<String>,
    /// When the person last authenticated at the provider (`auth_time`, else `iat`).
    pub authenticated_at: DateTime<Utc>,
}

impl Identity {
    /// The email, when the provider verified it.
    pub fn verified_email(&self) -> Option<&str> {
        self.email.as_deref().filter(|_| self.email_verified)
    }
}

/// Why an ID token does not identify anyone.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("the ID token has no {0} claim, or it has the wrong type")]
    Missing(&'static str),
    #[error("the ID token was issued by {found:?}, not by {expected:?}")]
    Issuer { found: String, expected: String },
    #[error("the ID token is not for this client (audience {0})")]
    Audience(String),
    #[error("the ID token expired")]
    Expired,
    #[error("the ID token was issued in the future")]
    NotYetValid,
    #[error("the ID token's nonce does not match this sign-in")]
    Nonce,
    #[error("the provider did not ask you to sign in again")]
    NotFresh,
}

fn time(claims: &Map<String, Value>, name: &'static str) -> Result<DateTime<Utc>, ClaimsError> {
    claims
        .get(name)
        .and_then(Value::as_i64)
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or(ClaimsError::Missing(name))
}

fn string<'a>(claims: &'a Map<String, Value>, name: &'static str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// The strings of a groups claim: an array of strings, or one string.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Checks a signature-verified ID token's claims and reads the person from them.
pub fn identify(claims: &Map<String, Value>, e: &Expected<'_>) -> Result<Identity, ClaimsError> {
    let issuer = string(claims, "iss").ok_or(ClaimsError::Missing("iss"))?;
    if issuer != e.issuer {
        return Err(ClaimsError::Issuer {
            found: issuer.to_owned(),
            expected: e.issuer.to_owned(),
        });
    }
    let audiences = strings(claims.get("aud"));
    if !audiences.iter().any(|a| a == e.client_id) {
        return Err(ClaimsError::Audience(audiences.join(", ")));
    }
    // With several audiences, the authorized party must be us (Core §3.1.3.7 item 5).
    if audiences.len() > 1 && string(claims, "azp") != Some(e.client_id) {
        return Err(ClaimsError::Audience(audiences.join(", ")));
    }
    if time(claims, "exp")? + CLOCK_SKEW <= e.now {
        return Err(ClaimsError::Expired);
    }
    let issued = time(claims, "iat")?;
    if issued > e.now + CLOCK_SKEW {
        return Err(ClaimsError::NotYetValid);
    }
    if string(claims, "nonce") != Some(e.nonce) {
        return Err(ClaimsError::Nonce);
    }
    let authenticated_at = match claims.get("auth_time") {
        Some(_) => time(claims, "auth_time")?,
        None if e.fresh => return Err(ClaimsError::Missing("auth_time")),
        None => issued,
    };
    if e.fresh && authenticated_at + CLOCK_SKEW < e.started_at {
        return Err(ClaimsError::NotFresh);
    }
    let subject = string(claims, "sub")
        .filter(|s| !s.is_empty())
        .ok_or(ClaimsError::Missing("sub"))?;
    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        // Some providers send the string.
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    Ok(Identity {
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        email: string(claims, "email").map(str::to_owned),
        email_verified,
        name: string(claims, "name").map(str::to_owned),
        groups: e
            .groups_claim
            .map(|g| strings(claims.get(g)))
            .unwrap_or_default(),
        authenticated_at,
    })
}

/// The roles a person's groups give: each group named in `map` gives its roles;
/// with an empty map, a group named like a role (`security`, `data-governance`)
/// gives that role.
pub fn roles_from_groups(
    groups: &[String],
    map: &BTreeMap<String, BTreeSet<Role>>,
) -> BTreeSet<Role> {
    if map.is_empty() {
        return groups.iter().filter_map(|g| g.parse().ok()).collect();
    }
    groups
        .iter()
        .filter_map(|g| map.get(g))
        .flatten()
        .copied()
        .collect()
}

/// Whether a sign-in at `authenticated_at` is too old at `now` for a limit of
/// `max_age_minutes` (none: any age will do).
pub fn needs_fresh_sign_in(
    authenticated_at: DateTime<Utc>,
    now: DateTime<Utc>,
    max_age_minutes: Option<u32>,
) -> bool {
    max_age_minutes.is_some_and(|m| now - authenticated_at > Duration::minutes(i64::from(m)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn expected(now: DateTime<Utc>) -> Expected<'static> {
        Expected {
            issuer: "http://idp.example",
            client_id: "countersign",
            nonce: "n-1",
            started_at: at(0),
            fresh: false,
            groups_claim: Some("groups"),
            now,
        }
    }

    fn claims(extra: Value) -> Map<String, Value> {
        let mut c = json!({
            "iss": "http://idp.example", "aud": "countersign", "sub": "u-42",
            "exp": 1_800_000_600, "iat": 1_800_000_000, "nonce": "n-1",
            "email": "sam@example.com", "email_verified": true, "name": "Sam",
            "groups": ["security", "staff"]
        });
        if let (Some(m), Value::Object(e)) = (c.as_object_mut(), extra) {
            m.extend(e);
        }
        c.as_object().cloned().unwrap()
    }

    #[test]
    fn good_claims_identify_the_person() {
        let id = identify(&claims(json!({})), &expected(at(10))).unwrap();
        assert_eq!(id.subject, "u-42");
        assert_eq!(id.verified_email(), Some("sam@example.com"));
        assert_eq!(id.groups, vec!["security", "staff"]);
        assert_eq!(id.authenticated_at, at(0));
        let id = identify(&claims(json!({"email_verified": false})), &expected(at(10))).unwrap();
        assert_eq!(id.verified_email(), None);
    }

    #[test]
    fn each_check_refuses_on_its_own() {
        let e = expected(at(10));
        let refused = |extra: Value| identify(&claims(extra), &e).unwrap_err();
        assert!(matches!(
            refused(json!({"iss": "http://evil"})),
            ClaimsError::Issuer { .. }
        ));
        assert!(matches!(
            refused(json!({"aud": "other"})),
            ClaimsError::Audience(_)
        ));
        assert!(matches!(
            refused(json!({"aud": ["countersign", "other"]})),
            ClaimsError::Audience(_)
        ));
        assert!(identify(
            &claims(json!({"aud": ["countersign", "other"], "azp": "countersign"})),
            &e
        )
        .is_ok());
        assert_eq!(refused(json!({"nonce": "n-2"})), ClaimsError::Nonce);
        assert_eq!(refused(json!({"sub": ""})), ClaimsError::Missing("sub"));
        assert_eq!(refused(json!({"exp": "soon"})), ClaimsError::Missing("exp"));
        assert_eq!(
            identify(&claims(json!({})), &expected(at(600 + 60))).unwrap_err(),
            ClaimsError::Expired
        );
        assert_eq!(
            identify(&claims(json!({})), &expected(at(-61))).unwrap_err(),
            ClaimsError::NotYetValid
        );
    }

    #[test]
    fn a_fresh_sign_in_needs_a_recent_auth_time() {
        let mut e = expected(at(10));
        e.fresh = true;
        e.started_at = at(5);
        assert_eq!(
            identify(&claims(json!({})), &e).unwrap_err(),
            ClaimsError::Missing("auth_time")
        );
        assert_eq!(
            identify(&claims(json!({"auth_time": 1_800_000_000 - 3600})), &e).unwrap_err(),
            ClaimsError::NotFresh
        );
        let id = identify(&claims(json!({"auth_time": 1_800_000_008})), &e).unwrap();
        assert_eq!(id.authenticated_at, at(8));
    }

    #[test]
    fn groups_give_roles() {
        let groups = vec!["sec-team".to_owned(), "security".to_owned(), "x".to_owned()];
        assert_eq!(
            roles_from_groups(&groups, &BTreeMap::new()),
            BTreeSet::from([Role::Security])
        );
        let map = BTreeMap::from([
            (
                "sec-team".to_owned(),
                BTreeSet::from([Role::Security, Role::Risk]),
            ),
            ("legal-team".to_owned(), BTreeSet::from([Role::Legal])),
        ]);
        assert_eq!(
            roles_from_groups(&groups, &map),
            BTreeSet::from([Role::Security, Role::Risk])
        );
        assert!(roles_from_groups(&[], &map).is_empty());
    }

    #[test]
    fn old_sign_ins_need_refreshing_only_under_a_limit() {
        assert!(!needs_fresh_sign_in(at(0), at(3600), None));
        assert!(!needs_fresh_sign_in(at(0), at(600), Some(10)));
        assert!(needs_fresh_sign_in(at(0), at(601), Some(10)));
    }
}
