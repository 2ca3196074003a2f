//! Users, their API tokens and console sessions, and systems.

use crate::fixtures::*;
use countersign_core::{Role, SystemId, UserId};
use countersign_store::testing::{self, at as t};
use countersign_store::Store;
use std::sync::Arc;

conformance!(
    users_and_tokens_round_trip,
    sessions_round_trip,
    identities_link_users_and_roles_change,
    systems_round_trip,
);

async fn identities_link_users_and_roles_change(store: Arc<dyn Store>) {
    let sam = user("u-s", "sam@example.com", &[Role::Security], 5);
    let maya = user("u-m", "maya@example.com", &[Role::Mlops], 5);
    let link = |issuer: &str, subject: &str, u: &countersign_store::records::UserRecord| {
        countersign_store::records::IdentityRecord {
            issuer: issuer.into(),
            subject: subject.into(),
            user_id: u.id.clone(),
            email: u.email.clone(),
            created_at: t(6),
        }
    };
    let mut tx = store.write().await.unwrap();
    tx.insert_user(&sam).await.unwrap();
    tx.insert_user(&maya).await.unwrap();
    tx.insert_identity(&link("https://idp.a", "s-1", &sam))
        .await
        .unwrap();
    // One person per subject at an issuer; the same subject elsewhere is someone else.
    assert!(matches!(
        tx.insert_identity(&link("https://idp.a", "s-1", &maya))
            .await,
        Err(countersign_store::StoreError::Conflict { .. })
    ));
    tx.insert_identity(&link("https://idp.b", "s-1", &maya))
        .await
        .unwrap();
    let mut changed = sam.clone();
    changed.roles = [Role::Security, Role::Risk].into();
    tx.update_user_roles(&changed).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.user_by_identity("https://idp.a", "s-1").await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        tx.user_by_identity("https://idp.b", "s-1").await.unwrap(),
        Some(maya.clone())
    );
    assert_eq!(
        tx.user_by_identity("https://idp.a", "s-2").await.unwrap(),
        None
    );
    assert_eq!(
        tx.user_by_email("sam@example.com").await.unwrap(),
        Some(changed)
    );
    assert_eq!(tx.user_by_email("SAM@example.com").await.unwrap(), None);
}

async fn users_and_tokens_round_trip(store: Arc<dyn Store>) {
    let admin = user("u-b", "b@example.com", &Role::ALL, 5);
    let nobody = user("u-a", "a@example.com", &[], 5);
    let later = user("u-0", "z@example.com", &[Role::Legal], 6);
    let token = testing::token("tok-1", "u-b", &"ab".repeat(32));
    let mut tx = store.write().await.unwrap();
    assert_eq!(tx.count_users().await.unwrap(), 0);
    for u in [&later, &admin, &nobody] {
        tx.insert_user(u).await.unwrap();
    }
    tx.insert_token(&token).await.unwrap();
    // A transaction sees its own writes.
    assert_eq!(tx.count_users().await.unwrap(), 3);
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.get_user(&admin.id).await.unwrap(), Some(admin.clone()));
    assert_eq!(tx.get_user(&nobody.id).await.unwrap(), Some(nobody.clone()));
    assert_eq!(tx.get_user(&UserId("missing".into())).await.unwrap(), None);
    // Ordered by created_at, then insertion order (admin went in before nobody).
    assert_eq!(
        tx.list_users().await.unwrap(),
        vec![admin.clone(), nobody.clone(), later.clone()]
    );
    assert_eq!(tx.count_users().await.unwrap(), 3);
    assert_eq!(
        tx.user_by_token_hash(&token.token_hash).await.unwrap(),
        Some(admin)
    );
    assert_eq!(tx.user_by_token_hash(&"cd".repeat(32)).await.unwrap(), None);
}

async fn sessions_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let mut a = testing::session("ses-1", REVIEWER, &"ab".repeat(32), 5);
    let b = testing::session("ses-2", REVIEWER, &"cd".repeat(32), 6);
    let mut tx = store.write().await.unwrap();
    tx.insert_session(&a).await.unwrap();
    tx.insert_session(&b).await.unwrap();
    // A second session with the same secret is a conflict, not a silent overwrite.
    let same_secret = testing::session("ses-3", REVIEWER, &"ab".repeat(32), 7);
    assert!(matches!(
        tx.insert_session(&same_secret).await,
        Err(countersign_store::StoreError::Conflict { .. })
    ));
    tx.commit().await.unwrap();

    let mut tx = store.write().await.unwrap();
    assert_eq!(
        tx.session_by_secret_hash(&a.secret_hash).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        tx.session_by_secret_hash(&"ef".repeat(32)).await.unwrap(),
        None
    );
    a.authenticated_at = t(8);
    a.ended_at = Some(t(9));
    tx.update_session(&a).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.session_by_secret_hash(&a.secret_hash).await.unwrap(),
        Some(a)
    );
    assert_eq!(
        tx.session_by_secret_hash(&b.secret_hash).await.unwrap(),
        Some(b)
    );
}

async fn systems_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let other = testing::system("sys-2", REVIEWER, t(9));
    let mut tx = store.write().await.unwrap();
    tx.insert_system(&other).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.get_system(&SystemId("sys".into())).await.unwrap(),
        Some(system("sys", OWNER))
    );
    assert_eq!(tx.get_system(&SystemId("nope".into())).await.unwrap(), None);
    assert_eq!(
        tx.list_systems().await.unwrap(),
        vec![other, system("sys", OWNER)]
    );
}
