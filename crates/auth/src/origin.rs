//! Where a request came from: the client's address, whether it reached Berth over https, and the
//! host it asked for. The server resolves it once per request (`berth`'s origin middleware, the
//! only code that reads the connection and, from trusted proxies only, the forwarding headers) and
//! hands it to every handler as a request extension: the audit log, the token realm, the portal's
//! pull commands and the session cookie all read it from there.

use std::net::IpAddr;

use http::header::HOST;
use http::request::Parts;
use http::{HeaderMap, Uri};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientOrigin {
    ip: Option<IpAddr>,
    https: bool,
    /// Sanitized `host[:port]`.
    host: Option<String>,
}

impl ClientOrigin {
    /// The origin of a request from `ip` over https or not, asking for `host` (client input:
    /// only what a `host[:port]` may contain is kept).
    pub fn new(ip: Option<IpAddr>, https: bool, host: Option<&str>) -> ClientOrigin {
        let host = host
            .map(|h| h.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')))
            .map(String::from_iter)
            .filter(|h| !h.is_empty());
        ClientOrigin { ip, https, host }
    }

    /// The origin the server resolved for this request; without one (a router run in process,
    /// without the server), a client of unknown address over plain HTTP.
    pub fn of(parts: &Parts) -> ClientOrigin {
        match parts.extensions.get::<ClientOrigin>() {
            Some(origin) => origin.clone(),
            None => ClientOrigin::new(None, false, requested_host(&parts.headers, &parts.uri)),
        }
    }

    /// The client's address, when known: the connection's peer, or the address a trusted proxy
    /// forwarded. What per-client limits should key on.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The client's address as the login throttle and the rate limits count it.
    pub fn client_addr(&self) -> Option<crate::ClientAddr> {
        self.ip.map(crate::ClientAddr)
    }

    /// The client's address as the audit log records it (empty when unknown).
    pub fn source_ip(&self) -> String {
        self.ip.map(|ip| ip.to_string()).unwrap_or_default()
    }

    /// Whether the client reached Berth over TLS (here, or at a trusted proxy that said so).
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host (and port) the client asked for, as it names this registry.
    pub fn host(&self) -> &str {
        self.host.as_deref().unwrap_or("localhost")
    }

    /// This server's URL as the client reached it, for when no `external_url` says it.
    pub fn base_url(&self) -> String {
        format!("{}://{}", if self.https { "https" } else { "http" }, self.host())
    }
}

/// The host a request names: its `Host` header, else its URI's authority (HTTP/2 clients send
/// `:authority` instead of `Host`).
pub fn requested_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    headers.get(HOST).and_then(|v| v.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_keep_only_host_characters() {
        let origin = ClientOrigin::new(None, true, Some("reg.example:8443\"><script>"));
        assert_eq!(origin.base_url(), "https://reg.example:8443script");
        assert_eq!(ClientOrigin::new(None, false, Some("[::1]:5000")).base_url(), "http://[::1]:5000");
        assert_eq!(ClientOrigin::new(None, false, Some("\"\"")).host(), "localhost");
    }

    #[test]
    fn without_the_servers_resolution_a_request_is_plain_http_from_nowhere() {
        let (parts, ()) = http::Request::get("http://reg.example:5000/v2/").body(()).unwrap().into_parts();
        let origin = ClientOrigin::of(&parts);
        assert_eq!((origin.ip(), origin.source_ip(), origin.is_https()), (None, String::new(), false));
        assert_eq!(origin.base_url(), "http://reg.example:5000");
        let (mut parts, ()) = http::Request::get("/v2/").header("host", "h:1").body(()).unwrap().into_parts();
        let resolved = ClientOrigin::new(Some([192, 0, 2, 7].into()), true, Some("reg.example"));
        parts.extensions.insert(resolved.clone());
        assert_eq!(ClientOrigin::of(&parts), resolved);
        assert_eq!(resolved.source_ip(), "192.0.2.7");
    }
}
