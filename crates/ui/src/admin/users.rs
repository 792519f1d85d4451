//! Users: the list with search, creating users, making or revoking administrators, resetting
//! passwords and deleting users.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use berth_api_types::{PasswordReq, UserCreationReq, UserResp, UserSysAdminFlag};

use crate::Portal;
use crate::api::NO_BODY;
use crate::format;
use crate::page::{self, Chrome, Fields, PageError, Paging, Search};
use crate::projects::capitalize;
use crate::viewer::{Posted, Viewer};

pub(crate) struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub realname: String,
    pub admin: bool,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct Users {
    chrome: Chrome,
    rows: Vec<UserRow>,
    paging: Paging,
    search: String,
    error: Option<String>,
    notice: Option<String>,
    me: i64,
}

async fn users_page(
    portal: &Portal,
    viewer: &Viewer,
    query: &Search,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let me = viewer.admin()?.id;
    let listing = portal.api.list::<UserResp>(viewer, &query.api_path("/users", "username")).await?;
    let paging = Paging::of(query.page(), &listing).keeping(query.link_query());
    let rows = listing
        .items
        .into_iter()
        .map(|u| UserRow {
            id: u.user_id,
            created: format::time(&u.creation_time),
            username: u.username,
            email: u.email,
            realname: u.realname,
            admin: u.sysadmin_flag,
        })
        .collect();
    let page = Users {
        chrome: Chrome::new(viewer, "Users", "users"),
        rows,
        paging,
        search: query.name().to_owned(),
        error: error.clone(),
        notice,
        me,
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn users(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(q): Query<Search>,
) -> Result<Response, PageError> {
    users_page(&portal, &viewer, &q, None, None).await
}

pub(crate) async fn create_user(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    match portal.api.send(&viewer, Method::POST, "/users", Some(&new_user(&fields))).await? {
        Ok(_) => page::see("/harbor/users"),
        Err(r) => users_page(&portal, &viewer, &Search::default(), Some(capitalize(&r.message)), None).await,
    }
}

/// The API's body for a new user, from the fields of the users page or the sign-up page.
pub(crate) fn new_user(fields: &Fields) -> UserCreationReq {
    UserCreationReq {
        username: fields.get("username").to_owned(),
        email: Some(fields.get("email").to_owned()),
        realname: fields.get("realname").to_owned(),
        password: fields.raw("password").to_owned(),
        comment: String::new(),
    }
}

pub(crate) async fn change_user(
    State(portal): State<Portal>,
    Path(uid): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let sysadmin = |flag: bool| UserSysAdminFlag { sysadmin_flag: flag };
    let result = match fields.get("action") {
        "make-admin" => {
            portal.api.send(&viewer, Method::PUT, &format!("/users/{uid}/sysadmin"), Some(&sysadmin(true))).await?
        }
        "revoke-admin" => {
            portal.api.send(&viewer, Method::PUT, &format!("/users/{uid}/sysadmin"), Some(&sysadmin(false))).await?
        }
        "password" => {
            let body = PasswordReq { old_password: None, new_password: fields.raw("new_password").to_owned() };
            portal.api.send(&viewer, Method::PUT, &format!("/users/{uid}/password"), Some(&body)).await?
        }
        "delete" => portal.api.send(&viewer, Method::DELETE, &format!("/users/{uid}"), NO_BODY).await?,
        _ => return Err(PageError::Status(StatusCode::BAD_REQUEST, "Unknown action.".to_owned())),
    };
    match result {
        Ok(_) if fields.get("action") == "password" => {
            users_page(&portal, &viewer, &Search::default(), None, Some("Password reset.".to_owned())).await
        }
        Ok(_) => page::see("/harbor/users"),
        Err(r) => users_page(&portal, &viewer, &Search::default(), Some(capitalize(&r.message)), None).await,
    }
}
