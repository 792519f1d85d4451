//! The tests' HTTP client: reqwest's API (the part the tests use), with two ways to reach a
//! server. A URL of a real server (`http://127.0.0.1:PORT`) goes through reqwest, unchanged; a
//! URL of an application running in this process (`http://app-N.berth.test`, see
//! [`super::app::TestApp`]) goes to its router through `tower::ServiceExt::oneshot`, with no
//! socket. So one set of helpers (`Registry`, `api_as`) serves both kinds of test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The host names of applications in this process, and their routers.
static APPS: Mutex<Option<HashMap<String, Router>>> = Mutex::new(None);

/// The address an in-process application sees as its client's (`ConnectInfo`), as `berth serve`
/// gives a local client's.
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40_000);

/// Routes requests for `host` to `router` (until [`unregister`]).
pub fn register(host: &str, router: Router) {
    APPS.lock().unwrap().get_or_insert_with(HashMap::new).insert(host.to_owned(), router);
}

pub fn unregister(host: &str) {
    if let Some(apps) = APPS.lock().unwrap().as_mut() {
        apps.remove(host);
    }
}

/// The router of the in-process application `url` names, if it names one.
fn app_of(url: &str) -> Option<Router> {
    let url = reqwest::Url::parse(url).ok()?;
    APPS.lock().unwrap().as_ref()?.get(url.authority()).cloned()
}

/// A failed request (only a real server's requests fail: an in-process one always answers).
#[derive(Debug)]
pub struct Error(reqwest::Error);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone)]
pub struct Client {
    net: reqwest::Client,
    default_headers: HeaderMap,
}

impl Client {
    pub fn new() -> Client {
        Client::with_default_headers(HeaderMap::new())
    }

    /// A client that sends `headers` with every request (e.g. credentials).
    pub fn with_default_headers(headers: HeaderMap) -> Client {
        let net = reqwest::Client::builder().default_headers(headers.clone()).build().expect("HTTP client");
        Client { net, default_headers: headers }
    }

    /// A client that answers redirects with the redirect itself, as the in-process transport
    /// always does.
    pub fn without_redirects() -> Client {
        let net = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("HTTP client");
        Client { net, default_headers: HeaderMap::new() }
    }

    pub fn request(&self, method: Method, url: impl Into<String>) -> RequestBuilder {
        let url = url.into();
        match app_of(&url) {
            Some(router) => RequestBuilder::App(AppRequest {
                router,
                method,
                url,
                headers: self.default_headers.clone(),
                body: Bytes::new(),
                peer: Some(PEER),
            }),
            None => RequestBuilder::Net(self.net.request(method, url)),
        }
    }

    pub fn get(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    pub fn head(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    pub fn post(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    pub fn put(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    pub fn patch(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    pub fn delete(&self, url: impl Into<String>) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }
}

/// `GET url`, as `reqwest::get`.
pub async fn get(url: impl Into<String>) -> Result<Response, Error> {
    Client::new().get(url).send().await
}

pub enum RequestBuilder {
    Net(reqwest::RequestBuilder),
    App(AppRequest),
}

/// A request to an in-process application, being built.
pub struct AppRequest {
    router: Router,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Bytes,
    /// The client's address the request carries (`ConnectInfo`), as `berth serve` gives.
    peer: Option<SocketAddr>,
}

impl RequestBuilder {
    /// Leaves out the client's address (`ConnectInfo`), as a router run without `serve` sees
    /// requests. Only in process: a real server always knows its peer.
    pub fn without_peer(self) -> RequestBuilder {
        match self {
            RequestBuilder::Net(_) => panic!("without_peer() is for an in-process application"),
            RequestBuilder::App(r) => RequestBuilder::App(AppRequest { peer: None, ..r }),
        }
    }

    /// Sends the request as from `ip` (its `ConnectInfo`) rather than from 127.0.0.1, as a
    /// client elsewhere on the network would. Only in process.
    pub fn sent_from(self, ip: std::net::IpAddr) -> RequestBuilder {
        match self {
            RequestBuilder::Net(_) => panic!("sent_from() is for an in-process application"),
            RequestBuilder::App(r) => RequestBuilder::App(AppRequest { peer: Some(SocketAddr::new(ip, 40_000)), ..r }),
        }
    }

    pub fn header<V: TryInto<HeaderValue>>(self, name: &str, value: V) -> RequestBuilder
    where
        V::Error: std::fmt::Debug,
    {
        match self {
            RequestBuilder::Net(r) => RequestBuilder::Net(r.header(name, value.try_into().expect("header value"))),
            RequestBuilder::App(mut r) => {
                let name = HeaderName::try_from(name).expect("header name");
                r.headers.append(name, value.try_into().expect("header value"));
                RequestBuilder::App(r)
            }
        }
    }

    pub fn basic_auth(self, user: &str, password: Option<&str>) -> RequestBuilder {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.unwrap_or("")));
        self.header("authorization", format!("Basic {token}"))
    }

    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> RequestBuilder {
        let body = serde_json::to_vec(body).expect("JSON body");
        self.header("content-type", "application/json").body(body)
    }

    pub fn form<T: Serialize + ?Sized>(self, form: &T) -> RequestBuilder {
        let body = serde_urlencoded::to_string(form).expect("form body");
        self.header("content-type", "application/x-www-form-urlencoded").body(body)
    }

    /// The request body; a streaming one (`reqwest::Body::wrap_stream`) only to a real server.
    pub fn body(self, body: impl Into<reqwest::Body>) -> RequestBuilder {
        match self {
            RequestBuilder::Net(r) => RequestBuilder::Net(r.body(body)),
            RequestBuilder::App(mut r) => {
                let body = body.into();
                let bytes = body.as_bytes().expect("a streaming body needs a real server (support::Berth)");
                r.body = Bytes::copy_from_slice(bytes);
                RequestBuilder::App(r)
            }
        }
    }

    pub async fn send(self) -> Result<Response, Error> {
        match self {
            RequestBuilder::Net(r) => r.send().await.map(Response::Net).map_err(Error),
            RequestBuilder::App(r) => Ok(Response::App(r.send().await)),
        }
    }
}

impl AppRequest {
    async fn send(self) -> AppResponse {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        // Parsed (and so normalized, percent-encoded) as reqwest parses it for a real server.
        let url = reqwest::Url::parse(&self.url).expect("URL");
        let host = url.authority().to_owned();
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut request = axum::http::Request::builder().method(self.method).uri(&path);
        let headers = request.headers_mut().expect("request parts");
        *headers = self.headers;
        headers.entry("host").or_insert(HeaderValue::from_str(&host).expect("host header"));
        if !self.body.is_empty() {
            headers.insert("content-length", HeaderValue::from(self.body.len()));
        }
        let mut request = request.body(axum::body::Body::from(self.body)).expect("request");
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let response = self.router.oneshot(request).await.expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("response body").to_bytes();
        AppResponse { status: parts.status, headers: parts.headers, url: self.url, body: Some(body) }
    }
}

pub enum Response {
    Net(reqwest::Response),
    App(AppResponse),
}

impl From<reqwest::Response> for Response {
    fn from(r: reqwest::Response) -> Response {
        Response::Net(r)
    }
}

/// An in-process application's answer, its body read whole.
pub struct AppResponse {
    status: StatusCode,
    headers: HeaderMap,
    url: String,
    /// Taken by [`Response::chunk`].
    body: Option<Bytes>,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        match self {
            Response::Net(r) => r.status(),
            Response::App(r) => r.status,
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        match self {
            Response::Net(r) => r.headers(),
            Response::App(r) => &r.headers,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Response::Net(r) => r.url().as_str(),
            Response::App(r) => &r.url,
        }
    }

    /// The response itself if its status is a success, else the status as an error.
    pub fn error_for_status(self) -> Result<Response, StatusCode> {
        match self.status() {
            status if status.is_client_error() || status.is_server_error() => Err(status),
            _ => Ok(self),
        }
    }

    pub async fn bytes(self) -> Result<Bytes, Error> {
        match self {
            Response::Net(r) => r.bytes().await.map_err(Error),
            Response::App(r) => Ok(r.body.unwrap_or_default()),
        }
    }

    pub async fn text(self) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(&self.bytes().await?).into_owned())
    }

    pub async fn json<T: DeserializeOwned>(self) -> Result<T, String> {
        let bytes = self.bytes().await.map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&bytes)))
    }

    /// The next piece of the body, as it arrives (in process: all of it at once).
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match self {
            Response::Net(r) => r.chunk().await.map_err(Error),
            Response::App(r) => Ok(r.body.take().filter(|b| !b.is_empty())),
        }
    }
}
