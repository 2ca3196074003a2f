//! Credential signing keys and issued credentials, revoked by each filter (issue 5).

use crate::assert_conflict;
use crate::fixtures::*;
use countersign_core::{AgentId, GrantId, ReleaseId};
use countersign_store::records::*;
use countersign_store::testing::{self, at as t};
use countersign_store::Store;
use std::sync::Arc;

conformance!(
    credential_keys_round_trip,
    credentials_round_trip_and_revoke_by_each_filter,
);

/// A credential signed with `k1` under `grants`, delegated from `parent` if any.
fn credential(jti: &str, agent: &str, grants: &[&str], parent: Option<&str>) -> CredentialRecord {
    CredentialRecord {
        grant_ids: grants.iter().map(|g| GrantId((*g).into())).collect(),
        parent_jti: parent.map(Into::into),
        depth: u32::from(parent.is_some()),
        ..testing::credential(jti, "k1", agent, OWNER, "rel")
    }
}

async fn credential_keys_round_trip(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_credential_key(&key("k2", 46)).await.unwrap();
    assert_conflict(tx.insert_credential_key(&key("k2", 47)).await, "key id");
    let mut k1 = key("k1", 45);
    k1.retired_at = Some(t(46));
    tx.update_credential_key(&k1).await.unwrap();
    assert_eq!(
        tx.list_credential_keys().await.unwrap(),
        vec![k1, key("k2", 46)]
    );
    tx.commit().await.unwrap();
}

async fn credentials_round_trip_and_revoke_by_each_filter(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_credential(&credential("c1", "ag1", &["g1"], None))
        .await
        .unwrap();
    tx.insert_credential(&credential("c2", "ag1", &["g2"], Some("c1")))
        .await
        .unwrap();
    tx.insert_credential(&credential("c3", "ag2", &["g3"], None))
        .await
        .unwrap();
    tx.insert_credential(&credential("c4", "ag2", &["g3"], None))
        .await
        .unwrap();
    assert_conflict(
        tx.insert_credential(&credential("c1", "ag1", &["g1"], None))
            .await,
        "jti",
    );
    assert_eq!(
        tx.get_credential("c2").await.unwrap().unwrap(),
        credential("c2", "ag1", &["g2"], Some("c1"))
    );
    let how = |by: &str| Revocation {
        at: t(70),
        by: by.into(),
        reason: "test".into(),
    };
    let n = tx
        .revoke_credentials(&RevokeFilter::Jti("c1".into()), &how("u"))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let c1 = tx.get_credential("c1").await.unwrap().unwrap();
    assert_eq!(c1.revoked_at, Some(t(70)));
    assert_eq!(c1.revoked_by.as_deref(), Some("u"));
    // Already revoked credentials are not counted again.
    let n = tx
        .revoke_credentials(&RevokeFilter::Agent(AgentId("ag1".into())), &how("u"))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n = tx
        .revoke_credentials(&RevokeFilter::Grant(GrantId("g3".into())), &how("u"))
        .await
        .unwrap();
    assert_eq!(n, 2);
    let n = tx
        .revoke_credentials(&RevokeFilter::Release(ReleaseId("rel".into())), &how("u"))
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert!(tx.get_credential("zz").await.unwrap().is_none());
    tx.commit().await.unwrap();
    let mut tx = store.write().await.unwrap();
    tx.insert_credential(&credential("c5", "ag2", &["g3"], None))
        .await
        .unwrap();
    let n = tx
        .revoke_credentials(&RevokeFilter::Release(ReleaseId("rel".into())), &how("r"))
        .await
        .unwrap();
    assert_eq!(n, 1);
    tx.commit().await.unwrap();
}
