//! The ledger as a transparency log, from the client side (issue 14): `ledger
//! checkpoint` fetches and saves the signed checkpoint, `ledger prove` and `ledger
//! consistency` fetch proofs and verify them here against the checkpoint (whose
//! signature is checked with the log key, pinned with `--log-key` or read from the
//! server), and the offline `ledger verify --checkpoint` checks the database is a
//! consistent extension of a checkpoint saved earlier.

use crate::client::Client;
use crate::output;
use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use countersign_api::{ConsistencyProofView, InclusionProofView, LedgerKeysView};
use countersign_ledger::{
    entry_leaf_hash, open_checkpoint, verify_consistency, verify_inclusion, Checkpoint, Digest,
    Hash, NoteVerifierKey, SignedNote,
};
use std::path::Path;

/// The log key: `--log-key` when given, else the one the server serves.
async fn log_key(c: &Client, pinned: Option<&str>) -> Result<NoteVerifierKey> {
    let text = match pinned {
        Some(k) => k.to_owned(),
        None => {
            let v = c.get_unauthenticated("/v1/ledger/keys").await?;
            let keys: LedgerKeysView =
                serde_json::from_value(v).context("the server's ledger keys are malformed")?;
            keys.vkey
        }
    };
    NoteVerifierKey::parse(&text).with_context(|| format!("{text:?} is not a log verifier key"))
}

/// The server's current checkpoint, its note text, verified with `key`.
async fn fetch_checkpoint(c: &Client, key: &NoteVerifierKey) -> Result<(Checkpoint, String)> {
    let text = c.get_text_unauthenticated("/v1/ledger/checkpoint").await?;
    let note = SignedNote::parse(&text).context("the server's checkpoint is not a signed note")?;
    let cp = open_checkpoint(&note, key)
        .with_context(|| format!("the server's checkpoint is not signed by the log key {key}"))?;
    Ok((cp, text))
}

fn hash(s: &str) -> Result<Hash> {
    let bytes = STANDARD
        .decode(s)
        .with_context(|| format!("{s:?} is not base64"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow!("{s:?} is not a 32-byte hash"))
}

fn hashes(v: &[String]) -> Result<Vec<Hash>> {
    v.iter().map(|s| hash(s)).collect()
}

fn b64(h: &Hash) -> String {
    STANDARD.encode(h)
}

/// Checks the server's tree of `size` with root `root` is a prefix of the checkpoint.
async fn tie_to_checkpoint(c: &Client, size: u64, root: &Hash, cp: &Checkpoint) -> Result<()> {
    if size == cp.size {
        if root != &cp.root {
            bail!(
                "the proof's root at size {size} is not the signed checkpoint's root {}",
                b64(&cp.root)
            );
        }
        return Ok(());
    }
    let p = consistency_view(c, size, cp.size).await?;
    verify_consistency(size, cp.size, root, &cp.root, &hashes(&p.proof)?).with_context(|| {
        format!(
            "tree size {size} is not a consistent prefix of the signed checkpoint of size {}",
            cp.size
        )
    })
}

async fn consistency_view(c: &Client, from: u64, to: u64) -> Result<ConsistencyProofView> {
    let v = c
        .get_unauthenticated(&format!("/v1/ledger/proof/consistency?from={from}&to={to}"))
        .await?;
    serde_json::from_value(v).context("the server's consistency proof is malformed")
}

/// `ledger checkpoint`: fetches the signed checkpoint, verifies its signature, and
/// saves it to `out` (or prints it).
pub async fn checkpoint(c: &Client, out: Option<&Path>, pinned: Option<&str>) -> Result<()> {
    let key = log_key(c, pinned).await?;
    let (cp, text) = fetch_checkpoint(c, &key).await?;
    match out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            output::line(format!(
                "checkpoint of {} at size {} root {} signed by {key}, saved to {}",
                cp.origin,
                cp.size,
                b64(&cp.root),
                path.display()
            ));
        }
        None => output::line(text.trim_end()),
    }
    Ok(())
}

/// `ledger prove`: entry `entry`'s inclusion proof in the tree of `size` (default the
/// checkpoint's), verified here and tied to the signed checkpoint.
pub async fn prove(c: &Client, entry: u64, size: Option<u64>, pinned: Option<&str>) -> Result<()> {
    let key = log_key(c, pinned).await?;
    let (cp, _) = fetch_checkpoint(c, &key).await?;
    let size = size.unwrap_or(cp.size);
    let v = c
        .get_unauthenticated(&format!(
            "/v1/ledger/proof/inclusion?entry={entry}&size={size}"
        ))
        .await?;
    let p: InclusionProofView =
        serde_json::from_value(v).context("the server's inclusion proof is malformed")?;
    if p.entry != entry || p.size != size {
        bail!(
            "the server proved entry {} in size {}, not entry {entry} in size {size}",
            p.entry,
            p.size
        );
    }
    let entry_hash: Digest = p
        .entry_hash
        .parse()
        .map_err(|_| anyhow!("{:?} is not an entry hash", p.entry_hash))?;
    let leaf = entry_leaf_hash(&entry_hash)?;
    let root = hash(&p.root)?;
    verify_inclusion(entry - 1, size, &leaf, &hashes(&p.proof)?, &root)
        .with_context(|| format!("the inclusion proof of entry {entry} in size {size} fails"))?;
    tie_to_checkpoint(c, size, &root, &cp).await?;
    output::line(format!(
        "entry {entry} ({entry_hash}) is in the ledger of size {size} (root {}): inclusion proof verified",
        p.root
    ));
    output::line(format!(
        "against the checkpoint of {} at size {} signed by {key}",
        cp.origin, cp.size
    ));
    Ok(())
}

/// `ledger consistency`: the proof that the tree of `from` is a prefix of the tree of
/// `to` (default the checkpoint's), verified here and tied to the signed checkpoint.
pub async fn consistency(
    c: &Client,
    from: u64,
    to: Option<u64>,
    pinned: Option<&str>,
) -> Result<()> {
    let key = log_key(c, pinned).await?;
    let (cp, _) = fetch_checkpoint(c, &key).await?;
    let to = to.unwrap_or(cp.size);
    let p = consistency_view(c, from, to).await?;
    if p.from != from || p.to != to {
        bail!(
            "the server proved sizes {} to {}, not {from} to {to}",
            p.from,
            p.to
        );
    }
    let (from_root, to_root) = (hash(&p.from_root)?, hash(&p.to_root)?);
    verify_consistency(from, to, &from_root, &to_root, &hashes(&p.proof)?).with_context(|| {
        format!("the consistency proof from size {from} to size {to} fails: not an extension")
    })?;
    tie_to_checkpoint(c, to, &to_root, &cp).await?;
    output::line(format!(
        "tree size {from} (root {}) is a prefix of tree size {to} (root {}): consistency proof verified",
        p.from_root, p.to_root
    ));
    output::line(format!(
        "against the checkpoint of {} at size {} signed by {key}",
        cp.origin, cp.size
    ));
    Ok(())
}

/// A checkpoint saved earlier and the key to check it with: `--log-key` when given,
/// else the database's ledger key under the checkpoint's origin.
pub fn saved_checkpoint(
    file: &Path,
    pinned: Option<&str>,
    db_key: &countersign_ledger::LedgerPublicKey,
) -> Result<(SignedNote, NoteVerifierKey)> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the checkpoint {}", file.display()))?;
    let note = SignedNote::parse(&text)
        .with_context(|| format!("{} is not a signed checkpoint note", file.display()))?;
    let key = match pinned {
        Some(k) => {
            NoteVerifierKey::parse(k).with_context(|| format!("{k:?} is not a log verifier key"))?
        }
        None => {
            let origin = Checkpoint::parse(note.text())
                .with_context(|| format!("{} holds no checkpoint", file.display()))?
                .origin;
            NoteVerifierKey::ed25519(&origin, db_key)
                .with_context(|| format!("{origin:?} cannot name the log key"))?
        }
    };
    Ok((note, key))
}
