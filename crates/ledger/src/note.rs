//! C2SP signed notes, tlog checkpoints and tlog cosignatures, and the witness's check.
//!
//! A checkpoint ([`Checkpoint`]) is the text `<origin>\n<size>\n<base64 root>\n` plus
//! optional extension lines; the log signs it as a signed note ([`SignedNote`]) with
//! its Ed25519 key, and witnesses add timestamped cosignatures (`cosignature/v1`).
//! See the crate docs, "Checkpoints (C2SP)".

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _};
use sha2::{Digest as _, Sha256};

use crate::merkle::{verify_consistency, Hash, MerkleError};
use crate::{LedgerKey, LedgerPublicKey, NoteError};

/// Signature type byte of an Ed25519 note signature (signed-note).
pub const ALG_ED25519: u8 = 0x01;
/// Signature type byte of an Ed25519 `cosignature/v1` (tlog-cosignature).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The largest note [`SignedNote::parse`] reads.
const MAX_NOTE_BYTES: usize = 1_000_000;
/// The most signature lines [`SignedNote::parse`] reads.
const MAX_SIGNATURES: usize = 100;
/// The latest timestamp a cosignature may carry (2^63 - 1).
const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// A tree head in the C2SP tlog-checkpoint format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `countersign.example/ledger`.
    pub origin: String,
    /// The number of leaves (entries) in the tree.
    pub size: u64,
    /// The tree's root hash (RFC 9162 `MTH`).
    pub root: Hash,
    /// Optional extension lines, each non-empty and without its newline.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: `<origin>\n<size>\n<base64 root>\n` then each extension line.
    pub fn body(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for line in &self.extensions {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Reads a checkpoint note text (without its signatures).
    pub fn parse(body: &str) -> Result<Self, NoteError> {
        let bad = |reason| NoteError::MalformedCheckpoint { reason };
        let rest = body
            .strip_suffix('\n')
            .ok_or(bad("text does not end with a newline"))?;
        let mut lines = rest.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad("the origin line is empty"));
        }
        let size = lines.next().ok_or(bad("no size line"))?;
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size: u64 = size
            .parse()
            .ok()
            .filter(|_| size_ok)
            .ok_or(bad("the size is not a decimal without leading zeros"))?;
        let root = lines.next().ok_or(bad("no root hash line"))?;
        let root: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(bad("the root hash is not 32 bytes in standard base64"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("an extension line is empty"));
        }
        let cp = Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        };
        check_text(body).map_err(|_| bad("text has control characters"))?;
        Ok(cp)
    }
}

/// What a verifier key verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A log's Ed25519 note signature (type 0x01).
    Ed25519,
    /// A witness's Ed25519 `cosignature/v1` (type 0x04).
    CosignatureV1,
}

impl KeyKind {
    /// The signature type byte.
    pub fn alg(self) -> u8 {
        match self {
            Self::Ed25519 => ALG_ED25519,
            Self::CosignatureV1 => ALG_COSIGNATURE_V1,
        }
    }
}

/// A public key that verifies note signatures: a name, a kind and an Ed25519 key.
/// Its text form is the standard vkey `<name>+<hex key id>+<base64(type || key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifierKey {
    name: String,
    kind: KeyKind,
    key: LedgerPublicKey,
}

impl NoteVerifierKey {
    /// The key that verifies a log's checkpoints signed under `name`.
    pub fn ed25519(name: &str, key: &LedgerPublicKey) -> Result<Self, NoteError> {
        Self::new(name, KeyKind::Ed25519, key)
    }

    /// The key that verifies a witness's cosignatures under `name`.
    pub fn cosigner(name: &str, key: &LedgerPublicKey) -> Result<Self, NoteError> {
        Self::new(name, KeyKind::CosignatureV1, key)
    }

    fn new(name: &str, kind: KeyKind, key: &LedgerPublicKey) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            kind,
            key: key.clone(),
        })
    }

    /// Reads a vkey string.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let bad = |reason| NoteError::BadVerifierKey { reason };
        let (name, rest) = vkey.split_once('+').ok_or(bad("no `+` after the name"))?;
        let (id_hex, key_b64) = rest.split_once('+').ok_or(bad("no `+` after the key id"))?;
        check_name(name)?;
        let id_ok = id_hex.len() == 8
            && id_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let id = u32::from_str_radix(id_hex, 16)
            .ok()
            .filter(|_| id_ok)
            .ok_or(bad("the key id is not 8 lowercase hex characters"))?;
        let data = STANDARD
            .decode(key_b64)
            .map_err(|_| bad("the key is not standard base64"))?;
        let (&alg, key) = data.split_first().ok_or(bad("the key is empty"))?;
        let kind = match alg {
            ALG_ED25519 => KeyKind::Ed25519,
            ALG_COSIGNATURE_V1 => KeyKind::CosignatureV1,
            alg => return Err(NoteError::UnknownAlgorithm { alg }),
        };
        let key: [u8; 32] = key.try_into().map_err(|_| bad("the key is not 32 bytes"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
            .map_err(|_| bad("the key is not an ed25519 point"))?;
        let out = Self {
            name: name.to_owned(),
            kind,
            key: LedgerPublicKey(key),
        };
        if out.key_id() != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(out)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the key verifies.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &LedgerPublicKey {
        &self.key
    }

    /// The key id: the first 4 bytes of SHA-256(name || 0x0A || type || key), big-endian.
    pub fn key_id(&self) -> u32 {
        key_id(&self.name, self.kind, &self.key)
    }

    /// Checks one signature (the bytes after the key id) over a note text.
    fn verify(&self, text: &str, sig: &[u8]) -> Result<Option<u64>, ()> {
        match self.kind {
            KeyKind::Ed25519 => {
                let sig: [u8; 64] = sig.try_into().map_err(|_| ())?;
                self.key
                    .0
                    .verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
                    .map_err(|_| ())?;
                Ok(None)
            }
            KeyKind::CosignatureV1 => {
                if sig.len() != 72 {
                    return Err(());
                }
                let (time, sig) = sig.split_at(8);
                let mut t = [0u8; 8];
                t.copy_from_slice(time);
                let time = u64::from_be_bytes(t);
                let sig: [u8; 64] = sig.try_into().map_err(|_| ())?;
                if time > MAX_TIMESTAMP {
                    return Err(());
                }
                self.key
                    .0
                    .verify_strict(&cosigned_message(time, text), &Signature::from_bytes(&sig))
                    .map_err(|_| ())?;
                Ok(Some(time))
            }
        }
    }
}

impl fmt::Display for NoteVerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = Vec::with_capacity(33);
        data.push(self.kind.alg());
        data.extend_from_slice(self.key.0.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id(),
            STANDARD.encode(data)
        )
    }
}

/// The signed-note key id of a key under a name.
fn key_id(name: &str, kind: KeyKind, key: &LedgerPublicKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', kind.alg()]);
    h.update(key.0.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(char::is_whitespace) || name.contains('+') {
        Err(NoteError::BadKeyName {
            name: name.chars().take(80).collect(),
        })
    } else {
        Ok(())
    }
}

/// A note text ends with a newline and has no control characters but newlines.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed {
            reason: "text does not end with a newline",
        });
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed {
            reason: "text has control characters",
        });
    }
    Ok(())
}

/// The message a `cosignature/v1` signs: the header and time lines, then the note text.
fn cosigned_message(time: u64, text: &str) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{text}").into_bytes()
}

/// One signature line of a note: `— <name> <base64(key id || signature)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's key name.
    pub name: String,
    /// The signer's key id.
    pub key_id: u32,
    /// The signature bytes after the key id (for a cosignature: timestamp then signature).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, without its newline.
    pub fn line(&self) -> String {
        let mut data = self.key_id.to_be_bytes().to_vec();
        data.extend_from_slice(&self.signature);
        format!("— {} {}", self.name, STANDARD.encode(data))
    }

    /// Reads a signature line (without its newline).
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let bad = |reason| NoteError::Malformed { reason };
        let rest = line
            .strip_prefix("— ")
            .ok_or(bad("a signature line does not start with an em dash"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(bad("a signature line has no signature"))?;
        check_name(name)?;
        let data = STANDARD
            .decode(b64)
            .map_err(|_| bad("a signature is not standard base64"))?;
        if data.len() < 5 {
            return Err(bad("a signature is shorter than 5 bytes"));
        }
        let (id, sig) = data.split_at(4);
        Ok(Self {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
            signature: sig.to_vec(),
        })
    }

    /// For a cosignature, its timestamp (the first 8 signature bytes, big-endian).
    pub fn cosignature_time(&self) -> Option<u64> {
        let t: [u8; 8] = self.signature.get(..8)?.try_into().ok()?;
        Some(u64::from_be_bytes(t))
    }
}

/// A signature that verified, and by which key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub name: String,
    pub key_id: u32,
    pub kind: KeyKind,
    /// A cosignature's timestamp (seconds since the Unix epoch).
    pub time: Option<u64>,
}

/// A text and its signatures in the C2SP signed-note format: the text (ending with a
/// newline), a blank line, then one signature line per signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// A note with no signatures yet.
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_text(&text)?;
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// Reads a signed note.
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge { len: note.len() });
        }
        let bad = |reason| NoteError::Malformed { reason };
        let split = note
            .rfind("\n\n")
            .ok_or(bad("no blank line before the signatures"))?;
        let text = &note[..=split];
        let sigs = &note[split + 2..];
        check_text(text)?;
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or(bad("the signatures do not end with a newline"))?;
        let signatures = sigs
            .split('\n')
            .map(NoteSignature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.len() > MAX_SIGNATURES {
            return Err(bad("more than 100 signatures"));
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Signs the text with a log key under `name` and adds the signature.
    pub fn sign(&mut self, name: &str, key: &LedgerKey) -> Result<&NoteSignature, NoteError> {
        let vkey = NoteVerifierKey::ed25519(name, &key.public())?;
        let sig = key.0.sign(self.text.as_bytes());
        self.push(NoteSignature {
            name: name.to_owned(),
            key_id: vkey.key_id(),
            signature: sig.to_bytes().to_vec(),
        })
    }

    /// Cosigns the text at `time` (seconds since the Unix epoch) with a witness key
    /// under `name` and adds the cosignature.
    pub fn cosign(
        &mut self,
        name: &str,
        key: &LedgerKey,
        time: u64,
    ) -> Result<&NoteSignature, NoteError> {
        if time > MAX_TIMESTAMP {
            return Err(NoteError::TimestampTooLarge { time });
        }
        let vkey = NoteVerifierKey::cosigner(name, &key.public())?;
        let sig = key.0.sign(&cosigned_message(time, &self.text));
        let mut signature = time.to_be_bytes().to_vec();
        signature.extend_from_slice(&sig.to_bytes());
        self.push(NoteSignature {
            name: name.to_owned(),
            key_id: vkey.key_id(),
            signature,
        })
    }

    /// Adds a signature line, replacing one by the same key.
    pub fn push(&mut self, sig: NoteSignature) -> Result<&NoteSignature, NoteError> {
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::Malformed {
                reason: "more than 100 signatures",
            });
        }
        self.signatures.push(sig);
        let last = self.signatures.len() - 1;
        Ok(&self.signatures[last])
    }

    /// Verifies the signatures by the known keys: signatures by unknown keys are
    /// ignored, every signature by a known key must verify, and at least one must be by
    /// a known key. Returns the verified ones in note order.
    pub fn verify(&self, known: &[NoteVerifierKey]) -> Result<Vec<VerifiedSignature>, NoteError> {
        let mut out: Vec<VerifiedSignature> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = known
                .iter()
                .find(|k| k.name == sig.name && k.key_id() == sig.key_id)
            else {
                continue;
            };
            let time =
                key.verify(&self.text, &sig.signature)
                    .map_err(|()| NoteError::BadSignature {
                        name: sig.name.clone(),
                        key_id: sig.key_id,
                    })?;
            if !out
                .iter()
                .any(|v| v.name == sig.name && v.key_id == sig.key_id)
            {
                out.push(VerifiedSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                    kind: key.kind,
                    time,
                });
            }
        }
        if out.is_empty() {
            return Err(NoteError::NoKnownSignature {
                count: self.signatures.len(),
            });
        }
        Ok(out)
    }
}

impl fmt::Display for SignedNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            f.write_str(&sig.line())?;
            f.write_str("\n")?;
        }
        Ok(())
    }
}

/// Signs a checkpoint with the log key under `name` (usually the origin).
pub fn sign_checkpoint(
    checkpoint: &Checkpoint,
    name: &str,
    key: &LedgerKey,
) -> Result<SignedNote, NoteError> {
    let body = checkpoint.body();
    // Only what parses back is signed: an empty origin or extension line is refused.
    Checkpoint::parse(&body)?;
    let mut note = SignedNote::new(body)?;
    note.sign(name, key)?;
    Ok(note)
}

/// Verifies a checkpoint note with the log's key and returns the checkpoint.
pub fn open_checkpoint(
    note: &SignedNote,
    log_key: &NoteVerifierKey,
) -> Result<Checkpoint, NoteError> {
    if log_key.kind != KeyKind::Ed25519 {
        return Err(NoteError::UnknownAlgorithm {
            alg: log_key.kind.alg(),
        });
    }
    note.verify(std::slice::from_ref(log_key))?;
    Checkpoint::parse(&note.text)
}

/// Why a witness refuses to cosign a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The note is malformed or not validly signed by the log's key.
    #[error("the checkpoint is not validly signed by the log")]
    Note {
        #[source]
        source: NoteError,
    },
    /// The checkpoint is for another log than the one the witness saw.
    #[error("checkpoint origin {found:?} is not the witnessed log {expected:?}")]
    OriginMismatch { expected: String, found: String },
    /// The log shrank: a rollback to an earlier state.
    #[error(
        "checkpoint size {new} is smaller than size {previous} the witness already saw: rollback"
    )]
    SizeRegressed { previous: u64, new: u64 },
    /// Same size, different root: a fork.
    #[error("checkpoint at size {size} has another root than the one the witness saw: fork")]
    RootChanged { size: u64 },
    /// The consistency proof does not show the new tree extends the old one.
    #[error("tree size {new} is not a consistent extension of tree size {previous}")]
    Inconsistent {
        previous: u64,
        new: u64,
        #[source]
        source: MerkleError,
    },
    /// The cosignature could not be made.
    #[error("cannot cosign the checkpoint")]
    Cosign {
        #[source]
        source: NoteError,
    },
}

/// A witness: its name and key, and the log key it checks checkpoints with.
#[derive(Clone, Debug)]
pub struct Witness {
    /// The witness's key name (its cosignatures' name).
    pub name: String,
    /// The witness's signing key.
    pub key: LedgerKey,
    /// The log's checkpoint verifier key.
    pub log_key: NoteVerifierKey,
}

/// A checkpoint a witness accepted, the note with its cosignature added, and the
/// cosignature alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosigned {
    /// What the witness now remembers as the latest checkpoint.
    pub checkpoint: Checkpoint,
    /// The note with the witness's cosignature appended.
    pub note: SignedNote,
    /// The cosignature line.
    pub cosignature: NoteSignature,
}

impl Witness {
    /// Checks a new checkpoint note against the last checkpoint this witness accepted
    /// (`None` on first sight) and cosigns it at `time` (seconds since the Unix epoch).
    ///
    /// `proof` is the consistency proof from `previous.size` to the new size. The new
    /// checkpoint must be signed by the log, have the same origin, be no smaller, have
    /// the same root at the same size, and extend the previous tree.
    pub fn cosign(
        &self,
        previous: Option<&Checkpoint>,
        note: &SignedNote,
        proof: &[Hash],
        time: u64,
    ) -> Result<Cosigned, WitnessError> {
        let checkpoint =
            open_checkpoint(note, &self.log_key).map_err(|source| WitnessError::Note { source })?;
        if let Some(prev) = previous {
            if prev.origin != checkpoint.origin {
                return Err(WitnessError::OriginMismatch {
                    expected: prev.origin.clone(),
                    found: checkpoint.origin.clone(),
                });
            }
            if checkpoint.size < prev.size {
                return Err(WitnessError::SizeRegressed {
                    previous: prev.size,
                    new: checkpoint.size,
                });
            }
            if checkpoint.size == prev.size && checkpoint.root != prev.root {
                return Err(WitnessError::RootChanged {
                    size: checkpoint.size,
                });
            }
            verify_consistency(
                prev.size,
                checkpoint.size,
                &prev.root,
                &checkpoint.root,
                proof,
            )
            .map_err(|source| WitnessError::Inconsistent {
                previous: prev.size,
                new: checkpoint.size,
                source,
            })?;
        }
        let mut note = note.clone();
        let cosignature = note
            .cosign(&self.name, &self.key, time)
            .map_err(|source| WitnessError::Cosign { source })?
            .clone();
        Ok(Cosigned {
            checkpoint,
            note,
            cosignature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, entry_leaf_hash, MemoryTree};
    use crate::test_support::ledger;

    const ORIGIN: &str = "countersign.example/ledger";

    fn log_key() -> LedgerKey {
        LedgerKey::from_bytes(&[7; 32])
    }

    fn witness_key() -> LedgerKey {
        LedgerKey::from_bytes(&[8; 32])
    }

    fn tree(n: u32) -> MemoryTree {
        MemoryTree::from_leaves(ledger(n).iter().map(|e| entry_leaf_hash(&e.hash).unwrap()))
    }

    fn checkpoint(t: &MemoryTree) -> Checkpoint {
        Checkpoint::new(ORIGIN, t.size(), t.root())
    }

    fn witness() -> Witness {
        Witness {
            name: "witness.example/w1".into(),
            key: witness_key(),
            log_key: NoteVerifierKey::ed25519(ORIGIN, &log_key().public()).unwrap(),
        }
    }

    #[test]
    fn known_answer_checkpoint_note() {
        // The first entry of the crate docs' known answer, as a tree of size 1.
        let entry_hash: crate::Digest =
            "sha256:096fc04ae450e7a60cf9aa9ab4bbf45806b84f7e554899d24465608406304b3d"
                .parse()
                .unwrap();
        let root = entry_leaf_hash(&entry_hash).unwrap();
        let cp = Checkpoint::new(ORIGIN, 1, root);
        let note = sign_checkpoint(&cp, ORIGIN, &log_key()).unwrap();
        let vkey = NoteVerifierKey::ed25519(ORIGIN, &log_key().public()).unwrap();
        assert_eq!(
            vkey.to_string(),
            "countersign.example/ledger+2359efaf+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
        );
        assert_eq!(note.to_string(), concat!(
                "countersign.example/ledger\n",
                "1\n",
                "5Pj3BpfDQy4tXROgP2bKmgV0ZIXd//flWaV0jZb0Bv4=\n",
                "\n",
                "— countersign.example/ledger I1nvr8v56sc4lLvqjp+O6Sodow5X7Sm5+2HgOtO6guBbBMwTfX5gvWRjhpBRZkZLd1sZm7uJoOq0gI1G2ltKEEVLHgA=\n",
            ));
        let mut cosigned = note.clone();
        cosigned
            .cosign("witness.example/w1", &witness_key(), 1_796_000_000)
            .unwrap();
        let wkey =
            NoteVerifierKey::cosigner("witness.example/w1", &witness_key().public()).unwrap();
        assert_eq!(
            wkey.to_string(),
            "witness.example/w1+fea3b187+BBOY9ixtGkV8UbpqS189vS9p/KkyFiGNyJl+QWvRfZPK"
        );
        assert_eq!(cosigned.to_string(), concat!(
                "countersign.example/ledger\n",
                "1\n",
                "5Pj3BpfDQy4tXROgP2bKmgV0ZIXd//flWaV0jZb0Bv4=\n",
                "\n",
                "— countersign.example/ledger I1nvr8v56sc4lLvqjp+O6Sodow5X7Sm5+2HgOtO6guBbBMwTfX5gvWRjhpBRZkZLd1sZm7uJoOq0gI1G2ltKEEVLHgA=\n",
                "— witness.example/w1 /qOxhwAAAABrDMkAO6xY11d1drhg8sFW9/kRO5qjmtlj7TiTyQoYQD0zsRKOluygOicdWi5NX1M6/kcNL+N9GMvy09fgjXDvNXtqCA==\n",
            ));
    }

    #[test]
    fn notes_round_trip_and_verify() {
        let t = tree(5);
        let note = sign_checkpoint(&checkpoint(&t), ORIGIN, &log_key()).unwrap();
        let text = note.to_string();
        let back = SignedNote::parse(&text).unwrap();
        assert_eq!(back, note);
        let vkey = NoteVerifierKey::ed25519(ORIGIN, &log_key().public()).unwrap();
        assert_eq!(NoteVerifierKey::parse(&vkey.to_string()).unwrap(), vkey);
        assert_eq!(open_checkpoint(&back, &vkey).unwrap(), checkpoint(&t));
        let verified = back.verify(std::slice::from_ref(&vkey)).unwrap();
        assert_eq!(verified.len(), 1);
        assert_eq!(verified[0].kind, KeyKind::Ed25519);
    }

    #[test]
    fn unknown_signers_are_ignored_but_one_known_is_required() {
        let t = tree(3);
        let mut note = sign_checkpoint(&checkpoint(&t), ORIGIN, &log_key()).unwrap();
        note.sign("other.example/log", &LedgerKey::from_bytes(&[9; 32]))
            .unwrap();
        let vkey = NoteVerifierKey::ed25519(ORIGIN, &log_key().public()).unwrap();
        assert_eq!(note.verify(std::slice::from_ref(&vkey)).unwrap().len(), 1);
        let stranger =
            NoteVerifierKey::ed25519("x.example", &LedgerKey::from_bytes(&[3; 32]).public())
                .unwrap();
        assert_eq!(
            note.verify(&[stranger]).unwrap_err(),
            NoteError::NoKnownSignature { count: 2 }
        );
        // A known key whose signature does not verify is an error, not ignored.
        let mut forged = note.clone();
        forged.signatures[0].signature[0] ^= 1;
        assert!(matches!(
            forged.verify(std::slice::from_ref(&vkey)).unwrap_err(),
            NoteError::BadSignature { .. }
        ));
        // An edited text fails.
        let edited = SignedNote::parse(&note.to_string().replacen("\n3\n", "\n2\n", 1)).unwrap();
        assert!(matches!(
            edited.verify(&[vkey]).unwrap_err(),
            NoteError::BadSignature { .. }
        ));
    }

    #[test]
    fn malformed_notes_and_keys_are_refused() {
        for bad in [
            "no blank line\n— a AAAAAAA=\n",
            "text\n\n— a AAAAAAA=",
            "text\n\n- a AAAAAAA=\n",
            "text\n\n— a AAAA\n",
            "text\n\n— a !!!!\n",
            "te\u{1}xt\n\n— a AAAAAAA=\n",
        ] {
            assert!(SignedNote::parse(bad).is_err(), "{bad:?}");
        }
        let vkey = NoteVerifierKey::ed25519(ORIGIN, &log_key().public())
            .unwrap()
            .to_string();
        for bad in [
            vkey.replacen('+', "-", 1),
            vkey.replace(ORIGIN, "other.example"),
            format!("{}+{}", ORIGIN, "zz"),
            vkey.to_uppercase(),
        ] {
            assert!(NoteVerifierKey::parse(&bad).is_err(), "{bad}");
        }
        assert!(NoteVerifierKey::ed25519("has space", &log_key().public()).is_err());
        assert!(NoteVerifierKey::ed25519("a+b", &log_key().public()).is_err());
        for bad in [
            "o\n1\n",
            "\n1\nAAAA\n",
            "o\n01\nAAAA\n",
            "o\n1\nAAAA\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
        let ext =
            Checkpoint::parse("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nx y\n").unwrap();
        assert_eq!(ext.extensions, vec!["x y".to_owned()]);
        assert_eq!(ext.root, crate::EMPTY_ROOT);
    }

    #[test]
    fn a_witness_cosigns_consistent_growth() {
        let small = tree(5);
        let big = tree(13);
        let w = witness();
        let first = sign_checkpoint(&checkpoint(&small), ORIGIN, &log_key()).unwrap();
        let seen = w.cosign(None, &first, &[], 100).unwrap();
        assert_eq!(seen.checkpoint, checkpoint(&small));
        let next = sign_checkpoint(&checkpoint(&big), ORIGIN, &log_key()).unwrap();
        let proof = consistency_proof(&big, 5, 13).unwrap();
        let out = w
            .cosign(Some(&seen.checkpoint), &next, &proof, 200)
            .unwrap();
        assert_eq!(out.checkpoint.size, 13);
        assert_eq!(out.cosignature.cosignature_time(), Some(200));
        let keys = [
            NoteVerifierKey::ed25519(ORIGIN, &log_key().public()).unwrap(),
            NoteVerifierKey::cosigner(&w.name, &witness_key().public()).unwrap(),
        ];
        let verified = SignedNote::parse(&out.note.to_string())
            .unwrap()
            .verify(&keys)
            .unwrap();
        assert_eq!(verified.len(), 2);
        assert_eq!(verified[1].kind, KeyKind::CosignatureV1);
        assert_eq!(verified[1].time, Some(200));
        // The same checkpoint again is fine (nothing new, still consistent).
        w.cosign(Some(&out.checkpoint), &next, &[], 300).unwrap();
    }

    #[test]
    fn a_witness_refuses_rollback_fork_and_bad_signatures_loudly() {
        let w = witness();
        let small = tree(5);
        let big = tree(13);
        let seen = checkpoint(&big);
        let rollback = sign_checkpoint(&checkpoint(&small), ORIGIN, &log_key()).unwrap();
        assert_eq!(
            w.cosign(Some(&seen), &rollback, &[], 1).unwrap_err(),
            WitnessError::SizeRegressed {
                previous: 13,
                new: 5
            }
        );
        // A fork: another tree of the same size.
        let mut other = big.clone();
        other = MemoryTree::from_leaves(other.leaves().iter().rev().copied());
        let fork = sign_checkpoint(&checkpoint(&other), ORIGIN, &log_key()).unwrap();
        assert_eq!(
            w.cosign(Some(&seen), &fork, &[], 1).unwrap_err(),
            WitnessError::RootChanged { size: 13 }
        );
        // A fork that grew: the proof from the witnessed tree cannot connect.
        let mut grown = MemoryTree::from_leaves(other.leaves().iter().copied());
        grown.push([1; 32]);
        let grown_note = sign_checkpoint(&checkpoint(&grown), ORIGIN, &log_key()).unwrap();
        let proof = consistency_proof(&grown, 13, 14).unwrap();
        let err = w.cosign(Some(&seen), &grown_note, &proof, 1).unwrap_err();
        assert!(matches!(
            err,
            WitnessError::Inconsistent {
                previous: 13,
                new: 14,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "tree size 14 is not a consistent extension of tree size 13"
        );
        // Signed by someone else.
        let forged =
            sign_checkpoint(&checkpoint(&big), ORIGIN, &LedgerKey::from_bytes(&[9; 32])).unwrap();
        assert!(matches!(
            w.cosign(Some(&seen), &forged, &[], 1).unwrap_err(),
            WitnessError::Note { .. }
        ));
        // Another log.
        let other_log = sign_checkpoint(
            &Checkpoint::new("elsewhere.example", 13, big.root()),
            ORIGIN,
            &log_key(),
        )
        .unwrap();
        assert!(matches!(
            w.cosign(Some(&seen), &other_log, &[], 1).unwrap_err(),
            WitnessError::OriginMismatch { .. }
        ));
    }
}
