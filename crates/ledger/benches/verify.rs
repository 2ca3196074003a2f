//! `ledger verify` speed: entries per second through `Verifier::push_raw` on a 1M-entry
//! log, beside raw SHA-256 over the same number of entry-preimage-sized inputs (the
//! floor any verifier pays), the `Entry` path, and Merkle append and proof rates.
//!
//! Run: `cargo bench -p countersign-ledger --bench verify`. After criterion's groups a
//! summary line per figure is written to stderr (one timed pass each, best of three).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use countersign_core::canonical::to_canonical_json;
use countersign_ledger::{
    chain_next, consistency_proof, entry_leaf_hash, inclusion_proof, root_at, verify_consistency,
    verify_inclusion, Entry, EntryDraft, MemoryTree, RawEntry, Tree, Verifier,
};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use sha2::{Digest as _, Sha256};

const N: usize = 1_000_000;
/// The `Entry` path is much slower; it is measured on a prefix.
const N_ENTRY: usize = 100_000;

/// One stored row, as read back from storage: its text fields are ranges of one
/// arena, as rows of a page or an export file sit next to each other in memory.
struct Row {
    seq: u64,
    /// at, actor, action, subject, payload (canonical JSON), payload_digest, prev_hash, hash.
    fields: [std::ops::Range<usize>; 8],
}

impl Row {
    fn raw<'a>(&self, arena: &'a str) -> RawEntry<'a> {
        let f = |i: usize| &arena[self.fields[i].clone()];
        RawEntry {
            seq: self.seq,
            at: f(0),
            actor: f(1),
            action: f(2),
            subject: f(3),
            payload_json: f(4),
            payload_digest: f(5),
            prev_hash: f(6),
            hash: f(7),
        }
    }

    /// The length of the entry-hash preimage of this row.
    fn preimage_len(&self) -> usize {
        let lens = [0, 1, 2, 3, 5, 6].map(|i| self.fields[i].len());
        b"countersign-ledger-v1\0".len()
            + 8
            + self.seq.to_string().len()
            + lens.iter().map(|l| 8 + l).sum::<usize>()
    }
}

struct Log {
    arena: String,
    rows: Vec<Row>,
    entries: Vec<Entry>,
    /// The mean entry-hash preimage length, for the raw SHA-256 baseline.
    preimage_len: usize,
    tree: MemoryTree,
}

fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let start = Instant::now();
        let base = Utc.with_ymd_and_hms(2026, 11, 25, 3, 4, 5).unwrap();
        let mut rows = Vec::with_capacity(N);
        let mut arena = String::with_capacity(N * 400);
        let mut entries = Vec::with_capacity(N_ENTRY);
        let mut head = None;
        for i in 0..N {
            let draft = EntryDraft {
                at: base + chrono::Duration::microseconds(i as i64 * 1_337),
                actor: format!("user:u{}", i % 97),
                action: ["review.submit", "release.decide", "grant.approve"][i % 3].into(),
                subject: format!("release:r{}", i / 10),
                payload: serde_json::json!({
                    "release": format!("r{}", i / 10),
                    "revision": i % 7,
                    "verdict": "approve",
                    "conditions": ["monitoring", "rollback plan"],
                }),
            };
            let e = chain_next(head.as_ref(), draft).unwrap();
            head = Some(e.head());
            let payload = String::from_utf8(to_canonical_json(&e.payload).unwrap()).unwrap();
            let texts = [
                e.at.as_str(),
                &e.actor,
                &e.action,
                &e.subject,
                &payload,
                e.payload_digest.as_str(),
                e.prev_hash.as_str(),
                e.hash.as_str(),
            ];
            let fields = texts.map(|t| {
                let start = arena.len();
                arena.push_str(t);
                start..arena.len()
            });
            rows.push(Row { seq: e.seq, fields });
            if i < N_ENTRY {
                entries.push(e);
            }
        }
        let preimage_len = rows.iter().map(Row::preimage_len).sum::<usize>() / N;
        let tree = MemoryTree::from_leaves(
            rows.iter()
                .map(|r| entry_leaf_hash(&r.raw(&arena).hash.parse().unwrap()).unwrap()),
        );
        eprintln!(
            "built a {N}-entry log in {:.1} s (mean preimage {preimage_len} bytes)",
            start.elapsed().as_secs_f64()
        );
        Log {
            arena,
            rows,
            entries,
            preimage_len,
            tree,
        }
    })
}

fn verify_raw(log: &Log) -> u64 {
    let mut v = Verifier::new();
    for r in &log.rows {
        v.push_raw(&r.raw(&log.arena)).unwrap();
    }
    v.finish(None).unwrap().entries
}

fn verify_entries(entries: &[Entry]) -> u64 {
    let mut v = Verifier::new();
    for e in entries {
        v.push(e).unwrap();
    }
    v.finish(None).unwrap().entries
}

fn sha256_baseline(inputs: &[u8], len: usize, count: usize) -> u8 {
    let mut acc = 0u8;
    for i in 0..count {
        let start = (i * 7) % (inputs.len() - len);
        let d = Sha256::digest(&inputs[start..start + len]);
        acc ^= d[0];
    }
    acc
}

fn merkle_append(rows: &Log) -> [u8; 32] {
    let mut t = Tree::new();
    for leaf in rows.tree.leaves() {
        t.push(*leaf);
    }
    t.root()
}

fn bench(c: &mut Criterion) {
    let log = log();
    let inputs = vec![0x5au8; 64 * 1024];

    let mut g = c.benchmark_group("verify");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(BenchmarkId::new("push_raw", N), |b| {
        b.iter(|| black_box(verify_raw(log)))
    });
    g.bench_function(BenchmarkId::new("sha256_preimage_sized", N), |b| {
        b.iter(|| black_box(sha256_baseline(&inputs, log.preimage_len, N)))
    });
    g.throughput(Throughput::Elements(N_ENTRY as u64));
    g.bench_function(BenchmarkId::new("push_entry", N_ENTRY), |b| {
        b.iter(|| black_box(verify_entries(&log.entries)))
    });
    g.finish();

    let mut g = c.benchmark_group("merkle");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(BenchmarkId::new("tree_append", N), |b| {
        b.iter(|| black_box(merkle_append(log)))
    });
    g.throughput(Throughput::Elements(1));
    let size = N as u64;
    let root = log.tree.root();
    g.bench_function("inclusion_prove_and_verify_1M", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = (i + 7_919) % size;
            let p = inclusion_proof(&log.tree, i, size).unwrap();
            verify_inclusion(i, size, &log.tree.leaves()[i as usize], &p, &root).unwrap();
        })
    });
    g.bench_function("consistency_prove_and_verify_1M", |b| {
        let mut m = 1u64;
        b.iter(|| {
            m = (m + 7_919) % size + 1;
            let first = root_at(&log.tree, m).unwrap();
            let p = consistency_proof(&log.tree, m, size).unwrap();
            verify_consistency(m, size, &first, &root, &p).unwrap();
        })
    });
    g.finish();
}

/// Best of three timed passes, in items per second.
fn rate(items: usize, mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            items as f64 / t.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn summary() {
    let log = log();
    let inputs = vec![0x5au8; 64 * 1024];
    let verify = rate(N, || {
        black_box(verify_raw(log));
    });
    let sha = rate(N, || {
        black_box(sha256_baseline(&inputs, log.preimage_len, N));
    });
    let entry = rate(N_ENTRY, || {
        black_box(verify_entries(&log.entries));
    });
    let append = rate(N, || {
        black_box(merkle_append(log));
    });
    eprintln!("summary (best of 3 passes, {N} entries):");
    eprintln!("  ledger verify (push_raw)       {verify:>12.0} entries/s");
    eprintln!(
        "  raw sha256, {}-byte inputs    {sha:>12.0} hashes/s",
        log.preimage_len
    );
    eprintln!("  verify / raw sha256            {:>12.2}", verify / sha);
    eprintln!("  ledger verify (push &Entry)    {entry:>12.0} entries/s");
    eprintln!("  merkle append (frontier Tree)  {append:>12.0} leaves/s");
}

criterion_group!(benches, bench);

fn main() {
    // `LEDGER_BENCH_SUMMARY_ONLY=1` skips criterion's groups (for profiling).
    if std::env::var_os("LEDGER_BENCH_SUMMARY_ONLY").is_none() {
        benches();
    }
    summary();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
