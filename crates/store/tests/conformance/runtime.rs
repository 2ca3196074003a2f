//! Runtime decisions, step-up approvals, the action log and first openings of a context
//! (issue 6).

use crate::assert_conflict;
use crate::fixtures::*;
use crate::TestDb;
use countersign_core::runtime::{ApprovalState, OutcomeStatus, PostReviewVerdict, ReviewState};
use countersign_core::{AgentId, UserId};
use countersign_store::records::*;
use countersign_store::testing::{self, at as t};
use countersign_store::{Store, StoreError};
use serde_json::json;
use std::sync::Arc;

conformance!(
    actions_round_trip_and_filter,
    approvals_round_trip_and_expire,
    context_views_record_the_first_opening_only,
    insert_actions_writes_every_row_across_statements,
);
database_tests!(an_unknown_decision_or_approval_state_is_corrupt,);

fn action(id: &str, agent: &str, task: &str, decision: &str, at: i64) -> ActionRecord {
    testing::action(id, agent, task, decision.parse().unwrap(), t(at))
}

fn approval(id: &str, action_id: &str, assignee: &str, expires: i64) -> ApprovalRecord {
    testing::approval(id, action_id, assignee, t(expires))
}

async fn actions_round_trip_and_filter(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_action(&action("act1", "ag1", "refunds", "allow", 50))
        .await
        .unwrap();
    tx.insert_action(&action("act2", "ag1", "billing", "step_up", 51))
        .await
        .unwrap();
    tx.insert_action(&action("act3", "ag2", "refunds", "deny", 52))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.write().await.unwrap();
    let a = tx.get_action("act1").await.unwrap().unwrap();
    assert_eq!(a, action("act1", "ag1", "refunds", "allow", 50));
    assert!(tx.get_action("nope").await.unwrap().is_none());
    let ids = |v: Vec<ActionRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let all = ActionFilter {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(tx.list_actions(&all).await.unwrap()),
        ["act3", "act2", "act1"]
    );
    let by_agent = ActionFilter {
        agent: Some(AgentId("ag1".into())),
        ..all.clone()
    };
    assert_eq!(
        ids(tx.list_actions(&by_agent).await.unwrap()),
        ["act2", "act1"]
    );
    let by_task = ActionFilter {
        task: Some("refunds".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(tx.list_actions(&by_task).await.unwrap()),
        ["act3", "act1"]
    );
    let queue = ActionFilter {
        review_state: Some(ReviewState::Pending),
        ..all.clone()
    };
    assert_eq!(ids(tx.list_actions(&queue).await.unwrap()), ["act1"]);
    let limited = ActionFilter {
        limit: 1,
        ..all.clone()
    };
    assert_eq!(ids(tx.list_actions(&limited).await.unwrap()), ["act3"]);

    // Review and outcome are written back; the queue empties.
    let mut a = a;
    a.review_state = Some(ReviewState::Reviewed);
    a.review = Some(PostReview {
        by: UserId("owner".into()),
        at: t(60),
        verdict: PostReviewVerdict::Ok,
        comment: "fine".into(),
    });
    a.outcome = Some(ActionOutcome {
        status: OutcomeStatus::Succeeded,
        detail: json!({"refund_id": "r-1"}),
        at: t(55),
    });
    tx.update_action(&a).await.unwrap();
    assert_eq!(tx.get_action("act1").await.unwrap().unwrap(), a);
    assert!(tx.list_actions(&queue).await.unwrap().is_empty());
    // The same id twice is refused.
    assert_conflict(
        tx.insert_action(&action("act1", "ag1", "x", "deny", 70))
            .await,
        "action id",
    );
}

async fn approvals_round_trip_and_expire(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_action(&action("act1", "ag1", "refunds", "step_up", 50))
        .await
        .unwrap();
    tx.insert_action(&action("act2", "ag1", "refunds", "step_up", 51))
        .await
        .unwrap();
    tx.insert_approval(&approval("apr1", "act1", "owner", 100))
        .await
        .unwrap();
    tx.insert_approval(&approval("apr2", "act2", "owner", 200))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.write().await.unwrap();
    assert_eq!(
        tx.get_approval("apr1").await.unwrap().unwrap(),
        approval("apr1", "act1", "owner", 100)
    );
    let due: Vec<String> = tx
        .due_approvals(t(150), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(due, ["apr1"]);
    let mut a = approval("apr1", "act1", "owner", 100);
    a.state = ApprovalState::Expired;
    tx.update_approval(&a).await.unwrap();
    assert!(tx.due_approvals(t(150), 10).await.unwrap().is_empty());
    let pending = ApprovalFilter {
        assignee: Some(UserId("owner".into())),
        state: Some(ApprovalState::Pending),
        agent: None,
        limit: 10,
    };
    let ids: Vec<String> = tx
        .list_approvals(&pending)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, ["apr2"]);
    let nobody = ApprovalFilter {
        assignee: Some(UserId("nobody".into())),
        ..pending
    };
    assert!(tx.list_approvals(&nobody).await.unwrap().is_empty());
}

async fn context_views_record_the_first_opening_only(store: Arc<dyn Store>) {
    seed(&store).await;
    let mut tx = store.write().await.unwrap();
    let v = |at| ContextViewRecord {
        kind: "release".into(),
        subject: "rel1".into(),
        user: UserId("owner".into()),
        first_opened_at: t(at),
    };
    assert!(tx.record_view(&v(10)).await.unwrap());
    assert!(!tx.record_view(&v(20)).await.unwrap());
    assert_eq!(tx.list_views("release").await.unwrap(), vec![v(10)]);
    assert!(tx.list_views("approval").await.unwrap().is_empty());
    let owner = UserId("owner".into());
    assert_eq!(
        tx.get_view("release", "rel1", &owner).await.unwrap(),
        Some(t(10))
    );
    assert_eq!(tx.get_view("release", "rel2", &owner).await.unwrap(), None);
    assert_eq!(tx.get_view("approval", "rel1", &owner).await.unwrap(), None);
    assert_eq!(
        tx.get_view("release", "rel1", &UserId("admin".into()))
            .await
            .unwrap(),
        None
    );
}

async fn insert_actions_writes_every_row_across_statements(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let records: Vec<ActionRecord> = (0..1100)
        .map(|i| action(&format!("act{i}"), "ag1", "bulk", "allow", 50 + i))
        .collect();
    let mut tx = store.write().await.unwrap();
    tx.insert_actions(&records.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    tx.insert_actions(&[]).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.write().await.unwrap();
    for i in [0, 499, 500, 1099] {
        assert_eq!(
            tx.get_action(&format!("act{i}")).await.unwrap().unwrap(),
            records[i as usize]
        );
    }
    let all = ActionFilter {
        task: Some("bulk".into()),
        limit: 5000,
        ..Default::default()
    };
    assert_eq!(tx.list_actions(&all).await.unwrap().len(), 1100);
    // One duplicate id refuses the batch.
    let dup = [&records[7]];
    assert_conflict(tx.insert_actions(&dup).await, "action id");
}

/// The documents hold each code as its stable string; one that names no variant is a
/// decode error, not a panic.
async fn an_unknown_decision_or_approval_state_is_corrupt(db: Arc<TestDb>) {
    let store = countersign_store::open(&db.url).await.unwrap();
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_action(&action("act1", "ag1", "refunds", "step_up", 50))
        .await
        .unwrap();
    tx.insert_approval(&approval("apr1", "act1", "owner", 100))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    drop(store);

    db.exec("UPDATE actions SET body = REPLACE(body, '\"decision\":\"step_up\"', '\"decision\":\"maybe\"')")
        .await;
    db.exec(
        "UPDATE approvals SET body = REPLACE(body, '\"state\":\"pending\"', '\"state\":\"lost\"')",
    )
    .await;
    let store = countersign_store::open(&db.url).await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert!(matches!(
        tx.get_action("act1").await,
        Err(StoreError::Corrupt { column: "body", .. })
    ));
    assert!(matches!(
        tx.get_approval("apr1").await,
        Err(StoreError::Corrupt { column: "body", .. })
    ));
}
