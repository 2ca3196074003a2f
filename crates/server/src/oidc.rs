//! The OpenID Connect relying party the console signs people in with: the
//! authorization code flow with PKCE (RFC 7636, S256) against any standard provider.
//!
//! - Discovery (`/.well-known/openid-configuration`) and the provider's JWKS are read
//!   on first use and kept; an ID token signed with a key id we do not know makes us
//!   read the JWKS once more (key rotation).
//! - [`OidcClient::begin`] makes a sign-in's secrets (state, nonce, PKCE verifier) and
//!   the provider URL to send the browser to; the caller keeps the secrets in a
//!   short-lived cookie, so the flow needs no server state and works across replicas.
//! - [`OidcClient::finish`] checks the state, exchanges the code at the token endpoint
//!   (with the verifier, and the client secret when there is one), verifies the ID
//!   token's signature (RS256/384/512, PS256/384/512, ES256/384, EdDSA; never `none`,
//!   never HMAC) and hands its claims to [`countersign_core::oidc::identify`].
//!
//! The client's token never leaves this module: we do not keep the access token.

use crate::app::users::random_hex;
use crate::jwt::b64;
use crate::outbound::{error_chain, OutboundTls};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use countersign_core::oidc::{identify, ClaimsError, Expected, Identity};
use countersign_core::Role;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::RwLock;

/// How the console signs people in with a provider.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL (its ID tokens' `iss`).
    pub issuer: String,
    pub client_id: String,
    /// For a confidential client (sent with HTTP Basic); a public client has none.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: `<public URL>/console/oidc/callback`
    /// (in a file, may be left out: `serve` fills it in from its public URL).
    #[serde(default)]
    pub redirect_url: String,
    /// Scopes asked for besides `openid` (default `email profile`).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim holding the person's groups; when set, the groups decide the
    /// person's roles at every sign-in.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Group -> roles. Empty: a group named like a role gives that role.
    #[serde(default)]
    pub group_roles: BTreeMap<String, BTreeSet<Role>>,
    /// Create a user at first sign-in (just-in-time provisioning) instead of refusing
    /// someone unknown.
    #[serde(default)]
    pub provision: bool,
    /// The provider's name on the sign-in button (default: its host).
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

impl OidcConfig {
    /// The name shown on the sign-in button.
    pub fn provider_name(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| {
            let rest = self
                .issuer
                .split_once("://")
                .map_or(self.issuer.as_str(), |(_, r)| r);
            rest.split('/').next().unwrap_or(rest).to_owned()
        })
    }

    /// Refuses a configuration that cannot work, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        let url = |name: &str, v: &str| {
            if v.starts_with("https://") || v.starts_with("http://") {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be an http:// or https:// URL, not {v:?}"
                ))
            }
        };
        url("the OIDC issuer", &self.issuer)?;
        url("the OIDC redirect URL", &self.redirect_url)?;
        if self.client_id.trim().is_empty() {
            return Err("the OIDC client id is empty".into());
        }
        if !self.redirect_url.ends_with(CALLBACK_PATH) {
            return Err(format!(
                "the OIDC redirect URL must end with {CALLBACK_PATH}, not {:?}",
                self.redirect_url
            ));
        }
        Ok(())
    }
}

/// The console path the provider sends the browser back to.
pub const CALLBACK_PATH: &str = "/console/oidc/callback";

/// Why a sign-in with the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider cannot be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider answered {what} with something unreadable: {detail}")]
    Unreadable { what: &'static str, detail: String },
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    #[error("this sign-in was not started here, or it expired; start again")]
    State,
    #[error("the ID token's signature does not verify: {0}")]
    Signature(String),
    #[error("{0}")]
    Claims(#[from] ClaimsError),
}

/// What a sign-in keeps in the browser between leaving for the provider and coming
/// back: secret to this browser, never sent to the provider except the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// The console page to go to afterwards.
    pub next: String,
    /// Whether the person was asked to authenticate again.
    pub fresh: bool,
    pub started_at: DateTime<Utc>,
}

impl Flow {
    /// The cookie value: the fields joined with `.` (none contains one).
    pub fn to_cookie(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}.{}",
            self.state,
            self.nonce,
            self.verifier,
            b64(self.next.as_bytes()),
            u8::from(self.fresh),
            self.started_at.timestamp()
        )
    }

    pub fn from_cookie(v: &str) -> Option<Flow> {
        let mut parts = v.split('.');
        let mut next = || parts.next();
        let (state, nonce, verifier) = (next()?, next()?, next()?);
        let target = String::from_utf8(URL_SAFE_NO_PAD.decode(next()?).ok()?).ok()?;
        let fresh = next()? == "1";
        let started_at = DateTime::from_timestamp(next()?.parse().ok()?, 0)?;
        Some(Flow {
            state: state.to_owned(),
            nonce: nonce.to_owned(),
            verifier: verifier.to_owned(),
            next: target,
            fresh,
            started_at,
        })
    }
}

#[derive(Clone, Debug, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Jwks {
    keys: Vec<Map<String, Value>>,
}

/// The console's client of one provider.
pub struct OidcClient {
    pub config: OidcConfig,
    http: reqwest::Client,
    meta: RwLock<Option<Metadata>>,
    keys: RwLock<Jwks>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

fn unreachable(e: reqwest::Error) -> OidcError {
    OidcError::Unreachable(error_chain(&e))
}

impl OidcClient {
    pub fn new(config: OidcConfig, tls: &OutboundTls) -> Result<Self, String> {
        config.validate()?;
        let http = tls
            .client_builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the OIDC HTTP client: {}", error_chain(&e)))?;
        Ok(OidcClient {
            config,
            http,
            meta: RwLock::new(None),
            keys: RwLock::new(Jwks::default()),
        })
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        what: &'static str,
    ) -> Result<T, OidcError> {
        let resp = self.http.get(url).send().await.map_err(unreachable)?;
        if !resp.status().is_success() {
            return Err(OidcError::Unreadable {
                what,
                detail: format!("HTTP {} from {url}", resp.status()),
            });
        }
        resp.json().await.map_err(|e| OidcError::Unreadable {
            what,
            detail: error_chain(&e),
        })
    }

    /// The provider's metadata, read once.
    async fn metadata(&self) -> Result<Metadata, OidcError> {
        if let Some(m) = self.meta.read().await.clone() {
            return Ok(m);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let m: Metadata = self.get_json(&url, "discovery").await?;
        if m.issuer != self.config.issuer {
            return Err(OidcError::Unreadable {
                what: "discovery",
                detail: format!(
                    "it names issuer {:?}, not the configured {:?}",
                    m.issuer, self.config.issuer
                ),
            });
        }
        *self.meta.write().await = Some(m.clone());
        Ok(m)
    }

    /// Checks the provider is there and says what it should (for start-up).
    pub async fn check(&self) -> Result<(), OidcError> {
        self.metadata().await.map(drop)
    }

    /// A new sign-in: its secrets, and the provider URL to send the browser to. A
    /// fresh sign-in asks the provider to authenticate the person again
    /// (`prompt=login`, `max_age=0`).
    pub async fn begin(
        &self,
        next: &str,
        fresh: bool,
        now: DateTime<Utc>,
    ) -> Result<(Flow, String), OidcError> {
        let meta = self.metadata().await?;
        let flow = Flow {
            state: random_hex(16),
            nonce: random_hex(16),
            verifier: random_hex(32),
            next: next.to_owned(),
            fresh,
            started_at: now,
        };
        let challenge = b64(&Sha256::digest(flow.verifier.as_bytes()));
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(
            self.config
                .scopes
                .iter()
                .filter(|s| *s != "openid")
                .cloned(),
        );
        let mut query: Vec<(&str, String)> = vec![
            ("response_type", "code".into()),
            ("client_id", self.config.client_id.clone()),
            ("redirect_uri", self.config.redirect_url.clone()),
            ("scope", scopes.join(" ")),
            ("state", flow.state.clone()),
            ("nonce", flow.nonce.clone()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256".into()),
        ];
        if fresh {
            query.push(("prompt", "login".into()));
            query.push(("max_age", "0".into()));
        }
        let qs = serde_urlencoded::to_string(&query).map_err(|e| OidcError::Unreadable {
            what: "the sign-in request",
            detail: e.to_string(),
        })?;
        let sep = if meta.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok((flow, format!("{}{sep}{qs}", meta.authorization_endpoint)))
    }

    /// Completes a sign-in the provider sent back with `code` and `state`.
    pub async fn finish(
        &self,
        flow: &Flow,
        code: &str,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<Identity, OidcError> {
        if state.is_empty() || state != flow.state {
            return Err(OidcError::State);
        }
        let meta = self.metadata().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("client_id", self.config.client_id.as_str()),
            ("code_verifier", flow.verifier.as_str()),
        ];
        let mut req = self.http.post(&meta.token_endpoint).form(&form);
        if let Some(secret) = &self.config.client_secret {
            req = req.basic_auth(
                form_urlencode(&self.config.client_id),
                Some(form_urlencode(secret)),
            );
        }
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| OidcError::Unreadable {
            what: "the token request",
            detail: error_chain(&e),
        })?;
        if !status.is_success() {
            let error = body["error"].as_str().unwrap_or("error");
            let detail = body["error_description"].as_str().unwrap_or("");
            return Err(OidcError::Refused(
                format!("{error} {detail}").trim().to_owned(),
            ));
        }
        let token = body["id_token"]
            .as_str()
            .ok_or_else(|| OidcError::Unreadable {
                what: "the token request",
                detail: "there is no id_token".into(),
            })?;
        let claims = self.verify(token).await?;
        let expected = Expected {
            issuer: &self.config.issuer,
            client_id: &self.config.client_id,
            nonce: &flow.nonce,
            started_at: flow.started_at,
            fresh: flow.fresh,
            groups_claim: self.config.groups_claim.as_deref(),
            now,
        };
        Ok(identify(&claims, &expected)?)
    }

    /// The claims of an ID token whose signature verifies with one of the provider's keys.
    async fn verify(&self, token: &str) -> Result<Map<String, Value>, OidcError> {
        let bad = |why: &str| OidcError::Signature(why.to_owned());
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not a compact JWS"));
        };
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| bad("not base64url"));
        let header: Map<String, Value> =
            serde_json::from_slice(&decode(h)?).map_err(|_| bad("the header is not JSON"))?;
        let sig = decode(s)?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let kid = header.get("kid").and_then(Value::as_str);
        let input = format!("{h}.{c}");
        let mut key = self.key(kid, alg, false).await?;
        if key.is_none() {
            // Rotated keys: read the JWKS once more.
            key = self.key(kid, alg, true).await?;
        }
        let key = key.ok_or_else(|| bad("no key of the provider matches the token's key id"))?;
        verify_with(&key, alg, input.as_bytes(), &sig)?;
        serde_json::from_slice(&decode(c)?).map_err(|_| bad("the claims are not JSON"))
    }

    async fn key(
        &self,
        kid: Option<&str>,
        alg: &str,
        reload: bool,
    ) -> Result<Option<Map<String, Value>>, OidcError> {
        if reload || self.keys.read().await.keys.is_empty() {
            let meta = self.metadata().await?;
            let jwks: Jwks = self.get_json(&meta.jwks_uri, "the key set").await?;
            *self.keys.write().await = jwks;
        }
        let keys = self.keys.read().await;
        let kty = key_type(alg);
        Ok(keys
            .keys
            .iter()
            .filter(|k| {
                k.get("use")
                    .and_then(Value::as_str)
                    .is_none_or(|u| u == "sig")
            })
            .filter(|k| k.get("kty").and_then(Value::as_str) == kty)
            .find(|k| kid.is_none_or(|id| k.get("kid").and_then(Value::as_str) == Some(id)))
            .cloned())
    }
}

/// `application/x-www-form-urlencoded` of a client credential (RFC 6749 §2.3.1).
fn form_urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|v| v.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// The JWK key type an algorithm needs.
fn key_type(alg: &str) -> Option<&'static str> {
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Some("RSA"),
        "ES256" | "ES384" => Some("EC"),
        "EdDSA" => Some("OKP"),
        _ => None,
    }
}

/// Verifies `sig` over `input` with JWK `key` under `alg`.
pub fn verify_with(
    key: &Map<String, Value>,
    alg: &str,
    input: &[u8],
    sig: &[u8],
) -> Result<(), OidcError> {
    let bad = |why: String| OidcError::Signature(why);
    let field = |name: &str| {
        key.get(name)
            .and_then(Value::as_str)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or_else(|| bad(format!("the key has no usable {name:?}")))
    };
    let ok = match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            let params: &signature::RsaParameters = match alg {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                _ => &signature::RSA_PSS_2048_8192_SHA512,
            };
            let (n, e) = (field("n")?, field("e")?);
            RsaPublicKeyComponents { n: &n, e: &e }
                .verify(params, input, sig)
                .is_ok()
        }
        "ES256" | "ES384" => {
            let (want_crv, params) = if alg == "ES256" {
                ("P-256", &signature::ECDSA_P256_SHA256_FIXED)
            } else {
                ("P-384", &signature::ECDSA_P384_SHA384_FIXED)
            };
            if key.get("crv").and_then(Value::as_str) != Some(want_crv) {
                return Err(bad(format!("{alg} needs a {want_crv} key")));
            }
            let mut point = vec![4u8];
            point.extend(field("x")?);
            point.extend(field("y")?);
            UnparsedPublicKey::new(params, point)
                .verify(input, sig)
                .is_ok()
        }
        "EdDSA" => {
            if key.get("crv").and_then(Value::as_str) != Some("Ed25519") {
                return Err(bad("EdDSA needs an Ed25519 key".into()));
            }
            UnparsedPublicKey::new(&signature::ED25519, field("x")?)
                .verify(input, sig)
                .is_ok()
        }
        other => return Err(bad(format!("algorithm {other:?} is not accepted"))),
    };
    if ok {
        Ok(())
    } else {
        Err(bad("the signature is wrong".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
    use serde_json::json;

    fn jwk(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn ed25519_and_p256_signatures_verify_and_tampering_is_caught() {
        let rng = SystemRandom::new();
        let ed = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref())
            .unwrap();
        let ed_jwk =
            jwk(json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().as_ref())}));
        let sig = ed.sign(b"h.c");
        assert!(verify_with(&ed_jwk, "EdDSA", b"h.c", sig.as_ref()).is_ok());
        assert!(verify_with(&ed_jwk, "EdDSA", b"h.x", sig.as_ref()).is_err());
        assert!(verify_with(&ed_jwk, "HS256", b"h.c", sig.as_ref()).is_err());
        assert!(verify_with(&ed_jwk, "none", b"h.c", b"").is_err());

        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let ec = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        let point = ec.public_key().as_ref();
        let ec_jwk = jwk(json!({
            "kty": "EC", "crv": "P-256",
            "x": b64(&point[1..33]), "y": b64(&point[33..65])
        }));
        let sig = ec.sign(&rng, b"h.c").unwrap();
        assert!(verify_with(&ec_jwk, "ES256", b"h.c", sig.as_ref()).is_ok());
        assert!(verify_with(&ec_jwk, "ES256", b"h.d", sig.as_ref()).is_err());
        assert!(verify_with(&ec_jwk, "ES384", b"h.c", sig.as_ref()).is_err());
    }

    #[test]
    fn a_flow_survives_its_cookie() {
        let flow = Flow {
            state: "s1".into(),
            nonce: "n1".into(),
            verifier: "v1".into(),
            next: "/console/releases/rel_1?x=1".into(),
            fresh: true,
            started_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        };
        assert_eq!(Flow::from_cookie(&flow.to_cookie()), Some(flow));
        assert_eq!(Flow::from_cookie("a.b"), None);
    }

    #[test]
    fn a_configuration_that_cannot_work_is_refused() {
        let good = OidcConfig {
            issuer: "https://idp.example.com/realms/x".into(),
            client_id: "countersign".into(),
            client_secret: None,
            redirect_url: "https://cs.example.com/console/oidc/callback".into(),
            scopes: default_scopes(),
            groups_claim: None,
            group_roles: BTreeMap::new(),
            provision: false,
            display_name: None,
        };
        assert!(good.validate().is_ok());
        assert_eq!(good.provider_name(), "idp.example.com");
        let bad = OidcConfig {
            redirect_url: "https://cs.example.com/callback".into(),
            ..good.clone()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("/console/oidc/callback"));
        let bad = OidcConfig {
            issuer: "idp.example.com".into(),
            ..good
        };
        assert!(bad.validate().is_err());
    }
}
