//! The gateway's configuration (TOML): the upstream MCP servers and, per tool, what
//! countersign governs when the tool is called: the system, the action, the resource
//! (a template over the call's arguments) and the data classes. A tool that is not
//! mapped is denied unless its server names a default mapping.
//!
//! ```toml
//! console_url = "https://countersign.example.com"  # default: the server's URL
//! approval_wait_seconds = 25                        # 0-55; how long a call waits for a human
//! task = "support-desk"                             # default: the credential's task
//!
//! [servers.shop]
//! url = "https://shop.internal/mcp"                 # for `mcp serve`: the upstream endpoint
//! default = "deny"                                  # the default; or a mapping like a tool's
//! hide_denied_tools = false                         # tools/list leaves out tools the agent may not call
//!
//! [servers.shop.tools.refund_order]
//! system = "sys_payments"
//! action = "write"
//! resource = "orders/{/order_id}"
//! data_classes = ["pii"]
//! risk_score = 40                                   # 0-100, default 0
//! impact = "money leaves the company"
//! ```
//!
//! Validation reports the first problem as file, field and reason, the way the
//! governance profile does: `gw.toml: servers.shop.tools.refund_order.resource: …`.

use crate::template::ResourceTemplate;
use countersign_core::grant::valid_action;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use toml::{Table, Value};

/// The default wait for a human, below common MCP clients' request timeouts (60 s).
pub const DEFAULT_APPROVAL_WAIT: Duration = Duration::from_secs(25);
/// The longest wait a config may ask for.
pub const MAX_APPROVAL_WAIT_SECONDS: u64 = 55;

/// A validated gateway configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayConfig {
    /// Where people answer step-ups; `None`: the countersign server's URL.
    pub console_url: Option<String>,
    /// How long a call waits for the human before answering that approval is required.
    pub approval_wait: Duration,
    /// The task decisions are asked under; `None`: the credential's.
    pub task: Option<String>,
    /// The upstream servers by name.
    pub servers: BTreeMap<String, ServerConfig>,
}

/// One upstream MCP server.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    pub name: String,
    /// Its Streamable HTTP endpoint, for `mcp serve` (a stdio proxy is given a command).
    pub url: Option<String>,
    /// Tools by name.
    pub tools: BTreeMap<String, ToolMapping>,
    /// The mapping for tools not in `tools`; `None` denies them.
    pub default: Option<ToolMapping>,
    /// `tools/list` leaves out the tools the agent may not call now (unmapped, or
    /// denied for every call: no grant, or a policy that forbids them); otherwise
    /// they are listed with that said.
    pub hide_denied_tools: bool,
}

/// What one tool call is, to countersign.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolMapping {
    /// The system's id.
    pub system: String,
    pub action: String,
    pub resource: ResourceTemplate,
    pub data_classes: Vec<String>,
    pub risk_score: u32,
    pub impact: String,
}

/// Why a configuration is refused: the file, the field and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub field: String,
    pub reason: String,
}

impl ServerConfig {
    /// The mapping a tool call gets: its own, the server's default, or none (denied).
    pub fn mapping(&self, tool: &str) -> Option<&ToolMapping> {
        self.tools.get(tool).or(self.default.as_ref())
    }
}

impl GatewayConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            field: "(file)".into(),
            reason: format!("cannot read it: {e}"),
        })?;
        Self::parse(&file, &text)
    }

    /// Parses and validates a configuration; `file` names the source in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let at = |field: &str, reason: String| ConfigError {
            file: file.to_owned(),
            field: field.to_owned(),
            reason,
        };
        let table: Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let reason = match line {
                Some(n) => format!("line {n}: {}", e.message()),
                None => e.message().to_owned(),
            };
            at("(syntax)", reason)
        })?;
        let r = Reader {
            at: &at,
            path: String::new(),
            table: &table,
        };
        r.allow(&["console_url", "approval_wait_seconds", "task", "servers"])?;
        let console_url = r.string("console_url")?;
        if let Some(u) = &console_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(at(
                    "console_url",
                    format!("{u:?} is not an http:// or https:// URL"),
                ));
            }
        }
        let approval_wait = match r.integer("approval_wait_seconds")? {
            None => DEFAULT_APPROVAL_WAIT,
            Some(n) if (0..=MAX_APPROVAL_WAIT_SECONDS as i64).contains(&n) => {
                Duration::from_secs(n.unsigned_abs())
            }
            Some(n) => {
                return Err(at(
                    "approval_wait_seconds",
                    format!("{n} is not between 0 and {MAX_APPROVAL_WAIT_SECONDS} (MCP clients commonly give up after 60 s)"),
                ))
            }
        };
        let task = r.string("task")?;
        if let Some(t) = &task {
            if t.trim().is_empty() || t.len() > 200 {
                return Err(at("task", "a task is 1-200 characters".into()));
            }
        }
        let Some(servers_table) = r.table("servers")? else {
            return Err(at(
                "servers",
                "at least one upstream server is required ([servers.NAME])".into(),
            ));
        };
        let mut servers = BTreeMap::new();
        for (name, v) in servers_table {
            let path = format!("servers.{name}");
            let Value::Table(t) = v else {
                return Err(at(&path, "must be a table ([servers.NAME])".into()));
            };
            if !valid_name(name) {
                return Err(at(
                    &path,
                    "a server name is 1-64 letters, digits, `_` or `-` (it is a URL path segment)"
                        .into(),
                ));
            }
            servers.insert(name.clone(), server(&at, &path, name, t)?);
        }
        if servers.is_empty() {
            return Err(at(
                "servers",
                "at least one upstream server is required ([servers.NAME])".into(),
            ));
        }
        Ok(Self {
            console_url,
            approval_wait,
            task,
            servers,
        })
    }

    /// The server a stdio proxy fronts: the one named, or the only one.
    pub fn server(&self, name: Option<&str>) -> Result<&ServerConfig, String> {
        match name {
            Some(n) => self.servers.get(n).ok_or_else(|| {
                format!(
                    "the config has no server {n:?} (it has {})",
                    self.names().join(", ")
                )
            }),
            None if self.servers.len() == 1 => self.servers.values().next().ok_or_else(String::new),
            None => Err(format!(
                "the config has {} servers ({}); name one with --upstream",
                self.servers.len(),
                self.names().join(", ")
            )),
        }
    }

    fn names(&self) -> Vec<&str> {
        self.servers.keys().map(String::as_str).collect()
    }

    /// Every (server, tool or `(default)`, mapping), for checks against a server.
    pub fn mappings(&self) -> impl Iterator<Item = (&str, &str, &ToolMapping)> {
        self.servers.values().flat_map(|s| {
            s.tools
                .iter()
                .map(move |(t, m)| (s.name.as_str(), t.as_str(), m))
                .chain(
                    s.default
                        .iter()
                        .map(move |m| (s.name.as_str(), "(default)", m)),
                )
        })
    }
}

type At<'a> = &'a dyn Fn(&str, String) -> ConfigError;

fn server(at: At<'_>, path: &str, name: &str, t: &Table) -> Result<ServerConfig, ConfigError> {
    let r = Reader {
        at,
        path: path.to_owned(),
        table: t,
    };
    r.allow(&["url", "default", "tools", "hide_denied_tools"])?;
    let url = r.string("url")?;
    let hide_denied_tools = r.boolean("hide_denied_tools")?.unwrap_or(false);
    if let Some(u) = &url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(r.err("url", format!("{u:?} is not an http:// or https:// URL")));
        }
    }
    let default = match t.get("default") {
        None => None,
        Some(Value::String(s)) if s == "deny" => None,
        Some(Value::Table(m)) => Some(mapping(at, &format!("{path}.default"), m)?),
        Some(_) => {
            return Err(at(
                &format!("{path}.default"),
                "must be \"deny\" or a mapping table (system, action, resource, …)".into(),
            ))
        }
    };
    let mut tools = BTreeMap::new();
    if let Some(table) = r.table("tools")? {
        for (tool, v) in table {
            let p = format!("{path}.tools.{tool}");
            let Value::Table(m) = v else {
                return Err(at(&p, "must be a table ([servers.NAME.tools.TOOL])".into()));
            };
            if tool.is_empty() || tool.len() > 128 {
                return Err(at(&p, "a tool name is 1-128 characters".into()));
            }
            tools.insert(tool.clone(), mapping(at, &p, m)?);
        }
    }
    Ok(ServerConfig {
        name: name.to_owned(),
        url,
        tools,
        default,
        hide_denied_tools,
    })
}

fn mapping(at: At<'_>, path: &str, t: &Table) -> Result<ToolMapping, ConfigError> {
    let r = Reader {
        at,
        path: path.to_owned(),
        table: t,
    };
    r.allow(&[
        "system",
        "action",
        "resource",
        "data_classes",
        "risk_score",
        "impact",
    ])?;
    let system = r.required_string("system")?;
    if system.is_empty() || system.len() > 128 || system.contains(char::is_whitespace) {
        return Err(r.err(
            "system",
            "a system id is 1-128 characters without spaces".into(),
        ));
    }
    let action = r.required_string("action")?;
    if !valid_action(&action) {
        return Err(r.err(
            "action",
            format!("{action:?} is not an action name (1-64 lowercase letters, digits, `_`, `-`, `.`; e.g. read, write, payments)"),
        ));
    }
    let source = r.required_string("resource")?;
    let resource = ResourceTemplate::parse(&source)
        .map_err(|e| r.err("resource", format!("{source:?}: {e}")))?;
    let data_classes = r.strings("data_classes")?;
    if data_classes.len() > 64 || data_classes.iter().any(|d| d.is_empty() || d.len() > 64) {
        return Err(r.err("data_classes", "at most 64 names of 1-64 characters".into()));
    }
    let risk_score = match r.integer("risk_score")? {
        None => 0,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| *n <= 100)
            .ok_or_else(|| r.err("risk_score", format!("{n} is not between 0 and 100")))?,
    };
    let impact = r.string("impact")?.unwrap_or_default();
    Ok(ToolMapping {
        system,
        action,
        resource,
        data_classes,
        risk_score,
        impact,
    })
}

/// A server or tool name: a URL path segment.
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Typed reads from one table, with errors naming the dotted field.
struct Reader<'a> {
    at: At<'a>,
    path: String,
    table: &'a Table,
}

impl Reader<'_> {
    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn err(&self, key: &str, reason: String) -> ConfigError {
        (self.at)(&self.field(key), reason)
    }

    fn allow(&self, keys: &[&str]) -> Result<(), ConfigError> {
        match self.table.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(self.err(
                k,
                format!("unknown field; expected one of {}", keys.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(key, format!("must be a string, not {}", v.type_str()))),
        }
    }

    fn required_string(&self, key: &str) -> Result<String, ConfigError> {
        self.string(key)?
            .ok_or_else(|| self.err(key, "is required".into()))
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(key, format!("must be true or false, not {}", v.type_str()))),
        }
    }

    fn integer(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Integer(n)) => Ok(Some(*n)),
            Some(v) => Err(self.err(key, format!("must be an integer, not {}", v.type_str()))),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        match self.table.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    v => Err(self.err(key, format!("must list strings, not {}", v.type_str()))),
                })
                .collect(),
            Some(v) => Err(self.err(
                key,
                format!("must be an array of strings, not {}", v.type_str()),
            )),
        }
    }

    fn table(&self, key: &str) -> Result<Option<&Table>, ConfigError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Table(t)) => Ok(Some(t)),
            Some(v) => Err(self.err(key, format!("must be a table, not {}", v.type_str()))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = r#"
console_url = "https://countersign.example.com"
approval_wait_seconds = 5
task = "ticket-4711"

[servers.shop]
[servers.shop.tools.refund_order]
system = "sys_1"
action = "write"
resource = "orders/{/order_id}"
data_classes = ["pii"]
risk_score = 40
impact = "money leaves the company"

[servers.shop.tools."get-order"]
system = "sys_1"
action = "read"
resource = "orders/{/order_id}"

[servers.files]
default = { system = "sys_2", action = "read", resource = "files/{tool}" }
"#;

    fn err(text: &str) -> (String, String) {
        let e = GatewayConfig::parse("gw.toml", text).unwrap_err();
        assert_eq!(e.file, "gw.toml");
        (e.field, e.reason)
    }

    #[test]
    fn a_good_config_loads() {
        let c = GatewayConfig::parse("gw.toml", GOOD).unwrap();
        assert_eq!(c.approval_wait, Duration::from_secs(5));
        assert_eq!(c.task.as_deref(), Some("ticket-4711"));
        let shop = c.server(Some("shop")).unwrap();
        let refund = shop.mapping("refund_order").unwrap();
        assert_eq!(refund.action, "write");
        assert_eq!(refund.risk_score, 40);
        assert_eq!(refund.data_classes, ["pii"]);
        assert!(shop.mapping("get-order").is_some());
        assert!(shop.mapping("drop_tables").is_none(), "unmapped: denied");
        let files = c.server(Some("files")).unwrap();
        assert_eq!(files.mapping("anything").unwrap().system, "sys_2");
        assert_eq!(c.mappings().count(), 3);
        assert!(c.server(None).unwrap_err().contains("--upstream"));
        assert!(c.server(Some("nope")).unwrap_err().contains("files, shop"));
    }

    #[test]
    fn defaults_apply() {
        let c = GatewayConfig::parse(
            "gw.toml",
            "[servers.a.tools.t]\nsystem = \"s\"\naction = \"read\"\nresource = \"x\"\n",
        )
        .unwrap();
        assert_eq!(c.approval_wait, DEFAULT_APPROVAL_WAIT);
        assert_eq!(c.console_url, None);
        assert!(c.server(None).is_ok(), "the only server");
        assert_eq!(c.servers["a"].tools["t"].risk_score, 0);
    }

    #[test]
    fn problems_name_the_field_and_the_reason() {
        let tool = |body: &str| format!("[servers.shop.tools.t]\n{body}\n");
        let base = "system = \"s\"\naction = \"read\"\n";
        let cases: Vec<(String, &str, &str)> = vec![
            ("servers = [".into(), "(syntax)", ""),
            ("".into(), "servers", "at least one"),
            ("colour = 1\n[servers.a]".into(), "colour", "unknown field"),
            (
                "approval_wait_seconds = 90\n[servers.a]".into(),
                "approval_wait_seconds",
                "between 0 and 55",
            ),
            (
                "console_url = \"ftp://x\"\n[servers.a]".into(),
                "console_url",
                "not an http",
            ),
            ("[servers.\"a b\"]".into(), "servers.a b", "server name"),
            (
                tool("action = \"read\"\nresource = \"x\""),
                "servers.shop.tools.t.system",
                "is required",
            ),
            (
                tool("system = \"s\"\naction = \"Refund!\"\nresource = \"x\""),
                "servers.shop.tools.t.action",
                "not an action name",
            ),
            (
                tool(&format!("{base}resource = \"orders/{{order_id}}\"")),
                "servers.shop.tools.t.resource",
                "neither `{tool}` nor a JSON pointer",
            ),
            (
                tool(&format!("{base}resource = \"orders/{{/a~2}}\"")),
                "servers.shop.tools.t.resource",
                "~0",
            ),
            (
                tool(&format!("{base}resource = \"orders/*\"")),
                "servers.shop.tools.t.resource",
                "cannot appear",
            ),
            (
                tool(&format!("{base}resource = \"x\"\nrisk_score = 101")),
                "servers.shop.tools.t.risk_score",
                "between 0 and 100",
            ),
            (
                tool(&format!("{base}resource = \"x\"\ndata_classes = \"pii\"")),
                "servers.shop.tools.t.data_classes",
                "array of strings",
            ),
            (
                tool(&format!("{base}resource = \"x\"\nsytem = \"s\"")),
                "servers.shop.tools.t.sytem",
                "unknown field",
            ),
            (
                "[servers.shop]\ndefault = \"allow\"".into(),
                "servers.shop.default",
                "\"deny\" or a mapping",
            ),
            (
                "[servers.shop]\nurl = \"shop:80\"".into(),
                "servers.shop.url",
                "not an http",
            ),
            (
                "[servers.shop.default]\nsystem = \"s\"\naction = \"read\"".into(),
                "servers.shop.default.resource",
                "is required",
            ),
        ];
        for (text, field, reason) in cases {
            let (f, r) = err(&text);
            assert_eq!(f, field, "{text}: {r}");
            assert!(r.contains(reason), "{text}: {r}");
        }
    }

    #[test]
    fn the_message_reads_file_field_reason() {
        let e = GatewayConfig::parse(
            "gw.toml",
            "[servers.a.tools.t]\naction = \"read\"\nresource = \"x\"",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "gw.toml: servers.a.tools.t.system: is required"
        );
    }
}
