//! Who is calling and what they may do: local users (argon2id), login throttling, registry tokens
//! and Harbor's role policy. The registry (`/v2/`, `/service/token`) and the API (`/api/v2.0`)
//! both decide through [`Auth`], so they cannot disagree.

pub mod password;
pub mod policy;
pub mod time;
pub mod token;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_meta::{Meta, MetaError, User};
use sha2::{Digest, Sha256};

pub use policy::{Permission, ProjectAccess, Role};
pub use token::{Claims, TokenError, TokenKeys};

/// Consecutive failed logins after which an account is locked for [`LOCK_DURATION`].
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const LOCK_DURATION: Duration = Duration::from_secs(5 * 60);

/// How long a verified Basic credential is remembered, so registry clients that send it with
/// every request do not pay an argon2 verification per blob.
const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(60);
const CREDENTIAL_CACHE_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong user name or password, or a locked account: deliberately indistinguishable.
    #[error("invalid user name or password")]
    BadCredentials,
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    User(User),
}

impl Principal {
    pub fn user(&self) -> Option<&User> {
        match self {
            Principal::User(u) => Some(u),
            Principal::Anonymous => None,
        }
    }

    pub fn is_sysadmin(&self) -> bool {
        self.user().is_some_and(|u| u.sysadmin)
    }

    pub fn name(&self) -> &str {
        self.user().map(|u| u.username.as_str()).unwrap_or("")
    }
}

pub struct Auth {
    pub meta: Meta,
    pub keys: TokenKeys,
    /// `service` of issued tokens (their audience).
    pub service: String,
    pub token_lifetime: Duration,
    /// sha256(user:password) → (user id, password hash it was verified against, when).
    verified: Mutex<HashMap<[u8; 32], (i64, String, Instant)>>,
}

impl Auth {
    /// Loads (or creates, on first start) the token-signing key from the database.
    pub async fn new(meta: Meta, service: String, token_lifetime: Duration) -> Result<Auth, AuthError> {
        let (kid, pkcs8) = meta.signing_key(token::generate_key).await?;
        let keys = TokenKeys::from_pkcs8(kid, &pkcs8).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        Ok(Auth { meta, keys, service, token_lifetime, verified: Mutex::default() })
    }

    /// Checks a user name and password, with throttling: after [`MAX_FAILED_LOGINS`]
    /// consecutive failures the account refuses every password for [`LOCK_DURATION`].
    pub async fn login(&self, username: &str, password: &str) -> Result<User, AuthError> {
        let key: [u8; 32] =
            Sha256::new().chain_update(username).chain_update([0]).chain_update(password).finalize().into();
        let cached = self.verified.lock().expect("cache poisoned").get(&key).cloned();
        if let Some((id, hash, at)) = cached
            && at.elapsed() < CREDENTIAL_CACHE_TTL
            && let Some(user) = self.meta.user_by_id(id).await?
            && user.password_hash == hash
            && user.locked_until <= now()
        {
            return Ok(user);
        }
        let Some(user) = self.meta.user_by_name(username).await? else {
            // Same cost as a real check, so timing does not reveal which names exist.
            password::verify(&DUMMY_HASH, password);
            return Err(AuthError::BadCredentials);
        };
        if user.locked_until > now() {
            tracing::warn!(user = %username, "login refused: account locked after repeated failures");
            return Err(AuthError::BadCredentials);
        }
        if !password::verify(&user.password_hash, password) {
            let lock_until = now() + LOCK_DURATION.as_secs() as i64;
            self.meta.record_login_failure(user.id, MAX_FAILED_LOGINS, lock_until).await?;
            tracing::warn!(user = %username, "login failed");
            return Err(AuthError::BadCredentials);
        }
        self.meta.reset_login_failures(user.id).await?;
        let mut cache = self.verified.lock().expect("cache poisoned");
        if cache.len() >= CREDENTIAL_CACHE_MAX {
            cache.retain(|_, (_, _, at)| at.elapsed() < CREDENTIAL_CACHE_TTL);
        }
        cache.insert(key, (user.id, user.password_hash.clone(), Instant::now()));
        Ok(user)
    }

    /// What `principal` may do in project `project` (by name); `None` if there is no such project.
    pub async fn project_access(
        &self,
        principal: &Principal,
        project: &str,
    ) -> Result<Option<ProjectAccess>, AuthError> {
        let Some(p) = self.meta.project_by_name(project).await? else { return Ok(None) };
        Ok(Some(self.access_to(principal, p.id, p.public).await?))
    }

    /// What `principal` may do in the project `project_id`.
    pub async fn access_to(
        &self,
        principal: &Principal,
        project_id: i64,
        public: bool,
    ) -> Result<ProjectAccess, AuthError> {
        if principal.is_sysadmin() {
            return Ok(ProjectAccess::Admin);
        }
        if let Some(user) = principal.user()
            && let Some(role) = self.meta.member_role(project_id, user.id).await?.and_then(Role::from_id)
        {
            return Ok(ProjectAccess::Member(role));
        }
        Ok(if public { ProjectAccess::PublicReader } else { ProjectAccess::None })
    }

    /// Signs a token for `principal` granting `access`.
    pub fn issue_token(&self, principal: &Principal, access: Vec<token::Access>) -> (String, u64, u64) {
        let now = now() as u64;
        let lifetime = self.token_lifetime.as_secs();
        let claims = Claims {
            iss: token::ISSUER.to_owned(),
            sub: principal.name().to_owned(),
            aud: self.service.clone(),
            exp: now + lifetime,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            access,
        };
        (self.keys.sign(&claims), lifetime, now)
    }

    pub fn verify_token(&self, token: &str) -> Result<Claims, TokenError> {
        self.keys.verify(token, &self.service)
    }
}

/// A hash to verify against when the user does not exist.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| password::hash("no such user"));

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Parses an `Authorization: Basic` value into user name and password.
pub fn parse_basic(value: &str) -> Option<(String, String)> {
    use base64::Engine;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
