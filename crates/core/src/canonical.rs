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
    // serde_json's `Value` keeps objects in a BTreeMap (the `preserve_order`
    // feature is off in this workspace), so a round trip through `Value` sorts keys.
    let v = serde_json::to_value(value)?;
    serde_json::to_vec(&v)
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
