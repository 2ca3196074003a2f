//! The test harness: a real server on a loopback port over a real database, a manual
//! clock, and helpers that read like the steps of a release.

use chrono::{DateTime, Duration, TimeZone, Utc};
use countersign_core::profile::{Profile, EXAMPLE_PROFILE};
use countersign_core::{Digest, Role};
use countersign_ledger::Entry;
use countersign_server::clock::ManualClock;
use countersign_server::{app, AppState};
use countersign_store::Store;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tempfile::TempDir;

/// The problem type prefix every error carries.
pub const PROBLEM: &str = "urn:countersign:problem:";

/// Every role a required reviewer can hold in the example profile.
pub const REVIEWER_ROLES: [&str; 8] = [
    "mlops",
    "security",
    "privacy",
    "legal",
    "compliance",
    "data-governance",
    "operations",
    "risk",
];

/// A backend a scenario runs on.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL server base URL; each harness gets a fresh database in it.
    Postgres(String),
}

/// SQLite always; PostgreSQL too whenever `COUNTERSIGN_TEST_POSTGRES` is set.
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if let Ok(url) = std::env::var("COUNTERSIGN_TEST_POSTGRES") {
        b.push(Backend::Postgres(url));
    }
    b
}

/// The database a test runs against. Each call returns a fresh, empty database: a
/// SQLite file in the test's temporary directory, or a new PostgreSQL database.
pub async fn test_database_url(dir: &Path, backend: &Backend) -> String {
    match backend {
        Backend::Sqlite => dir.join("countersign.db").display().to_string(),
        Backend::Postgres(base) => countersign_store::testing::fresh_postgres_database(base)
            .await
            .expect("a fresh PostgreSQL database"),
    }
}

/// A user created through the API, with an API token.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub token: String,
}

/// A full HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    /// The body as JSON, or `Value::Null` when it is not JSON.
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an RFC 9457 problem with this status and `urn:countersign:problem:<code>`.
    pub fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "a problem document is expected, got {} {}",
            self.status,
            String::from_utf8_lossy(&self.bytes)
        );
        assert_problem(&(self.status, self.body.clone()), status, code);
    }
}

/// Asserts `(status, body)` is a problem with this status and code.
pub fn assert_problem(reply: &(StatusCode, Value), status: StatusCode, code: &str) {
    let (got, body) = reply;
    assert_eq!(*got, status, "unexpected status; body: {body}");
    assert_eq!(
        body["type"].as_str(),
        Some(format!("{PROBLEM}{code}").as_str()),
        "unexpected problem type; body: {body}"
    );
    assert_eq!(body["status"].as_u64(), Some(u64::from(status.as_u16())));
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "problem without a title: {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "problem without a detail: {body}"
    );
}

/// The people of one release scenario: an author (mlops) who creates and submits, a
/// decision owner (risk) who also owns the system, and one reviewer per reviewer role.
#[derive(Clone, Debug)]
pub struct Cast {
    pub author: TestUser,
    pub owner: TestUser,
    pub system: String,
    pub reviewers: BTreeMap<&'static str, TestUser>,
}

impl Cast {
    pub fn reviewer(&self, role: &str) -> &TestUser {
        self.reviewers
            .get(role)
            .unwrap_or_else(|| panic!("no reviewer for role {role}"))
    }
}

/// A release under test.
#[derive(Clone, Debug)]
pub struct Rel {
    pub id: String,
    pub artifact: String,
    pub revision: u32,
}

/// A running server with its own database and clock.
pub struct Harness {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub profile: Arc<Profile>,
    pub db_url: String,
    pub backend: Backend,
    pub admin: TestUser,
    /// The application the server runs, for calling its commands directly.
    pub app: AppState,
    seq: AtomicU64,
    server: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
        if let Backend::Postgres(base) = &self.backend {
            // Best effort: drop this test's database (WITH FORCE closes the pool's
            // connections). CI also sweeps leftovers.
            let (base, url) = (base.clone(), self.db_url.clone());
            let _ = std::thread::spawn(move || {
                let Some(name) = countersign_store::testing::postgres_database_name(&url) else {
                    return;
                };
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                let _ = rt.block_on(countersign_store::testing::drop_postgres_database(
                    &base, name,
                ));
            })
            .join();
        }
    }
}

/// An eval report (countersign.eval/v1) that passes every evaluation gate of the
/// example profile.
pub const PASSING_EVAL: &str = r#"{"format": "countersign.eval/v1", "run_id": "run-1", "results": [
  {"metric": "accuracy", "value": 0.94, "dataset": "tickets@3", "slice": "all"},
  {"metric": "toxicity", "value": 0.002, "dataset": "tickets@3", "slice": "all"},
  {"metric": "drift_psi", "value": 0.05, "dataset": "tickets@3"},
  {"metric": "jailbreak_resistance", "value": 0.99}
]}"#;

/// The time every harness starts at.
/// The example profile (`profiles/example.toml`).
pub fn example_profile() -> Profile {
    Profile::from_toml("profiles/example.toml", EXAMPLE_PROFILE)
        .expect("the example profile validates")
}

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0)
        .single()
        .expect("a valid start time")
}

impl Harness {
    pub async fn start_on(backend: Backend) -> Harness {
        Self::start_with(backend, None).await
    }

    /// A harness whose server runs the runtime policies of `policies` (a directory)
    /// instead of the built-in example set.
    pub async fn start_with(backend: Backend, policies: Option<std::path::PathBuf>) -> Harness {
        Self::start_full(backend, policies, None, None).await
    }

    /// A harness whose console signs people in as `sign_in` says.
    pub async fn start_with_sign_in(
        backend: Backend,
        sign_in: countersign_server::app::sessions::SignInOptions,
    ) -> Harness {
        Self::start_full(backend, None, Some(sign_in), None).await
    }

    /// A harness whose server runs this profile instead of the example one.
    pub async fn start_with_profile(backend: Backend, profile: Profile) -> Harness {
        Self::start_full(backend, None, None, Some(profile)).await
    }

    async fn start_full(
        backend: Backend,
        policies: Option<std::path::PathBuf>,
        sign_in: Option<countersign_server::app::sessions::SignInOptions>,
        profile: Option<Profile>,
    ) -> Harness {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db_url = test_database_url(dir.path(), &backend).await;
        let store = countersign_store::open(&db_url)
            .await
            .expect("the test database opens");
        let profile = Arc::new(profile.unwrap_or_else(example_profile));
        let clock = Arc::new(ManualClock::new(start_time()));

        let mut tx = store.write().await.expect("a write transaction");
        let (admin, secret) =
            countersign_server::app::users::bootstrap_admin(&mut *tx, start_time())
                .await
                .expect("bootstrap succeeds")
                .expect("a fresh database has no users");
        tx.commit().await.expect("bootstrap commits");

        let state = match policies {
            None => AppState::new(store.clone(), profile.clone(), clock.clone())
                .expect("the example policies load"),
            Some(d) => AppState::with_policies(
                store.clone(),
                profile.clone(),
                clock.clone(),
                countersign_server::app::policies::load_policy_dir(&d).expect("the policies load"),
                Some(d),
            ),
        };
        let state = match sign_in {
            Some(s) => state.with_sign_in(s),
            None => state,
        };
        let app_state = state.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app(state)).await;
        });
        Harness {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            store,
            clock,
            profile,
            db_url,
            backend,
            admin: TestUser {
                id: admin.id.to_string(),
                token: secret,
            },
            app: app_state,
            seq: AtomicU64::new(0),
            server,
            _dir: dir,
        }
    }

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn now(&self) -> DateTime<Utc> {
        use countersign_server::clock::Clock;
        self.clock.now()
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    // ---------- raw HTTP ----------

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with no Authorization header.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn send(&self, req: RequestBuilder) -> Reply {
        let resp = req.send().await.expect("the server answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("a body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            bytes,
            body,
        }
    }

    pub async fn post_full(&self, who: &TestUser, path: &str, body: &Value) -> Reply {
        self.send(
            self.request(Method::POST, path)
                .bearer_auth(&who.token)
                .json(body),
        )
        .await
    }

    pub async fn post(&self, who: &TestUser, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self.post_full(who, path, body).await;
        (r.status, r.body)
    }

    pub async fn get_full(&self, who: &TestUser, path: &str) -> Reply {
        self.send(self.request(Method::GET, path).bearer_auth(&who.token))
            .await
    }

    pub async fn get(&self, who: &TestUser, path: &str) -> (StatusCode, Value) {
        let r = self.get_full(who, path).await;
        (r.status, r.body)
    }

    /// GET that must succeed.
    pub async fn get_ok(&self, who: &TestUser, path: &str) -> Value {
        let (status, body) = self.get(who, path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// Uploads raw bytes (evidence).
    pub async fn upload(&self, who: &TestUser, path: &str, content: &[u8]) -> Reply {
        self.send(
            self.request(Method::POST, path)
                .bearer_auth(&who.token)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(content.to_vec()),
        )
        .await
    }

    // ---------- the ledger ----------

    pub async fn ledger_count(&self) -> u64 {
        let mut tx = self.store.read().await.expect("a read transaction");
        tx.ledger_count().await.expect("the ledger counts")
    }

    /// Ledger entries with a sequence number greater than `after`.
    pub async fn ledger_after(&self, after: u64) -> Vec<Entry> {
        let mut tx = self.store.read().await.expect("a read transaction");
        tx.ledger_page(after, 1000).await.expect("a ledger page")
    }

    /// A successful command: 2xx and exactly one new ledger entry with this action (I11).
    pub async fn command(&self, who: &TestUser, path: &str, body: &Value, action: &str) -> Value {
        let before = self.ledger_count().await;
        let (status, reply) = self.post(who, path, body).await;
        assert!(status.is_success(), "POST {path} failed: {status} {reply}");
        self.assert_one_entry(before, action).await;
        reply
    }

    /// Asserts exactly one entry, with this action, was appended since `before`.
    pub async fn assert_one_entry(&self, before: u64, action: &str) {
        let new = self.ledger_after(before).await;
        assert_eq!(
            new.len(),
            1,
            "expected exactly one ledger entry ({action}), got {:?}",
            new.iter().map(|e| &e.action).collect::<Vec<_>>()
        );
        assert_eq!(new[0].action, action);
    }

    /// A refused command: this problem, and no ledger entry (I11, I12).
    pub async fn refused(
        &self,
        who: &TestUser,
        path: &str,
        body: &Value,
        status: StatusCode,
        code: &str,
    ) -> Value {
        let before = self.ledger_count().await;
        let reply = self.post_full(who, path, body).await;
        reply.assert_problem(status, code);
        assert_eq!(
            self.ledger_count().await,
            before,
            "a refused POST {path} ({code}) must not append to the ledger"
        );
        reply.body
    }

    // ---------- users and systems ----------

    /// Creates a user with these roles through the API and issues it a token.
    pub async fn user(&self, name: &str, roles: &[&str]) -> TestUser {
        let n = self.next();
        let email = format!("{}.{n}@test.example", name.to_lowercase().replace(' ', "."));
        let u = self
            .command(
                &self.admin,
                "/v1/users",
                &json!({"name": name, "email": email, "roles": roles}),
                "user.create",
            )
            .await;
        let id = u["id"].as_str().expect("a user id").to_owned();
        let t = self
            .command(
                &self.admin,
                &format!("/v1/users/{id}/tokens"),
                &json!({"label": "test"}),
                "token.create",
            )
            .await;
        TestUser {
            id,
            token: t["token"].as_str().expect("a token secret").to_owned(),
        }
    }

    /// Creates a system owned by `owner`; returns its id.
    pub async fn system(&self, owner: &TestUser) -> String {
        let n = self.next();
        let s = self
            .command(
                &self.admin,
                "/v1/systems",
                &json!({"name": format!("system-{n}"), "description": "a test system", "owner": owner.id}),
                "system.create",
            )
            .await;
        s["id"].as_str().expect("a system id").to_owned()
    }

    /// An author, a decision owner, a system and one reviewer per reviewer role.
    pub async fn cast(&self) -> Cast {
        let author = self.user("Author", &["mlops"]).await;
        let owner = self.user("Owner", &["risk"]).await;
        let system = self.system(&owner).await;
        let mut reviewers = BTreeMap::new();
        for role in REVIEWER_ROLES {
            reviewers.insert(role, self.user(&format!("Reviewer {role}"), &[role]).await);
        }
        Cast {
            author,
            owner,
            system,
            reviewers,
        }
    }

    // ---------- lineage (I6) ----------

    pub fn dataset_body(&self, name: &str, version: &str, uses: &[&str]) -> Value {
        json!({
            "name": name, "version": version,
            "digest": Digest::of(format!("{name}@{version}").as_bytes()).to_string(),
            "source": format!("s3://data/{name}/{version}"), "classification": "internal",
            "permitted_uses": uses,
        })
    }

    /// Registers a dataset version as `who`; returns its `name@version`.
    pub async fn dataset(
        &self,
        who: &TestUser,
        name: &str,
        version: &str,
        uses: &[&str],
    ) -> String {
        let d = self
            .command(
                who,
                "/v1/datasets",
                &self.dataset_body(name, version, uses),
                "dataset.register",
            )
            .await;
        d["key"].as_str().expect("a dataset key").to_owned()
    }

    /// Approves a dataset version as `who` (data governance).
    pub async fn approve_dataset(&self, who: &TestUser, key: &str) -> Value {
        self.command(
            who,
            &format!("/v1/datasets/{key}/approval"),
            &json!({"comment": "checked"}),
            "dataset.approve",
        )
        .await
    }

    pub fn run_body(
        &self,
        id: &str,
        datasets: &[&str],
        trainer: &TestUser,
        artifact: &str,
    ) -> Value {
        json!({
            "id": id, "code_commit": "4f2a9c1", "datasets": datasets,
            "parameters": {"lr": 0.01}, "trainer": trainer.id, "artifact_digest": artifact,
        })
    }

    /// Registers a training run as `who`; returns its id.
    pub async fn run(
        &self,
        who: &TestUser,
        id: &str,
        datasets: &[&str],
        trainer: &TestUser,
        artifact: &str,
    ) -> String {
        let r = self
            .command(
                who,
                "/v1/runs",
                &self.run_body(id, datasets, trainer, artifact),
                "run.register",
            )
            .await;
        r["id"].as_str().expect("a run id").to_owned()
    }

    // ---------- releases ----------

    /// A fresh artifact digest.
    pub fn artifact(&self) -> String {
        Digest::of(format!("artifact-{}", self.next()).as_bytes()).to_string()
    }

    pub fn bundle(&self, artifact: &str) -> Value {
        json!({
            "artifact_digest": artifact,
            "dataset_versions": ["tickets@3"],
            "training_run_id": "run-1",
            "code_commit": "4f2a9c1",
            "parameters": {"temperature": 0.2},
        })
    }

    /// Creates a release of `cast` with these attributes and bundle.
    pub async fn create_release(
        &self,
        author: &TestUser,
        system: &str,
        owner: &TestUser,
        attributes: &Value,
        bundle: &Value,
    ) -> (StatusCode, Value) {
        self.post(
            author,
            "/v1/releases",
            &json!({
                "title": "support assistant",
                // The gate-mechanics scenarios use prompt releases, to which lineage
                // (I6) does not apply; the lineage scenarios (lineage.rs) use models.
                "kind": "prompt",
                "system": system,
                "decision_owner": owner.id,
                "attributes": attributes,
                "bundle": bundle,
            }),
        )
        .await
    }

    /// A draft release by the cast's author with these attributes and a fresh artifact.
    pub async fn release(&self, cast: &Cast, attributes: Value) -> Rel {
        let artifact = self.artifact();
        let bundle = self.bundle(&artifact);
        self.release_with_bundle(cast, attributes, bundle, &artifact)
            .await
    }

    pub async fn release_with_bundle(
        &self,
        cast: &Cast,
        attributes: Value,
        bundle: Value,
        artifact: &str,
    ) -> Rel {
        let before = self.ledger_count().await;
        let (status, body) = self
            .create_release(
                &cast.author,
                &cast.system,
                &cast.owner,
                &attributes,
                &bundle,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create release: {body}");
        self.assert_one_entry(before, "release.create").await;
        Rel {
            id: body["release"]["id"]
                .as_str()
                .expect("a release id")
                .to_owned(),
            artifact: artifact.to_owned(),
            revision: 1,
        }
    }

    /// A tier-medium release (customer facing): mlops, security (veto), operations.
    pub async fn medium(&self, cast: &Cast) -> Rel {
        let rel = self.release(cast, json!({"customer_facing": true})).await;
        assert_eq!(self.gate(&cast.owner, &rel).await["tier"], "medium");
        rel
    }

    /// The gate status of the release's current revision.
    pub async fn gate(&self, who: &TestUser, rel: &Rel) -> Value {
        self.get_ok(who, &format!("/v1/releases/{}/gate", rel.id))
            .await
    }

    /// The release with its whole history.
    pub async fn detail(&self, who: &TestUser, rel: &Rel) -> Value {
        self.get_ok(who, &format!("/v1/releases/{}", rel.id)).await
    }

    pub async fn status_of(&self, who: &TestUser, rel: &Rel) -> String {
        self.detail(who, rel).await["release"]["status"]
            .as_str()
            .expect("a status")
            .to_owned()
    }

    /// Attaches a document of this kind to the current revision.
    pub async fn attach(&self, who: &TestUser, rel: &Rel, kind: &str, content: &[u8]) -> Value {
        let before = self.ledger_count().await;
        let r = self
            .upload(
                who,
                &format!(
                    "/v1/releases/{}/evidence?revision={}&kind={kind}&name={kind}.pdf",
                    rel.id, rel.revision
                ),
                content,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "attach {kind}: {}", r.body);
        self.assert_one_entry(before, "evidence.attach").await;
        r.body
    }

    /// Unmet gaps of the current revision with this code, by subject.
    pub async fn unmet(&self, who: &TestUser, rel: &Rel, code: &str) -> Vec<String> {
        gap_subjects(&self.gate(who, rel).await["unmet"], code)
    }

    /// Attaches every evidence kind the release's tier requires and is still missing;
    /// the eval report passes every evaluation gate of the example profile.
    pub async fn attach_required_evidence(&self, cast: &Cast, rel: &Rel) {
        for kind in self.unmet(&cast.owner, rel, "missing_evidence").await {
            let content = if kind == "eval_report" {
                PASSING_EVAL.as_bytes().to_vec()
            } else {
                format!("{kind} document").into_bytes()
            };
            self.attach(&cast.author, rel, &kind, &content).await;
        }
    }

    pub async fn submit(&self, cast: &Cast, rel: &Rel) -> Value {
        self.command(
            &cast.author,
            &format!("/v1/releases/{}/submit", rel.id),
            &json!({"revision": rel.revision}),
            "release.submit",
        )
        .await
    }

    /// A review body answering every checklist item of `role` yes.
    pub fn review_body(&self, rel: &Rel, role: &str, verdict: &str) -> Value {
        let r: Role = role.parse().expect("a role");
        let answers: BTreeMap<String, &str> = self
            .profile
            .checklist(r)
            .iter()
            .map(|c| (c.id.clone(), "yes"))
            .collect();
        let mut body = json!({
            "revision": rel.revision,
            "role": role,
            "verdict": verdict,
            "answers": answers,
        });
        match verdict {
            "reject" => body["comment"] = json!("not acceptable as it stands"),
            "approve_with_conditions" => {
                body["conditions"] = json!("watch the error budget for a week")
            }
            _ => {}
        }
        body
    }

    /// A review that must be recorded, with its one ledger entry; an approving one
    /// first meets the tier's friction rules.
    pub async fn review_ok(&self, who: &TestUser, rel: &Rel, role: &str, verdict: &str) -> Value {
        let mut body = self.review_body(rel, role, verdict);
        if verdict != "reject" {
            self.meet_friction(who, rel, &mut body).await;
        }
        self.command(
            who,
            &format!("/v1/releases/{}/reviews", rel.id),
            &body,
            "review.record",
        )
        .await
    }

    /// Meets the friction rules of the release's tier for `who` approving its current
    /// revision, as a careful reviewer would: opens the release and every required
    /// document, spends the time, and types the digest into `body`. Nothing when the
    /// tier sets no rule.
    pub async fn meet_friction(&self, who: &TestUser, rel: &Rel, body: &mut Value) {
        let gate = self.gate(who, rel).await;
        let tier = self
            .profile
            .tier(gate["tier"].as_str().expect("a tier"))
            .expect("the tier is in the profile");
        let f = tier.friction.clone();
        if f.is_empty() {
            return;
        }
        let detail = self.detail(who, rel).await;
        if f.require_opened_evidence {
            for e in detail["evidence"].as_array().expect("evidence") {
                if e["revision"] == rel.revision
                    && tier.required_evidence.contains(e["kind"].as_str().unwrap())
                {
                    let digest = e["digest"].as_str().unwrap();
                    let r = self.get_full(who, &format!("/v1/evidence/{digest}")).await;
                    assert_eq!(r.status, StatusCode::OK);
                }
            }
        }
        if let Some(s) = f.min_review_seconds {
            self.advance(Duration::seconds(i64::from(s)));
        }
        if f.confirm_digest {
            let rev = detail["revisions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["number"] == rel.revision)
                .expect("the revision");
            let hex = rev["bundle_digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:");
            body["confirm_digest"] = json!(hex[..8]);
        }
    }

    /// Every required review still missing, approved by the cast's reviewer for the role.
    pub async fn approve_missing_reviews(&self, cast: &Cast, rel: &Rel) {
        for role in self.unmet(&cast.owner, rel, "missing_review").await {
            self.review_ok(cast.reviewer(&role), rel, &role, "approve")
                .await;
        }
    }

    /// Attaches all required evidence, submits, and approves every required review:
    /// afterwards the gate of the current revision is clear.
    pub async fn approve_everything(&self, cast: &Cast, rel: &Rel) {
        self.attach_required_evidence(cast, rel).await;
        self.submit(cast, rel).await;
        self.approve_missing_reviews(cast, rel).await;
        let gate = self.gate(&cast.owner, rel).await;
        assert_eq!(gate["clear"], true, "the gate should be clear: {gate}");
        assert_eq!(gate["unmet"], json!([]));
    }

    pub fn decision_body(&self, rel: &Rel, decision: &str) -> Value {
        json!({"revision": rel.revision, "decision": decision, "environment": "production", "comment": "ship it"})
    }

    /// The decision owner's go for production, with one ledger entry.
    pub async fn go_ok(&self, cast: &Cast, rel: &Rel) -> Value {
        self.command(
            &cast.owner,
            &format!("/v1/releases/{}/decision", rel.id),
            &self.decision_body(rel, "go"),
            "release.decide",
        )
        .await
    }

    /// Promote, rollback or retire (`action`) as `who`, with one ledger entry.
    pub async fn deploy_ok(&self, who: &TestUser, rel: &Rel, action: &str) -> Value {
        let entry = match action {
            "promote" => "release.promote",
            "rollback" => "release.rollback",
            "retire" => "release.retire",
            other => panic!("unknown deployment action {other}"),
        };
        self.command(
            who,
            &format!("/v1/releases/{}/{action}", rel.id),
            &json!({"revision": rel.revision, "reason": "scheduled change"}),
            entry,
        )
        .await
    }

    /// Accepts one gap of the current revision, valid for `valid_for`.
    pub async fn accept(
        &self,
        cast: &Cast,
        rel: &Rel,
        gap: &str,
        valid_for: Duration,
    ) -> (StatusCode, Value) {
        self.post(
            &cast.owner,
            &format!("/v1/releases/{}/acceptances", rel.id),
            &self.acceptance_body(rel, gap, valid_for),
        )
        .await
    }

    pub fn acceptance_body(&self, rel: &Rel, gap: &str, valid_for: Duration) -> Value {
        json!({
            "revision": rel.revision,
            "gap": gap,
            "justification": "compensating control: manual review of every output",
            "expires_at": (self.now() + valid_for).to_rfc3339(),
        })
    }

    /// The CI/CD gate check for this artifact and environment.
    pub async fn check(&self, who: &TestUser, artifact: &str, env: &str) -> Value {
        self.get_ok(
            who,
            &format!("/v1/gate/check?artifact={artifact}&env={env}"),
        )
        .await
    }

    pub async fn allowed(&self, who: &TestUser, artifact: &str, env: &str) -> bool {
        let c = self.check(who, artifact, env).await;
        c["allowed"].as_bool().expect("allowed is a bool")
    }

    // ---------- fault injection ----------

    /// Makes every ledger append fail, from outside the server, on the same database.
    pub async fn break_ledger(&self) {
        self.ledger_trigger(true).await;
    }

    /// Undoes [`Harness::break_ledger`].
    pub async fn mend_ledger(&self) {
        self.ledger_trigger(false).await;
    }

    async fn ledger_trigger(&self, install: bool) {
        use sqlx::Connection;
        if self.db_url.starts_with("postgres://") || self.db_url.starts_with("postgresql://") {
            let mut c = sqlx::PgConnection::connect(&self.db_url)
                .await
                .expect("a second connection to the test database");
            let stmts: &[&str] = if install {
                &[
                    "CREATE FUNCTION fail_ledger() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql",
                    "CREATE TRIGGER fail_ledger BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION fail_ledger()",
                ]
            } else {
                &[
                    "DROP TRIGGER fail_ledger ON ledger_entries",
                    "DROP FUNCTION fail_ledger()",
                ]
            };
            for s in stmts {
                sqlx::query(s).execute(&mut c).await.expect("trigger DDL");
            }
            c.close().await.expect("the connection closes");
        } else {
            let path = self
                .db_url
                .strip_prefix("sqlite://")
                .unwrap_or(&self.db_url);
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
                .await
                .expect("a second connection to the test database");
            let stmt = if install {
                "CREATE TRIGGER fail_ledger BEFORE INSERT ON ledger_entries BEGIN SELECT RAISE(ABORT, 'injected'); END;"
            } else {
                "DROP TRIGGER fail_ledger"
            };
            sqlx::query(stmt)
                .execute(&mut c)
                .await
                .expect("trigger DDL");
            c.close().await.expect("the connection closes");
        }
    }
}

/// Subjects of the gaps in `gaps` (a JSON array of gap views) with this code.
pub fn gap_subjects(gaps: &Value, code: &str) -> Vec<String> {
    gaps.as_array()
        .expect("gaps is an array")
        .iter()
        .filter(|g| g["code"] == code)
        .map(|g| g["subject"].as_str().expect("a subject").to_owned())
        .collect()
}

/// The `code:subject` keys of the gaps in `gaps`, sorted.
pub fn gap_keys(gaps: &Value) -> Vec<String> {
    let mut keys: Vec<String> = gaps
        .as_array()
        .expect("gaps is an array")
        .iter()
        .map(|g| g["gap"].as_str().expect("a gap key").to_owned())
        .collect();
    keys.sort();
    keys
}

/// Sorted strings, for order-independent comparisons.
pub fn sorted(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}
