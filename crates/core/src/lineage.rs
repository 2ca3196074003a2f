//! Lineage (I6): a model traces to a registered training run that produced exactly
//! its artifact, whose datasets are approved and permitted for the release's declared
//! intended use. A third-party model needs `vendor_assurance` evidence instead.
//!
//! Lineage applies to `model` and `retrain` releases. Which of its gaps a decision
//! owner may accept is decided in [`crate::gap::GapCode::acceptable`]: only a missing
//! vendor assurance is acceptable; every other lineage gap is fixed at its source.

use crate::canonical::Digest;
use crate::gap::{Finding, GapCode};
use crate::ids::UserId;
use crate::release::{Attributes, Bundle, ReleaseKind};
use std::collections::BTreeSet;

/// The evidence kind a third-party model needs instead of a training run.
pub const VENDOR_ASSURANCE: &str = "vendor_assurance";

/// A registered dataset version as lineage sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetFact {
    /// `name@version`.
    pub key: String,
    pub approved: bool,
    pub classification: String,
    pub permitted_uses: BTreeSet<String>,
}

/// A registered training run as lineage sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFact {
    pub id: String,
    pub artifact_digest: Digest,
    /// `name@version` of every dataset the run trained on.
    pub datasets: BTreeSet<String>,
    pub trainer: UserId,
}

/// What lineage needs about one revision.
#[derive(Clone, Debug)]
pub struct LineageInput<'a> {
    pub kind: ReleaseKind,
    pub attributes: &'a Attributes,
    pub bundle: &'a Bundle,
    /// The run the bundle names, when it is registered.
    pub run: Option<&'a RunFact>,
    /// The registered datasets among the run's datasets.
    pub datasets: &'a [DatasetFact],
    pub evidence_kinds: &'a BTreeSet<String>,
}

/// Whether lineage applies to a release kind.
pub fn applies(kind: ReleaseKind) -> bool {
    matches!(kind, ReleaseKind::Model | ReleaseKind::Retrain)
}

/// The dataset key `name@version`.
pub fn dataset_key(name: &str, version: &str) -> String {
    format!("{name}@{version}")
}

/// Lineage findings for one revision, in a stable order.
pub fn check(input: &LineageInput<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    if !applies(input.kind) {
        return out;
    }
    if input.attributes.third_party {
        if !input.evidence_kinds.contains(VENDOR_ASSURANCE) {
            out.push(Finding::new(
                GapCode::LineageVendorAssuranceMissing,
                VENDOR_ASSURANCE,
                "a third-party model needs vendor_assurance evidence instead of a training run",
            ));
        }
        return out;
    }
    let Some(run_id) = input.bundle.training_run_id.as_deref() else {
        out.push(Finding::new(
            GapCode::LineageUnregisteredRun,
            "none",
            "the bundle names no training run",
        ));
        return out;
    };
    let Some(run) = input.run.filter(|r| r.id == run_id) else {
        out.push(Finding::new(
            GapCode::LineageUnregisteredRun,
            run_id,
            format!("training run {run_id:?} is not registered"),
        ));
        return out;
    };
    if run.artifact_digest != input.bundle.artifact_digest {
        out.push(Finding::new(
            GapCode::LineageArtifactMismatch,
            run_id,
            format!(
                "run {run_id} produced {}, not the bundle's artifact {}",
                run.artifact_digest, input.bundle.artifact_digest
            ),
        ));
    }
    if !input.bundle.dataset_versions.is_empty() && input.bundle.dataset_versions != run.datasets {
        out.push(Finding::new(
            GapCode::LineageDatasetMismatch,
            run_id,
            format!(
                "the bundle lists datasets {:?} but run {run_id} trained on {:?}",
                input.bundle.dataset_versions, run.datasets
            ),
        ));
    }
    let intended_use = input
        .attributes
        .intended_use
        .as_deref()
        .filter(|u| !u.trim().is_empty());
    if intended_use.is_none() {
        out.push(Finding::new(
            GapCode::LineageUseUndeclared,
            "intended_use",
            "the release declares no intended_use to check its datasets' permitted uses against",
        ));
    }
    for key in &run.datasets {
        let Some(d) = input.datasets.iter().find(|d| &d.key == key) else {
            out.push(Finding::new(
                GapCode::LineageDatasetUnapproved,
                key.clone(),
                format!("dataset {key} is not registered"),
            ));
            continue;
        };
        if !d.approved {
            out.push(Finding::new(
                GapCode::LineageDatasetUnapproved,
                key.clone(),
                format!("dataset {key} is not approved by data governance"),
            ));
        }
        if let Some(u) = intended_use {
            if !d.permitted_uses.contains(u) {
                out.push(Finding::new(
                    GapCode::LineageDatasetNotPermitted,
                    key.clone(),
                    format!(
                        "dataset {key} ({}) is not permitted for {u:?} (permitted: {:?})",
                        d.classification, d.permitted_uses
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        Bundle {
            artifact_digest: Digest::of(b"model"),
            dataset_versions: ["tickets@3".to_owned()].into(),
            training_run_id: Some("run-1".into()),
            trainer: None,
            code_commit: None,
            parameters: Default::default(),
            prompt_package_digest: None,
            runtime_policy_digest: None,
            tool_permissions: Default::default(),
            secret_scopes: Default::default(),
            supersedes: None,
        }
    }

    fn run() -> RunFact {
        RunFact {
            id: "run-1".into(),
            artifact_digest: Digest::of(b"model"),
            datasets: ["tickets@3".to_owned()].into(),
            trainer: UserId::from("trainer"),
        }
    }

    fn dataset(approved: bool, uses: &[&str]) -> DatasetFact {
        DatasetFact {
            key: "tickets@3".into(),
            approved,
            classification: "internal".into(),
            permitted_uses: uses.iter().map(|u| (*u).to_owned()).collect(),
        }
    }

    fn keys(
        attrs: &Attributes,
        b: &Bundle,
        r: Option<&RunFact>,
        d: &[DatasetFact],
        ev: &[&str],
    ) -> Vec<String> {
        let ev: BTreeSet<String> = ev.iter().map(|e| (*e).to_owned()).collect();
        check(&LineageInput {
            kind: ReleaseKind::Model,
            attributes: attrs,
            bundle: b,
            run: r,
            datasets: d,
            evidence_kinds: &ev,
        })
        .into_iter()
        .map(|f| format!("{}:{}", f.code.as_str(), f.subject))
        .collect()
    }

    fn attrs() -> Attributes {
        Attributes {
            intended_use: Some("support".into()),
            ..Attributes::default()
        }
    }

    #[test]
    fn i6_a_traced_model_has_no_lineage_gaps() {
        assert!(keys(
            &attrs(),
            &bundle(),
            Some(&run()),
            &[dataset(true, &["support"])],
            &[]
        )
        .is_empty());
    }

    #[test]
    fn i6_every_lineage_failure_has_its_code() {
        let d_ok = [dataset(true, &["support"])];
        assert_eq!(
            keys(&attrs(), &bundle(), None, &d_ok, &[]),
            ["lineage_unregistered_run:run-1"]
        );
        let mut b = bundle();
        b.training_run_id = None;
        assert_eq!(
            keys(&attrs(), &b, None, &d_ok, &[]),
            ["lineage_unregistered_run:none"]
        );
        let mut b = bundle();
        b.artifact_digest = Digest::of(b"other");
        assert_eq!(
            keys(&attrs(), &b, Some(&run()), &d_ok, &[]),
            ["lineage_artifact_mismatch:run-1"]
        );
        assert_eq!(
            keys(
                &attrs(),
                &bundle(),
                Some(&run()),
                &[dataset(false, &["support"])],
                &[]
            ),
            ["lineage_dataset_unapproved:tickets@3"]
        );
        assert_eq!(
            keys(
                &attrs(),
                &bundle(),
                Some(&run()),
                &[dataset(true, &["marketing"])],
                &[]
            ),
            ["lineage_dataset_not_permitted:tickets@3"]
        );
        assert_eq!(
            keys(&Attributes::default(), &bundle(), Some(&run()), &d_ok, &[]),
            ["lineage_use_undeclared:intended_use"]
        );
        let third = Attributes {
            third_party: true,
            ..attrs()
        };
        assert_eq!(
            keys(&third, &bundle(), None, &[], &[]),
            ["lineage_vendor_assurance_missing:vendor_assurance"]
        );
        assert!(keys(&third, &bundle(), None, &[], &[VENDOR_ASSURANCE]).is_empty());
    }

    #[test]
    fn lineage_applies_to_models_and_retrains_only() {
        assert!(applies(ReleaseKind::Model) && applies(ReleaseKind::Retrain));
        assert!(
            !applies(ReleaseKind::Prompt)
                && !applies(ReleaseKind::Agent)
                && !applies(ReleaseKind::Config)
        );
    }
}
