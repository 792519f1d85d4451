//! Browser sessions, as Harbor's portal uses them: `POST /c/login` (form `principal`,
//! `password`) sets the `sid` cookie; state-changing API calls made with that cookie must carry
//! the session's `X-Harbor-CSRF-Token`; `POST /c/log_out`, with that token too, ends the session. Sessions live in the
//! database, so any instance serves any user.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use berth_auth::SESSION_COOKIE;

use crate::ApiState;
use crate::caller::Origin;
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
    Origin(origin): Origin,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) = form.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if form.principal.starts_with(berth_auth::robots::PREFIX) {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "robot accounts cannot log in to the portal"));
    }
    let principal = state.auth.login(&form.principal, &form.password, &origin).await?;
    let user = principal.user().ok_or_else(ApiError::unauthorized)?;
    let (token, csrf) = state.auth.open_session(user).await?;
    // Secure whenever the browser reaches Berth over https: as configured, or as this request came
    // (over TLS, or through a trusted proxy that terminated it).
    let https = origin.is_https() || state.settings.external_url.as_deref().is_some_and(|u| u.starts_with("https://"));
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        berth_auth::SESSION_LIFETIME.as_secs()
    );
    Ok((StatusCode::OK, [(header::SET_COOKIE, cookie), (header::HeaderName::from_static(CSRF_HEADER), csrf)])
        .into_response())
}

/// A state-changing request on a session must carry the session's CSRF token, or another site
/// could make the browser send it.
pub(crate) fn check_csrf(headers: &HeaderMap, csrf: &str) -> Result<(), ApiError> {
    if headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) == Some(csrf) {
        Ok(())
    } else {
        Err(ApiError::forbidden().with_message("missing or wrong X-Harbor-CSRF-Token for this session"))
    }
}

/// `POST /c/log_out` (only POST: a link must not sign anyone out), with the session's CSRF token.
pub(crate) async fn logout(State(state): State<ApiState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_cookie(&headers)
        && let Some((_, csrf)) = state.auth.session(token).await?
    {
        check_csrf(&headers, &csrf)?;
        state.auth.close_session(token).await?;
    }
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((StatusCode::OK, [(header::SET_COOKIE, expired)]).into_response())
}
