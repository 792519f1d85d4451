//! What every page shares: the frame around it (`Chrome`), form fields, and friendly error pages.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::api::Refusal;
use crate::viewer::Viewer;

/// The frame of a page: who is signed in, the CSRF token for its forms, the section it is in.
pub(crate) struct Chrome {
    pub title: String,
    pub username: String,
    pub sysadmin: bool,
    pub csrf: String,
    pub section: &'static str,
}

impl Chrome {
    pub fn new(viewer: &Viewer, title: impl Into<String>, section: &'static str) -> Chrome {
        let (username, sysadmin) = viewer.user.as_ref().map(|u| (u.username.clone(), u.sysadmin)).unwrap_or_default();
        Chrome { title: title.into(), username, sysadmin, csrf: viewer.csrf.clone(), section }
    }
}

/// Renders `template` as a page with `status`.
pub(crate) fn render(status: StatusCode, template: &impl Template) -> Result<Response, PageError> {
    let html = template.render().map_err(|e| PageError::Internal(e.to_string()))?;
    Ok((status, [("cache-control", "no-store")], Html(html)).into_response())
}

pub(crate) fn ok(template: &impl Template) -> Result<Response, PageError> {
    render(StatusCode::OK, template)
}

/// The status of a page shown again with the API's refusal of its form (`error`), or plainly.
pub(crate) fn status_for(error: &Option<String>) -> StatusCode {
    if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK }
}

/// After a change, the page to show (Post/Redirect/Get: reloading does not repeat it).
pub(crate) fn see(path: impl AsRef<str>) -> Result<Response, PageError> {
    Ok(Redirect::to(path.as_ref()).into_response())
}

/// Posted form fields, in order; a name may repeat (check boxes).
pub(crate) struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).unwrap_or("")
    }
    /// A value as typed, untrimmed: passwords.
    pub fn raw(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(n, v)| n == name && (v == "on" || v == "true"))
    }
}

#[derive(Debug)]
pub(crate) enum PageError {
    /// Not signed in: to the sign-in page, and back to this path afterwards.
    SignIn(String),
    Status(StatusCode, String),
    Internal(String),
}

impl PageError {
    pub fn forbidden(message: &str) -> PageError {
        PageError::Status(StatusCode::FORBIDDEN, message.to_owned())
    }
    pub fn not_found(message: &str) -> PageError {
        PageError::Status(StatusCode::NOT_FOUND, message.to_owned())
    }
}

impl From<Refusal> for PageError {
    fn from(r: Refusal) -> PageError {
        if r.status.is_server_error() { PageError::Internal(r.message) } else { PageError::Status(r.status, r.message) }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    heading: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PageError::SignIn(back) => {
                let back: String = form_urlencoded(&back);
                return Redirect::to(&format!("/harbor/sign-in?redirect_url={back}")).into_response();
            }
            PageError::Status(StatusCode::UNAUTHORIZED, _) => {
                return Redirect::to("/harbor/sign-in").into_response();
            }
            PageError::Status(status, message) => (status, message),
            PageError::Internal(cause) => {
                tracing::error!(error = %cause, "portal page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on the server; it has been logged.".to_owned(),
                )
            }
        };
        let heading = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            s if s.is_server_error() => "Server error",
            _ => "Cannot do that",
        };
        let page = ErrorPage { status: status.as_u16(), heading, message: &message };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, message).into_response(),
        }
    }
}

/// Every portal response: a request the extractors refused (a malformed path or form) gets the
/// friendly error page instead of their plain text; and nothing loads from another origin, no
/// page is framed, and no address is sent along with links. (That no content type is guessed
/// holds for every response of Berth: a layer of the whole application says so.)
pub(crate) async fn finish(response: Response) -> Response {
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    let mut response = if plain && response.status().is_client_error() {
        let status = response.status();
        let message = match status {
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => "There is no page at this address.",
            _ => "The form could not be read. Reload the page and try again.",
        };
        PageError::Status(
            if status == StatusCode::BAD_REQUEST { StatusCode::NOT_FOUND } else { status },
            message.to_owned(),
        )
        .into_response()
    } else {
        response
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ] {
        headers.insert(name, axum::http::HeaderValue::from_static(value));
    }
    response
}

/// The fallback: a friendly 404 page.
pub(crate) async fn not_found() -> PageError {
    PageError::not_found("There is no page at this address.")
}

/// `value` encoded for a query string: every byte but the unreserved ones (letters, digits,
/// `-_.~`) percent-encoded.
pub(crate) fn form_urlencoded(value: &str) -> String {
    percent_encoded(value, b"")
}

/// `value` as one path segment: encoded as for a query string, but for `:` and `@`, which a
/// segment may hold as they are (a digest reads `sha256:…` in the address bar).
pub(crate) fn path_segment(value: &str) -> String {
    percent_encoded(value, b":@")
}

fn percent_encoded(value: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b if keep.contains(&b) => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Paging of a listing: page number from the query, and links to the neighbours.
pub(crate) struct Paging {
    pub page: i64,
    pub size: i64,
    pub total: i64,
    /// More match than `total` (the API stopped counting).
    pub capped: bool,
    /// The API links to a next page.
    pub more: bool,
    /// What the links to the neighbours add to `page=`, to keep a search (`&name=...`).
    pub query: String,
}

impl Paging {
    pub const SIZE: i64 = 15;

    /// Page `page` of `listing` (requested with [`Paging::SIZE`] a page).
    pub fn of<T>(page: i64, listing: &crate::api::Listing<T>) -> Paging {
        let (total, capped, more) = (listing.total, listing.capped, listing.more);
        Paging { page, size: Paging::SIZE, total, capped, more, query: String::new() }
    }

    /// The same, its links keeping `query`.
    pub fn keeping(mut self, query: String) -> Paging {
        self.query = query;
        self
    }

    pub fn from_query(page: Option<&str>) -> i64 {
        page.and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1)
    }
    pub fn pages(&self) -> i64 {
        ((self.total + self.size - 1) / self.size).max(1)
    }
    pub fn has_prev(&self) -> bool {
        self.page > 1
    }
    pub fn has_next(&self) -> bool {
        self.more
    }
    pub fn prev(&self) -> i64 {
        self.page - 1
    }
    pub fn next(&self) -> i64 {
        self.page + 1
    }
}

/// The query of a listing page: which page, and the name searched for.
#[derive(serde::Deserialize, Default)]
pub(crate) struct Search {
    page: Option<String>,
    name: Option<String>,
}

impl Search {
    pub fn page(&self) -> i64 {
        Paging::from_query(self.page.as_deref())
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// The API listing `path` at this page, narrowed to those whose `key` contains the name
    /// searched for.
    pub fn api_path(&self, path: &str, key: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut api = format!("{path}{sep}page={}&page_size={}", self.page(), Paging::SIZE);
        if !self.name().is_empty() {
            api.push_str(&format!("&q={}", form_urlencoded(&format!("{key}=~{}", self.name()))));
        }
        api
    }

    /// What the links to other pages add, to keep the search.
    pub fn link_query(&self) -> String {
        if self.name().is_empty() { String::new() } else { format!("&name={}", form_urlencoded(self.name())) }
    }
}
