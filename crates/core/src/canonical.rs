//! Canonical JSON encoding and sha256 digests.
//!
//! The canonical form is the one every digest in countersign is computed over
//! (bundle digests, ledger payload digests, profile digests):
//!
//! * UTF-8, no insignificant whitespace;
//! * object keys sorted by their UTF-8 bytes, each key once;
//! * strings escaped as `serde_json` escapes them (`"`, `\`, control characters);
//! * numbers as `serde_json` prints them (integers in decimal, floats shortest round-trip);
//! * arrays keep their order (callers that mean a set sort it first).
//!
//! It is stable across runs and machines because nothing in it depends on hash
//! order or locale.

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// Encodes a value in canonical JSON (see the module docs).
pub fn to_canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    // Keys are sorted here rather than relied on from `Value`'s map type:
    // another crate in the build (cedar-policy) turns on serde_json's
    // `preserve_order`, which makes `Value` objects keep insertion order.
    let v = serde_json::to_value(value)?;
    let mut out = Vec::with_capacity(128);
    write_canonical(&v, &mut out)?;
    Ok(out)
}

fn write_canonical(v: &serde_json::Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)?;
                out.push(b':');
                if let Some(inner) = map.get(k) {
                    write_canonical(inner, out)?;
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

/// A sha256 digest written as `sha256:<64 lowercase hex>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The digest of some bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The digest of a value's canonical JSON encoding.
    pub fn of_canonical<T: Serialize>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::of(&to_canonical_json(value)?))
    }

    /// The all-zero digest, used as the previous hash of the first ledger entry.
    pub fn zero() -> Self {
        Self(format!("sha256:{}", "0".repeat(64)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex characters after `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }
}

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest must be `sha256:` followed by 64 lowercase hex characters, got {got:?}")]
pub struct DigestParseError {
    pub got: String,
}

impl FromStr for Digest {
    type Err = DigestParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == 71
            && s.starts_with("sha256:")
            && s[7..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DigestParseError {
                got: s.chars().take(80).collect(),
            })
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let a = json!({"b": 1, "a": {"z": [3, 1], "y": "x"}});
        let bytes = to_canonical_json(&a).unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"a":{"y":"x","z":[3,1]},"b":1}"#
        );
    }

    #[test]
    fn canonical_json_sorts_struct_fields_whatever_serde_json_features_are_on() {
        // Field order in the struct is b, a; preserve_order (turned on by
        // cedar-policy) would keep it, the canonical form must not.
        #[derive(Serialize)]
        struct S {
            b: u8,
            a: Vec<u8>,
            nested: std::collections::BTreeMap<String, u8>,
        }
        let s = S {
            b: 1,
            a: vec![2],
            nested: [("z".to_owned(), 1), ("m".to_owned(), 2)]
                .into_iter()
                .collect(),
        };
        let bytes = to_canonical_json(&s).unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"a":[2],"b":1,"nested":{"m":2,"z":1}}"#
        );
    }

    #[test]
    fn digest_is_stable_and_known() {
        // sha256 of the empty string, a published test vector.
        assert_eq!(
            Digest::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn digest_parse_rejects_bad_forms() {
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "A".repeat(64))
            .parse::<Digest>()
            .is_err());
        assert!(format!("md5:{}", "a".repeat(64)).parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "a".repeat(64))
            .parse::<Digest>()
            .is_ok());
    }
}
