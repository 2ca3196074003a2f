//! Compact JWS/JWT with EdDSA (Ed25519), written out rather than pulled in: the only
//! algorithm accepted is `EdDSA`, so there is no algorithm confusion and no `none`.
//!
//! A token is `base64url(header) . base64url(claims) . base64url(signature)`, the
//! signature over the first two parts as ASCII (RFC 7515, RFC 8037). Public keys are
//! published as OKP/Ed25519 JWKs (RFC 8037 §2).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};

/// Why a token or key was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("not a compact JWS (three base64url parts)")]
    Malformed,
    #[error("the header or claims are not a JSON object")]
    NotJson,
    #[error("algorithm {0:?} is not accepted; only EdDSA")]
    Algorithm(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("not an Ed25519 public key (a JWK with kty OKP, crv Ed25519, or 32 bytes base64url)")]
    Key,
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `claims` with `key`, naming `kid` in the header.
pub fn sign(claims: &Map<String, Value>, kid: &str, key: &SigningKey) -> String {
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    // INVARIANT: JSON values always serialize.
    let h = b64(&serde_json::to_vec(&header).unwrap_or_default());
    let c = b64(&serde_json::to_vec(claims).unwrap_or_default());
    let input = format!("{h}.{c}");
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

/// A token split and decoded, its signature not yet checked.
#[derive(Clone, Debug)]
pub struct Unverified {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    input: String,
    signature: Signature,
}

impl Unverified {
    /// The `kid` header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// Checks the signature; the claims are trusted only after this.
    pub fn verify(self, key: &VerifyingKey) -> Result<Map<String, Value>, JwtError> {
        key.verify_strict(self.input.as_bytes(), &self.signature)
            .map_err(|_| JwtError::Signature)?;
        Ok(self.claims)
    }
}

fn object(part: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JwtError::NotJson),
    }
}

/// Splits and decodes a token; refuses any algorithm but EdDSA.
pub fn decode(token: &str) -> Result<Unverified, JwtError> {
    if token.len() > 16 * 1024 {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = object(h)?;
    match header.get("alg").and_then(Value::as_str) {
        Some("EdDSA") => {}
        other => return Err(JwtError::Algorithm(other.unwrap_or("").to_owned())),
    }
    let claims = object(c)?;
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(JwtError::Malformed)?;
    Ok(Unverified {
        header,
        claims,
        input: format!("{h}.{c}"),
        signature: Signature::from_bytes(&sig),
    })
}

/// Parses an Ed25519 public key given as an OKP JWK (JSON) or as base64url of the 32
/// raw bytes.
pub fn parse_public_key(s: &str) -> Result<VerifyingKey, JwtError> {
    let s = s.trim();
    let raw = if s.starts_with('{') {
        let jwk: Value = serde_json::from_str(s).map_err(|_| JwtError::Key)?;
        if jwk.get("kty").and_then(Value::as_str) != Some("OKP")
            || jwk.get("crv").and_then(Value::as_str) != Some("Ed25519")
        {
            return Err(JwtError::Key);
        }
        jwk.get("x")
            .and_then(Value::as_str)
            .ok_or(JwtError::Key)?
            .to_owned()
    } else {
        s.to_owned()
    };
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(JwtError::Key)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| JwtError::Key)
}

/// The public JWK for a key: OKP/Ed25519 with its `kid`.
pub fn jwk(kid: &str, key: &VerifyingKey) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.as_bytes()), "kid": kid, "alg": "EdDSA", "use": "sig"})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn claims() -> Map<String, Value> {
        let Value::Object(m) = json!({"sub": "agt_1", "exp": 100}) else {
            unreachable!()
        };
        m
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let t = sign(&claims(), "k1", &key(1));
        let u = decode(&t).unwrap();
        assert_eq!(u.kid(), Some("k1"));
        assert_eq!(u.verify(&key(1).verifying_key()).unwrap(), claims());
    }

    #[test]
    fn known_answer_rfc8037_key_encoding() {
        // RFC 8037 appendix A.1/A.2: the secret key d and public key x.
        let d = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap();
        let sk = SigningKey::from_bytes(&d.try_into().unwrap());
        let pk = sk.verifying_key();
        assert_eq!(
            b64(pk.as_bytes()),
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        );
        let jwk_text = jwk("k", &pk).to_string();
        assert_eq!(parse_public_key(&jwk_text).unwrap(), pk);
        assert_eq!(
            parse_public_key("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap(),
            pk
        );
        // RFC 8037 A.4: the signature over "Example of Ed25519 signing".
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let sig = sk.sign(input.as_bytes());
        assert_eq!(
            b64(&sig.to_bytes()),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }

    #[test]
    fn tampering_and_other_algorithms_are_refused() {
        let t = sign(&claims(), "k1", &key(1));
        // Another key.
        assert_eq!(
            decode(&t).unwrap().verify(&key(2).verifying_key()),
            Err(JwtError::Signature)
        );
        // Edited claims.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = b64(br#"{"sub":"agt_2","exp":100}"#);
        parts[1] = &forged;
        let forged = parts.join(".");
        assert_eq!(
            decode(&forged).unwrap().verify(&key(1).verifying_key()),
            Err(JwtError::Signature)
        );
        // alg none / HS256.
        let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(b"{}"));
        assert!(matches!(decode(&none), Err(JwtError::Algorithm(_))));
        let hs = format!("{}.{}.AAAA", b64(br#"{"alg":"HS256"}"#), b64(b"{}"));
        assert!(matches!(decode(&hs), Err(JwtError::Algorithm(_))));
        assert_eq!(decode("a.b").unwrap_err(), JwtError::Malformed);
        assert_eq!(decode("not a token").unwrap_err(), JwtError::Malformed);
    }

    #[test]
    fn public_keys_must_be_ed25519() {
        assert!(parse_public_key(r#"{"kty":"RSA","n":"x"}"#).is_err());
        assert!(parse_public_key(
            r#"{"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
        )
        .is_err());
        assert!(parse_public_key("too-short").is_err());
    }
}
