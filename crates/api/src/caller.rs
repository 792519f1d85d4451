//! The caller of an API request, from Basic credentials (anonymous without).

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use berth_auth::{ClientOrigin, Principal};
use berth_content::Actor;

use crate::ApiState;
use crate::error::ApiError;

/// The caller and where the request came from (for the audit log and the login throttle).
pub(crate) struct Caller {
    pub principal: Principal,
    pub origin: ClientOrigin,
}

impl Caller {
    /// The caller as the maker of changes, for their events.
    pub fn actor(&self) -> Actor {
        let username = match self.principal.name() {
            "" => "anonymous",
            name => name,
        };
        Actor { username: username.to_owned(), source_ip: self.origin.source_ip(), origin: None }
    }

    /// The logged-in user, or 401.
    pub fn user(&self) -> Result<&berth_meta::User, ApiError> {
        self.principal.user().ok_or_else(ApiError::unauthorized)
    }

    /// 401 for anonymous callers, 403 for users who are not system administrators.
    pub fn require_sysadmin(&self) -> Result<&berth_meta::User, ApiError> {
        let user = self.user()?;
        if user.sysadmin { Ok(user) } else { Err(ApiError::forbidden()) }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let origin = ClientOrigin::of(parts);
        let Some(value) = parts.headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return session_caller(parts, state, origin).await;
        };
        let (user, password) =
            berth_auth::parse_basic(value).ok_or_else(|| ApiError::bad_request("unsupported Authorization header"))?;
        let principal = state.auth.login(&user, &password, &origin).await?;
        Ok(Caller { principal, origin })
    }
}

/// The caller of a request without an `Authorization` header: the user of its session cookie,
/// or anonymous. A state-changing request on a session must carry the session's CSRF token.
async fn session_caller(parts: &Parts, state: &ApiState, origin: ClientOrigin) -> Result<Caller, ApiError> {
    let anonymous = |origin| Caller { principal: Principal::Anonymous, origin };
    let Some(token) = crate::sessions::session_cookie(&parts.headers) else {
        return Ok(anonymous(origin));
    };
    let Some((user, csrf)) = state.auth.session(token).await? else {
        // An expired or unknown session is simply no session.
        return Ok(anonymous(origin));
    };
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        crate::sessions::check_csrf(&parts.headers, &csrf)?;
    }
    Ok(Caller { principal: Principal::User(user), origin })
}

/// Where the request came from ([`ClientOrigin`], as the server resolved it): for handlers that
/// authenticate by themselves, or answer with this server's URL.
pub(crate) struct Origin(pub ClientOrigin);

impl FromRequestParts<ApiState> for Origin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &ApiState) -> Result<Self, Self::Rejection> {
        Ok(Origin(ClientOrigin::of(parts)))
    }
}
