//! The one access check of every `/v2/` request, made before its handler runs: who is calling
//! (bearer token, Basic credentials or nobody) and whether the role policy lets them have the
//! scope the request's [`Endpoint`](crate::endpoint::Endpoint) needs. Refusals carry the
//! `WWW-Authenticate` challenge that sends clients to the token service.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::http::request::Parts;
use berth_auth::{Auth, AuthError, Claims, ClientOrigin, Principal};
use berth_meta::ProjectKey;
use berth_oci::RepoName;

use crate::error::RegistryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    /// The scope actions a client should ask the token service for.
    fn challenge_actions(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "pull,push",
            Action::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// `GET /v2/`: is the caller known at all?
    Base,
    /// `GET /v2/_catalog`.
    Catalog,
    Repository(&'a RepoName, Action),
}

impl Scope<'_> {
    fn challenge(&self) -> Option<String> {
        match self {
            Scope::Base => None,
            Scope::Catalog => Some("registry:catalog:*".to_owned()),
            Scope::Repository(name, action) => Some(format!("repository:{name}:{}", action.challenge_actions())),
        }
    }
}

/// Where an access decision gets the project of a repository scope from.
#[derive(Clone, Copy)]
pub(crate) enum ProjectLookup<'a> {
    /// The database, when the decision needs it.
    Load,
    /// The caller, who loaded it with what the request is after.
    Loaded(Option<&'a ProjectKey>),
}

impl<'a> ProjectLookup<'a> {
    async fn get(self, auth: &Auth, name: &str) -> Result<Option<Cow<'a, ProjectKey>>, RegistryError> {
        match self {
            ProjectLookup::Load => Ok(auth.meta.project_key(name).await?.map(Cow::Owned)),
            ProjectLookup::Loaded(key) => Ok(key.map(Cow::Borrowed)),
        }
    }
}

/// Who made a `/v2/` request.
enum Caller {
    Principal(Principal),
    Token(Claims),
}

#[derive(Clone)]
pub struct Access {
    auth: Arc<Auth>,
    external_url: Option<Arc<str>>,
}

impl Access {
    pub fn new(auth: Arc<Auth>, external_url: Option<&str>) -> Access {
        Access { auth, external_url: external_url.map(|u| u.trim_end_matches('/').into()) }
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Whether request `req` may have `scope`: for a check that only picks between two ways of
    /// serving a request already authorized (a mount from a repository the caller may read).
    pub(crate) async fn allows(&self, req: &Parts, scope: Scope<'_>) -> bool {
        self.authorize(req, scope, ProjectLookup::Load).await.is_ok()
    }

    /// Allows or refuses `scope` for request `req`, with the project of a repository scope from
    /// `project`; on success, the caller's name for the audit log (`anonymous` when nobody
    /// logged in).
    pub(crate) async fn authorize(
        &self,
        req: &Parts,
        scope: Scope<'_>,
        project: ProjectLookup<'_>,
    ) -> Result<String, RegistryError> {
        let caller = self.caller(req, &scope).await?;
        let allowed = match (&caller, scope) {
            (Caller::Principal(Principal::Anonymous), Scope::Base) => false,
            (_, Scope::Base) => true,
            (Caller::Token(c), Scope::Catalog) => c.grants("registry", "catalog", "*"),
            (Caller::Principal(p), Scope::Catalog) => p.is_sysadmin(),
            (Caller::Token(c), Scope::Repository(name, action)) => {
                c.grants("repository", name.as_str(), action.as_str())
            }
            (Caller::Principal(p), Scope::Repository(name, action)) => {
                let key = project.get(&self.auth, name.project()).await?;
                let access = match key.as_deref() {
                    Some(key) => Some(self.auth.access_to(p, key).await?),
                    None => None,
                };
                match access {
                    Some(access) => access.registry_actions().contains(&action.as_str()),
                    // A logged-in user learns the project is missing; anonymous callers are
                    // asked to log in, so project names do not leak.
                    None if p.is_authenticated() => {
                        return Err(RegistryError::new(
                            StatusCode::NOT_FOUND,
                            "NAME_UNKNOWN",
                            format!("project {} does not exist", name.project()),
                        ));
                    }
                    None => false,
                }
            }
        };
        if allowed {
            return Ok(match &caller {
                Caller::Principal(Principal::Anonymous) => "anonymous".to_owned(),
                Caller::Principal(p) => p.name().to_owned(),
                Caller::Token(c) if c.sub.is_empty() => "anonymous".to_owned(),
                Caller::Token(c) => c.sub.clone(),
            });
        }
        match caller {
            Caller::Principal(Principal::Anonymous) => Err(self.challenge(
                req,
                &scope,
                RegistryError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "authentication required"),
                None,
            )),
            Caller::Token(_) if self.missing_project(&scope, project).await? => Err(RegistryError::new(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                format!("project {} does not exist", scope_project(&scope).unwrap_or_default()),
            )),
            Caller::Token(_) => Err(self.challenge(
                req,
                &scope,
                RegistryError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "the token does not grant this access"),
                Some("insufficient_scope"),
            )),
            Caller::Principal(Principal::User(_) | Principal::Robot(_)) => {
                Err(RegistryError::new(StatusCode::FORBIDDEN, "DENIED", "requested access to the resource is denied"))
            }
        }
    }

    /// Whether `scope` names a repository whose project does not exist (to say so, rather than
    /// that the token falls short).
    async fn missing_project(&self, scope: &Scope<'_>, lookup: ProjectLookup<'_>) -> Result<bool, RegistryError> {
        match scope_project(scope) {
            Some(project) => Ok(lookup.get(&self.auth, project).await?.is_none()),
            None => Ok(false),
        }
    }

    async fn caller(&self, req: &Parts, scope: &Scope<'_>) -> Result<Caller, RegistryError> {
        let headers = &req.headers;
        let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Ok(Caller::Principal(Principal::Anonymous));
        };
        let unauthorized = |message: &str, error: Option<&str>| {
            self.challenge(req, scope, RegistryError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message), error)
        };
        if let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) {
            return match self.auth.verify_token(token.trim()) {
                Ok(claims) => Ok(Caller::Token(claims)),
                // Why (a parser's words, naming its internals) is for the log, not the caller.
                Err(e) => {
                    tracing::debug!(error = %e, "bearer token refused");
                    Err(unauthorized("invalid token", Some("invalid_token")))
                }
            };
        }
        let Some((user, password)) = berth_auth::parse_basic(value) else {
            return Err(unauthorized("unsupported Authorization header", None));
        };
        let origin = ClientOrigin::of(req);
        match self.auth.login(&user, &password, &origin).await {
            Ok(principal) => Ok(Caller::Principal(principal)),
            Err(AuthError::BadCredentials) => Err(unauthorized("invalid user name or password", None)),
            Err(e) => Err(e.into()),
        }
    }

    /// Adds the `WWW-Authenticate: Bearer` challenge pointing at the token service.
    fn challenge(&self, req: &Parts, scope: &Scope<'_>, error: RegistryError, kind: Option<&str>) -> RegistryError {
        let mut value =
            format!("Bearer realm=\"{}/service/token\",service=\"{}\"", self.base_url(req), self.auth.service);
        if let Some(scope) = scope.challenge() {
            value.push_str(&format!(",scope=\"{scope}\""));
        }
        if let Some(kind) = kind {
            value.push_str(&format!(",error=\"{kind}\""));
        }
        error.with_header("www-authenticate", value)
    }

    /// `external_url` when configured; otherwise the scheme and host the client used (as the
    /// server resolved them: behind a trusted proxy, the proxy's).
    fn base_url(&self, req: &Parts) -> String {
        match &self.external_url {
            Some(url) => url.to_string(),
            None => ClientOrigin::of(req).base_url(),
        }
    }
}

fn scope_project<'a>(scope: &Scope<'a>) -> Option<&'a str> {
    match scope {
        Scope::Repository(name, _) => Some(name.project()),
        _ => None,
    }
}
