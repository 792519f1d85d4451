//! Behind a proxy (`http.trusted_proxies`): a real nginx terminating TLS in front of Berth, as the
//! README sets it up, with clients pushing and pulling through it trusting the test CA; and
//! clients that send forwarding headers themselves, through nginx or directly, getting none of
//! them believed.
//!
//! Every address is on loopback, so who is who is told apart by source address: nginx reaches
//! Berth from 127.0.0.1 (the one trusted proxy), and the clients whose address matters connect
//! from 127.0.0.2 (`curl --interface`).

use std::path::Path;

use berth_testkit::nginx::Nginx;
use serde_json::Value;

use crate::support::clients::{Clients, direct_command, require_tool};
use crate::support::pki::{KeyKind, Pki, Validity};
use crate::support::{ADMIN, Berth, free_port, layout, path_str, run, try_run};

const CLIENT: &str = "127.0.0.2";

/// curl from 127.0.0.2 trusting `ca`: the response's head and body (`-i`).
fn curl_from_client(ca: &Path, args: &[&str]) -> String {
    run(direct_command("curl")
        .args(["--silent", "--show-error", "-i", "--interface", CLIENT, "--cacert", path_str(ca)])
        .args(args))
}

/// The value of header `name` in a `curl -i` answer.
fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The source addresses of the audit log's failed logins of `user`.
fn failed_login_sources(berth: &Berth, user: &str) -> Vec<String> {
    let (status, body) = berth.api("GET", "/audit-logs?page_size=100", Some(ADMIN), None);
    assert_eq!(status, 200, "{body}");
    let logs: Value = serde_json::from_str(&body).unwrap();
    logs.as_array()
        .unwrap()
        .iter()
        .filter(|l| l["username"] == user && l["operation"] == "login_failed")
        .map(|l| l["source_ip"].as_str().unwrap().to_owned())
        .collect()
}

/// Forwarding headers a client makes up.
const SPOOFED: [&str; 8] = [
    "-H",
    "X-Forwarded-For: 6.6.6.6",
    "-H",
    "X-Forwarded-Proto: https",
    "-H",
    "X-Forwarded-Host: evil.example",
    "-H",
    "Forwarded: for=7.7.7.7;proto=https;host=evil.example",
];

#[test]
fn behind_nginx_terminating_tls_clients_see_the_proxy_and_audit_sees_the_client() {
    require_tool("skopeo");
    let berth = Berth::builder().with_env("BERTH_HTTP_TRUSTED_PROXIES", "127.0.0.1").start();
    let pki = Pki::new();
    let cert = pki.server("proxy", KeyKind::Ecdsa, &Validity::CURRENT);
    let nginx = Nginx::start_https(free_port(), &[berth.host()], &cert.chain, &cert.key);
    let (root, trust) = (pki.root(), pki.trust_dir());
    let external = format!("https://{}", nginx.host());

    // A push and a pull through the proxy, trusting the test CA.
    let clients = Clients::with_creds(ADMIN);
    let image = layout::write_image(&clients.path("src"), "v1", 2, 64 * 1024, 11);
    let pulled = clients.round_trip_https(&image, &nginx.host(), "library/proxied:v1", &trust);
    assert_eq!(pulled, image.manifest_digest);

    // The token realm is the proxy's https address, even when the client claims another.
    let v2 = curl_from_client(&root, &[&SPOOFED[..], &[&format!("{external}/v2/")]].concat());
    let realm = format!("Bearer realm=\"{external}/service/token\"");
    assert!(header(&v2, "www-authenticate").is_some_and(|c| c.starts_with(&realm)), "{v2}");
    // Upload locations are relative: the client resolves them against the proxy's address.
    let upload = curl_from_client(
        &root,
        &["-u", "admin:Harbor12345", "-X", "POST", &format!("{external}/v2/library/proxied/blobs/uploads/")],
    );
    assert!(
        header(&upload, "location").is_some_and(|l| l.starts_with("/v2/library/proxied/blobs/uploads/")),
        "{upload}"
    );
    // The address a signed-in user reached Berth at.
    let info = curl_from_client(&root, &["-u", "admin:Harbor12345", &format!("{external}/api/v2.0/systeminfo")]);
    let info: Value = serde_json::from_str(info.rsplit_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(info["external_url"], external.as_str());
    assert_eq!(info["registry_url"], nginx.host().as_str());
    // The browser reached Berth over https through the proxy: the session cookie is Secure.
    let login =
        curl_from_client(&root, &["--data", "principal=admin&password=Harbor12345", &format!("{external}/c/login")]);
    assert!(header(&login, "set-cookie").is_some_and(|c| c.ends_with("; Secure")), "{login}");

    // The audit log records the client nginx saw, not the first X-Forwarded-For entry it made up.
    let denied = curl_from_client(
        &root,
        &[&SPOOFED[..], &["-u", "proxied:Wrong1234", &format!("{external}/api/v2.0/users/current")]].concat(),
    );
    assert!(denied.starts_with("HTTP/2 401"), "{denied}");
    assert_eq!(failed_login_sources(&berth, "proxied"), [CLIENT]);
}

#[test]
fn direct_clients_forwarding_headers_are_ignored() {
    let berth = Berth::builder().with_env("BERTH_HTTP_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8").start();
    let direct = |args: &[&str]| {
        run(direct_command("curl")
            .args(["--silent", "--show-error", "-i", "--interface", CLIENT])
            .args(SPOOFED)
            .args(args))
    };
    let v2 = direct(&[&berth.url("/v2/")]);
    let realm = format!("Bearer realm=\"http://{}/service/token\"", berth.host());
    assert!(header(&v2, "www-authenticate").is_some_and(|c| c.starts_with(&realm)), "{v2}");
    let login = direct(&["--data", "principal=admin&password=Harbor12345", &berth.url("/c/login")]);
    let cookie = header(&login, "set-cookie").unwrap_or_else(|| panic!("{login}"));
    assert!(!cookie.contains("Secure"), "a client's X-Forwarded-Proto made the cookie Secure: {cookie}");
    let denied = direct(&["-u", "spoofer:Wrong1234", &berth.url("/api/v2.0/users/current")]);
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    assert_eq!(failed_login_sources(&berth, "spoofer"), [CLIENT]);
    // The same headers from the trusted proxy's address are believed.
    let trusted = try_run(direct_command("curl").args(["--silent", "-i"]).args(SPOOFED).args([
        "-u",
        "spoofer:Wrong1234",
        &berth.url("/api/v2.0/users/current"),
    ]))
    .unwrap();
    assert!(trusted.starts_with("HTTP/1.1 401"), "{trusted}");
    let mut sources = failed_login_sources(&berth, "spoofer");
    sources.sort();
    assert_eq!(sources, [CLIENT, "6.6.6.6"]);
}
