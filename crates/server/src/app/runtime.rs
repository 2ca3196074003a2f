//! Runtime control's shared state (issue 6): the running Cedar policy set (swapped
//! atomically on reload), the cache of resolved agent credentials, and the signal
//! long-polling agents wait on. It imports nothing above it: the decision path
//! (`app::decide`) and the unit of work (`app::unit`) use it.
//!
//! A credential is resolved once (signature, agent, grants, systems, approvers) and
//! cached until it expires or any human command commits ([`Runtime::invalidate`]),
//! so a revocation is seen by the next decision.

use super::policies::LoadedPolicies;
use chrono::{DateTime, Utc};
use countersign_core::{SystemId, UserId};
use countersign_policy::{PolicySet, Prepared, Subject};
use countersign_store::records::{AgentRecord, CredentialRecord, GrantRecord, SystemRecord};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// A credential resolved for decisions: everything the evaluation reads, so a cached
/// one decides without touching the database.
#[derive(Clone, Debug)]
pub struct Principal {
    pub credential: CredentialRecord,
    pub agent: AgentRecord,
    /// The grants behind the credential.
    pub grants: Vec<GrantRecord>,
    pub systems: BTreeMap<SystemId, SystemRecord>,
    /// For each role, the human a step-up naming that role is assigned to: the
    /// earliest registered user holding it.
    pub approvers: BTreeMap<String, UserId>,
    /// The agent on each of its systems, prepared for the policy set on its
    /// first decision there, and emptied with the rest of the principal.
    pub prepared: PreparedSubjects,
}

/// Per target system, the policy subject (this agent on that system)
/// prepared for the running policy set ([`countersign_policy::Prepared`]):
/// its Cedar entities are built once per cached credential, not per
/// decision. One prepared for a set since replaced is prepared again.
#[derive(Clone, Debug, Default)]
pub struct PreparedSubjects(Arc<RwLock<BTreeMap<SystemId, Arc<Prepared>>>>);

impl PreparedSubjects {
    /// The subject prepared for `set`, from the cache or prepared now and
    /// cached. `system` must be the subject's system.
    pub fn get_or_prepare(
        &self,
        set: &PolicySet,
        system: &SystemId,
        subject: &Subject<'_>,
    ) -> Arc<Prepared> {
        if let Ok(map) = self.0.read() {
            if let Some(p) = map.get(system).filter(|p| p.digest() == set.digest()) {
                return p.clone();
            }
        }
        let prepared = Arc::new(set.prepare(subject));
        if let Ok(mut map) = self.0.write() {
            map.insert(system.clone(), prepared.clone());
        }
        prepared
    }
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
    approvals: watch::Sender<u64>,
    /// Held across a reload (read the running set, record, install), so two
    /// reloads cannot interleave and record the wrong previous set.
    reloading: tokio::sync::Mutex<()>,
}

impl Runtime {
    pub fn new(policies: LoadedPolicies) -> Arc<Runtime> {
        Arc::new(Runtime {
            policies: RwLock::new(Arc::new(policies)),
            generation: AtomicU64::new(1),
            cache: RwLock::new(Cache::default()),
            approvals: watch::channel(0).0,
            reloading: tokio::sync::Mutex::new(()),
        })
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
