//! Registry endpoints: the remote registries that replication and proxy-cache projects reach,
//! with a connection test.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::EditQuery;
use crate::Portal;
use crate::format::{self, filters};
use crate::page::{self, Chrome, Fields, PageError};
use crate::projects::capitalize;
use crate::viewer::{Posted, Viewer};

pub(crate) struct RegistryRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub access_key: String,
    pub insecure: bool,
    pub status: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "admin_registries.html")]
struct Registries {
    chrome: Chrome,
    rows: Vec<RegistryRow>,
    types: Vec<String>,
    error: Option<String>,
    notice: Option<String>,
    /// The endpoint being edited.
    editing: Option<RegistryRow>,
}

async fn registries_page(
    portal: &Portal,
    viewer: &Viewer,
    error: Option<String>,
    notice: Option<String>,
    edit: Option<i64>,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let reply = portal.api.get(viewer, "/registries?page_size=100").await?;
    let rows: Vec<RegistryRow> = reply
        .items()
        .iter()
        .map(|r| RegistryRow {
            id: r["id"].as_i64().unwrap_or(0),
            name: format::text(&r["name"]),
            kind: format::text(&r["type"]),
            url: format::text(&r["url"]),
            access_key: format::text(&r["credential"]["access_key"]),
            insecure: r["insecure"].as_bool().unwrap_or(false),
            status: format::text(&r["status"]),
            description: format::text(&r["description"]),
        })
        .collect();
    let types = portal.api.get(viewer, "/replication/adapters").await?.items().iter().map(format::text).collect();
    let mut rows = rows;
    let editing = edit.and_then(|id| rows.iter().position(|r| r.id == id)).map(|i| rows.remove(i));
    let page = Registries {
        chrome: Chrome::new(viewer, "Registries", "registries"),
        rows,
        types,
        error: error.clone(),
        notice,
        editing,
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn registries(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(q): Query<EditQuery>,
) -> Result<Response, PageError> {
    registries_page(&portal, &viewer, None, None, q.edit).await
}

fn registry_body(fields: &Fields) -> Value {
    let mut body = json!({
        "name": fields.get("name"),
        "type": fields.get("type"),
        "url": fields.get("url"),
        "description": fields.get("description"),
        "insecure": fields.checked("insecure"),
    });
    let key = fields.get("access_key");
    if !key.is_empty() {
        body["credential"] = json!({"type": "basic", "access_key": key, "access_secret": fields.raw("access_secret")});
    }
    body
}

pub(crate) async fn create_registry(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let body = registry_body(&fields);
    if fields.get("action") == "test" {
        return match portal.api.send(&viewer, Method::POST, "/registries/ping", Some(body)).await? {
            Ok(_) => registries_page(&portal, &viewer, None, Some("Connection works.".to_owned()), None).await,
            Err(r) => {
                registries_page(&portal, &viewer, Some(format!("Connection failed: {}", r.message)), None, None).await
            }
        };
    }
    match portal.api.send(&viewer, Method::POST, "/registries", Some(body)).await? {
        Ok(_) => page::see("/harbor/registries"),
        Err(r) => registries_page(&portal, &viewer, Some(capitalize(&r.message)), None, None).await,
    }
}

pub(crate) async fn change_registry(
    State(portal): State<Portal>,
    Path(rid): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let path = format!("/registries/{rid}");
    let result = match fields.get("action") {
        "delete" => portal.api.send(&viewer, Method::DELETE, &path, None).await?,
        "test" => {
            return match portal.api.send(&viewer, Method::POST, "/registries/ping", Some(json!({"id": rid}))).await? {
                Ok(_) => registries_page(&portal, &viewer, None, Some("Connection works.".to_owned()), None).await,
                Err(r) => {
                    registries_page(&portal, &viewer, Some(format!("Connection failed: {}", r.message)), None, None)
                        .await
                }
            };
        }
        "save" => {
            let mut body = registry_body(&fields);
            if fields.get("access_key").is_empty() {
                body.as_object_mut().map(|o| o.remove("credential"));
            }
            portal.api.send(&viewer, Method::PUT, &path, Some(body)).await?
        }
        _ => return Err(PageError::Status(StatusCode::BAD_REQUEST, "Unknown action.".to_owned())),
    };
    match result {
        Ok(_) => page::see("/harbor/registries"),
        Err(r) => registries_page(&portal, &viewer, Some(capitalize(&r.message)), None, None).await,
    }
}
