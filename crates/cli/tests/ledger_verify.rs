#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `countersign ledger verify --db` (I11): offline, straight from the database file;
//! exit 0 on an intact ledger, and on any edit, deletion, insertion or a removed
//! checkpoint it names the first bad entry and exits 3. With `--checkpoint` (a note
//! saved earlier with `ledger checkpoint`), a rollback to an older, genuinely signed
//! state is detected too, on SQLite and on PostgreSQL when `COUNTERSIGN_TEST_POSTGRES`
//! is set; `ledger prove` and `ledger consistency` verify the server's proofs.

mod support;

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
    if db.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(db).await.unwrap();
        sqlx::query(statement).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{db}"))
            .await
            .unwrap();
        sqlx::query(statement).execute(&mut c).await.unwrap();
    }
}

/// The signed head row as it is now: seq, hash, key id, signature.
async fn head_row(db: &str) -> (i64, String, String, String) {
    use sqlx::{Connection, Row};
    let s = "SELECT seq, hash, key_id, signature FROM ledger_head WHERE id = 1";
    macro_rules! read {
        ($row:expr) => {{
            let r = $row;
            (r.get(0), r.get(1), r.get(2), r.get(3))
        }};
    }
    if db.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(db).await.unwrap();
        read!(sqlx::query(s).fetch_one(&mut c).await.unwrap())
    } else {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{db}"))
            .await
            .unwrap();
        read!(sqlx::query(s).fetch_one(&mut c).await.unwrap())
    }
}

#[tokio::test]
async fn i11_a_rollback_to_an_older_signed_head_is_caught_by_a_saved_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("countersign.db").display().to_string();
    rollback_attack(dir.path(), &sqlite).await;
    if let Ok(base) = std::env::var("COUNTERSIGN_TEST_POSTGRES") {
        let dir = tempfile::tempdir().unwrap();
        let db = countersign_store::testing::fresh_postgres_database(&base)
            .await
            .unwrap();
        rollback_attack(dir.path(), &db).await;
    }
}

async fn rollback_attack(dir: &std::path::Path, db: &str) {
    let (server, url) = support::serve_demo_with(dir, &["--db", db]);
    let env = support::demo_env(dir);
    let admin = support::demo_var(&env, "CS_ADMIN");
    let cli = support::Cli {
        dir,
        server: url,
        env: vec![],
    };
    // The genuinely signed head of the log as it is now: what the attacker keeps.
    let (old_seq, old_hash, old_key, old_sig) = head_row(db).await;
    for who in ["eve", "fay", "gus"] {
        cli.ok(
            &admin,
            &[
                "user",
                "create",
                "--name",
                who,
                "--email",
                &format!("{who}@example.com"),
                "--role",
                "legal",
            ],
        );
    }
    // Anyone may save the checkpoint: no token needed.
    let out = cli.ok("", &["ledger", "checkpoint", "--out", "saved.checkpoint"]);
    let size: i64 = out
        .split("at size ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(size >= old_seq + 3, "three users were created since: {out}");
    let vkey = out
        .split("signed by ")
        .nth(1)
        .and_then(|rest| rest.split(", saved").next())
        .unwrap()
        .to_owned();
    assert!(vkey.starts_with("countersign/ledger+"), "{out}");
    let note = std::fs::read_to_string(dir.join("saved.checkpoint")).unwrap();
    assert!(
        note.starts_with(&format!("countersign/ledger\n{size}\n")),
        "{note}"
    );

    // Proofs from the running server, verified by the CLI against the checkpoint.
    let out = cli.ok("", &["ledger", "prove", "--entry", "1"]);
    assert!(out.contains("inclusion proof verified"), "{out}");
    let out = cli.ok(
        "",
        &[
            "ledger",
            "prove",
            "--entry",
            "2",
            "--size",
            &old_seq.to_string(),
        ],
    );
    assert!(out.contains(&format!("of size {old_seq}")), "{out}");
    let out = cli.ok(
        "",
        &["ledger", "consistency", "--from", &old_seq.to_string()],
    );
    assert!(out.contains("consistency proof verified"), "{out}");
    let (code, out) = cli.run("", &["ledger", "prove", "--entry", "0"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("entry 0"), "{out}");
    drop(server);

    // Before the attack the database extends the checkpoint.
    let checkpoint = dir.join("saved.checkpoint").display().to_string();
    let (code, out) = verify(db, &["--checkpoint", &checkpoint]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("checkpoint of size {size}")), "{out}");

    // The attack: the last entries deleted, the older signed head put back.
    sql(
        db,
        &format!("DELETE FROM ledger_entries WHERE seq > {old_seq}"),
    )
    .await;
    sql(
        db,
        &format!(
            "UPDATE ledger_head SET seq = {old_seq}, hash = '{old_hash}', key_id = '{old_key}', signature = '{old_sig}' WHERE id = 1"
        ),
    )
    .await;
    // The chain and its signed head alone cannot see it...
    let (code, out) = verify(db, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("ledger OK: {old_seq} entries")),
        "{out}"
    );
    // ...the saved checkpoint does, with the key from the database or pinned.
    for extra in [vec![], vec![format!("--log-key={vkey}")]] {
        let mut args = vec!["--checkpoint", &checkpoint];
        args.extend(extra.iter().map(String::as_str));
        let (code, out) = verify(db, &args);
        assert_eq!(code, 3, "{out}");
        assert!(
            out.contains(&format!(
                "the ledger has {old_seq} entries, fewer than the checkpoint's {size}: rolled back"
            )),
            "{out}"
        );
    }
    // A checkpoint signed by another key is refused outright.
    let other = countersign_ledger::LedgerKey::generate(&mut rand::rngs::OsRng);
    let other = countersign_ledger::NoteVerifierKey::ed25519("countersign/ledger", &other.public())
        .unwrap();
    let (code, out) = verify(
        db,
        &["--checkpoint", &checkpoint, &format!("--log-key={other}")],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not signed by the log key"), "{out}");
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

#[tokio::test]
async fn i11_a_witness_cosigns_extensions_and_alerts_on_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("countersign.db").display().to_string();
    witness_scenario(dir.path(), &sqlite).await;
    if let Ok(base) = std::env::var("COUNTERSIGN_TEST_POSTGRES") {
        let dir = tempfile::tempdir().unwrap();
        let db = countersign_store::testing::fresh_postgres_database(&base)
            .await
            .unwrap();
        witness_scenario(dir.path(), &db).await;
    }
}

async fn witness_scenario(dir: &std::path::Path, db: &str) {
    let (server, url) = support::serve_demo_with(dir, &["--db", db]);
    let env = support::demo_env(dir);
    let admin = support::demo_var(&env, "CS_ADMIN");
    let cli = support::Cli {
        dir,
        server: url,
        env: vec![],
    };
    let state = dir.join("witness");
    let state_arg = state.display().to_string();
    let witness = [
        "ledger",
        "witness",
        "--state",
        &state_arg,
        "--name",
        "witness.test/w1",
    ];

    // First run: a key (0600), the log key pinned, the first checkpoint cosigned.
    let out = cli.ok(&admin, &witness);
    assert!(
        out.contains("witness key created: witness.test/w1+"),
        "{out}"
    );
    assert!(out.contains("log key pinned: countersign/ledger+"), "{out}");
    assert!(out.contains("(first checkpoint seen)"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join("witness.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let first: i64 = std::fs::read_to_string(state.join("checkpoint"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // The head after the cosignature's own entry: what the attacker will put back.
    let (old_seq, old_hash, old_key, old_sig) = head_row(db).await;
    assert_eq!(old_seq, first + 1, "storing the cosignature is one entry");

    // The log grows; the witness checks the extension and cosigns again.
    cli.ok(
        &admin,
        &[
            "user",
            "create",
            "--name",
            "hal",
            "--email",
            "hal@example.com",
            "--role",
            "legal",
        ],
    );
    let out = cli.ok(&admin, &witness);
    assert!(
        out.contains(&format!("(consistent with size {first} seen before)")),
        "{out}"
    );
    let seen = std::fs::read_to_string(state.join("checkpoint")).unwrap();
    let size: i64 = seen.lines().nth(1).unwrap().parse().unwrap();
    assert!(size > old_seq, "{seen}");
    assert!(seen.contains("— witness.test/w1 "), "{seen}");
    assert!(seen.contains("— countersign/ledger "), "{seen}");
    drop(server);

    // The rollback: the tail deleted, the older signed head put back, served again.
    sql(
        db,
        &format!("DELETE FROM ledger_entries WHERE seq > {old_seq}"),
    )
    .await;
    sql(
        db,
        &format!(
            "UPDATE ledger_head SET seq = {old_seq}, hash = '{old_hash}', key_id = '{old_key}', signature = '{old_sig}' WHERE id = 1"
        ),
    )
    .await;
    let (server, url) = support::serve_demo_with(dir, &["--db", db]);
    let cli = support::Cli {
        dir,
        server: url,
        env: vec![],
    };
    let (code, out) = cli.run(&admin, &witness);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("WITNESS ALERT"), "{out}");
    assert!(
        out.contains(&format!("size {size}")) && out.contains(&format!("size {old_seq}")),
        "names the sizes seen and served: {out}"
    );
    assert_eq!(
        std::fs::read_to_string(state.join("checkpoint")).unwrap(),
        seen,
        "nothing new was cosigned"
    );
    drop(server);
}
