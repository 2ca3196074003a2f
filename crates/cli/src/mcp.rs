//! `countersign mcp`: the MCP gateway's commands (issue 13), wired to the
//! countersign-mcp crate. `check` validates a gateway config offline (and, with
//! `--server`, that its systems exist there); `proxy` is the stdio wrapper an MCP
//! client launches instead of the server. The proxy's standard output is the MCP
//! channel to the client: nothing else is printed there, and logs go to standard error.

use crate::agents::{self, AgentIdentity};
use crate::client::{q, Client, Conn};
use crate::output;
use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use countersign_api::{GrantView, PolicySetView, SystemView};
use countersign_core::grant::pattern_within;
use countersign_mcp::config::MAX_APPROVAL_WAIT_SECONDS;
use countersign_mcp::{Credential, Gateway, GatewayConfig, HttpCountersign, Settings, Upstream};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Subcommand)]
pub(crate) enum McpCmd {
    /// Validate a gateway config offline: syntax, server names, actions, resource
    /// templates and their JSON pointers, data classes. Exit 1 with the file, field and
    /// reason of the first problem.
    Check {
        /// The gateway config (TOML).
        file: PathBuf,
        /// Also check against this running server that every mapped system exists
        /// (with a person's API token in COUNTERSIGN_TOKEN).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// With --server: also check that this agent holds an active grant for each
        /// mapped tool's system, action and resource shape (a tool it holds none for is
        /// denied on every call), and name the running policy set.
        #[arg(long, value_name = "AGENT", requires = "server")]
        agent: Option<String>,
        /// The API token for --server.
        #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// PEM file of CA certificates to trust for an https:// --server (repeatable).
        #[arg(long = "ca-cert", value_name = "FILE")]
        ca_cert: Vec<PathBuf>,
    },
    /// The stdio gateway: what an MCP client launches instead of the server. Spawns
    /// the server (the command after `--`) and decides every tools/call through
    /// countersign; COUNTERSIGN_TOKEN is the agent's just-in-time credential.
    #[command(
        long_about = "The stdio gateway: what an MCP client (an IDE, a desktop assistant, an agent \
framework) launches instead of the MCP server. It spawns the real server (the command after `--`) \
as a child and relays newline-delimited JSON-RPC both ways. Every tools/call is decided first by \
countersign on its exact arguments, as the agent whose just-in-time credential is in \
COUNTERSIGN_TOKEN (the child never sees it): allow forwards the call and reports the outcome; \
deny answers a tool error saying why; step-up waits for the named human up to --approval-wait \
seconds, then answers in the shape the client can follow: a 2026-07-28 client that declared URL \
elicitation gets an InputRequiredResult (the approval page, and a requestState sealed to the call \
to retry with), a 2025-11-25 one the URL elicitation error (-32042), any other the tool error \
\"approval required at <console>/console/approvals/<id>\"; the same call retried once it is \
approved goes through, once. Tools the config does not map are denied. tools/list answers carry \
each tool's would-be decision (hide_denied_tools leaves the denied ones out). If the server exits, \
calls in flight get an error and it is started again (given up after three exits within 5 s of \
starting). Logs go to standard error.",
        after_help = "Example:\n  COUNTERSIGN_TOKEN=$JIT countersign mcp proxy --config gw.toml -- \\\n    npx -y @modelcontextprotocol/server-filesystem /srv/docs"
    )]
    Proxy {
        /// The gateway config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Which of the config's servers this is (default: the only one).
        #[arg(long, value_name = "NAME")]
        upstream: Option<String>,
        /// Seconds a call waits for a human before answering that approval is
        /// required (0-55; default: the config's, else 25).
        #[arg(long, value_name = "SECONDS")]
        approval_wait: Option<u64>,
        /// Where people answer step-ups (default: the config's console_url, else --server).
        #[arg(long, value_name = "URL")]
        console_url: Option<String>,
        /// Issue and renew the credential as this agent (with --key-file, --task and
        /// --scope) instead of using COUNTERSIGN_TOKEN, which expires in minutes.
        #[arg(long, env = "COUNTERSIGN_AGENT", requires_all = ["key_file", "task", "scopes"])]
        agent: Option<String>,
        /// File with the agent's private key (`countersign agent keygen`).
        #[arg(long, env = "COUNTERSIGN_AGENT_KEY")]
        key_file: Option<PathBuf>,
        /// The task the credential is issued for.
        #[arg(long)]
        task: Option<String>,
        /// A scope system:action:resource the credential holds (repeat).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[command(flatten)]
        conn: Conn,
        /// The MCP server's command line.
        #[arg(last = true, required = true, value_name = "SERVER COMMAND")]
        command: Vec<String>,
    },
    /// The Streamable HTTP gateway: fronts the config's servers that have a `url` at
    /// /mcp/<name>; clients send an agent's credential as the bearer token.
    #[command(
        long_about = "The Streamable HTTP gateway: fronts the config's servers that have a `url` \
at /mcp/<name>. Clients authenticate with a bearer token countersign issued (an agent's \
just-in-time credential, introspected before anything is relayed; a tools/call's decision checks \
it too); without one they get 401 with \
`WWW-Authenticate: Bearer resource_metadata=...`, the RFC 9728 metadata at \
/.well-known/oauth-protected-resource/mcp/<name>. Every tools/call is decided as the token's \
agent; everything else is relayed. The client's token is never sent upstream."
    )]
    Serve {
        /// The gateway config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
        /// This gateway's URL as clients reach it (default: http://<listen address>).
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Where people answer step-ups (default: the config's console_url, else --server).
        #[arg(long, value_name = "URL")]
        console_url: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
}

pub(crate) async fn mcp(cmd: McpCmd) -> Result<ExitCode> {
    match cmd {
        McpCmd::Check {
            file,
            server,
            agent,
            token,
            ca_cert,
        } => check(file, server, agent, token, ca_cert).await,
        McpCmd::Proxy {
            config,
            upstream,
            approval_wait,
            console_url,
            agent,
            key_file,
            task,
            scopes,
            conn,
            command,
        } => {
            let renew = match (agent, key_file, task) {
                (Some(agent), Some(key_file), Some(task)) => Some(Renew {
                    identity: AgentIdentity { agent, key_file },
                    task,
                    scopes,
                }),
                _ => None,
            };
            let args = ProxyArgs {
                file: config,
                upstream,
                approval_wait,
                console_url,
                renew,
            };
            proxy(args, conn, command).await
        }
        McpCmd::Serve {
            config,
            listen,
            public_url,
            console_url,
            conn,
        } => serve(config, listen, public_url, console_url, conn).await,
    }
}

async fn serve(
    file: PathBuf,
    listen: String,
    public_url: Option<String>,
    console_url: Option<String>,
    conn: Conn,
) -> Result<ExitCode> {
    let config = load(&file)?;
    if !config.servers.values().any(|s| s.url.is_some()) {
        bail!(
            "{}: no server has a url (servers.NAME.url) to front",
            file.display()
        );
    }
    let tls = countersign_server::outbound::OutboundTls::with_ca_files(&conn.ca_cert)?;
    let http = tls
        .client_builder()
        .build()
        .context("cannot build the HTTP client")?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr().context("no local address")?;
    let console = console_url
        .or(config.console_url.clone())
        .unwrap_or_else(|| conn.server.clone());
    let names: Vec<String> = config
        .servers
        .values()
        .filter(|s| s.url.is_some())
        .map(|s| s.name.clone())
        .collect();
    let gw =
        countersign_mcp::streamable::HttpGateway::new(countersign_mcp::streamable::HttpSettings {
            config,
            countersign: conn.server.clone(),
            public_url: public_url.unwrap_or_else(|| format!("http://{addr}")),
            console,
            http,
        });
    output::line(format!("countersign mcp: listening on {addr}"));
    for n in &names {
        output::line(format!("  /mcp/{n}"));
    }
    countersign_mcp::streamable::serve(gw, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| anyhow!("{}", countersign_mcp::chain(&e)))?;
    Ok(ExitCode::SUCCESS)
}

fn load(file: &Path) -> Result<GatewayConfig> {
    GatewayConfig::load(file).map_err(|e| anyhow!("{e}"))
}

async fn check(
    file: PathBuf,
    server: Option<String>,
    agent: Option<String>,
    token: Option<String>,
    ca_cert: Vec<PathBuf>,
) -> Result<ExitCode> {
    let config = load(&file)?;
    let name = file.display();
    let tools: usize = config.servers.values().map(|s| s.tools.len()).sum();
    output::line(format!(
        "{name} is valid: {} server(s), {tools} tool(s) mapped, approval wait {}s",
        config.servers.len(),
        config.approval_wait.as_secs()
    ));
    for s in config.servers.values() {
        let unmapped = match &s.default {
            Some(m) => format!("unmapped tools: {} {} {}", m.system, m.action, m.resource),
            None => "unmapped tools: denied".to_owned(),
        };
        output::line(format!(
            "  server {}: {} tool(s); {unmapped}",
            s.name,
            s.tools.len()
        ));
        for (tool, m) in &s.tools {
            output::line(format!(
                "    {tool:<24} {} {} {}{}",
                m.system,
                m.action,
                m.resource,
                if m.data_classes.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", m.data_classes.join(", "))
                }
            ));
        }
    }
    let Some(url) = server else {
        return Ok(ExitCode::SUCCESS);
    };
    let tls = countersign_server::outbound::OutboundTls::with_ca_files(&ca_cert)?;
    let c = Client::new(&url, token, &tls)?;
    let systems: Vec<SystemView> = Deserialize::deserialize(&c.get("/v1/systems").await?)
        .context("the server's system list does not read as systems")?;
    let known: BTreeSet<&str> = systems.iter().map(|s| s.id.as_str()).collect();
    let mut missing = Vec::new();
    for (srv, tool, m) in config.mappings() {
        if !known.contains(m.system.as_str()) {
            let field = if tool == "(default)" {
                format!("servers.{srv}.default.system")
            } else {
                format!("servers.{srv}.tools.{tool}.system")
            };
            missing.push(format!(
                "{name}: {field}: no system {:?} on {url}",
                m.system
            ));
        }
    }
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
    }
    let used: BTreeSet<&str> = config
        .mappings()
        .map(|(_, _, m)| m.system.as_str())
        .collect();
    for s in systems.iter().filter(|s| used.contains(s.id.as_str())) {
        output::line(format!(
            "  system {} ({}) exists on {url}, owner {}",
            s.id, s.name, s.owner
        ));
    }
    let policies: PolicySetView = Deserialize::deserialize(&c.get("/v1/policies").await?)
        .context("the server's policy set does not read as one")?;
    output::line(format!(
        "  policy set {} ({} policies) decides on {url}",
        policies.digest,
        policies.policies.len()
    ));
    let Some(agent) = agent else {
        return Ok(ExitCode::SUCCESS);
    };
    let path = format!("/v1/grants?agent={}", q(&agent));
    let grants: Vec<GrantView> = Deserialize::deserialize(&c.get(&path).await?)
        .context("the server's grant list does not read as grants")?;
    let active: Vec<&GrantView> = grants.iter().filter(|g| g.state == "active").collect();
    let mut ungranted = 0;
    for (srv, tool, m) in config.mappings() {
        let example = m.resource.example(tool);
        let by = active.iter().find(|g| {
            g.system == m.system
                && g.actions.contains(&m.action)
                && g.resources.iter().any(|p| pattern_within(&example, p))
        });
        match by {
            Some(g) => output::line(format!(
                "  {srv}.{tool}: {} {} {example} granted to {agent} by {} (until {})",
                m.system,
                m.action,
                g.id,
                g.expires_at.to_rfc3339()
            )),
            None => {
                ungranted += 1;
                output::line(format!(
                    "  warning: {srv}.{tool}: {agent} holds no active grant for {} {} {example}; every call will be denied",
                    m.system, m.action
                ));
            }
        }
    }
    if ungranted > 0 {
        output::line(format!(
            "{ungranted} mapped tool(s) without a grant for {agent} (request one with `countersign grant request`)"
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// How the proxy gets its credential when it issues its own.
struct Renew {
    identity: AgentIdentity,
    task: String,
    scopes: Vec<String>,
}

struct ProxyArgs {
    file: PathBuf,
    upstream: Option<String>,
    approval_wait: Option<u64>,
    console_url: Option<String>,
    renew: Option<Renew>,
}

/// The credential the gateway asks with: COUNTERSIGN_TOKEN as given, or one issued
/// now as the agent and renewed in the background at three quarters of its life.
async fn credential(renew: Option<Renew>, conn: &Conn) -> Result<Credential> {
    let Some(r) = renew else {
        let token = conn.token.clone().ok_or_else(|| {
            anyhow!("no credential: set COUNTERSIGN_TOKEN to the agent's just-in-time credential, or pass --agent, --key-file, --task and --scope to issue and renew one")
        })?;
        return Ok(Credential::new(token));
    };
    let c = conn.client()?;
    let first = agents::issue(&c, &r.identity, &r.task, &r.scopes).await?;
    let credential = Credential::new(first.access_token);
    let slot = credential.clone();
    let mut next = renewal_in(first.expires_in);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(next).await;
            match agents::issue(&c, &r.identity, &r.task, &r.scopes).await {
                Ok(t) => {
                    tracing::info!(jti = %t.jti, expires_at = %t.expires_at, "renewed the gateway's credential");
                    next = renewal_in(t.expires_in);
                    slot.set(t.access_token);
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot renew the gateway's credential; trying again in 10 s");
                    next = Duration::from_secs(10);
                }
            }
        }
    });
    Ok(credential)
}

/// When to renew a credential that lives `expires_in` seconds: at three quarters.
fn renewal_in(expires_in: i64) -> Duration {
    Duration::from_secs(u64::try_from(expires_in.max(4) * 3 / 4).unwrap_or(60))
}

async fn proxy(args: ProxyArgs, conn: Conn, command: Vec<String>) -> Result<ExitCode> {
    let ProxyArgs {
        file,
        upstream,
        approval_wait,
        console_url,
        renew,
    } = args;
    let config = load(&file)?;
    let server = config
        .server(upstream.as_deref())
        .map_err(|e| anyhow!("{}: {e}", file.display()))?
        .clone();
    let wait = match approval_wait {
        Some(s) if s > MAX_APPROVAL_WAIT_SECONDS => {
            bail!("--approval-wait {s}: at most {MAX_APPROVAL_WAIT_SECONDS} seconds (MCP clients commonly give up after 60)")
        }
        Some(s) => Duration::from_secs(s),
        None => config.approval_wait,
    };
    let credential = credential(renew, &conn).await?;
    let tls = countersign_server::outbound::OutboundTls::with_ca_files(&conn.ca_cert)?;
    let http = tls
        .client_builder()
        .build()
        .context("cannot build the HTTP client")?;
    let console = console_url
        .or(config.console_url.clone())
        .unwrap_or_else(|| conn.server.clone());
    let gateway = Gateway::new(
        Settings {
            server,
            task: config.task.clone(),
            console,
            approval_wait: wait,
        },
        HttpCountersign::new(&conn.server, credential, http),
    );
    let Some((program, args)) = command.split_first() else {
        bail!("name the MCP server's command after --");
    };
    let upstream = Upstream {
        program: program.clone(),
        args: args.to_vec(),
    };
    tracing::info!(config = %file.display(), server = %conn.server, "MCP gateway on stdio");
    let code = countersign_mcp::proxy::run(
        Arc::new(gateway),
        &upstream,
        tokio::io::stdin(),
        tokio::io::stdout(),
    )
    .await
    .map_err(|e| anyhow!("{}", countersign_mcp::chain(&e)))?;
    Ok(match code {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}
