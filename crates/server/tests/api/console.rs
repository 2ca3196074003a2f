//! The console over HTTP (issue 12): token sign-in and server-side sessions, CSRF and
//! cross-site refusals, expiry and sign-out, a review with a segregation-of-duties
//! refusal shown in plain words, and a step-up approved from the console. Each state
//! change has its one ledger entry (I11); a refused form changes nothing (I12).

use crate::harness::*;
use chrono::Duration;
use countersign_core::Role;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

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
    }
}
