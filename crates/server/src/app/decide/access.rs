//! Access evaluation (AuthZEN 1.0, issue 13): another policy enforcement point asks in
//! the standard shape, and each evaluation is a runtime decision on the same path as
//! `POST /v1/decide` ([`super::run`]: the same checks, the same action record and
//! ledger entry, the same step-up approval).
//!
//! The rules added here: the subject must be the agent whose credential asks (an
//! agent cannot ask on another's behalf); only `allow` is permitted (a step-up is not,
//! until a human approves and the call is retried with the approval); a batch is
//! evaluated in order and stops as its semantic says; an evaluation that cannot be
//! decided is refused in its place while the others are still decided, but a failure
//! of countersign itself fails the whole batch.

use super::super::idempotency::Idempotency;
use super::super::runtime::Principal;
use super::super::unit::App;
use super::super::AppError;
use super::commit::DecisionKey;
use super::evaluate::DecideInput;
use super::{run, Answer};
use countersign_core::problem::ProblemCode;
use countersign_core::runtime::ActionDecision;

/// The one subject type countersign evaluates.
pub const AGENT_SUBJECT: &str = "agent";

/// Who an evaluation says asks.
#[derive(Clone, Debug)]
pub struct Subject {
    pub kind: String,
    pub id: String,
}

/// One evaluation: its subject and the decision it asks for.
#[derive(Debug)]
pub struct Evaluation {
    pub subject: Subject,
    pub input: DecideInput,
}

/// Evaluations decided in order, stopping as `semantic` says.
#[derive(Debug)]
pub struct Batch {
    pub evaluations: Vec<Evaluation>,
    pub semantic: Semantic,
}

/// Where a batch stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Semantic {
    ExecuteAll,
    DenyOnFirstDeny,
    PermitOnFirstPermit,
}

/// The answer to one evaluation.
#[derive(Debug)]
pub enum Access {
    /// Decided and recorded.
    Decided(Box<Answer>),
    /// Not decided (bad input, another subject): nothing was written for it.
    Refused(AppError),
}

impl Access {
    /// Whether the call may go forward: only an `allow`.
    pub fn permitted(&self) -> bool {
        matches!(self, Access::Decided(a) if a.write.action.decision == ActionDecision::Allow)
    }
}

/// Decides one evaluation, as `POST /v1/decide` would.
pub async fn evaluate(
    app: &App,
    p: &Principal,
    e: Evaluation,
    key: Option<DecisionKey>,
) -> Result<Answer, AppError> {
    is_the_credential(p, &e.subject)?;
    run(app, p, e.input, key).await
}

/// Decides a batch. With `key`, the `i`-th evaluation is keyed `<key>#<i>` (and the
/// whole batch's request hash), so a retried batch is answered as the first was.
pub async fn evaluate_all(
    app: &App,
    p: &Principal,
    batch: Batch,
    key: Option<DecisionKey>,
) -> Result<Vec<Access>, AppError> {
    let Batch {
        evaluations,
        semantic,
    } = batch;
    let mut out = Vec::with_capacity(evaluations.len());
    for (i, e) in evaluations.into_iter().enumerate() {
        let nth = key.as_ref().map(|k| DecisionKey {
            agent: k.agent.clone(),
            idempotency: Idempotency {
                key: format!("{}#{i}", k.idempotency.key),
                request_hash: k.idempotency.request_hash.clone(),
            },
        });
        let access = match evaluate(app, p, e, nth).await {
            Ok(a) => Access::Decided(Box::new(a)),
            Err(e @ (AppError::Store(_) | AppError::Unavailable { .. })) => return Err(e),
            Err(e) => Access::Refused(e),
        };
        let stop = match semantic {
            Semantic::ExecuteAll => false,
            Semantic::DenyOnFirstDeny => !access.permitted(),
            Semantic::PermitOnFirstPermit => access.permitted(),
        };
        out.push(access);
        if stop {
            break;
        }
    }
    Ok(out)
}

fn is_the_credential(p: &Principal, s: &Subject) -> Result<(), AppError> {
    if s.kind == AGENT_SUBJECT && s.id == p.agent.id.0 {
        return Ok(());
    }
    Err(AppError::forbidden(
        ProblemCode::SubjectNotCredential,
        format!(
            "the subject must be {{\"type\": \"{AGENT_SUBJECT}\", \"id\": \"{}\"}}, the agent whose credential asks; \
             an agent cannot ask for another subject",
            p.agent.id
        ),
    ))
}
