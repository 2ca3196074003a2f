//! `countersign serve`, `migrate` and the offline `ledger verify`.

use crate::output;
use anyhow::{bail, Context, Result};
use countersign_core::profile::{Profile, EXAMPLE_PROFILE};
use countersign_server::app::ledger::Verification;
use countersign_server::app::policies::PolicyDirError;
use countersign_server::app::webhooks::DeliveryClient;
use countersign_server::clock::{Clock, SystemClock};
use countersign_server::outbound::OutboundTls;
use countersign_server::AppState;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

pub struct ServeArgs {
    pub db: String,
    pub listen: String,
    pub profile: Option<PathBuf>,
    pub demo: bool,
    /// Seconds between runs of the deadline job.
    pub deadline_interval: u64,
    /// The runtime policy directory; `None` for the built-in example set.
    pub policies: Option<PathBuf>,
    /// CA files the webhook client trusts besides the system roots.
    pub ca_cert: Vec<PathBuf>,
    /// The ledger's origin as a transparency log.
    pub ledger_origin: Option<String>,
    pub sign_in: SignInArgs,
}

/// The log's origin: the flag, else `<host of the public URL>/ledger`, else the default.
fn ledger_origin(flag: Option<&str>, public_url: Option<&str>) -> String {
    if let Some(o) = flag {
        return o.to_owned();
    }
    let host = public_url
        .and_then(|u| u.split_once("://"))
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .map(|h| h.rsplit_once('@').map_or(h, |(_, h)| h))
        .filter(|h| !h.is_empty());
    match host {
        Some(h) => format!("{h}/ledger"),
        None => countersign_server::app::transparency::DEFAULT_ORIGIN.to_owned(),
    }
}

/// How people sign in to the console.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SignInArgs {
    /// The URL people and the identity provider reach this server at (behind a proxy,
    /// its https:// address). Default: http://<the address it listens on>.
    #[arg(long, value_name = "URL", env = "COUNTERSIGN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Sign people in to the console with this OpenID Connect provider (its issuer
    /// URL, e.g. https://login.example.com/realms/acme). Needs --oidc-client-id.
    #[arg(long, value_name = "URL", env = "COUNTERSIGN_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// This server's client id at the provider. Register the redirect URL
    /// <public URL>/console/oidc/callback with it.
    #[arg(long, value_name = "ID", env = "COUNTERSIGN_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret, for a confidential client (better given by the variable).
    #[arg(
        long,
        value_name = "SECRET",
        env = "COUNTERSIGN_OIDC_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub oidc_client_secret: Option<String>,
    /// A scope to ask for besides openid (repeatable; default: email profile).
    #[arg(long = "oidc-scope", value_name = "SCOPE")]
    pub oidc_scopes: Vec<String>,
    /// The ID token claim listing the person's groups (e.g. groups). When given, the
    /// groups decide the person's countersign roles at every sign-in.
    #[arg(long, value_name = "CLAIM", env = "COUNTERSIGN_OIDC_GROUPS_CLAIM")]
    pub oidc_groups_claim: Option<String>,
    /// GROUP=ROLE[,ROLE...]: the roles a group gives (repeatable). Without any, a
    /// group named like a role (security, data-governance, ...) gives that role.
    #[arg(long = "oidc-group", value_name = "GROUP=ROLES")]
    pub oidc_groups: Vec<String>,
    /// Create an account at first sign-in for someone the provider vouches for
    /// (verified email) instead of refusing them.
    #[arg(long)]
    pub oidc_provision: bool,
    /// The provider's name on the sign-in button (default: the issuer's host).
    #[arg(long, value_name = "NAME")]
    pub oidc_name: Option<String>,
    /// The same settings as a TOML file (issuer, client_id, client_secret, scopes,
    /// groups_claim, group_roles = { GROUP = [ROLES] }, provision, display_name),
    /// instead of the --oidc-* flags.
    #[arg(long, value_name = "FILE", env = "COUNTERSIGN_OIDC_CONFIG", conflicts_with_all = ["oidc_issuer", "oidc_client_id"])]
    pub oidc_config: Option<PathBuf>,
    /// Do not let anyone sign in to the console by pasting an API token (once the
    /// identity provider is set up).
    #[arg(long)]
    pub no_token_sign_in: bool,
    /// How long a console session lasts from sign-in, unless the person signs out
    /// first: a number with s, m, h or d (e.g. 30m, 12h); between 10 seconds and 30 days.
    #[arg(long, value_name = "DURATION", default_value = "12h", value_parser = parse_lifetime)]
    pub session_lifetime: chrono::Duration,
}

/// A session lifetime such as `90s`, `30m`, `12h` or `7d`.
fn parse_lifetime(s: &str) -> Result<chrono::Duration, String> {
    let s = s.trim();
    let split = s.len().saturating_sub(1);
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| {
        format!("{s:?} is not a duration: write a number and s, m, h or d (e.g. 12h)")
    })?;
    let d = match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => {
            return Err(format!(
                "{s:?} has no unit: end it with s, m, h or d (e.g. 12h)"
            ))
        }
    };
    if d < chrono::Duration::seconds(10) || d > chrono::Duration::days(30) {
        return Err(format!("{s} is outside 10s to 30d"));
    }
    Ok(d)
}

impl SignInArgs {
    /// The OpenID Connect settings, if any; `public_url` is the server's own URL.
    pub fn oidc_config(
        &self,
        public_url: &str,
    ) -> Result<Option<countersign_server::oidc::OidcConfig>> {
        use countersign_server::oidc::{OidcConfig, CALLBACK_PATH};
        let mut config = if let Some(file) = &self.oidc_config {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the OIDC config {}", file.display()))?;
            toml::from_str::<OidcConfig>(&text)
                .with_context(|| format!("the OIDC config {} is not valid", file.display()))?
        } else {
            let (issuer, client_id) = match (&self.oidc_issuer, &self.oidc_client_id) {
                (None, None) => return Ok(None),
                (Some(i), Some(c)) => (i.clone(), c.clone()),
                (Some(_), None) => bail!("--oidc-issuer needs --oidc-client-id"),
                (None, Some(_)) => bail!("--oidc-client-id needs --oidc-issuer"),
            };
            let mut group_roles = std::collections::BTreeMap::new();
            for g in &self.oidc_groups {
                let (group, roles) = g
                    .split_once('=')
                    .with_context(|| format!("--oidc-group {g:?}: give GROUP=ROLE[,ROLE...]"))?;
                let roles = roles
                    .split(',')
                    .map(|r| r.trim().parse::<countersign_core::Role>())
                    .collect::<Result<std::collections::BTreeSet<_>, _>>()
                    .map_err(|e| anyhow::anyhow!("--oidc-group {g:?}: {e}"))?;
                group_roles.insert(group.trim().to_owned(), roles);
            }
            OidcConfig {
                issuer,
                client_id,
                client_secret: self.oidc_client_secret.clone(),
                redirect_url: String::new(),
                scopes: if self.oidc_scopes.is_empty() {
                    vec!["email".into(), "profile".into()]
                } else {
                    self.oidc_scopes.clone()
                },
                groups_claim: self.oidc_groups_claim.clone(),
                group_roles,
                provision: self.oidc_provision,
                display_name: self.oidc_name.clone(),
            }
        };
        if config.redirect_url.is_empty() {
            config.redirect_url = format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/'));
        }
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(Some(config))
    }
}

/// Loads the runtime policy set: the directory's, or the built-in example.
pub fn load_policies(dir: Option<&PathBuf>) -> Result<countersign_policy::PolicySet> {
    match dir {
        None => Ok(countersign_server::app::policies::example_policies()
            .context("the built-in example policy set is invalid")?),
        // An invalid set's error names the file and reason; add the directory.
        Some(d) => countersign_server::app::policies::load_policy_dir(d).map_err(|e| match e {
            PolicyDirError::Invalid(_) => anyhow::Error::new(e).context(d.display().to_string()),
            other => anyhow::Error::new(other),
        }),
    }
}

pub fn load_profile(path: Option<&PathBuf>) -> Result<Profile> {
    Ok(match path {
        None => Profile::from_toml("profiles/example.toml (built in)", EXAMPLE_PROFILE)?,
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read profile {}", p.display()))?;
            Profile::from_toml(&p.display().to_string(), &text)?
        }
    })
}

pub async fn serve(args: ServeArgs) -> Result<()> {
    let profile = Arc::new(load_profile(args.profile.as_ref())?);
    let policies = load_policies(args.policies.as_ref())?;
    // The webhook client, once, before anything else starts: a bad CA file refuses to start.
    let outbound = OutboundTls::with_ca_files(&args.ca_cert)?;
    let delivery_client = DeliveryClient::new(&outbound)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = args
        .sign_in
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let oidc = match args.sign_in.oidc_config(&public_url)? {
        None => None,
        Some(config) => Some(Arc::new(
            countersign_server::oidc::OidcClient::new(config, &outbound)
                .map_err(anyhow::Error::msg)?,
        )),
    };
    if args.sign_in.no_token_sign_in && oidc.is_none() {
        bail!("--no-token-sign-in leaves no way to sign in to the console: configure an identity provider (--oidc-issuer and --oidc-client-id)");
    }
    let sign_in = countersign_server::app::sessions::SignInOptions {
        token: !args.sign_in.no_token_sign_in,
        oidc: oidc.clone(),
        session_lifetime: args.sign_in.session_lifetime,
    };
    let store = countersign_store::open(&args.db)
        .await
        .with_context(|| format!("cannot open database {}", args.db))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    tracing::info!(backend = store.backend(), db = %args.db, profile = %profile.name, digest = %profile.digest(), "store ready");

    let state = AppState::with_policies(store, profile, clock, policies, args.policies.clone())
        .with_sign_in(sign_in)
        .with_ledger_origin(&ledger_origin(
            args.ledger_origin.as_deref(),
            args.sign_in.public_url.as_deref(),
        ))
        .context("--ledger-origin cannot name a signing key (no spaces or +)")?;
    let policies = state.runtime.policies();
    let bootstrap = countersign_server::app::auth::bootstrap(&state).await?;
    let admin_token = bootstrap.as_ref().map(|(_, t)| t.clone());
    if let Some((admin, token)) = bootstrap {
        output::line(
            "countersign: new database; an admin was created. Its token is shown this once:",
        );
        output::line(format!("  admin {}  token {token}", admin.id));
        output::line(format!("  export COUNTERSIGN_TOKEN={token}"));
    }
    if args.demo {
        match countersign_server::demo::seed(&state).await? {
            None => output::line("countersign: demo data is already in this database (its tokens were printed when it was seeded)"),
            Some(seed) => {
                output::line("countersign: demo seeded. Tokens (shown this once):");
                for u in &seed.users {
                    let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
                    output::line(format!("  {:<16} {:<16} {}  {}", u.name, roles.join(","), u.id, u.token));
                }
                output::line(format!("  system  {}  (owner Olu Adeyemi)", seed.system_id));
                output::line(format!("  release {}  in review, decision owner Dana Whitfield", seed.release_id));
                let env_file = demo_env_path(&args.db);
                match write_demo_env(&env_file, &seed, admin_token.as_deref()) {
                    Ok(()) => output::line(format!(
                        "  the same, as shell variables: source {}",
                        env_file.display()
                    )),
                    Err(e) => tracing::warn!(error = %e, file = %env_file.display(), "cannot write the demo env file"),
                }
            }
        }
    }

    output::line(format!(
        "countersign: runtime policies {} ({} policies, digest {})",
        args.policies
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "built-in example".into()),
        policies.set.policies().len(),
        policies.set.digest()
    ));
    output::line(format!(
        "countersign: webhooks to https:// trust {}",
        outbound.describe()
    ));
    // Step-up requests nobody answers expire to deny.
    let expiry = tokio::spawn(countersign_server::app::approvals::expiry_loop(
        state.clone(),
        std::time::Duration::from_secs(5),
    ));
    let reload = tokio::spawn(reload_on_sighup(state.clone()));
    // Background job (I5): overdue reviews escalate to the decision owner.
    let deadlines = tokio::spawn(countersign_server::app::deadlines::deadline_loop(
        state.clone(),
        std::time::Duration::from_secs(args.deadline_interval.max(1)),
    ));
    // Background job: the webhook delivery worker resumes from the outbox at start.
    let delivery = tokio::spawn(countersign_server::app::webhooks::delivery_loop(
        state.clone(),
        delivery_client,
        std::time::Duration::from_secs(2),
    ));
    if let Some(o) = &oidc {
        output::line(format!(
            "countersign: console sign-in with {} (client {}, redirect URL {})",
            o.config.issuer, o.config.client_id, o.config.redirect_url
        ));
        if let Err(e) = o.check().await {
            output::line(format!(
                "countersign: warning: {e}; sign-in will try again when someone signs in"
            ));
        }
    }
    let app = countersign_server::app(state);
    output::line(format!("countersign: listening on http://{addr}"));
    let how = match (&oidc, !args.sign_in.no_token_sign_in, args.demo) {
        (Some(o), false, _) => format!("sign in with {}", o.config.provider_name()),
        (Some(o), true, true) => format!(
            "sign in with {} or one of the demo tokens above",
            o.config.provider_name()
        ),
        (Some(o), true, false) => {
            format!("sign in with {} or an API token", o.config.provider_name())
        }
        (None, _, true) => "sign in with one of the demo tokens above".to_owned(),
        (None, _, false) => "sign in with an API token".to_owned(),
    };
    output::line(format!(
        "countersign: console at {public_url}/console ({how})"
    ));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .context("server failed")?;
    deadlines.abort();
    delivery.abort();
    expiry.abort();
    reload.abort();
    output::line("countersign: stopped");
    Ok(())
}

/// `countersign.db` -> `countersign-demo.env`, beside the database; for a PostgreSQL
/// database, `countersign-demo.env` in the working directory.
fn demo_env_path(db: &str) -> PathBuf {
    if db.starts_with("postgres") {
        return PathBuf::from("countersign-demo.env");
    }
    let path = PathBuf::from(db.trim_start_matches("sqlite://"));
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "countersign".into());
    path.with_file_name(format!("{stem}-demo.env"))
}

/// Writes the demo tokens as shell variables (mode 0600): CS_MAYA=..., CS_RELEASE=...
fn write_demo_env(
    path: &std::path::Path,
    seed: &countersign_server::demo::DemoSeed,
    admin_token: Option<&str>,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    writeln!(
        f,
        "# countersign demo tokens; generated by `countersign serve --demo`"
    )?;
    if let Some(t) = admin_token {
        writeln!(f, "export CS_ADMIN={t}")?;
    }
    for u in &seed.users {
        let first = u.name.split(' ').next().unwrap_or("user").to_uppercase();
        writeln!(
            f,
            "export CS_{first}={}  # {} ({}) {}",
            u.token,
            u.name,
            u.roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(","),
            u.id
        )?;
        writeln!(f, "export CS_{first}_ID={}", u.id)?;
    }
    writeln!(f, "export CS_SYSTEM={}", seed.system_id)?;
    writeln!(f, "export CS_RELEASE={}", seed.release_id)?;
    writeln!(f, "export CS_ARTIFACT={}", seed.artifact_digest)?;
    Ok(())
}

/// SIGHUP reloads the runtime policy set; an invalid set is refused and logged.
async fn reload_on_sighup(state: AppState) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match countersign_server::app::policies::reload::reload_on_signal(&state).await {
                Ok(()) => output::line(format!(
                    "countersign: SIGHUP: runtime policies now {}",
                    state.runtime.policies().set.digest()
                )),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: policy reload refused; the running set stays")
                }
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub async fn migrate(db: &str) -> Result<()> {
    let status = countersign_store::migrate(db)
        .await
        .with_context(|| format!("cannot migrate {db}"))?;
    if status.applied.is_empty() {
        output::line(format!(
            "{db}: schema is current (version {})",
            status.current
        ));
    } else {
        output::line(format!(
            "{db}: applied migrations {:?}; schema version {}",
            status.applied, status.current
        ));
    }
    Ok(())
}

/// What `ledger verify --json` prints (there is no server, so no API view).
#[derive(Serialize)]
#[serde(untagged)]
enum VerifyJson {
    Valid {
        valid: bool,
        entries: u64,
        head_seq: Option<u64>,
        head_hash: Option<String>,
        key_id: String,
        key_pinned: bool,
    },
    Invalid {
        valid: bool,
        first_bad_seq: u64,
        error: String,
        key_id: String,
    },
}

/// Verifies the ledger directly from the database, without a server. Returns
/// whether it is valid.
/// An earlier checkpoint the ledger must extend: the note file and the pinned log key.
pub struct CheckpointArgs<'a> {
    pub file: &'a std::path::Path,
    pub log_key: Option<&'a str>,
}

pub async fn verify(
    db: &str,
    public_key: Option<&str>,
    json: bool,
    checkpoint: Option<CheckpointArgs<'_>>,
) -> Result<bool> {
    if !(db.starts_with("postgres")
        || std::path::Path::new(db.trim_start_matches("sqlite://")).exists())
    {
        bail!("no database at {db}");
    }
    let store = countersign_store::open(db)
        .await
        .with_context(|| format!("cannot open database {db}"))?;
    let key = match public_key {
        Some(k) => countersign_ledger::LedgerPublicKey::from_base64(k)
            .context("--public-key is not a valid key")?,
        None => store.ledger_public_key(),
    };
    let mut verifier = countersign_ledger::Verifier::new();
    let mut saved = None;
    if let Some(cp) = &checkpoint {
        let (note, log_key) =
            crate::transparency::saved_checkpoint(cp.file, cp.log_key, &store.ledger_public_key())?;
        let size = countersign_ledger::Checkpoint::parse(note.text())
            .map(|c| c.size)
            .unwrap_or(0);
        verifier = verifier.with_note(&note, &log_key).with_context(|| {
            format!(
                "the checkpoint {} is not signed by the log key {log_key}",
                cp.file.display()
            )
        })?;
        saved = Some((size, log_key));
    }
    let mut last = 0;
    let result = countersign_server::app::ledger::verify_with(&*store, &key, verifier, |n| {
        if !json && n >= last + 100_000 {
            last = n;
            eprintln!("verified {n} entries...");
        }
    })
    .await?;
    let valid = matches!(result, Verification::Valid(_));
    let view = match &result {
        Verification::Valid(r) => VerifyJson::Valid {
            valid: true,
            entries: r.entries,
            head_seq: r.head.as_ref().map(|h| h.seq),
            head_hash: r.head.as_ref().map(|h| h.hash.to_string()),
            key_id: key.key_id(),
            key_pinned: public_key.is_some(),
        },
        Verification::Invalid(e) => VerifyJson::Invalid {
            valid: false,
            first_bad_seq: e.seq,
            error: e.to_string(),
            key_id: key.key_id(),
        },
    };
    if json {
        output::json(&serde_json::to_value(&view).context("cannot render the verification")?);
    } else {
        match &result {
            Verification::Valid(r) => {
                output::line(format!(
                    "ledger OK: {} entries, head seq {} hash {}",
                    r.entries,
                    r.head.as_ref().map_or("-".into(), |h| h.seq.to_string()),
                    r.head.as_ref().map_or("-".into(), |h| h.hash.to_string())
                ));
                output::line(format!(
                    "checkpoint signed by key {}{}",
                    key.key_id(),
                    if public_key.is_some() {
                        " (pinned with --public-key)"
                    } else {
                        " (read from the database; pin it with --public-key for independent assurance)"
                    }
                ));
                if let Some((size, log_key)) = &saved {
                    output::line(format!(
                        "a consistent extension of the checkpoint of size {size} signed by {log_key}{}",
                        if checkpoint.as_ref().is_some_and(|c| c.log_key.is_some()) {
                            " (pinned with --log-key)"
                        } else {
                            " (key read from the database; pin it with --log-key)"
                        }
                    ));
                }
            }
            Verification::Invalid(e) => output::line(format!("ledger INVALID: {e}")),
        }
    }
    Ok(valid)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_lifetime;
    use chrono::Duration;

    #[test]
    fn session_lifetimes_read_with_their_unit_and_stay_in_bounds() {
        assert_eq!(parse_lifetime("12h"), Ok(Duration::hours(12)));
        assert_eq!(parse_lifetime(" 30m "), Ok(Duration::minutes(30)));
        assert_eq!(parse_lifetime("10s"), Ok(Duration::seconds(10)));
        assert_eq!(parse_lifetime("7d"), Ok(Duration::days(7)));
        assert!(parse_lifetime("12").unwrap_err().contains("no unit"));
        assert!(parse_lifetime("h").unwrap_err().contains("not a duration"));
        assert!(parse_lifetime("5s").unwrap_err().contains("outside"));
        assert!(parse_lifetime("31d").unwrap_err().contains("outside"));
    }
}
