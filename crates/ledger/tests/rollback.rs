//! Issue 14: for random logs, any truncation, rewrite or fork relative to an earlier
//! signed checkpoint is detected by `Verifier::with_note` and refused by a witness; a
//! genuine extension passes both; every inclusion and consistency proof verifies and
//! none survives a flipped bit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, TimeZone, Utc};
use countersign_ledger::{
    chain_next, consistency_proof, entry_leaf_hash, inclusion_proof, parse_time, root_at,
    sign_checkpoint, verify_consistency, verify_inclusion, Checkpoint, Entry, EntryDraft,
    LedgerKey, MemoryTree, NoteVerifierKey, SignedNote, Verifier, VerifyError, VerifyErrorKind,
    Witness,
};
use proptest::prelude::*;

const ORIGIN: &str = "countersign.example/ledger";

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 3, 4, 5).unwrap()
}

fn draft(seed: u32, i: usize) -> EntryDraft {
    EntryDraft {
        at: base_time() + chrono::Duration::microseconds(i64::from(seed) * 1_000 + i as i64),
        actor: format!("user:u{}", seed % 7),
        action: format!("action.{}", seed % 5),
        subject: format!("release:r{}", seed % 11),
        payload: serde_json::json!({ "seed": seed, "i": i }),
    }
}

/// Appends entries made from `seeds` to `log`.
fn extend(log: &mut Vec<Entry>, seeds: &[u32]) {
    for seed in seeds {
        let head = log.last().map(Entry::head);
        let i = log.len();
        log.push(chain_next(head.as_ref(), draft(*seed, i)).unwrap());
    }
}

fn build(seeds: &[u32]) -> Vec<Entry> {
    let mut log = Vec::new();
    extend(&mut log, seeds);
    log
}

fn tree(entries: &[Entry]) -> MemoryTree {
    MemoryTree::from_leaves(entries.iter().map(|e| entry_leaf_hash(&e.hash).unwrap()))
}

fn key() -> LedgerKey {
    LedgerKey::from_bytes(&[7; 32])
}

fn vkey() -> NoteVerifierKey {
    NoteVerifierKey::ed25519(ORIGIN, &key().public()).unwrap()
}

fn note(entries: &[Entry]) -> SignedNote {
    let t = tree(entries);
    sign_checkpoint(&Checkpoint::new(ORIGIN, t.size(), t.root()), ORIGIN, &key()).unwrap()
}

/// Verifies `entries` against an earlier checkpoint note.
fn verify_against(entries: &[Entry], earlier: &SignedNote) -> Result<u64, VerifyError> {
    let mut v = Verifier::new().with_note(earlier, &vkey())?;
    for e in entries {
        v.push(e)?;
    }
    Ok(v.finish(None)?.entries)
}

fn witness() -> Witness {
    Witness {
        name: "witness.example/w1".into(),
        key: LedgerKey::from_bytes(&[8; 32]),
        log_key: vkey(),
    }
}

/// Rebuilds the chain from `from` on, as a forger without the signing key would.
fn rechain(entries: &mut [Entry], from: usize) {
    for i in from..entries.len() {
        let prev = if i == 0 {
            None
        } else {
            Some(entries[i - 1].head())
        };
        let e = &entries[i];
        let d = EntryDraft {
            at: parse_time(&e.at).unwrap(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            subject: e.subject.clone(),
            payload: e.payload.clone(),
        };
        entries[i] = chain_next(prev.as_ref(), d).unwrap();
    }
}

#[derive(Clone, Debug)]
enum Attack {
    /// Cut the log to `keep` entries (made less than the checkpoint size).
    Truncate { keep: usize },
    /// Change the actor of entry `index` (below the checkpoint) and rebuild the chain.
    Rewrite { index: usize },
    /// Keep the first `keep` entries (below the checkpoint), then grow other ones.
    Fork { keep: usize, seeds: Vec<u32> },
}

fn arb_case() -> impl Strategy<Value = (Vec<u32>, usize, Attack)> {
    (
        proptest::collection::vec(any::<u32>(), 1..60),
        any::<prop::sample::Index>(),
    )
        .prop_flat_map(|(seeds, cut)| {
            let n = seeds.len();
            let size = cut.index(n) + 1; // checkpoint size, 1..=n
            let attack = prop_oneof![
                (0..size).prop_map(|keep| Attack::Truncate { keep }),
                (0..size).prop_map(|index| Attack::Rewrite { index }),
                (0..size, proptest::collection::vec(any::<u32>(), 1..60))
                    .prop_map(|(keep, seeds)| Attack::Fork { keep, seeds }),
            ];
            (Just(seeds), Just(size), attack)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_truncation_rewrite_or_fork_after_a_checkpoint_is_detected(
        (seeds, size, attack) in arb_case()
    ) {
        let log = build(&seeds);
        let earlier = note(&log[..size]);
        // The genuine log, and the genuine log grown further, pass.
        prop_assert_eq!(verify_against(&log, &earlier), Ok(log.len() as u64));
        let mut grown = log.clone();
        extend(&mut grown, &[1, 2, 3]);
        prop_assert_eq!(verify_against(&grown, &earlier), Ok(grown.len() as u64));

        let tampered = match &attack {
            Attack::Truncate { keep } => log[..*keep].to_vec(),
            Attack::Rewrite { index } => {
                let mut t = log.clone();
                t[*index].actor.push_str("-mallory");
                rechain(&mut t, *index);
                t
            }
            Attack::Fork { keep, seeds } => {
                let mut t = log[..*keep].to_vec();
                extend(&mut t, seeds);
                // Make the first forked entry differ from the one it replaces.
                if t[*keep].hash == log[*keep].hash {
                    t[*keep].subject.push_str("-fork");
                    rechain(&mut t, *keep);
                }
                t
            }
        };
        // The tampered chain is locally consistent: only the checkpoint shows it.
        let mut plain = Verifier::new();
        for e in &tampered {
            plain.push(e).unwrap();
        }
        let err = verify_against(&tampered, &earlier).unwrap_err();
        prop_assert_eq!(err.seq, size as u64);
        let found = tampered.len() as u64;
        prop_assert!(
            err.kind == VerifyErrorKind::CheckpointRootMismatch { size: size as u64 }
                || err.kind == VerifyErrorKind::ShorterThanCheckpoint { size: size as u64, found },
            "{:?} gave {:?}", attack, err
        );
        if matches!(attack, Attack::Truncate { .. }) {
            prop_assert_eq!(
                err.kind,
                VerifyErrorKind::ShorterThanCheckpoint { size: size as u64, found }
            );
        }

        // A witness that saw the earlier checkpoint refuses the tampered log's
        // checkpoint whatever proof comes with it, and accepts the genuine growth.
        let w = witness();
        let seen = Checkpoint::parse(earlier.text()).unwrap();
        let t = tree(&tampered);
        let proof = if t.size() >= seen.size {
            consistency_proof(&t, seen.size, t.size()).unwrap()
        } else {
            Vec::new()
        };
        prop_assert!(w.cosign(Some(&seen), &note(&tampered), &proof, 1).is_err());
        let g = tree(&grown);
        let proof = consistency_proof(&g, seen.size, g.size()).unwrap();
        prop_assert!(w.cosign(Some(&seen), &note(&grown), &proof, 1).is_ok());
    }

    #[test]
    fn every_inclusion_and_consistency_proof_verifies_and_no_flipped_one(
        seeds in proptest::collection::vec(any::<u32>(), 1..80),
        picks in proptest::collection::vec(
            (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()),
            1..12
        ),
    ) {
        let log = build(&seeds);
        let t = tree(&log);
        let n = t.size();
        for (a, b, bit) in picks {
            let size = b.index(n as usize) as u64 + 1;
            let index = a.index(size as usize) as u64;
            let root = root_at(&t, size).unwrap();
            let leaf = t.leaves()[index as usize];
            let proof = inclusion_proof(&t, index, size).unwrap();
            prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_ok());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = usize::from(bit) % bad.len();
                bad[at][usize::from(bit) % 32] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
            }

            let first = index + 1; // 1..=size
            let first_root = root_at(&t, first).unwrap();
            let proof = consistency_proof(&t, first, size).unwrap();
            prop_assert!(verify_consistency(first, size, &first_root, &root, &proof).is_ok());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = usize::from(bit) % bad.len();
                bad[at][usize::from(bit) % 32] ^= 1 << (bit % 8);
                prop_assert!(verify_consistency(first, size, &first_root, &root, &bad).is_err());
            }
        }
    }
}
