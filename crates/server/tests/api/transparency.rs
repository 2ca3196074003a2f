//! I11 ledger as a transparency log (issue 14): the served checkpoint is a C2SP signed
//! note that an independent implementation (`signed_note`) verifies with the served
//! vkey; every inclusion and consistency proof the API serves verifies with the RFC
//! 9162 algorithms against the checkpoints; bad sizes are problems naming them; the
//! reads are public and write nothing. A witness's cosignature of one of the log's
//! checkpoints is stored with one ledger entry and served with that checkpoint; a
//! cosignature of another log's or a forked checkpoint, or one that does not verify,
//! is refused and writes nothing.

use crate::harness::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use countersign_ledger::{
    entry_leaf_hash, open_checkpoint, sign_checkpoint, verify_consistency, verify_inclusion,
    Checkpoint, Hash, LedgerKey, NoteVerifierKey, SignedNote, Witness,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use serde_json::Value;

fn hash(v: &Value) -> Hash {
    let bytes = STANDARD.decode(v.as_str().expect("a base64 hash")).unwrap();
    bytes.try_into().expect("32 bytes")
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().expect("a proof").iter().map(hash).collect()
}

async fn public_get(h: &Harness, path: &str) -> Reply {
    h.send(h.request(Method::GET, path)).await
}

/// The log's key as served, and the current checkpoint verified with it, both by us
/// and by `signed_note`.
async fn checkpoint(h: &Harness) -> (Checkpoint, String) {
    let keys = public_get(h, "/v1/ledger/keys").await;
    assert_eq!(keys.status, StatusCode::OK, "{:?}", keys.body);
    let vkey = keys.body["vkey"].as_str().unwrap().to_owned();
    assert_eq!(keys.body["origin"], "countersign/ledger");
    assert_eq!(
        keys.body["public_key"],
        h.store.ledger_public_key().to_base64()
    );
    let r = public_get(h, "/v1/ledger/checkpoint").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "text/plain; charset=utf-8");
    let text = String::from_utf8(r.bytes).unwrap();

    let theirs = signed_note::Note::from_bytes(text.as_bytes()).unwrap();
    let verifier = signed_note::StandardVerifier::new(&vkey).unwrap();
    let (verified, _) = theirs
        .verify(&signed_note::VerifierList::new(vec![Box::new(verifier)]))
        .expect("signed_note verifies the served checkpoint");
    assert_eq!(verified.len(), 1);

    let note = SignedNote::parse(&text).unwrap();
    let cp = open_checkpoint(&note, &NoteVerifierKey::parse(&vkey).unwrap()).unwrap();
    (cp, text)
}

#[tokio::test]
async fn i11_checkpoint_and_proofs_verify_independently() {
    for backend in backends() {
        i11_checkpoint_and_proofs_verify_independently_on(backend).await;
    }
}

async fn i11_checkpoint_and_proofs_verify_independently_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let (first, first_text) = checkpoint(&h).await;
    assert_eq!(first.size, h.ledger_count().await);
    // Signing is deterministic: the same tree gives the same note.
    assert_eq!(checkpoint(&h).await.1, first_text);

    for _ in 0..5 {
        h.medium(&cast).await;
    }
    let (second, _) = checkpoint(&h).await;
    let entries = h.ledger_after(0).await;
    assert_eq!(second.size, entries.len() as u64);
    assert!(second.size > first.size);

    // Every entry's inclusion in the current tree and in the first one it is in.
    let before = h.ledger_count().await;
    for e in &entries {
        for asked in [None, Some(first.size.max(e.seq)), Some(e.seq)] {
            let path = match asked {
                None => format!("/v1/ledger/proof/inclusion?entry={}", e.seq),
                Some(s) => format!("/v1/ledger/proof/inclusion?entry={}&size={s}", e.seq),
            };
            let r = public_get(&h, &path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
            let b = &r.body;
            let size = b["size"].as_u64().unwrap();
            assert_eq!(size, asked.unwrap_or(second.size));
            assert_eq!(b["entry"].as_u64(), Some(e.seq));
            assert_eq!(b["leaf_index"].as_u64(), Some(e.seq - 1));
            assert_eq!(b["entry_hash"].as_str(), Some(e.hash.as_str()));
            let leaf = entry_leaf_hash(&e.hash).unwrap();
            assert_eq!(hash(&b["leaf_hash"]), leaf);
            let root = hash(&b["root"]);
            verify_inclusion(e.seq - 1, size, &leaf, &hashes(&b["proof"]), &root).unwrap();
            if size == second.size {
                assert_eq!(root, second.root);
            }
            if size == first.size {
                assert_eq!(root, first.root);
            }
        }
    }

    // Consistency from the first checkpoint to the second, and between any two sizes.
    let r = public_get(
        &h,
        &format!("/v1/ledger/proof/consistency?from={}", first.size),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["to"].as_u64(), Some(second.size));
    assert_eq!(hash(&r.body["from_root"]), first.root);
    assert_eq!(hash(&r.body["to_root"]), second.root);
    verify_consistency(
        first.size,
        second.size,
        &first.root,
        &second.root,
        &hashes(&r.body["proof"]),
    )
    .unwrap();
    for from in 1..=second.size {
        for to in [from, (from + 3).min(second.size), second.size] {
            let r = public_get(
                &h,
                &format!("/v1/ledger/proof/consistency?from={from}&to={to}"),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{from}..{to}: {:?}", r.body);
            verify_consistency(
                from,
                to,
                &hash(&r.body["from_root"]),
                &hash(&r.body["to_root"]),
                &hashes(&r.body["proof"]),
            )
            .unwrap_or_else(|e| panic!("{from}..{to}: {e}"));
        }
    }
    assert_eq!(h.ledger_count().await, before, "proofs write nothing");
}

#[tokio::test]
async fn i12_bad_tree_sizes_are_problems_naming_the_sizes() {
    let h = Harness::start_on(Backend::Sqlite).await;
    h.cast().await;
    let n = h.ledger_count().await;
    assert!(n >= 2, "the cast wrote entries");
    let cases: Vec<(String, String)> = vec![
        (
            "/v1/ledger/proof/inclusion?entry=0".into(),
            "entry 0".into(),
        ),
        (
            format!("/v1/ledger/proof/inclusion?entry={}", n + 1),
            format!("entry {}", n + 1),
        ),
        (
            format!("/v1/ledger/proof/inclusion?entry=1&size={}", n + 5),
            format!("tree size {}", n + 5),
        ),
        (
            "/v1/ledger/proof/inclusion?entry=2&size=1".into(),
            "entry 2".into(),
        ),
        (
            "/v1/ledger/proof/consistency?from=0".into(),
            "from size 0".into(),
        ),
        (
            "/v1/ledger/proof/consistency?from=2&to=1".into(),
            "from size 2".into(),
        ),
        (
            format!("/v1/ledger/proof/consistency?from=1&to={}", n + 1),
            format!("tree size {}", n + 1),
        ),
    ];
    for (path, names) in cases {
        let r = public_get(&h, &path).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-tree-size");
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(&names), "{path}: {detail}");
    }
    let r = public_get(&h, "/v1/ledger/proof/inclusion?entry=x").await;
    r.assert_problem(StatusCode::BAD_REQUEST, "invalid-query");
    let r = public_get(&h, "/v1/ledger/proof/consistency").await;
    r.assert_problem(StatusCode::BAD_REQUEST, "invalid-query");
}

#[tokio::test]
async fn i11_witness_cosignatures_are_checked_stored_and_served() {
    for backend in backends() {
        i11_witness_cosignatures_are_checked_stored_and_served_on(backend).await;
    }
}

async fn i11_witness_cosignatures_are_checked_stored_and_served_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let compliance = h.user("Auditor", &["compliance"]).await;
    let (cp, text) = checkpoint(&h).await;
    let log_vkey = NoteVerifierKey::parse(
        public_get(&h, "/v1/ledger/keys").await.body["vkey"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let witness = Witness {
        name: "witness.test/w1".into(),
        key: LedgerKey::from_bytes(&[8; 32]),
        log_key: log_vkey.clone(),
    };
    let wkey = NoteVerifierKey::cosigner(&witness.name, &witness.key.public()).unwrap();
    let note = SignedNote::parse(&text).unwrap();
    let cosigned = witness.cosign(None, &note, &[], 1_796_000_000).unwrap();

    // Refused, writing nothing: a roleless person, a forged cosignature, a forked
    // checkpoint signed by another key, a size the log never reached.
    let nobody = h.user("Nobody", &[]).await;
    let before = h.ledger_count().await;
    let body = json!({"note": cosigned.note.to_string(), "witness": wkey.to_string()});
    let (status, _) = h.post(&nobody, "/v1/ledger/cosignatures", &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other = NoteVerifierKey::cosigner(&witness.name, &LedgerKey::from_bytes(&[9; 32]).public())
        .unwrap();
    let bad = json!({"note": cosigned.note.to_string(), "witness": other.to_string()});
    let r = h
        .post_full(&compliance, "/v1/ledger/cosignatures", &bad)
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-cosignature");
    let forged_log = LedgerKey::from_bytes(&[3; 32]);
    let fork = Checkpoint::new(cp.origin.clone(), cp.size, [7; 32]);
    let forked = sign_checkpoint(&fork, &cp.origin, &forged_log).unwrap();
    let mut forked_witness = witness.clone();
    forked_witness.log_key = NoteVerifierKey::ed25519(&cp.origin, &forged_log.public()).unwrap();
    let forked = forked_witness
        .cosign(None, &forked, &[], 1_796_000_000)
        .unwrap();
    let r = h
        .post_full(
            &compliance,
            "/v1/ledger/cosignatures",
            &json!({"note": forked.note.to_string(), "witness": wkey.to_string()}),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-cosignature");
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("not a checkpoint signed by this log"));
    assert_eq!(h.ledger_count().await, before, "refusals write nothing");

    // Accepted: one entry, and the checkpoint of that size is served with it.
    let r = h
        .post_full(&compliance, "/v1/ledger/cosignatures", &body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["tree_size"].as_u64(), Some(cp.size));
    h.assert_one_entry(before, "ledger.cosign").await;
    h.medium(&cast).await; // the log moves on
    let r = public_get(&h, &format!("/v1/ledger/checkpoint?size={}", cp.size)).await;
    assert_eq!(r.status, StatusCode::OK);
    let served = SignedNote::parse(&String::from_utf8(r.bytes).unwrap()).unwrap();
    assert_eq!(
        served, cosigned.note,
        "the log's note with the witness's cosignature"
    );
    let verified = served.verify(&[log_vkey.clone(), wkey.clone()]).unwrap();
    assert_eq!(verified.len(), 2);
    // An independent implementation verifies the served note: `signed_note` with its
    // own Ed25519 verifier for the log, and a `cosignature/v1` verifier written from
    // the C2SP text for the witness.
    let theirs = signed_note::Note::from_bytes(served.to_string().as_bytes()).unwrap();
    let v = signed_note::StandardVerifier::new(&log_vkey.to_string()).unwrap();
    let w = CosignatureV1::new(&witness.name, pub_bytes(&witness.key));
    let (verified, unverified) = theirs
        .verify(&signed_note::VerifierList::new(vec![
            Box::new(v),
            Box::new(w),
        ]))
        .unwrap();
    assert_eq!(
        verified.len(),
        2,
        "the log's signature and the witness's cosignature"
    );
    assert!(unverified.is_empty());
    // The current checkpoint is a later size, not cosigned yet.
    let (now, now_text) = checkpoint(&h).await;
    assert!(now.size > cp.size);
    assert_eq!(SignedNote::parse(&now_text).unwrap().signatures().len(), 1);
    let r = public_get(&h, &format!("/v1/ledger/checkpoint?size={}", now.size + 1)).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-tree-size");
}

/// `tlog_tiles`'s tile reader over the tiles fetched from the server.
struct Fetched(std::collections::HashMap<String, Vec<u8>>);

impl tlog_tiles::TileReader for Fetched {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                let path = t.path().replacen("tile/8/", "tile/", 1);
                self.0
                    .get(&path)
                    .cloned()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }

    fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
}

#[tokio::test]
async fn i11_the_log_is_served_as_tiles_an_independent_client_reads() {
    let h = Harness::start_on(Backend::Sqlite).await;
    let mut tx = h.store.write().await.unwrap();
    let drafts = (0..600)
        .map(|i| countersign_ledger::EntryDraft {
            at: h.now(),
            actor: "usr_tiles".into(),
            action: "test.tile".into(),
            subject: format!("thing-{i}"),
            payload: json!({ "i": i }),
        })
        .collect();
    tx.append_batch(drafts).await.unwrap();
    tx.commit().await.unwrap();
    let (cp, _) = checkpoint(&h).await;
    assert!(cp.size >= 600);

    let mut fetched = std::collections::HashMap::new();
    for t in countersign_ledger::tiles_for_size(cp.size) {
        let path = t.path();
        let r = public_get(&h, &format!("/ledger/{path}")).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let cache = r.headers["cache-control"].to_str().unwrap().to_owned();
        if t.width == 256 {
            assert_eq!(cache, "public, max-age=31536000, immutable", "{path}");
        } else {
            assert!(!cache.contains("immutable"), "{path}: {cache}");
        }
        assert_eq!(r.bytes.len(), t.len_bytes(), "{path}");
        fetched.insert(path, r.bytes);
    }
    let fetched = Fetched(fetched);
    let reader = tlog_tiles::TileHashReader::new(cp.size, tlog_tiles::Hash(cp.root), &fetched);
    assert_eq!(
        tlog_tiles::tree_hash(cp.size, &reader).unwrap().0,
        cp.root,
        "the tiles authenticate against the signed root"
    );
    for index in [0, 255, 256, 511, cp.size - 1] {
        let theirs = tlog_tiles::prove_record(cp.size, index, &reader).unwrap();
        let r = public_get(
            &h,
            &format!("/v1/ledger/proof/inclusion?entry={}", index + 1),
        )
        .await;
        let ours: Vec<Hash> = hashes(&r.body["proof"]);
        assert_eq!(theirs.iter().map(|h| h.0).collect::<Vec<_>>(), ours);
    }

    // Entry bundles hold each entry's hash, so a client rebuilds the leaves.
    let entries = h.ledger_after(0).await;
    for b in countersign_ledger::bundles_for_size(cp.size) {
        let r = public_get(&h, &format!("/ledger/{}", b.path())).await;
        assert_eq!(r.status, StatusCode::OK, "{}", b.path());
        let parsed = countersign_ledger::parse_entry_bundle(&r.bytes).unwrap();
        assert_eq!(parsed.len(), usize::from(b.width));
        for (i, data) in parsed.iter().enumerate() {
            let e = &entries[b.index as usize * 256 + i];
            assert_eq!(
                tlog_tiles::record_hash(data).0,
                entry_leaf_hash(&e.hash).unwrap()
            );
        }
    }

    // Tiles the tree has not completed, and paths that are not tiles, do not exist.
    let beyond = cp.size / 256 + 1;
    for path in [
        format!("/ledger/tile/0/{beyond:03}"),
        "/ledger/tile/0/000.p/0".to_owned(),
        "/ledger/tile/2/000".to_owned(),
        "/ledger/tile/entries/009".to_owned(),
        "/ledger/tile/nope".to_owned(),
    ] {
        let r = public_get(&h, &path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
}

fn pub_bytes(key: &LedgerKey) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(&key.to_bytes())
        .verifying_key()
        .to_bytes()
}

/// A `cosignature/v1` verifier written from the C2SP tlog-cosignature text alone, on
/// `signed_note`'s key id function, note parsing and verifier lookup.
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
