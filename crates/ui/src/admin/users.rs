//! Users: the list with search, creating users, making or revoking administrators, resetting
//! passwords and deleting users.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Portal;
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
    let reply = portal.api.get(viewer, &query.api_path("/users", "username")).await?;
    let rows = reply
        .items()
        .iter()
        .map(|u| UserRow {
            id: u["user_id"].as_i64().unwrap_or(0),
            username: format::text(&u["username"]),
            email: format::text(&u["email"]),
            realname: format::text(&u["realname"]),
            admin: u["sysadmin_flag"].as_bool().unwrap_or(false),
            created: format::time(&u["creation_time"]),
        })
        .collect();
    let page = Users {
        chrome: Chrome::new(viewer, "Users", "users"),
        rows,
        paging: Paging::of(query.page(), &reply).keeping(query.link_query()),
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
    match portal.api.send(&viewer, Method::POST, "/users", Some(new_user(&fields))).await? {
        Ok(_) => page::see("/harbor/users"),
        Err(r) => users_page(&portal, &viewer, &Search::default(), Some(capitalize(&r.message)), None).await,
    }
}

/// The API's body for a new user, from the fields of the users page or the sign-up page.
pub(crate) fn new_user(fields: &Fields) -> Value {
    json!({
        "username": fields.get("username"),
        "email": fields.get("email"),
        "realname": fields.get("realname"),
        "password": fields.raw("password"),
        "comment": "",
    })
}

pub(crate) async fn change_user(
    State(portal): State<Portal>,
    Path(uid): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let result = match fields.get("action") {
        "make-admin" => {
            portal
                .api
                .send(&viewer, Method::PUT, &format!("/users/{uid}/sysadmin"), Some(json!({"sysadmin_flag": true})))
                .await?
        }
        "revoke-admin" => {
            portal
                .api
                .send(&viewer, Method::PUT, &format!("/users/{uid}/sysadmin"), Some(json!({"sysadmin_flag": false})))
                .await?
        }
        "password" => {
            let body = json!({"new_password": fields.raw("new_password")});
            portal.api.send(&viewer, Method::PUT, &format!("/users/{uid}/password"), Some(body)).await?
        }
        "delete" => portal.api.send(&viewer, Method::DELETE, &format!("/users/{uid}"), None).await?,
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
