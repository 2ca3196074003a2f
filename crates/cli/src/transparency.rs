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
    Hash, LedgerKey, NoteVerifierKey, SignedNote, Witness, WitnessError,
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

/// Why a witness stopped without cosigning.
pub enum WitnessOutcome {
    Cosigned,
    /// The log is not a consistent extension of what the witness saw: exit 1.
    Alert,
}

/// Reads `DIR/witness.key` (hex secret), creating it (mode 0600) on first run.
fn witness_key(dir: &Path) -> Result<(LedgerKey, bool)> {
    let path = dir.join("witness.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| anyhow!("{} is not a 32-byte hex key", path.display()))?;
        return Ok((LedgerKey::from_bytes(&bytes), false));
    }
    let key = LedgerKey::generate(&mut rand::rngs::OsRng);
    write_private(&path, &hex::encode(key.to_bytes()))?;
    Ok((key, true))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `ledger witness`: checks the server's latest checkpoint is a consistent extension
/// of the last one this witness saw (kept in `dir`), cosigns it (C2SP
/// tlog-cosignature), saves it, and gives the cosignature to the server. An
/// inconsistent log is a `WITNESS ALERT` and nothing is cosigned.
pub async fn witness(
    c: &Client,
    dir: &Path,
    name: &str,
    pinned: Option<&str>,
) -> Result<WitnessOutcome> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (key, created) = witness_key(dir)?;
    let vkey = NoteVerifierKey::cosigner(name, &key.public())
        .with_context(|| format!("{name:?} cannot name a witness key (no spaces or +)"))?;
    if created {
        output::line(format!("witness key created: {vkey}"));
    }
    // The log key: given, else pinned on first run.
    let pin = dir.join("log.vkey");
    let log_key = match pinned {
        Some(k) => NoteVerifierKey::parse(k).with_context(|| format!("{k:?} is not a vkey"))?,
        None if pin.exists() => {
            let text = std::fs::read_to_string(&pin)
                .with_context(|| format!("cannot read {}", pin.display()))?;
            NoteVerifierKey::parse(text.trim())
                .with_context(|| format!("{} holds no vkey", pin.display()))?
        }
        None => {
            let k = log_key(c, None).await?;
            std::fs::write(&pin, format!("{k}\n"))
                .with_context(|| format!("cannot write {}", pin.display()))?;
            output::line(format!("log key pinned: {k}"));
            k
        }
    };
    let text = c.get_text_unauthenticated("/v1/ledger/checkpoint").await?;
    let note = SignedNote::parse(&text).context("the server's checkpoint is not a signed note")?;
    let seen_path = dir.join("checkpoint");
    let previous = match std::fs::read_to_string(&seen_path) {
        Ok(t) => Some(
            SignedNote::parse(&t)
                .ok()
                .and_then(|n| Checkpoint::parse(n.text()).ok())
                .ok_or_else(|| anyhow!("{} holds no checkpoint", seen_path.display()))?,
        ),
        Err(_) => None,
    };
    let new = open_checkpoint(&note, &log_key).with_context(|| {
        format!("the server's checkpoint is not signed by the log key {log_key}")
    })?;
    let proof = match &previous {
        Some(prev) if prev.size > 0 && prev.size < new.size => {
            hashes(&consistency_view(c, prev.size, new.size).await?.proof)?
        }
        _ => Vec::new(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let w = Witness {
        name: name.to_owned(),
        key,
        log_key: log_key.clone(),
    };
    let cosigned = match w.cosign(previous.as_ref(), &note, &proof, now) {
        Ok(c) => c,
        Err(
            e @ (WitnessError::SizeRegressed { .. }
            | WitnessError::RootChanged { .. }
            | WitnessError::Inconsistent { .. }
            | WitnessError::OriginMismatch { .. }),
        ) => {
            let (old_size, old_root) = previous
                .as_ref()
                .map_or((0, String::new()), |p| (p.size, b64(&p.root)));
            eprintln!(
                "WITNESS ALERT: {e}. Last seen: {} size {old_size} root {old_root}; now served: {} size {} root {}. Nothing was cosigned; the last checkpoint seen stays in {}.",
                log_key.name(),
                new.origin,
                new.size,
                b64(&new.root),
                seen_path.display()
            );
            return Ok(WitnessOutcome::Alert);
        }
        Err(e) => return Err(e).context("cannot cosign the checkpoint"),
    };
    std::fs::write(&seen_path, cosigned.note.to_string())
        .with_context(|| format!("cannot write {}", seen_path.display()))?;
    let params = countersign_api::CosignatureParams {
        note: cosigned.note.to_string(),
        witness: vkey.to_string(),
    };
    c.post("/v1/ledger/cosignatures", &params)
        .await
        .context("the server did not take the cosignature")?;
    output::line(format!(
        "cosigned {} at size {} root {} as {vkey}{}",
        new.origin,
        new.size,
        b64(&new.root),
        match &previous {
            Some(p) => format!(" (consistent with size {} seen before)", p.size),
            None => " (first checkpoint seen)".to_owned(),
        }
    ));
    Ok(WitnessOutcome::Cosigned)
}
