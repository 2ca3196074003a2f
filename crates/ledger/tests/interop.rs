//! The Merkle log, tiles, checkpoints and cosignatures checked by independent
//! implementations: `tlog_tiles` (a port of Go's `golang.org/x/mod/sumdb/tlog`) verifies
//! our roots and proofs and parses our checkpoints and tile paths; `signed_note` (a port
//! of Go's `sumdb/note`) parses and verifies our signed notes, our vkeys and, through
//! its `Verifier` trait, our witness's `cosignature/v1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{TimeZone, Utc};
use countersign_ledger::{
    chain_next, consistency_proof, entry_leaf_hash, inclusion_proof, root_at, sign_checkpoint,
    tile_data, tiles_for_size, Checkpoint, Entry, EntryDraft, HashReader, LedgerKey, MemoryTree,
    NoteVerifierKey, SignedNote, TileId, Witness,
};
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::{
    check_record, check_tree, prove_record, prove_tree, split_stored_hash_index, tree_hash, Tile,
};

const ORIGIN: &str = "countersign.example/ledger";
const WITNESS: &str = "witness.example/w1";

fn ledger(n: u32) -> Vec<Entry> {
    let base = Utc.with_ymd_and_hms(2026, 11, 25, 3, 4, 5).unwrap();
    let mut out: Vec<Entry> = Vec::new();
    for i in 0..n {
        let draft = EntryDraft {
            at: base + chrono::Duration::seconds(i64::from(i)),
            actor: format!("user:u{}", i % 3),
            action: "release.review".into(),
            subject: format!("release:r{}", i % 5),
            payload: serde_json::json!({ "i": i }),
        };
        let head = out.last().map(Entry::head);
        out.push(chain_next(head.as_ref(), draft).unwrap());
    }
    out
}

fn tree(entries: &[Entry]) -> MemoryTree {
    MemoryTree::from_leaves(entries.iter().map(|e| entry_leaf_hash(&e.hash).unwrap()))
}

/// `tlog_tiles`'s hash storage (Go's stored hash index) backed by our tree.
struct Theirs<'a>(&'a MemoryTree);

impl tlog_tiles::HashReader for Theirs<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                let (level, n) = split_stored_hash_index(i);
                self.0
                    .subtree(level, n)
                    .map(tlog_tiles::Hash)
                    .map_err(|_| tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

fn theirs(h: [u8; 32]) -> tlog_tiles::Hash {
    tlog_tiles::Hash(h)
}

#[test]
fn leaf_hashes_are_tlog_record_hashes_of_the_entry_hash_bytes() {
    for e in ledger(5) {
        let bytes = hex::decode(e.hash.hex()).unwrap();
        assert_eq!(
            tlog_tiles::record_hash(&bytes).0,
            entry_leaf_hash(&e.hash).unwrap()
        );
    }
}

#[test]
fn tlog_computes_our_roots_and_accepts_our_proofs() {
    let entries = ledger(300);
    let mem = tree(&entries);
    let reader = Theirs(&mem);
    for size in (1..=300u64).filter(|s| *s <= 20 || s % 37 == 0 || *s == 256 || *s == 300) {
        let root = root_at(&mem, size).unwrap();
        assert_eq!(tree_hash(size, &reader).unwrap().0, root, "size {size}");
        for index in [0, size / 3, size / 2, size - 1] {
            let ours = inclusion_proof(&mem, index, size).unwrap();
            let ours: Vec<tlog_tiles::Hash> = ours.into_iter().map(theirs).collect();
            let leaf = theirs(mem.leaves()[index as usize]);
            check_record(&ours, size, theirs(root), index, leaf).unwrap();
            assert_eq!(prove_record(size, index, &reader).unwrap(), ours);
            // A proof for another leaf does not pass for this one.
            if size > 1 {
                let other = theirs(mem.leaves()[((index + 1) % size) as usize]);
                assert!(check_record(&ours, size, theirs(root), index, other).is_err());
            }
        }
        for first in [1, size / 2, size - 1, size]
            .into_iter()
            .filter(|f| *f >= 1)
        {
            let first_root = root_at(&mem, first).unwrap();
            let ours = consistency_proof(&mem, first, size).unwrap();
            let ours: Vec<tlog_tiles::Hash> = ours.into_iter().map(theirs).collect();
            check_tree(&ours, size, theirs(root), first, theirs(first_root)).unwrap();
            assert_eq!(prove_tree(size, first, &reader).unwrap(), ours);
        }
    }
}

#[test]
fn tlog_reads_our_checkpoints_and_tile_paths() {
    let entries = ledger(700);
    let mem = tree(&entries);
    let cp = Checkpoint::new(ORIGIN, mem.size(), mem.root());
    let parsed = tlog_tiles::Checkpoint::from_bytes(cp.body().as_bytes()).unwrap();
    assert_eq!(parsed.origin(), ORIGIN);
    assert_eq!(parsed.size(), 700);
    assert_eq!(parsed.hash().0, mem.root());
    // And ours reads theirs, extension lines included.
    let theirs_cp =
        tlog_tiles::Checkpoint::new(ORIGIN, 700, tlog_tiles::Hash(mem.root()), "x\ny z\n").unwrap();
    let back = Checkpoint::parse(std::str::from_utf8(&theirs_cp.to_bytes()).unwrap()).unwrap();
    assert_eq!(back.extensions, vec!["x".to_owned(), "y z".to_owned()]);
    assert_eq!(back.root, mem.root());

    // Go's tiles carry the height in the path (`tile/8/L/N`); C2SP tlog-tiles drops it
    // (`tile/L/N`). The index encoding and partial-width suffix are the same.
    let reader = Theirs(&mem);
    for ours in tiles_for_size(700) {
        let t = Tile::new(8, ours.level, ours.index, u32::from(ours.width), false);
        assert_eq!(ours.path(), t.path().replacen("tile/8/", "tile/", 1));
        assert_eq!(
            tile_data(&mem, ours).unwrap(),
            t.read_data(&reader).unwrap()
        );
    }
    for (index, width) in [(1_234_067u64, 256u16), (1_234_067, 1), (0, 17), (999, 256)] {
        let ours = TileId {
            level: 3,
            index,
            width,
        };
        let t = Tile::new(8, 3, index, u32::from(width), false);
        assert_eq!(ours.path(), t.path().replacen("tile/8/", "tile/", 1));
        let parsed = Tile::from_path(&t.path()).unwrap();
        assert_eq!(parsed.level_index(), index);
        assert_eq!(parsed.width(), u32::from(width));
    }
}

/// Our log key's vkey, as `signed_note` writes it.
fn their_vkey(key: &LedgerKey, name: &str) -> String {
    let public = ed25519_dalek::VerifyingKey::from_bytes(&pub_bytes(key)).unwrap();
    signed_note::new_ed25519_verifier_key(name, &public)
}

fn pub_bytes(key: &LedgerKey) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(&key.to_bytes())
        .verifying_key()
        .to_bytes()
}

#[test]
fn signed_note_verifies_our_checkpoint_note_and_signs_the_same_bytes() {
    let key = LedgerKey::from_bytes(&[7; 32]);
    let vkey = NoteVerifierKey::ed25519(ORIGIN, &key.public()).unwrap();
    assert_eq!(vkey.to_string(), their_vkey(&key, ORIGIN));

    let mem = tree(&ledger(42));
    let cp = Checkpoint::new(ORIGIN, mem.size(), mem.root());
    let ours = sign_checkpoint(&cp, ORIGIN, &key).unwrap();
    let text = ours.to_string();

    let note = Note::from_bytes(text.as_bytes()).unwrap();
    let verifier = StandardVerifier::new(&vkey.to_string()).unwrap();
    let (verified, unverified) = note
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .unwrap();
    assert_eq!(verified.len(), 1);
    assert!(unverified.is_empty());
    assert_eq!(note.text(), cp.body().as_bytes());

    // Their signer with the same key makes the same note (Ed25519 is deterministic).
    let mut seed = vec![0x01];
    seed.extend_from_slice(&key.to_bytes());
    let skey = format!(
        "PRIVATE+KEY+{ORIGIN}+{:08x}+{}",
        vkey.key_id(),
        STANDARD.encode(&seed)
    );
    let signer = StandardSigner::new(&skey).unwrap();
    let mut theirs = Note::new(cp.body().as_bytes(), &[]).unwrap();
    theirs.add_sigs(&[&signer]).unwrap();
    assert_eq!(theirs.to_bytes(), text.as_bytes());
    SignedNote::parse(std::str::from_utf8(&theirs.to_bytes()).unwrap())
        .unwrap()
        .verify(std::slice::from_ref(&vkey))
        .unwrap();

    // A note they consider tampered, we do too.
    let tampered = text.replacen("\n42\n", "\n41\n", 1);
    let their_err = Note::from_bytes(tampered.as_bytes())
        .unwrap()
        .verify(&VerifierList::new(vec![Box::new(
            StandardVerifier::new(&vkey.to_string()).unwrap(),
        )]));
    assert!(their_err.is_err());
    assert!(SignedNote::parse(&tampered)
        .unwrap()
        .verify(std::slice::from_ref(&vkey))
        .is_err());
}

/// A `cosignature/v1` verifier written from the C2SP tlog-cosignature text alone, on top
/// of `signed_note`'s key id function, note parsing and verifier lookup.
struct CosignatureV1 {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl CosignatureV1 {
    fn new(name: &str, key: [u8; 32]) -> Self {
        let mut material = vec![0x04];
        material.extend_from_slice(&key);
        Self {
            name: name.into(),
            id: signed_note::key_id(name, &material),
            key: ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap(),
        }
    }
}

impl signed_note::Verifier for CosignatureV1 {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        if sig.len() != 8 + 64 {
            return false;
        }
        let time = u64::from_be_bytes(sig[..8].try_into().unwrap());
        let mut signed = format!("cosignature/v1\ntime {time}\n").into_bytes();
        signed.extend_from_slice(msg);
        let sig = ed25519_dalek::Signature::from_bytes(&sig[8..].try_into().unwrap());
        self.key.verify_strict(&signed, &sig).is_ok()
    }
}

#[test]
fn signed_note_verifies_a_checkpoint_signed_by_us_and_cosigned_by_our_witness() {
    let log_key = LedgerKey::from_bytes(&[7; 32]);
    let witness_key = LedgerKey::from_bytes(&[8; 32]);
    let entries = ledger(20);
    let old = tree(&entries[..11]);
    let new = tree(&entries);
    let witness = Witness {
        name: WITNESS.into(),
        key: witness_key.clone(),
        log_key: NoteVerifierKey::ed25519(ORIGIN, &log_key.public()).unwrap(),
    };
    let previous = Checkpoint::new(ORIGIN, old.size(), old.root());
    let note = sign_checkpoint(
        &Checkpoint::new(ORIGIN, new.size(), new.root()),
        ORIGIN,
        &log_key,
    )
    .unwrap();
    let proof = consistency_proof(&new, 11, 20).unwrap();
    let cosigned = witness
        .cosign(Some(&previous), &note, &proof, 1_796_000_000)
        .unwrap();
    let text = cosigned.note.to_string();

    let cosigner = CosignatureV1::new(WITNESS, pub_bytes(&witness_key));
    let wkey = NoteVerifierKey::cosigner(WITNESS, &witness_key.public()).unwrap();
    assert_eq!(cosigner.id, wkey.key_id());
    assert!(wkey
        .to_string()
        .starts_with(&format!("{WITNESS}+{:08x}+", cosigner.id)));

    let parsed = Note::from_bytes(text.as_bytes()).unwrap();
    let log_verifier = StandardVerifier::new(&their_vkey(&log_key, ORIGIN)).unwrap();
    let (verified, _) = parsed
        .verify(&VerifierList::new(vec![
            Box::new(log_verifier),
            Box::new(cosigner),
        ]))
        .unwrap();
    let names: Vec<&str> = verified.iter().map(|s| s.name()).collect();
    assert_eq!(names, vec![ORIGIN, WITNESS]);
    let cosig = &verified[1];
    assert_eq!(
        u64::from_be_bytes(cosig.signature()[..8].try_into().unwrap()),
        1_796_000_000
    );

    // The cosignature alone, without the log's, still verifies with theirs.
    let only_witness = Note::from_bytes(text.as_bytes()).unwrap();
    let (verified, unverified) = only_witness
        .verify(&VerifierList::new(vec![Box::new(CosignatureV1::new(
            WITNESS,
            pub_bytes(&witness_key),
        ))]))
        .unwrap();
    assert_eq!(verified.len(), 1);
    assert_eq!(unverified.len(), 1);

    // tlog_tiles agrees the witness's consistency proof connects the two checkpoints.
    check_tree(
        &proof.into_iter().map(theirs).collect(),
        20,
        theirs(new.root()),
        11,
        theirs(old.root()),
    )
    .unwrap();
}

#[test]
fn signed_note_verifies_the_known_answer_note_of_the_crate_docs() {
    // The pinned example of the crate docs and docs/formats.md: the tree of the single
    // known-answer entry, signed by the 0x07 key and cosigned by the 0x08 key at
    // 1796000000.
    let text = concat!(
        "countersign.example/ledger\n",
        "1\n",
        "5Pj3BpfDQy4tXROgP2bKmgV0ZIXd//flWaV0jZb0Bv4=\n",
        "\n",
        "— countersign.example/ledger I1nvr8v56sc4lLvqjp+O6Sodow5X7Sm5+2HgOtO6guBbBMwTfX5gvWRjhpBRZkZLd1sZm7uJoOq0gI1G2ltKEEVLHgA=\n",
        "— witness.example/w1 /qOxhwAAAABrDMkAO6xY11d1drhg8sFW9/kRO5qjmtlj7TiTyQoYQD0zsRKOluygOicdWi5NX1M6/kcNL+N9GMvy09fgjXDvNXtqCA==\n",
    );
    let log_vkey =
        "countersign.example/ledger+2359efaf+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
    let note = Note::from_bytes(text.as_bytes()).unwrap();
    let (verified, _) = note
        .verify(&VerifierList::new(vec![
            Box::new(StandardVerifier::new(log_vkey).unwrap()),
            Box::new(CosignatureV1::new(
                WITNESS,
                pub_bytes(&LedgerKey::from_bytes(&[8; 32])),
            )),
        ]))
        .unwrap();
    assert_eq!(verified.len(), 2);
    let cp = tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap();
    let entry_hash =
        hex::decode("096fc04ae450e7a60cf9aa9ab4bbf45806b84f7e554899d24465608406304b3d").unwrap();
    assert_eq!(*cp.hash(), tlog_tiles::record_hash(&entry_hash));
}
