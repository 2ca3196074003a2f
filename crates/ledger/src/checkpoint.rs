//! Signed checkpoints: an ed25519 signature over a chain head.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use countersign_core::canonical::Digest;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Head, LedgerError, VerifyError, VerifyErrorKind};

/// The domain separator every checkpoint message starts with.
pub(crate) const CHECKPOINT_DOMAIN: &[u8] = b"countersign-checkpoint-v1\0";

/// The private key that signs checkpoints.
///
/// Its `Debug` shows only the key id, never the secret.
#[derive(Clone)]
pub struct LedgerKey(SigningKey);

impl LedgerKey {
    /// A new random key.
    pub fn generate<R: CryptoRngCore + ?Sized>(rng: &mut R) -> Self {
        Self(SigningKey::generate(rng))
    }

    /// The key with this 32-byte ed25519 secret (seed).
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }

    /// The 32-byte ed25519 secret (seed); keep it secret.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half, which verifiers are given.
    pub fn public(&self) -> LedgerPublicKey {
        LedgerPublicKey(self.0.verifying_key())
    }

    /// Signs a chain head.
    pub fn sign_head(&self, head: &Head) -> SignedHead {
        let signature = self.0.sign(&checkpoint_message(head.seq, &head.hash));
        SignedHead {
            seq: head.seq,
            hash: head.hash.clone(),
            key_id: self.public().key_id(),
            signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        }
    }
}

impl fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerKey").field("key_id", &self.public().key_id()).finish_non_exhaustive()
    }
}

/// The public key that verifies checkpoints; on the wire, base64url without padding of its 32 bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LedgerPublicKey(VerifyingKey);

impl LedgerPublicKey {
    /// First 16 lowercase hex characters of sha256 of the 32 key bytes.
    pub fn key_id(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        hex::encode(&digest[..8])
    }

    /// The 32 key bytes as base64url without padding (43 characters).
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    /// Reads a key written by [`LedgerPublicKey::to_base64`].
    pub fn from_base64(s: &str) -> Result<Self, LedgerError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|source| LedgerError::PublicKeyEncoding { source })?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| LedgerError::PublicKeyLength { len: bytes.len() })?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|source| LedgerError::PublicKeyInvalid { source })
    }

    /// Checks a signed head was signed by this key, and returns the head it vouches for.
    ///
    /// Errors carry the signed head's seq and [`VerifyErrorKind::UnknownKey`] when the
    /// head names another key, or [`VerifyErrorKind::BadSignature`] when the signature
    /// is malformed or does not verify.
    pub fn verify(&self, signed: &SignedHead) -> Result<Head, VerifyError> {
        let fail = |kind| VerifyError { seq: signed.seq, kind };
        if signed.key_id != self.key_id() {
            return Err(fail(VerifyErrorKind::UnknownKey));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(&signed.signature)
            .map_err(|_| fail(VerifyErrorKind::BadSignature))?;
        let bytes: [u8; 64] =
            bytes.as_slice().try_into().map_err(|_| fail(VerifyErrorKind::BadSignature))?;
        let signature = Signature::from_bytes(&bytes);
        // Strict verification rejects weak keys and malleable (non-canonical) signatures.
        self.0
            .verify_strict(&checkpoint_message(signed.seq, &signed.hash), &signature)
            .map_err(|_| fail(VerifyErrorKind::BadSignature))?;
        Ok(signed.head())
    }
}

impl fmt::Debug for LedgerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LedgerPublicKey").field(&self.to_base64()).finish()
    }
}

impl TryFrom<String> for LedgerPublicKey {
    type Error = LedgerError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::from_base64(&s)
    }
}

impl From<LedgerPublicKey> for String {
    fn from(k: LedgerPublicKey) -> Self {
        k.to_base64()
    }
}

/// A chain head signed by a ledger key: a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    /// The last entry's seq at the checkpoint.
    pub seq: u64,
    /// The last entry's hash at the checkpoint.
    pub hash: Digest,
    /// [`LedgerPublicKey::key_id`] of the signing key.
    pub key_id: String,
    /// The ed25519 signature (64 bytes) as base64url without padding.
    pub signature: String,
}

impl SignedHead {
    /// The head this checkpoint claims (check it with [`LedgerPublicKey::verify`] first).
    pub fn head(&self) -> Head {
        Head { seq: self.seq, hash: self.hash.clone() }
    }
}

/// The bytes a checkpoint signature covers (see the crate docs).
pub(crate) fn checkpoint_message(seq: u64, hash: &Digest) -> Vec<u8> {
    let hash = hash.as_str().as_bytes();
    let mut out = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 8 + hash.len());
    out.extend_from_slice(CHECKPOINT_DOMAIN);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(hash);
    out
}
