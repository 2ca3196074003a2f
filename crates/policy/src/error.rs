//! Why a policy set could not be loaded.

/// Why [`crate::PolicySet::load`] refused a schema or a set of policy files.
///
/// Every variant carries the file it is about (where there is one) and the
/// Cedar diagnostic text, so an operator can fix the file without a debugger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The schema file is not a valid Cedar schema.
    #[error("schema {file} is invalid: {message}")]
    Schema { file: String, message: String },

    /// A policy file does not parse.
    #[error("policy file {file} does not parse: {message}")]
    Parse { file: String, message: String },

    /// A policy file holds a template (a policy with `?principal` or
    /// `?resource` slots); runtime policies must be static.
    #[error(
        "policy file {file} holds a template, runtime policies must be static: {policy_text_start}"
    )]
    Template {
        file: String,
        policy_text_start: String,
    },

    /// A policy has no `@id("...")` annotation.
    #[error("a policy in {file} has no @id annotation: {policy_text_start}")]
    MissingId {
        file: String,
        policy_text_start: String,
    },

    /// Two policies share an `@id`.
    #[error("policy id {id:?} is used in {first_file} and again in {second_file}")]
    DuplicateId {
        id: String,
        first_file: String,
        second_file: String,
    },

    /// Two policy files share a name.
    #[error("policy file {file} is given more than once")]
    DuplicateFile { file: String },

    /// An annotation countersign interprets (`@id`, `@decision`, `@approver`)
    /// has a value it cannot use.
    #[error("policy {id:?} in {file} has an invalid annotation: {message}")]
    InvalidAnnotation {
        file: String,
        id: String,
        message: String,
    },

    /// One or more policies do not validate strictly against the schema.
    /// Each message names the file and the policy id.
    #[error("policies do not validate against the schema: {}", messages.join("; "))]
    Validation { messages: Vec<String> },

    /// No policy was given, or the files hold none.
    #[error("the policy set holds no policies")]
    NoPolicies,

    /// The sources could not be encoded for the set digest.
    #[error("the policy sources could not be digested: {message}")]
    Digest { message: String },
}
