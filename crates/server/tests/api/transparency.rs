//! I11 ledger as a transparency log (issue 14): the served checkpoint is a C2SP signed
//! note that an independent implementation (`signed_note`) verifies with the served
//! vkey; every inclusion and consistency proof the API serves verifies with the RFC
//! 9162 algorithms against the checkpoints; bad sizes are problems naming them; the
//! reads are public and write nothing.

use crate::harness::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use countersign_ledger::{
    entry_leaf_hash, open_checkpoint, verify_consistency, verify_inclusion, Checkpoint, Hash,
    NoteVerifierKey, SignedNote,
};
use reqwest::{Method, StatusCode};
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
