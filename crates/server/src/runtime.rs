//! Runtime control's shared state (issue 6): the loaded Cedar policy set, the cache
//! of resolved agent credentials, the group committer for decisions, and the signal
//! long-polling agents wait on.
//!
//! Decisions are evaluated in memory: a credential is resolved once (signature,
//! agent, grants, systems, approvers) and cached until it expires or any human
//! command commits ([`Runtime::invalidate`]), so a revocation is seen by the next
//! decision. Each decision's ledger entry is group-committed ([`Committer`]): many
//! concurrent decisions share one transaction, and each caller is answered only after
//! the transaction holding its entry has committed.

use crate::app::decide::{entry_for, Principal};
use crate::app::AppError;
use chrono::{DateTime, Utc};
use countersign_core::UserId;
use countersign_policy::{PolicySet, PolicySource};
use countersign_store::records::{ActionRecord, ApprovalRecord, IdempotencyRecord};
use countersign_store::Store;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, oneshot, watch};

/// A loaded, validated policy set and where it came from.
pub struct LoadedPolicies {
    pub set: PolicySet,
    /// The directory it was read from; `None` for the built-in example set.
    pub dir: Option<PathBuf>,
    pub loaded_at: DateTime<Utc>,
}

/// Why a policy directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyDirError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir}: expected exactly one *.cedarschema file, found {found}")]
    Schema { dir: String, found: usize },
    #[error("{dir}: no *.cedar policy files")]
    NoPolicies { dir: String },
    #[error("invalid policy set")]
    Invalid(#[source] countersign_policy::LoadError),
}

/// The example policy set shipped in `policies/`, built into the binary.
pub fn example_policies() -> Result<PolicySet, countersign_policy::LoadError> {
    PolicySet::load(
        &PolicySource {
            name: "runtime.cedarschema".into(),
            text: include_str!("../../../policies/runtime.cedarschema").into(),
        },
        &[PolicySource {
            name: "runtime.cedar".into(),
            text: include_str!("../../../policies/runtime.cedar").into(),
        }],
    )
}

/// Reads and validates every `*.cedar` file and the one `*.cedarschema` in `dir`.
pub fn load_policy_dir(dir: &Path) -> Result<PolicySet, PolicyDirError> {
    let read_err = |p: &Path, source| PolicyDirError::Read {
        path: p.display().to_string(),
        source,
    };
    let mut schemas = Vec::new();
    let mut policies = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| read_err(dir, e))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        paths.push(entry.map_err(|e| read_err(dir, e))?.path());
    }
    paths.sort();
    for path in paths {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "cedar" && ext != "cedarschema" {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let src = PolicySource { name, text };
        if ext == "cedar" {
            policies.push(src);
        } else {
            schemas.push(src);
        }
    }
    let dir_s = dir.display().to_string();
    if schemas.len() != 1 {
        return Err(PolicyDirError::Schema {
            dir: dir_s,
            found: schemas.len(),
        });
    }
    if policies.is_empty() {
        return Err(PolicyDirError::NoPolicies { dir: dir_s });
    }
    PolicySet::load(&schemas[0], &policies).map_err(PolicyDirError::Invalid)
}

/// What one decision writes: its action record, the approval request a step-up
/// creates, and the approval it consumes.
#[derive(Clone, Debug)]
pub struct DecisionWrite {
    pub action: ActionRecord,
    pub new_approval: Option<ApprovalRecord>,
    /// An approved request this decision uses (single use); if it has been used or
    /// decided otherwise meanwhile, the committer turns the decision into a deny.
    pub consume: Option<String>,
}

/// What the committer answers a decision with.
#[derive(Clone, Debug)]
pub enum Committed {
    /// The decision as written (a consumed approval may have turned it into a deny).
    Decided(Box<DecisionWrite>),
    /// A retried request (same `Idempotency-Key`, same request): nothing was written;
    /// the decision recorded for the first one is `action_id`.
    Replayed { action_id: String },
}

/// A request's `Idempotency-Key`: the agent (as actor), the key and the request's
/// fingerprint. The record stored for it names the action it decided.
#[derive(Clone, Debug)]
pub struct DecisionKey {
    pub agent: String,
    pub key: String,
    pub request_hash: String,
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
    fn start(store: Arc<dyn Store>, runtime: std::sync::Weak<Runtime>) -> Self {
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
            let actor = UserId(k.agent.clone());
            match tx.get_idempotency(&actor, &k.key).await? {
                Some(prev) if prev.request_hash != k.request_hash => {
                    answers.push(Some(Err(AppError::invalid(
                        "idempotency-key-reused",
                        "this Idempotency-Key was used for a different request",
                    ))));
                    continue;
                }
                Some(prev) => {
                    answers.push(Some(Ok(Committed::Replayed {
                        action_id: prev.body,
                    })));
                    continue;
                }
                None => {
                    tx.put_idempotency(&IdempotencyRecord {
                        actor,
                        key: k.key,
                        request_hash: k.request_hash,
                        status: 200,
                        body: w.action.id.clone(),
                        created_at: w.action.decided_at,
                    })
                    .await?;
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
                Some(mut a) if a.state == "approved" && a.used_by.is_none() => {
                    a.state = "used".into();
                    a.used_by = Some(w.action.id.clone());
                    a.used_at = Some(w.action.decided_at);
                    tx.update_approval(&a).await?;
                    true
                }
                _ => false,
            };
            if !usable {
                crate::app::decide::refuse_reuse(&mut w.action, &id);
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

/// Resolved credentials, valid for one generation.
#[derive(Default)]
struct Cache {
    generation: u64,
    by_token: HashMap<String, Arc<Principal>>,
}

/// The most credentials kept resolved; past it the cache starts over.
const MAX_CACHED: usize = 100_000;

/// Runtime control's shared state; see the module docs.
pub struct Runtime {
    policies: RwLock<Arc<LoadedPolicies>>,
    generation: AtomicU64,
    cache: RwLock<Cache>,
    committer: std::sync::OnceLock<Committer>,
    approvals: watch::Sender<u64>,
    /// Held across a reload (read the running set, record, install), so two
    /// reloads cannot interleave and record the wrong previous set.
    reloading: tokio::sync::Mutex<()>,
}

impl Runtime {
    /// Starts the committer task; call inside a Tokio runtime.
    pub fn start(store: Arc<dyn Store>, policies: LoadedPolicies) -> Arc<Runtime> {
        let rt = Arc::new(Runtime {
            policies: RwLock::new(Arc::new(policies)),
            generation: AtomicU64::new(1),
            cache: RwLock::new(Cache::default()),
            committer: std::sync::OnceLock::new(),
            approvals: watch::channel(0).0,
            reloading: tokio::sync::Mutex::new(()),
        });
        let _ = rt
            .committer
            .set(Committer::start(store, Arc::downgrade(&rt)));
        rt
    }

    pub fn policies(&self) -> Arc<LoadedPolicies> {
        match self.policies.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Serializes reloads; hold it from reading the running set to installing the next.
    pub async fn reload_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.reloading.lock().await
    }

    /// Replaces the running set (already validated).
    pub fn set_policies(&self, p: LoadedPolicies) {
        let p = Arc::new(p);
        match self.policies.write() {
            Ok(mut g) => *g = p,
            Err(poisoned) => *poisoned.into_inner() = p,
        }
    }

    pub fn committer(&self) -> Result<&Committer, AppError> {
        self.committer.get().ok_or(AppError::Unavailable {
            detail: "the decision writer is not running".into(),
        })
    }

    /// Forgets every resolved credential: called after any human command commits
    /// (a revocation, a grant change, a rollback), so the next decision re-reads.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A resolved credential, if cached for the current generation.
    pub fn cached(&self, token: &str, now: DateTime<Utc>) -> Option<Arc<Principal>> {
        let generation = self.generation();
        let cache = self.cache.read().ok()?;
        if cache.generation != generation {
            return None;
        }
        cache
            .by_token
            .get(token)
            .filter(|p| p.credential.expires_at > now)
            .cloned()
    }

    /// Caches a credential resolved at `generation` (read before resolving).
    pub fn remember(&self, token: &str, generation: u64, p: Arc<Principal>) {
        let Ok(mut cache) = self.cache.write() else {
            return;
        };
        if self.generation() != generation {
            return;
        }
        if cache.generation != generation || cache.by_token.len() >= MAX_CACHED {
            cache.generation = generation;
            cache.by_token.clear();
        }
        cache.by_token.insert(token.to_owned(), p);
    }

    /// Wakes every long-polling agent to re-read its approval request.
    pub fn approvals_changed(&self) {
        self.approvals.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver woken on every approval change.
    pub fn watch_approvals(&self) -> watch::Receiver<u64> {
        self.approvals.subscribe()
    }
}
