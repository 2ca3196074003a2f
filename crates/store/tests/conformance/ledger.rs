//! The ledger (I11): appends chain and verify, the signed head, group commit,
//! concurrent writers; reopening and replicas sharing one key and one chain.

use crate::fixtures::*;
use crate::{all_entries, assert_ledger_verifies, TestDb};
use countersign_store::Store;
use std::sync::Arc;

conformance!(
    i11_ledger_appends_chain_and_verify,
    i11_ledger_head_signature_verifies,
    read_transaction_cannot_append,
    i11_concurrent_writers_form_one_chain,
    i11_append_batch_chains_and_signs_once,
    a_subjects_entries_page_newest_first,
    ledger_hashes_page_seq_and_hash_in_order,
    the_store_signs_checkpoints_with_the_ledger_key,
    cosignatures_are_kept_per_witness_and_tree_size,
);

database_tests!(
    reopen_loads_the_same_ledger_key,
    replicas_starting_together_share_one_key_and_one_chain,
    replicas_on_a_migrated_database_create_one_key,
);

async fn start_replicas_together(db: &TestDb) {
    const REPLICAS: usize = 4;
    const WRITES: u64 = 10;
    let opening: Vec<_> = (0..REPLICAS)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { countersign_store::open(&url).await.unwrap() })
        })
        .collect();
    let mut replicas = Vec::new();
    for o in opening {
        replicas.push(o.await.unwrap());
    }
    let key = replicas[0].ledger_public_key().to_base64();
    for r in &replicas {
        assert_eq!(r.ledger_public_key().to_base64(), key);
    }
    // Writers on every replica at once still build one chain.
    let tasks: Vec<_> = replicas
        .iter()
        .flat_map(|r| (0..WRITES).map(move |i| (r.clone(), i)))
        .map(|(store, i)| {
            tokio::spawn(async move {
                let mut tx = store.write().await.unwrap();
                tx.append(draft(i)).await.unwrap();
                tx.commit().await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for r in &replicas {
        assert_ledger_verifies(r, REPLICAS as u64 * WRITES).await;
    }
}

async fn i11_ledger_appends_chain_and_verify(store: Arc<dyn Store>) {
    assert_ledger_verifies(&store, 0).await;
    let mut appended = Vec::new();
    // Several entries per transaction and several transactions.
    for batch in 0..4u64 {
        let mut tx = store.write().await.unwrap();
        for i in 0..=batch {
            appended.push(tx.append(draft(batch * 10 + i)).await.unwrap());
        }
        // The transaction sees its own appends.
        assert_eq!(
            tx.ledger_head().await.unwrap().map(|h| h.seq),
            appended.last().map(|e| e.seq)
        );
        tx.commit().await.unwrap();
    }
    assert_eq!(appended.len(), 10);
    for (i, e) in appended.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        if i > 0 {
            assert_eq!(e.prev_hash, appended[i - 1].hash);
        }
    }
    assert_ledger_verifies(&store, 10).await;

    // Entries come back exactly as appended (time text, payload, digests).
    let mut tx = store.read().await.unwrap();
    assert_eq!(all_entries(&mut tx).await, appended);
    assert_eq!(tx.ledger_page(3, 2).await.unwrap(), appended[3..5].to_vec());
    assert!(tx.ledger_page(10, 100).await.unwrap().is_empty());
    assert_eq!(appended[0].at, "2026-11-25T03:04:05.123456Z");
}

async fn i11_ledger_head_signature_verifies(store: Arc<dyn Store>) {
    let mut tx = store.write().await.unwrap();
    let mut entry = None;
    for i in 0..3 {
        entry = Some(tx.append(draft(i)).await.unwrap());
    }
    tx.commit().await.unwrap();
    let entry = entry.unwrap();
    let mut tx = store.read().await.unwrap();
    let head = tx.ledger_head().await.unwrap().unwrap();
    let public = store.ledger_public_key();
    assert_eq!(head.key_id, public.key_id());
    assert_eq!(public.verify(&head).unwrap(), entry.head());
    // A head altered in storage no longer verifies.
    let mut forged = head.clone();
    forged.seq += 1;
    assert!(public.verify(&forged).is_err());
}

async fn read_transaction_cannot_append(store: Arc<dyn Store>) {
    let mut tx = store.read().await.unwrap();
    assert!(tx.append(draft(1)).await.is_err());
    drop(tx);
    assert_ledger_verifies(&store, 0).await;
}

async fn i11_concurrent_writers_form_one_chain(store: Arc<dyn Store>) {
    const WRITERS: u64 = 50;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.write().await.unwrap();
                let e = tx.append(draft(i)).await.unwrap();
                tx.commit().await.unwrap();
                e.seq
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=WRITERS).collect::<Vec<_>>());
    assert_ledger_verifies(&store, WRITERS).await;
}

async fn i11_append_batch_chains_and_signs_once(store: Arc<dyn Store>) {
    let mut tx = store.write().await.unwrap();
    tx.append(draft(0)).await.unwrap();
    let entries = tx
        .append_batch((1..=1200).map(draft).collect())
        .await
        .unwrap();
    // More entries than one multi-row INSERT carries: several statements, one chain.
    assert_eq!(entries.len(), 1200);
    assert_eq!(entries.last().unwrap().seq, 1201);
    assert!(entries.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    assert!(tx.append_batch(vec![]).await.unwrap().is_empty());
    tx.commit().await.unwrap();
    assert_ledger_verifies(&store, 1201).await;
}

async fn reopen_loads_the_same_ledger_key(db: Arc<TestDb>) {
    let first = countersign_store::open(&db.url).await.unwrap();
    let public = first.ledger_public_key().to_base64();
    let mut tx = first.write().await.unwrap();
    tx.append(draft(1)).await.unwrap();
    tx.commit().await.unwrap();
    drop(first);

    let again = countersign_store::open(&db.url).await.unwrap();
    assert_eq!(again.ledger_public_key().to_base64(), public);
    // The reopened store continues the same chain and signs with the same key.
    let mut tx = again.write().await.unwrap();
    assert_eq!(tx.append(draft(2)).await.unwrap().seq, 2);
    tx.commit().await.unwrap();
    assert_ledger_verifies(&again, 2).await;
}

/// Several server replicas start at once on a new database: one applies the
/// migrations, one creates the ledger key, all share them and build one chain.
async fn replicas_starting_together_share_one_key_and_one_chain(db: Arc<TestDb>) {
    start_replicas_together(&db).await;
}

/// As above on a database already migrated (`countersign migrate`), so the replicas
/// race on creating the ledger key alone.
async fn replicas_on_a_migrated_database_create_one_key(db: Arc<TestDb>) {
    countersign_store::migrate(&db.url).await.unwrap();
    start_replicas_together(&db).await;
}

async fn a_subjects_entries_page_newest_first(store: Arc<dyn Store>) {
    let mut tx = store.write().await.unwrap();
    for i in 0..9 {
        let mut d = draft(i);
        d.subject = format!("release:r{}", i % 3);
        tx.append(d).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    let seqs = |v: Vec<countersign_ledger::Entry>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
    // Entries 1, 4, 7 are r0's (seq is i + 1).
    let first = tx.ledger_by_subject("release:r0", None, 2).await.unwrap();
    assert!(first.iter().all(|e| e.subject == "release:r0"));
    assert_eq!(seqs(first), vec![7, 4]);
    let next = tx
        .ledger_by_subject("release:r0", Some(4), 2)
        .await
        .unwrap();
    assert_eq!(seqs(next), vec![1]);
    assert!(tx
        .ledger_by_subject("release:none", None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn ledger_hashes_page_seq_and_hash_in_order(store: Arc<dyn Store>) {
    let mut tx = store.write().await.unwrap();
    for i in 0..5 {
        tx.append(draft(i)).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    let entries = tx.ledger_page(0, 100).await.unwrap();
    let all = tx.ledger_hashes(0, 100).await.unwrap();
    let expected: Vec<_> = entries.iter().map(|e| (e.seq, e.hash.clone())).collect();
    assert_eq!(all, expected);
    let page = tx.ledger_hashes(2, 2).await.unwrap();
    assert_eq!(page, expected[2..4].to_vec());
    assert!(tx.ledger_hashes(5, 10).await.unwrap().is_empty());
}

async fn the_store_signs_checkpoints_with_the_ledger_key(store: Arc<dyn Store>) {
    use countersign_ledger::{open_checkpoint, Checkpoint, NoteVerifierKey};
    let cp = Checkpoint::new("countersign.test/ledger", 3, [9; 32]);
    let note = store
        .sign_checkpoint(&cp, "countersign.test/ledger")
        .unwrap();
    let vkey =
        NoteVerifierKey::ed25519("countersign.test/ledger", &store.ledger_public_key()).unwrap();
    assert_eq!(open_checkpoint(&note, &vkey).unwrap(), cp);
}

async fn cosignatures_are_kept_per_witness_and_tree_size(store: Arc<dyn Store>) {
    use countersign_store::records::CosignatureRecord;
    let at = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 1, 0, 0, 0).unwrap();
    let rec = |witness: &str, size: u64, line: &str| CosignatureRecord {
        witness: witness.into(),
        tree_size: size,
        root: format!("root-{size}"),
        line: line.into(),
        cosigned_at: at,
        recorded_at: at,
    };
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.latest_cosigned_size().await.unwrap(), None);
    drop(tx);
    let mut tx = store.write().await.unwrap();
    tx.put_cosignature(&rec("w1", 5, "a")).await.unwrap();
    tx.put_cosignature(&rec("w2", 5, "b")).await.unwrap();
    tx.put_cosignature(&rec("w1", 9, "c")).await.unwrap();
    // The same witness again at the same size: the newer one is kept.
    tx.put_cosignature(&rec("w1", 5, "a2")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.cosignatures(5).await.unwrap(),
        vec![rec("w1", 5, "a2"), rec("w2", 5, "b")]
    );
    assert_eq!(tx.cosignatures(9).await.unwrap(), vec![rec("w1", 9, "c")]);
    assert!(tx.cosignatures(7).await.unwrap().is_empty());
    assert_eq!(tx.latest_cosigned_size().await.unwrap(), Some(9));
}
