//! Password hashing (argon2id, PHC strings) and Harbor's password rules.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Hashes `password` with argon2id and a random salt.
pub fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with default parameters cannot fail")
        .to_string()
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn verify(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Harbor's rule: 8 to 128 characters with at least one uppercase letter, one lowercase letter and
/// one digit.
pub fn check_rules(password: &str) -> Result<(), &'static str> {
    let len = password.chars().count();
    let ok = (8..=128).contains(&len)
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(
            "the password must be 8 to 128 characters long with at least one uppercase letter, one lowercase letter and one number",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("Harbor12345");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&h, "Harbor12345"));
        assert!(!verify(&h, "Harbor12346"));
        assert!(!verify("not a hash", "Harbor12345"));
        assert_ne!(h, hash("Harbor12345"), "salted");
    }

    #[test]
    fn rules() {
        assert!(check_rules("Harbor12345").is_ok());
        for bad in ["Short1A", "alllowercase1", "ALLUPPER1", "NoDigitsHere", &format!("Aa1{}", "x".repeat(126))] {
            assert!(check_rules(bad).is_err(), "{bad}");
        }
    }
}
