//! The caller of an API request, from Basic credentials (anonymous without).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use berth_auth::Principal;

use crate::ApiState;
use crate::error::ApiError;

/// The caller and their address (for the audit log).
pub(crate) struct Caller(pub Principal, pub String);

impl Caller {
    /// The logged-in user, or 401.
    pub fn user(&self) -> Result<&berth_meta::User, ApiError> {
        self.0.user().ok_or_else(ApiError::unauthorized)
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
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let ip = berth_auth::client_ip(forwarded, peer);
        let Some(value) = parts.headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Ok(Caller(Principal::Anonymous, ip));
        };
        let (user, password) =
            berth_auth::parse_basic(value).ok_or_else(|| ApiError::bad_request("unsupported Authorization header"))?;
        let principal = state.auth.login(&user, &password, &ip).await?;
        Ok(Caller(principal, ip))
    }
}
