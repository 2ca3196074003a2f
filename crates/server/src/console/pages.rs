//! The console's page handlers. Each authenticates the session, calls one
//! application query or command (the ones the API calls), and renders; a refusal is
//! shown on the page in plain words, with what the person typed kept.

use super::page::{render, Page, Refusal, BASE};
use super::session::{self, Posted, Viewer};
use super::view::{self, Chrome, InboxPage, ReviewDraftForm};
use crate::app::unit::{App as AppState, Work};
use crate::app::{self, sessions, AppError, Ctx};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use countersign_core::problem::ProblemCode;
use countersign_core::release::Decision;
use countersign_core::review::{Answer, Verdict};
use countersign_core::{Digest, ReleaseId, Role};
use countersign_store::Tx;
use std::collections::BTreeMap;

/// Runs one application command as the person who sent the form: one transaction
/// and its ledger entry, through the same unit of work the API uses; a refusal comes
/// back as the page's words. Answers the ledger entry it wrote, to show the person.
async fn run_command<F>(app: &AppState, form: &Posted, work: F) -> Result<Entry, Refusal>
where
    F: for<'a> FnOnce(&'a mut dyn Tx, &'a Ctx) -> Work<'a, ()> + Send + 'static,
{
    app.command_recorded(form.viewer.ctx.clone(), work)
        .await
        .map(Entry)
        .map_err(Refusal::from)
}

/// Signs the viewer in again first when the release's tier wants a more recent
/// sign-in (see [`session::recent_sign_in`]), coming back to `back_to` (default: the
/// release page).
async fn release_sign_in_recent(
    app: &AppState,
    form: &Posted,
    id: &str,
    back_to: Option<&str>,
) -> Result<(), Response> {
    let of = sessions::Approving::Release(ReleaseId(id.to_owned()));
    let release_page = format!("{BASE}/releases/{id}");
    let back = back_to.unwrap_or(&release_page);
    session::recent_sign_in(app, &form.viewer, of, back).await
}

/// The ledger entry a console command wrote, carried to the page that follows.
struct Entry(Option<u64>);

impl Entry {
    /// `&entry=N` for the redirect after the command.
    fn query(&self) -> String {
        self.0.map(|n| format!("&entry={n}")).unwrap_or_default()
    }
}

async fn load_inbox(app: &AppState, v: &Viewer) -> Result<view::InboxItems, Refusal> {
    let ctx = v.ctx.clone();
    let now = ctx.now;
    let inbox = app
        .query(move |tx| Box::pin(async move { app::inbox::for_person(tx, &ctx).await }))
        .await?;
    Ok(view::inbox_items(inbox, now))
}

/// `GET /console`: everything waiting on the viewer.
pub async fn inbox(State(app): State<AppState>, v: Viewer) -> Page {
    let items = load_inbox(&app, &v).await?;
    render(
        StatusCode::OK,
        &InboxPage {
            chrome: Chrome::new(&v, "Inbox"),
            items,
        },
    )
}

/// `GET /console/inbox/items`: the inbox's lists alone, which the page refreshes.
pub async fn inbox_items(State(app): State<AppState>, v: Viewer) -> Page {
    render(StatusCode::OK, &load_inbox(&app, &v).await?)
}

#[derive(serde::Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
    entry: Option<u64>,
    /// The two revisions the release page compares (default: the last two).
    from: Option<u32>,
    to: Option<u32>,
    /// The release page's ledger entries older than this sequence number.
    ledger_before: Option<u64>,
}

/// How many of a release's ledger entries its page shows at once.
const LEDGER_PAGE: u32 = 25;

async fn release_view(
    app: &AppState,
    v: &Viewer,
    id: String,
    done: Option<String>,
    refusal: Option<Refusal>,
    compare: (Option<u32>, Option<u32>),
    ledger_before: Option<u64>,
) -> Page {
    let ctx = v.ctx.clone();
    let detail = app::releases::read_for(app, &ctx, ReleaseId(id)).await?;
    let id = detail.release.id.clone();
    let (report, extras) = app
        .query(move |tx| {
            Box::pin(async move {
                let report = app::gate::status(tx, &ctx, &id, None).await?;
                let extras = view::ReleaseExtras {
                    evaluation: app::gate::evaluation(tx, &ctx, &id, None).await?,
                    lineage: app::lineage::graph(tx, &report.release, &report.revision).await?,
                    ledger: app::ledger::for_subject(tx, id.as_str(), ledger_before, LEDGER_PAGE)
                        .await?,
                    ledger_page: LEDGER_PAGE,
                };
                Ok((report, extras))
            })
        })
        .await?;
    let status = refusal.as_ref().map_or(StatusCode::OK, |r| r.status);
    render(
        status,
        &view::release_page(v, detail, report, extras, done, refusal, compare),
    )
}

/// `GET /console/releases/{id}`.
pub async fn release(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
    v: Viewer,
) -> Page {
    release_view(
        &app,
        &v,
        id,
        view::done_notice(q.done.as_deref(), q.entry),
        None,
        (q.from, q.to),
        q.ledger_before,
    )
    .await
}

/// After a release command: back to the release page with its notice, or the page
/// again with the refusal on it.
async fn after_release_command(
    app: &AppState,
    v: &Viewer,
    id: String,
    outcome: Result<Entry, Refusal>,
    done: &str,
) -> Page {
    match outcome {
        Ok(e) => Ok(
            Redirect::to(&format!("/console/releases/{id}?done={done}{}", e.query()))
                .into_response(),
        ),
        Err(r) => release_view(app, v, id, None, Some(r), (None, None), None).await,
    }
}

fn revision_field(form: &Posted) -> Result<u32, Refusal> {
    form.get("revision")
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::StaleRevision.as_str(),
                "The form lost its revision; reload the page.",
            )
        })
}

/// `POST /console/releases/{id}/acceptances`: the owner accepts one named gap as risk.
pub async fn accept_submit(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: Posted,
) -> Page {
    if let Err(resp) = release_sign_in_recent(&app, &form, &id, None).await {
        return Ok(resp);
    }
    let parsed = (|| {
        let revision = revision_field(&form)?;
        let gap = form
            .get("gap")
            .and_then(|g| g.parse().ok())
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    ProblemCode::UnknownGap.as_str(),
                    "The form does not name a gap; reload the page.",
                )
            })?;
        let days: i64 = form
            .get("days")
            .and_then(|d| d.trim().parse().ok())
            .filter(|d| (1..=365).contains(d))
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ProblemCode::InvalidExpiry.as_str(),
                    "Accept a gap for 1 to 365 days.",
                )
            })?;
        Ok(app::releases::NewAcceptance {
            revision,
            gap,
            justification: form.get("justification").unwrap_or("").trim().to_owned(),
            expires_at: form.viewer.ctx.now + chrono::Duration::days(days),
        })
    })();
    let outcome = match parsed {
        Err(r) => Err(r),
        Ok(new) => {
            let owned = id.clone();
            run_command(&app, &form, move |tx, ctx| {
                Box::pin(async move {
                    app::releases::accept_risk(tx, ctx, &ReleaseId(owned), new).await?;
                    Ok(())
                })
            })
            .await
        }
    };
    after_release_command(&app, &form.viewer, id, outcome, "accept").await
}

/// `POST /console/releases/{id}/decision`: go, no-go, or block with a reason.
pub async fn decision_submit(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: Posted,
) -> Page {
    if let Err(resp) = release_sign_in_recent(&app, &form, &id, None).await {
        return Ok(resp);
    }
    let comment = form.get("comment").unwrap_or("").trim().to_owned();
    let environment = form
        .get("environment")
        .unwrap_or("production")
        .trim()
        .to_owned();
    let parsed = revision_field(&form).and_then(|revision| {
        match form.get("decision") {
            Some("block") => Ok((revision, None)),
            Some(d) => enum_field::<Decision>(d)
                .map(|d| (revision, Some(d)))
                .ok_or(()),
            None => Err(()),
        }
        .map_err(|()| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::InvalidVerdict.as_str(),
                "Choose go, no-go or block.",
            )
        })
    });
    let outcome = match parsed {
        Err(r) => Err(r),
        Ok((revision, decision)) => {
            let owned = id.clone();
            run_command(&app, &form, move |tx, ctx| {
                Box::pin(async move {
                    let id = ReleaseId(owned);
                    match decision {
                        Some(decision) => {
                            let new = app::releases::NewDecision {
                                revision,
                                decision,
                                environment,
                                comment,
                            };
                            app::releases::decide(tx, ctx, &id, new).await?;
                        }
                        None => {
                            app::releases::block(tx, ctx, &id, revision, comment).await?;
                        }
                    }
                    Ok(())
                })
            })
            .await
        }
    };
    after_release_command(&app, &form.viewer, id, outcome, "decide").await
}

/// `POST /console/releases/{id}/withdraw`: the owner takes back a go before promotion.
pub async fn withdraw_submit(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: Posted,
) -> Page {
    if let Err(resp) = release_sign_in_recent(&app, &form, &id, None).await {
        return Ok(resp);
    }
    let reason = form.get("reason").unwrap_or("").trim().to_owned();
    let outcome = match revision_field(&form) {
        Err(r) => Err(r),
        Ok(revision) => {
            let owned = id.clone();
            run_command(&app, &form, move |tx, ctx| {
                Box::pin(async move {
                    app::releases::withdraw(tx, ctx, &ReleaseId(owned), revision, reason).await?;
                    Ok(())
                })
            })
            .await
        }
    };
    after_release_command(&app, &form.viewer, id, outcome, "withdraw").await
}

fn parse_role(role: &str) -> Result<Role, Refusal> {
    role.parse().map_err(|_| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            ProblemCode::RoleNotRequired.as_str(),
            format!("There is no role called {role:?}."),
        )
    })
}

/// The gate and the friction rules of the release's current revision, for the
/// reviewer; opening the review form counts as opening the revision.
async fn review_context(
    app: &AppState,
    v: &Viewer,
    id: String,
) -> Result<(app::gate::GateReport, app::friction::Status), Refusal> {
    let ctx = v.ctx.clone();
    let (report, current) = app
        .query(move |tx| {
            Box::pin(async move {
                let report = app::gate::status(tx, &ctx, &ReleaseId(id), None).await?;
                let current = report.release.current_revision;
                Ok((report, current))
            })
        })
        .await?;
    let opening = app::friction::Opening::Revision(report.release.id.clone(), current);
    app::friction::open_for(app, &v.ctx, opening).await?;
    let (ctx, id) = (v.ctx.clone(), report.release.id.clone());
    let friction = app
        .query(move |tx| {
            Box::pin(async move { app::friction::revision_status(tx, &ctx, &id).await })
        })
        .await?;
    Ok((report, friction))
}

/// `GET /console/releases/{id}/review/{role}`: the role's checklist, item by item.
pub async fn review_form(
    State(app): State<AppState>,
    Path((id, role)): Path<(String, String)>,
    v: Viewer,
) -> Page {
    let role = parse_role(&role)?;
    let (report, friction) = review_context(&app, &v, id).await?;
    let checklist = v.ctx.profile.checklist(role);
    render(
        StatusCode::OK,
        &view::review_page(
            &v,
            &report,
            &friction,
            role,
            checklist,
            ReviewDraftForm::default(),
            None,
        ),
    )
}

/// Reads a form field as one of the API's enums (the same strings the API takes).
fn enum_field<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
}

/// `POST /console/releases/{id}/review/{role}`: records the review, or shows why not.
pub async fn review_submit(
    State(app): State<AppState>,
    Path((id, role)): Path<(String, String)>,
    form: Posted,
) -> Page {
    let role = parse_role(&role)?;
    let back = format!("{BASE}/releases/{id}/review/{role}");
    if let Err(resp) = release_sign_in_recent(&app, &form, &id, Some(&back)).await {
        return Ok(resp);
    }
    let draft = ReviewDraftForm {
        answers: form
            .fields
            .iter()
            .filter_map(|(k, a)| Some((k.strip_prefix("answer.")?.to_owned(), a.clone())))
            .collect(),
        verdict: form.get("verdict").unwrap_or("").to_owned(),
        conditions: form.get("conditions").unwrap_or("").trim().to_owned(),
        comment: form.get("comment").unwrap_or("").trim().to_owned(),
        confirm_digest: form.get("confirm_digest").unwrap_or("").trim().to_owned(),
    };
    let revision: Option<u32> = form.get("revision").and_then(|r| r.parse().ok());
    let new = review_params(role, revision, &draft);
    let outcome = match new {
        Err(r) => Err(r),
        Ok(new) => {
            let owned = id.clone();
            run_command(&app, &form, move |tx, ctx| {
                Box::pin(async move {
                    app::releases::review(tx, ctx, &ReleaseId(owned), new).await?;
                    Ok(())
                })
            })
            .await
        }
    };
    match outcome {
        Ok(e) => Ok(
            Redirect::to(&format!("/console/releases/{id}?done=review{}", e.query()))
                .into_response(),
        ),
        Err(refusal) => {
            let status = refusal.status;
            let (report, friction) = review_context(&app, &form.viewer, id).await?;
            let checklist = form.viewer.ctx.profile.checklist(role);
            let page = view::review_page(
                &form.viewer,
                &report,
                &friction,
                role,
                checklist,
                draft,
                Some(refusal),
            );
            render(status, &page)
        }
    }
}

fn review_params(
    role: Role,
    revision: Option<u32>,
    d: &ReviewDraftForm,
) -> Result<app::releases::NewReview, Refusal> {
    let invalid = |s: String| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::InvalidReview.as_str(),
            s,
        )
    };
    let revision =
        revision.ok_or_else(|| invalid("The form lost its revision; reload the page.".into()))?;
    let verdict: Verdict = enum_field(&d.verdict).ok_or_else(|| {
        invalid("Choose a verdict: approve, approve with conditions, or reject.".into())
    })?;
    let mut answers = BTreeMap::new();
    for (item, a) in &d.answers {
        let answer: Answer =
            enum_field(a).ok_or_else(|| invalid(format!("{a:?} is not an answer to {item:?}.")))?;
        answers.insert(item.clone(), answer);
    }
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(app::releases::NewReview {
        revision,
        role,
        verdict,
        answers,
        conditions: opt(&d.conditions),
        comment: opt(&d.comment),
        confirm_digest: opt(&d.confirm_digest),
    })
}

/// `GET /console/releases/{id}/evidence/{digest}`: one evidence document of a
/// release, shown inline when it is text.
pub async fn evidence_preview(
    State(app): State<AppState>,
    Path((id, digest)): Path<(String, String)>,
    v: Viewer,
) -> Page {
    let digest = parse_digest(&digest)?;
    let wanted = digest.clone();
    let detail = app
        .query(move |tx| Box::pin(async move { app::releases::detail(tx, &ReleaseId(id)).await }))
        .await?;
    if !detail.evidence.iter().any(|e| e.digest == wanted) {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound.as_str(),
            "That document is not evidence of this release.",
        ));
    }
    let bytes = app::releases::read_evidence_for(&app, &v.ctx, digest).await?;
    let e = detail
        .evidence
        .iter()
        .rev()
        .find(|e| e.digest == wanted)
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                ProblemCode::NotFound.as_str(),
                "That document is not evidence of this release.",
            )
        })?;
    render(
        StatusCode::OK,
        &view::evidence_page(&v, &detail.release, e, &bytes),
    )
}

fn parse_digest(digest: &str) -> Result<Digest, Refusal> {
    digest.parse().map_err(|_| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::InvalidDigest.as_str(),
            "That is not a sha256 digest.",
        )
    })
}

/// `GET /console/evidence/{digest}`: an evidence document, as a download.
pub async fn evidence(State(app): State<AppState>, Path(digest): Path<String>, v: Viewer) -> Page {
    let digest = parse_digest(&digest)?;
    let bytes = app::releases::read_evidence_for(&app, &v.ctx, digest).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CONTENT_DISPOSITION, "attachment"),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /console/approvals/{id}`: what the approver needs to decide. The assignee's
/// first opening is recorded (it counts for accountability).
pub async fn approval(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
    v: Viewer,
) -> Page {
    let a = app::approvals::open_for(&app, v.ctx.clone(), &id).await?;
    let mut page = view::approval_page(&v, &a, app.now(), Default::default(), None);
    page.done = view::done_notice(q.done.as_deref(), q.entry);
    render(StatusCode::OK, &page)
}

/// After an approval command: back to the request with its notice, or the request
/// again with the refusal on it (and what the person typed).
async fn after_approval_command(
    app: &AppState,
    form: &Posted,
    id: String,
    outcome: Result<Entry, Refusal>,
    done: &str,
    draft: view::ApprovalDraft,
) -> Page {
    match outcome {
        Ok(e) => Ok(
            Redirect::to(&format!("/console/approvals/{id}?done={done}{}", e.query()))
                .into_response(),
        ),
        Err(refusal) => {
            let a = app::approvals::open_for(app, form.viewer.ctx.clone(), &id)
                .await
                .map_err(|e: AppError| Refusal::from(e))?;
            render(
                refusal.status,
                &view::approval_page(&form.viewer, &a, app.now(), draft, Some(refusal)),
            )
        }
    }
}

/// `POST /console/approvals/{id}/revoke`: the approver takes back an unused approval.
pub async fn approval_revoke(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: Posted,
) -> Page {
    let reason = form.get("reason").unwrap_or("").trim().to_owned();
    let owned = id.clone();
    let outcome = run_command(&app, &form, move |tx, ctx| {
        Box::pin(async move {
            app::approvals::revoke(tx, ctx, &owned, reason).await?;
            Ok(())
        })
    })
    .await;
    after_approval_command(&app, &form, id, outcome, "revoke", Default::default()).await
}

/// `POST /console/approvals/{id}`: approve or deny, with a comment.
pub async fn approval_answer(
    State(app): State<AppState>,
    Path(id): Path<String>,
    form: Posted,
) -> Page {
    let of = sessions::Approving::StepUp(id.clone());
    let back = format!("{BASE}/approvals/{id}");
    if let Err(resp) = session::recent_sign_in(&app, &form.viewer, of, &back).await {
        return Ok(resp);
    }
    let draft = view::ApprovalDraft {
        comment: form.get("comment").unwrap_or("").trim().to_owned(),
        confirm_digest: form.get("confirm_digest").unwrap_or("").trim().to_owned(),
    };
    let approve = match form.get("decision") {
        Some("approve") => Ok(true),
        Some("deny") => Ok(false),
        _ => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::InvalidVerdict.as_str(),
            "Choose approve or deny.",
        )),
    };
    let outcome = match approve {
        Err(r) => Err(r),
        Ok(approve) => {
            let (owned, c) = (id.clone(), draft.comment.clone());
            let typed = (!draft.confirm_digest.is_empty()).then(|| draft.confirm_digest.clone());
            run_command(&app, &form, move |tx, ctx| {
                Box::pin(async move {
                    app::approvals::answer(tx, ctx, &owned, approve, c, typed).await?;
                    Ok(())
                })
            })
            .await
        }
    };
    after_approval_command(&app, &form, id, outcome, "answer", draft).await
}
