//! The ledger as a transparency log (issue 14): the RFC 9162 Merkle tree over the
//! entries' hashes, kept in memory and filled from the store as the ledger grows;
//! C2SP checkpoints signed with the ledger key (with the witnesses' stored
//! cosignatures appended); inclusion and consistency proofs.
//!
//! These reads reveal entry hashes and tree sizes only, never an entry's fields, so
//! the surfaces serve them without authentication, like the JWKS: a witness or an
//! auditor needs no account to check the log does not roll back. Storing a witness's
//! cosignature is a command (one `ledger.cosign` entry) for the ledger roles.

use super::ledger::LEDGER_ROLES;
pub use super::ledger_tree::{LedgerTree, DEFAULT_ORIGIN};
use super::unit::App;
use super::{record as record_entry, AppError, Ctx};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use countersign_core::problem::ProblemCode;
use countersign_ledger::{
    consistency_proof, digest_bytes, entry_bundle, inclusion_proof, leaf_hash, open_checkpoint,
    root_at, tile_data, BundleId, Checkpoint, Digest, Hash, KeyKind, MemoryTree, NoteSignature,
    NoteVerifierKey, SignedNote, TileId, TILE_HEIGHT, TILE_WIDTH,
};
use countersign_store::records::CosignatureRecord;
use countersign_store::{StoreError, Tx};

/// How many hashes one read of the store brings into the tree.
const PAGE: u32 = 10_000;

/// The tree brought up to the store's current size, locked.
async fn synced(app: &App) -> Result<tokio::sync::MutexGuard<'_, MemoryTree>, AppError> {
    let mut tree = app.ledger_tree.lock().await;
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

/// The signed checkpoint note (C2SP signed-note text) of tree `size` (default: the
/// current size), with the witnesses' stored cosignatures of it appended.
pub async fn checkpoint(app: &App, size: Option<u64>) -> Result<String, AppError> {
    let (size, root) = {
        let tree = synced(app).await?;
        let current = tree.size();
        let size = size.unwrap_or(current);
        if size > current {
            return Err(bad_size(format!(
                "tree size {size} is beyond the ledger's size {current}"
            )));
        }
        (
            size,
            root_at(&*tree, size).map_err(|e| corrupt(e.to_string()))?,
        )
    };
    let cp = Checkpoint::new(app.ledger_tree.origin(), size, root);
    let mut note = app.store.sign_checkpoint(&cp, app.ledger_tree.origin())?;
    let cosignatures = app
        .query(move |tx| Box::pin(async move { Ok(tx.cosignatures(size).await?) }))
        .await?;
    let root_b64 = STANDARD.encode(root);
    for c in cosignatures.iter().filter(|c| c.root == root_b64) {
        // A stored line was verified over this very checkpoint before it was kept.
        if let Ok(sig) = NoteSignature::parse_line(&c.line) {
            note.push(sig).map_err(|e| corrupt(e.to_string()))?;
        }
    }
    Ok(note.to_string())
}

/// Why a cosignature is refused, as a problem.
fn bad_cosignature(detail: impl Into<String>) -> AppError {
    AppError::invalid(ProblemCode::InvalidCosignature, detail)
}

/// A witness's cosignature the server checked and stored.
#[derive(Clone, Debug)]
pub struct StoredCosignature {
    pub record: CosignatureRecord,
}

/// Stores a witness's cosignature of one of this log's checkpoints (command, one
/// ledger entry `ledger.cosign`). The note must be signed by the log key, be for a
/// tree size the ledger has reached with that size's root (else the witness saw
/// another log, or a fork), and carry a `cosignature/v1` by `witness` that verifies.
/// Role: admin, compliance or risk.
pub async fn record_cosignature(
    app: &App,
    tx: &mut dyn Tx,
    ctx: &Ctx,
    note: &str,
    witness: &str,
) -> Result<StoredCosignature, AppError> {
    ctx.require_any(LEDGER_ROLES)?;
    let witness_key = NoteVerifierKey::parse(witness)
        .map_err(|e| bad_cosignature(format!("witness {witness:?} is not a vkey: {e}")))?;
    if witness_key.kind() != KeyKind::CosignatureV1 {
        return Err(bad_cosignature(
            "the witness key is not a cosignature/v1 key (type 0x04)",
        ));
    }
    let signed = SignedNote::parse(note)
        .map_err(|e| bad_cosignature(format!("the note is not a signed note: {e}")))?;
    let cp = open_checkpoint(&signed, &log_key(app)?).map_err(|e| {
        bad_cosignature(format!(
            "the note is not a checkpoint signed by this log: {e}"
        ))
    })?;
    let verified = signed
        .verify(std::slice::from_ref(&witness_key))
        .map_err(|e| bad_cosignature(format!("the witness's cosignature does not verify: {e}")))?;
    let time = verified
        .first()
        .and_then(|v| v.time)
        .ok_or_else(|| bad_cosignature("the note has no cosignature by the witness"))?;
    let line = signed
        .signatures()
        .iter()
        .find(|s| s.name == witness_key.name() && s.key_id == witness_key.key_id())
        .map(NoteSignature::line)
        .ok_or_else(|| bad_cosignature("the note has no cosignature by the witness"))?;
    {
        let tree = synced(app).await?;
        let current = tree.size();
        if cp.size > current {
            return Err(bad_cosignature(format!(
                "the checkpoint's tree size {} is beyond the ledger's size {current}",
                cp.size
            )));
        }
        let ours = root_at(&*tree, cp.size).map_err(|e| corrupt(e.to_string()))?;
        if ours != cp.root {
            return Err(bad_cosignature(format!(
                "the checkpoint's root at tree size {} is not this ledger's",
                cp.size
            )));
        }
    }
    let cosigned_at = i64::try_from(time)
        .ok()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .ok_or_else(|| bad_cosignature(format!("cosignature time {time} is out of range")))?;
    let record = CosignatureRecord {
        witness: witness_key.to_string(),
        tree_size: cp.size,
        root: STANDARD.encode(cp.root),
        line,
        cosigned_at,
        recorded_at: ctx.now,
    };
    tx.put_cosignature(&record).await?;
    record_entry(
        tx,
        ctx,
        "ledger.cosign",
        &format!("witness:{}", witness_key.name()),
        serde_json::json!({
            "witness": record.witness,
            "tree_size": record.tree_size,
            "root": record.root,
            "cosigned_at": countersign_ledger::format_time(cosigned_at),
        }),
    )
    .await?;
    Ok(StoredCosignature { record })
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

/// The log's name and the key that signs its checkpoints, for verifiers to pin.
#[derive(Clone, Debug)]
pub struct LogKeys {
    pub origin: String,
    /// The C2SP verifier key (`<origin>+<key hash>+<base64>`).
    pub vkey: String,
    pub key_id: String,
    /// The Ed25519 public key, base64url.
    pub public_key: String,
}

/// The log's keys.
pub fn keys(app: &App) -> Result<LogKeys, AppError> {
    let key = app.store.ledger_public_key();
    Ok(LogKeys {
        origin: app.ledger_tree.origin().to_owned(),
        vkey: log_key(app)?.to_string(),
        key_id: key.key_id(),
        public_key: key.to_base64(),
    })
}

/// A tile or entry bundle's bytes, and whether it is full (never changes).
#[derive(Clone, Debug)]
pub struct TileBytes {
    pub data: Vec<u8>,
    pub full: bool,
}

/// The C2SP tlog-tiles resource at `path` (under the log's prefix: `tile/<L>/<N>[.p/<W>]`
/// or `tile/entries/<N>[.p/<W>]`), from the tree as it is now. A path that is not a
/// tile, or a tile the tree has not completed yet, does not exist.
pub async fn tile(app: &App, path: &str) -> Result<TileBytes, AppError> {
    let missing = || AppError::NotFound {
        what: "tile",
        id: path.chars().take(120).collect(),
    };
    if path.starts_with("tile/entries/") {
        let b = BundleId::from_path(path).map_err(|_| missing())?;
        let size = synced(app).await?.size();
        let start = b.index.saturating_mul(u64::from(TILE_WIDTH));
        if start.saturating_add(u64::from(b.width)) > size {
            return Err(missing());
        }
        let width = u32::from(b.width);
        let page = app
            .query(move |tx| Box::pin(async move { Ok(tx.ledger_hashes(start, width).await?) }))
            .await?;
        let hashes = page
            .iter()
            .map(|(_, h)| leaf_data(h))
            .collect::<Result<Vec<_>, _>>()?;
        if hashes.len() != usize::from(b.width) {
            return Err(missing());
        }
        return Ok(TileBytes {
            data: entry_bundle(&hashes),
            full: b.width == TILE_WIDTH,
        });
    }
    let t = TileId::from_path(path).map_err(|_| missing())?;
    let tree = synced(app).await?;
    let level_size = u32::from(t.level)
        .checked_mul(u32::from(TILE_HEIGHT))
        .and_then(|shift| tree.size().checked_shr(shift))
        .unwrap_or(0);
    let start = t.index.saturating_mul(u64::from(TILE_WIDTH));
    if start.saturating_add(u64::from(t.width)) > level_size {
        return Err(missing());
    }
    let data = tile_data(&*tree, t).map_err(|e| corrupt(e.to_string()))?;
    Ok(TileBytes {
        data,
        full: t.width == TILE_WIDTH,
    })
}
