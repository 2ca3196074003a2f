//! The ledger as a transparency log (issue 14): the RFC 9162 Merkle tree over the
//! entries' hashes, kept in memory and filled from the store as the ledger grows;
//! C2SP checkpoints signed with the ledger key (with the witnesses' stored
//! cosignatures appended); inclusion and consistency proofs.
//!
//! These reads reveal entry hashes and tree sizes only, never an entry's fields, so
//! the surfaces serve them without authentication, like the JWKS: a witness or an
//! auditor needs no account to check the log does not roll back.

use super::unit::App;
use super::AppError;
use countersign_core::problem::ProblemCode;
use countersign_ledger::{
    consistency_proof, digest_bytes, inclusion_proof, leaf_hash, root_at, Checkpoint, Digest, Hash,
    MemoryTree, NoteVerifierKey,
};
use countersign_store::StoreError;
use tokio::sync::Mutex;

/// How many hashes one read of the store brings into the tree.
const PAGE: u32 = 10_000;

/// The default origin (the log's name) when the server is given none.
pub const DEFAULT_ORIGIN: &str = "countersign/ledger";

/// The Merkle tree of the ledger, in memory: 32 bytes per entry and the interior
/// nodes, filled incrementally (entries after the size it has) on each read.
#[derive(Debug)]
pub struct LedgerTree {
    origin: String,
    tree: Mutex<MemoryTree>,
}

impl LedgerTree {
    /// An empty tree for the log named `origin`.
    pub fn new(origin: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            tree: Mutex::new(MemoryTree::new()),
        }
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl Default for LedgerTree {
    fn default() -> Self {
        Self::new(DEFAULT_ORIGIN)
    }
}

/// The tree brought up to the store's current size, locked.
async fn synced(app: &App) -> Result<tokio::sync::MutexGuard<'_, MemoryTree>, AppError> {
    let mut tree = app.ledger_tree.tree.lock().await;
    loop {
        let after = tree.size();
        let page = app
            .query(move |tx| Box::pin(async move { Ok(tx.ledger_hashes(after, PAGE).await?) }))
            .await?;
        let Some((last, _)) = page.last() else { break };
        let last = *last;
        for (seq, hash) in page {
            if seq != tree.size() + 1 {
                return Err(corrupt(format!(
                    "entry {seq} follows tree size {}: the ledger has a gap",
                    tree.size()
                )));
            }
            tree.push(leaf_hash(&leaf_data(&hash)?));
        }
        if last < after + u64::from(PAGE) {
            break;
        }
    }
    Ok(tree)
}

fn leaf_data(hash: &Digest) -> Result<Hash, AppError> {
    digest_bytes(hash).map_err(|e| corrupt(e.to_string()))
}

fn corrupt(reason: String) -> AppError {
    AppError::Store(StoreError::Corrupt {
        column: "ledger_entries.hash",
        reason,
    })
}

fn bad_size(detail: String) -> AppError {
    AppError::invalid(ProblemCode::InvalidTreeSize, detail)
}

/// The current signed checkpoint note (C2SP signed-note text), with the witnesses'
/// cosignatures of this same checkpoint appended.
pub async fn checkpoint(app: &App) -> Result<String, AppError> {
    let (size, root) = {
        let tree = synced(app).await?;
        (tree.size(), tree.root())
    };
    let cp = Checkpoint::new(app.ledger_tree.origin(), size, root);
    let note = app.store.sign_checkpoint(&cp, app.ledger_tree.origin())?;
    Ok(note.to_string())
}

/// An inclusion proof of entry `entry` (its seq) in the tree of `size` (default: the
/// current size).
#[derive(Clone, Debug)]
pub struct Inclusion {
    pub entry: u64,
    pub size: u64,
    pub entry_hash: Hash,
    pub leaf_hash: Hash,
    pub root: Hash,
    pub proof: Vec<Hash>,
}

/// Proves entry `entry` is in the tree of `size` (default: the current size).
pub async fn inclusion(app: &App, entry: u64, size: Option<u64>) -> Result<Inclusion, AppError> {
    let tree = synced(app).await?;
    let current = tree.size();
    let size = size.unwrap_or(current);
    if size == 0 || size > current {
        return Err(bad_size(format!(
            "tree size {size} is not between 1 and the ledger's size {current}"
        )));
    }
    if entry == 0 || entry > size {
        return Err(bad_size(format!(
            "entry {entry} is not in the tree of size {size} (entries 1 to {size})"
        )));
    }
    let index = entry - 1;
    let leaf = tree
        .leaves()
        .get(usize::try_from(index).unwrap_or(usize::MAX))
        .copied()
        .ok_or_else(|| bad_size(format!("entry {entry} is not in the tree")))?;
    let proof = inclusion_proof(&*tree, index, size).map_err(|e| corrupt(e.to_string()))?;
    let root = root_at(&*tree, size).map_err(|e| corrupt(e.to_string()))?;
    drop(tree);
    let entry_hash = entry_hash_of(app, entry).await?;
    Ok(Inclusion {
        entry,
        size,
        entry_hash,
        leaf_hash: leaf,
        root,
        proof,
    })
}

/// The raw entry hash of `seq` (the leaf's data).
async fn entry_hash_of(app: &App, seq: u64) -> Result<Hash, AppError> {
    let page = app
        .query(move |tx| Box::pin(async move { Ok(tx.ledger_hashes(seq - 1, 1).await?) }))
        .await?;
    match page.first() {
        Some((s, h)) if *s == seq => leaf_data(h),
        _ => Err(corrupt(format!("entry {seq} is gone from the store"))),
    }
}

/// A consistency proof between two tree sizes.
#[derive(Clone, Debug)]
pub struct Consistency {
    pub from: u64,
    pub to: u64,
    pub from_root: Hash,
    pub to_root: Hash,
    pub proof: Vec<Hash>,
}

/// Proves the tree of size `from` is a prefix of the tree of size `to` (default: the
/// current size).
pub async fn consistency(app: &App, from: u64, to: Option<u64>) -> Result<Consistency, AppError> {
    let tree = synced(app).await?;
    let current = tree.size();
    let to = to.unwrap_or(current);
    if to > current {
        return Err(bad_size(format!(
            "tree size {to} is beyond the ledger's size {current}"
        )));
    }
    if from == 0 || from > to {
        return Err(bad_size(format!(
            "from size {from} must be between 1 and to size {to}"
        )));
    }
    let proof = consistency_proof(&*tree, from, to).map_err(|e| corrupt(e.to_string()))?;
    let from_root = root_at(&*tree, from).map_err(|e| corrupt(e.to_string()))?;
    let to_root = root_at(&*tree, to).map_err(|e| corrupt(e.to_string()))?;
    Ok(Consistency {
        from,
        to,
        from_root,
        to_root,
        proof,
    })
}

/// The log's origin and its checkpoint verifier key.
pub fn log_key(app: &App) -> Result<NoteVerifierKey, AppError> {
    NoteVerifierKey::ed25519(app.ledger_tree.origin(), &app.store.ledger_public_key()).map_err(
        |e| AppError::Unavailable {
            detail: format!("the log's origin cannot name its key: {e}"),
        },
    )
}
