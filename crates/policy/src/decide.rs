//! Building the Cedar request for one action and reading Cedar's answer.

use crate::model::{ActionSlot, Decision, Kind, Outcome, PolicySet, Request};
use cedar_policy as cedar;

/// Decides one request (see the outcome rules in the crate docs).
pub(crate) fn decide(set: &PolicySet, req: &Request<'_>) -> Decision {
    let Some(slot) = set.actions.get(req.action) else {
        return unknown_action(set, req);
    };
    let (request, entities) = match build(set, slot, req) {
        Ok(built) => built,
        Err(denied) => return denied,
    };
    let response = set
        .authorizer
        .is_authorized(&request, &slot.policies, &entities);
    interpret(set, req, &response)
}

/// A deny that happened before any policy ran.
fn unevaluable(reason: String, error: String) -> Decision {
    Decision {
        outcome: Outcome::Deny,
        approver_role: None,
        determining: Vec::new(),
        reasons: vec![reason],
        errors: vec![error],
    }
}

/// Builds the Cedar request and entity store for one request.
///
/// Neither is checked against the schema here: the types of every value are
/// fixed by this function (strings, longs, bools, a set of strings and
/// entity uids of the schema's types), whatever the request holds, so
/// [`conformance`] checks once per action at load time what validating on
/// every call would.
pub(crate) fn build(
    set: &PolicySet,
    slot: &ActionSlot,
    req: &Request<'_>,
) -> Result<(cedar::Request, cedar::Entities), Decision> {
    for (field, value, max) in [
        ("risk_score", req.risk_score, 100),
        ("confidence_pct", req.confidence_pct, 100),
        ("hour_utc", req.hour_utc, 23),
    ] {
        if value > max {
            let msg = format!("{field} {value} is outside 0..={max}");
            return Err(unevaluable(
                format!("the request cannot be evaluated: {msg}"),
                msg,
            ));
        }
    }

    if let Some(error) = &slot.nonconforming {
        return Err(invalid_request(req, error));
    }

    let agent = uid(&set.agent_type, req.agent);
    let system = uid(&set.system_type, req.system);
    let resource = uid(
        &set.resource_type,
        &format!("{}/{}", req.system, req.resource),
    );

    let context = cedar::Context::from_pairs([
        ("task".to_owned(), string(req.task)),
        (
            "risk_score".to_owned(),
            cedar::RestrictedExpression::new_long(i64::from(req.risk_score)),
        ),
        (
            "confidence_pct".to_owned(),
            cedar::RestrictedExpression::new_long(i64::from(req.confidence_pct)),
        ),
        (
            "data_classes".to_owned(),
            cedar::RestrictedExpression::new_set(req.data_classes.iter().map(|c| string(c))),
        ),
        (
            "mutates".to_owned(),
            cedar::RestrictedExpression::new_bool(req.mutates),
        ),
        (
            "hour_utc".to_owned(),
            cedar::RestrictedExpression::new_long(i64::from(req.hour_utc)),
        ),
        (
            "within_window".to_owned(),
            cedar::RestrictedExpression::new_bool(req.within_window),
        ),
        ("impact".to_owned(), string(req.impact)),
        ("environment".to_owned(), string(req.environment)),
    ])
    .map_err(|e| invalid_request(req, e))?;

    let request = cedar::Request::new(
        agent.clone(),
        slot.uid.clone(),
        resource.clone(),
        context,
        None,
    )
    .map_err(|e| invalid_request(req, e))?;

    let agent_entity = cedar::Entity::new_with_tags(
        agent,
        [
            ("owner".to_owned(), string(req.agent_owner)),
            ("environment".to_owned(), string(req.environment)),
            ("use_case".to_owned(), string(req.use_case)),
        ],
        [],
        [],
    )
    .map_err(|e| invalid_request(req, e))?;
    let system_entity = cedar::Entity::new_with_tags(
        system.clone(),
        [("owner".to_owned(), string(req.system_owner))],
        [],
        [],
    )
    .map_err(|e| invalid_request(req, e))?;
    let resource_entity = cedar::Entity::new_with_tags(
        resource,
        [
            ("path".to_owned(), string(req.resource)),
            (
                "system".to_owned(),
                cedar::RestrictedExpression::new_entity_uid(system.clone()),
            ),
        ],
        [system],
        [],
    )
    .map_err(|e| invalid_request(req, e))?;

    // No schema here either (see above): validating the three entities
    // against it and having it add all of its action entities took about as
    // long as evaluating the whole policy set, and validating the request a
    // third of that (measured with the `decide` bench). The slot holds the
    // action entities its policies can read, so `action in Action::"<group>"`
    // matches. Adding the three entities still has Cedar recompute the
    // transitive closure, which with building the context is most of what
    // this function costs now.
    let entities = slot
        .entities
        .clone()
        .add_entities([agent_entity, system_entity, resource_entity], None)
        .map_err(|e| invalid_request(req, e))?;
    Ok((request, entities))
}

/// Checks that what [`build`] makes for this action conforms to the schema:
/// the request (principal, action, resource and context types) and every
/// entity in the store, the slot's action entities included. It builds a
/// sample request; since [`build`] fixes the type of every value, any other
/// request for the action conforms exactly when the sample does.
pub(crate) fn conformance(set: &PolicySet, slot: &ActionSlot) -> Result<(), String> {
    let classes = ["sample-class".to_owned()];
    let sample = Request {
        agent: "sample-agent",
        agent_owner: "sample-owner",
        environment: "sample-environment",
        use_case: "sample-use-case",
        action: slot.uid.id().unescaped(),
        system: "sample-system",
        system_owner: "sample-system-owner",
        resource: "sample/resource",
        task: "sample task",
        risk_score: 0,
        confidence_pct: 0,
        data_classes: &classes,
        mutates: false,
        hour_utc: 0,
        within_window: false,
        impact: "sample impact",
    };
    let (request, entities) = build(set, slot, &sample).map_err(|d| d.errors.join("; "))?;
    check_against_schema(&set.schema, &request, &entities)
        .map_err(|e| format!("{e} (found checking a sample request at load time)"))
}

/// Validates a built request and store against the schema, as
/// `cedar::Request::new` and `cedar::Entities::from_entities` do when given
/// it.
pub(crate) fn check_against_schema(
    schema: &cedar::Schema,
    request: &cedar::Request,
    entities: &cedar::Entities,
) -> Result<(), String> {
    let (Some(principal), Some(action), Some(resource), Some(context)) = (
        request.principal(),
        request.action(),
        request.resource(),
        request.context(),
    ) else {
        return Err("the request has unknown parts".to_owned());
    };
    cedar::Request::new(
        principal.clone(),
        action.clone(),
        resource.clone(),
        context.clone(),
        Some(schema),
    )
    .map_err(|e| with_causes(&e))?;
    cedar::Entities::from_entities(entities.iter().cloned(), Some(schema))
        .map_err(|e| with_causes(&e))?;
    Ok(())
}

/// An error's message followed by those of its causes, since Cedar's top
/// level message alone ("entity does not conform to the schema") does not
/// say what is wrong.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

fn uid(ty: &cedar::EntityTypeName, id: &str) -> cedar::EntityUid {
    cedar::EntityUid::from_type_name_and_id(ty.clone(), cedar::EntityId::new(id))
}

fn string(s: &str) -> cedar::RestrictedExpression {
    cedar::RestrictedExpression::new_string(s.to_owned())
}

fn invalid_request(req: &Request<'_>, e: impl std::fmt::Display) -> Decision {
    unevaluable(
        format!(
            "the request for {} on {}/{} does not conform to the runtime policy schema",
            req.action, req.system, req.resource
        ),
        e.to_string(),
    )
}

/// A deny for an action the schema does not declare, with Cedar's own
/// diagnostic where it gives one.
fn unknown_action(set: &PolicySet, req: &Request<'_>) -> Decision {
    let error = cedar::Request::new(
        uid(&set.agent_type, req.agent),
        uid(&set.action_type, req.action),
        uid(&set.resource_type, req.resource),
        cedar::Context::empty(),
        Some(&set.schema),
    )
    .err()
    .map_or_else(
        || format!("action {:?} is not declared in the schema", req.action),
        |e| e.to_string(),
    );
    unevaluable(
        format!(
            "action {:?} is not in the runtime policy schema",
            req.action
        ),
        error,
    )
}

fn interpret(set: &PolicySet, req: &Request<'_>, response: &cedar::Response) -> Decision {
    let diagnostics = response.diagnostics();
    let mut satisfied: Vec<&str> = diagnostics.reason().map(AsRef::as_ref).collect();
    satisfied.sort_unstable();

    let mut errors = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    for e in diagnostics.errors() {
        errors.push(e.to_string());
        let cedar::AuthorizationError::PolicyEvaluationError(pe) = e;
        failed.push(pe.policy_id().to_string());
    }

    if response.decision() == cedar::Decision::Deny || !errors.is_empty() {
        return deny(req, response.decision(), &satisfied, failed, errors);
    }

    // Cedar allowed: a step-up among the satisfied permits makes it a step-up.
    let mut step_ups: Vec<&str> = Vec::new();
    for id in &satisfied {
        match set.meta.get(*id) {
            Some(m) if m.kind == Kind::StepUp => step_ups.push(id),
            Some(_) => {}
            None => {
                // INVARIANT: every policy in the Cedar set was added with its
                // meta by `load`; fail closed if that ever stops being true.
                return deny(
                    req,
                    cedar::Decision::Deny,
                    &[],
                    vec![(*id).to_owned()],
                    vec![format!("policy {id} has no countersign annotations")],
                );
            }
        }
    }
    if step_ups.is_empty() {
        Decision {
            outcome: Outcome::Allow,
            approver_role: None,
            reasons: satisfied
                .iter()
                .map(|id| format!("permitted by {id}"))
                .collect(),
            determining: satisfied.iter().map(|id| (*id).to_owned()).collect(),
            errors,
        }
    } else {
        Decision {
            outcome: Outcome::StepUp,
            approver_role: step_ups
                .iter()
                .find_map(|id| set.meta.get(*id).and_then(|m| m.approver.clone())),
            reasons: step_ups
                .iter()
                .map(|id| format!("step-up required by {id}"))
                .collect(),
            determining: step_ups.iter().map(|id| (*id).to_owned()).collect(),
            errors,
        }
    }
}

fn deny(
    req: &Request<'_>,
    cedar_decision: cedar::Decision,
    satisfied: &[&str],
    mut failed: Vec<String>,
    errors: Vec<String>,
) -> Decision {
    failed.sort_unstable();
    failed.dedup();
    // On a Cedar deny the satisfied policies are the matching forbids.
    let forbids: &[&str] = if cedar_decision == cedar::Decision::Deny {
        satisfied
    } else {
        &[]
    };
    let mut reasons: Vec<String> = forbids
        .iter()
        .map(|id| format!("forbidden by {id}"))
        .collect();
    reasons.extend(
        failed
            .iter()
            .map(|id| format!("policy {id} could not be evaluated, failing closed")),
    );
    let determining = if forbids.is_empty() {
        failed
    } else {
        forbids.iter().map(|id| (*id).to_owned()).collect()
    };
    if reasons.is_empty() {
        reasons.push(format!(
            "no policy permits {} on {}/{}",
            req.action, req.system, req.resource
        ));
    }
    Decision {
        outcome: Outcome::Deny,
        approver_role: None,
        determining,
        reasons,
        errors,
    }
}
