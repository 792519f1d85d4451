//! The caller of an API request, from Basic credentials (anonymous without).

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use berth_auth::{ClientAddr, Principal};
use berth_content::Actor;

use crate::ApiState;
use crate::error::ApiError;

/// The caller and their address (for the audit log, and as the login throttle counts it).
pub(crate) struct Caller {
    pub principal: Principal,
    pub ip: String,
    pub client: Option<ClientAddr>,
}

impl Caller {
    /// The caller as the maker of changes, for their events.
    pub fn actor(&self) -> Actor {
        let username = match self.principal.name() {
            "" => "anonymous",
            name => name,
        };
        Actor { username: username.to_owned(), source_ip: self.ip.clone(), origin: None }
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
        let ClientIp { ip, client } = ClientIp::of(parts);
        let Some(value) = parts.headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return session_caller(parts, state, ip, client).await;
        };
        let (user, password) =
            berth_auth::parse_basic(value).ok_or_else(|| ApiError::bad_request("unsupported Authorization header"))?;
        let principal = state.auth.login(&user, &password, &ip, client).await?;
        Ok(Caller { principal, ip, client })
    }
}

/// The caller of a request without an `Authorization` header: the user of its session cookie,
/// or anonymous. A state-changing request on a session must carry the session's CSRF token.
async fn session_caller(
    parts: &Parts,
    state: &ApiState,
    ip: String,
    client: Option<ClientAddr>,
) -> Result<Caller, ApiError> {
    let anonymous = |ip| Caller { principal: Principal::Anonymous, ip, client };
    let Some(token) = crate::sessions::session_cookie(&parts.headers) else {
        return Ok(anonymous(ip));
    };
    let Some((user, csrf)) = state.auth.session(token).await? else {
        // An expired or unknown session is simply no session.
        return Ok(anonymous(ip));
    };
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let presented = parts.headers.get(crate::sessions::CSRF_HEADER).and_then(|v| v.to_str().ok());
    if !safe && presented != Some(csrf.as_str()) {
        return Err(ApiError::forbidden().with_message("missing or wrong X-Harbor-CSRF-Token for this session"));
    }
    Ok(Caller { principal: Principal::User(user), ip, client })
}

/// The client's address alone, for handlers that authenticate by themselves: as the audit log
/// records it, and as the limits layer determined it (`ClientAddr`, absent when the router runs
/// without it).
pub(crate) struct ClientIp {
    pub ip: String,
    pub client: Option<ClientAddr>,
}

impl ClientIp {
    fn of(parts: &Parts) -> ClientIp {
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let ip = berth_auth::client_ip(forwarded, peer);
        ClientIp { ip, client: parts.extensions.get::<ClientAddr>().copied() }
    }
}

impl FromRequestParts<ApiState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &ApiState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp::of(parts))
    }
}
