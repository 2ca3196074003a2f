//! I11: verification against a signed checkpoint detects any edit, deletion, insertion
//! or reordering of a ledger.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, TimeZone, Utc};
use countersign_ledger::{
    chain_next, entry_hash, format_time, parse_time, verify_all, Digest, Entry, EntryDraft,
    LedgerKey, SignedHead, VerifyErrorKind,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::Value;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map("[a-z_]{0,5}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["user:alice", "user:bob", "svc:ci", ""]).prop_map(String::from),
        "\\PC{0,16}",
    ]
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 3, 4, 5).unwrap()
}

/// A draft at `base_time() + offset` microseconds.
fn arb_draft() -> impl Strategy<Value = EntryDraft> {
    (
        0i64..10_000_000_000,
        arb_text(),
        arb_text(),
        arb_text(),
        arb_json(),
    )
        .prop_map(|(micros, actor, action, subject, payload)| EntryDraft {
            at: base_time() + chrono::Duration::microseconds(micros),
            actor,
            action,
            subject,
            payload,
        })
}

fn build(drafts: Vec<EntryDraft>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for d in drafts {
        let head = out.last().map(Entry::head);
        out.push(chain_next(head.as_ref(), d).unwrap());
    }
    out
}

fn arb_ledger() -> impl Strategy<Value = Vec<Entry>> {
    vec(arb_draft(), 1..40).prop_map(build)
}

/// A new value for one field of one entry (made to differ from the old one on apply).
#[derive(Clone, Debug)]
enum Field {
    Actor(String),
    Action(String),
    Subject(String),
    /// Shift the time by this many microseconds (never zero).
    At(i64),
    /// Replace the time with arbitrary text.
    AtText(String),
    Payload(Value),
    PayloadDigest(Vec<u8>),
    PrevHash(Vec<u8>),
    Hash(Vec<u8>),
    Seq(u64),
}

#[derive(Clone, Debug)]
enum Mutation {
    Edit {
        index: usize,
        field: Field,
    },
    /// Edit the actor and recompute that entry's hash (but not the ones after it).
    EditRehash {
        index: usize,
        actor: String,
    },
    /// Edit the actor, then rebuild every hash from there on, as a forger without the
    /// signing key would.
    Rewrite {
        index: usize,
        actor: String,
    },
    Delete {
        index: usize,
    },
    /// Insert an entry forged with `chain_next` from the head before `index`.
    Insert {
        index: usize,
        draft: EntryDraft,
    },
    Swap {
        a: usize,
        b: usize,
    },
    /// Cut the ledger to its first `keep` entries and present a checkpoint for the
    /// shorter ledger: signed by another key claiming the real key id, or (`None`)
    /// carrying the genuine signature over the old head.
    TruncateAndResign {
        keep: usize,
        forger: Option<[u8; 32]>,
    },
}

fn arb_field() -> impl Strategy<Value = Field> {
    prop_oneof![
        arb_text().prop_map(Field::Actor),
        arb_text().prop_map(Field::Action),
        arb_text().prop_map(Field::Subject),
        prop_oneof![-1_000_000_000i64..0, 1..1_000_000_000i64].prop_map(Field::At),
        "\\PC{0,30}".prop_map(Field::AtText),
        arb_json().prop_map(Field::Payload),
        vec(any::<u8>(), 0..8).prop_map(Field::PayloadDigest),
        vec(any::<u8>(), 0..8).prop_map(Field::PrevHash),
        vec(any::<u8>(), 0..8).prop_map(Field::Hash),
        prop_oneof![Just(0u64), 0..50u64, any::<u64>()].prop_map(Field::Seq),
    ]
}

fn arb_mutation(len: usize) -> impl Strategy<Value = Mutation> {
    let edit = (0..len, arb_field()).prop_map(|(index, field)| Mutation::Edit { index, field });
    let rewrite =
        (0..len, arb_text()).prop_map(|(index, actor)| Mutation::Rewrite { index, actor });
    let rehash =
        (0..len, arb_text()).prop_map(|(index, actor)| Mutation::EditRehash { index, actor });
    let delete = (0..len).prop_map(|index| Mutation::Delete { index });
    let insert =
        (0..=len, arb_draft()).prop_map(|(index, draft)| Mutation::Insert { index, draft });
    if len >= 2 {
        let swap = (0..len, 0..len - 1).prop_map(|(a, b)| Mutation::Swap {
            a,
            b: if b >= a { b + 1 } else { b },
        });
        let resign = (1..len, proptest::option::of(any::<[u8; 32]>()))
            .prop_map(|(keep, forger)| Mutation::TruncateAndResign { keep, forger });
        prop_oneof![
            4 => edit, 1 => rehash, 1 => rewrite, 2 => delete, 2 => insert, 2 => swap, 1 => resign
        ]
        .boxed()
    } else {
        prop_oneof![4 => edit, 1 => rehash, 1 => rewrite, 2 => delete, 2 => insert].boxed()
    }
}

fn arb_case() -> impl Strategy<Value = (Vec<Entry>, Mutation)> {
    arb_ledger().prop_flat_map(|entries| {
        let len = entries.len();
        (Just(entries), arb_mutation(len))
    })
}

/// A digest of `seed` that differs from `old`.
fn other_digest(old: &Digest, seed: &[u8]) -> Digest {
    let d = Digest::of(seed);
    if &d == old {
        Digest::of(&[seed, b"!"].concat())
    } else {
        d
    }
}

/// `new`, or if it equals `old`, something else.
fn other_text(old: &str, mut new: String) -> String {
    if new == old {
        new.push('!');
    }
    new
}

fn draft_of(e: &Entry) -> EntryDraft {
    EntryDraft {
        at: parse_time(&e.at).unwrap(),
        actor: e.actor.clone(),
        action: e.action.clone(),
        subject: e.subject.clone(),
        payload: e.payload.clone(),
    }
}

/// The tampered ledger and the checkpoint presented with it.
fn apply(
    entries: &[Entry],
    signed: &SignedHead,
    real: &LedgerKey,
    mutation: Mutation,
) -> (Vec<Entry>, SignedHead) {
    let mut out = entries.to_vec();
    let mut checkpoint = signed.clone();
    match mutation {
        Mutation::Edit { index, field } => {
            let e = &mut out[index];
            match field {
                Field::Actor(s) => e.actor = other_text(&e.actor, s),
                Field::Action(s) => e.action = other_text(&e.action, s),
                Field::Subject(s) => e.subject = other_text(&e.subject, s),
                Field::At(micros) => {
                    let t = parse_time(&e.at).unwrap() + chrono::Duration::microseconds(micros);
                    e.at = format_time(t);
                }
                Field::AtText(s) => e.at = other_text(&e.at, s),
                Field::Payload(v) => {
                    e.payload = if v == e.payload {
                        Value::Array(vec![v])
                    } else {
                        v
                    };
                }
                Field::PayloadDigest(seed) => {
                    e.payload_digest = other_digest(&e.payload_digest, &seed);
                }
                Field::PrevHash(seed) => e.prev_hash = other_digest(&e.prev_hash, &seed),
                Field::Hash(seed) => e.hash = other_digest(&e.hash, &seed),
                Field::Seq(s) => e.seq = if s == e.seq { s.wrapping_add(1) } else { s },
            }
        }
        Mutation::EditRehash { index, actor } => {
            let e = &mut out[index];
            e.actor = other_text(&e.actor, actor);
            e.hash = entry_hash(
                e.seq,
                &e.at,
                &e.actor,
                &e.action,
                &e.subject,
                &e.payload_digest,
                &e.prev_hash,
            );
        }
        Mutation::Rewrite { index, actor } => {
            out[index].actor = other_text(&out[index].actor, actor);
            for i in index..out.len() {
                let prev = if i == 0 {
                    None
                } else {
                    Some(out[i - 1].head())
                };
                out[i] = chain_next(prev.as_ref(), draft_of(&out[i])).unwrap();
            }
        }
        Mutation::Delete { index } => {
            out.remove(index);
        }
        Mutation::Insert { index, draft } => {
            let prev = if index == 0 {
                None
            } else {
                Some(out[index - 1].head())
            };
            let forged = chain_next(prev.as_ref(), draft).unwrap();
            out.insert(index, forged);
        }
        Mutation::Swap { a, b } => out.swap(a, b),
        Mutation::TruncateAndResign { keep, forger } => {
            out.truncate(keep);
            let head = out[keep - 1].head();
            checkpoint = match forger {
                Some(mut secret) => {
                    if secret == real.to_bytes() {
                        secret[0] ^= 1;
                    }
                    let mut forged = LedgerKey::from_bytes(&secret).sign_head(&head);
                    forged.key_id = real.public().key_id();
                    forged
                }
                None => SignedHead {
                    seq: head.seq,
                    hash: head.hash,
                    ..signed.clone()
                },
            };
        }
    }
    (out, checkpoint)
}

proptest! {
    #![proptest_config(ProptestConfig {
        // At least 512, more when PROPTEST_CASES asks for more.
        cases: ProptestConfig::default().cases.max(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn i11_any_single_tamper_is_detected(
        (entries, mutation) in arb_case(),
        secret in any::<[u8; 32]>(),
    ) {
        let key = LedgerKey::from_bytes(&secret);
        let public = key.public();
        let signed = key.sign_head(&entries[entries.len() - 1].head());
        let report = verify_all(&entries, Some((&signed, &public))).unwrap();
        prop_assert_eq!(report.entries, entries.len() as u64);

        let (tampered, checkpoint) = apply(&entries, &signed, &key, mutation.clone());
        prop_assert_ne!(&tampered, &entries, "the mutation changed nothing");
        let err = verify_all(&tampered, Some((&checkpoint, &public)));
        prop_assert!(err.is_err(), "undetected: {:?}", mutation);
        let err = err.unwrap_err();

        // An edit of one field is caught at the edited entry itself.
        if let Mutation::Edit { index, .. } = mutation {
            prop_assert_eq!(err.seq, index as u64 + 1, "{}", err);
            prop_assert!(!err.kind.is_checkpoint(), "{}", err);
        }
        // A rewrite is locally consistent; only the checkpoint catches it.
        if let Mutation::Rewrite { .. } = mutation {
            prop_assert!(
                matches!(err.kind, VerifyErrorKind::HeadMismatch { .. }),
                "{}", err
            );
        }
        // So is a truncated ledger; only its forged checkpoint gives it away.
        if let Mutation::TruncateAndResign { .. } = mutation {
            prop_assert_eq!(&err.kind, &VerifyErrorKind::BadSignature, "{}", err);
        }
    }

    #[test]
    fn i11_a_ledger_survives_a_json_round_trip(entries in arb_ledger()) {
        // The store keeps entries as JSON; reading them back must not break the chain.
        let json = serde_json::to_string(&entries).unwrap();
        let back: Vec<Entry> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &entries);
        prop_assert!(verify_all(&back, None).is_ok());
    }
}
