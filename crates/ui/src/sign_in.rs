//! Signing in and out, and the signed-in user's own account.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use berth_api_types::{GeneralInfo, PasswordReq, UserResp};
use serde::Deserialize;

use crate::Portal;
use crate::api::NO_BODY;
use crate::format;
use crate::page::{self, Chrome, Fields, PageError, form_urlencoded};
use crate::viewer::{Posted, Viewer};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignIn {
    error: Option<String>,
    notice: Option<String>,
    principal: String,
    redirect_url: String,
    sign_up: bool,
}

/// Whether people may create their own accounts (`self_registration`).
async fn self_registration(portal: &Portal, viewer: &Viewer) -> Result<bool, PageError> {
    Ok(portal.api.get::<GeneralInfo>(viewer, "/systeminfo").await?.self_registration.unwrap_or(false))
}

#[derive(Deserialize)]
pub(crate) struct Back {
    redirect_url: Option<String>,
    /// Set after signing up: who, to greet them and fill in the name.
    signed_up: Option<String>,
}

/// Where to go after signing in: only a portal page of this server.
fn safe_redirect(url: Option<&str>) -> String {
    match url {
        Some(u)
            if u.starts_with("/harbor/")
                && !u.starts_with("/harbor/sign-")
                && !u.contains("..")
                && !u.contains("//")
                && !u.contains('\\') =>
        {
            u.to_owned()
        }
        _ => "/harbor/projects".to_owned(),
    }
}

pub(crate) async fn form(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(back): Query<Back>,
) -> Result<Response, PageError> {
    let redirect_url = safe_redirect(back.redirect_url.as_deref());
    if viewer.user.is_some() {
        return page::see(redirect_url);
    }
    let sign_up = self_registration(&portal, &viewer).await?;
    let notice = back.signed_up.as_ref().map(|_| "Your account is ready: sign in with it.".to_owned());
    let principal = back.signed_up.unwrap_or_default();
    page::ok(&SignIn { error: None, notice, principal, redirect_url, sign_up })
}

pub(crate) async fn submit(
    State(portal): State<Portal>,
    viewer: Viewer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let (principal, password) = (fields.get("principal").to_owned(), fields.raw("password"));
    let redirect_url = safe_redirect(Some(fields.get("redirect_url")));
    let body = format!("principal={}&password={}", form_urlencoded(&principal), form_urlencoded(password));
    let status = match portal.api.login(&viewer, body).await {
        Ok(reply) => return Ok(redirect_passing_cookies(&redirect_url, &reply.headers)),
        Err(refusal) => refusal.status,
    };
    let error = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "Wrong username or password.",
        StatusCode::TOO_MANY_REQUESTS => "Too many failed sign-ins from here: wait a little and try again.",
        _ => "Signing in failed; try again.",
    };
    let sign_up = self_registration(&portal, &viewer).await?;
    let status = if status == StatusCode::TOO_MANY_REQUESTS { status } else { StatusCode::UNAUTHORIZED };
    page::render(status, &SignIn { error: Some(error.to_owned()), notice: None, principal, redirect_url, sign_up })
}

#[derive(Template)]
#[template(path = "sign_up.html")]
struct SignUp {
    error: Option<String>,
    form: Fields,
}

pub(crate) async fn sign_up_form(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PageError> {
    if !self_registration(&portal, &viewer).await? {
        return Err(PageError::not_found("Accounts are created by administrators here."));
    }
    page::ok(&SignUp { error: None, form: Fields(Vec::new()) })
}

/// Creates an account for someone not signed in (when `self_registration` is on), then asks them
/// to sign in with it. Like signing in, it needs no CSRF token: there is no session yet.
pub(crate) async fn sign_up(
    State(portal): State<Portal>,
    viewer: Viewer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    if viewer.user.is_some() || !self_registration(&portal, &viewer).await? {
        return Err(PageError::not_found("Accounts are created by administrators here."));
    }
    if fields.raw("password") != fields.raw("password_again") {
        let error = Some("The two passwords differ.".to_owned());
        return page::render(StatusCode::BAD_REQUEST, &SignUp { error, form: fields });
    }
    match portal.api.send(&viewer, Method::POST, "/users", Some(&crate::admin::new_user(&fields))).await? {
        Ok(_) => page::see(format!("/harbor/sign-in?signed_up={}", form_urlencoded(fields.get("username")))),
        Err(r) => {
            page::render(r.status, &SignUp { error: Some(crate::projects::capitalize(&r.message)), form: fields })
        }
    }
}

pub(crate) async fn sign_out(
    State(portal): State<Portal>,
    viewer: Viewer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    if viewer.session.is_some() {
        viewer.check_csrf(&Fields(fields))?;
    }
    // The API ends the session, if any, and expires the cookie.
    let reply = portal.api.call(&viewer, Method::POST, "/c/log_out", NO_BODY).await?;
    Ok(redirect_passing_cookies("/harbor/sign-in", &reply.headers))
}

/// A redirect to `to` that passes on the `Set-Cookie` headers of the API's answer `headers`.
fn redirect_passing_cookies(to: &str, headers: &axum::http::HeaderMap) -> Response {
    let mut response = Redirect::to(to).into_response();
    for cookie in headers.get_all(header::SET_COOKIE) {
        response.headers_mut().append(header::SET_COOKIE, cookie.clone());
    }
    response
}

#[derive(Template)]
#[template(path = "account.html")]
struct Account {
    chrome: Chrome,
    email: String,
    realname: String,
    created: String,
    error: Option<String>,
    changed: bool,
}

async fn account_page(
    portal: &Portal,
    viewer: &Viewer,
    error: Option<String>,
    changed: bool,
) -> Result<Response, PageError> {
    viewer.user()?;
    let me: UserResp = portal.api.get(viewer, "/users/current").await?;
    let page = Account {
        chrome: Chrome::new(viewer, "Account", "account"),
        created: format::time(&me.creation_time),
        email: me.email,
        realname: me.realname,
        changed,
        error: error.clone(),
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn account(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PageError> {
    account_page(&portal, &viewer, None, false).await
}

pub(crate) async fn change_password(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let user = viewer.user()?;
    let body = PasswordReq {
        old_password: Some(fields.raw("old_password").to_owned()),
        new_password: fields.raw("new_password").to_owned(),
    };
    let path = format!("/users/{}/password", user.id);
    match portal.api.send(&viewer, Method::PUT, &path, Some(&body)).await? {
        Ok(_) => account_page(&portal, &viewer, None, true).await,
        Err(refusal) => account_page(&portal, &viewer, Some(refusal.message), false).await,
    }
}
