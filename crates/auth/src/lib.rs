//! Who is calling and what they may do: local users (argon2id), login throttling, registry tokens
//! and Harbor's role policy. The registry (`/v2/`, `/service/token`) and the API (`/api/v2.0`)
//! both decide through [`Auth`], so they cannot disagree.

mod hashing;
pub mod origin;
pub mod password;
pub mod policy;
pub mod robots;
pub mod throttle;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use berth_meta::time::now;
use berth_meta::{AuditEntry, Meta, MetaError, ProjectKey, User};
use sha2::{Digest, Sha256};

pub use berth_token as token;
pub use origin::ClientOrigin;
pub use policy::{Permission, ProjectAccess, Role};
pub use throttle::ClientAddr;
pub use token::{Claims, TokenError, TokenKeys};

/// How long a verified Basic credential is remembered, so registry clients that send it with
/// every request do not pay an argon2 verification per blob.
const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(60);
const CREDENTIAL_CACHE_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong user name or password, or no such account: deliberately indistinguishable.
    #[error("invalid user name or password")]
    BadCredentials,
    /// Too many failed logins for this name from this address: try again after the duration.
    #[error("too many failed logins from this address: try again in {} s", throttle::retry_after_secs(*.0))]
    Throttled(Duration),
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    User(User),
    Robot(robots::RobotIdentity),
}

impl Principal {
    pub fn user(&self) -> Option<&User> {
        match self {
            Principal::User(u) => Some(u),
            Principal::Anonymous | Principal::Robot(_) => None,
        }
    }

    /// Whether anyone at all is logged in (a user or a robot).
    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Principal::Anonymous)
    }

    pub fn is_sysadmin(&self) -> bool {
        self.user().is_some_and(|u| u.sysadmin)
    }

    pub fn name(&self) -> &str {
        match self {
            Principal::User(u) => &u.username,
            Principal::Robot(r) => &r.robot.name,
            Principal::Anonymous => "",
        }
    }
}

pub struct Auth {
    pub meta: Meta,
    pub keys: TokenKeys,
    /// `service` of issued tokens (their audience).
    pub service: String,
    /// How long issued tokens last, in seconds (`token_expiration`, changeable at run time).
    token_lifetime: AtomicU64,
    /// sha256(user:password) → (user id, password hash it was verified against, when).
    verified: Mutex<HashMap<[u8; 32], (i64, String, Instant)>>,
    hashing: hashing::Hashing,
}

impl Auth {
    /// Loads (or creates, on first start) the token-signing key from the database.
    pub async fn new(meta: Meta, service: String, token_lifetime: Duration) -> Result<Auth, AuthError> {
        let (kid, pkcs8) = meta.signing_key(token::generate_key).await?;
        let keys = TokenKeys::from_pkcs8(kid, &pkcs8).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        let token_lifetime = AtomicU64::new(token_lifetime.as_secs());
        // Made now, beside start-up, not on the first refused login: that one would take the
        // hash's time twice and tell it apart.
        tokio::task::spawn_blocking(|| std::sync::LazyLock::force(&DUMMY_HASH));
        Ok(Auth { meta, keys, service, token_lifetime, verified: Mutex::default(), hashing: hashing::Hashing::new() })
    }

    /// How long tokens issued from now on last.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.token_lifetime.store(lifetime.as_secs(), Ordering::Relaxed);
    }

    /// Checks a user name (or robot name) and password (or robot secret) sent from `origin`, under
    /// the login throttle (`throttle`), which counts failures by the origin's client address.
    #[tracing::instrument(name = "auth.login", skip_all)]
    pub async fn login(&self, username: &str, password: &str, origin: &ClientOrigin) -> Result<Principal, AuthError> {
        self.throttled(username, password, origin, self.check_login(username, password)).await
    }

    /// Checks a user's own password (the old one, when they change it), under the same throttle
    /// as their logins.
    pub async fn check_password(&self, user: &User, password: &str, origin: &ClientOrigin) -> Result<(), AuthError> {
        let check = async {
            if self.hashing.verify(&user.password_hash, password).await {
                Ok(())
            } else {
                Err(AuthError::BadCredentials)
            }
        };
        self.throttled(&user.username, password, origin, check).await
    }

    /// An argon2id hash of `password`, computed off the runtime's threads (see `hashing`).
    pub async fn hash_password(&self, password: &str) -> String {
        self.hashing.hash(password).await
    }

    /// Runs `check` of `password` for `username` unless this name is blocked from this client,
    /// counting its failure. Every refusal costs one argon2 verification, as a wrong password
    /// does: the time of an answer tells nothing about whether a name exists or is blocked.
    async fn throttled<T>(
        &self,
        username: &str,
        password: &str,
        origin: &ClientOrigin,
        check: impl Future<Output = Result<T, AuthError>>,
    ) -> Result<T, AuthError> {
        let source_ip = &origin.source_ip();
        let source = throttle::source_key(origin.client_addr());
        let since = now() - throttle::FORGET_AFTER.as_secs() as i64;
        let failures = self.meta.login_failures(username, &source, since).await?;
        if let Some(wait) = failures.and_then(|f| throttle::remaining(f.blocked_until, throttle::now_millis())) {
            self.hashing.verify(&DUMMY_HASH, password).await;
            self.audit_failure(username, source_ip).await?;
            tracing::warn!(user = %username, %source, retry_after_ms = wait.as_millis() as u64, "login throttled");
            return Err(AuthError::Throttled(wait));
        }
        match check.await {
            Err(AuthError::BadCredentials) => {
                self.audit_failure(username, source_ip).await?;
                let count = self.meta.record_login_failure(username, &source, since).await?;
                if let Some(delay) = throttle::delay(count) {
                    let until = throttle::now_millis() + delay.as_millis() as i64;
                    self.meta.block_login(username, &source, until).await?;
                    tracing::warn!(user = %username, %source, failures = count, block_s = delay.as_secs(), "login failed: throttling this name from this address");
                } else {
                    tracing::warn!(user = %username, %source, failures = count, "login failed");
                }
                Err(AuthError::BadCredentials)
            }
            Ok(passed) => {
                if failures.is_some() {
                    self.meta.clear_login_failures(username, &source).await?;
                }
                Ok(passed)
            }
            Err(e) => Err(e),
        }
    }

    async fn audit_failure(&self, username: &str, source_ip: &str) -> Result<(), AuthError> {
        let resource_type = if username.starts_with(robots::PREFIX) { "robot" } else { "user" };
        let entry = AuditEntry {
            project_id: None,
            username,
            resource: username,
            resource_type,
            operation: "login_failed",
            source_ip,
        };
        Ok(self.meta.audit(&entry).await?)
    }

    /// The credentials' principal: from the cache of verified ones when they are in it and still
    /// match the stored hash, else checked (and then cached).
    async fn check_login(&self, username: &str, password: &str) -> Result<Principal, AuthError> {
        let key: [u8; 32] =
            Sha256::new().chain_update(username).chain_update([0]).chain_update(password).finalize().into();
        if let Some(principal) = self.cached(&key, username).await? {
            return Ok(principal);
        }
        let principal = if username.starts_with(robots::PREFIX) {
            Principal::Robot(self.robot_login(username, password).await?)
        } else {
            Principal::User(self.user_login(username, password).await?)
        };
        let (id, hash) = match &principal {
            Principal::Robot(r) => (r.robot.id, r.robot.secret_hash.clone()),
            Principal::User(u) => (u.id, u.password_hash.clone()),
            Principal::Anonymous => unreachable!("a login yields a user or a robot"),
        };
        let mut cache = self.verified.lock().expect("cache poisoned");
        if cache.len() >= CREDENTIAL_CACHE_MAX {
            cache.retain(|_, (_, _, at)| at.elapsed() < CREDENTIAL_CACHE_TTL);
        }
        cache.insert(key, (id, hash, Instant::now()));
        Ok(principal)
    }

    async fn cached(&self, key: &[u8; 32], username: &str) -> Result<Option<Principal>, AuthError> {
        let cached = self.verified.lock().expect("cache poisoned").get(key).cloned();
        let Some((id, hash, _)) = cached.filter(|(_, _, at)| at.elapsed() < CREDENTIAL_CACHE_TTL) else {
            return Ok(None);
        };
        if username.starts_with(robots::PREFIX) {
            if let Some(robot) = self.meta.robot_by_id(id).await?
                && robot.secret_hash == hash
                && let Ok(identity) = robots::RobotIdentity::usable(robot)
            {
                return Ok(Some(Principal::Robot(identity)));
            }
        } else if let Some(user) = self.meta.user_by_id(id).await?
            && user.password_hash == hash
        {
            return Ok(Some(Principal::User(user)));
        }
        Ok(None)
    }

    async fn user_login(&self, username: &str, password: &str) -> Result<User, AuthError> {
        let Some(user) = self.meta.user_by_name(username).await? else {
            self.hashing.verify(&DUMMY_HASH, password).await;
            return Err(AuthError::BadCredentials);
        };
        if !self.hashing.verify(&user.password_hash, password).await {
            return Err(AuthError::BadCredentials);
        }
        Ok(user)
    }

    async fn robot_login(&self, name: &str, secret: &str) -> Result<robots::RobotIdentity, AuthError> {
        let Some(robot) = self.meta.robot_by_name(name).await? else {
            self.hashing.verify(&DUMMY_HASH, secret).await;
            return Err(AuthError::BadCredentials);
        };
        if !self.hashing.verify(&robot.secret_hash, secret).await {
            return Err(AuthError::BadCredentials);
        }
        robots::RobotIdentity::usable(robot).map_err(|why| {
            tracing::warn!(robot = %name, why, "robot login refused");
            AuthError::BadCredentials
        })
    }

    /// What `principal` may do in project `project` (by name); `None` if there is no such project.
    pub async fn project_access(
        &self,
        principal: &Principal,
        project: &str,
    ) -> Result<Option<ProjectAccess>, AuthError> {
        let Some(p) = self.meta.project_key(project).await? else { return Ok(None) };
        Ok(Some(self.access_to(principal, &p).await?))
    }

    /// What `principal` may do in the project `project_id`.
    pub async fn access_to(&self, principal: &Principal, project: &ProjectKey) -> Result<ProjectAccess, AuthError> {
        if principal.is_sysadmin() {
            return Ok(ProjectAccess::Admin);
        }
        match principal {
            Principal::User(user) => {
                if let Some(role) = self.meta.member_role(project.id, user.id).await?.and_then(Role::from_id) {
                    return Ok(ProjectAccess::Member(role));
                }
            }
            Principal::Robot(robot) => {
                let granted = robot.granted_in(&project.name);
                if !granted.is_empty() {
                    return Ok(ProjectAccess::Robot(granted));
                }
            }
            Principal::Anonymous => {}
        }
        Ok(if project.public { ProjectAccess::PublicReader } else { ProjectAccess::None })
    }

    /// Signs a token for `principal` granting `access`.
    #[tracing::instrument(name = "auth.issue_token", skip_all, fields(scopes = access.len()))]
    pub fn issue_token(&self, principal: &Principal, access: Vec<token::Access>) -> (String, u64, u64) {
        let now = now() as u64;
        let lifetime = self.token_lifetime.load(Ordering::Relaxed);
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

/// A hash to verify against when there is no real one to check (no such account, or blocked).
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| password::hash("no such user"));

/// Parses an `Authorization: Basic` value into user name and password.
pub fn parse_basic(value: &str) -> Option<(String, String)> {
    use base64::Engine;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// How long a browser session lasts after login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// The name of the browser session's cookie (Harbor's).
pub const SESSION_COOKIE: &str = "sid";

/// The session cookie's value among the values of a request's `Cookie` headers.
pub fn session_cookie<'a>(cookie_headers: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    cookie_headers
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

impl Auth {
    /// Opens a browser session for `user`: returns the cookie value and the CSRF token. Only the
    /// cookie's hash is stored.
    pub async fn open_session(&self, user: &User) -> Result<(String, String), AuthError> {
        let token = robots::generate_secret() + &robots::generate_secret();
        let csrf = robots::generate_secret();
        let expires_at = now() + SESSION_LIFETIME.as_secs() as i64;
        self.meta.create_session(&session_id(&token), user.id, &csrf, expires_at).await?;
        Ok((token, csrf))
    }

    /// The user and CSRF token of the session whose cookie value is `token`.
    pub async fn session(&self, token: &str) -> Result<Option<(User, String)>, AuthError> {
        let Some(session) = self.meta.session(&session_id(token)).await? else { return Ok(None) };
        Ok(self.meta.user_by_id(session.user_id).await?.map(|u| (u, session.csrf_token)))
    }

    pub async fn close_session(&self, token: &str) -> Result<(), AuthError> {
        Ok(self.meta.delete_session(&session_id(token)).await?)
    }
}

fn session_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
