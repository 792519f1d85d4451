//! Harbor's paging: `page` (from 1) and `page_size` (default 10, at most 100) in, `X-Total-Count`
//! and `Link` (prev/next) out.

use axum::Json;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const DEFAULT_PAGE_SIZE: i64 = 10;
pub const MAX_PAGE_SIZE: i64 = 100;

#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    page: Option<i64>,
    page_size: Option<i64>,
    sort: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub page: i64,
    pub size: i64,
    /// `sort=` as given, carried into `Link` headers.
    sort: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        let page = self.page.unwrap_or(1);
        let size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if page < 1 {
            return Err(ApiError::bad_request("page must be 1 or more"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(ApiError::bad_request(format!("page_size must be between 1 and {MAX_PAGE_SIZE}")));
        }
        Ok(Page { page, size, sort: self.sort.clone() })
    }

    /// The `sort=` order over `allowed` (`(field, column)`), else `default`, then `tiebreak`.
    pub fn sort(
        &self,
        allowed: &[(&str, &'static str)],
        default: &[(&'static str, bool)],
        tiebreak: &'static str,
    ) -> Result<berth_meta::Sort, ApiError> {
        berth_meta::Sort::parse(self.sort.as_deref(), allowed, default, tiebreak).map_err(ApiError::bad_request)
    }
}

impl Page {
    pub fn offset(&self) -> i64 {
        // Saturating: a page far past the end (page=2^62) is an empty page, not an overflow.
        (self.page - 1).saturating_mul(self.size)
    }

    /// A JSON list response with `X-Total-Count` and, where there are neighbours, `Link`.
    /// `path_and_query` is the request's path and its query without `page`/`page_size`.
    pub fn respond<T: Serialize>(&self, items: Vec<T>, total: i64, path: &str, query: &str) -> Response {
        let mut response = Json(items).into_response();
        let h = response.headers_mut();
        h.insert(berth_api_types::headers::X_TOTAL_COUNT, HeaderValue::from(total));
        let query = match &self.sort {
            Some(sort) if query.is_empty() => format!("sort={sort}"),
            Some(sort) => format!("{query}&sort={sort}"),
            None => query.to_owned(),
        };
        let link = |page: i64, rel: &str| {
            let sep = if query.is_empty() { "" } else { "&" };
            format!("<{path}?{query}{sep}page={page}&page_size={}>; rel=\"{rel}\"", self.size)
        };
        let mut links = Vec::new();
        if self.page > 1 && self.offset() < total.saturating_add(self.size) {
            links.push(link(self.page - 1, "prev"));
        }
        if self.page.saturating_mul(self.size) < total {
            links.push(link(self.page + 1, "next"));
        }
        if !links.is_empty()
            && let Ok(v) = HeaderValue::try_from(links.join(" , "))
        {
            h.insert("link", v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_far_past_the_end_is_empty_not_an_overflow() {
        let query = PageQuery { page: Some(i64::MAX - 1), page_size: Some(MAX_PAGE_SIZE), sort: None };
        let page = query.page().unwrap();
        assert_eq!(page.offset(), i64::MAX);
        let response = page.respond(Vec::<i64>::new(), 5, "/api/v2.0/projects", "");
        assert_eq!(response.headers()["x-total-count"], "5");
        assert!(response.headers().get("link").is_none());
    }
}
