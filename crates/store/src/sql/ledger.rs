//! The ledger (I11): appending entries and re-signing the head in the caller's
//! transaction, reading pages, and the ledger signing key's bootstrap.

use super::{args, sql, Arg, Conn, SqlTx, R};
use crate::error::query;
use crate::records::CosignatureRecord;
use crate::rows::*;
use crate::time::to_text;
use crate::tx::LedgerTx;
use crate::StoreError;
use async_trait::async_trait;
use chrono::Utc;
use countersign_ledger::{chain_next, Digest, Entry, EntryDraft, Head, LedgerKey, SignedHead};

#[async_trait]
impl<C: Conn> LedgerTx for SqlTx<C> {
    async fn append(&mut self, draft: EntryDraft) -> R<Entry> {
        let mut entries = self.append_batch(vec![draft]).await?;
        entries.pop().ok_or(StoreError::Corrupt {
            column: "ledger",
            reason: "an append produced no entry".into(),
        })
    }

    /// Hot path (group commit): chains every draft, inserts them with one multi-row
    /// INSERT per 500 entries, and signs the head once.
    async fn append_batch(&mut self, drafts: Vec<EntryDraft>) -> R<Vec<Entry>> {
        let key = self.key.clone().ok_or(StoreError::Corrupt {
            column: "ledger",
            reason: "append on a read-only transaction".into(),
        })?;
        // Safe to read-then-write: writers are serialized (see each backend's `write`).
        let mut head = self.ledger_head().await?.map(|h| h.head());
        let mut out = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let entry = chain_next(head.as_ref(), draft).map_err(StoreError::Ledger)?;
            head = Some(Head {
                seq: entry.seq,
                hash: entry.hash.clone(),
            });
            out.push(entry);
        }
        let mut v = Vec::with_capacity(out.len() * 9);
        for e in &out {
            v.extend([
                Arg::Int(i64_of(e.seq)),
                Arg::Str(&e.at),
                Arg::Str(&e.actor),
                Arg::Str(&e.action),
                Arg::Str(&e.subject),
                Arg::String(to_json(&e.payload)),
                Arg::Str(e.payload_digest.as_str()),
                Arg::Str(e.prev_hash.as_str()),
                Arg::Str(e.hash.as_str()),
            ]);
        }
        let s = "INSERT INTO ledger_entries (seq, at, actor, action, subject, payload, payload_digest, prev_hash, hash)";
        self.insert_rows(s, 9, v, "ledger seq").await?;
        let Some(head) = head else {
            return Ok(out);
        };
        let signed = key.sign_head(&head);
        let s = sql!("INSERT INTO ledger_head (id, seq, hash, key_id, signature) VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, key_id = excluded.key_id, signature = excluded.signature");
        let v = args![
            i64_of(signed.seq),
            signed.hash.as_str(),
            &signed.key_id,
            &signed.signature
        ];
        self.exec(s, v, "ledger head").await?;
        Ok(out)
    }

    async fn ledger_page(&mut self, after: u64, limit: u32) -> R<Vec<Entry>> {
        let s = sql!("SELECT * FROM ledger_entries WHERE seq > ? ORDER BY seq LIMIT ?");
        self.all(s, args![i64_of(after), i64::from(limit)], entry)
            .await
    }

    async fn ledger_hashes(&mut self, after: u64, limit: u32) -> R<Vec<(u64, Digest)>> {
        let s = sql!("SELECT seq, hash FROM ledger_entries WHERE seq > ? ORDER BY seq LIMIT ?");
        self.all(s, args![i64_of(after), i64::from(limit)], seq_hash)
            .await
    }

    async fn ledger_by_subject(
        &mut self,
        subject: &str,
        before: Option<u64>,
        limit: u32,
    ) -> R<Vec<Entry>> {
        let s = sql!(
            "SELECT * FROM ledger_entries WHERE subject = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        );
        let before = before.map_or(i64::MAX, i64_of);
        self.all(s, args![subject, before, i64::from(limit)], entry)
            .await
    }

    async fn ledger_head(&mut self) -> R<Option<SignedHead>> {
        let s = sql!("SELECT seq, hash, key_id, signature FROM ledger_head WHERE id = 1");
        self.one(s, args![], signed_head).await
    }

    async fn ledger_count(&mut self) -> R<u64> {
        let s = sql!("SELECT COUNT(*) AS n FROM ledger_entries");
        Ok(self.one(s, args![], count).await?.unwrap_or(0))
    }

    async fn put_cosignature(&mut self, r: &CosignatureRecord) -> R<()> {
        let s = sql!("INSERT INTO ledger_cosignatures (witness, tree_size, root, line, cosigned_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (witness, tree_size) DO UPDATE SET root = excluded.root, line = excluded.line, cosigned_at = excluded.cosigned_at, recorded_at = excluded.recorded_at");
        let v = args![
            &r.witness,
            i64_of(r.tree_size),
            &r.root,
            &r.line,
            to_text(r.cosigned_at),
            to_text(r.recorded_at)
        ];
        self.exec(s, v, "ledger cosignature").await?;
        Ok(())
    }

    async fn cosignatures(&mut self, tree_size: u64) -> R<Vec<CosignatureRecord>> {
        let s = sql!("SELECT * FROM ledger_cosignatures WHERE tree_size = ? ORDER BY witness");
        self.all(s, args![i64_of(tree_size)], cosignature).await
    }

    async fn latest_cosigned_size(&mut self) -> R<Option<u64>> {
        let s =
            sql!("SELECT tree_size AS n FROM ledger_cosignatures ORDER BY tree_size DESC LIMIT 1");
        self.one(s, args![], count).await
    }
}

/// Loads the ledger signing key, creating it if there is none, in `tx` (which the
/// backend began so that concurrent starts wait for each other) and commits.
pub(crate) async fn load_or_create_key<C: Conn>(tx: C) -> R<LedgerKey> {
    let mut t = SqlTx {
        conn: tx,
        key: None,
    };
    // Oldest first, then by id, so every replica picks the same key.
    let s = sql!("SELECT secret_key FROM ledger_keys ORDER BY created_at, key_id LIMIT 1");
    let key = match t.one(s, args![], |r| r.text("secret_key")).await? {
        Some(hex_secret) => decode_secret(&hex_secret)?,
        None => {
            let key = LedgerKey::generate(&mut rand::rngs::OsRng);
            let public = key.public();
            let s = sql!("INSERT INTO ledger_keys (key_id, public_key, secret_key, created_at) VALUES (?, ?, ?, ?)");
            let v = args![
                public.key_id(),
                public.to_base64(),
                hex::encode(key.to_bytes()),
                to_text(Utc::now())
            ];
            t.exec(s, v, "ledger key").await?;
            key
        }
    };
    t.conn.finish().await.map_err(query("ledger key"))?;
    Ok(key)
}
