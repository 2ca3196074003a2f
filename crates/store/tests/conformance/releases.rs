//! Releases, revisions and what is recorded per revision (reviews, evidence and its
//! blobs, acceptances, decisions, deployments), and deadline escalations.

use crate::fixtures::*;
use countersign_core::release::{DeploymentAction, ReleaseStatus};
use countersign_core::review::Verdict;
use countersign_core::{Digest, ReleaseId, Role, UserId};
use countersign_store::records::*;
use countersign_store::testing::{self, at as t, digest};
use countersign_store::{Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;

conformance!(
    releases_and_revisions_round_trip,
    per_revision_records_round_trip,
    revisions_by_artifact,
    blobs_round_trip_byte_for_byte,
    escalations_round_trip_once_per_role,
    releases_in_review_come_with_their_current_revision,
);

async fn releases_and_revisions_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let rel_id = ReleaseId("rel".into());
    let mut rel = release("rel", "sys", OWNER, 20);
    let rev1 = revision("rel", 1, "art-1", 21);
    let mut rev2 = revision("rel", 2, "art-2", 22);
    let newer = release("rel-newer", "sys", OWNER, 50);

    let mut tx = store.write().await.unwrap();
    tx.insert_revision(&rev2).await.unwrap();
    tx.insert_release(&newer).await.unwrap();
    rel.status = ReleaseStatus::Approved;
    rel.current_revision = 2;
    rel.environment = Some("production".into());
    rel.updated_at = t(60);
    // A revision may change the decision owner and the attributes; both are kept.
    rel.decision_owner = UserId(REVIEWER.into());
    rel.attributes.regulated = !rel.attributes.regulated;
    tx.update_release(&rel).await.unwrap();
    rev2.submitted_by = Some(UserId(OWNER.into()));
    rev2.submitted_at = Some(t(61));
    tx.update_revision(&rev2).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.get_release(&rel_id).await.unwrap(), Some(rel.clone()));
    assert_eq!(
        tx.get_release(&ReleaseId("missing".into())).await.unwrap(),
        None
    );
    // Newest first.
    assert_eq!(tx.list_releases().await.unwrap(), vec![newer, rel]);
    assert_eq!(
        tx.get_revision(&rel_id, 1).await.unwrap(),
        Some(rev1.clone())
    );
    assert_eq!(
        tx.get_revision(&rel_id, 2).await.unwrap(),
        Some(rev2.clone())
    );
    assert_eq!(tx.get_revision(&rel_id, 3).await.unwrap(), None);
    assert_eq!(tx.list_revisions(&rel_id).await.unwrap(), vec![rev1, rev2]);
    assert_eq!(
        tx.list_revisions(&ReleaseId("missing".into()))
            .await
            .unwrap(),
        vec![]
    );
}

async fn per_revision_records_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let rel_id = ReleaseId("rel".into());
    let content = b"threat model\x00\xff".to_vec();
    let blob = Digest::of(&content);
    let security = testing::review("rv-2", "rel", 1, Role::Security, REVIEWER);
    let privacy = ReviewRecord {
        verdict: Verdict::Reject,
        answers: BTreeMap::new(),
        conditions: None,
        comment: Some("no DPIA".into()),
        ..testing::review("rv-1", "rel", 1, Role::Privacy, REVIEWER)
    };
    let evidence = testing::evidence("ev-1", "rel", 1, &content, OWNER);
    let acceptance = testing::acceptance("acc-1", "rel", 1, OWNER);
    let go = testing::decision("dec-1", "rel", 1, OWNER);
    let deployments = [
        testing::deployment("dep-1", "rel", 1, DeploymentAction::Promote, OWNER, t(250)),
        DeploymentRecord {
            reason: "alert fired".into(),
            ..testing::deployment("dep-2", "rel", 1, DeploymentAction::Rollback, OWNER, t(260))
        },
    ];

    let mut tx = store.write().await.unwrap();
    tx.insert_review(&security).await.unwrap();
    tx.insert_review(&privacy).await.unwrap();
    tx.put_blob(&blob, &content).await.unwrap();
    tx.insert_evidence(&evidence).await.unwrap();
    tx.insert_acceptance(&acceptance).await.unwrap();
    tx.insert_decision(&go).await.unwrap();
    for d in deployments.iter().rev() {
        tx.insert_deployment(d).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    // Same revision and time: insertion order.
    assert_eq!(
        tx.list_reviews(&rel_id).await.unwrap(),
        vec![security, privacy]
    );
    assert_eq!(tx.list_evidence(&rel_id).await.unwrap(), vec![evidence]);
    assert_eq!(
        tx.list_acceptances(&rel_id).await.unwrap(),
        vec![acceptance]
    );
    assert_eq!(tx.list_decisions(&rel_id).await.unwrap(), vec![go.clone()]);
    assert_eq!(
        tx.list_deployments(&rel_id).await.unwrap(),
        deployments.to_vec()
    );
    drop(tx);

    // A withdrawn go is replaced in place: still one decision row per revision.
    let withdrawn = countersign_store::records::DecisionRecord {
        decision: countersign_core::release::Decision::Withdrawn,
        comment: "the rollback drill failed".into(),
        created_at: t(9),
        ..go.clone()
    };
    let mut tx = store.write().await.unwrap();
    tx.update_decision(&withdrawn).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.list_decisions(&rel_id).await.unwrap(), vec![withdrawn]);
    let other = ReleaseId("other".into());
    assert!(tx.list_reviews(&other).await.unwrap().is_empty());
    assert!(tx.list_evidence(&other).await.unwrap().is_empty());
    assert!(tx.list_acceptances(&other).await.unwrap().is_empty());
    assert!(tx.list_decisions(&other).await.unwrap().is_empty());
    assert!(tx.list_deployments(&other).await.unwrap().is_empty());
}

async fn revisions_by_artifact(store: Arc<dyn Store>) {
    seed(&store).await;
    let rel = release("rel", "sys", OWNER, 20);
    let other = release("other", "sys", OWNER, 30);
    let rev1 = revision("rel", 1, "art-1", 21);
    let rev2 = revision("rel", 2, "art-2", 22);
    let other1 = revision("other", 1, "art-2", 31);
    let other2 = revision("other", 2, "art-3", 32);
    let mut tx = store.write().await.unwrap();
    tx.insert_release(&other).await.unwrap();
    for r in [&other2, &other1, &rev2] {
        tx.insert_revision(r).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.revisions_by_artifact(&digest("art-1")).await.unwrap(),
        vec![(rel.clone(), rev1)]
    );
    // Oldest revision first.
    assert_eq!(
        tx.revisions_by_artifact(&digest("art-2")).await.unwrap(),
        vec![(rel, rev2), (other.clone(), other1)]
    );
    assert_eq!(
        tx.revisions_by_artifact(&digest("art-3")).await.unwrap(),
        vec![(other, other2)]
    );
    assert!(tx
        .revisions_by_artifact(&digest("unknown"))
        .await
        .unwrap()
        .is_empty());
}

async fn blobs_round_trip_byte_for_byte(store: Arc<dyn Store>) {
    let every_byte: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let not_utf8 = vec![0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, 0x00];
    let empty: Vec<u8> = Vec::new();
    let blobs = [every_byte, not_utf8, empty];

    let mut tx = store.write().await.unwrap();
    for b in &blobs {
        tx.put_blob(&Digest::of(b), b).await.unwrap();
        // The same content again, in the same transaction: no error.
        tx.put_blob(&Digest::of(b), b).await.unwrap();
    }
    tx.commit().await.unwrap();
    // And in a later one.
    let mut tx = store.write().await.unwrap();
    for b in &blobs {
        tx.put_blob(&Digest::of(b), b).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    for b in &blobs {
        assert_eq!(tx.get_blob(&Digest::of(b)).await.unwrap().as_ref(), Some(b));
    }
    assert_eq!(tx.get_blob(&digest("absent")).await.unwrap(), None);
}

async fn escalations_round_trip_once_per_role(store: Arc<dyn Store>) {
    seed(&store).await;
    let esc =
        |id: &str, role: Role, secs: i64| testing::escalation(id, "rel", role, OWNER, t(secs));
    let (a, b) = (
        esc("esc-a", Role::Security, 50),
        esc("esc-b", Role::Privacy, 40),
    );
    let mut tx = store.write().await.unwrap();
    tx.insert_escalation(&a).await.unwrap();
    tx.insert_escalation(&b).await.unwrap();
    // The same release, revision and role escalates once.
    assert!(matches!(
        tx.insert_escalation(&esc("esc-c", Role::Security, 60))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.list_escalations(&ReleaseId("rel".into())).await.unwrap(),
        vec![b, a]
    );
    assert!(tx
        .list_escalations(&ReleaseId("other".into()))
        .await
        .unwrap()
        .is_empty());
}

async fn releases_in_review_come_with_their_current_revision(store: Arc<dyn Store>) {
    seed(&store).await;
    let mut tx = store.write().await.unwrap();
    // `rel` (seeded, draft, revision 1) moves to revision 2 and into review; another
    // release stays a draft, a third is promoted.
    tx.insert_revision(&revision("rel", 2, "art-2", 22))
        .await
        .unwrap();
    let mut rel = release("rel", "sys", OWNER, 20);
    rel.status = ReleaseStatus::InReview;
    rel.current_revision = 2;
    tx.update_release(&rel).await.unwrap();
    for (id, status, at) in [
        ("draft", ReleaseStatus::Draft, 30),
        ("promoted", ReleaseStatus::Promoted, 31),
        ("second", ReleaseStatus::InReview, 32),
    ] {
        tx.insert_release(&ReleaseRecord {
            status,
            ..release(id, "sys", OWNER, at)
        })
        .await
        .unwrap();
        tx.insert_revision(&revision(id, 1, id, at)).await.unwrap();
    }
    tx.insert_review(&testing::review(
        "rv-old",
        "rel",
        1,
        Role::Security,
        REVIEWER,
    ))
    .await
    .unwrap();
    tx.insert_review(&testing::review(
        "rv-new",
        "rel",
        2,
        Role::Privacy,
        REVIEWER,
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    let got = tx.in_review().await.unwrap();
    let ids: Vec<(&str, u32, usize)> = got
        .iter()
        .map(|r| {
            let current = r.current().expect("the current revision");
            (r.release.id.as_str(), current.number, r.revisions.len())
        })
        .collect();
    assert_eq!(ids, vec![("rel", 2, 2), ("second", 1, 1)]);
    // Only the current revision's reviews come along.
    let reviews: Vec<&str> = got[0].reviews.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(reviews, vec!["rv-new"]);
    assert!(got[1].reviews.is_empty());
}
