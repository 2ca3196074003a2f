//! The runtime policy set: reloading it from its directory (API or SIGHUP). An
//! invalid set is refused and the running one stays.

use super::super::deadlines::SYSTEM_ACTOR;
use super::super::idempotency::Idempotency;
use super::super::unit::{Answered, App};
use super::super::{record, AppError, Ctx};
use super::{load_next, LoadedPolicies};
use countersign_core::Role;
use countersign_ledger::EntryDraft;
use countersign_store::prelude::*;
use serde_json::json;

/// Loads the set again from the running set's directory; records a change (the same
/// set again changes nothing and records nothing, as on SIGHUP). The caller holds
/// the runtime's reload guard and installs the returned set (`None`: unchanged)
/// after committing, as [`reload_command`] does.
pub async fn reload(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    running: &LoadedPolicies,
) -> Result<Option<LoadedPolicies>, AppError> {
    ctx.require_any(&[Role::Admin, Role::Security])?;
    let next = load_next(running, ctx.now)?;
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

/// The reload command (API, console): holds the reload guard from reading the running
/// set to installing the next, so two reloads cannot interleave and record the wrong
/// previous set. `view` renders the set in force afterwards.
pub async fn reload_command<V, F>(
    app: &App,
    ctx: Ctx,
    idem: Option<Idempotency>,
    view: F,
) -> Result<Answered, AppError>
where
    V: serde::Serialize + Send + 'static,
    F: Fn(&LoadedPolicies) -> V + Send + Sync + 'static,
{
    let _reloading = app.runtime.reload_guard().await;
    let running = app.runtime.policies();
    let done = app
        .command_then(ctx, idem, 200, |tx, ctx| {
            Box::pin(async move {
                let next = reload(tx, ctx, &running).await?;
                let shown = view(next.as_ref().unwrap_or(&running));
                Ok((shown, next))
            })
        })
        .await?;
    if let Some(Some(next)) = done.value {
        app.runtime.set_policies(next);
    }
    Ok(done.answered)
}

/// SIGHUP: reloads and records the change as the system; logs a refusal.
pub async fn reload_on_signal(app: &App) -> Result<(), AppError> {
    let _reloading = app.runtime.reload_guard().await;
    let running = app.runtime.policies();
    let now = app.now();
    let next = load_next(&running, now)?;
    if next.set.digest() == running.set.digest() {
        tracing::info!(digest = %next.set.digest(), "policy set unchanged");
        return Ok(());
    }
    let entry = EntryDraft {
        at: now,
        actor: SYSTEM_ACTOR.to_owned(),
        action: "policy.reload".into(),
        subject: next.set.digest().to_string(),
        payload: json!({"previous": running.set.digest(), "digest": next.set.digest(), "trigger": "SIGHUP"}),
    };
    app.job(move |tx, _| Box::pin(async move { Ok(tx.append(entry).await?) }))
        .await?;
    tracing::info!(digest = %next.set.digest(), "policy set reloaded");
    app.runtime.set_policies(next);
    Ok(())
}
