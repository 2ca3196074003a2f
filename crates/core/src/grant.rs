//! Agents' grants (I8) and the scopes of their credentials (I9). Pure: time is an
//! argument.
//!
//! A grant lets one agent perform `actions` on `resources` (patterns) of one system,
//! under constraints (a daily UTC time window, a maximum risk score) until it expires.
//! It is active only when its system's owner approved it and, when any of its actions
//! mutates production state ([`mutates`]), the agent's owner approved it too; it lapses
//! when not recertified within the profile's cadence.
//!
//! A scope is `system:action:resource`; a credential's scopes must each be covered by
//! an active grant ([`Terms::covers`]), and a delegated credential's scopes must each be
//! within its delegator's ([`scope_within`]). A runtime request is checked against its
//! credential and the agent's grants before any policy runs ([`check_use`]).

use crate::ids::SystemId;
use chrono::{DateTime, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Actions that only read. Every other action mutates production state, so a grant
/// holding one needs the agent owner's approval as well as the system owner's.
pub const READ_ONLY_ACTIONS: &[&str] = &["read", "list", "get"];

/// Whether `action` mutates production state (anything not `read`, `list` or `get`).
pub fn mutates(action: &str) -> bool {
    !READ_ONLY_ACTIONS.contains(&action)
}

/// Why grant terms or a scope were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct TermsError {
    pub field: String,
    pub reason: String,
}

fn terms_err(field: impl Into<String>, reason: impl Into<String>) -> TermsError {
    TermsError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// An action name: lowercase letters, digits, `_`, `-`, `.`.
pub fn valid_action(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= 64
        && a.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
        })
}

/// A resource pattern: visible ASCII without `:`, at most one `*`, and only at the end
/// (`orders/*` covers every resource starting with `orders/`; `*` covers everything).
pub fn valid_pattern(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 256
        && p.bytes().all(|b| (0x21..0x7f).contains(&b))
        && p.find('*').is_none_or(|i| i == p.len() - 1)
}

/// Whether every resource matched by `inner` is matched by `outer`.
pub fn pattern_within(inner: &str, outer: &str) -> bool {
    match outer.strip_suffix('*') {
        Some(prefix) => inner.starts_with(prefix),
        None => inner == outer,
    }
}

/// A daily window in UTC hours, `[start, end)`; `start > end` wraps past midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HourWindow {
    pub start_hour: u8,
    pub end_hour: u8,
}

impl HourWindow {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let h = u8::try_from(t.hour()).unwrap_or(0);
        if self.start_hour <= self.end_hour {
            self.start_hour <= h && h < self.end_hour
        } else {
            h >= self.start_hour || h < self.end_hour
        }
    }
}

/// Constraints a grant places on its use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    /// Credentials are issued only inside this daily window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HourWindow>,
    /// Credentials are issued only for tasks whose declared risk score is at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_risk_score: Option<u32>,
}

/// What a grant permits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub system: SystemId,
    pub actions: BTreeSet<String>,
    pub resources: BTreeSet<String>,
    pub constraints: Constraints,
    pub expires_at: DateTime<Utc>,
}

impl Terms {
    /// Checks the terms as requested at `now`.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), TermsError> {
        if self.actions.is_empty() {
            return Err(terms_err("actions", "at least one action is required"));
        }
        if let Some(a) = self.actions.iter().find(|a| !valid_action(a)) {
            return Err(terms_err(
                "actions",
                format!("{a:?} is not an action (lowercase letters, digits, _ - .)"),
            ));
        }
        if self.resources.is_empty() {
            return Err(terms_err(
                "resources",
                "at least one resource pattern is required",
            ));
        }
        if let Some(p) = self.resources.iter().find(|p| !valid_pattern(p)) {
            return Err(terms_err(
                "resources",
                format!(
                    "{p:?} is not a resource pattern (visible ASCII, no ':', '*' only at the end)"
                ),
            ));
        }
        if self.resources.iter().any(|p| p.contains(':')) {
            return Err(terms_err(
                "resources",
                "a resource pattern cannot contain ':'",
            ));
        }
        if let Some(w) = self.constraints.window {
            if w.start_hour > 23 || w.end_hour > 24 || w.start_hour == w.end_hour {
                return Err(terms_err(
                    "constraints.window",
                    "hours are 0 to 24 and start differs from end",
                ));
            }
        }
        if self.expires_at <= now {
            return Err(terms_err("expires_at", "must be in the future"));
        }
        Ok(())
    }

    /// Whether any action mutates production state.
    pub fn mutating(&self) -> bool {
        self.actions.iter().any(|a| mutates(a))
    }

    /// Whether this grant's terms cover `scope` (constraints aside).
    pub fn covers(&self, scope: &Scope) -> bool {
        scope.system == self.system
            && self.actions.contains(&scope.action)
            && self
                .resources
                .iter()
                .any(|p| pattern_within(&scope.resource, p))
    }
}

/// One permission in a credential: `system:action:resource`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope {
    pub system: SystemId,
    pub action: String,
    pub resource: String,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.system, self.action, self.resource)
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Scope {
    type Error = TermsError;
    fn try_from(s: String) -> Result<Self, TermsError> {
        s.parse()
    }
}

impl std::str::FromStr for Scope {
    type Err = TermsError;
    fn from_str(s: &str) -> Result<Self, TermsError> {
        let bad = || terms_err("scope", format!("{s:?} is not system:action:resource"));
        let mut parts = s.splitn(3, ':');
        let (Some(system), Some(action), Some(resource)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if system.is_empty() || !valid_action(action) || !valid_pattern(resource) {
            return Err(bad());
        }
        if resource.contains(':') {
            return Err(bad());
        }
        Ok(Scope {
            system: SystemId(system.to_owned()),
            action: action.to_owned(),
            resource: resource.to_owned(),
        })
    }
}

/// Whether `inner` permits nothing `outer` does not (attenuation).
pub fn scope_within(inner: &Scope, outer: &Scope) -> bool {
    inner.system == outer.system
        && inner.action == outer.action
        && pattern_within(&inner.resource, &outer.resource)
}

/// Who must approve a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approver {
    SystemOwner,
    AgentOwner,
}

impl Approver {
    pub fn as_str(self) -> &'static str {
        match self {
            Approver::SystemOwner => "system_owner",
            Approver::AgentOwner => "agent_owner",
        }
    }
}

/// The approvals a grant needs: the system owner always; the agent owner too when any
/// action mutates production state.
pub fn required_approvers(terms: &Terms) -> Vec<Approver> {
    let mut v = vec![Approver::SystemOwner];
    if terms.mutating() {
        v.push(Approver::AgentOwner);
    }
    v
}

/// What is known about a grant, for computing its state.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub terms: &'a Terms,
    pub system_owner_approved: bool,
    pub agent_owner_approved: bool,
    /// When it was last certified (first activation or recertification).
    pub certified_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// A grant's state at a moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Waiting for these approvals.
    Pending {
        missing: Vec<Approver>,
    },
    Active,
    /// Past its expiry.
    Expired,
    /// Not recertified within the cadence.
    Lapsed,
    Revoked,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Pending { .. } => "pending",
            State::Active => "active",
            State::Expired => "expired",
            State::Lapsed => "lapsed",
            State::Revoked => "revoked",
        }
    }
}

/// When a grant certified at `certified_at` must be recertified.
pub fn recertify_by(certified_at: DateTime<Utc>, every_days: u32) -> DateTime<Utc> {
    certified_at + Duration::days(i64::from(every_days))
}

/// The state of a grant at `now` (I8): revoked, expired, pending, lapsed or active.
pub fn state(f: &Facts<'_>, now: DateTime<Utc>, recertify_every_days: u32) -> State {
    if f.revoked {
        return State::Revoked;
    }
    if now >= f.terms.expires_at {
        return State::Expired;
    }
    let missing: Vec<Approver> = required_approvers(f.terms)
        .into_iter()
        .filter(|a| match a {
            Approver::SystemOwner => !f.system_owner_approved,
            Approver::AgentOwner => !f.agent_owner_approved,
        })
        .collect();
    if !missing.is_empty() {
        return State::Pending { missing };
    }
    match f.certified_at {
        Some(c) if now < recertify_by(c, recertify_every_days) => State::Active,
        _ => State::Lapsed,
    }
}

/// Why a credential's requested scopes were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeRefusal {
    #[error("scope {0} is not covered by any active grant of this agent")]
    NotGranted(String),
    #[error("scope {0} is outside the delegating credential")]
    BeyondDelegator(String),
    #[error("no scope was requested")]
    Empty,
}

/// Refuses unless every requested scope is within one of `outer` (attenuation only).
pub fn attenuate(requested: &BTreeSet<Scope>, outer: &BTreeSet<Scope>) -> Result<(), ScopeRefusal> {
    if requested.is_empty() {
        return Err(ScopeRefusal::Empty);
    }
    for s in requested {
        if !outer.iter().any(|o| scope_within(s, o)) {
            return Err(ScopeRefusal::BeyondDelegator(s.to_string()));
        }
    }
    Ok(())
}

/// What a runtime decision asks: the task it is for, the scope it would act on and
/// its declared risk score.
#[derive(Clone, Copy, Debug)]
pub struct Asked<'a> {
    pub task: &'a str,
    pub scope: &'a Scope,
    pub risk_score: u32,
}

/// The credential a request was asked with: its task and its scopes as issued
/// (`system:action:resource`; one that does not parse covers nothing).
#[derive(Clone, Copy, Debug)]
pub struct Held<'a> {
    pub task: &'a str,
    pub scopes: &'a [String],
}

/// Why a runtime request is refused before any policy runs. The messages are the
/// deny reasons an agent reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UseRefusal {
    /// The request names a task other than the credential's.
    #[error("the credential was issued for task {credential:?}, not {asked:?}")]
    OtherTask { credential: String, asked: String },
    /// No scope of the credential covers the request's.
    #[error("no grant: the credential does not cover {0}")]
    NotInCredential(Scope),
    /// No grant active at the time covers the scope.
    #[error("no grant: no active grant covers {0}")]
    NoActiveGrant(Scope),
    /// Every covering grant has a time window, and none holds at `at`.
    #[error(
        "outside the grant's time window ({}); it is {} UTC",
        windows_text(.windows),
        .at.format("%H:%M")
    )]
    OutsideWindow {
        /// The covering grants' windows, in the order of the grants.
        windows: Vec<HourWindow>,
        at: DateTime<Utc>,
    },
    /// The risk score is above the maximum of every covering grant in its window.
    #[error("risk score {0} exceeds every covering grant's maximum")]
    RiskTooHigh(u32),
}

fn windows_text(windows: &[HourWindow]) -> String {
    windows
        .iter()
        .map(|w| format!("{:02}:00-{:02}:00 UTC", w.start_hour, w.end_hour))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a request may go on to policy (I8, I9), checked in this order: the task is
/// the credential's; the credential's scopes cover the request's; a grant active at
/// `now` covers it; one of those grants' time windows holds at `now` (a grant without
/// a window always holds); and one grant in its window allows the risk score (a grant
/// without a maximum allows any).
pub fn check_use(
    asked: &Asked<'_>,
    held: &Held<'_>,
    grants: &[Facts<'_>],
    now: DateTime<Utc>,
    recertify_every_days: u32,
) -> Result<(), UseRefusal> {
    if asked.task != held.task {
        return Err(UseRefusal::OtherTask {
            credential: held.task.to_owned(),
            asked: asked.task.to_owned(),
        });
    }
    let in_credential = held
        .scopes
        .iter()
        .filter_map(|s| s.parse::<Scope>().ok())
        .any(|outer| scope_within(asked.scope, &outer));
    if !in_credential {
        return Err(UseRefusal::NotInCredential(asked.scope.clone()));
    }
    let covering: Vec<&Terms> = grants
        .iter()
        .filter(|g| {
            state(g, now, recertify_every_days) == State::Active && g.terms.covers(asked.scope)
        })
        .map(|g| g.terms)
        .collect();
    if covering.is_empty() {
        return Err(UseRefusal::NoActiveGrant(asked.scope.clone()));
    }
    let in_window: Vec<&Terms> = covering
        .iter()
        .copied()
        .filter(|t| t.constraints.window.is_none_or(|w| w.contains(now)))
        .collect();
    if in_window.is_empty() {
        return Err(UseRefusal::OutsideWindow {
            windows: covering
                .iter()
                .filter_map(|t| t.constraints.window)
                .collect(),
            at: now,
        });
    }
    let risk = asked.risk_score;
    if !in_window
        .iter()
        .any(|t| t.constraints.max_risk_score.is_none_or(|m| risk <= m))
    {
        return Err(UseRefusal::RiskTooHigh(risk));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap()
    }

    fn terms(actions: &[&str]) -> Terms {
        Terms {
            system: SystemId("sys_a".into()),
            actions: actions.iter().map(|s| s.to_string()).collect(),
            resources: ["orders/*".to_string()].into(),
            constraints: Constraints::default(),
            expires_at: t(12),
        }
    }

    fn scope(s: &str) -> Scope {
        s.parse().unwrap()
    }

    #[test]
    fn only_read_list_get_are_read_only() {
        assert!(!mutates("read") && !mutates("list") && !mutates("get"));
        assert!(mutates("write") && mutates("delete") && mutates("refund"));
        assert!(!terms(&["read", "list"]).mutating());
        assert!(terms(&["read", "refund"]).mutating());
    }

    #[test]
    fn patterns_nest_only_inward() {
        assert!(pattern_within("orders/1", "orders/*"));
        assert!(pattern_within("orders/eu/*", "orders/*"));
        assert!(pattern_within("x", "*"));
        assert!(!pattern_within("orders/*", "orders/1"));
        assert!(!pattern_within("*", "orders/*"));
        assert!(!pattern_within("invoices/1", "orders/*"));
        assert!(valid_pattern("orders/*") && !valid_pattern("or*ders") && !valid_pattern(""));
    }

    #[test]
    fn scopes_parse_and_cover() {
        let g = terms(&["read"]);
        assert!(g.covers(&scope("sys_a:read:orders/7")));
        assert!(!g.covers(&scope("sys_a:write:orders/7")));
        assert!(!g.covers(&scope("sys_b:read:orders/7")));
        assert!(!g.covers(&scope("sys_a:read:*")));
        assert!("nocolon".parse::<Scope>().is_err());
        assert!("a:READ:x".parse::<Scope>().is_err());
        assert!("a:read:x:y".parse::<Scope>().is_err());
        assert_eq!(
            scope("sys_a:read:orders/7").to_string(),
            "sys_a:read:orders/7"
        );
    }

    #[test]
    fn i8_state_needs_both_owners_for_mutating_grants() {
        let read = terms(&["read"]);
        let write = terms(&["read", "write"]);
        let facts = |terms, sys, agent| Facts {
            terms,
            system_owner_approved: sys,
            agent_owner_approved: agent,
            certified_at: Some(t(1)),
            revoked: false,
        };
        assert_eq!(
            state(&facts(&read, false, true), t(2), 90),
            State::Pending {
                missing: vec![Approver::SystemOwner]
            }
        );
        assert_eq!(state(&facts(&read, true, false), t(2), 90), State::Active);
        assert_eq!(
            state(&facts(&write, true, false), t(2), 90),
            State::Pending {
                missing: vec![Approver::AgentOwner]
            }
        );
        assert_eq!(state(&facts(&write, true, true), t(2), 90), State::Active);
        assert_eq!(state(&facts(&write, true, true), t(12), 90), State::Expired);
        let mut revoked = facts(&write, true, true);
        revoked.revoked = true;
        assert_eq!(state(&revoked, t(2), 90), State::Revoked);
    }

    #[test]
    fn i8_uncertified_grants_lapse() {
        let mut long = terms(&["read"]);
        long.expires_at = t(0) + Duration::days(400);
        let f = Facts {
            terms: &long,
            system_owner_approved: true,
            agent_owner_approved: false,
            certified_at: Some(t(0)),
            revoked: false,
        };
        assert_eq!(state(&f, t(0) + Duration::days(29), 30), State::Active);
        assert_eq!(state(&f, t(0) + Duration::days(30), 30), State::Lapsed);
    }

    #[test]
    fn windows_wrap_midnight() {
        let day = HourWindow {
            start_hour: 9,
            end_hour: 17,
        };
        assert!(day.contains(t(9)) && !day.contains(t(17)) && !day.contains(t(3)));
        let night = HourWindow {
            start_hour: 22,
            end_hour: 6,
        };
        assert!(night.contains(t(23)) && night.contains(t(2)) && !night.contains(t(12)));
    }

    #[test]
    fn i8_attenuation_never_widens() {
        let outer: BTreeSet<Scope> = [scope("s:read:orders/*")].into();
        assert!(attenuate(&[scope("s:read:orders/1")].into(), &outer).is_ok());
        assert!(attenuate(&[scope("s:read:*")].into(), &outer).is_err());
        assert!(attenuate(&[scope("s:write:orders/1")].into(), &outer).is_err());
        assert!(attenuate(&BTreeSet::new(), &outer).is_err());
    }

    #[test]
    fn terms_validate() {
        let now = t(1);
        assert!(terms(&["read"]).validate(now).is_ok());
        assert!(terms(&[]).validate(now).is_err());
        assert!(terms(&["Bad Action"]).validate(now).is_err());
        assert!(terms(&["read"]).validate(t(13)).is_err());
        let mut w = terms(&["read"]);
        w.constraints.window = Some(HourWindow {
            start_hour: 5,
            end_hour: 5,
        });
        assert!(w.validate(now).is_err());
    }

    /// An approved, certified grant of `terms`, for [`check_use`].
    fn active(terms: &Terms) -> Facts<'_> {
        Facts {
            terms,
            system_owner_approved: true,
            agent_owner_approved: true,
            certified_at: Some(t(0)),
            revoked: false,
        }
    }

    fn check(
        task: &str,
        scope_text: &str,
        risk: u32,
        scopes: &[&str],
        grants: &[Facts<'_>],
        now: DateTime<Utc>,
    ) -> Result<(), UseRefusal> {
        let scope = scope(scope_text);
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let asked = Asked {
            task,
            scope: &scope,
            risk_score: risk,
        };
        let held = Held {
            task: "refunds",
            scopes: &scopes,
        };
        check_use(&asked, &held, grants, now, 90)
    }

    #[test]
    fn i8_a_request_within_an_active_grant_passes() {
        let mut g = terms(&["read"]);
        g.constraints = Constraints {
            window: Some(HourWindow {
                start_hour: 1,
                end_hour: 5,
            }),
            max_risk_score: Some(30),
        };
        let ok = check(
            "refunds",
            "sys_a:read:orders/7",
            30,
            &["sys_a:read:orders/*"],
            &[active(&g)],
            t(2),
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn i9_another_task_is_refused() {
        let g = terms(&["read"]);
        let e = check(
            "billing",
            "sys_a:read:orders/7",
            0,
            &["sys_a:read:orders/*"],
            &[active(&g)],
            t(2),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the credential was issued for task \"refunds\", not \"billing\""
        );
    }

    #[test]
    fn i9_a_scope_outside_the_credential_is_refused() {
        let g = terms(&["read"]);
        let e = check(
            "refunds",
            "sys_a:read:invoices/7",
            0,
            &["sys_a:read:orders/*", "not a scope"],
            &[active(&g)],
            t(2),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no grant: the credential does not cover sys_a:read:invoices/7"
        );
    }

    #[test]
    fn i8_without_an_active_covering_grant_is_refused() {
        let read = terms(&["read"]);
        let write = terms(&["write"]);
        let mut revoked = active(&read);
        revoked.revoked = true;
        let e = check(
            "refunds",
            "sys_a:read:orders/7",
            0,
            &["sys_a:read:orders/*"],
            &[revoked, active(&write)],
            t(2),
        )
        .unwrap_err();
        assert_eq!(e, UseRefusal::NoActiveGrant(scope("sys_a:read:orders/7")));
        assert_eq!(
            e.to_string(),
            "no grant: no active grant covers sys_a:read:orders/7"
        );
    }

    #[test]
    fn i8_outside_every_covering_window_is_refused() {
        let mut day = terms(&["read"]);
        day.constraints.window = Some(HourWindow {
            start_hour: 9,
            end_hour: 17,
        });
        let mut night = terms(&["read"]);
        night.constraints.window = Some(HourWindow {
            start_hour: 22,
            end_hour: 6,
        });
        let now = t(7) + Duration::minutes(30);
        let e = check(
            "refunds",
            "sys_a:read:orders/7",
            0,
            &["sys_a:read:orders/*"],
            &[active(&day), active(&night)],
            now,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "outside the grant's time window (09:00-17:00 UTC, 22:00-06:00 UTC); it is 07:30 UTC"
        );
    }

    #[test]
    fn i8_a_risk_above_every_covering_maximum_is_refused() {
        let mut low = terms(&["read"]);
        low.constraints.max_risk_score = Some(20);
        // A grant without a maximum allows any risk, but only inside its window.
        let mut closed = terms(&["read"]);
        closed.constraints.window = Some(HourWindow {
            start_hour: 9,
            end_hour: 10,
        });
        let e = check(
            "refunds",
            "sys_a:read:orders/7",
            21,
            &["sys_a:read:orders/*"],
            &[active(&low), active(&closed)],
            t(2),
        )
        .unwrap_err();
        assert_eq!(e, UseRefusal::RiskTooHigh(21));
        assert_eq!(
            e.to_string(),
            "risk score 21 exceeds every covering grant's maximum"
        );
    }
}
