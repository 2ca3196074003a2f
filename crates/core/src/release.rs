//! Releases, their declared attributes, bundles, the release state machine, and the
//! decisions and deployment actions that move a release.

use crate::canonical::Digest;
use crate::codes::stable_strings;
use crate::ids::UserId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What a release changes in production.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseKind {
    Model,
    Agent,
    Prompt,
    Config,
    Retrain,
}

impl ReleaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseKind::Model => "model",
            ReleaseKind::Agent => "agent",
            ReleaseKind::Prompt => "prompt",
            ReleaseKind::Config => "config",
            ReleaseKind::Retrain => "retrain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Model,
            Self::Agent,
            Self::Prompt,
            Self::Config,
            Self::Retrain,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Declared risk attributes. The governance profile maps them to a tier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attributes {
    #[serde(default)]
    pub customer_facing: bool,
    #[serde(default)]
    pub agentic: bool,
    #[serde(default)]
    pub data_connected: bool,
    /// Classes of data the release touches, e.g. `pii`, `phi`, `pci`.
    #[serde(default)]
    pub data_classes: BTreeSet<String>,
    #[serde(default)]
    pub regulated: bool,
    #[serde(default)]
    pub third_party: bool,
    /// 0 suggests only, 1 acts with a human in the loop, 2 acts with a human on the
    /// loop, 3 acts autonomously.
    #[serde(default)]
    pub autonomy_level: u8,
    /// The declared intended use (e.g. `customer-support`). Lineage (I6) checks every
    /// dataset of the training run is permitted for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_use: Option<String>,
}

/// The highest autonomy level.
pub const MAX_AUTONOMY_LEVEL: u8 = 3;

/// The exact things a release approves. Its canonical digest is the bundle digest
/// (see [`Bundle::digest`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub artifact_digest: Digest,
    #[serde(default)]
    pub dataset_versions: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_run_id: Option<String>,
    /// The person who trained the artifact; segregation of duties keeps them off the
    /// review and the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_commit: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_package_digest: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_policy_digest: Option<Digest>,
    #[serde(default)]
    pub tool_permissions: BTreeSet<String>,
    #[serde(default)]
    pub secret_scopes: BTreeSet<String>,
    /// For a `retrain`: the id of the promoted release it retrains and supersedes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
}

impl Bundle {
    /// A bundle naming only its artifact; every other field empty.
    pub fn of_artifact(artifact_digest: Digest) -> Self {
        Bundle {
            artifact_digest,
            dataset_versions: BTreeSet::new(),
            training_run_id: None,
            trainer: None,
            code_commit: None,
            parameters: BTreeMap::new(),
            prompt_package_digest: None,
            runtime_policy_digest: None,
            tool_permissions: BTreeSet::new(),
            secret_scopes: BTreeSet::new(),
            supersedes: None,
        }
    }
}

impl Bundle {
    /// The bundle digest: sha256 over the canonical JSON (see [`crate::canonical`]) of
    /// the bundle. Set-valued fields are sets (sorted, deduplicated); absent optional
    /// fields are omitted; empty sets and maps are encoded as `[]` and `{}`.
    pub fn digest(&self) -> Digest {
        // INVARIANT: a Bundle holds only strings, sets, maps and JSON values, all of
        // which serialize; the fallback can never be reached.
        Digest::of_canonical(self).unwrap_or_else(|_| Digest::zero())
    }
}

/// Where a release stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    Draft,
    InReview,
    Approved,
    Rejected,
    Promoted,
    RolledBack,
    Retired,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Draft => "draft",
            ReleaseStatus::InReview => "in_review",
            ReleaseStatus::Approved => "approved",
            ReleaseStatus::Rejected => "rejected",
            ReleaseStatus::Promoted => "promoted",
            ReleaseStatus::RolledBack => "rolled_back",
            ReleaseStatus::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::InReview,
            Self::Approved,
            Self::Rejected,
            Self::Promoted,
            Self::RolledBack,
            Self::Retired,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

stable_strings! {
    /// The decision owner's answer on a revision.
    pub enum Decision: "decision" {
        /// Approved for the decision's environment; refused while a gap is unaccepted.
        Go = "go",
        NoGo = "no_go",
        /// The owner withdrew the go before promotion; the revision is in review
        /// again and the next decision replaces this one (the ledger keeps both).
        Withdrawn = "withdrawn",
    }
}

stable_strings! {
    /// What a deployment does with a release.
    pub enum DeploymentAction: "deployment action" {
        /// An approved revision goes into production (the gate is checked again).
        Promote = "promote",
        /// A promoted release is rolled back, with a reason.
        Rollback = "rollback",
        /// A promoted release is retired, with a reason.
        Retire = "retire",
    }
}

/// Something that moves a release between states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// A new bundle: a new revision, back to draft.
    Revise,
    Submit,
    DecideGo,
    DecideNoGo,
    /// The owner takes back a go before promotion.
    Withdraw,
    Promote,
    Rollback,
    Retire,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Revise => "revise",
            Transition::Submit => "submit",
            Transition::DecideGo => "decide go",
            Transition::DecideNoGo => "decide no-go",
            Transition::Withdraw => "withdraw the go of",
            Transition::Promote => "promote",
            Transition::Rollback => "roll back",
            Transition::Retire => "retire",
        }
    }
}

/// One field that differs between two bundles: its value in each (none when unset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The fields that differ from bundle `a` to bundle `b`, by field name. A value is
/// its string, or its compact JSON; an unset, empty list or empty map is none.
pub fn bundle_changes(a: &Bundle, b: &Bundle) -> Vec<FieldChange> {
    fn fields(b: &Bundle) -> BTreeMap<String, serde_json::Value> {
        match serde_json::to_value(b) {
            Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
            _ => BTreeMap::new(),
        }
    }
    fn shown(v: Option<&serde_json::Value>) -> Option<String> {
        use serde_json::Value as V;
        match v? {
            V::Null => None,
            V::Array(a) if a.is_empty() => None,
            V::Object(o) if o.is_empty() => None,
            V::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
    let (before, after) = (fields(a), fields(b));
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (x, y) = (shown(before.get(name)), shown(after.get(name)));
            (x != y).then(|| FieldChange {
                field: name.clone(),
                before: x,
                after: y,
            })
        })
        .collect()
}

/// A transition the state machine does not allow from the current state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a release that is {from}", transition.as_str())]
pub struct IllegalTransition {
    pub from: ReleaseStatus,
    pub transition: Transition,
}

/// The release state machine:
/// `draft -> in_review -> approved | rejected`, `approved -> promoted -> rolled_back | retired`,
/// and a new bundle (revise) from draft, in_review, approved or rejected back to draft.
pub fn next_status(
    from: ReleaseStatus,
    transition: Transition,
) -> Result<ReleaseStatus, IllegalTransition> {
    use ReleaseStatus as S;
    use Transition as T;
    let to = match (from, transition) {
        (S::Draft | S::InReview | S::Approved | S::Rejected, T::Revise) => S::Draft,
        (S::Draft, T::Submit) => S::InReview,
        (S::InReview, T::DecideGo) => S::Approved,
        (S::InReview, T::DecideNoGo) => S::Rejected,
        (S::Approved, T::Withdraw) => S::InReview,
        (S::Approved, T::Promote) => S::Promoted,
        (S::Promoted, T::Rollback) => S::RolledBack,
        (S::Promoted, T::Retire) => S::Retired,
        _ => return Err(IllegalTransition { from, transition }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        Bundle {
            artifact_digest: Digest::of(b"model"),
            dataset_versions: ["b@2".to_owned(), "a@1".to_owned()].into(),
            training_run_id: Some("run-1".into()),
            trainer: None,
            code_commit: Some("abc123".into()),
            parameters: [("lr".to_owned(), serde_json::json!(0.01))].into(),
            prompt_package_digest: None,
            runtime_policy_digest: None,
            tool_permissions: BTreeSet::new(),
            secret_scopes: BTreeSet::new(),
            supersedes: None,
        }
    }

    #[test]
    fn bundle_changes_name_each_changed_field_only() {
        let a = bundle();
        assert!(bundle_changes(&a, &a).is_empty());
        let mut b = bundle();
        b.artifact_digest = Digest::of(b"model v2");
        b.code_commit = None;
        b.tool_permissions = ["refunds.write".to_owned()].into();
        let changes = bundle_changes(&a, &b);
        let names: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            names,
            ["artifact_digest", "code_commit", "tool_permissions"]
        );
        assert_eq!(changes[1].before.as_deref(), Some("abc123"));
        assert_eq!(changes[1].after, None);
        assert_eq!(changes[2].before, None);
        assert_eq!(changes[2].after.as_deref(), Some(r#"["refunds.write"]"#));
    }

    #[test]
    fn bundle_digest_is_stable_across_runs() {
        // Fixed here so that a change of encoding is a visible, deliberate change.
        assert_eq!(
            bundle().digest().as_str(),
            "sha256:985f2f10918fe89f6866662afb6df70beb8cb53c01a4819001fa69d477567def"
        );
    }

    #[test]
    fn i3_any_bundle_field_change_changes_the_digest() {
        let base = bundle().digest();
        let mut b = bundle();
        b.code_commit = Some("abc124".into());
        assert_ne!(b.digest(), base);
        let mut b = bundle();
        b.parameters.insert("lr".into(), serde_json::json!(0.02));
        assert_ne!(b.digest(), base);
        let mut b = bundle();
        b.secret_scopes.insert("kv/payments".into());
        assert_ne!(b.digest(), base);
    }

    #[test]
    fn decisions_and_deployment_actions_keep_their_strings() {
        crate::codes::assert_stable(Decision::ALL, &["go", "no_go", "withdrawn"]);
        crate::codes::assert_stable(DeploymentAction::ALL, &["promote", "rollback", "retire"]);
    }

    #[test]
    fn state_machine_allows_only_the_documented_paths() {
        use ReleaseStatus as S;
        use Transition as T;
        assert_eq!(next_status(S::Draft, T::Submit), Ok(S::InReview));
        assert_eq!(next_status(S::InReview, T::DecideGo), Ok(S::Approved));
        assert_eq!(next_status(S::Approved, T::Promote), Ok(S::Promoted));
        assert_eq!(next_status(S::Promoted, T::Rollback), Ok(S::RolledBack));
        assert!(next_status(S::Draft, T::Promote).is_err());
        assert!(next_status(S::Rejected, T::Promote).is_err());
        assert!(next_status(S::Promoted, T::Revise).is_err());
        assert!(next_status(S::RolledBack, T::Promote).is_err());
        assert!(next_status(S::Retired, T::Submit).is_err());
        // A go is withdrawn only before promotion.
        assert_eq!(next_status(S::Approved, T::Withdraw), Ok(S::InReview));
        assert!(next_status(S::Promoted, T::Withdraw).is_err());
        assert!(next_status(S::InReview, T::Withdraw).is_err());
    }
}
