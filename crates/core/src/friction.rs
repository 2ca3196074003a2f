//! Friction against rubber-stamping: per tier, the profile can make an approving
//! review or step-up approval wait until the person has spent time with its context
//! (`min_review_seconds`), has opened every required evidence document
//! (`require_opened_evidence`), and has typed the first characters of the digest they
//! approve (`confirm_digest`). The server checks these for every interface; the
//! console shows the same unmet rules beside a disabled button.
//!
//! Friction applies to approving only: a rejection, a denial or a no-go is never
//! slowed down, since refusing is always safe.

use crate::canonical::Digest;
use crate::codes::stable_strings;
use crate::problem::ProblemCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How many hex characters of the digest the approver types.
pub const CONFIRM_HEX_LEN: usize = 8;

/// A tier's friction rules (`friction = { ... }` in a `[[tiers]]` table).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Friction {
    /// An approval is accepted only this long after the person first opened its
    /// context (the revision, or the step-up request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_review_seconds: Option<u32>,
    /// A reviewer approves only after opening (downloading or previewing) every
    /// attached document of a kind the tier requires.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_opened_evidence: bool,
    /// The approver types the first 8 hex characters of the bundle or action digest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm_digest: bool,
}

stable_strings! {
    /// One friction rule, as the profile, problems and the accountability report name it.
    pub enum Rule: "friction rule" {
        MinReviewSeconds = "min_review_seconds",
        RequireOpenedEvidence = "require_opened_evidence",
        ConfirmDigest = "confirm_digest",
    }
}

impl Friction {
    /// No rule set.
    pub fn is_empty(&self) -> bool {
        *self == Friction::default()
    }

    /// The rules this tier sets, in table order. `evidence` says whether the
    /// subject has evidence at all (a step-up has none, so the evidence rule does not
    /// apply to it).
    pub fn rules(&self, evidence: bool) -> Vec<Rule> {
        let mut out = Vec::new();
        if self.min_review_seconds.is_some() {
            out.push(Rule::MinReviewSeconds);
        }
        if self.require_opened_evidence && evidence {
            out.push(Rule::RequireOpenedEvidence);
        }
        if self.confirm_digest {
            out.push(Rule::ConfirmDigest);
        }
        out
    }
}

/// What the rules are checked against.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub now: DateTime<Utc>,
    /// When this person first opened the context; `None`: never.
    pub first_opened_at: Option<DateTime<Utc>>,
    /// Whether the subject has evidence (a revision does, a step-up does not).
    pub has_evidence: bool,
    /// The required documents this person has not opened (their names).
    pub unopened_evidence: Vec<String>,
    /// The digest being approved.
    pub digest: &'a Digest,
    /// What the person typed; `None` when only showing the rules (the console asks
    /// for it in the form, so it is not reported as unmet there).
    pub typed_digest: Option<&'a str>,
}

/// One rule not yet met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unmet {
    /// The person never opened the context.
    NotOpened { seconds: u32 },
    /// Opened, but not long enough ago.
    TooSoon {
        seconds: u32,
        ready_at: DateTime<Utc>,
    },
    /// Required documents not opened yet.
    EvidenceUnopened { documents: Vec<String> },
    /// The digest's first characters were not typed, or typed wrong.
    DigestNotConfirmed { typed: bool },
}

impl Unmet {
    /// The rule this is about.
    pub fn rule(&self) -> Rule {
        match self {
            Unmet::NotOpened { .. } | Unmet::TooSoon { .. } => Rule::MinReviewSeconds,
            Unmet::EvidenceUnopened { .. } => Rule::RequireOpenedEvidence,
            Unmet::DigestNotConfirmed { .. } => Rule::ConfirmDigest,
        }
    }

    /// The problem code naming the rule.
    pub fn code(&self) -> ProblemCode {
        match self.rule() {
            Rule::MinReviewSeconds => ProblemCode::FrictionMinReviewSeconds,
            Rule::RequireOpenedEvidence => ProblemCode::FrictionRequireOpenedEvidence,
            Rule::ConfirmDigest => ProblemCode::FrictionConfirmDigest,
        }
    }

    /// When the rule will be met by waiting alone (the time rule, once opened).
    pub fn ready_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Unmet::TooSoon { ready_at, .. } => Some(*ready_at),
            _ => None,
        }
    }

    /// The refusal in plain words, addressed to the person.
    pub fn sentence(&self, now: DateTime<Utc>) -> String {
        match self {
            Unmet::NotOpened { seconds } => format!(
                "You have not opened this yet: open it and spend at least {seconds} s with it \
                 before approving."
            ),
            Unmet::TooSoon { seconds, ready_at } => format!(
                "Approving needs at least {seconds} s with the context after first opening it; \
                 you can approve in {} s (at {} UTC).",
                (*ready_at - now).num_seconds().max(1),
                ready_at.format("%H:%M:%S")
            ),
            Unmet::EvidenceUnopened { documents } => format!(
                "Open every required evidence document before approving; not opened yet: {}.",
                documents.join(", ")
            ),
            Unmet::DigestNotConfirmed { typed: false } => format!(
                "Type the first {CONFIRM_HEX_LEN} characters of the digest you approve, to \
                 confirm you checked it."
            ),
            Unmet::DigestNotConfirmed { typed: true } => format!(
                "The characters you typed are not the first {CONFIRM_HEX_LEN} of the digest \
                 you approve; check the digest and type them again."
            ),
        }
    }
}

/// Whether `typed` is the first [`CONFIRM_HEX_LEN`] hex characters of `digest`
/// (case and surrounding space ignored; a `sha256:` prefix is allowed).
pub fn digest_confirmed(digest: &Digest, typed: &str) -> bool {
    let typed = typed.trim().to_ascii_lowercase();
    let typed = typed.strip_prefix("sha256:").unwrap_or(&typed);
    typed.len() == CONFIRM_HEX_LEN && digest.hex().starts_with(typed)
}

/// The rules of `f` not met by `facts`, in table order; empty when approving may go
/// ahead.
pub fn unmet(f: &Friction, facts: &Facts<'_>) -> Vec<Unmet> {
    let mut out = Vec::new();
    if let Some(seconds) = f.min_review_seconds {
        match facts.first_opened_at {
            None => out.push(Unmet::NotOpened { seconds }),
            Some(opened) => {
                let ready_at = opened + Duration::seconds(i64::from(seconds));
                if facts.now < ready_at {
                    out.push(Unmet::TooSoon { seconds, ready_at });
                }
            }
        }
    }
    if f.require_opened_evidence && facts.has_evidence && !facts.unopened_evidence.is_empty() {
        out.push(Unmet::EvidenceUnopened {
            documents: facts.unopened_evidence.clone(),
        });
    }
    if f.confirm_digest {
        if let Some(typed) = facts.typed_digest {
            if !digest_confirmed(facts.digest, typed) {
                out.push(Unmet::DigestNotConfirmed {
                    typed: !typed.trim().is_empty(),
                });
            }
        }
    }
    out
}

/// Like [`unmet`], but a missing typed digest counts as unmet (what the server
/// checks when the command arrives).
pub fn check(f: &Friction, facts: &Facts<'_>) -> Result<Vec<Rule>, Vec<Unmet>> {
    let typed = facts.typed_digest.unwrap_or("");
    let all = unmet(
        f,
        &Facts {
            typed_digest: Some(typed),
            ..facts.clone()
        },
    );
    if all.is_empty() {
        Ok(f.rules(facts.has_evidence))
    } else {
        Err(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn all_rules() -> Friction {
        Friction {
            min_review_seconds: Some(60),
            require_opened_evidence: true,
            confirm_digest: true,
        }
    }

    fn facts<'a>(
        d: &'a Digest,
        opened: Option<i64>,
        now: i64,
        typed: Option<&'a str>,
    ) -> Facts<'a> {
        Facts {
            now: t(now),
            first_opened_at: opened.map(t),
            has_evidence: true,
            unopened_evidence: vec![],
            digest: d,
            typed_digest: typed,
        }
    }

    #[test]
    fn no_rules_never_refuse() {
        let d = Digest::of(b"x");
        let f = Friction::default();
        assert_eq!(check(&f, &facts(&d, None, 0, None)), Ok(vec![]));
    }

    #[test]
    fn the_time_rule_counts_from_the_first_opening() {
        let d = Digest::of(b"x");
        let f = Friction {
            min_review_seconds: Some(60),
            ..Friction::default()
        };
        assert_eq!(
            check(&f, &facts(&d, None, 100, None)),
            Err(vec![Unmet::NotOpened { seconds: 60 }])
        );
        let soon = check(&f, &facts(&d, Some(10), 69, None)).unwrap_err();
        assert_eq!(soon[0].ready_at(), Some(t(70)));
        assert!(
            soon[0].sentence(t(69)).contains("in 1 s"),
            "{}",
            soon[0].sentence(t(69))
        );
        assert_eq!(
            check(&f, &facts(&d, Some(10), 70, None)),
            Ok(vec![Rule::MinReviewSeconds])
        );
    }

    #[test]
    fn unopened_evidence_is_named_and_steps_up_have_none() {
        let d = Digest::of(b"x");
        let f = Friction {
            require_opened_evidence: true,
            ..Friction::default()
        };
        let mut x = facts(&d, Some(0), 0, None);
        x.unopened_evidence = vec!["threat-model.md".into()];
        let e = check(&f, &x).unwrap_err();
        assert_eq!(e[0].code(), ProblemCode::FrictionRequireOpenedEvidence);
        assert!(e[0].sentence(t(0)).contains("threat-model.md"));
        x.has_evidence = false;
        assert_eq!(
            check(&f, &x),
            Ok(vec![]),
            "the evidence rule does not apply"
        );
    }

    #[test]
    fn the_digest_must_be_typed_right_to_approve() {
        let d = Digest::of(b"x");
        let f = Friction {
            confirm_digest: true,
            ..Friction::default()
        };
        let head = d.hex()[..8].to_owned();
        let upper = format!(" SHA256:{} ", head.to_uppercase());
        assert_eq!(
            check(&f, &facts(&d, None, 0, Some(&head))),
            Ok(vec![Rule::ConfirmDigest])
        );
        assert_eq!(
            check(&f, &facts(&d, None, 0, Some(&upper))),
            Ok(vec![Rule::ConfirmDigest])
        );
        assert_eq!(
            check(&f, &facts(&d, None, 0, None)),
            Err(vec![Unmet::DigestNotConfirmed { typed: false }])
        );
        assert_eq!(
            check(&f, &facts(&d, None, 0, Some("00000000"))),
            Err(vec![Unmet::DigestNotConfirmed { typed: true }])
        );
        assert!(!digest_confirmed(&d, &head[..7]), "all 8 characters");
        // Showing the rules (nothing typed yet) does not report the digest as unmet.
        assert_eq!(unmet(&f, &facts(&d, None, 0, None)), vec![]);
    }

    #[test]
    fn every_unmet_rule_is_reported_in_order() {
        let d = Digest::of(b"x");
        let mut x = facts(&d, Some(0), 5, Some("nope"));
        x.unopened_evidence = vec!["a".into()];
        let rules: Vec<Rule> = check(&all_rules(), &x)
            .unwrap_err()
            .iter()
            .map(Unmet::rule)
            .collect();
        assert_eq!(
            rules,
            vec![
                Rule::MinReviewSeconds,
                Rule::RequireOpenedEvidence,
                Rule::ConfirmDigest
            ]
        );
    }

    #[test]
    fn profiles_read_friction_from_toml() {
        let f: Friction = toml::from_str("min_review_seconds = 30\nconfirm_digest = true").unwrap();
        assert_eq!(
            f.rules(true),
            vec![Rule::MinReviewSeconds, Rule::ConfirmDigest]
        );
        assert!(toml::from_str::<Friction>("min_review_secs = 30").is_err());
    }
}
