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
pub struct LedgerKey(pub(crate) SigningKey);

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
        f.debug_struct("LedgerKey")
            .field("key_id", &self.public().key_id())
            .finish_non_exhaustive()
    }
}

/// The public key that verifies checkpoints; on the wire, base64url without padding of its 32 bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LedgerPublicKey(pub(crate) VerifyingKey);

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
        let fail = |kind| VerifyError {
            seq: signed.seq,
            kind,
        };
        if signed.key_id != self.key_id() {
            return Err(fail(VerifyErrorKind::UnknownKey));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(&signed.signature)
            .map_err(|_| fail(VerifyErrorKind::BadSignature))?;
        let bytes: [u8; 64] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| fail(VerifyErrorKind::BadSignature))?;
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
        f.debug_tuple("LedgerPublicKey")
            .field(&self.to_base64())
            .finish()
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
        Head {
            seq: self.seq,
            hash: self.hash.clone(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn kat_head() -> Head {
        Head {
            seq: 1,
            hash: "sha256:096fc04ae450e7a60cf9aa9ab4bbf45806b84f7e554899d24465608406304b3d"
                .parse()
                .unwrap(),
        }
    }

    #[test]
    fn known_answer_checkpoint() {
        // Ed25519 is deterministic, so the signature pins the message encoding.
        let key = LedgerKey::from_bytes(&[7; 32]);
        assert_eq!(
            key.public().to_base64(),
            "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw"
        );
        assert_eq!(key.public().key_id(), "fe812c12f3ab4ce6");
        let signed = key.sign_head(&kat_head());
        assert_eq!(
            signed.signature,
            "UTBBa97Q4aPuTro7weNZPVxTKG9hc6p9AynZl6x_5EVMNYxMcP_Ax-p2CFG3Kh5rZy1POQASdcXv3r_lh1lhAw"
        );
        let mut expected = b"countersign-checkpoint-v1\0".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        expected.extend_from_slice(kat_head().hash.as_str().as_bytes());
        assert_eq!(checkpoint_message(1, &kat_head().hash), expected);
    }

    #[test]
    fn signature_round_trip() {
        let key = LedgerKey::generate(&mut StdRng::seed_from_u64(1));
        let signed = key.sign_head(&kat_head());
        assert_eq!(signed.key_id, key.public().key_id());
        assert_eq!(key.public().verify(&signed).unwrap(), kat_head());
        // Through JSON and back, as a checkpoint is stored and exported.
        let json = serde_json::to_string(&signed).unwrap();
        let back: SignedHead = serde_json::from_str(&json).unwrap();
        assert_eq!(key.public().verify(&back).unwrap(), kat_head());
    }

    #[test]
    fn secret_key_round_trips_through_bytes() {
        let key = LedgerKey::generate(&mut StdRng::seed_from_u64(2));
        let again = LedgerKey::from_bytes(&key.to_bytes());
        assert_eq!(again.public(), key.public());
        assert_eq!(again.sign_head(&kat_head()), key.sign_head(&kat_head()));
    }

    #[test]
    fn generated_keys_differ() {
        let mut rng = StdRng::seed_from_u64(3);
        let a = LedgerKey::generate(&mut rng);
        let b = LedgerKey::generate(&mut rng);
        assert_ne!(a.public(), b.public());
        assert_ne!(a.public().key_id(), b.public().key_id());
    }

    #[test]
    fn any_change_to_a_signed_head_breaks_the_signature() {
        let key = LedgerKey::from_bytes(&[7; 32]);
        let signed = key.sign_head(&kat_head());
        let mut other_seq = signed.clone();
        other_seq.seq = 2;
        let mut other_hash = signed.clone();
        other_hash.hash = Digest::zero();
        let mut flipped = signed.clone();
        flipped.signature = URL_SAFE_NO_PAD.encode([0u8; 64]);
        let mut short = signed.clone();
        short.signature.truncate(40);
        let mut not_base64 = signed.clone();
        not_base64.signature = "!!".into();
        for bad in [other_seq, other_hash, flipped, short, not_base64] {
            let err = key.public().verify(&bad).unwrap_err();
            assert_eq!(err.kind, VerifyErrorKind::BadSignature, "{bad:?}");
            assert_eq!(err.seq, bad.seq);
        }
    }

    #[test]
    fn another_key_is_unknown_or_fails() {
        let real = LedgerKey::from_bytes(&[7; 32]);
        let forger = LedgerKey::from_bytes(&[9; 32]);
        let forged = forger.sign_head(&kat_head());
        assert_eq!(
            real.public().verify(&forged).unwrap_err().kind,
            VerifyErrorKind::UnknownKey
        );
        // A forger who copies the real key id still cannot make the signature verify.
        let mut disguised = forged;
        disguised.key_id = real.public().key_id();
        assert_eq!(
            real.public().verify(&disguised).unwrap_err().kind,
            VerifyErrorKind::BadSignature
        );
    }

    #[test]
    fn public_key_text_forms() {
        let public = LedgerKey::from_bytes(&[7; 32]).public();
        assert_eq!(
            LedgerPublicKey::from_base64(&public.to_base64()).unwrap(),
            public
        );
        let json = serde_json::to_string(&public).unwrap();
        assert_eq!(json, "\"6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw\"");
        assert_eq!(
            serde_json::from_str::<LedgerPublicKey>(&json).unwrap(),
            public
        );
        assert_eq!(
            format!("{public:?}"),
            "LedgerPublicKey(\"6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw\")"
        );

        assert!(matches!(
            LedgerPublicKey::from_base64("6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw="),
            Err(LedgerError::PublicKeyEncoding { .. })
        ));
        assert!(matches!(
            LedgerPublicKey::from_base64("6kpsY+KcUgq/9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw"),
            Err(LedgerError::PublicKeyEncoding { .. })
        ));
        assert!(matches!(
            LedgerPublicKey::from_base64(&URL_SAFE_NO_PAD.encode([1u8; 31])),
            Err(LedgerError::PublicKeyLength { len: 31 })
        ));
        assert!(serde_json::from_str::<LedgerPublicKey>("\"abc\"").is_err());
    }

    #[test]
    fn public_key_rejects_points_off_the_curve() {
        // Find 32 bytes that do not decompress to a curve point (about half do not).
        let bad = (0u8..=255)
            .map(|b| [b; 32])
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .unwrap();
        assert!(matches!(
            LedgerPublicKey::from_base64(&URL_SAFE_NO_PAD.encode(bad)),
            Err(LedgerError::PublicKeyInvalid { .. })
        ));
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let key = LedgerKey::from_bytes(&[7; 32]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "LedgerKey { key_id: \"fe812c12f3ab4ce6\", .. }");
    }
}
