//! Building the Cedar request for one action and reading Cedar's answer.

use crate::model::{
    ActionSlot, Call, Decision, Kind, Outcome, PolicySet, Prepared, Request, Subject,
};
use cedar_policy as cedar;
use std::sync::OnceLock;

/// Decides one request (see the outcome rules in the crate docs): prepares
/// its subject and decides its call with it.
pub(crate) fn decide(set: &PolicySet, req: &Request<'_>) -> Decision {
    let Some(slot) = set.actions.get(req.action) else {
        return unknown_action(set, req);
    };
    let prepared = prepare(set, &req.subject());
    decide_slot(set, &prepared, slot, &req.call())
}

/// Decides one call of a prepared subject. A subject prepared for another
/// set (another digest) is prepared afresh for this one.
pub(crate) fn decide_prepared(set: &PolicySet, prepared: &Prepared, call: &Call<'_>) -> Decision {
    if prepared.digest != set.digest || prepared.stores.len() != set.actions.len() {
        return decide(set, &Request::from_parts(prepared.subject(), *call));
    }
    let Some(slot) = set.actions.get(call.action) else {
        return unknown_action(set, &Request::from_parts(prepared.subject(), *call));
    };
    decide_slot(set, prepared, slot, call)
}

fn decide_slot(
    set: &PolicySet,
    prepared: &Prepared,
    slot: &ActionSlot,
    call: &Call<'_>,
) -> Decision {
    let (request, entities) = match assemble(set, prepared, slot, call, false) {
        Ok(built) => built,
        Err(denied) => return denied,
    };
    let response = set
        .authorizer
        .is_authorized(&request, &slot.policies, entities.get());
    interpret(set, call.action, &prepared.system, call.resource, &response)
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

/// Builds the Cedar entities and uids of a subject for `set`; the per-action
/// stores are left to be built on first use.
pub(crate) fn prepare(set: &PolicySet, subject: &Subject<'_>) -> Prepared {
    let agent_uid = uid(&set.agent_type, subject.agent);
    let system_uid = uid(&set.system_type, subject.system);
    let agent = cedar::Entity::new_with_tags(
        agent_uid.clone(),
        [
            ("owner".to_owned(), string(subject.agent_owner)),
            ("environment".to_owned(), string(subject.environment)),
            ("use_case".to_owned(), string(subject.use_case)),
        ],
        [],
        [],
    );
    let system = cedar::Entity::new_with_tags(
        system_uid.clone(),
        [("owner".to_owned(), string(subject.system_owner))],
        [],
        [],
    );
    let entities = match (agent, system) {
        (Ok(agent), Ok(system)) => Ok([agent, system]),
        (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
    };
    Prepared {
        digest: set.digest.clone(),
        agent: subject.agent.to_owned(),
        agent_owner: subject.agent_owner.to_owned(),
        environment: subject.environment.to_owned(),
        use_case: subject.use_case.to_owned(),
        system: subject.system.to_owned(),
        system_owner: subject.system_owner.to_owned(),
        resource_prefix: format!("{}/", subject.system),
        agent_uid,
        system_uid,
        entities,
        stores: (0..set.actions.len()).map(|_| OnceLock::new()).collect(),
    }
}

/// The store for one action of a prepared subject: the slot's action
/// entities, the agent and the system, built once and then shared.
fn base_store<'p>(
    prepared: &'p Prepared,
    slot: &ActionSlot,
) -> Result<&'p cedar::Entities, String> {
    let Some(cell) = prepared.stores.get(slot.index) else {
        // INVARIANT: `decide_prepared` checked that `prepared` was made for
        // this set, whose slots index `stores`; fail closed if not.
        return Err(format!(
            "the prepared subject has no store for action {}",
            slot.uid
        ));
    };
    cell.get_or_init(|| {
        let [agent, system] = prepared.entities.clone()?;
        slot.entities
            .clone()
            .add_entities([agent, system], None)
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
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
    let prepared = prepare(set, &req.subject());
    let (request, store) = assemble(set, &prepared, slot, &req.call(), true)?;
    Ok((request, store.into_owned()))
}

/// The entity store a call is decided against: the prepared store itself,
/// or a copy of it with the resource added.
pub(crate) enum Store<'p> {
    Prepared(&'p cedar::Entities),
    WithResource(cedar::Entities),
}

impl Store<'_> {
    fn get(&self) -> &cedar::Entities {
        match self {
            Store::Prepared(e) => e,
            Store::WithResource(e) => e,
        }
    }

    fn into_owned(self) -> cedar::Entities {
        match self {
            Store::Prepared(e) => e.clone(),
            Store::WithResource(e) => e,
        }
    }
}

/// The context's fields, in the order of the bits of
/// [`ActionSlot::context_fields`].
pub(crate) const CONTEXT_FIELDS: [&str; 9] = [
    "task",
    "risk_score",
    "confidence_pct",
    "data_classes",
    "mutates",
    "hour_utc",
    "within_window",
    "impact",
    "environment",
];

/// Every bit of [`CONTEXT_FIELDS`].
pub(crate) const ALL_FIELDS: u16 = (1 << CONTEXT_FIELDS.len()) - 1;

/// The value of context field `i` of [`CONTEXT_FIELDS`].
fn context_value(i: usize, call: &Call<'_>, prepared: &Prepared) -> cedar::RestrictedExpression {
    match i {
        0 => string(call.task),
        1 => cedar::RestrictedExpression::new_long(i64::from(call.risk_score)),
        2 => cedar::RestrictedExpression::new_long(i64::from(call.confidence_pct)),
        3 => cedar::RestrictedExpression::new_set(call.data_classes.iter().map(|c| string(c))),
        4 => cedar::RestrictedExpression::new_bool(call.mutates),
        5 => cedar::RestrictedExpression::new_long(i64::from(call.hour_utc)),
        6 => cedar::RestrictedExpression::new_bool(call.within_window),
        7 => string(call.impact),
        _ => string(&prepared.environment),
    }
}

/// [`build`] for a prepared subject: only the context, the request and the
/// resource entity are made per call. Unless `full`, the context holds only
/// the fields the slot's policies read ([`ActionSlot::context_fields`]) and
/// the resource entity is left out for a slot that does not read it
/// ([`ActionSlot::reads_resource`]): the store is then the prepared one as
/// it is. Either way Cedar decides alike; `full` is what the schema is
/// checked against at load time.
fn assemble<'p>(
    set: &PolicySet,
    prepared: &'p Prepared,
    slot: &ActionSlot,
    call: &Call<'_>,
    full: bool,
) -> Result<(cedar::Request, Store<'p>), Decision> {
    for (field, value, max) in [
        ("risk_score", call.risk_score, 100),
        ("confidence_pct", call.confidence_pct, 100),
        ("hour_utc", call.hour_utc, 23),
    ] {
        if value > max {
            let msg = format!("{field} {value} is outside 0..={max}");
            return Err(unevaluable(
                format!("the request cannot be evaluated: {msg}"),
                msg,
            ));
        }
    }
    let invalid = |e: &dyn std::fmt::Display| {
        invalid_request(call.action, &prepared.system, call.resource, e)
    };

    if let Some(error) = &slot.nonconforming {
        return Err(invalid(error));
    }

    // Only the fields the slot's policies read (all of them for `build`);
    // see `ActionSlot::context_fields`.
    let fields = if full {
        ALL_FIELDS
    } else {
        slot.context_fields
    };
    let context = cedar::Context::from_pairs(
        CONTEXT_FIELDS
            .iter()
            .enumerate()
            .filter(|(i, _)| fields & (1 << i) != 0)
            .map(|(i, name)| ((*name).to_owned(), context_value(i, call, prepared))),
    )
    .map_err(|e| invalid(&e))?;

    let mut resource_id =
        String::with_capacity(prepared.resource_prefix.len() + call.resource.len());
    resource_id.push_str(&prepared.resource_prefix);
    resource_id.push_str(call.resource);
    let resource = uid(&set.resource_type, &resource_id);

    let request = cedar::Request::new(
        prepared.agent_uid.clone(),
        slot.uid.clone(),
        resource.clone(),
        context,
        None,
    )
    .map_err(|e| invalid(&e))?;

    let base = base_store(prepared, slot).map_err(|e| invalid(&e))?;
    if !full && !slot.reads_resource {
        return Ok((request, Store::Prepared(base)));
    }
    let resource_entity = cedar::Entity::new_with_tags(
        resource,
        [
            ("path".to_owned(), string(call.resource)),
            (
                "system".to_owned(),
                cedar::RestrictedExpression::new_entity_uid(prepared.system_uid.clone()),
            ),
        ],
        [prepared.system_uid.clone()],
        [],
    )
    .map_err(|e| invalid(&e))?;

    // No schema here either (see above): validating the entities against it
    // and having it add all of its action entities took about as long as
    // evaluating the whole policy set, and validating the request a third of
    // that (measured with the `decide` bench). The base store holds the
    // action entities the slot's policies can read, so
    // `action in Action::"<group>"` matches, and the agent and the system;
    // adding the resource has Cedar close it transitively again.
    let entities = base
        .clone()
        .add_entities([resource_entity], None)
        .map_err(|e| invalid(&e))?;
    Ok((request, Store::WithResource(entities)))
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

fn invalid_request(
    action: &str,
    system: &str,
    resource: &str,
    e: &dyn std::fmt::Display,
) -> Decision {
    unevaluable(
        format!(
            "the request for {action} on {system}/{resource} does not conform to the runtime policy schema"
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

pub(crate) fn interpret(
    set: &PolicySet,
    action: &str,
    system: &str,
    resource: &str,
    response: &cedar::Response,
) -> Decision {
    let target = Target {
        action,
        system,
        resource,
    };
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
        return deny(&target, response.decision(), &satisfied, failed, errors);
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
                    &target,
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

/// What a decision is about, for its reasons.
struct Target<'a> {
    action: &'a str,
    system: &'a str,
    resource: &'a str,
}

fn deny(
    req: &Target<'_>,
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
