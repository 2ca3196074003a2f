//! Records and seeds shared by the areas. The records come from
//! `countersign_store::testing`; these wrappers add what this suite fixes: times as
//! seconds after `t(0)`, the seeded owner and release.

use chrono::Duration;
use countersign_core::grant::{Constraints, HourWindow};
use countersign_core::Role;
use countersign_ledger::EntryDraft;
use countersign_store::records::*;
use countersign_store::testing::{self, at as t};
use countersign_store::Store;
use serde_json::json;
use std::sync::Arc;

pub(crate) const OWNER: &str = "owner";

pub(crate) const REVIEWER: &str = "reviewer";

pub(crate) fn user(id: &str, email: &str, roles: &[Role], at: i64) -> UserRecord {
    testing::user(id, email, roles, t(at))
}

pub(crate) fn system(id: &str, owner: &str) -> SystemRecord {
    testing::system(id, owner, t(10))
}

pub(crate) fn release(id: &str, system: &str, owner: &str, at: i64) -> ReleaseRecord {
    testing::release(id, system, owner, t(at))
}

/// Revision `number` by the owner; odd revisions carry a full bundle.
pub(crate) fn revision(release: &str, number: u32, artifact: &str, at: i64) -> RevisionRecord {
    let bundle = if number % 2 == 1 {
        testing::full_bundle(artifact)
    } else {
        testing::bundle(artifact)
    };
    testing::revision(release, number, bundle, OWNER, t(at))
}

pub(crate) fn draft(i: u64) -> EntryDraft {
    EntryDraft {
        at: t(i64::try_from(i).unwrap()) + Duration::nanoseconds(789),
        actor: format!("user:u{}", i % 3),
        action: "release.create".into(),
        subject: format!("release:r{i}"),
        payload: json!({"i": i, "title": "ünï ✓", "tags": ["b", "a"], "nested": {"z": 1, "a": null}}),
    }
}

/// Users, a system, release `rel` with revision 1 (artifact `art-1`), committed.
pub(crate) async fn seed(store: &Arc<dyn Store>) {
    let mut tx = store.write().await.unwrap();
    tx.insert_user(&user(OWNER, "owner@example.com", &[Role::Mlops], 1))
        .await
        .unwrap();
    tx.insert_user(&user(
        REVIEWER,
        "rev@example.com",
        &[Role::Security, Role::Privacy],
        2,
    ))
    .await
    .unwrap();
    tx.insert_user(&user("trainer", "trainer@example.com", &[], 3))
        .await
        .unwrap();
    tx.insert_system(&system("sys", OWNER)).await.unwrap();
    tx.insert_release(&release("rel", "sys", OWNER, 20))
        .await
        .unwrap();
    tx.insert_revision(&revision("rel", 1, "art-1", 21))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

pub(crate) fn agent(id: &str, env: &str, key: &str) -> AgentRecord {
    AgentRecord {
        environment: env.into(),
        public_key: key.into(),
        ..testing::agent(id, OWNER, "rel", t(30))
    }
}

/// A grant of read and refund on `orders/*` in `sys`, from 8 to 18 h, up to risk 40.
pub(crate) fn grant(id: &str, agent: &str, at: i64) -> GrantRecord {
    let mut terms = testing::terms("sys", &["read", "refund"], &["orders/*"], t(100_000));
    terms.constraints = Constraints {
        window: Some(HourWindow {
            start_hour: 8,
            end_hour: 18,
        }),
        max_risk_score: Some(40),
    };
    testing::grant(id, agent, terms, t(at))
}

pub(crate) fn key(kid: &str, at: i64) -> CredentialKeyRecord {
    testing::credential_key(kid, t(at))
}

pub(crate) async fn seed_agents(store: &Arc<dyn Store>) {
    seed(store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_agent(&agent("ag1", "production", "key-1"))
        .await
        .unwrap();
    tx.insert_agent(&agent("ag2", "staging", "key-2"))
        .await
        .unwrap();
    tx.insert_grant(&grant("g1", "ag1", 40)).await.unwrap();
    tx.insert_grant(&grant("g2", "ag1", 41)).await.unwrap();
    tx.insert_grant(&grant("g3", "ag2", 42)).await.unwrap();
    tx.insert_credential_key(&key("k1", 45)).await.unwrap();
    tx.commit().await.unwrap();
}
