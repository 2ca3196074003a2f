//! The HTTP client behind the CLI's client commands.

use crate::output::Format;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use countersign_server::outbound::OutboundTls;
use reqwest::Method;
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// A problem document returned by the server, rendered for a person.
#[derive(Debug)]
pub struct ProblemError {
    pub status: u16,
    pub code: String,
    pub detail: String,
    pub body: Value,
}

impl std::fmt::Display for ProblemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} {})", self.detail, self.status, self.code)?;
        if let Some(gaps) = self.body.get("gaps").and_then(Value::as_array) {
            for g in gaps {
                write!(
                    f,
                    "\n  - {}: {}",
                    g["gap"].as_str().unwrap_or(""),
                    g["detail"].as_str().unwrap_or("")
                )?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ProblemError {}

impl Client {
    /// A client for the server at `base`, trusting `tls` for an `https://` one.
    pub fn new(base: &str, token: Option<String>, tls: &OutboundTls) -> Result<Self> {
        let http = tls
            .client_builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    fn request(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder> {
        let token = self
            .token
            .as_deref()
            .ok_or_else(|| anyhow!("no token: set COUNTERSIGN_TOKEN (or pass --token)"))?;
        Ok(self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token))
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let resp = rb.send().await.map_err(|e| {
            // A hint only: the cause's text is the one place the TLS reason shows.
            let tls_refused = e.is_connect()
                && countersign_server::outbound::error_chain(&e).contains("certificate");
            let hint = if tls_refused {
                " (if its certificate is from a private CA, pass --ca-cert FILE or set COUNTERSIGN_CA_CERT)"
            } else {
                ""
            };
            anyhow::Error::new(e.without_url())
                .context(format!("cannot reach countersign at {}{hint}", self.base))
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        Err(ProblemError {
            status: status.as_u16(),
            code: body["code"].as_str().unwrap_or("unknown").to_owned(),
            detail: body["detail"]
                .as_str()
                .map_or_else(|| status.to_string(), str::to_owned),
            body,
        }
        .into())
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        let resp = self.send(self.request(Method::GET, path)?).await?;
        resp.json()
            .await
            .context("the server sent a body that is not JSON")
    }

    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let resp = self.send(self.request(Method::GET, path)?).await?;
        Ok(resp
            .bytes()
            .await
            .context("cannot read the response")?
            .to_vec())
    }

    /// POSTs JSON without an API token: agents authenticate in the body with a signed
    /// client assertion, and introspection needs no credential but the token itself.
    /// Not retried: an assertion is single-use.
    pub async fn post_unauthenticated(&self, path: &str, body: &impl Serialize) -> Result<Value> {
        let rb = self
            .http
            .request(Method::POST, format!("{}{path}", self.base))
            .json(body);
        self.send(rb)
            .await?
            .json()
            .await
            .context("the server sent a body that is not JSON")
    }

    /// GETs a public document (the JWKS) without an API token.
    pub async fn get_unauthenticated(&self, path: &str) -> Result<Value> {
        let rb = self
            .http
            .request(Method::GET, format!("{}{path}", self.base));
        self.send(rb)
            .await?
            .json()
            .await
            .context("the server sent a body that is not JSON")
    }

    /// GETs a public text document (the ledger's checkpoint) without an API token.
    pub async fn get_text_unauthenticated(&self, path: &str) -> Result<String> {
        let rb = self
            .http
            .request(Method::GET, format!("{}{path}", self.base));
        self.send(rb)
            .await?
            .text()
            .await
            .context("cannot read the response")
    }

    /// POSTs a JSON command with a fresh Idempotency-Key, retrying once on a lost
    /// connection: the key makes the retry safe.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<Value> {
        let key = uuid_like();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let rb = self
                .request(Method::POST, path)?
                .header("Idempotency-Key", &key)
                .json(body);
            match self.send(rb).await {
                Ok(resp) => {
                    return resp
                        .json()
                        .await
                        .context("the server sent a body that is not JSON")
                }
                Err(e) if attempt < 2 && e.downcast_ref::<ProblemError>().is_none() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// POSTs JSON once with the token, without an Idempotency-Key or a retry: for an
    /// agent's calls with its credential (`decide`, an outcome), which the server does
    /// not deduplicate, so a blind retry could decide twice or spend an approval.
    pub async fn post_once(&self, path: &str, body: &impl Serialize) -> Result<Value> {
        let rb = self.request(Method::POST, path)?.json(body);
        self.send(rb)
            .await?
            .json()
            .await
            .context("the server sent a body that is not JSON")
    }

    pub async fn upload(&self, path: &str, content: Vec<u8>, media_type: &str) -> Result<Value> {
        let rb = self
            .request(Method::POST, path)?
            .header("Idempotency-Key", uuid_like())
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(content);
        let resp = self.send(rb).await?;
        resp.json()
            .await
            .context("the server sent a body that is not JSON")
    }
}

fn uuid_like() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Percent-encodes a query value.
pub fn q(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits `k=v`.
pub fn kv(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => bail!("expected KEY=VALUE, got {s:?}"),
    }
}

/// Reads a command-line value as the wire type a request carries (a digest, a role,
/// a verdict, a gap key), with the wire type's own reason when it is not one.
pub fn wire<T: DeserializeOwned>(flag: &str, s: &str) -> Result<T> {
    T::deserialize(s.into_deserializer())
        .map_err(|e: serde::de::value::Error| anyhow!("--{flag} {s:?}: {e}"))
}

/// Where and as whom a client command talks to the server (global flags).
#[derive(Args, Clone)]
pub(crate) struct Conn {
    /// Server URL.
    #[arg(
        long,
        env = "COUNTERSIGN_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub(crate) server: String,
    /// API token (prefer the environment variable; flags show up in process lists).
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true, global = true)]
    pub(crate) token: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub(crate) output: Format,
    /// PEM file of CA certificates to trust for an https:// --server, in addition to the
    /// system roots (repeatable; one file may be a bundle). The variable names one file.
    #[arg(
        long = "ca-cert",
        value_name = "FILE",
        env = "COUNTERSIGN_CA_CERT",
        global = true
    )]
    pub(crate) ca_cert: Vec<PathBuf>,
}

impl Conn {
    /// The HTTP client for this server, trusting the system roots and any --ca-cert.
    pub(crate) fn client(&self) -> Result<Client> {
        let tls = countersign_server::outbound::OutboundTls::with_ca_files(&self.ca_cert)?;
        Client::new(&self.server, self.token.clone(), &tls)
    }
}
