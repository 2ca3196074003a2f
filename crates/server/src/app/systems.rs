//! Systems: production systems or workflows, each with one named human owner (I1).

use super::{new_id, record, users, AppError, Ctx};
use countersign_core::problem::ProblemCode;
use countersign_core::{Role, SystemId, UserId};
use countersign_store::prelude::*;
use countersign_store::records::SystemRecord;
use serde_json::json;

pub struct NewSystem {
    pub name: String,
    pub description: String,
    pub owner: UserId,
}

pub async fn create(tx: &mut dyn Tx, ctx: &Ctx, s: NewSystem) -> Result<SystemRecord, AppError> {
    ctx.require_any(&[Role::Admin])?;
    if s.name.trim().is_empty() || s.name.len() > 200 {
        return Err(AppError::invalid(
            ProblemCode::InvalidName,
            "name must be 1 to 200 characters",
        ));
    }
    // INVARIANT (I1): the owner is one existing human user.
    users::get(tx, &s.owner).await.map_err(|_| {
        AppError::invalid(
            ProblemCode::UnknownOwner,
            format!("owner {:?} is not a user", s.owner.as_str()),
        )
    })?;
    let system = SystemRecord {
        id: SystemId(new_id("sys")),
        name: s.name,
        description: s.description,
        owner: s.owner,
        created_at: ctx.now,
    };
    tx.insert_system(&system)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Duplicate { .. } => AppError::Duplicate {
                what: format!("a system named {:?}", system.name),
            },
            other => other,
        })?;
    record(
        tx,
        ctx,
        "system.create",
        system.id.as_str(),
        json!({"name": system.name, "owner": system.owner}),
    )
    .await?;
    Ok(system)
}

/// Every system. Any role.
pub async fn list(tx: &mut dyn Tx) -> Result<Vec<SystemRecord>, AppError> {
    Ok(tx.list_systems().await?)
}

pub async fn get(tx: &mut dyn Tx, id: &SystemId) -> Result<SystemRecord, AppError> {
    tx.get_system(id).await?.ok_or_else(|| AppError::NotFound {
        what: "system",
        id: id.to_string(),
    })
}
