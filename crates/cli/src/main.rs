//! The `countersign` binary: the server, client commands for every step of the
//! release gate and of request-time decisions, offline ledger verification, and the
//! CI/CD gate check.

mod agents;
mod client;
mod mcp;
mod output;
mod runtime;
mod serve;
mod transparency;

use agents::{AgentCmd, CredentialCmd, GrantCmd, KeysCmd};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use client::{kv, q, wire, Client, Conn};
use countersign_api::{
    AcceptRiskParams, AcceptanceView, ApproveDatasetParams, AttributesWire, BlockParams,
    BundleWire, CheckView, CreateReleaseParams, CreateSystemParams, CreateTokenParams,
    CreateUserParams, CreateWebhookParams, DatasetView, DecideParams, DecisionView,
    DeliveryLogView, DeployParams, DeploymentView, EvaluationView, EvidenceView, GateView,
    LedgerEntryView, ProfileView, RegisterDatasetParams, RegisterRunParams, ReleaseDetailView,
    ReleaseView, ReleaseWithRevisionView, ReviewParams, ReviewView, ReviseParams, RevisionParams,
    RunView, SystemView, TokenView, UserView, WebhookView, WithdrawParams,
};
use countersign_core::release::Decision;
use countersign_core::review::Answer;
use countersign_core::{Digest, Role};
use runtime::{ActionCmd, ApprovalCmd, DecideArgs, PolicyCmd};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "countersign",
    version,
    about = "The control plane that keeps humans accountable for AI in production",
    long_about = "countersign gates every model, agent, prompt package and runtime config on its way to \
production: each required role signs off against its checklist and evidence, one named decision owner \
says go or no-go, and everything lands in a tamper-evident, signed ledger. In production, agents ask \
before they act (`countersign decide`): allow, deny, or step up to a named human.\n\n\
Start a server with `countersign serve` (add --demo for example users and a release to walk through). \
Client commands talk to a server (--server, default http://127.0.0.1:8080) with the token in \
COUNTERSIGN_TOKEN.",
    after_help = "Exit codes: 0 success; 1 error (the server's problem is printed); 2 usage error; \
3 `gate check` found the artifact not approved, `ledger verify` found the ledger invalid, `decide` \
was denied, or `approval wait` found the request denied, expired or used; 4 `decide` or \
`approval wait`: a step-up is still waiting for its human."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Run the server (SQLite by default; migrations run at start).
    Serve {
        /// Database: a SQLite file path (created if missing) or sqlite://PATH.
        #[arg(long, env = "COUNTERSIGN_DB", default_value = "countersign.db")]
        db: String,
        /// Address to listen on.
        #[arg(long, env = "COUNTERSIGN_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Governance profile (TOML). Default: the built-in example (profiles/example.toml).
        #[arg(long, env = "COUNTERSIGN_PROFILE")]
        profile: Option<PathBuf>,
        /// Seed example users (one per role), a system and a release waiting for review, and print their tokens.
        #[arg(long)]
        demo: bool,
        /// Seconds between runs of the review-deadline job (I5: overdue reviews escalate).
        #[arg(long, env = "COUNTERSIGN_DEADLINE_INTERVAL", default_value_t = 60)]
        deadline_interval: u64,
        /// Runtime policy directory: one *.cedarschema and *.cedar files, validated at
        /// start (an invalid set refuses to start). Reload with SIGHUP or
        /// `countersign policy reload`. Default: the built-in example set (policies/).
        #[arg(long, env = "COUNTERSIGN_POLICIES")]
        policies: Option<PathBuf>,
        /// PEM file of CA certificates to trust for https:// webhook receivers, in
        /// addition to the system roots (repeatable; one file may be a bundle). The
        /// variable names one file. A file that cannot be used refuses to start.
        #[arg(long = "ca-cert", value_name = "FILE", env = "COUNTERSIGN_CA_CERT")]
        ca_cert: Vec<PathBuf>,
        /// The ledger's name as a transparency log: the first line of its checkpoints
        /// and its key's name. Default: <host of --public-url>/ledger, else
        /// countersign/ledger. Keep it stable: witnesses pin it.
        #[arg(long, value_name = "ORIGIN", env = "COUNTERSIGN_LEDGER_ORIGIN")]
        ledger_origin: Option<String>,
        #[command(flatten)]
        sign_in: serve::SignInArgs,
    },
    /// Apply database migrations without serving.
    Migrate {
        #[arg(long, env = "COUNTERSIGN_DB", default_value = "countersign.db")]
        db: String,
    },
    /// Check a governance profile file and print its tiers and digest.
    Profile {
        #[command(subcommand)]
        command: ProfileCmd,
    },
    /// Manage users and their API tokens (admin).
    User {
        #[command(subcommand)]
        command: UserCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Manage systems: production systems with one accountable owner (admin).
    System {
        #[command(subcommand)]
        command: SystemCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Walk a release through the gate: create, review, attach evidence, decide, promote.
    Release {
        #[command(subcommand)]
        command: ReleaseCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Download an evidence document by digest.
    Evidence {
        /// sha256:<hex> digest of the document.
        digest: String,
        /// Where to write it ("-" for standard output).
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// The CI/CD gate: may this exact artifact run in this environment?
    Gate {
        #[command(subcommand)]
        command: GateCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Read or verify the ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCmd,
    },
    /// Agents: workload identities with one human owner (register, list, suspend, keygen).
    Agent {
        #[command(subcommand)]
        command: AgentCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Grants: an agent requests, owners approve, recertify or revoke.
    Grant {
        #[command(subcommand)]
        command: GrantCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Just-in-time credentials: issue (as an agent), introspect, revoke.
    Credential {
        #[command(subcommand)]
        command: CredentialCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Credential signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Lineage (I6): register, approve and list dataset versions.
    Dataset {
        #[command(subcommand)]
        command: DatasetCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Lineage (I6): register and list training runs.
    Run {
        #[command(subcommand)]
        command: RunCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Webhooks: subscribe URLs to events and read their delivery log (admin).
    Webhook {
        #[command(subcommand)]
        command: WebhookCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// As an agent, ask before acting (I10): allow, deny or step_up (exit 0, 3 or 4).
    #[command(
        long_about = "As an agent, ask before acting (I10). COUNTERSIGN_TOKEN is the agent's \
just-in-time credential (the access_token `credential issue` prints), not an API token. The server \
checks the credential, its task and scopes, the agent's grants, their time windows and risk limits, \
then the runtime policies, and answers allow, deny or step_up with its reasons and the policies \
that determined it, after the decision is in the ledger.\n\n\
A step_up names a human who must approve first. With --wait the command waits for the answer \
and, once approved, asks again with the approval, which is valid once and only for exactly this \
action (system, action, resource, task and arguments). Without --wait, ask again with \
--approval ID once `countersign approval wait ID` says approved. Report what happened with \
`countersign action outcome ID`.",
        after_help = "Exit codes: 0 allow; 3 deny (also when the human denied or the request \
expired while --wait waited); 4 step_up, still waiting for its human; 1 error; 2 usage error.\n\
With --output json and --wait, only the last answer is printed: the final decision, the approval \
request when it was denied or expired, or the step_up when it is still pending."
    )]
    Decide {
        #[command(flatten)]
        request: DecideArgs,
        #[command(flatten)]
        conn: Conn,
    },
    /// Step-up approval requests: list yours, show the context, approve or deny with a comment.
    Approval {
        #[command(subcommand)]
        command: ApprovalCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// The action log: list and show decided actions, report outcomes, the post-action review queue.
    Action {
        #[command(subcommand)]
        command: ActionCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Accountability signals per reviewer and approver, with rubber-stamp flags (admin, risk or compliance).
    Accountability {
        #[command(flatten)]
        conn: Conn,
    },
    /// Runtime policies: check a directory offline, show or reload the server's set.
    Policy {
        #[command(subcommand)]
        command: PolicyCmd,
    },
    /// The MCP gateway: every tools/call decided on its exact arguments (check a
    /// config, run the stdio proxy).
    Mcp {
        #[command(subcommand)]
        command: mcp::McpCmd,
    },
}

#[derive(Subcommand)]
enum WebhookCmd {
    /// Subscribe a URL; prints the signing secret once (see docs/webhooks.md).
    Create {
        #[arg(long)]
        url: String,
        /// An event type (repeat): review_requested, review_overdue, escalated, decided, promoted, rolled_back, retired.
        #[arg(long = "event", required = true)]
        events: Vec<String>,
    },
    /// List webhooks.
    List,
    /// Show a webhook's deliveries and every attempt.
    Deliveries { id: String },
}

#[derive(Subcommand)]
enum DatasetCmd {
    /// Register a dataset version (data-governance or mlops).
    Register {
        #[arg(long)]
        name: String,
        #[arg(long)]
        version: String,
        /// sha256:<hex> of the dataset content.
        #[arg(long)]
        digest: String,
        /// Where the data comes from.
        #[arg(long)]
        source: String,
        /// Classification, e.g. internal, pii.
        #[arg(long)]
        classification: String,
        /// An intended use it may serve (repeat).
        #[arg(long = "permit", required = true)]
        permitted_uses: Vec<String>,
    },
    /// Approve a dataset version, name@version (data-governance; not its registrant).
    Approve {
        key: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// List dataset versions.
    List,
}

#[derive(Subcommand)]
enum RunCmd {
    /// Register a training run (mlops).
    Register {
        #[arg(long)]
        id: String,
        #[arg(long)]
        code_commit: String,
        /// A dataset version name@version (repeat).
        #[arg(long = "dataset", required = true)]
        datasets: Vec<String>,
        /// A parameter KEY=VALUE (VALUE parsed as JSON when it can be; repeat).
        #[arg(long = "param")]
        params: Vec<String>,
        /// User id of the person who trained it.
        #[arg(long)]
        trainer: String,
        /// sha256:<hex> of the artifact it produced.
        #[arg(long)]
        artifact: String,
    },
    /// List training runs.
    List,
}

#[derive(Subcommand)]
enum ProfileCmd {
    /// Validate a profile file; prints the file, field and reason of the first problem.
    Check {
        /// The TOML file. Default: the built-in example.
        file: Option<PathBuf>,
    },
    /// Show the profile the server is using.
    Show {
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// A role (repeat): mlops, security, privacy, legal, compliance, data-governance, operations, risk, admin.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// List users.
    List,
    /// Issue an API token for a user (shown once).
    Token {
        user_id: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Show who the token belongs to.
    Whoami,
}

#[derive(Subcommand)]
enum SystemCmd {
    /// Create a system.
    Create {
        #[arg(long)]
        name: String,
        /// User id of the accountable owner.
        #[arg(long)]
        owner: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List systems.
    List,
}

#[derive(Args)]
struct BundleArgs {
    /// A JSON file with the whole bundle (fields as in the API); flags below override it.
    #[arg(long)]
    bundle_file: Option<PathBuf>,
    /// sha256:<hex> of the artifact.
    #[arg(long)]
    artifact: Option<String>,
    /// A dataset version (repeat).
    #[arg(long = "dataset")]
    datasets: Vec<String>,
    #[arg(long)]
    training_run: Option<String>,
    /// User id of the person who trained the artifact.
    #[arg(long)]
    trainer: Option<String>,
    #[arg(long)]
    code_commit: Option<String>,
    /// A parameter KEY=VALUE (VALUE parsed as JSON when it can be; repeat).
    #[arg(long = "param")]
    params: Vec<String>,
    #[arg(long)]
    prompt_digest: Option<String>,
    #[arg(long)]
    policy_digest: Option<String>,
    /// A tool permission (repeat).
    #[arg(long = "tool")]
    tools: Vec<String>,
    /// A secret scope (repeat).
    #[arg(long = "secret-scope")]
    secret_scopes: Vec<String>,
    /// For a retrain: the id of the promoted release it supersedes.
    #[arg(long)]
    supersedes: Option<String>,
}

#[derive(Args)]
struct AttrArgs {
    #[arg(long)]
    customer_facing: bool,
    #[arg(long)]
    agentic: bool,
    /// A data class it touches, e.g. pii (repeat; implies data-connected).
    #[arg(long = "data-class")]
    data_classes: Vec<String>,
    #[arg(long)]
    data_connected: bool,
    #[arg(long)]
    regulated: bool,
    #[arg(long)]
    third_party: bool,
    /// 0 suggests only, 1 human in the loop, 2 human on the loop, 3 autonomous.
    #[arg(long, default_value_t = 0)]
    autonomy: u8,
    /// The intended use; model and retrain releases need one (lineage checks each
    /// dataset permits it).
    #[arg(long)]
    intended_use: Option<String>,
}

#[derive(Subcommand)]
enum ReleaseCmd {
    /// Create a release; prints its tier and bundle digest.
    Create {
        #[arg(long)]
        title: String,
        /// model, agent, prompt, config or retrain.
        #[arg(long)]
        kind: String,
        /// System id.
        #[arg(long)]
        system: String,
        /// User id of the decision owner.
        #[arg(long)]
        owner: String,
        #[command(flatten)]
        attrs: AttrArgs,
        #[command(flatten)]
        bundle: BundleArgs,
    },
    /// List releases.
    List,
    /// Show a release with its whole history.
    Show { id: String },
    /// Change the bundle: a new revision; earlier approvals stop counting.
    Revise {
        id: String,
        /// The revision you are changing (stale ones are refused).
        #[arg(long)]
        based_on: u32,
        /// A new decision owner (user id) from this revision on. Refused when that
        /// person shaped this or an earlier revision (segregation of duties).
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        bundle: BundleArgs,
    },
    /// Submit the current revision for review.
    Submit {
        id: String,
        /// Default: the current revision.
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Show the gate status: every unmet requirement with its reason code.
    Gate {
        id: String,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Review the current revision in one of your roles.
    Review {
        id: String,
        #[arg(long)]
        role: String,
        /// approve, approve_with_conditions or reject.
        #[arg(long)]
        verdict: String,
        /// A checklist answer ITEM=yes|no|n/a (repeat).
        #[arg(long = "answer")]
        answers: Vec<String>,
        /// Answer yes to every checklist item not answered with --answer.
        #[arg(long)]
        all_yes: bool,
        #[arg(long)]
        conditions: Option<String>,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        revision: Option<u32>,
        /// The first 8 hex characters of the revision's bundle digest (`release
        /// show`), when the tier's `confirm_digest` friction rule asks for them.
        #[arg(long, value_name = "HEX")]
        confirm_digest: Option<String>,
    },
    /// Attach an evidence document to the current revision.
    Evidence {
        id: String,
        /// An evidence kind from the profile, e.g. threat_model.
        #[arg(long)]
        kind: String,
        /// The document.
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value = "application/octet-stream")]
        media_type: String,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Accept a named gap as residual risk (decision owner).
    Accept {
        id: String,
        /// The gap, as the gate shows it, e.g. missing_evidence:threat_model.
        #[arg(long)]
        gap: String,
        #[arg(long)]
        justification: String,
        /// When the acceptance lapses: RFC 3339, or a duration like 30d or 12h.
        #[arg(long)]
        expires: String,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Decide go or no-go (decision owner).
    Decide {
        id: String,
        #[arg(long, conflicts_with = "no_go", required_unless_present = "no_go")]
        go: bool,
        #[arg(long)]
        no_go: bool,
        #[arg(long, default_value = "production")]
        env: String,
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Promote the approved revision to its approved environment.
    Promote {
        id: String,
        #[arg(long)]
        env: Option<String>,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Roll back a promoted revision.
    Rollback {
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Retire a promoted revision.
    Retire {
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// The evaluation (I7): the latest eval report against the tier's gates.
    Evaluation {
        id: String,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Block the current revision: no-go with a reason, e.g. to end an escalation (decision owner).
    Block {
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Withdraw the go of the current revision before it is promoted: the release is in
    /// review again and cannot be promoted until a new go (decision owner).
    Withdraw {
        id: String,
        /// Why (at least 10 characters); recorded in the ledger.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        revision: Option<u32>,
    },
}

#[derive(Subcommand)]
enum GateCmd {
    /// Exit 0 only when this exact artifact digest is approved for the environment; otherwise print why and exit 3.
    Check {
        #[arg(long)]
        artifact: String,
        #[arg(long, default_value = "production")]
        env: String,
    },
}

#[derive(Subcommand)]
enum LedgerCmd {
    /// Verify the hash chain and signed head offline, straight from the database. Exit 3 when invalid.
    Verify {
        #[arg(long, env = "COUNTERSIGN_DB", default_value = "countersign.db")]
        db: String,
        /// The checkpoint key (base64url Ed25519) to pin, instead of the one stored in the database.
        #[arg(long)]
        public_key: Option<String>,
        /// A checkpoint note saved earlier (`ledger checkpoint --out`, or a witness's):
        /// the database's log must be a consistent extension of it (same Merkle root
        /// at its size, at least as long), or it was rolled back, truncated or forked.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// The log's verifier key (vkey, `<origin>+<id>+<key>`) to check the checkpoint
        /// with, instead of the database's key under the checkpoint's origin.
        #[arg(long, value_name = "VKEY", requires = "checkpoint")]
        log_key: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Fetch the server's signed checkpoint (C2SP signed note), check its signature,
    /// and save it (or print it).
    Checkpoint {
        /// Save the note to this file (for `ledger verify --checkpoint` later).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The log's verifier key to pin (default: the one the server serves).
        #[arg(long, value_name = "VKEY")]
        log_key: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Witness the server's log: check its latest checkpoint extends the last one seen
    /// (kept in --state), cosign it (C2SP tlog-cosignature) and give the cosignature to
    /// the server (needs an admin, compliance or risk token). A log that is not a
    /// consistent extension prints WITNESS ALERT and exits 1, cosigning nothing.
    Witness {
        /// The witness's state: its key (created on first run, mode 0600), the pinned
        /// log key and the last checkpoint it cosigned.
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// The witness's key name.
        #[arg(long, default_value = "countersign-witness")]
        name: String,
        /// The log's verifier key (default: pinned in --state on first run).
        #[arg(long, value_name = "VKEY")]
        log_key: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Fetch an entry's inclusion proof and verify it here against the signed checkpoint.
    Prove {
        /// The entry's sequence number.
        #[arg(long)]
        entry: u64,
        /// The tree size to prove it in (default: the checkpoint's).
        #[arg(long)]
        size: Option<u64>,
        #[arg(long, value_name = "VKEY")]
        log_key: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Fetch a consistency proof between two tree sizes and verify it here against
    /// the signed checkpoint.
    Consistency {
        #[arg(long)]
        from: u64,
        /// Default: the checkpoint's size.
        #[arg(long)]
        to: Option<u64>,
        #[arg(long, value_name = "VKEY")]
        log_key: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// List ledger entries from a server.
    List {
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        conn: Conn,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("COUNTERSIGN_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "warn,countersign=info,countersign_server=info,countersign_mcp=info",
            )
        });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve {
            db,
            listen,
            profile,
            demo,
            deadline_interval,
            policies,
            ca_cert,
            ledger_origin,
            sign_in,
        } => {
            serve::serve(serve::ServeArgs {
                db,
                listen,
                profile,
                demo,
                deadline_interval,
                policies,
                ca_cert,
                ledger_origin,
                sign_in,
            })
            .await?;
        }
        Command::Migrate { db } => serve::migrate(&db).await?,
        Command::Profile {
            command: ProfileCmd::Check { file },
        } => {
            let p = serve::load_profile(file.as_ref())?;
            output::line(format!(
                "profile {} version {} is valid; digest {}",
                p.name,
                p.version,
                p.digest()
            ));
            for t in &p.tiers {
                let roles: Vec<&str> = t.required_roles.iter().map(|r| r.as_str()).collect();
                output::line(format!(
                    "  tier {:<9} deadline {:>3}h  roles {}",
                    t.name,
                    t.review_deadline_hours,
                    roles.join(", ")
                ));
            }
        }
        Command::Profile {
            command: ProfileCmd::Show { conn },
        } => {
            let c = conn.client()?;
            output::show::<ProfileView>(conn.output, &c.get("/v1/profile").await?);
        }
        Command::User { command, conn } => user(command, conn).await?,
        Command::Agent { command, conn } => agents::agent(command, conn).await?,
        Command::Grant { command, conn } => agents::grant(command, conn).await?,
        Command::Credential { command, conn } => agents::credential(command, conn).await?,
        Command::Keys { command, conn } => agents::keys(command, conn).await?,
        Command::System { command, conn } => system(command, conn).await?,
        Command::Release { command, conn } => release(command, conn).await?,
        Command::Dataset { command, conn } => dataset(command, conn).await?,
        Command::Run { command, conn } => run_cmd(command, conn).await?,
        Command::Webhook { command, conn } => webhook(command, conn).await?,
        Command::Decide { request, conn } => return runtime::decide(request, conn).await,
        Command::Approval { command, conn } => return runtime::approval(command, conn).await,
        Command::Action { command, conn } => runtime::action(command, conn).await?,
        Command::Accountability { conn } => runtime::accountability(conn).await?,
        Command::Policy { command } => runtime::policy(command).await?,
        Command::Mcp { command } => return mcp::mcp(command).await,
        Command::Evidence { digest, out, conn } => {
            let c = conn.client()?;
            let bytes = c.get_bytes(&format!("/v1/evidence/{}", q(&digest))).await?;
            if out.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout().write_all(&bytes)?;
            } else {
                std::fs::write(&out, &bytes)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                eprintln!("wrote {} bytes to {}", bytes.len(), out.display());
            }
        }
        Command::Gate {
            command: GateCmd::Check { artifact, env },
            conn,
        } => {
            let c = conn.client()?;
            let v = c
                .get(&format!(
                    "/v1/gate/check?artifact={}&env={}",
                    q(&artifact),
                    q(&env)
                ))
                .await?;
            output::show::<CheckView>(conn.output, &v);
            if !CheckView::deserialize(&v).is_ok_and(|check| check.allowed) {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Ledger {
            command:
                LedgerCmd::Verify {
                    db,
                    public_key,
                    checkpoint,
                    log_key,
                    json,
                },
        } => {
            let checkpoint = checkpoint.as_deref().map(|file| serve::CheckpointArgs {
                file,
                log_key: log_key.as_deref(),
            });
            if !serve::verify(&db, public_key.as_deref(), json, checkpoint).await? {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Ledger {
            command: LedgerCmd::Checkpoint { out, log_key, conn },
        } => {
            transparency::checkpoint(&conn.client()?, out.as_deref(), log_key.as_deref()).await?;
        }
        Command::Ledger {
            command:
                LedgerCmd::Witness {
                    state,
                    name,
                    log_key,
                    conn,
                },
        } => {
            let c = conn.client()?;
            match transparency::witness(&c, &state, &name, log_key.as_deref()).await? {
                transparency::WitnessOutcome::Cosigned => {}
                transparency::WitnessOutcome::Alert => return Ok(ExitCode::from(1)),
            }
        }
        Command::Ledger {
            command:
                LedgerCmd::Prove {
                    entry,
                    size,
                    log_key,
                    conn,
                },
        } => {
            transparency::prove(&conn.client()?, entry, size, log_key.as_deref()).await?;
        }
        Command::Ledger {
            command:
                LedgerCmd::Consistency {
                    from,
                    to,
                    log_key,
                    conn,
                },
        } => {
            transparency::consistency(&conn.client()?, from, to, log_key.as_deref()).await?;
        }
        Command::Ledger {
            command: LedgerCmd::List { after, limit, conn },
        } => {
            let c = conn.client()?;
            output::show::<Vec<LedgerEntryView>>(
                conn.output,
                &c.get(&format!("/v1/ledger?after={after}&limit={limit}"))
                    .await?,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn user(cmd: UserCmd, conn: Conn) -> Result<()> {
    let c = conn.client()?;
    let f = conn.output;
    match cmd {
        UserCmd::Create { name, email, roles } => {
            let roles = roles
                .iter()
                .map(|r| wire("role", r))
                .collect::<Result<BTreeSet<Role>>>()?;
            let body = CreateUserParams { name, email, roles };
            output::show::<UserView>(f, &c.post("/v1/users", &body).await?);
        }
        UserCmd::List => output::show::<Vec<UserView>>(f, &c.get("/v1/users").await?),
        UserCmd::Token { user_id, label } => output::show::<TokenView>(
            f,
            &c.post(
                &format!("/v1/users/{}/tokens", q(&user_id)),
                &CreateTokenParams { label },
            )
            .await?,
        ),
        UserCmd::Whoami => output::show::<UserView>(f, &c.get("/v1/me").await?),
    }
    Ok(())
}

async fn system(cmd: SystemCmd, conn: Conn) -> Result<()> {
    let c = conn.client()?;
    let f = conn.output;
    match cmd {
        SystemCmd::Create {
            name,
            owner,
            description,
        } => {
            let body = CreateSystemParams {
                name,
                description,
                owner,
            };
            output::show::<SystemView>(f, &c.post("/v1/systems", &body).await?);
        }
        SystemCmd::List => output::show::<Vec<SystemView>>(f, &c.get("/v1/systems").await?),
    }
    Ok(())
}

async fn dataset(cmd: DatasetCmd, conn: Conn) -> Result<()> {
    let c = conn.client()?;
    let f = conn.output;
    match cmd {
        DatasetCmd::Register {
            name,
            version,
            digest,
            source,
            classification,
            permitted_uses,
        } => {
            let body = RegisterDatasetParams {
                name,
                version,
                digest: wire("digest", &digest)?,
                source,
                classification,
                permitted_uses: permitted_uses.into_iter().collect(),
            };
            output::show::<DatasetView>(f, &c.post("/v1/datasets", &body).await?);
        }
        DatasetCmd::Approve { key, comment } => output::show::<DatasetView>(
            f,
            &c.post(
                &format!("/v1/datasets/{}/approval", q(&key)),
                &ApproveDatasetParams { comment },
            )
            .await?,
        ),
        DatasetCmd::List => output::show::<Vec<DatasetView>>(f, &c.get("/v1/datasets").await?),
    }
    Ok(())
}

/// `--param KEY=VALUE` pairs; a VALUE is JSON when it parses as JSON, else a string.
fn parameters(pairs: &[String]) -> Result<BTreeMap<String, Value>> {
    pairs
        .iter()
        .map(|pair| {
            let (k, v) = kv(pair)?;
            let v = serde_json::from_str(&v).unwrap_or(Value::String(v));
            Ok((k, v))
        })
        .collect()
}

async fn run_cmd(cmd: RunCmd, conn: Conn) -> Result<()> {
    let c = conn.client()?;
    let f = conn.output;
    match cmd {
        RunCmd::Register {
            id,
            code_commit,
            datasets,
            params,
            trainer,
            artifact,
        } => {
            let body = RegisterRunParams {
                id,
                code_commit,
                datasets: datasets.into_iter().collect(),
                parameters: parameters(&params)?,
                trainer,
                artifact_digest: wire("artifact", &artifact)?,
            };
            output::show::<RunView>(f, &c.post("/v1/runs", &body).await?);
        }
        RunCmd::List => output::show::<Vec<RunView>>(f, &c.get("/v1/runs").await?),
    }
    Ok(())
}

async fn webhook(cmd: WebhookCmd, conn: Conn) -> Result<()> {
    let c = conn.client()?;
    let f = conn.output;
    match cmd {
        WebhookCmd::Create { url, events } => {
            let body = CreateWebhookParams {
                url,
                events: events.into_iter().collect(),
            };
            output::show::<WebhookView>(f, &c.post("/v1/webhooks", &body).await?);
        }
        WebhookCmd::List => output::show::<Vec<WebhookView>>(f, &c.get("/v1/webhooks").await?),
        WebhookCmd::Deliveries { id } => output::show::<DeliveryLogView>(
            f,
            &c.get(&format!("/v1/webhooks/{}/deliveries", q(&id)))
                .await?,
        ),
    }
    Ok(())
}

const NO_ARTIFACT: &str =
    "the bundle needs an artifact digest: pass --artifact sha256:<hex> or --bundle-file";

/// The bundle: `--bundle-file` read as a `BundleWire`, with the flags set over it.
fn bundle(b: BundleArgs) -> Result<BundleWire> {
    let artifact: Option<Digest> = b
        .artifact
        .as_deref()
        .map(|a| wire("artifact", a))
        .transpose()?;
    let mut w = match (&b.bundle_file, artifact) {
        (Some(path), artifact) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut m = match serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?
            {
                Value::Object(m) => m,
                _ => bail!("{} must hold a JSON object", path.display()),
            };
            // --artifact wins over the file's, and stands in for a file without one.
            if let Some(a) = artifact {
                m.insert("artifact_digest".into(), Value::String(a.to_string()));
            }
            if !m.contains_key("artifact_digest") {
                bail!(NO_ARTIFACT);
            }
            BundleWire::deserialize(Value::Object(m))
                .with_context(|| format!("{} is not a valid bundle", path.display()))?
        }
        (None, Some(artifact_digest)) => BundleWire::from(
            &countersign_core::release::Bundle::of_artifact(artifact_digest),
        ),
        (None, None) => bail!(NO_ARTIFACT),
    };
    if !b.datasets.is_empty() {
        w.dataset_versions = b.datasets.into_iter().collect();
    }
    if let Some(v) = b.training_run {
        w.training_run_id = Some(v);
    }
    if let Some(v) = b.trainer {
        w.trainer = Some(v);
    }
    if let Some(v) = b.code_commit {
        w.code_commit = Some(v);
    }
    if !b.params.is_empty() {
        w.parameters = parameters(&b.params)?;
    }
    if let Some(v) = b.prompt_digest {
        w.prompt_package_digest = Some(wire("prompt-digest", &v)?);
    }
    if let Some(v) = b.policy_digest {
        w.runtime_policy_digest = Some(wire("policy-digest", &v)?);
    }
    if !b.tools.is_empty() {
        w.tool_permissions = b.tools.into_iter().collect();
    }
    if !b.secret_scopes.is_empty() {
        w.secret_scopes = b.secret_scopes.into_iter().collect();
    }
    if let Some(v) = b.supersedes {
        w.supersedes = Some(v);
    }
    Ok(w)
}

async fn current_revision(c: &Client, id: &str, given: Option<u32>) -> Result<u32> {
    if let Some(r) = given {
        return Ok(r);
    }
    let v = c.get(&format!("/v1/releases/{}", q(id))).await?;
    let detail = ReleaseDetailView::deserialize(&v)
        .context("the server did not report the current revision")?;
    Ok(detail.release.current_revision)
}

/// The part of the profile `review --all-yes` reads: each role's checklist item ids.
#[derive(Deserialize)]
struct Checklists {
    #[serde(default)]
    checklists: BTreeMap<String, Vec<ChecklistItemId>>,
}

#[derive(Deserialize)]
struct ChecklistItemId {
    id: String,
}

fn parse_expiry(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .with_context(|| format!("--expires {s:?} is neither RFC 3339 nor a duration like 30d"))?;
    let d = match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        "m" => chrono::Duration::minutes(n),
        _ => bail!("--expires {s:?}: a duration ends in d, h or m"),
    };
    Ok(Utc::now() + d)
}

async fn release(cmd: ReleaseCmd, conn: Conn) -> Result<()> {
    let c = conn.client()?;
    let f = conn.output;
    let path = |id: &str, rest: &str| format!("/v1/releases/{}{rest}", q(id));
    match cmd {
        ReleaseCmd::Create {
            title,
            kind,
            system,
            owner,
            attrs,
            bundle: b,
        } => {
            let data_connected = attrs.data_connected || !attrs.data_classes.is_empty();
            let body = CreateReleaseParams {
                title,
                kind: wire("kind", &kind)?,
                system,
                decision_owner: owner,
                attributes: AttributesWire {
                    customer_facing: attrs.customer_facing,
                    agentic: attrs.agentic,
                    data_connected,
                    data_classes: attrs.data_classes.into_iter().collect(),
                    regulated: attrs.regulated,
                    third_party: attrs.third_party,
                    autonomy_level: attrs.autonomy,
                    intended_use: attrs.intended_use,
                },
                bundle: bundle(b)?,
            };
            output::show::<ReleaseWithRevisionView>(f, &c.post("/v1/releases", &body).await?);
        }
        ReleaseCmd::List => output::show::<Vec<ReleaseView>>(f, &c.get("/v1/releases").await?),
        ReleaseCmd::Show { id } => {
            output::show::<ReleaseDetailView>(f, &c.get(&path(&id, "")).await?)
        }
        ReleaseCmd::Revise {
            id,
            based_on,
            owner,
            bundle: b,
        } => {
            let body = ReviseParams {
                based_on_revision: based_on,
                bundle: bundle(b)?,
                attributes: None,
                decision_owner: owner,
            };
            output::show::<ReleaseWithRevisionView>(
                f,
                &c.post(&path(&id, "/revisions"), &body).await?,
            );
        }
        ReleaseCmd::Submit { id, revision } => {
            let revision = current_revision(&c, &id, revision).await?;
            output::show::<ReleaseView>(
                f,
                &c.post(&path(&id, "/submit"), &RevisionParams { revision })
                    .await?,
            );
        }
        ReleaseCmd::Gate { id, revision } => {
            let qs = revision
                .map(|r| format!("?revision={r}"))
                .unwrap_or_default();
            output::show::<GateView>(f, &c.get(&path(&id, &format!("/gate{qs}"))).await?);
        }
        ReleaseCmd::Review {
            id,
            role,
            verdict,
            answers,
            all_yes,
            conditions,
            comment,
            revision,
            confirm_digest,
        } => {
            let role_wire: Role = wire("role", &role)?;
            let verdict = wire("verdict", &verdict)?;
            let revision = current_revision(&c, &id, revision).await?;
            let mut map = BTreeMap::new();
            if all_yes {
                let profile = ProfileView::deserialize(&c.get("/v1/profile").await?)
                    .context("the server sent a profile that does not read as one")?;
                let lists = Checklists::deserialize(&profile.profile)
                    .context("the server's profile has no readable checklists")?;
                for item in lists.checklists.get(&role).into_iter().flatten() {
                    map.insert(item.id.clone(), Answer::Yes);
                }
            }
            for a in &answers {
                let (k, v) = kv(a)?;
                map.insert(k, wire("answer", &v)?);
            }
            let body = ReviewParams {
                revision,
                role: role_wire,
                verdict,
                answers: map,
                conditions,
                comment,
                confirm_digest,
            };
            output::show::<ReviewView>(f, &c.post(&path(&id, "/reviews"), &body).await?);
        }
        ReleaseCmd::Evidence {
            id,
            kind,
            file,
            media_type,
            revision,
        } => {
            let r = current_revision(&c, &id, revision).await?;
            let content =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "evidence".into());
            let url = path(
                &id,
                &format!("/evidence?revision={r}&kind={}&name={}", q(&kind), q(&name)),
            );
            output::show::<EvidenceView>(f, &c.upload(&url, content, &media_type).await?);
        }
        ReleaseCmd::Accept {
            id,
            gap,
            justification,
            expires,
            revision,
        } => {
            let gap = wire("gap", &gap)?;
            let expires_at = parse_expiry(&expires)?;
            let revision = current_revision(&c, &id, revision).await?;
            let body = AcceptRiskParams {
                revision,
                gap,
                justification,
                expires_at,
            };
            output::show::<AcceptanceView>(f, &c.post(&path(&id, "/acceptances"), &body).await?);
        }
        ReleaseCmd::Decide {
            id,
            go,
            no_go: _,
            env,
            comment,
            revision,
        } => {
            let revision = current_revision(&c, &id, revision).await?;
            let body = DecideParams {
                revision,
                decision: if go { Decision::Go } else { Decision::NoGo },
                environment: env,
                comment,
            };
            output::show::<DecisionView>(f, &c.post(&path(&id, "/decision"), &body).await?);
        }
        ReleaseCmd::Promote { id, env, revision } => {
            let revision = current_revision(&c, &id, revision).await?;
            let body = DeployParams {
                revision,
                environment: env,
                reason: String::new(),
            };
            output::show::<DeploymentView>(f, &c.post(&path(&id, "/promote"), &body).await?);
        }
        ReleaseCmd::Rollback {
            id,
            reason,
            revision,
        } => {
            let revision = current_revision(&c, &id, revision).await?;
            let body = DeployParams {
                revision,
                environment: None,
                reason,
            };
            output::show::<DeploymentView>(f, &c.post(&path(&id, "/rollback"), &body).await?);
        }
        ReleaseCmd::Evaluation { id, revision } => {
            let rest = match revision {
                Some(r) => format!("/evaluation?revision={r}"),
                None => "/evaluation".to_owned(),
            };
            output::show::<EvaluationView>(f, &c.get(&path(&id, &rest)).await?);
        }
        ReleaseCmd::Block {
            id,
            reason,
            revision,
        } => {
            let revision = current_revision(&c, &id, revision).await?;
            let body = BlockParams { revision, reason };
            output::show::<DecisionView>(f, &c.post(&path(&id, "/block"), &body).await?);
        }
        ReleaseCmd::Withdraw {
            id,
            reason,
            revision,
        } => {
            let revision = current_revision(&c, &id, revision).await?;
            let body = WithdrawParams { revision, reason };
            output::show::<DecisionView>(f, &c.post(&path(&id, "/withdraw"), &body).await?);
        }
        ReleaseCmd::Retire {
            id,
            reason,
            revision,
        } => {
            let revision = current_revision(&c, &id, revision).await?;
            let body = DeployParams {
                revision,
                environment: None,
                reason,
            };
            output::show::<DeploymentView>(f, &c.post(&path(&id, "/retire"), &body).await?);
        }
    }
    Ok(())
}
