//! Registry bearer tokens. The input is read twice: as a token a client sends (it must not verify
//! unless it carries a valid signature and valid claims), and, when it is JSON, as the claims of a
//! token signed with the fuzzer's key (what verifies must be what was signed, and verifying it
//! again, from the cache of verified tokens, must agree).

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_token::{Claims, ISSUER, TokenKeys};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// A P-256 key made for fuzzing (PKCS#8), signing nothing else. Fixed, so the committed seeds can
/// be tokens it signed.
pub const KEY_PKCS8: &[u8] = include_bytes!("token-key.p8");
pub const KID: &str = "fuzz";
pub const SERVICE: &str = "harbor-registry";
/// The clock skew `TokenKeys` tolerates.
const LEEWAY: u64 = 5;

struct Fixture {
    keys: TokenKeys,
    encoding: EncodingKey,
    public_key: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, KEY_PKCS8).expect("the fuzzing key");
        Fixture {
            keys: TokenKeys::from_pkcs8(KID.into(), KEY_PKCS8).expect("the fuzzing key"),
            encoding: EncodingKey::from_ec_der(KEY_PKCS8),
            public_key: pair.public_key().as_ref().to_vec(),
        }
    })
}

pub fn check(data: &[u8]) {
    let Some(text) = crate::text(data) else { return };
    check_presented(text);
    if let Ok(payload) = serde_json::from_str::<serde_json::Value>(text) {
        check_signed(&payload);
    }
}

/// The token as a client presents it.
fn check_presented(token: &str) {
    let before = now();
    let Ok(claims) = fixture().keys.verify(token, SERVICE) else { return };
    assert!(signature_checks_out(token), "{token:?} verified without the key's signature");
    check_claims(&claims, before, now());
}

/// Claims signed with the key: verified once in full, then again from the cache.
fn check_signed(payload: &serde_json::Value) {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KID.into());
    let token = jsonwebtoken::encode(&header, payload, &fixture().encoding).expect("signing with the fuzzing key");
    let before = now();
    let first = fixture().keys.verify(&token, SERVICE);
    let second = fixture().keys.verify(&token, SERVICE);
    let after = now();
    if let Ok(claims) = &first {
        check_claims(claims, before, after);
        let signed: Claims = serde_json::from_value(payload.clone()).expect("verified claims are Claims");
        assert_eq!(serde_json::to_value(claims).ok(), serde_json::to_value(signed).ok(), "verified what was signed");
    }
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(serde_json::to_value(a).ok(), serde_json::to_value(b).ok()),
        // Within one second the clock cannot explain a different answer.
        (Ok(_), Err(e)) | (Err(e), Ok(_)) if before == after => {
            panic!("{payload}: verifying again answered otherwise ({e})")
        }
        _ => {}
    }
}

/// What `verify` promises of the claims it returns, with the clock read before and after it.
fn check_claims(claims: &Claims, before: u64, after: u64) {
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, SERVICE);
    assert!(claims.exp >= before.saturating_sub(LEEWAY), "expired: {claims:?}");
    assert!(claims.nbf <= after + LEEWAY, "not yet valid: {claims:?}");
}

/// ES256 checked with aws-lc-rs directly, apart from jsonwebtoken.
fn signature_checks_out(token: &str) -> bool {
    let Some((message, signature)) = token.rsplit_once('.') else { return false };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return false };
    let key = aws_lc_rs::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &fixture().public_key);
    key.verify(message.as_bytes(), &signature).is_ok()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed signed with the fuzzing key reaches the checks of an accepted token, and the
    /// independent signature check tells it from a tampered copy.
    #[test]
    fn the_signed_seed_verifies() {
        let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/token/signed");
        let token = std::fs::read_to_string(seed).expect("the signed seed");
        assert!(fixture().keys.verify(&token, SERVICE).is_ok());
        assert!(signature_checks_out(&token));
        let tampered = token.replacen(".eyJ", ".eyK", 1);
        assert!(!signature_checks_out(&tampered));
        assert!(fixture().keys.verify(&tampered, SERVICE).is_err());
    }
}
