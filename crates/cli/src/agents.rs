//! Client commands for agents, grants, credentials and keys (issue 5).

use crate::client::q;
use crate::client::Conn;
use crate::output;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use countersign_api::{
    AgentView, ConstraintsWire, EmptyParams, GrantView, HourWindowWire, IntrospectParams,
    ReasonParams, RegisterAgentParams, RequestGrantParams, RevokeCredentialsParams, TokenParams,
};
use countersign_server::app::agents::ISSUER;
use countersign_server::jwt;
use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;

fn load_key(identity: &AgentIdentity) -> Result<SigningKey> {
    let text = std::fs::read_to_string(&identity.key_file)
        .with_context(|| format!("cannot read {}", identity.key_file.display()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| {
            format!(
                "{} must hold 64 hex characters (as `agent keygen` writes)",
                identity.key_file.display()
            )
        })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// The claims of a client assertion (RFC 7523).
#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

/// A fresh client assertion (RFC 7523): one minute, a unique jti.
fn assertion(identity: &AgentIdentity) -> Result<String> {
    let sk = load_key(identity)?;
    let now = chrono::Utc::now().timestamp();
    let claims = AssertionClaims {
        iss: &identity.agent,
        sub: &identity.agent,
        aud: ISSUER,
        iat: now,
        exp: now + 60,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let Value::Object(claims) =
        serde_json::to_value(&claims).context("cannot write the assertion's claims")?
    else {
        bail!("the assertion's claims are not a JSON object");
    };
    Ok(jwt::sign(&claims, "agent", &sk))
}

pub async fn agent(cmd: AgentCmd, conn: Conn) -> Result<()> {
    if let AgentCmd::Keygen { out } = &cmd {
        let sk = SigningKey::generate(&mut rand::rngs::OsRng);
        if out.exists() {
            bail!("{} exists; not overwriting a key", out.display());
        }
        std::fs::write(out, hex::encode(sk.to_bytes()))
            .with_context(|| format!("cannot write {}", out.display()))?;
        output::line(jwt::b64(sk.verifying_key().as_bytes()));
        return Ok(());
    }
    let c = conn.client()?;
    let f = conn.output;
    match cmd {
        AgentCmd::Keygen { .. } => {}
        AgentCmd::Register {
            name,
            owner,
            use_case,
            environment,
            release,
            public_key,
        } => {
            let body = RegisterAgentParams {
                name,
                owner,
                use_case,
                environment,
                release,
                public_key,
            };
            output::show::<AgentView>(f, &c.post("/v1/agents", &body).await?);
        }
        AgentCmd::List => output::show::<Vec<AgentView>>(f, &c.get("/v1/agents").await?),
        AgentCmd::Suspend { id, reason } => output::show::<AgentView>(
            f,
            &c.post(
                &format!("/v1/agents/{}/suspend", q(&id)),
                &ReasonParams { reason },
            )
            .await?,
        ),
    }
    Ok(())
}

fn window(w: &str) -> Result<HourWindowWire> {
    let (a, b) = w
        .split_once('-')
        .context("--window is START-END in hours, e.g. 8-18")?;
    Ok(HourWindowWire {
        start_hour: a.trim().parse()?,
        end_hour: b.trim().parse()?,
    })
}

pub async fn grant(cmd: GrantCmd, conn: Conn) -> Result<()> {
    let c = conn.client()?;
    let f = conn.output;
    match cmd {
        GrantCmd::Request {
            identity,
            system,
            actions,
            resources,
            days,
            max_risk_score,
            window: w,
        } => {
            let body = RequestGrantParams {
                client_assertion_type: None,
                client_assertion: assertion(&identity)?,
                system,
                actions: actions.into_iter().collect(),
                resources: resources.into_iter().collect(),
                constraints: ConstraintsWire {
                    window: w.as_deref().map(window).transpose()?,
                    max_risk_score,
                },
                expires_at: chrono::Utc::now() + chrono::Duration::days(days),
            };
            output::show::<GrantView>(f, &c.post_unauthenticated("/v1/grants", &body).await?);
        }
        GrantCmd::List { agent } => {
            let path = match agent {
                Some(a) => format!("/v1/grants?agent={}", q(&a)),
                None => "/v1/grants".into(),
            };
            output::show::<Vec<GrantView>>(f, &c.get(&path).await?);
        }
        GrantCmd::Approve { id } => output::show::<GrantView>(
            f,
            &c.post(
                &format!("/v1/grants/{}/approve", q(&id)),
                &EmptyParams::default(),
            )
            .await?,
        ),
        GrantCmd::Due { within_days } => output::show::<Vec<GrantView>>(
            f,
            &c.get(&format!("/v1/grants/due?within_days={within_days}"))
                .await?,
        ),
        GrantCmd::Recertify { id } => output::show::<GrantView>(
            f,
            &c.post(
                &format!("/v1/grants/{}/recertify", q(&id)),
                &EmptyParams::default(),
            )
            .await?,
        ),
        GrantCmd::Revoke { id, reason } => output::show::<GrantView>(
            f,
            &c.post(
                &format!("/v1/grants/{}/revoke", q(&id)),
                &ReasonParams { reason },
            )
            .await?,
        ),
    }
    Ok(())
}

/// Issues a just-in-time credential for `task` and `scopes`, signed as the agent.
pub(crate) async fn issue(
    c: &crate::client::Client,
    identity: &AgentIdentity,
    task: &str,
    scopes: &[String],
) -> Result<countersign_api::AccessTokenView> {
    let body = TokenParams {
        grant_type: "client_credentials".into(),
        client_assertion_type: None,
        client_assertion: assertion(identity)?,
        task: task.to_owned(),
        scope: scopes.join(" "),
        lifetime: None,
        risk_score: None,
        subject_token: None,
        subject_token_type: None,
    };
    let v = c.post_unauthenticated("/v1/oauth/token", &body).await?;
    serde::Deserialize::deserialize(&v).context("the token response does not read as one")
}

/// Credentials print as JSON in either format: a token response is for a program.
pub async fn credential(cmd: CredentialCmd, conn: Conn) -> Result<()> {
    let c = conn.client()?;
    let v = match cmd {
        CredentialCmd::Issue {
            identity,
            task,
            scopes,
            risk_score,
        } => {
            let body = TokenParams {
                grant_type: "client_credentials".into(),
                client_assertion_type: None,
                client_assertion: assertion(&identity)?,
                task,
                scope: scopes.join(" "),
                lifetime: None,
                risk_score,
                subject_token: None,
                subject_token_type: None,
            };
            c.post_unauthenticated("/v1/oauth/token", &body).await?
        }
        CredentialCmd::Exchange {
            identity,
            subject_token,
            scopes,
            task,
        } => {
            let body = TokenParams {
                grant_type: "urn:ietf:params:oauth:grant-type:token-exchange".into(),
                client_assertion_type: None,
                client_assertion: assertion(&identity)?,
                // Empty: the delegator's task.
                task: task.unwrap_or_default(),
                scope: scopes.join(" "),
                lifetime: None,
                risk_score: None,
                subject_token: Some(subject_token),
                subject_token_type: Some("urn:ietf:params:oauth:token-type:jwt".into()),
            };
            c.post_unauthenticated("/v1/oauth/token", &body).await?
        }
        CredentialCmd::Introspect { token } => {
            let body = IntrospectParams {
                token,
                token_type_hint: None,
            };
            c.post_unauthenticated("/v1/oauth/introspect", &body)
                .await?
        }
        CredentialCmd::Revoke {
            jti,
            agent,
            grant,
            release,
            reason,
        } => {
            let body = RevokeCredentialsParams {
                jti,
                agent,
                grant,
                release,
                reason,
            };
            c.post("/v1/credentials/revoke", &body).await?
        }
    };
    output::json(&v);
    Ok(())
}

/// Keys print as JSON in either format, as a JWKS is read.
pub async fn keys(cmd: KeysCmd, conn: Conn) -> Result<()> {
    let c = conn.client()?;
    let v = match cmd {
        KeysCmd::Rotate => c.post("/v1/keys/rotate", &EmptyParams::default()).await?,
        KeysCmd::List => c.get_unauthenticated("/.well-known/jwks.json").await?,
    };
    output::json(&v);
    Ok(())
}

// ---------- the command line ----------

/// How a command signs as an agent: its id and its private key file (hex of the
/// 32-byte Ed25519 seed, as `agent keygen` writes it).
#[derive(Args)]
pub(crate) struct AgentIdentity {
    /// The agent id.
    #[arg(long, env = "COUNTERSIGN_AGENT")]
    pub(crate) agent: String,
    /// File with the agent's private key.
    #[arg(long, env = "COUNTERSIGN_AGENT_KEY")]
    pub(crate) key_file: PathBuf,
}

#[derive(Subcommand)]
pub(crate) enum AgentCmd {
    /// Generate an Ed25519 key pair: writes the private key to --out, prints the public key.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Register an agent (admin, mlops or operations).
    Register {
        #[arg(long)]
        name: String,
        /// User id of the one accountable human owner.
        #[arg(long)]
        owner: String,
        #[arg(long)]
        use_case: String,
        #[arg(long, default_value = "production")]
        environment: String,
        /// The promoted release that puts the agent in production.
        #[arg(long)]
        release: String,
        /// The agent's public key (base64url or a JWK), as `agent keygen` prints it.
        #[arg(long)]
        public_key: String,
    },
    /// List agents.
    List,
    /// Suspend an agent and revoke its credentials (its owner, admin or security).
    Suspend {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum GrantCmd {
    /// Request a grant, signed as the agent.
    Request {
        #[command(flatten)]
        identity: AgentIdentity,
        #[arg(long)]
        system: String,
        /// An action (repeat); anything but read/list/get mutates production state.
        #[arg(long = "action", required = true)]
        actions: Vec<String>,
        /// A resource pattern (repeat); `*` only at the end.
        #[arg(long = "resource", required = true)]
        resources: Vec<String>,
        /// Days until it expires.
        #[arg(long, default_value_t = 30)]
        days: i64,
        #[arg(long)]
        max_risk_score: Option<u32>,
        /// A daily UTC window START-END in hours, e.g. 8-18.
        #[arg(long)]
        window: Option<String>,
    },
    /// List grants, optionally one agent's.
    List {
        #[arg(long)]
        agent: Option<String>,
    },
    /// Approve as the system owner or (mutating actions) the agent owner.
    Approve { id: String },
    /// Grants you own that lapsed or are due for recertification.
    Due {
        #[arg(long, default_value_t = 14)]
        within_days: u32,
    },
    /// Recertify a grant for another cadence (its system or agent owner).
    Recertify { id: String },
    /// Revoke a grant and its credentials.
    Revoke {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum CredentialCmd {
    /// Issue a credential for a task, signed as the agent (prints the token response).
    Issue {
        #[command(flatten)]
        identity: AgentIdentity,
        #[arg(long)]
        task: String,
        /// A scope system:action:resource (repeat).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[arg(long)]
        risk_score: Option<u32>,
    },
    /// Delegate: exchange another agent's credential (RFC 8693) for one this agent
    /// holds, within both agents' scopes, for the same task (I8).
    Exchange {
        #[command(flatten)]
        identity: AgentIdentity,
        /// The delegating agent's access token.
        #[arg(long)]
        subject_token: String,
        /// A scope system:action:resource (repeat); within the delegator's.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// The task; the delegator's when absent (a different one is refused).
        #[arg(long)]
        task: Option<String>,
    },
    /// Is this token active now?
    Introspect { token: String },
    /// Revoke by exactly one of --jti, --agent, --grant, --release.
    Revoke {
        #[arg(long)]
        jti: Option<String>,
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        grant: Option<String>,
        #[arg(long)]
        release: Option<String>,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeysCmd {
    /// Rotate the credential signing key (admin or security).
    Rotate,
    /// Show the published keys (JWKS).
    List,
}
