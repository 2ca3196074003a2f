//! The runtime policy set: the example set built into the binary, reading and
//! validating a policy directory, and loading the next set for a reload. Installing a
//! set is [`super::runtime::Runtime::set_policies`]; the reload commands, which record
//! the change, are in [`reload`].

pub mod reload;

use super::AppError;
use chrono::{DateTime, Utc};
use countersign_core::problem::ProblemCode;
use countersign_policy::{PolicySet, PolicySource};
use std::path::{Path, PathBuf};

/// A loaded, validated policy set and where it came from.
pub struct LoadedPolicies {
    pub set: PolicySet,
    /// The directory it was read from; `None` for the built-in example set.
    pub dir: Option<PathBuf>,
    pub loaded_at: DateTime<Utc>,
}

/// Why a policy directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyDirError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir}: expected exactly one *.cedarschema file, found {found}")]
    Schema { dir: String, found: usize },
    #[error("{dir}: no *.cedar policy files")]
    NoPolicies { dir: String },
    #[error("invalid policy set")]
    Invalid(#[source] countersign_policy::LoadError),
}

/// The example policy set shipped in `policies/`, built into the binary.
pub fn example_policies() -> Result<PolicySet, countersign_policy::LoadError> {
    PolicySet::load(
        &PolicySource {
            name: "runtime.cedarschema".into(),
            text: include_str!("../../../../../policies/runtime.cedarschema").into(),
        },
        &[PolicySource {
            name: "runtime.cedar".into(),
            text: include_str!("../../../../../policies/runtime.cedar").into(),
        }],
    )
}

/// Reads and validates every `*.cedar` file and the one `*.cedarschema` in `dir`.
pub fn load_policy_dir(dir: &Path) -> Result<PolicySet, PolicyDirError> {
    let read_err = |p: &Path, source| PolicyDirError::Read {
        path: p.display().to_string(),
        source,
    };
    let mut schemas = Vec::new();
    let mut policies = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| read_err(dir, e))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        paths.push(entry.map_err(|e| read_err(dir, e))?.path());
    }
    paths.sort();
    for path in paths {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "cedar" && ext != "cedarschema" {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let src = PolicySource { name, text };
        if ext == "cedar" {
            policies.push(src);
        } else {
            schemas.push(src);
        }
    }
    let dir_s = dir.display().to_string();
    if schemas.len() != 1 {
        return Err(PolicyDirError::Schema {
            dir: dir_s,
            found: schemas.len(),
        });
    }
    if policies.is_empty() {
        return Err(PolicyDirError::NoPolicies { dir: dir_s });
    }
    PolicySet::load(&schemas[0], &policies).map_err(PolicyDirError::Invalid)
}

/// Loads the next set from the running set's directory; an invalid set is refused.
pub fn load_next(running: &LoadedPolicies, now: DateTime<Utc>) -> Result<LoadedPolicies, AppError> {
    let Some(dir) = &running.dir else {
        return Err(AppError::conflict(
            ProblemCode::NoPolicyDirectory,
            "the server runs the built-in example policy set; start it with --policies DIR to reload from files",
        ));
    };
    let set = load_policy_dir(dir).map_err(|e| {
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        let msg = msg.trim_end_matches([';', ' ', '.']);
        AppError::invalid(
            ProblemCode::InvalidPolicySet,
            format!("{msg}; the running set stays"),
        )
    })?;
    Ok(LoadedPolicies {
        set,
        dir: Some(dir.clone()),
        loaded_at: now,
    })
}
