//! `X-Content-Type-Options: nosniff` on every response (registry, API and portal): a browser
//! must take a body for the type it is sent as. Error bodies and logs repeat what the request
//! said (a name, a reference, a query value); read as HTML, such text could run as script.

use axum::http::{HeaderValue, header};
use axum::response::Response;

pub(crate) async fn no_sniffing(mut response: Response) -> Response {
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
