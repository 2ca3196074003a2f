//! Resource templates: how the gateway names the resource a tool call touches from the
//! call's arguments, e.g. `orders/{/order_id}` or `repos/{/owner}/{/repo}`.
//!
//! A template is literal text with placeholders in braces. A placeholder is a JSON
//! pointer (RFC 6901) into the call's `arguments` object, or `{tool}`, the tool's name.
//! Literal text is what a resource may hold (visible ASCII without `:` and `*`); a
//! value taken from the arguments is a string, a number or a boolean and is
//! percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`), so no argument can add a
//! `/` and reach a resource outside the pattern a grant names (`orders/*` does not
//! cover `orders/42%2F..%2Fsecrets` as anything but one order).

use serde_json::Value;
use std::fmt;

/// The longest resource the server accepts.
pub const MAX_RESOURCE: usize = 256;

/// A parsed resource template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceTemplate {
    source: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A JSON pointer, as written (escapes and all), always starting with `/`.
    Pointer(String),
    Tool,
}

/// Why a template cannot be used, or why a call's arguments cannot fill it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is empty")]
    Empty,
    #[error("`{{` at byte {at} is never closed with `}}`")]
    Unclosed { at: usize },
    #[error("`}}` at byte {at} closes no placeholder")]
    StrayClose { at: usize },
    #[error(
        "placeholder `{{{inner}}}` is neither `{{tool}}` nor a JSON pointer starting with `/`"
    )]
    NotAPointer { inner: String },
    #[error("JSON pointer {pointer:?} has `~` not followed by 0 or 1 (write `~0` for `~` and `~1` for `/`)")]
    BadEscape { pointer: String },
    #[error("{c:?} cannot appear in a resource (visible ASCII only, no `:` or `*`)")]
    BadLiteral { c: char },
    #[error("the call has no argument at {pointer}")]
    Missing { pointer: String },
    #[error("the argument at {pointer} is {kind}; a resource takes a string, number or boolean")]
    NotScalar { pointer: String, kind: &'static str },
    #[error("the argument at {pointer} is an empty string")]
    EmptyValue { pointer: String },
    #[error("the resource would be {len} characters long; at most {MAX_RESOURCE} are allowed")]
    TooLong { len: usize },
}

impl ResourceTemplate {
    /// Parses a template; literal text and every pointer are checked here, so a
    /// config that loads names resources only through its arguments.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        if source.is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = source.char_indices();
        while let Some((at, c)) = rest.next() {
            match c {
                '{' => {
                    let after = &source[at + 1..];
                    let Some(end) = after.find('}') else {
                        return Err(TemplateError::Unclosed { at });
                    };
                    let inner = &after[..end];
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(placeholder(inner)?);
                    // Skip the placeholder's characters and its closing brace.
                    for _ in 0..inner.chars().count() + 1 {
                        rest.next();
                    }
                }
                '}' => return Err(TemplateError::StrayClose { at }),
                c if literal_char(c) => literal.push(c),
                c => return Err(TemplateError::BadLiteral { c }),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The JSON pointers the template reads.
    pub fn pointers(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Pointer(p) => Some(p.as_str()),
            _ => None,
        })
    }

    /// A resource of the template's shape for no call in particular: each argument's
    /// place holds `_` (what `tools/list` previews are asked with).
    pub fn example(&self, tool: &str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Tool => encode(tool, &mut out),
                Part::Pointer(_) => out.push('_'),
            }
        }
        out
    }

    /// The resource for one call: `tool` is the tool's name, `arguments` the call's
    /// arguments (`None` when the call carries none).
    pub fn render(&self, tool: &str, arguments: Option<&Value>) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Tool => encode(tool, &mut out),
                Part::Pointer(p) => {
                    let missing = || TemplateError::Missing { pointer: p.clone() };
                    let v = arguments.and_then(|a| a.pointer(p)).ok_or_else(missing)?;
                    let not_scalar = |kind| TemplateError::NotScalar {
                        pointer: p.clone(),
                        kind,
                    };
                    match v {
                        Value::String(s) if s.is_empty() => {
                            return Err(TemplateError::EmptyValue { pointer: p.clone() })
                        }
                        Value::String(s) => encode(s, &mut out),
                        Value::Number(n) => encode(&n.to_string(), &mut out),
                        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                        Value::Null => return Err(not_scalar("null")),
                        Value::Array(_) => return Err(not_scalar("an array")),
                        Value::Object(_) => return Err(not_scalar("an object")),
                    }
                }
            }
        }
        if out.len() > MAX_RESOURCE {
            return Err(TemplateError::TooLong { len: out.len() });
        }
        Ok(out)
    }
}

impl fmt::Display for ResourceTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn placeholder(inner: &str) -> Result<Part, TemplateError> {
    if inner == "tool" {
        return Ok(Part::Tool);
    }
    if !inner.starts_with('/') {
        return Err(TemplateError::NotAPointer {
            inner: inner.to_owned(),
        });
    }
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(TemplateError::BadEscape {
                pointer: inner.to_owned(),
            });
        }
    }
    Ok(Part::Pointer(inner.to_owned()))
}

/// What literal text may hold: what the server accepts in a resource.
fn literal_char(c: char) -> bool {
    c.is_ascii_graphic() && c != ':' && c != '*'
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn render(t: &str, args: Value) -> Result<String, TemplateError> {
        ResourceTemplate::parse(t)
            .unwrap()
            .render("refund", Some(&args))
    }

    #[test]
    fn pointers_take_values_from_the_arguments() {
        assert_eq!(
            render("orders/{/order_id}", json!({"order_id": 4711})).unwrap(),
            "orders/4711"
        );
        assert_eq!(
            render(
                "repos/{/repo/owner}/{/repo/name}",
                json!({"repo": {"owner": "acme", "name": "web"}})
            )
            .unwrap(),
            "repos/acme/web"
        );
        assert_eq!(
            render("a/{/a~1b}/{/m~0n}", json!({"a/b": "x", "m~n": true})).unwrap(),
            "a/x/true"
        );
        assert_eq!(
            render("tools/{tool}", json!({})).unwrap(),
            "tools/refund",
            "{{tool}} is the tool's name"
        );
        assert_eq!(
            render("items/{/ids/1}", json!({"ids": ["a", "b"]})).unwrap(),
            "items/b"
        );
    }

    #[test]
    fn values_cannot_leave_their_segment() {
        assert_eq!(
            render("orders/{/id}", json!({"id": "42/../../secrets"})).unwrap(),
            "orders/42%2F..%2F..%2Fsecrets"
        );
        assert_eq!(
            render("orders/{/id}", json!({"id": "a*:b c"})).unwrap(),
            "orders/a%2A%3Ab%20c"
        );
        assert_eq!(
            render("orders/{/id}", json!({"id": "é"})).unwrap(),
            "orders/%C3%A9"
        );
    }

    #[test]
    fn arguments_that_cannot_name_a_resource_are_refused() {
        let t = "orders/{/order_id}";
        assert_eq!(
            render(t, json!({})),
            Err(TemplateError::Missing {
                pointer: "/order_id".into()
            })
        );
        assert!(matches!(
            render(t, json!({"order_id": {"a": 1}})),
            Err(TemplateError::NotScalar {
                kind: "an object",
                ..
            })
        ));
        assert!(matches!(
            render(t, json!({"order_id": null})),
            Err(TemplateError::NotScalar { kind: "null", .. })
        ));
        assert!(matches!(
            render(t, json!({"order_id": ""})),
            Err(TemplateError::EmptyValue { .. })
        ));
        assert!(matches!(
            render(t, json!({"order_id": "x".repeat(300)})),
            Err(TemplateError::TooLong { .. })
        ));
        assert!(matches!(
            ResourceTemplate::parse(t).unwrap().render("refund", None),
            Err(TemplateError::Missing { .. })
        ));
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        let err = |t: &str| ResourceTemplate::parse(t).unwrap_err();
        assert_eq!(err(""), TemplateError::Empty);
        assert_eq!(err("orders/{/id"), TemplateError::Unclosed { at: 7 });
        assert_eq!(err("orders/}"), TemplateError::StrayClose { at: 7 });
        assert_eq!(
            err("orders/{id}"),
            TemplateError::NotAPointer { inner: "id".into() }
        );
        assert_eq!(
            err("orders/{/a~2}"),
            TemplateError::BadEscape {
                pointer: "/a~2".into()
            }
        );
        assert_eq!(err("orders/*"), TemplateError::BadLiteral { c: '*' });
        assert_eq!(err("sys:orders"), TemplateError::BadLiteral { c: ':' });
        assert_eq!(err("orders /1"), TemplateError::BadLiteral { c: ' ' });
        let ok = ResourceTemplate::parse("orders/{/id}-{/n}").unwrap();
        assert_eq!(ok.pointers().collect::<Vec<_>>(), ["/id", "/n"]);
        assert_eq!(ok.to_string(), "orders/{/id}-{/n}");
    }
}
