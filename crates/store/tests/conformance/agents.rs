//! Agents and their grants (issue 5), and client assertion ids.

use crate::assert_conflict;
use crate::fixtures::*;
use countersign_core::agent::AgentStatus;
use countersign_core::{AgentId, GrantId, ReleaseId, UserId};
use countersign_store::records::*;
use countersign_store::testing::at as t;
use countersign_store::Store;
use std::sync::Arc;

conformance!(
    agents_round_trip_and_keys_are_never_reused,
    grants_round_trip,
    assertion_ids_cannot_be_replayed,
);

async fn agents_round_trip_and_keys_are_never_reused(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    let a = tx.get_agent(&AgentId("ag1".into())).await.unwrap().unwrap();
    assert_eq!(a, agent("ag1", "production", "key-1"));
    assert_eq!(tx.list_agents().await.unwrap().len(), 2);
    let by_release = tx
        .agents_by_release(&ReleaseId("rel".into()))
        .await
        .unwrap();
    assert_eq!(by_release.len(), 2);
    // The same public key for another agent or environment is a conflict.
    assert_conflict(
        tx.insert_agent(&agent("ag3", "staging", "key-1")).await,
        "public key",
    );
    let mut s = a.clone();
    s.status = AgentStatus::Suspended;
    s.updated_at = t(60);
    tx.update_agent(&s).await.unwrap();
    assert_eq!(tx.get_agent(&a.id).await.unwrap().unwrap(), s);
    assert!(tx
        .get_agent(&AgentId("nope".into()))
        .await
        .unwrap()
        .is_none());
    tx.commit().await.unwrap();
}

async fn grants_round_trip(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    let mut g = tx.get_grant(&GrantId("g1".into())).await.unwrap().unwrap();
    assert_eq!(g, grant("g1", "ag1", 40));
    g.system_owner_approved_by = Some(UserId(OWNER.into()));
    g.system_owner_approved_at = Some(t(61));
    g.agent_owner_approved_by = Some(UserId(REVIEWER.into()));
    g.agent_owner_approved_at = Some(t(62));
    g.certified_by = Some(UserId(REVIEWER.into()));
    g.certified_at = Some(t(62));
    g.revoked_by = Some("release:rel".into());
    g.revoked_at = Some(t(63));
    g.revoke_reason = Some("rollback".into());
    tx.update_grant(&g).await.unwrap();
    assert_eq!(tx.get_grant(&g.id).await.unwrap().unwrap(), g);
    let ids = |v: Vec<GrantRecord>| v.into_iter().map(|g| g.id.0).collect::<Vec<_>>();
    assert_eq!(ids(tx.list_grants(None).await.unwrap()), ["g1", "g2", "g3"]);
    assert_eq!(
        ids(tx.list_grants(Some(&AgentId("ag1".into()))).await.unwrap()),
        ["g1", "g2"]
    );
    tx.commit().await.unwrap();
}

async fn assertion_ids_cannot_be_replayed(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let ag = AgentId("ag1".into());
    let mut tx = store.write().await.unwrap();
    tx.use_assertion(&ag, "j1", t(300), t(0)).await.unwrap();
    assert_conflict(tx.use_assertion(&ag, "j1", t(300), t(1)).await, "jti");
    // Another agent may use the same id; the transaction stays usable.
    tx.use_assertion(&AgentId("ag2".into()), "j1", t(300), t(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Once expired, an id is forgotten (the assertion itself is refused by then).
    let mut tx = store.write().await.unwrap();
    tx.use_assertion(&ag, "j1", t(900), t(301)).await.unwrap();
    tx.commit().await.unwrap();
}
