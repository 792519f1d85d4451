//! Registry endpoints: the remote registries that replication and proxy-cache projects reach,
//! with a connection test.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use berth_api_types::{Registry, RegistryCredential, RegistryPing, RegistryUpdate};

use super::EditQuery;
use crate::Portal;
use crate::api::NO_BODY;
use crate::format::filters;
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
    let listing = portal.api.list::<Registry>(viewer, "/registries?page_size=100").await?;
    let rows: Vec<RegistryRow> = listing
        .items
        .into_iter()
        .map(|r| RegistryRow {
            id: r.id,
            name: r.name.unwrap_or_default(),
            kind: r.kind.unwrap_or_default(),
            url: r.url.unwrap_or_default(),
            access_key: r.credential.and_then(|c| c.access_key).unwrap_or_default(),
            insecure: r.insecure.unwrap_or(false),
            status: r.status.unwrap_or_default(),
            description: r.description.unwrap_or_default(),
        })
        .collect();
    let types: Vec<String> = portal.api.get(viewer, "/replication/adapters").await?;
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

/// The form's access ID and secret, when it has an access ID.
fn credential(fields: &Fields) -> Option<(String, String)> {
    let key = fields.get("access_key");
    (!key.is_empty()).then(|| (key.to_owned(), fields.raw("access_secret").to_owned()))
}

/// A new endpoint from the form.
fn new_registry(fields: &Fields) -> Registry {
    Registry {
        name: Some(fields.get("name").to_owned()),
        kind: Some(fields.get("type").to_owned()),
        url: Some(fields.get("url").to_owned()),
        description: Some(fields.get("description").to_owned()),
        insecure: Some(fields.checked("insecure")),
        credential: credential(fields).map(|(key, secret)| RegistryCredential {
            kind: Some("basic".to_owned()),
            access_key: Some(key),
            access_secret: Some(secret),
        }),
        ..Registry::default()
    }
}

/// The form's endpoint, to test before creating it.
fn ping_new(fields: &Fields) -> RegistryPing {
    let (access_key, access_secret) = credential(fields).unzip();
    RegistryPing {
        kind: Some(fields.get("type").to_owned()),
        url: Some(fields.get("url").to_owned()),
        credential_type: access_key.as_ref().map(|_| "basic".to_owned()),
        access_key,
        access_secret,
        insecure: Some(fields.checked("insecure")),
        ..RegistryPing::default()
    }
}

/// The changes of the edit form. An empty access ID keeps the stored credential, and so does an
/// empty secret beside the stored access ID the form shows.
fn changes(fields: &Fields) -> RegistryUpdate {
    let (access_key, access_secret) = credential(fields).unzip();
    RegistryUpdate {
        name: Some(fields.get("name").to_owned()),
        description: Some(fields.get("description").to_owned()),
        url: Some(fields.get("url").to_owned()),
        access_key,
        access_secret: access_secret.filter(|s| !s.is_empty()),
        insecure: Some(fields.checked("insecure")),
        ..RegistryUpdate::default()
    }
}

pub(crate) async fn create_registry(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    if fields.get("action") == "test" {
        return match portal.api.send(&viewer, Method::POST, "/registries/ping", Some(&ping_new(&fields))).await? {
            Ok(_) => registries_page(&portal, &viewer, None, Some("Connection works.".to_owned()), None).await,
            Err(r) => {
                registries_page(&portal, &viewer, Some(format!("Connection failed: {}", r.message)), None, None).await
            }
        };
    }
    match portal.api.send(&viewer, Method::POST, "/registries", Some(&new_registry(&fields))).await? {
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
        "delete" => portal.api.send(&viewer, Method::DELETE, &path, NO_BODY).await?,
        "test" => {
            let stored = RegistryPing { id: Some(rid), ..RegistryPing::default() };
            return match portal.api.send(&viewer, Method::POST, "/registries/ping", Some(&stored)).await? {
                Ok(_) => registries_page(&portal, &viewer, None, Some("Connection works.".to_owned()), None).await,
                Err(r) => {
                    registries_page(&portal, &viewer, Some(format!("Connection failed: {}", r.message)), None, None)
                        .await
                }
            };
        }
        "save" => portal.api.send(&viewer, Method::PUT, &path, Some(&changes(&fields))).await?,
        _ => return Err(PageError::Status(StatusCode::BAD_REQUEST, "Unknown action.".to_owned())),
    };
    match result {
        Ok(_) => page::see("/harbor/registries"),
        Err(r) => registries_page(&portal, &viewer, Some(capitalize(&r.message)), None, None).await,
    }
}
