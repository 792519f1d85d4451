//! A `/v2/` request that passed its access check: its head, its query, and who made it.

use std::collections::HashMap;

use axum::http::request::Parts;
use berth_auth::ClientOrigin;
use berth_content::{Actor, peer};

pub(crate) struct Call {
    pub parts: Parts,
    pub query: HashMap<String, String>,
    /// Who makes the request's changes and pulls, for their events.
    pub actor: Actor,
}

impl Call {
    /// `parts`, authorized for `username` (`anonymous` when nobody logged in).
    pub(crate) fn new(parts: Parts, username: String) -> Call {
        let query =
            axum::extract::Query::<HashMap<String, String>>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
        let origin = header(&parts, peer::ORIGIN_HEADER).and_then(peer::origin).map(str::to_owned);
        let actor = Actor { username, source_ip: ClientOrigin::of(&parts).source_ip(), origin };
        Call { parts, query, actor }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header(&self.parts, name)
    }

    /// `Content-Length`, if present and a number.
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.trim().parse().ok())
    }

    /// For a change a replicating Berth sends: when it was made at its source (only together
    /// with its origin).
    pub(crate) fn change_time(&self) -> Option<i64> {
        self.actor.origin.as_ref()?;
        self.header(peer::CHANGE_TIME_HEADER).and_then(peer::change_time)
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}
