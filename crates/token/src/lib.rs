//! Registry bearer tokens (Docker token specification): ES256 JWTs whose `access` claim lists
//! what the bearer may do. The key pair is generated once and kept in the database, so every
//! instance signs and verifies with the same key.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Issuer named in every token.
pub const ISSUER: &str = "berth-token-issuer";

/// One entry of a token's `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user the token was issued to; empty for anonymous.
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    pub access: Vec<Access>,
}

impl Claims {
    /// Whether the token grants `action` on resource `kind:name` (`*` grants every action).
    pub fn grants(&self, kind: &str, name: &str, action: &str) -> bool {
        self.access
            .iter()
            .any(|a| a.kind == kind && a.name == name && a.actions.iter().any(|x| x == action || x == "*"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("stored signing key is unreadable")]
    BadKey,
    #[error("invalid token: {0}")]
    Invalid(String),
}

pub struct TokenKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// sha256(token) → its claims, for tokens whose signature checked out. Verifying an ES256
    /// signature costs tens of microseconds, more than the rest of a manifest pull; a client
    /// sends the same token with every request until it expires.
    verified: Mutex<HashMap<[u8; 32], Claims>>,
}

/// Past this many remembered tokens, expired ones are dropped (all of them if none has expired).
const VERIFIED_MAX: usize = 4096;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY: u64 = 5;

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// A new P-256 key: `(kid, pkcs8 document)`. The kid is derived from the public key.
pub fn generate_key() -> (String, Vec<u8>) {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .expect("P-256 key generation")
        .as_ref()
        .to_vec();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).expect("generated key parses");
    (kid_of(pair.public_key().as_ref()), pkcs8)
}

fn kid_of(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..12])
}

impl TokenKeys {
    pub fn from_pkcs8(kid: String, pkcs8: &[u8]) -> Result<TokenKeys, TokenError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(|_| TokenError::BadKey)?;
        Ok(TokenKeys {
            kid,
            encoding: EncodingKey::from_ec_der(pkcs8),
            decoding: DecodingKey::from_ec_der(pair.public_key().as_ref()),
            verified: Mutex::default(),
        })
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing with a valid key")
    }

    /// Verifies signature, expiry, not-before, issuer and audience (`service`). A token seen before
    /// skips the signature check (its bytes are what was checked), never the time checks.
    pub fn verify(&self, token: &str, service: &str) -> Result<Claims, TokenError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let known = self.verified.lock().expect("token cache poisoned").get(&key).cloned();
        if let Some(claims) = known
            && claims.aud == service
        {
            return in_force(claims, now());
        }
        let claims = self.verify_signed(token, service)?;
        let mut cache = self.verified.lock().expect("token cache poisoned");
        if cache.len() >= VERIFIED_MAX {
            let now = now();
            cache.retain(|_, c| not_expired_at(c, now));
            if cache.len() >= VERIFIED_MAX {
                cache.clear();
            }
        }
        cache.insert(key, claims.clone());
        Ok(claims)
    }

    fn verify_signed(&self, token: &str, service: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[service]);
        validation.set_issuer(&[ISSUER]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY;
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenError::Invalid("unknown signing key".into()));
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}

/// `claims` if they are valid at `now`, with the same leeway and messages as a full check.
fn in_force(claims: Claims, now: u64) -> Result<Claims, TokenError> {
    if !not_expired_at(&claims, now) {
        return Err(TokenError::Invalid("ExpiredSignature".into()));
    }
    if claims.nbf > now.saturating_add(LEEWAY) {
        return Err(TokenError::Invalid("ImmatureSignature".into()));
    }
    Ok(claims)
}

/// jsonwebtoken's rule: expired once `exp` lies more than the leeway in the past. Saturating, as
/// an `exp` near `u64::MAX` (the fuzzer signs any number) is far in the future, not an overflow.
fn not_expired_at(claims: &Claims, now: u64) -> bool {
    claims.exp.saturating_add(LEEWAY) >= now
}

/// Unix time in the unsigned seconds of JWT claims.
fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_offset: i64) -> Claims {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        Claims {
            iss: ISSUER.into(),
            sub: "alice".into(),
            aud: "harbor-registry".into(),
            exp: (now as i64 + exp_offset) as u64,
            nbf: now,
            iat: now,
            jti: "1".into(),
            access: vec![Access { kind: "repository".into(), name: "p/app".into(), actions: vec!["pull".into()] }],
        }
    }

    #[test]
    fn sign_verify_and_reject() {
        let (kid, pkcs8) = generate_key();
        let keys = TokenKeys::from_pkcs8(kid, &pkcs8).unwrap();
        let token = keys.sign(&claims(60));
        let c = keys.verify(&token, "harbor-registry").unwrap();
        assert!(c.grants("repository", "p/app", "pull"));
        assert!(!c.grants("repository", "p/app", "push"));
        assert!(!c.grants("repository", "p/other", "pull"));

        assert!(keys.verify(&token, "other-service").is_err(), "wrong audience");
        assert!(keys.verify(&keys.sign(&claims(-60)), "harbor-registry").is_err(), "expired");
        // Tampered payload: swap in a payload granting push.
        let mut forged = claims(60);
        forged.access[0].actions.push("push".into());
        let forged_payload = keys.sign(&forged).split('.').nth(1).unwrap().to_owned();
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert!(keys.verify(&tampered, "harbor-registry").is_err(), "tampered");
        // Signed by another key.
        let (kid2, pkcs82) = generate_key();
        let other = TokenKeys::from_pkcs8(kid2, &pkcs82).unwrap();
        assert!(keys.verify(&other.sign(&claims(60)), "harbor-registry").is_err(), "foreign key");
    }

    #[test]
    fn a_remembered_token_is_still_checked_for_time_and_audience() {
        let (kid, pkcs8) = generate_key();
        let keys = TokenKeys::from_pkcs8(kid, &pkcs8).unwrap();
        let token = keys.sign(&claims(60));
        for _ in 0..2 {
            assert_eq!(keys.verify(&token, "harbor-registry").unwrap().sub, "alice");
        }
        assert!(keys.verify(&token, "other-service").is_err(), "wrong audience, though remembered");
        let remembered = keys.verified.lock().unwrap().values().next().cloned().unwrap();
        let now = remembered.nbf;
        assert!(in_force(remembered.clone(), now + 60 + LEEWAY).is_ok());
        assert!(in_force(remembered.clone(), now + 60 + LEEWAY + 1).is_err(), "expired while remembered");
        assert!(in_force(remembered, now - LEEWAY - 1).is_err(), "not yet valid");
    }

    /// The cache answers as the full check does at the edge of the leeway (they differed by one
    /// second there, seen while writing the fuzz check that a second verification agrees), and an
    /// `exp` at the end of time does not overflow (fuzz/regressions/token/exp-at-u64-max).
    #[test]
    fn a_remembered_token_expires_when_a_new_one_would() {
        let (kid, pkcs8) = generate_key();
        let keys = TokenKeys::from_pkcs8(kid, &pkcs8).unwrap();
        let verify_twice = |claims: &Claims| {
            let token = keys.sign(claims);
            (keys.verify(&token, "harbor-registry").is_ok(), keys.verify(&token, "harbor-registry").is_ok())
        };
        // The edge moves with the clock: retry if a second began between the two checks.
        let answers = (0..5)
            .find_map(|_| {
                let before = now();
                let answers = verify_twice(&claims(-(LEEWAY as i64)));
                (now() == before).then_some(answers)
            })
            .expect("a second without a tick");
        assert_eq!(answers, (true, true), "at exp + leeway, the full check and the cache both accept");
        let mut forever = claims(0);
        forever.exp = u64::MAX;
        assert_eq!(verify_twice(&forever), (true, true));
        let remembered = keys.verified.lock().unwrap().values().find(|c| c.exp == u64::MAX).cloned().unwrap();
        assert!(in_force(remembered, u64::MAX).is_ok());
    }
}
