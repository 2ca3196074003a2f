//! `serve --demo`: example users (one per role and a decision owner), a system, and
//! one release waiting for review, so a new user can walk the gate in minutes.
//! Every step is an ordinary command with its ledger entry, all in one transaction.

use crate::app::unit::App;
use crate::app::{self, AppError, Ctx};
use chrono::{DateTime, Utc};
use countersign_core::problem::ProblemCode;
use countersign_core::profile::Profile;
use countersign_core::release::{Attributes, Bundle, ReleaseKind};
use countersign_core::{Digest, Role, UserId};
use countersign_store::prelude::*;
use countersign_store::records::UserRecord;
use std::sync::Arc;

/// A seeded user and the token printed for it.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub name: String,
    pub email: String,
    pub roles: Vec<Role>,
    pub id: String,
    pub token: String,
}

/// What `seed` created.
#[derive(Debug, Clone)]
pub struct DemoSeed {
    pub users: Vec<DemoUser>,
    pub system_id: String,
    pub release_id: String,
    /// The artifact digest of the demo release.
    pub artifact_digest: String,
}

const PEOPLE: &[(&str, &str, Role)] = &[
    ("Maya Chen", "maya@demo.countersign", Role::Mlops),
    ("Noah Berg", "noah@demo.countersign", Role::Mlops),
    ("Sam Okafor", "sam@demo.countersign", Role::Security),
    ("Priya Raman", "priya@demo.countersign", Role::Privacy),
    ("Leo Martins", "leo@demo.countersign", Role::Legal),
    ("Carmen Diaz", "carmen@demo.countersign", Role::Compliance),
    ("Dev Patel", "dev@demo.countersign", Role::DataGovernance),
    ("Olu Adeyemi", "olu@demo.countersign", Role::Operations),
    ("Rita Novak", "rita@demo.countersign", Role::Risk),
    ("Dana Whitfield", "dana@demo.countersign", Role::Risk),
];

/// The bytes whose sha256 is the demo release's artifact digest.
const DEMO_ARTIFACT_BYTES: &[u8] = b"support-assistant-v2.safetensors";

/// The demo release's intended use, permitted by its dataset.
const DEMO_USE: &str = "customer-support";
/// The training run that produced the demo artifact.
const DEMO_RUN: &str = "run-2026-11-20-001";

/// The email of the demo decision owner.
pub const OWNER_EMAIL: &str = "dana@demo.countersign";

/// Seeds the demo, or returns `None` when it is already there.
pub async fn seed(app: &App) -> Result<Option<DemoSeed>, AppError> {
    let existing = app
        .query(|tx| Box::pin(async move { Ok(tx.list_users().await?) }))
        .await?;
    if existing.iter().any(|u| u.email == OWNER_EMAIL) {
        return Ok(None);
    }
    let admin = existing
        .into_iter()
        .find(|u| u.has_role(Role::Admin))
        .ok_or_else(|| {
            AppError::invalid(
                ProblemCode::NoAdmin,
                "the database has no admin to seed the demo with",
            )
        })?;
    let (profile, now) = (app.profile.clone(), app.now());
    // One transaction: the demo is seeded whole or not at all.
    app.job(move |tx, _| Box::pin(async move { seed_in(tx, admin, profile, now).await }))
        .await
}

async fn seed_in(
    tx: &mut dyn Tx,
    admin: UserRecord,
    profile: Arc<Profile>,
    now: DateTime<Utc>,
) -> Result<Option<DemoSeed>, AppError> {
    let ctx_of = |actor: UserRecord| Ctx {
        actor,
        now,
        profile: profile.clone(),
    };
    let admin_ctx = ctx_of(admin);
    let mut users = Vec::new();
    let mut records = Vec::new();
    for (name, email, role) in PEOPLE {
        let new = app::users::NewUser {
            name: (*name).into(),
            email: (*email).into(),
            roles: [*role].into(),
        };
        let u = app::users::create(&mut *tx, &admin_ctx, new).await?;
        let id = u.id.clone();
        let (_, token) = app::users::create_token(&mut *tx, &admin_ctx, &id, "demo".into()).await?;
        users.push(DemoUser {
            name: u.name.clone(),
            email: u.email.clone(),
            roles: vec![*role],
            id: u.id.to_string(),
            token,
        });
        records.push(u);
    }
    let by_email = |e: &str| records.iter().find(|u| u.email == e).cloned();
    let (Some(owner), Some(maya), Some(olu), Some(dev)) = (
        by_email(OWNER_EMAIL),
        by_email("maya@demo.countersign"),
        by_email("olu@demo.countersign"),
        by_email("dev@demo.countersign"),
    ) else {
        return Err(AppError::invalid(ProblemCode::Demo, "demo users missing"));
    };
    let sys = app::systems::NewSystem {
        name: "customer-support".into(),
        description: "Customer support chat and ticket triage".into(),
        owner: olu.id.clone(),
    };
    let system = app::systems::create(&mut *tx, &admin_ctx, sys).await?;
    let maya_ctx = ctx_of(maya.clone());
    // Lineage (I6): Maya registers the dataset and the run that produced the artifact;
    // Dev (data governance) approves the dataset for customer support.
    let ds = app::lineage::NewDataset {
        name: "support-tickets".into(),
        version: "2026-10".into(),
        digest: Digest::of(b"support-tickets-2026-10.parquet"),
        source: "s3://support-data/tickets/2026-10".into(),
        classification: "internal".into(),
        permitted_uses: [DEMO_USE.to_owned(), "analytics".to_owned()].into(),
    };
    let ds = app::lineage::register_dataset(&mut *tx, &maya_ctx, ds).await?;
    app::lineage::approve_dataset(
        &mut *tx,
        &ctx_of(dev),
        &ds.key(),
        "reviewed source and retention".into(),
    )
    .await?;
    let run = app::lineage::NewRun {
        id: DEMO_RUN.into(),
        code_commit: "4f1c2e9".into(),
        datasets: [ds.key()].into(),
        parameters: [("temperature".to_owned(), serde_json::json!(0.2))].into(),
        trainer: maya.id.clone(),
        artifact_digest: Digest::of(DEMO_ARTIFACT_BYTES),
    };
    app::lineage::register_run(&mut *tx, &maya_ctx, run).await?;
    let new = app::releases::NewRelease {
        title: "Support assistant v2".into(),
        kind: ReleaseKind::Model,
        system: system.id.clone(),
        decision_owner: owner.id.clone(),
        attributes: Attributes {
            customer_facing: true,
            intended_use: Some(DEMO_USE.into()),
            ..Attributes::default()
        },
        bundle: Bundle {
            artifact_digest: Digest::of(DEMO_ARTIFACT_BYTES),
            dataset_versions: ["support-tickets@2026-10".to_owned()].into(),
            training_run_id: Some(DEMO_RUN.into()),
            trainer: None::<UserId>,
            code_commit: Some("4f1c2e9".into()),
            parameters: [("temperature".to_owned(), serde_json::json!(0.2))].into(),
            prompt_package_digest: Some(Digest::of(b"support-prompts-v7")),
            runtime_policy_digest: None,
            tool_permissions: ["tickets:read".to_owned(), "tickets:comment".to_owned()].into(),
            secret_scopes: Default::default(),
            supersedes: None,
        },
    };
    let (release, _) = app::releases::create(&mut *tx, &maya_ctx, new).await?;
    for (kind, name, text) in [
        ("test_results", "tests.txt", "412 passed, 0 failed\n"),
        (
            "rollback_plan",
            "rollback.md",
            "# Rollback\nRe-point the alias to v1; on-call: operations.\n",
        ),
    ] {
        let ev = app::releases::NewEvidence {
            revision: 1,
            kind: kind.into(),
            name: name.into(),
            media_type: "text/plain".into(),
            content: text.as_bytes().to_vec(),
        };
        let id = release.id.clone();
        app::releases::attach_evidence(&mut *tx, &maya_ctx, &id, ev).await?;
    }
    let id = release.id.clone();
    app::releases::submit(&mut *tx, &maya_ctx, &id, 1).await?;
    Ok(Some(DemoSeed {
        users,
        system_id: system.id.to_string(),
        release_id: release.id.to_string(),
        artifact_digest: Digest::of(DEMO_ARTIFACT_BYTES).to_string(),
    }))
}
