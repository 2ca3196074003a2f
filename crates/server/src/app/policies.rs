//! The runtime policy set: reloading it from its directory (API or SIGHUP). An
//! invalid set is refused and the running one stays.

use super::deadlines::SYSTEM_ACTOR;
use super::{record, AppError, Ctx};
use crate::runtime::{load_policy_dir, LoadedPolicies};
use crate::AppState;
use countersign_core::Role;
use countersign_ledger::EntryDraft;
use countersign_store::Tx;
use serde_json::json;

/// Loads the set again from the running set's directory; records a change (the same
/// set again changes nothing and records nothing, as on SIGHUP). The caller holds
/// [`crate::runtime::Runtime::reload_guard`] and installs the returned set (`None`:
/// unchanged) after committing.
pub async fn reload(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    running: &LoadedPolicies,
) -> Result<Option<LoadedPolicies>, AppError> {
    ctx.require_any(&[Role::Admin, Role::Security])?;
    let next = load(running, ctx.now)?;
    if next.set.digest() == running.set.digest() {
        return Ok(None);
    }
    record(
        tx,
        ctx,
        "policy.reload",
        next.set.digest().as_str(),
        json!({"previous": running.set.digest(), "digest": next.set.digest(),
               "policies": next.set.policies().iter().map(|p| &p.id).collect::<Vec<_>>()}),
    )
    .await?;
    Ok(Some(next))
}

fn load(
    running: &LoadedPolicies,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<LoadedPolicies, AppError> {
    let Some(dir) = &running.dir else {
        return Err(AppError::conflict(
            "no-policy-directory",
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
            "invalid-policy-set",
            format!("{msg}; the running set stays"),
        )
    })?;
    Ok(LoadedPolicies {
        set,
        dir: Some(dir.clone()),
        loaded_at: now,
    })
}

/// SIGHUP: reloads and records the change as the system; logs a refusal.
pub async fn reload_on_signal(state: &AppState) -> Result<(), AppError> {
    let _reloading = state.runtime.reload_guard().await;
    let running = state.runtime.policies();
    let now = state.clock.now();
    let next = load(&running, now)?;
    if next.set.digest() == running.set.digest() {
        tracing::info!(digest = %next.set.digest(), "policy set unchanged");
        return Ok(());
    }
    let mut tx = state.store.write().await?;
    tx.append(EntryDraft {
        at: now,
        actor: SYSTEM_ACTOR.to_owned(),
        action: "policy.reload".into(),
        subject: next.set.digest().to_string(),
        payload: json!({"previous": running.set.digest(), "digest": next.set.digest(), "trigger": "SIGHUP"}),
    })
    .await?;
    tx.commit().await?;
    tracing::info!(digest = %next.set.digest(), "policy set reloaded");
    state.runtime.set_policies(next);
    Ok(())
}
