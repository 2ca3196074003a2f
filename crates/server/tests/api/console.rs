//! The console over HTTP (issue 12): token sign-in and server-side sessions, CSRF and
//! cross-site refusals, expiry and sign-out, a review with a segregation-of-duties
//! refusal shown in plain words, and a step-up approved from the console. Each state
//! change has its one ledger entry (I11); a refused form changes nothing (I12).

use crate::harness::*;
use chrono::Duration;
use countersign_core::oidc::Identity;
use countersign_core::Role;
use countersign_server::app::sessions::{self, SignInOptions};
use countersign_server::oidc::{OidcClient, OidcConfig};
use countersign_server::outbound::OutboundTls;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

/// A browser: its own cookies, no redirect following, forms sent from the console's
/// own origin unless told otherwise.
struct Browser<'h> {
    h: &'h Harness,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

struct Page {
    status: StatusCode,
    location: String,
    html: String,
    set_cookies: Vec<String>,
    headers: reqwest::header::HeaderMap,
}

impl<'h> Browser<'h> {
    fn new(h: &'h Harness) -> Self {
        Browser {
            h,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookie.is_empty() {
            req
        } else {
            req.header(COOKIE, cookie)
        };
        let resp = req.send().await.unwrap();
        let headers = resp.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        Page {
            status: resp.status(),
            location: headers
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            headers,
            set_cookies,
            html: resp.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(self.h.url(path));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let origin = self.h.base.clone();
        self.post_from(path, fields, &origin).await
    }

    async fn post_from(&mut self, path: &str, fields: &[(&str, &str)], origin: &str) -> Page {
        let req = self
            .http
            .request(Method::POST, self.h.url(path))
            .header(ORIGIN, origin)
            .form(fields);
        self.send(req).await
    }

    /// Signs in with `token`; returns the page the sign-in answered with.
    async fn sign_in(&mut self, token: &str) -> Page {
        let form = self.get("/console/sign-in?next=/console").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = csrf_of(&form.html);
        self.post(
            "/console/sign-in",
            &[("csrf", &csrf), ("token", token), ("next", "/console")],
        )
        .await
    }
}

/// The CSRF token a page's forms carry.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf token")
        + 19;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

fn review_fields<'a>(
    csrf: &'a str,
    revision: &'a str,
    items: &'a [String],
    verdict: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![("csrf", csrf), ("revision", revision), ("verdict", verdict)];
    for i in items {
        f.push((i.as_str(), "yes"));
    }
    f
}

#[tokio::test]
async fn console_sign_in_review_and_refusals() {
    for backend in backends() {
        console_sign_in_review_and_refusals_on(backend).await;
    }
}

async fn console_sign_in_review_and_refusals_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.submit(&cast, &rel).await;
    let review_path = format!("/console/releases/{}/review/mlops", rel.id);
    let items: Vec<String> = h
        .profile
        .checklist(Role::Mlops)
        .iter()
        .map(|c| format!("answer.{}", c.id))
        .collect();

    // Not signed in: a page sends the person to sign in, and back afterwards.
    let mut author = Browser::new(&h);
    let p = author.get(&review_path).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(
        p.location,
        format!("/console/sign-in?next={review_path}"),
        "comes back to the page it asked for"
    );

    // A wrong token is refused on the page; no session, nothing in the ledger.
    let before = h.ledger_count().await;
    let p = author.sign_in("cst_not-a-token").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.html.contains("That token is not valid"), "{}", p.html);
    assert_eq!(h.ledger_count().await, before);

    // A sign-in form posted without its own token is refused.
    let p = author
        .post("/console/sign-in", &[("token", &cast.author.token)])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(h.ledger_count().await, before);

    // Signing in: one session, HttpOnly, SameSite=Lax, scoped to the console.
    let p = author.sign_in(&cast.author.token).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert_eq!(p.location, "/console");
    let cookie = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("cs_session="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    h.assert_one_entry(before, "session.start").await;

    // Every page has the strict headers.
    let p = author.get("/console").await;
    assert_eq!(p.status, StatusCode::OK);
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(p.headers["x-frame-options"], "DENY");
    assert_eq!(p.headers["x-content-type-options"], "nosniff");

    // I4: the submitter's review is refused with a sentence, its code in small print,
    // and the answers kept; nothing is written.
    let form = author.get(&review_path).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    let csrf = csrf_of(&form.html);
    let before = h.ledger_count().await;
    let p = author
        .post(&review_path, &review_fields(&csrf, "1", &items, "approve"))
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.html);
    assert!(
        p.html
            .contains("You submitted revision 1 of this release, so you cannot review it."),
        "{}",
        p.html
    );
    assert!(p
        .html
        .contains("segregation-of-duties/submitter-cannot-review"));
    assert!(p.html.contains("value=\"yes\" checked"), "answers kept");
    assert_eq!(h.ledger_count().await, before);

    // The mlops reviewer sees the review in the inbox and records it from the console.
    let reviewer = cast.reviewer("mlops");
    let mut rb = Browser::new(&h);
    assert_eq!(
        rb.sign_in(&reviewer.token).await.status,
        StatusCode::SEE_OTHER
    );
    let inbox = rb.get("/console/inbox/items").await;
    assert!(inbox.html.contains(&review_path), "{}", inbox.html);
    let form = rb.get(&review_path).await;
    let csrf = csrf_of(&form.html);

    // CSRF: a form without the session's token, or from another site, changes nothing.
    let before = h.ledger_count().await;
    let p = rb
        .post(
            &review_path,
            &review_fields("forged", "1", &items, "approve"),
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.html.contains("cross-site-request"), "{}", p.html);
    let p = rb
        .post_from(
            &review_path,
            &review_fields(&csrf, "1", &items, "approve"),
            "http://evil.example",
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.html.contains("cross-site-request"), "{}", p.html);
    assert_eq!(h.ledger_count().await, before);
    assert_eq!(h.detail(&cast.owner, &rel).await["reviews"], json!([]));

    // The real form: one review, one ledger entry, back to the release page.
    let before = h.ledger_count().await;
    let p = rb
        .post(&review_path, &review_fields(&csrf, "1", &items, "approve"))
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    h.assert_one_entry(before, "review.record").await;
    // The page that follows names the ledger entry the review wrote.
    let seq = h.ledger_after(before).await[0].seq;
    assert_eq!(
        p.location,
        format!("/console/releases/{}?done=review&entry={seq}", rel.id)
    );
    let page = rb.get(&p.location).await;
    assert!(
        page.html.contains(&format!(
            "Your review was recorded in the ledger as entry {seq}."
        )),
        "{}",
        page.html
    );
    let reviews = h.detail(&cast.owner, &rel).await["reviews"].clone();
    assert_eq!(reviews[0]["reviewer"], reviewer.id.as_str(), "{reviews}");
    assert_eq!(reviews[0]["role"], "mlops");
    let page = rb.get(&format!("/console/releases/{}", rel.id)).await;
    assert!(
        page.html.contains(&reviewer.id),
        "the review shows on the release"
    );
    assert!(
        !page.html.contains(&review_path),
        "no second review offered"
    );

    // Sign-out ends the session everywhere: the old cookie opens nothing.
    let inbox = rb.get("/console").await;
    let csrf = csrf_of(&inbox.html);
    let stale = rb.cookies.clone();
    let before = h.ledger_count().await;
    let p = rb.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    h.assert_one_entry(before, "session.end").await;
    rb.cookies = stale;
    let p = rb.get("/console").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(p.location.contains("why=ended"), "{}", p.location);
    let p = rb.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.html.contains("session-ended"), "{}", p.html);

    // A session expires: pages ask to sign in again, forms are refused.
    let inbox = author.get("/console").await;
    let csrf = csrf_of(&inbox.html);
    h.advance(Duration::hours(13));
    let p = author.get("/console").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(p.location.contains("why=expired"), "{}", p.location);
    let before = h.ledger_count().await;
    let p = author.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert_eq!(h.ledger_count().await, before);
}

#[tokio::test]
async fn i10_a_step_up_is_approved_from_the_console() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = crate::agents::world(&h).await;
        let sys = w.cast.system.clone();
        let t = crate::runtime::credential(
            &h,
            &w,
            &["write"],
            json!({}),
            &crate::agents::scope(&sys, "write", "orders/*"),
        )
        .await;
        let d = crate::runtime::decide(&h, &t, crate::runtime::write_body(&w, 120)).await;
        assert_eq!(d["decision"], "step_up", "{d}");
        let apr = d["approval"]["id"].as_str().unwrap().to_owned();
        let path = format!("/console/approvals/{apr}");

        let mut owner = Browser::new(&h);
        assert_eq!(
            owner.sign_in(&w.cast.owner.token).await.status,
            StatusCode::SEE_OTHER
        );
        let inbox = owner.get("/console/inbox/items").await;
        assert!(inbox.html.contains(&path), "{}", inbox.html);

        // The approver sees the exact arguments and what the AI produced; the first
        // opening is recorded.
        let before = h.ledger_count().await;
        let page = owner.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        assert!(page.html.contains("&#34;refund&#34;: 120"), "{}", page.html);
        assert!(page.html.contains("refund 120 EUR on order 42"));
        assert!(page.html.contains("money leaves the company"));
        assert!(page
            .html
            .contains("not delegated: the agent acts for itself"));
        h.assert_one_entry(before, "approval.open").await;

        // No comment: refused on the page, nothing written.
        let csrf = csrf_of(&page.html);
        let before = h.ledger_count().await;
        let p = owner
            .post(
                &path,
                &[("csrf", &csrf), ("decision", "approve"), ("comment", " ")],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
        assert!(p.html.contains("missing-comment"), "{}", p.html);
        assert_eq!(h.ledger_count().await, before);

        let p = owner
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("decision", "approve"),
                    ("comment", "refund is in policy"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
        h.assert_one_entry(before, "approval.approve").await;
        let seq = h.ledger_after(before).await[0].seq;
        assert_eq!(p.location, format!("{path}?done=answer&entry={seq}"));
        let (_, a) = h.get(&w.cast.owner, &format!("/v1/approvals/{apr}")).await;
        assert_eq!(a["state"], "approved", "{a}");
        assert_eq!(a["comment"], "refund is in policy");
        let page = owner.get(&path).await;
        assert!(
            !page.html.contains("name=\"decision\""),
            "answered: no buttons"
        );

        // Unused, it can be taken back: one entry, and the page says so.
        assert!(page.html.contains("Revoke this approval"), "{}", page.html);
        let csrf = csrf_of(&page.html);
        let before = h.ledger_count().await;
        let p = owner
            .post(
                &format!("{path}/revoke"),
                &[("csrf", &csrf), ("reason", "the customer called back")],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
        h.assert_one_entry(before, "approval.revoke").await;
        let (_, a) = h.get(&w.cast.owner, &format!("/v1/approvals/{apr}")).await;
        assert_eq!(a["state"], "revoked", "{a}");
        let page = owner.get(&p.location).await;
        assert!(
            page.html.contains("Your revocation was recorded"),
            "{}",
            page.html
        );
        assert!(page.html.contains("then revoked"), "{}", page.html);
        assert!(!page.html.contains("Revoke this approval"));
    }
}

#[tokio::test]
async fn i2_the_owner_accepts_a_gap_and_decides_from_the_console() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let rel = h.medium(&cast).await;
        h.attach_required_evidence(&cast, &rel).await;
        h.submit(&cast, &rel).await;
        // Every review but operations': one acceptable gap is left.
        for role in ["mlops", "security"] {
            h.review_ok(cast.reviewer(role), &rel, role, "approve")
                .await;
        }
        let path = format!("/console/releases/{}", rel.id);
        let mut owner = Browser::new(&h);
        assert_eq!(
            owner.sign_in(&cast.owner.token).await.status,
            StatusCode::SEE_OTHER
        );
        let inbox = owner.get("/console/inbox/items").await;
        assert!(
            inbox.html.contains(&path),
            "the owner's inbox lists the release: {}",
            inbox.html
        );
        let page = owner.get(&path).await;
        assert!(
            page.html.contains("Your decision on revision 1"),
            "{}",
            page.html
        );
        assert!(
            page.html.contains("disabled aria-describedby=\"go-why\""),
            "go is disabled while a gap is open"
        );
        assert!(page
            .html
            .contains("1 requirement(s) unmet: meet or accept each first"));
        assert!(page
            .html
            .contains("Accept missing_review:operations as risk"));
        let csrf = csrf_of(&page.html);

        // Evidence is previewed inline, as text, with its download beside it.
        let evidence = h.detail(&cast.owner, &rel).await["evidence"].clone();
        let threat = evidence
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "threat_model")
            .unwrap_or_else(|| panic!("{evidence}"));
        let preview = format!("{path}/evidence/{}", threat["digest"].as_str().unwrap());
        assert!(
            page.html.contains(&preview),
            "the release page links the preview"
        );
        let p = owner.get(&preview).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.html);
        assert!(
            p.html
                .contains("<pre class=\"verbatim\">threat_model document</pre>"),
            "{}",
            p.html
        );
        let p = owner
            .get(&format!("{path}/evidence/sha256:{}", "0".repeat(64)))
            .await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{}", p.html);

        // Go while the gate is not clear: refused on the page, nothing written (I2).
        let before = h.ledger_count().await;
        let go = [
            ("csrf", csrf.as_str()),
            ("revision", "1"),
            ("decision", "go"),
            ("environment", "production"),
            ("comment", "ship it"),
        ];
        let p = owner.post(&format!("{path}/decision"), &go).await;
        assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.html);
        assert!(p.html.contains("gate-unmet"), "{}", p.html);
        // An acceptance without a real justification is refused too.
        let accept = |why: &'static str| {
            vec![
                ("csrf", csrf.clone()),
                ("revision", "1".to_owned()),
                ("gap", "missing_review:operations".to_owned()),
                ("justification", why.to_owned()),
                ("days", "14".to_owned()),
            ]
        };
        let fields = accept("ok");
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p = owner.post(&format!("{path}/acceptances"), &fields).await;
        assert!(p.status.is_client_error(), "{}", p.html);
        assert!(
            p.html.contains("justification of at least 10 characters"),
            "{}",
            p.html
        );
        assert_eq!(h.ledger_count().await, before);

        // The acceptance, then go: one ledger entry each.
        let fields = accept("operations signed off in the change board");
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p = owner.post(&format!("{path}/acceptances"), &fields).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
        h.assert_one_entry(before, "risk.accept").await;
        let seq = h.ledger_after(before).await[0].seq;
        assert_eq!(p.location, format!("{path}?done=accept&entry={seq}"));
        let page = owner.get(&p.location).await;
        assert!(page.html.contains(&format!(
            "Your risk acceptance was recorded in the ledger as entry {seq}."
        )));
        assert!(
            !page.html.contains("disabled aria-describedby"),
            "go is enabled now"
        );

        let before = h.ledger_count().await;
        let p = owner.post(&format!("{path}/decision"), &go).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
        h.assert_one_entry(before, "release.decide").await;
        assert_eq!(h.status_of(&cast.owner, &rel).await, "approved");
        let page = owner.get(&path).await;
        assert!(
            !page.html.contains("Your decision on revision"),
            "decided: no more buttons"
        );

        // Before promotion the owner may withdraw the go: back in review, one entry.
        assert!(page.html.contains("Withdraw your go"), "{}", page.html);
        let csrf = csrf_of(&page.html);
        let revision = rel.revision.to_string();
        let before = h.ledger_count().await;
        let p = owner
            .post(
                &format!("{path}/withdraw"),
                &[
                    ("csrf", &csrf),
                    ("revision", &revision),
                    ("reason", "short"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
        assert!(p.html.contains("at least 10 characters"), "{}", p.html);
        assert_eq!(h.ledger_count().await, before);
        let reason = "the rollback drill failed this morning";
        let p = owner
            .post(
                &format!("{path}/withdraw"),
                &[("csrf", &csrf), ("revision", &revision), ("reason", reason)],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
        h.assert_one_entry(before, "release.withdraw").await;
        assert_eq!(h.status_of(&cast.owner, &rel).await, "in_review");
        let page = owner.get(&p.location).await;
        assert!(page
            .html
            .contains("Your withdrawal of the go was recorded in the ledger"));
        assert!(
            page.html.contains("Your decision on revision"),
            "decide again"
        );
    }
}

// ---------- OpenID Connect: who a provider's identity signs in ----------

const ISSUER: &str = "http://idp.test.example";

fn oidc_options(token: bool, provision: bool) -> SignInOptions {
    let config = OidcConfig {
        issuer: ISSUER.into(),
        client_id: "countersign".into(),
        client_secret: None,
        redirect_url: "http://127.0.0.1:1/console/oidc/callback".into(),
        scopes: vec!["email".into(), "groups".into()],
        groups_claim: Some("groups".into()),
        group_roles: [
            ("sec-team".to_owned(), [Role::Security].into()),
            ("risk-team".to_owned(), [Role::Risk].into()),
        ]
        .into(),
        provision,
        display_name: Some("Test IdP".into()),
    };
    SignInOptions {
        token,
        oidc: Some(Arc::new(
            OidcClient::new(config, &OutboundTls::system()).unwrap(),
        )),
        ..SignInOptions::default()
    }
}

fn identity(sub: &str, email: &str, verified: bool, groups: &[&str]) -> Identity {
    Identity {
        issuer: ISSUER.into(),
        subject: sub.into(),
        email: Some(email.into()),
        email_verified: verified,
        name: Some("Someone".into()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        authenticated_at: start_time(),
    }
}

async fn actions_after(h: &Harness, before: u64) -> Vec<String> {
    h.ledger_after(before)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn roles_of(h: &Harness, id: &str) -> Vec<String> {
    let u = h.get_ok(&h.admin, &format!("/v1/users/{id}")).await;
    u["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_providers_identity_signs_in_the_right_person_or_nobody() {
    for backend in backends() {
        a_providers_identity_signs_in_the_right_person_or_nobody_on(backend).await;
    }
}

async fn a_providers_identity_signs_in_the_right_person_or_nobody_on(backend: Backend) {
    let h = Harness::start_with_sign_in(backend, oidc_options(false, false)).await;
    let sam = h.user("Sam", &["security"]).await;
    let email = h.get_ok(&h.admin, &format!("/v1/users/{}", sam.id)).await["email"]
        .as_str()
        .unwrap()
        .to_owned();

    // First sign-in: matched by verified email, and the provider's sub is linked.
    let before = h.ledger_count().await;
    let (session, _) = sessions::sign_in_with_identity(
        &h.app,
        identity("sub-sam", &email, true, &["sec-team", "unmapped"]),
    )
    .await
    .unwrap();
    assert_eq!(session.user_id.as_str(), sam.id);
    assert_eq!(session.method.as_str(), "oidc");
    assert_eq!(
        actions_after(&h, before).await,
        ["user.link_identity", "session.start"],
        "the roles the groups give are the ones Sam has: no role change"
    );

    // Later, the provider's email changed: the linked sub still says it is Sam.
    let before = h.ledger_count().await;
    let (session, _) = sessions::sign_in_with_identity(
        &h.app,
        identity(
            "sub-sam",
            "sam@new-domain.example",
            true,
            &["sec-team", "risk-team"],
        ),
    )
    .await
    .unwrap();
    assert_eq!(session.user_id.as_str(), sam.id);
    assert_eq!(
        actions_after(&h, before).await,
        ["user.roles", "session.start"]
    );
    assert_eq!(roles_of(&h, &sam.id).await, ["security", "risk"]);

    // The groups give no role any more: the change is kept, the sign-in refused.
    let before = h.ledger_count().await;
    let e = sessions::sign_in_with_identity(&h.app, identity("sub-sam", &email, true, &[]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("holds no countersign role"), "{e}");
    assert_eq!(actions_after(&h, before).await, ["user.roles"]);
    assert!(roles_of(&h, &sam.id).await.is_empty());

    // An email the provider did not verify matches nobody; nothing is written.
    let maya = h.user("Maya", &["mlops"]).await;
    let maya_email = h.get_ok(&h.admin, &format!("/v1/users/{}", maya.id)).await["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = h.ledger_count().await;
    let e = sessions::sign_in_with_identity(
        &h.app,
        identity("sub-mallory", &maya_email, false, &["sec-team"]),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string().contains("did not send a verified email"),
        "{e}"
    );
    // Someone the provider vouches for but countersign does not know.
    let e = sessions::sign_in_with_identity(
        &h.app,
        identity("sub-eve", "eve@elsewhere.example", true, &["sec-team"]),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("there is no countersign account for eve@elsewhere.example"),
        "{e}"
    );
    assert_eq!(h.ledger_count().await, before);

    // With just-in-time provisioning, she gets an account with the roles her groups give.
    let provisioning = h.app.clone().with_sign_in(oidc_options(false, true));
    let (session, _) = sessions::sign_in_with_identity(
        &provisioning,
        identity("sub-eve", "eve@elsewhere.example", true, &["risk-team"]),
    )
    .await
    .unwrap();
    assert_eq!(
        actions_after(&h, before).await,
        ["user.provision", "session.start"]
    );
    assert_eq!(roles_of(&h, session.user_id.as_str()).await, ["risk"]);

    // Token sign-in is off on this server: the page offers only the provider, and a
    // pasted token is refused without a session.
    let mut browser = Browser::new(&h);
    let page = browser.get("/console/sign-in").await;
    assert!(page.html.contains("Sign in with Test IdP"), "{}", page.html);
    assert!(!page.html.contains("name=\"token\""), "{}", page.html);
    // A script may still post the form (with the page's own double-submit token).
    let signin_csrf = browser
        .cookies
        .iter()
        .find(|(k, _)| k == "cs_signin")
        .map(|(_, v)| v.clone())
        .expect("the sign-in page sets its form token");
    let before = h.ledger_count().await;
    let p = browser
        .post(
            "/console/sign-in",
            &[
                ("csrf", &signin_csrf),
                ("token", &maya.token),
                ("next", "/console"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.html.contains("turned off"), "{}", p.html);
    assert!(!p.set_cookies.iter().any(|c| c.starts_with("cs_session=")));
    assert_eq!(h.ledger_count().await, before);

    // A fresh sign-in at the provider moves an old session's sign-in time.
    let cast = h.cast().await;
    let rel = h.release(&cast, json!({"regulated": true})).await;
    let owner_email = h
        .get_ok(&h.admin, &format!("/v1/users/{}", cast.owner.id))
        .await["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, secret) = sessions::sign_in_with_identity(
        &h.app,
        identity("sub-owner", &owner_email, true, &["risk-team"]),
    )
    .await
    .unwrap();
    h.advance(Duration::minutes(90));
    let viewer = sessions::resolve(&h.app, &secret).await.unwrap();
    let of = || sessions::Approving::Release(countersign_core::ReleaseId(rel.id.clone()));
    let e = sessions::require_recent_sign_in(&h.app, &viewer, of())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at most 60 minutes old"), "{e}");
    let mut again = identity("sub-owner", &owner_email, true, &["risk-team"]);
    again.authenticated_at = h.now();
    assert!(sessions::is_viewer(&h.app, &viewer, &again).await.unwrap());
    let before = h.ledger_count().await;
    sessions::reauthenticate(&h.app, viewer, &again)
        .await
        .unwrap();
    h.assert_one_entry(before, "session.reauthenticate").await;
    let viewer = sessions::resolve(&h.app, &secret).await.unwrap();
    sessions::require_recent_sign_in(&h.app, &viewer, of())
        .await
        .unwrap();
    assert!(!sessions::is_viewer(
        &h.app,
        &viewer,
        &identity("sub-eve", "eve@elsewhere.example", true, &[])
    )
    .await
    .unwrap());

    // Coming back from the provider without a sign-in started here is refused.
    let p = browser.get("/console/oidc/callback?code=x&state=y").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.html.contains("was not started here"), "{}", p.html);
    let p = browser
        .get("/console/oidc/callback?error=access_denied&error_description=The+user+cancelled")
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(
        p.html
            .contains("Test IdP did not sign you in: The user cancelled."),
        "{}",
        p.html
    );
}

#[tokio::test]
async fn approving_a_high_tier_release_needs_a_recent_sign_in() {
    for backend in backends() {
        approving_a_high_tier_release_needs_a_recent_sign_in_on(backend).await;
    }
}

async fn approving_a_high_tier_release_needs_a_recent_sign_in_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.release(&cast, json!({"regulated": true})).await;
    assert_eq!(h.gate(&cast.owner, &rel).await["tier"], "high");
    h.submit(&cast, &rel).await;
    let review_path = format!("/console/releases/{}/review/security", rel.id);
    let items: Vec<String> = h
        .profile
        .checklist(Role::Security)
        .iter()
        .map(|c| format!("answer.{}", c.id))
        .collect();

    let mut sec = Browser::new(&h);
    let p = sec.sign_in(&cast.reviewer("security").token).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    // The high tier allows a sign-in 60 minutes old (profiles/example.toml).
    h.advance(Duration::minutes(61));
    let page = sec.get(&review_path).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = csrf_of(&page.html);
    let revision = rel.revision.to_string();
    let fields = review_fields(&csrf, &revision, &items, "approve");
    let before = h.ledger_count().await;
    let p = sec.post(&review_path, &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert_eq!(
        p.location,
        format!("/console/sign-in?next={review_path}&why=fresh"),
        "sent to sign in again, and back to the form"
    );
    assert_eq!(h.ledger_count().await, before, "nothing was recorded");
    let page = sec.get(&p.location).await;
    assert!(
        page.html.contains("This approval needs a recent sign-in"),
        "{}",
        page.html
    );

    // Signed in again: the same form is accepted.
    let p = sec.sign_in(&cast.reviewer("security").token).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let page = sec.get(&review_path).await;
    let csrf = csrf_of(&page.html);
    let fields = review_fields(&csrf, &revision, &items, "approve");
    let before = h.ledger_count().await;
    let p = sec.post(&review_path, &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(p.location.contains("done=review"), "{}", p.location);
    h.assert_one_entry(before, "review.record").await;

    // A medium-tier release sets no limit: an old sign-in is enough.
    let medium = h.medium(&cast).await;
    h.submit(&cast, &medium).await;
    h.advance(Duration::hours(5));
    let path = format!("/console/releases/{}/review/security", medium.id);
    let page = sec.get(&path).await;
    let csrf = csrf_of(&page.html);
    let revision = medium.revision.to_string();
    let fields = review_fields(&csrf, &revision, &items, "approve");
    let p = sec.post(&path, &fields).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(p.location.contains("done=review"), "{}", p.location);
}

#[tokio::test]
async fn the_release_page_compares_two_revisions_field_by_field() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let rel = h.medium(&cast).await;
        let old = rel.artifact.clone();
        let new = h.artifact();
        let mut bundle = h.bundle(&new);
        bundle["code_commit"] = json!("f00dfeed");
        h.command(
            &cast.author,
            &format!("/v1/releases/{}/revisions", rel.id),
            &json!({"based_on_revision": 1, "bundle": bundle}),
            "release.revise",
        )
        .await;
        let mut owner = Browser::new(&h);
        owner.sign_in(&cast.owner.token).await;
        let path = format!("/console/releases/{}", rel.id);
        let page = owner.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.html
                .contains("What changed from revision 1 to revision 2"),
            "{}",
            page.html
        );
        let row = |field: &str| {
            let at = page
                .html
                .find(&format!("<code>{field}</code>"))
                .unwrap_or_else(|| panic!("no {field} row: {}", page.html));
            page.html[at..at + page.html[at..].find("</tr>").unwrap()].to_owned()
        };
        let artifact = row("artifact_digest");
        assert!(
            artifact.contains(&old) && artifact.contains(&new),
            "{artifact}"
        );
        assert!(row("code_commit").contains("f00dfeed"));
        assert!(
            !page.html.contains("<code>dataset_versions</code>"),
            "unchanged fields are left out"
        );
        // The same revision twice, or one that does not exist: nothing to compare.
        let page = owner.get(&format!("{path}?from=2&to=2")).await;
        assert!(!page.html.contains("What changed"));
        let page = owner.get(&format!("{path}?from=1&to=9")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.html.contains("What changed"));
    }
}

/// The rendered HTML of a page, with what differs between runs (random ids, digests
/// of random content, CSRF tokens) replaced by placeholders, so the snapshot is of a
/// fixed world.
fn stable(html: &str) -> String {
    let mut out = html.to_owned();
    for (pattern, with) in [
        (r"\b([a-z]+)_[0-9a-f]{16,}\b", "${1}_[id]"),
        (r"\b[0-9a-f]{8,64}\b", "[hex]"),
        (r"jti-[0-9A-Za-z-]+", "jti-[id]"),
    ] {
        out = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&out, with)
            .into_owned();
    }
    out
}

/// Snapshots (insta) of the main pages for a fixed world (issue 12): a medium
/// release in review with one review, its evidence preview, a reviewer's form, and a
/// step-up approval. The manual clock fixes every time; `stable` the random ids.
#[tokio::test]
async fn the_main_pages_render_as_recorded_for_a_fixed_world() {
    let h = Harness::start_on(Backend::Sqlite).await;
    let w = crate::agents::world(&h).await;
    let rel = h.medium(&w.cast).await;
    h.attach_required_evidence(&w.cast, &rel).await;
    h.submit(&w.cast, &rel).await;
    h.review_ok(
        w.cast.reviewer("security"),
        &rel,
        "security",
        "approve_with_conditions",
    )
    .await;
    let t = crate::runtime::credential(
        &h,
        &w,
        &["write"],
        json!({}),
        &crate::agents::scope(&w.cast.system, "write", "orders/*"),
    )
    .await;
    let d = crate::runtime::decide(&h, &t, crate::runtime::write_body(&w, 120)).await;
    let apr = d["approval"]["id"].as_str().unwrap().to_owned();

    let mut owner = Browser::new(&h);
    owner.sign_in(&w.cast.owner.token).await;
    let release = owner.get(&format!("/console/releases/{}", rel.id)).await;
    assert_eq!(release.status, StatusCode::OK, "{}", release.html);
    insta::assert_snapshot!("release_page", stable(&release.html));
    let evidence = h.detail(&w.cast.owner, &rel).await["evidence"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let preview = owner
        .get(&format!("/console/releases/{}/evidence/{evidence}", rel.id))
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.html);
    insta::assert_snapshot!("evidence_page", stable(&preview.html));
    let approval = owner.get(&format!("/console/approvals/{apr}")).await;
    assert_eq!(approval.status, StatusCode::OK, "{}", approval.html);
    insta::assert_snapshot!("approval_page", stable(&approval.html));

    let mut reviewer = Browser::new(&h);
    reviewer.sign_in(&w.cast.reviewer("operations").token).await;
    let review = reviewer
        .get(&format!("/console/releases/{}/review/operations", rel.id))
        .await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.html);
    insta::assert_snapshot!("review_page", stable(&review.html));
    let inbox = reviewer.get("/console").await;
    insta::assert_snapshot!("inbox_page", stable(&inbox.html));
}
