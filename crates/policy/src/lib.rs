//! Runtime policy decisions for countersign: is an AI agent's action allowed,
//! denied, or does a named human have to approve it first (step-up)?
//!
//! Policies are written in [Cedar](https://docs.cedarpolicy.com) and validated
//! strictly against a Cedar schema when they are loaded. This crate does no IO:
//! the caller reads the schema and policy files and passes their text in as
//! [`PolicySource`]s, then asks [`PolicySet::decide`] about each action.
//!
//! # Deciding many calls of one agent
//!
//! Most of what [`PolicySet::decide`] builds per request depends only on the
//! agent and the target system: a [`Request`] splits into a [`Subject`]
//! (agent, its owner, environment and use case; system and its owner) and a
//! [`Call`] (action, resource, task and the context values). A caller that
//! decides many calls for one agent, like the server for a resolved
//! credential, prepares each subject once with [`PolicySet::prepare`] and
//! decides each call with [`PolicySet::decide_prepared`], which builds only
//! the request, a context of the fields the action's policies read and,
//! when they read the resource, the resource entity. The answer is exactly `decide`'s on
//! [`Request::from_parts`] (`decide` is `prepare` then `decide_prepared`).
//! A [`Prepared`] is bound to the digest of its set: given to another set
//! (after a reload) it is not used, the set prepares the subject afresh, so a
//! cached one is never wrong, only slower until it is rebuilt.
//!
//! This page is the reference for policy authors. The example set in
//! `policies/runtime.cedarschema` and `policies/runtime.cedar` at the root of
//! the repository follows it and is loaded by this crate's tests.
//!
//! # Entities
//!
//! Everything lives in the Cedar namespace `Countersign`.
//!
//! | entity | id | attributes | parents |
//! |---|---|---|---|
//! | `Countersign::Agent` | the agent id | `owner: String` (user id of its human owner), `environment: String` (e.g. `"production"`), `use_case: String` | none |
//! | `Countersign::System` | the target system id | `owner: String` (user id of the system owner) | none |
//! | `Countersign::Resource` | `"<system id>/<resource path>"`, e.g. `"shop/orders/42"` | `path: String` (`"orders/42"`), `system: System` | its `System` |
//!
//! A request is `principal = Countersign::Agent::"<agent>"`,
//! `action = Countersign::Action::"<action>"`,
//! `resource = Countersign::Resource::"<system>/<path>"`, so
//! `resource in Countersign::System::"shop"` matches every resource of that
//! system. The action must be declared in the schema; an undeclared action is
//! denied before any policy runs.
//!
//! # Context
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `task` | `String` | the task the agent is performing |
//! | `risk_score` | `Long` | 0..=100, higher is riskier |
//! | `confidence_pct` | `Long` | 0..=100, the agent's confidence in the action |
//! | `data_classes` | `Set<String>` | data classes touched, e.g. `"pii"`, `"restricted"` |
//! | `mutates` | `Bool` | whether the action changes state |
//! | `hour_utc` | `Long` | 0..=23, the hour of the request in UTC |
//! | `within_window` | `Bool` | whether the request falls inside the grant's time window |
//! | `impact` | `String` | the expected downstream impact, free text |
//! | `environment` | `String` | the agent's environment (same as `principal.environment`) |
//!
//! The time is computed by the caller and passed in; policies never read a
//! clock.
//!
//! # Annotations
//!
//! * `@id("...")` is required on every policy and must be unique across all
//!   files. It names the policy in decisions, reasons and the ledger.
//! * `@decision("allow" | "step_up")` on a `permit` says what a match means;
//!   it defaults to `"allow"`. A `forbid` always denies; it may omit
//!   `@decision` or say `@decision("deny")`.
//! * `@approver("<role>")` on a step-up permit names the role that must
//!   approve. Without it the target system's owner is asked (the server assigns
//!   the request; `countersign-server` tests it). It is an error on any
//!   other policy.
//!
//! Anything else (an unknown `@decision` value, an empty `@id`, `@approver`
//! on an allow) is a [`LoadError`], as is any policy that does not validate
//! strictly against the schema.
//!
//! # Outcome rules
//!
//! 1. If the request cannot be built (an action not in the schema, a context
//!    value out of range, an entity or request that does not conform to the
//!    schema) the outcome is [`Outcome::Deny`] with the error in
//!    [`Decision::errors`].
//! 2. If any policy fails to evaluate, the outcome is [`Outcome::Deny`]
//!    (fail closed), whatever Cedar decided.
//! 3. If a `forbid` matches, or no `permit` matches, the outcome is
//!    [`Outcome::Deny`]; the matching forbids are the determining policies.
//! 4. Otherwise, if any matching permit is a step-up, the outcome is
//!    [`Outcome::StepUp`]; the matching step-up permits determine it and the
//!    approver role is the `@approver` of the first of them (by id) that has
//!    one.
//! 5. Otherwise the outcome is [`Outcome::Allow`], determined by the matching
//!    permits.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod decide;
mod error;
mod model;
#[cfg(test)]
mod tests;

pub use error::LoadError;
use model::{ActionSlot, DigestInput, Kind, Meta, NAMESPACE};
pub use model::{
    Call, Decision, Outcome, PolicySet, PolicySource, PolicySummary, Prepared, Request, Subject,
};

use cedar_policy as cedar;
use countersign_core::canonical::Digest;
use std::collections::HashMap;
use std::str::FromStr;

impl PolicySet {
    /// Parses the schema (Cedar's human-readable `.cedarschema` syntax) and
    /// the policy files, requires a unique `@id` on every policy, checks the
    /// countersign annotations and validates the policies strictly against
    /// the schema.
    pub fn load(schema: &PolicySource, policies: &[PolicySource]) -> Result<PolicySet, LoadError> {
        let (cedar_schema, _warnings) =
            cedar::Schema::from_cedarschema_str(&schema.text).map_err(|e| LoadError::Schema {
                file: schema.name.clone(),
                message: e.to_string(),
            })?;

        let mut files: Vec<&PolicySource> = policies.iter().collect();
        files.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.text.cmp(&b.text)));
        for pair in files.windows(2) {
            if let [a, b] = pair {
                if a.name == b.name {
                    return Err(LoadError::DuplicateFile {
                        file: a.name.clone(),
                    });
                }
            }
        }

        let mut set = cedar::PolicySet::new();
        let mut meta = HashMap::new();
        let mut summaries = Vec::new();
        let mut first_file: HashMap<String, String> = HashMap::new();
        for source in policies {
            for policy in parse_file(source)? {
                let text = policy.to_string();
                let id = policy
                    .annotation("id")
                    .ok_or_else(|| LoadError::MissingId {
                        file: source.name.clone(),
                        policy_text_start: text_start(&text),
                    })?
                    .to_owned();
                if id.trim().is_empty() {
                    return Err(LoadError::InvalidAnnotation {
                        file: source.name.clone(),
                        id,
                        message: "@id must not be empty".to_owned(),
                    });
                }
                if let Some(first) = first_file.get(&id) {
                    return Err(LoadError::DuplicateId {
                        id,
                        first_file: first.clone(),
                        second_file: source.name.clone(),
                    });
                }
                first_file.insert(id.clone(), source.name.clone());

                let m = policy_meta(&policy).map_err(|message| LoadError::InvalidAnnotation {
                    file: source.name.clone(),
                    id: id.clone(),
                    message,
                })?;
                let effect = match policy.effect() {
                    cedar::Effect::Permit => "permit",
                    cedar::Effect::Forbid => "forbid",
                };
                summaries.push(PolicySummary {
                    id: id.clone(),
                    file: source.name.clone(),
                    effect: effect.to_owned(),
                    decision: m.kind.as_str().to_owned(),
                    approver: m.approver.clone(),
                    text,
                });
                set.add(policy.new_id(cedar::PolicyId::new(&id)))
                    .map_err(|_| LoadError::DuplicateId {
                        id: id.clone(),
                        first_file: source.name.clone(),
                        second_file: source.name.clone(),
                    })?;
                meta.insert(id, m);
            }
        }
        if summaries.is_empty() {
            return Err(LoadError::NoPolicies);
        }

        let validation = cedar::Validator::new(cedar_schema.clone())
            .validate(&set, cedar::ValidationMode::Strict);
        if !validation.validation_passed() {
            let mut messages: Vec<String> = validation
                .validation_errors()
                .map(|e| {
                    let id: &str = e.policy_id().as_ref();
                    let file = first_file.get(id).map_or("?", String::as_str);
                    format!("{file}: {e}")
                })
                .collect();
            messages.sort();
            return Err(LoadError::Validation { messages });
        }

        summaries.sort_by(|a, b| a.id.cmp(&b.id));

        let digest = Digest::of_canonical(&DigestInput {
            schema,
            policies: files,
        })
        .map_err(|e| LoadError::Digest {
            message: e.to_string(),
        })?;

        let agent_type = type_name(&cedar_schema, &schema.name, "Agent")?;
        let system_type = type_name(&cedar_schema, &schema.name, "System")?;
        let resource_type = type_name(&cedar_schema, &schema.name, "Resource")?;
        let action_type = cedar::EntityTypeName::from_str(&format!("{NAMESPACE}::Action"))
            .map_err(|e| schema_error(&schema.name, e))?;
        let actions = action_slots(
            &cedar_schema,
            &schema.name,
            &action_type,
            &resource_type,
            &set,
        )?;
        let mut loaded = PolicySet {
            digest,
            summaries,
            schema: cedar_schema,
            authorizer: cedar::Authorizer::new(),
            meta,
            actions,
            agent_type,
            system_type,
            resource_type,
            action_type,
        };
        // Requests are built without the schema (see `decide::build`): check
        // once per action that what `build` makes conforms to it.
        let nonconforming: Vec<(String, String)> = loaded
            .actions
            .iter()
            .filter_map(|(name, slot)| {
                decide::conformance(&loaded, slot)
                    .err()
                    .map(|e| (name.clone(), e))
            })
            .collect();
        for (name, error) in nonconforming {
            if let Some(slot) = loaded.actions.get_mut(&name) {
                slot.nonconforming = Some(error);
            }
        }
        Ok(loaded)
    }

    /// The sha256 digest of the canonical JSON of
    /// `{schema: {name, text}, policies: [{name, text}, ..]}` with the policy
    /// files sorted by name. It does not depend on the order the files were
    /// passed in, and changes when any name or text changes.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// One summary per policy, ordered by id.
    pub fn policies(&self) -> &[PolicySummary] {
        &self.summaries
    }

    /// Decides one request. Never fails: anything that cannot be evaluated
    /// denies, with the error in [`Decision::errors`].
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        decide::decide(self, req)
    }

    /// Prepares a subject (one agent on one system) for deciding many calls
    /// with [`PolicySet::decide_prepared`]: builds its Cedar entities once.
    /// Cheap; the per-action entity stores are built on first use.
    pub fn prepare(&self, subject: &Subject<'_>) -> Prepared {
        decide::prepare(self, subject)
    }

    /// Decides one call of a prepared subject, exactly as
    /// [`PolicySet::decide`] decides the [`Request`] made of the subject and
    /// the call ([`Request::from_parts`]), building only the context and the
    /// resource entity. Never fails, like `decide`. A subject prepared for a
    /// set with another digest is prepared afresh for this call.
    pub fn decide_prepared(&self, prepared: &Prepared, call: &Call<'_>) -> Decision {
        decide::decide_prepared(self, prepared, call)
    }
}

/// Parses one policy file into its static policies, in source order.
fn parse_file(source: &PolicySource) -> Result<Vec<cedar::Policy>, LoadError> {
    let parsed = cedar::PolicySet::from_str(&source.text).map_err(|errs| LoadError::Parse {
        file: source.name.clone(),
        message: errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    })?;
    if let Some(template) = parsed.templates().next() {
        return Err(LoadError::Template {
            file: source.name.clone(),
            policy_text_start: text_start(&template.to_string()),
        });
    }
    let mut policies: Vec<cedar::Policy> = parsed.policies().cloned().collect();
    // The parser names policies "policy0", "policy1", .. in source order.
    policies.sort_by_key(|p| {
        let id: &str = p.id().as_ref();
        (
            id.strip_prefix("policy")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(usize::MAX),
            id.to_owned(),
        )
    });
    Ok(policies)
}

/// Reads and checks the `@decision` and `@approver` annotations.
fn policy_meta(policy: &cedar::Policy) -> Result<Meta, String> {
    let kind = match (policy.effect(), policy.annotation("decision")) {
        (cedar::Effect::Permit, None | Some("allow")) => Kind::Allow,
        (cedar::Effect::Permit, Some("step_up")) => Kind::StepUp,
        (cedar::Effect::Permit, Some(other)) => {
            return Err(format!(
                "@decision on a permit must be \"allow\" or \"step_up\", got {other:?}"
            ))
        }
        (cedar::Effect::Forbid, None | Some("deny")) => Kind::Deny,
        (cedar::Effect::Forbid, Some(other)) => {
            return Err(format!(
                "@decision on a forbid must be omitted or \"deny\", got {other:?}"
            ))
        }
    };
    let approver = match policy.annotation("approver") {
        None => None,
        Some(_) if kind != Kind::StepUp => {
            return Err("@approver is only allowed on a step_up permit".to_owned())
        }
        Some(role) if role.trim().is_empty() => return Err("@approver must name a role".to_owned()),
        Some(role) => Some(role.to_owned()),
    };
    Ok(Meta { kind, approver })
}

/// The start of a policy's text on one line, for error messages.
fn text_start(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

fn schema_error(file: &str, e: impl std::fmt::Display) -> LoadError {
    LoadError::Schema {
        file: file.to_owned(),
        message: e.to_string(),
    }
}

/// The entity type `Countersign::<name>`, which the schema must declare.
fn type_name(
    schema: &cedar::Schema,
    file: &str,
    name: &str,
) -> Result<cedar::EntityTypeName, LoadError> {
    let full = format!("{NAMESPACE}::{name}");
    let ty = cedar::EntityTypeName::from_str(&full).map_err(|e| schema_error(file, e))?;
    if schema.entity_types().any(|t| *t == ty) {
        Ok(ty)
    } else {
        Err(schema_error(
            file,
            format!("entity type {full} is not declared"),
        ))
    }
}

/// The schema's actions by name, each with its policy slice and entities.
fn action_slots(
    schema: &cedar::Schema,
    file: &str,
    action_type: &cedar::EntityTypeName,
    resource_type: &cedar::EntityTypeName,
    set: &cedar::PolicySet,
) -> Result<HashMap<String, ActionSlot>, LoadError> {
    let entities = schema
        .action_entities()
        .map_err(|e| schema_error(file, e))?;
    let mut out = HashMap::new();
    for uid in schema.actions() {
        if uid.type_name() != action_type {
            continue;
        }
        let ancestors: Vec<&cedar::EntityUid> = entities
            .ancestors(uid)
            .map(Iterator::collect)
            .unwrap_or_default();
        let matches = |target: &cedar::EntityUid| target == uid || ancestors.contains(&target);
        let mut slice = cedar::PolicySet::new();
        let mut reads_resource = false;
        let mut context_fields = 0;
        let mut named: Vec<cedar::EntityUid> = vec![uid.clone()];
        for policy in set.policies() {
            let applies = match policy.action_constraint() {
                cedar::ActionConstraint::Any => true,
                cedar::ActionConstraint::Eq(target) => target == *uid,
                cedar::ActionConstraint::In(targets) => targets.iter().any(matches),
            };
            if applies {
                reads_resource |= policy_reads_resource(policy, resource_type);
                context_fields |= policy_context_fields(policy);
                named.extend(policy.entity_literals());
                slice
                    .add(without_action_scope(policy))
                    .map_err(|e| schema_error(file, e))?;
            }
        }
        let mut needed: Vec<cedar::Entity> = Vec::new();
        for action in &named {
            let Some(entity) = entities.get(action) else {
                continue; // not an action of the schema
            };
            let group = entities.ancestors(action).into_iter().flatten();
            for e in std::iter::once(entity).chain(group.filter_map(|g| entities.get(g))) {
                if !needed.iter().any(|n| n.uid() == e.uid()) {
                    needed.push(e.clone());
                }
            }
        }
        let slot_entities =
            cedar::Entities::from_entities(needed, None).map_err(|e| schema_error(file, e))?;
        out.insert(
            uid.id().unescaped().to_owned(),
            ActionSlot {
                index: 0,
                uid: uid.clone(),
                policies: slice,
                reads_resource,
                context_fields,
                entities: slot_entities,
                nonconforming: None,
            },
        );
    }
    // Number the slots in name order, for `Prepared::stores`.
    let mut names: Vec<&String> = out.keys().collect();
    names.sort();
    let order: Vec<String> = names.into_iter().cloned().collect();
    for (index, name) in order.iter().enumerate() {
        if let Some(slot) = out.get_mut(name) {
            slot.index = index;
        }
    }
    Ok(out)
}

/// `policy` with its action scope widened to every action, for a slot whose
/// action it matches: there the scope always holds (it is true of the slot's
/// action, cannot fail to evaluate, and the slot's store holds the action's
/// groups for `in`), so the copy decides alike without Cedar looking the
/// action and its groups up on every call. The policy as it is when it
/// cannot be rewritten.
fn without_action_scope(policy: &cedar::Policy) -> cedar::Policy {
    if matches!(policy.action_constraint(), cedar::ActionConstraint::Any) {
        return policy.clone();
    }
    let Ok(mut json) = policy.to_json() else {
        return policy.clone();
    };
    match json.get_mut("action") {
        Some(scope) => *scope = serde_json::json!({"op": "All"}),
        None => return policy.clone(),
    }
    cedar::Policy::from_json(Some(policy.id().clone()), json).unwrap_or_else(|_| policy.clone())
}

/// Whether evaluating `policy` can read the request's resource entity from
/// the store: its resource scope constrains the resource, its conditions
/// name the `resource` variable, or it names an entity of the resource type.
/// Any other way to an entity goes through an attribute holding it, and only
/// the resource entity has one (`system`). When the policy cannot be
/// written as JSON, to look, it is assumed to read it.
fn policy_reads_resource(policy: &cedar::Policy, resource_type: &cedar::EntityTypeName) -> bool {
    if !matches!(policy.resource_constraint(), cedar::ResourceConstraint::Any) {
        return true;
    }
    if policy
        .entity_literals()
        .iter()
        .any(|e| e.type_name() == resource_type)
    {
        return true;
    }
    match policy.to_json() {
        Ok(json) => json.get("conditions").is_none_or(names_resource),
        Err(_) => true,
    }
}

/// The context fields `policy` can read, as bits of
/// [`decide::CONTEXT_FIELDS`]: those it names in `context.<field>` or
/// `context has <field>`, or all of them if it uses `context` in any other
/// way or cannot be written as JSON to look.
fn policy_context_fields(policy: &cedar::Policy) -> u16 {
    let Ok(json) = policy.to_json() else {
        return decide::ALL_FIELDS;
    };
    let mut fields = 0;
    match json.get("conditions") {
        Some(conditions) if context_reads(conditions, &mut fields) => fields,
        Some(_) => decide::ALL_FIELDS,
        None => 0,
    }
}

/// Adds to `fields` the context fields a policy's JSON (EST) reads with
/// `context.<field>` or `context has <field>`; false if it uses the
/// `context` variable any other way.
fn context_reads(json: &serde_json::Value, fields: &mut u16) -> bool {
    match json {
        serde_json::Value::Object(map) => map.iter().all(|(key, value)| {
            if key == "Var" && value.as_str() == Some("context") {
                return false;
            }
            if key == "." || key == "has" {
                let on_context = value
                    .get("left")
                    .and_then(|left| left.get("Var"))
                    .and_then(serde_json::Value::as_str)
                    == Some("context");
                if let (true, Some(attr)) = (on_context, value.get("attr").and_then(|a| a.as_str()))
                {
                    // A field countersign does not set is absent either way.
                    if let Some(i) = decide::CONTEXT_FIELDS.iter().position(|f| *f == attr) {
                        *fields |= 1 << i;
                    }
                    return true;
                }
            }
            context_reads(value, fields)
        }),
        serde_json::Value::Array(items) => items.iter().all(|item| context_reads(item, fields)),
        _ => true,
    }
}

/// Whether a policy's JSON (EST) names the `resource` variable anywhere.
fn names_resource(json: &serde_json::Value) -> bool {
    match json {
        serde_json::Value::Object(map) => map.iter().any(|(key, value)| {
            (key == "Var" && value.as_str() == Some("resource")) || names_resource(value)
        }),
        serde_json::Value::Array(items) => items.iter().any(names_resource),
        _ => false,
    }
}
