#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! I4 segregation of duties through the CLI against `serve --demo`: `release gate`
//! names who may not review and why; the creator cannot own, the author of a revision
//! cannot review it, an owner change to someone who shaped it is refused.

mod support;

use support::{demo_env, demo_var, serve_demo, Cli};

const ARTIFACT_2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

#[test]
fn i4_segregation_of_duties_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = serve_demo(dir.path());
    let env = demo_env(dir.path());
    let t = |k: &str| demo_var(&env, k);
    let cli = Cli {
        dir: dir.path(),
        server: url,
        env: Vec::new(),
    };
    let rel = t("CS_RELEASE");
    let (maya, noah, dana) = (t("CS_MAYA_ID"), t("CS_NOAH_ID"), t("CS_DANA_ID"));

    // Maya created, submitted and trained the demo release; Dana owns it.
    let out = cli.ok(&t("CS_DANA"), &["release", "gate", &rel]);
    assert!(out.contains("may not review"), "{out}");
    let line_of = |out: &str, who: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(who))
            .unwrap_or_else(|| panic!("no line for {who}: {out}"))
            .to_owned()
    };
    assert!(
        line_of(&out, &maya)
            .contains("submitter_cannot_review, trainer_cannot_review, creator_cannot_review"),
        "{out}"
    );
    assert!(
        line_of(&out, &dana).contains("owner_cannot_review"),
        "{out}"
    );
    let gate = cli.json(&t("CS_DANA"), &["release", "gate", &rel], 0);
    assert_eq!(
        gate["excluded_reviewers"].as_array().unwrap().len(),
        2,
        "{gate}"
    );

    // Noah cannot create a release he owns himself.
    let (code, out) = cli.run(
        &t("CS_NOAH"),
        &[
            "release",
            "create",
            "--title",
            "Noah's own",
            "--kind",
            "prompt",
            "--system",
            &t("CS_SYSTEM"),
            "--owner",
            &noah,
            "--artifact",
            ARTIFACT_2,
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("segregation-of-duties/creator-cannot-own"),
        "{out}"
    );

    // Nor can a revision hand the decision to Maya, who created and submitted it (the
    // refusal names the submission, the most direct of her parts).
    let revise = |owner: Option<&str>| {
        let mut args = vec![
            "release",
            "revise",
            rel.as_str(),
            "--based-on",
            "1",
            "--artifact",
            ARTIFACT_2,
            "--dataset",
            "support-tickets@2026-10",
        ];
        if let Some(o) = owner {
            args.extend(["--owner", o]);
        }
        cli.run(&t("CS_NOAH"), &args)
    };
    let (code, out) = revise(Some(&maya));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("segregation-of-duties/submitter-cannot-own"),
        "{out}"
    );

    // Noah writes revision 2, Maya submits it, and Noah may not review his own change.
    let (code, out) = revise(None);
    assert_eq!(code, 0, "{out}");
    cli.ok(&t("CS_MAYA"), &["release", "submit", &rel]);
    let (code, out) = cli.run(
        &t("CS_NOAH"),
        &[
            "release",
            "review",
            &rel,
            "--role",
            "mlops",
            "--verdict",
            "approve",
            "--all-yes",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("segregation-of-duties/author-cannot-review"),
        "{out}"
    );
    let out = cli.ok(&t("CS_DANA"), &["release", "gate", &rel]);
    assert!(
        line_of(&out, &noah).contains("author_cannot_review"),
        "{out}"
    );
}
