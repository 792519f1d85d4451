//! Sealing secrets stored in the database (endpoint passwords) with AES-256-GCM, so a copy of the
//! database alone does not reveal them. The key comes from the `secret_key` setting, or is
//! generated once per deployment (see the binary's wiring).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// Format tag of sealed values, so the scheme can change without guessing.
const PREFIX: &str = "v1:";

#[derive(Debug, thiserror::Error)]
#[error("a stored secret cannot be opened (was `secret_key` changed?)")]
pub struct SealError;

/// Seals and opens secrets with one key.
pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// A sealer whose key is derived from `secret` (any string of at least 16 characters, from
    /// configuration or generated).
    pub fn new(secret: &str) -> Sealer {
        let digest = Sha256::digest(secret.as_bytes());
        let key = UnboundKey::new(&AES_256_GCM, &digest).expect("a 32-byte key fits AES-256");
        Sealer { key: LessSafeKey::new(key) }
    }

    /// A new random secret, for a deployment that configured none.
    pub fn generate_secret() -> String {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
        STANDARD.encode(bytes)
    }

    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("system randomness");
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("sealing cannot fail on a valid key");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<String, SealError> {
        let raw = sealed.strip_prefix(PREFIX).and_then(|b| STANDARD.decode(b).ok()).ok_or(SealError)?;
        if raw.len() < NONCE_LEN {
            return Err(SealError);
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError)?;
        let mut data = data.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::empty(), &mut data).map_err(|_| SealError)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key() {
        let sealer = Sealer::new("a secret of enough length");
        let sealed = sealer.seal("p4ssw0rd");
        assert!(!sealed.contains("p4ssw0rd"));
        assert_ne!(sealed, sealer.seal("p4ssw0rd"), "every sealing uses a fresh nonce");
        assert_eq!(sealer.open(&sealed).unwrap(), "p4ssw0rd");
        assert!(Sealer::new("another secret, same length").open(&sealed).is_err());
        assert!(sealer.open("v1:AAAA").is_err());
        assert!(sealer.open("plain").is_err());
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(sealer.open(&String::from_utf8(tampered).unwrap()).is_err());
    }
}
