//! Group commit for decisions: one writer task drains whatever decisions are queued
//! into one transaction (one ledger entry each, the head signed once), commits, then
//! answers every caller in the batch, each only after the transaction holding its
//! entry has committed (I11). Inside the write it applies `Idempotency-Key` (the same
//! module as humans' commands) and consumes single-use approvals.

use super::super::idempotency::{self, Idempotency};
use super::super::runtime::Runtime;
use super::super::AppError;
use super::evaluate::{entry_for, refuse_reuse, DecisionWrite};
use countersign_core::runtime::ApprovalState;
use countersign_core::UserId;
use countersign_store::records::ActionRecord;
use countersign_store::Store;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// What the committer answers a decision with.
#[derive(Clone, Debug)]
pub enum Committed {
    /// The decision as written (a consumed approval may have turned it into a deny).
    Decided(Box<DecisionWrite>),
    /// A retried request (same `Idempotency-Key`, same request): nothing was written;
    /// the decision recorded for the first one is `action_id`.
    Replayed { action_id: String },
}

/// A request's `Idempotency-Key`, with the agent as its actor. The record stored for
/// it names the action it decided.
#[derive(Clone, Debug)]
pub struct DecisionKey {
    pub agent: String,
    pub idempotency: Idempotency,
}

struct Job {
    write: DecisionWrite,
    key: Option<DecisionKey>,
    reply: oneshot::Sender<Result<Committed, AppError>>,
}

/// The most decisions one transaction carries.
const MAX_BATCH: usize = 2048;

/// Group commit for decisions: one writer task drains whatever decisions are queued
/// into one transaction (one ledger entry each, the head signed once), commits, then
/// answers every caller in the batch.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the writer task; call inside a Tokio runtime.
    pub fn start(store: Arc<dyn Store>, runtime: std::sync::Weak<Runtime>) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(run_committer(store, rx, runtime));
        Committer { tx }
    }

    /// Queues a decision and waits until it is durable. Returns the decision as
    /// written (a consumed approval may have turned it into a deny), or, for a
    /// retried request with the same key, the action decided the first time.
    pub async fn submit(
        &self,
        write: DecisionWrite,
        key: Option<DecisionKey>,
    ) -> Result<Committed, AppError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { write, key, reply })
            .await
            .map_err(|_| AppError::Unavailable {
                detail: "the decision writer has stopped".into(),
            })?;
        answer.await.map_err(|_| AppError::Unavailable {
            detail: "the decision writer stopped before committing".into(),
        })?
    }
}

async fn run_committer(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Job>,
    rt: std::sync::Weak<Runtime>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (writes, replies): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|j| ((j.write, j.key), j.reply)).unzip();
        let n = writes.len();
        match commit_batch(&*store, writes).await {
            Ok(written) => {
                let approvals = written.iter().any(|w| {
                    matches!(w, Ok(Committed::Decided(w)) if w.new_approval.is_some() || w.consume.is_some())
                });
                for (reply, w) in replies.into_iter().zip(written) {
                    let _ = reply.send(w);
                }
                if let (true, Some(rt)) = (approvals, rt.upgrade()) {
                    rt.approvals_changed();
                }
            }
            Err(e) => {
                // Fail closed (I11): nothing in the batch was written, every caller
                // gets an error and no decision is answered.
                tracing::error!(error = %e, decisions = n, "decision batch failed to commit");
                let msg = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(AppError::Unavailable {
                        detail: format!("the decision could not be recorded: {msg}"),
                    }));
                }
            }
        }
    }
}

/// Writes one batch in one transaction. Each job's answer is its own (a reused key is
/// refused, a retried one replayed); an error for the whole batch writes nothing.
async fn commit_batch(
    store: &dyn Store,
    jobs: Vec<(DecisionWrite, Option<DecisionKey>)>,
) -> Result<Vec<Result<Committed, AppError>>, AppError> {
    let mut tx = store.write().await?;
    let mut answers = Vec::with_capacity(jobs.len());
    let mut writes = Vec::with_capacity(jobs.len());
    for (w, key) in jobs {
        // A key is checked under the write lock, against earlier batches and earlier
        // jobs of this one, so a retried request never writes twice (I12).
        if let Some(k) = key {
            let actor = UserId(k.agent);
            match idempotency::replay(&mut *tx, &actor, &k.idempotency).await {
                Err(refused @ AppError::Invalid { .. }) => {
                    answers.push(Some(Err(refused)));
                    continue;
                }
                Err(failed) => return Err(failed),
                Ok(Some(prev)) => {
                    answers.push(Some(Ok(Committed::Replayed {
                        action_id: prev.body,
                    })));
                    continue;
                }
                Ok(None) => {
                    let (id, at) = (w.action.id.clone(), w.action.decided_at);
                    idempotency::remember(&mut *tx, &actor, k.idempotency, 200, id, at).await?;
                }
            }
        }
        answers.push(None);
        writes.push(w);
    }
    let mut drafts = Vec::with_capacity(writes.len());
    for w in &mut writes {
        if let Some(id) = w.consume.clone() {
            let usable = match tx.get_approval(&id).await? {
                Some(mut a) if a.state == ApprovalState::Approved && a.used_by.is_none() => {
                    a.state = ApprovalState::Used;
                    a.used_by = Some(w.action.id.clone());
                    a.used_at = Some(w.action.decided_at);
                    tx.update_approval(&a).await?;
                    true
                }
                _ => false,
            };
            if !usable {
                refuse_reuse(&mut w.action, &id);
                w.consume = None;
            }
        }
        drafts.push(entry_for(&w.action, w.new_approval.as_ref()));
    }
    let actions: Vec<&ActionRecord> = writes.iter().map(|w| &w.action).collect();
    tx.insert_actions(&actions).await?;
    for a in writes.iter().filter_map(|w| w.new_approval.as_ref()) {
        tx.insert_approval(a).await?;
    }
    tx.append_batch(drafts).await?;
    tx.commit().await?;
    let mut written = writes.into_iter();
    Ok(answers
        .into_iter()
        .map(|a| match a {
            Some(answer) => answer,
            None => written
                .next()
                .map(|w| Committed::Decided(Box::new(w)))
                .ok_or_else(|| AppError::Unavailable {
                    detail: "the decision writer lost a decision".into(),
                }),
        })
        .collect())
}
