//! The unit of work. Every surface (HTTP handlers, background jobs, the CLI's server
//! start-up, the console to come) runs application commands and queries through
//! [`App`]: it opens the transaction, applies `Idempotency-Key`, runs the command
//! (which writes its state change and its one ledger entry), records the answer,
//! commits, and tells runtime control that state changed. A command that fails
//! drops its transaction, which rolls everything back (I11).
//!
//! The one write path that does not come through here is the decision committer
//! (`decide::commit`), which batches many agents' decisions into one transaction;
//! it uses the same idempotency module.

use super::decide::commit::Committer;
use super::idempotency::{self, Idempotency};
use super::ledger_tree::LedgerTree;
use super::policies::{self, LoadedPolicies};
use super::runtime::Runtime;
use super::sign_in::SignInOptions;
use super::{AgentCtx, AppError, Ctx};
use crate::clock::Clock;
use chrono::{DateTime, Utc};
use countersign_core::problem::ProblemCode;
use countersign_core::profile::Profile;
use countersign_store::prelude::*;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The work a command or query does inside its transaction.
pub type Work<'a, T> = Pin<Box<dyn Future<Output = Result<T, AppError>> + Send + 'a>>;

/// The application: the store, the profile, the clock and runtime control's state.
/// Cheap to clone; every surface holds one.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub profile: Arc<Profile>,
    pub clock: Arc<dyn Clock>,
    /// Runtime decisions' shared state: policies, resolved credentials, the signal.
    pub runtime: Arc<Runtime>,
    /// The group committer for decisions.
    pub decisions: Committer,
    /// How people may sign in to the console.
    pub sign_in: Arc<SignInOptions>,
    /// The ledger's Merkle tree and the log's origin (issue 14).
    pub ledger_tree: Arc<LedgerTree>,
}

/// A committed command's answer, or the first answer to a retried request.
#[derive(Clone, Debug)]
pub struct Answered {
    /// The status the command answers with (HTTP semantics), recorded with the key.
    pub status: u16,
    /// The answer, serialized once: what was sent, and what a retry is sent.
    pub body: String,
    /// A retry with the same `Idempotency-Key`: nothing was written.
    pub replayed: bool,
}

/// A command's answer, and what it hands back to its caller when it ran now.
#[derive(Debug)]
pub struct Done<T> {
    pub answered: Answered,
    /// `None` when the request was a retry and the command did not run.
    pub value: Option<T>,
}

impl App {
    /// The application with the built-in example runtime policy set. Starts the
    /// decision committer, so call it inside a Tokio runtime.
    pub fn new(
        store: Arc<dyn Store>,
        profile: Arc<Profile>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, countersign_policy::LoadError> {
        let set = policies::example_policies()?;
        Ok(Self::with_policies(store, profile, clock, set, None))
    }

    /// The application with a loaded policy set (`dir` is where it came from, for
    /// reloads).
    pub fn with_policies(
        store: Arc<dyn Store>,
        profile: Arc<Profile>,
        clock: Arc<dyn Clock>,
        set: countersign_policy::PolicySet,
        dir: Option<std::path::PathBuf>,
    ) -> Self {
        let runtime = Runtime::new(LoadedPolicies {
            set,
            dir,
            loaded_at: clock.now(),
        });
        let decisions = Committer::start(store.clone(), Arc::downgrade(&runtime));
        App {
            store,
            profile,
            clock,
            runtime,
            decisions,
            sign_in: Arc::new(SignInOptions::default()),
            ledger_tree: Arc::new(LedgerTree::default()),
        }
    }

    /// The application with these console sign-in options.
    pub fn with_sign_in(mut self, options: SignInOptions) -> Self {
        self.sign_in = Arc::new(options);
        self
    }

    /// The application serving the ledger as the log named `origin`. Refuses an
    /// origin that cannot name a signed-note key (empty, with spaces or `+`).
    pub fn with_ledger_origin(
        mut self,
        origin: &str,
    ) -> Result<Self, countersign_ledger::NoteError> {
        countersign_ledger::NoteVerifierKey::ed25519(origin, &self.store.ledger_public_key())?;
        self.ledger_tree = Arc::new(LedgerTree::new(origin));
        Ok(self)
    }

    /// Now, by the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A human's command, answered with `status`. A retried request (same key, same
    /// request) gets the first answer and writes nothing.
    pub async fn command<V, F>(
        &self,
        ctx: Ctx,
        idem: Option<Idempotency>,
        status: u16,
        work: F,
    ) -> Result<Answered, AppError>
    where
        V: Serialize + Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Tx, &'a Ctx) -> Work<'a, V> + Send,
    {
        let done = self
            .command_then(ctx, idem, status, |tx, ctx| {
                let fut = work(tx, ctx);
                Box::pin(async move { Ok((fut.await?, ())) })
            })
            .await?;
        Ok(done.answered)
    }

    /// [`App::command`] whose work also hands back a value to act on after the commit
    /// (e.g. the policy set to install).
    pub async fn command_then<V, T, F>(
        &self,
        ctx: Ctx,
        idem: Option<Idempotency>,
        status: u16,
        work: F,
    ) -> Result<Done<T>, AppError>
    where
        V: Serialize + Send + 'static,
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Tx, &'a Ctx) -> Work<'a, (V, T)> + Send,
    {
        let mut tx = self.store.write().await?;
        if let Some(idem) = &idem {
            if let Some(prev) = idempotency::replay(&mut *tx, &ctx.actor.id, idem).await? {
                return Ok(Done {
                    answered: Answered {
                        status: prev.status,
                        body: prev.body,
                        replayed: true,
                    },
                    value: None,
                });
            }
        }
        let (view, value) = work(&mut *tx, &ctx).await?;
        let body = serde_json::to_string(&view)
            .map_err(|e| AppError::invalid(ProblemCode::Unserializable, e.to_string()))?;
        if let Some(idem) = idem {
            idempotency::remember(&mut *tx, &ctx.actor.id, idem, status, body.clone(), ctx.now)
                .await?;
        }
        tx.commit().await?;
        self.changed();
        Ok(Done {
            answered: Answered {
                status,
                body,
                replayed: false,
            },
            value: Some(value),
        })
    }

    /// A command whose caller shows the person what it recorded (the console): it
    /// answers the sequence number of the last ledger entry the command wrote, read
    /// inside the command's transaction (writers are serialized, so it is this
    /// command's own entry).
    pub async fn command_recorded<F>(&self, ctx: Ctx, work: F) -> Result<Option<u64>, AppError>
    where
        F: for<'a> FnOnce(&'a mut dyn Tx, &'a Ctx) -> Work<'a, ()> + Send + 'static,
    {
        let done = self
            .command_then(ctx, None, 200, move |tx, ctx| {
                Box::pin(async move {
                    work(&mut *tx, ctx).await?;
                    let head = tx.ledger_head().await?;
                    Ok(((), head.map(|h| h.seq)))
                })
            })
            .await?;
        Ok(done.value.flatten())
    }

    /// An agent's command: its client assertion is checked, and its `jti` recorded,
    /// inside the command's transaction, so a replayed assertion is refused.
    pub async fn agent_command<T, F>(
        &self,
        assertion: &str,
        host: Option<&str>,
        work: F,
    ) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Tx, &'a AgentCtx) -> Work<'a, T> + Send,
    {
        let mut tx = self.store.write().await?;
        let actx = super::agents::authenticate(
            &mut *tx,
            self.now(),
            self.profile.clone(),
            assertion,
            host,
        )
        .await?;
        let value = work(&mut *tx, &actx).await?;
        tx.commit().await?;
        Ok(value)
    }

    /// A background job's write, as the system, at the clock's now.
    pub async fn job<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Tx, DateTime<Utc>) -> Work<'a, T> + Send,
    {
        let mut tx = self.store.write().await?;
        let value = work(&mut *tx, self.now()).await?;
        tx.commit().await?;
        Ok(value)
    }

    /// A query, in one read-only snapshot.
    pub async fn query<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut dyn Tx) -> Work<'a, T> + Send,
    {
        let mut tx = self.store.read().await?;
        work(&mut *tx).await
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> Result<(), countersign_store::StoreError> {
        self.store.ping().await
    }

    /// State changed under a human command: resolved credentials are re-read by the
    /// next decision (a revocation, a grant, a suspension, I9), and agents waiting on
    /// an approval re-read it.
    fn changed(&self) {
        self.runtime.invalidate();
        self.runtime.approvals_changed();
    }
}
