//! Where each request came from, resolved once, before anything else runs: the connection's peer
//! and whether it is TLS, and — only when the peer is one of `http.trusted_proxies` — what the
//! proxy forwarded (`X-Forwarded-For`, `-Proto`, `-Host`, or RFC 7239 `Forwarded`). The result is
//! the request's [`ClientOrigin`] extension; the forwarding headers are then removed, so nothing
//! downstream can read a client's claim by mistake.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::Response;
use berth_auth::ClientOrigin;
use berth_auth::origin::requested_host;
use ipnet::IpNet;

/// Marks the requests of a TLS connection (inserted by the listener).
#[derive(Debug, Clone, Copy)]
pub struct Tls;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The peers whose forwarding headers are believed.
#[derive(Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses (`192.0.2.1`, `::1`) and CIDR ranges (`10.0.0.0/8`).
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        let net = |e: &str| {
            e.parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{e:?} is neither an IP address nor a CIDR range"))
        };
        entries.iter().map(|e| net(e.trim())).collect::<Result<_, _>>().map(TrustedProxies)
    }

    fn contains(&self, ip: IpAddr) -> bool {
        // A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6 addresses.
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The middleware: resolves the request's [`ClientOrigin`] and drops the forwarding headers.
pub async fn resolve(State(trusted): State<Arc<TrustedProxies>>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_canonical());
    let tls = req.extensions().get::<Tls>().is_some();
    let origin = origin(&trusted, peer, tls, requested_host(req.headers(), req.uri()), req.headers());
    let headers = req.headers_mut();
    for name in [X_FORWARDED_FOR, X_FORWARDED_PROTO, X_FORWARDED_HOST, FORWARDED] {
        headers.remove(name);
    }
    req.extensions_mut().insert(origin);
    next.run(req).await
}

/// The origin of a request from `peer` (over TLS or not) asking for `host`.
fn origin(
    trusted: &TrustedProxies,
    peer: Option<IpAddr>,
    tls: bool,
    host: Option<&str>,
    h: &HeaderMap,
) -> ClientOrigin {
    match peer {
        Some(proxy) if trusted.contains(proxy) => forwarded(trusted, proxy, tls, host, h),
        _ => ClientOrigin::new(peer, tls, host),
    }
}

/// One hop a proxy reported: the address it was reached from, and (when it said) the scheme and
/// host that hop used.
#[derive(Debug, Default)]
struct Hop {
    /// `None`: an address the proxy hid (`unknown`, an obfuscated name) or that does not parse.
    addr: Option<IpAddr>,
    proto: Option<String>,
    host: Option<String>,
}

/// The origin of a request that trusted proxy `proxy` forwarded. X-Forwarded-* win over
/// `Forwarded`: the common proxies (nginx, HAProxy, Traefik) maintain those and pass a client's
/// `Forwarded` through untouched, so it is read only when none of them is there.
fn forwarded(trusted: &TrustedProxies, proxy: IpAddr, tls: bool, host: Option<&str>, h: &HeaderMap) -> ClientOrigin {
    let x_forwarded = [&X_FORWARDED_FOR, &X_FORWARDED_PROTO, &X_FORWARDED_HOST].iter().any(|n| h.contains_key(*n));
    let hops = if x_forwarded { x_forwarded_hops(h) } else { forwarded_hops(h) };
    let (client, hop) = client_hop(trusted, proxy, &hops);
    let https = match hop.and_then(|h| h.proto.as_deref()) {
        Some(proto) => proto.eq_ignore_ascii_case("https"),
        None => tls,
    };
    ClientOrigin::new(Some(client), https, hop.and_then(|h| h.host.as_deref()).or(host))
}

/// Walks the hops from the right (the nearest proxy's report, which `proxy` wrote) leftwards for
/// as long as the reported address is itself a trusted proxy (whose report to its left can then
/// be believed too). The first untrusted address is the client; its hop says the scheme and host
/// it used. A hidden address ends the walk at the last proxy known.
fn client_hop<'a>(trusted: &TrustedProxies, proxy: IpAddr, hops: &'a [Hop]) -> (IpAddr, Option<&'a Hop>) {
    let mut nearest = proxy;
    let mut last = None;
    for hop in hops.iter().rev() {
        let Some(addr) = hop.addr else { return (nearest, Some(hop)) };
        last = Some(hop);
        nearest = addr;
        if !trusted.contains(addr) {
            break;
        }
    }
    (nearest, last)
}

/// The values of every `name` header, as one comma-separated list.
fn list<'a>(h: &'a HeaderMap, name: &HeaderName) -> impl DoubleEndedIterator<Item = &'a str> {
    h.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim)
}

/// X-Forwarded-For as hops. Proxies set X-Forwarded-Proto and -Host rather than append to them,
/// so the right-most value — the nearest trusted proxy's — is the client hop's.
fn x_forwarded_hops(h: &HeaderMap) -> Vec<Hop> {
    let mut hops: Vec<Hop> = list(h, &X_FORWARDED_FOR).map(|a| Hop { addr: address(a), ..Hop::default() }).collect();
    if hops.is_empty() {
        // Scheme and host alone: the client is the proxy's peer.
        hops.push(Hop::default());
    }
    let proto = list(h, &X_FORWARDED_PROTO).next_back().map(str::to_owned);
    let host = list(h, &X_FORWARDED_HOST).next_back().map(str::to_owned);
    for hop in &mut hops {
        hop.proto.clone_from(&proto);
        hop.host.clone_from(&host);
    }
    hops
}

/// RFC 7239 `Forwarded: for=192.0.2.60;proto=https;host=reg.example, for="[2001:db8::1]:4711"`:
/// one element a hop.
fn forwarded_hops(h: &HeaderMap) -> Vec<Hop> {
    list(h, &FORWARDED)
        .map(|element| {
            let mut hop = Hop::default();
            for pair in element.split(';') {
                let Some((key, value)) = pair.split_once('=') else { continue };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "for" => hop.addr = address(value),
                    "proto" => hop.proto = Some(value.to_owned()),
                    "host" => hop.host = Some(value.to_owned()),
                    _ => {}
                }
            }
            hop
        })
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`.
fn address(text: &str) -> Option<IpAddr> {
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).and_then(|t| t.parse().ok()))?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn resolved(trusted_list: &[&str], peer: &str, headers: &[(&str, &str)]) -> ClientOrigin {
        let mut h = HeaderMap::new();
        for (name, value) in headers {
            h.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        origin(&trusted(trusted_list), Some(peer.parse().unwrap()), false, Some("berth:5000"), &h)
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_address() {
        let proxies = ["10.0.0.0/8", "192.0.2.1"];
        // A client's own X-Forwarded-For entry comes first; the proxy appends what it saw.
        let o = resolved(&proxies, "10.1.1.1", &[("x-forwarded-for", "6.6.6.6, 203.0.113.9")]);
        assert_eq!(o.source_ip(), "203.0.113.9");
        // Through two trusted proxies.
        let o = resolved(&proxies, "10.1.1.1", &[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 192.0.2.1")]);
        assert_eq!(o.source_ip(), "203.0.113.9");
        // Every hop trusted: the left-most.
        let o = resolved(&proxies, "10.1.1.1", &[("x-forwarded-for", "10.2.2.2"), ("x-forwarded-for", "192.0.2.1")]);
        assert_eq!(o.source_ip(), "10.2.2.2");
        // A hidden or broken address stops at the last proxy known.
        let o = resolved(&proxies, "10.1.1.1", &[("x-forwarded-for", "6.6.6.6, garbage, 10.3.3.3")]);
        assert_eq!(o.source_ip(), "10.3.3.3");
        // Ports and brackets as some proxies write them; IPv4-mapped peers.
        let o = resolved(&proxies, "::ffff:10.1.1.1", &[("x-forwarded-for", "[2001:db8::7]:443")]);
        assert_eq!(o.source_ip(), "2001:db8::7");
        // No X-Forwarded-For: the proxy's peer is the client.
        let o = resolved(&proxies, "10.1.1.1", &[("x-forwarded-proto", "https")]);
        assert_eq!((o.source_ip(), o.is_https()), ("10.1.1.1".to_owned(), true));
    }

    #[test]
    fn untrusted_peers_are_taken_at_their_address() {
        let headers = [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "for=6.6.6.6;proto=https;host=evil.example"),
        ];
        for list in [&[][..], &["10.0.0.0/8"][..]] {
            let o = resolved(list, "203.0.113.5", &headers);
            assert_eq!((o.source_ip(), o.base_url()), ("203.0.113.5".to_owned(), "http://berth:5000".to_owned()));
        }
    }

    #[test]
    fn scheme_and_host_come_from_the_nearest_proxy() {
        let o = resolved(
            &["10.0.0.0/8"],
            "10.1.1.1",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-proto", "http, https"),
                ("x-forwarded-host", "spoofed.example, reg.example"),
            ],
        );
        assert_eq!(o.base_url(), "https://reg.example");
    }

    #[test]
    fn rfc_7239_elements_name_each_hop() {
        let proxies = ["10.0.0.0/8"];
        let o = resolved(
            &proxies,
            "10.1.1.1",
            &[("forwarded", r#"for=6.6.6.6;proto=http, For="[2001:db8::9]:4711";Proto=https;host="reg.example""#)],
        );
        assert_eq!((o.source_ip(), o.base_url()), ("2001:db8::9".to_owned(), "https://reg.example".to_owned()));
        let o = resolved(&proxies, "10.1.1.1", &[("forwarded", "for=unknown;proto=https")]);
        assert_eq!((o.source_ip(), o.is_https()), ("10.1.1.1".to_owned(), true));
        // X-Forwarded-* win: a client's Forwarded passes through proxies that maintain those.
        let o = resolved(
            &proxies,
            "10.1.1.1",
            &[("forwarded", "for=6.6.6.6;proto=https"), ("x-forwarded-for", "203.0.113.9")],
        );
        assert_eq!((o.source_ip(), o.is_https()), ("203.0.113.9".to_owned(), false));
    }

    #[test]
    fn proxies_are_addresses_or_ranges() {
        let t = trusted(&["192.0.2.1", " 10.0.0.0/8 ", "fd00::/8"]);
        assert!(t.contains("192.0.2.1".parse().unwrap()));
        assert!(!t.contains("192.0.2.2".parse().unwrap()));
        assert!(t.contains("10.200.0.1".parse().unwrap()));
        assert!(t.contains("fd12::1".parse().unwrap()));
        assert!(t.contains("::ffff:10.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "proxy.example", ""] {
            assert!(TrustedProxies::parse(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
    }
}
