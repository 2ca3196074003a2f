//! The governance profile: risk tiers, the rules that compute a release's tier from
//! its attributes, and per tier the required reviewer roles with their checklists,
//! required evidence kinds, veto roles and review deadline.
//!
//! Profiles are TOML (see `profiles/example.toml`). [`Profile::from_toml`] refuses a
//! bad profile with the file, the field and the reason.

use crate::canonical::Digest;
use crate::eval::EvalGate;
use crate::friction::Friction;
use crate::release::{Attributes, ReleaseKind, MAX_AUTONOMY_LEVEL};
use crate::role::Role;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One item of a role's checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItem {
    pub id: String,
    pub text: String,
}

/// What one tier requires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierPolicy {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub review_deadline_hours: u32,
    pub required_roles: BTreeSet<Role>,
    #[serde(default)]
    pub required_evidence: BTreeSet<String>,
    #[serde(default)]
    pub veto_roles: BTreeSet<Role>,
    /// Evaluation gates (I7): thresholds on named metrics of the latest eval report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eval_gates: Vec<EvalGate>,
    /// In the console, a review, risk acceptance, decision or step-up approval of a
    /// release of this tier needs a sign-in at most this many minutes old; an older
    /// one sends the person through their identity provider again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_max_auth_age_minutes: Option<u32>,
    /// Friction against rubber-stamping approvals of this tier.
    #[serde(default, skip_serializing_if = "Friction::is_empty")]
    pub friction: Friction,
}

/// Conditions on a release's attributes; all given conditions must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<BTreeSet<ReleaseKind>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_facing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agentic: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_connected: Option<bool>,
    /// Holds when the release touches any of these data classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_classes_any: Option<BTreeSet<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regulated: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_party: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autonomy_level_at_least: Option<u8>,
}

impl Condition {
    fn is_empty(&self) -> bool {
        *self == Condition::default()
    }

    pub fn holds(&self, kind: ReleaseKind, a: &Attributes) -> bool {
        let eq = |want: Option<bool>, got: bool| want.is_none_or(|w| w == got);
        self.kind.as_ref().is_none_or(|ks| ks.contains(&kind))
            && eq(self.customer_facing, a.customer_facing)
            && eq(self.agentic, a.agentic)
            && eq(self.data_connected, a.data_connected)
            && self
                .data_classes_any
                .as_ref()
                .is_none_or(|cs| cs.iter().any(|c| a.data_classes.contains(c)))
            && eq(self.regulated, a.regulated)
            && eq(self.third_party, a.third_party)
            && self
                .autonomy_level_at_least
                .is_none_or(|l| a.autonomy_level >= l)
    }
}

/// A tiering rule: when its condition holds, the release is at least this tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub when: Condition,
    pub tier: String,
}

/// A validated governance profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub version: String,
    /// Every evidence kind a tier may require or a user may attach.
    pub evidence_kinds: BTreeSet<String>,
    /// Ordered from the lowest tier to the highest.
    pub tiers: Vec<TierPolicy>,
    #[serde(default)]
    pub rules: Vec<TierRule>,
    #[serde(default)]
    pub checklists: BTreeMap<Role, Vec<ChecklistItem>>,
    /// Drift thresholds a `retrain` must meet against its promoted baseline, read from
    /// the latest eval report (e.g. `{ metric = "drift_psi", max = 0.2 }`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retrain_drift_gates: Vec<EvalGate>,
    /// Agents' grants: recertification cadence and delegation depth (I8).
    #[serde(default, skip_serializing_if = "GrantsPolicy::is_default")]
    pub grants: GrantsPolicy,
    /// Runtime decisions: step-up approval timeout (I10).
    #[serde(default, skip_serializing_if = "RuntimePolicy::is_default")]
    pub runtime: RuntimePolicy,
    /// When a reviewer or approver looks like a rubber stamp.
    #[serde(default, skip_serializing_if = "AccountabilityPolicy::is_default")]
    pub accountability: AccountabilityPolicy,
}

/// `[runtime]`: how long a step-up approval request waits for its human before it
/// expires to deny. Left at its defaults it does not enter the profile digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimePolicy {
    #[serde(default = "RuntimePolicy::default_timeout")]
    pub approval_timeout_minutes: u32,
}

impl RuntimePolicy {
    fn default_timeout() -> u32 {
        15
    }
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for RuntimePolicy {
    fn default() -> Self {
        Self {
            approval_timeout_minutes: Self::default_timeout(),
        }
    }
}

/// `[accountability]`: a reviewer with at least `min_decisions` decisions is flagged
/// as a possible rubber stamp when they approve at least `max_approval_pct` percent
/// with a median time to decide under `min_median_seconds`, or when more than
/// `max_unopened_pct` percent of their decisions were made without opening the context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountabilityPolicy {
    #[serde(default = "AccountabilityPolicy::default_min")]
    pub min_decisions: u32,
    #[serde(default = "AccountabilityPolicy::default_pct")]
    pub max_approval_pct: u32,
    #[serde(default = "AccountabilityPolicy::default_secs")]
    pub min_median_seconds: u32,
    #[serde(default = "AccountabilityPolicy::default_unopened")]
    pub max_unopened_pct: u32,
}

impl AccountabilityPolicy {
    fn default_min() -> u32 {
        5
    }
    fn default_pct() -> u32 {
        95
    }
    fn default_secs() -> u32 {
        60
    }
    fn default_unopened() -> u32 {
        20
    }
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for AccountabilityPolicy {
    fn default() -> Self {
        Self {
            min_decisions: Self::default_min(),
            max_approval_pct: Self::default_pct(),
            min_median_seconds: Self::default_secs(),
            max_unopened_pct: Self::default_unopened(),
        }
    }
}

/// `[grants]`: how often grants must be recertified and how deep delegation may go.
/// Left at its defaults it does not enter the profile digest, so older profiles keep
/// their digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsPolicy {
    /// A grant not recertified within this many days of its last certification lapses.
    #[serde(default = "GrantsPolicy::default_recertify")]
    pub recertify_every_days: u32,
    /// The longest delegation chain (`act` nesting) a credential may carry.
    #[serde(default = "GrantsPolicy::default_depth")]
    pub max_delegation_depth: u32,
}

impl GrantsPolicy {
    fn default_recertify() -> u32 {
        90
    }
    fn default_depth() -> u32 {
        2
    }
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for GrantsPolicy {
    fn default() -> Self {
        Self {
            recertify_every_days: Self::default_recertify(),
            max_delegation_depth: Self::default_depth(),
        }
    }
}

/// Why a profile was refused: the file, the field, the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {reason}")]
pub struct ProfileError {
    pub file: String,
    pub field: String,
    pub reason: String,
}

/// The tier a release falls in and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tiering<'p> {
    pub tier: &'p TierPolicy,
    /// Ids of the rules that matched, in profile order.
    pub matched_rules: Vec<String>,
}

impl Profile {
    /// Parses and validates a profile. `file` names the source in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| {
            let field = match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}")
                }
                None => "(document)".to_owned(),
            };
            ProfileError {
                file: file.to_owned(),
                field,
                reason: e.message().trim().to_owned(),
            }
        })?;
        profile.validate().map_err(|(field, reason)| ProfileError {
            file: file.to_owned(),
            field,
            reason,
        })?;
        Ok(profile)
    }

    /// The profile digest: canonical JSON of the parsed profile, so comments and
    /// formatting do not change it but any rule does.
    pub fn digest(&self) -> Digest {
        // INVARIANT: a Profile holds only strings, numbers, sets and maps with string
        // keys, all of which serialize.
        Digest::of_canonical(self).unwrap_or_else(|_| Digest::zero())
    }

    pub fn tier(&self, name: &str) -> Option<&TierPolicy> {
        self.tiers.iter().find(|t| t.name == name)
    }

    fn rank(&self, name: &str) -> usize {
        self.tiers.iter().position(|t| t.name == name).unwrap_or(0)
    }

    /// The tier of a release: the highest tier among matching rules, or the lowest
    /// tier when no rule matches.
    pub fn tier_for(&self, kind: ReleaseKind, attributes: &Attributes) -> Tiering<'_> {
        let matched: Vec<&TierRule> = self
            .rules
            .iter()
            .filter(|r| r.when.holds(kind, attributes))
            .collect();
        let rank = matched
            .iter()
            .map(|r| self.rank(&r.tier))
            .max()
            .unwrap_or(0);
        // INVARIANT: validate() refuses a profile without tiers, so index 0 exists and
        // every rank is a valid index.
        let tier = &self.tiers[rank.min(self.tiers.len().saturating_sub(1))];
        Tiering {
            tier,
            matched_rules: matched.into_iter().map(|r| r.id.clone()).collect(),
        }
    }

    pub fn checklist(&self, role: Role) -> &[ChecklistItem] {
        self.checklists.get(&role).map(Vec::as_slice).unwrap_or(&[])
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let err = |f: String, r: &str| Err((f, r.to_owned()));
        if self.runtime.approval_timeout_minutes == 0 {
            return err(
                "runtime.approval_timeout_minutes".into(),
                "must be at least 1",
            );
        }
        if self.accountability.max_approval_pct > 100 || self.accountability.max_unopened_pct > 100
        {
            return err(
                "accountability".into(),
                "percentages must be between 0 and 100",
            );
        }
        if self.name.trim().is_empty() {
            return err("name".into(), "must not be empty");
        }
        if self.version.trim().is_empty() {
            return err("version".into(), "must not be empty");
        }
        for (i, k) in self.evidence_kinds.iter().enumerate() {
            if !is_identifier(k) {
                return err(
                    format!("evidence_kinds[{i}]"),
                    "must be lowercase letters, digits and underscores",
                );
            }
        }
        if self.tiers.is_empty() {
            return err("tiers".into(), "at least one tier is required");
        }
        let mut names = BTreeSet::new();
        for (i, t) in self.tiers.iter().enumerate() {
            let f = |field: &str| format!("tiers[{i}].{field}");
            if !is_identifier(&t.name) {
                return err(
                    f("name"),
                    "must be lowercase letters, digits and underscores",
                );
            }
            if !names.insert(t.name.as_str()) {
                return Err((f("name"), format!("duplicate tier {:?}", t.name)));
            }
            if t.approval_max_auth_age_minutes == Some(0) {
                return err(f("approval_max_auth_age_minutes"), "must be at least 1");
            }
            if t.friction
                .min_review_seconds
                .is_some_and(|s| s == 0 || s > 86_400)
            {
                return err(
                    f("friction.min_review_seconds"),
                    "must be between 1 and 86400 (a day)",
                );
            }
            if t.review_deadline_hours == 0 {
                return err(f("review_deadline_hours"), "must be at least 1");
            }
            if t.required_roles.is_empty() {
                return err(
                    f("required_roles"),
                    "at least one reviewer role is required",
                );
            }
            if t.required_roles.contains(&Role::Admin) {
                return err(f("required_roles"), "admin is not a reviewer role");
            }
            for role in &t.required_roles {
                if self.checklist(*role).is_empty() {
                    return Err((
                        f("required_roles"),
                        format!("role {role} has no checklist under [checklists]"),
                    ));
                }
            }
            for kind in &t.required_evidence {
                if !self.evidence_kinds.contains(kind) {
                    return Err((
                        f("required_evidence"),
                        format!("evidence kind {kind:?} is not listed in evidence_kinds"),
                    ));
                }
            }
            let mut metrics = BTreeSet::new();
            for (j, g) in t.eval_gates.iter().enumerate() {
                let field = f(&format!("eval_gates[{j}]"));
                if !is_identifier(&g.metric) {
                    return Err((
                        format!("{field}.metric"),
                        "must be lowercase letters, digits and underscores".into(),
                    ));
                }
                if !metrics.insert(g.metric.as_str()) {
                    return Err((
                        format!("{field}.metric"),
                        format!("duplicate metric {:?}", g.metric),
                    ));
                }
                g.validate().map_err(|reason| (field.clone(), reason))?;
            }
            if !t.eval_gates.is_empty() && !self.evidence_kinds.contains(crate::eval::EVAL_EVIDENCE)
            {
                return Err((
                    f("eval_gates"),
                    "evaluation gates need \"eval_report\" in evidence_kinds".into(),
                ));
            }
            for role in &t.veto_roles {
                if !t.required_roles.contains(role) {
                    return Err((
                        f("veto_roles"),
                        format!("veto role {role} is not a required role of this tier"),
                    ));
                }
            }
        }
        let mut ids = BTreeSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let f = |field: &str| format!("rules[{i}].{field}");
            if r.id.trim().is_empty() {
                return err(f("id"), "must not be empty");
            }
            if !ids.insert(r.id.as_str()) {
                return Err((f("id"), format!("duplicate rule id {:?}", r.id)));
            }
            if self.tier(&r.tier).is_none() {
                return Err((f("tier"), format!("unknown tier {:?}", r.tier)));
            }
            if r.when.is_empty() {
                return err(f("when"), "a rule needs at least one condition");
            }
            if r.when
                .autonomy_level_at_least
                .is_some_and(|l| l > MAX_AUTONOMY_LEVEL)
            {
                return err(f("when.autonomy_level_at_least"), "must be between 0 and 3");
            }
        }
        if self.grants.recertify_every_days == 0 || self.grants.recertify_every_days > 3660 {
            return err(
                "grants.recertify_every_days".into(),
                "must be between 1 and 3660",
            );
        }
        if self.grants.max_delegation_depth > 8 {
            return err("grants.max_delegation_depth".into(), "must be at most 8");
        }
        let mut drift = BTreeSet::new();
        for (j, g) in self.retrain_drift_gates.iter().enumerate() {
            let field = format!("retrain_drift_gates[{j}]");
            if !is_identifier(&g.metric) || !drift.insert(g.metric.as_str()) {
                return Err((
                    format!("{field}.metric"),
                    format!("must be a unique lowercase identifier, got {:?}", g.metric),
                ));
            }
            g.validate().map_err(|reason| (field.clone(), reason))?;
        }
        if !self.retrain_drift_gates.is_empty()
            && !self.evidence_kinds.contains(crate::eval::EVAL_EVIDENCE)
        {
            return Err((
                "retrain_drift_gates".into(),
                "retrain drift gates need \"eval_report\" in evidence_kinds".into(),
            ));
        }
        for (role, items) in &self.checklists {
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let f = |field: &str| format!("checklists.{role}[{i}].{field}");
                if item.id.trim().is_empty() {
                    return err(f("id"), "must not be empty");
                }
                if !seen.insert(item.id.as_str()) {
                    return Err((f("id"), format!("duplicate checklist item {:?}", item.id)));
                }
                if item.text.trim().is_empty() {
                    return err(f("text"), "must not be empty");
                }
            }
        }
        Ok(())
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The example profile shipped in the repository, the default when `--profile` is not given.
pub const EXAMPLE_PROFILE: &str = include_str!("../../../profiles/example.toml");
