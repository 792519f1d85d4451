//! Browser sessions, as Harbor's portal uses them: `POST /c/login` (form `principal`,
//! `password`) sets the `sid` cookie; state-changing API calls made with that cookie must carry
//! the session's `X-Harbor-CSRF-Token`; `/c/log_out` ends the session. Sessions live in the
//! database, so any instance serves any user.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use berth_auth::SESSION_COOKIE;

use crate::ApiState;
use crate::error::ApiError;

pub(crate) const CSRF_HEADER: &str = "x-harbor-csrf-token";

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    principal: String,
    password: String,
}

/// The session cookie's value in `headers`.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    berth_auth::session_cookie(headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()))
}

pub(crate) async fn login(
    State(state): State<ApiState>,
    from: crate::caller::ClientIp,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) = form.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if form.principal.starts_with(berth_auth::robots::PREFIX) {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "robot accounts cannot log in to the portal"));
    }
    let principal = state.auth.login(&form.principal, &form.password, &from.ip, from.client).await?;
    let user = principal.user().ok_or_else(ApiError::unauthorized)?;
    let (token, csrf) = state.auth.open_session(user).await?;
    let secure =
        if state.settings.external_url.as_deref().is_some_and(|u| u.starts_with("https://")) { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        berth_auth::SESSION_LIFETIME.as_secs()
    );
    Ok((StatusCode::OK, [(header::SET_COOKIE, cookie), (header::HeaderName::from_static(CSRF_HEADER), csrf)])
        .into_response())
}

pub(crate) async fn logout(State(state): State<ApiState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_cookie(&headers) {
        state.auth.close_session(token).await?;
    }
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((StatusCode::OK, [(header::SET_COOKIE, expired)]).into_response())
}
