#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `countersign ledger verify --db` (I11): offline, straight from the database file;
//! exit 0 on an intact ledger, and on any edit, deletion, insertion or a removed
//! checkpoint it names the first bad entry and exits 3.

use chrono::{TimeZone, Utc};
use countersign_ledger::EntryDraft;
use std::process::Command;

fn verify(db: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["ledger", "verify", "--db", db])
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn ledger_of(db: &str, n: u32) {
    let store = countersign_store::open(db).await.unwrap();
    for i in 0..n {
        let mut tx = store.write().await.unwrap();
        tx.append(EntryDraft {
            at: Utc
                .with_ymd_and_hms(2026, 11, 25, 12, 0, i)
                .single()
                .unwrap(),
            actor: "usr_alice".into(),
            action: "test.step".into(),
            subject: format!("thing-{i}"),
            payload: serde_json::json!({"i": i}),
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}

async fn sql(db: &str, statement: &str) {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{db}"))
        .await
        .unwrap();
    sqlx::query(statement).execute(&mut c).await.unwrap();
}

#[tokio::test]
async fn i11_offline_verify_detects_tampering_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = |name: &str| dir.path().join(name).display().to_string();

    let db = fresh("intact.db");
    ledger_of(&db, 5).await;
    let (code, out) = verify(&db, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ledger OK: 5 entries"), "{out}");

    let (code, out) = verify(&db, &["--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["head_seq"], 5);

    // Edit: the first bad entry is named.
    let db = fresh("edited.db");
    ledger_of(&db, 5).await;
    sql(
        &db,
        "UPDATE ledger_entries SET actor = 'usr_mallory' WHERE seq = 3",
    )
    .await;
    let (code, out) = verify(&db, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("entry 3: hash does not match its contents"),
        "{out}"
    );

    // Deletion in the middle.
    let db = fresh("deleted.db");
    ledger_of(&db, 5).await;
    sql(&db, "DELETE FROM ledger_entries WHERE seq = 2").await;
    let (code, out) = verify(&db, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("entry 2: expected seq 2, found seq 3"),
        "{out}"
    );

    // The tail cut off: the signed checkpoint catches it.
    let db = fresh("truncated.db");
    ledger_of(&db, 5).await;
    sql(&db, "DELETE FROM ledger_entries WHERE seq = 5").await;
    let (code, out) = verify(&db, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("checkpoint at seq 5"), "{out}");

    // The checkpoint removed as well.
    sql(&db, "DELETE FROM ledger_head").await;
    let (code, out) = verify(&db, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("no signed checkpoint"), "{out}");

    // Reordering: two entries swap places.
    let db = fresh("swapped.db");
    ledger_of(&db, 5).await;
    sql(&db, "UPDATE ledger_entries SET seq = -1 WHERE seq = 2").await;
    sql(&db, "UPDATE ledger_entries SET seq = 2 WHERE seq = 3").await;
    sql(&db, "UPDATE ledger_entries SET seq = 3 WHERE seq = -1").await;
    let (code, out) = verify(&db, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("entry 2"), "{out}");

    // A pinned key that did not sign the checkpoint.
    let db = fresh("pinned.db");
    ledger_of(&db, 2).await;
    let other = countersign_ledger::LedgerKey::generate(&mut rand::rngs::OsRng)
        .public()
        .to_base64();
    // `=`: a base64url key may start with `-`, which would read as a flag.
    let (code, out) = verify(&db, &[&format!("--public-key={other}")]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("checkpoint at seq 2"), "{out}");

    // A database that is not there is an error, not a valid empty ledger.
    let (code, out) = verify(&fresh("missing.db"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no database at"), "{out}");
}
