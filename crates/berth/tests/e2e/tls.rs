//! HTTPS built in (`http.tls`), with certificates `openssl` makes for each test (a root CA, an
//! intermediate, a server certificate with its chain) and real clients trusting the root only:
//! curl (`--cacert`, HTTP/2 negotiated), skopeo (`--cert-dir`), podman (`--cert-dir`), Python's
//! `ssl`. Also: reloading the files without dropping connections, the start errors, the plain
//! redirect port, and the cap on open connections.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::clients::{Clients, direct_command, require_tool};
use crate::support::pki::{KeyKind, Pki, ServerCert, Validity};
use crate::support::{ADMIN, Berth, free_port, layout, path_str, run, try_run};

/// A server on HTTPS with `cert`, and the `BERTH_*` settings of `env`.
fn https_berth(cert: &ServerCert, env: &[(&str, &str)]) -> Berth {
    let mut builder = Berth::builder()
        .with_env("BERTH_HTTP_TLS_CERTIFICATE", path_str(&cert.chain))
        .with_env("BERTH_HTTP_TLS_PRIVATE_KEY", path_str(&cert.key));
    for (key, value) in env {
        builder = builder.with_env(key, value);
    }
    builder.start()
}

/// curl trusting the root `ca` only; stdout, or how it failed.
fn curl(ca: &Path, args: &[&str]) -> Result<String, String> {
    try_run(direct_command("curl").args(["--silent", "--show-error", "--cacert", path_str(ca)]).args(args))
}

/// skopeo pushes, inspects and pulls back, and podman logs in and pulls, all over HTTPS trusting
/// the test root only.
fn real_clients_over_https(kind: KeyKind, with_podman: bool) {
    require_tool("skopeo");
    let pki = Pki::new();
    let berth = https_berth(&pki.server("server", kind, &Validity::CURRENT), &[]);
    let (root, trust) = (pki.root(), pki.trust_dir());
    let ping = berth.https_url("/api/v2.0/ping");
    assert_eq!(curl(&root, &[&ping]).unwrap(), "Pong");
    // HTTP/2 when the client offers it (ALPN), HTTP/1.1 otherwise.
    let version = |flag: &str| curl(&root, &[flag, "-o", "/dev/null", "-w", "%{http_version}", &ping]).unwrap();
    assert_eq!(version("--http2"), "2");
    assert_eq!(version("--http1.1"), "1.1");
    // HTTP/2 names the host in `:authority`, not `Host`: the token realm still is this server.
    let challenge = curl(&root, &["--http2", "-o", "/dev/null", "-w", "%{header_json}", &berth.https_url("/v2/")]);
    let challenge: Value = serde_json::from_str(&challenge.unwrap()).unwrap();
    let realm = format!("Bearer realm=\"https://{}/service/token\"", berth.host());
    assert!(challenge["www-authenticate"][0].as_str().unwrap().starts_with(&realm), "{challenge}");
    // Clients check the certificate: without the test root it is not trusted.
    let untrusted = try_run(direct_command("curl").args(["--silent", "--show-error", &ping])).unwrap_err();
    assert!(untrusted.contains("certificate"), "{untrusted}");

    let clients = Clients::with_creds(ADMIN);
    let image = layout::write_image(&clients.path("src"), "v1", 2, 64 * 1024, 7);
    let pulled = clients.round_trip_https(&image, &berth.host(), "library/tls:v1", &trust);
    assert_eq!(pulled, image.manifest_digest);
    let target = format!("docker://{}/library/tls:v1", berth.host());
    let inspected = run(clients.skopeo("inspect").args(["--cert-dir", path_str(&trust), &target]));
    let inspected: Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(inspected["Digest"], image.manifest_digest.as_str());

    if with_podman {
        require_tool("podman");
        let cert_dir = format!("--cert-dir={}", path_str(&trust));
        run(clients.podman().args(["login", &cert_dir, "--username", ADMIN.0, "--password", ADMIN.1, &berth.host()]));
        let image = format!("{}/library/tls:v1", berth.host());
        run(clients.podman().args(["pull", "--quiet", &cert_dir, &image]));
        let out = run(clients.podman().args(["image", "inspect", &image]));
        let inspect: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(inspect[0]["Digest"], inspected["Digest"], "{inspect}");
        run(clients.podman().args(["rmi", "--force", &image]));
    }
}

#[test]
fn rsa_certificate_with_chain_serves_skopeo_podman_and_curl() {
    real_clients_over_https(KeyKind::Rsa, true);
}

#[test]
fn ecdsa_certificate_with_chain_serves_skopeo_and_curl() {
    real_clients_over_https(KeyKind::Ecdsa, false);
}

/// A client on one kept-alive connection: a request, then (after a line on stdin) another on the
/// same socket; prints each answer, and whether the socket is the first one.
const KEPT_ALIVE_CLIENT: &str = r#"
import http.client, ssl, sys
context = ssl.create_default_context(cafile=sys.argv[1])
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[2]), context=context)
def ping():
    c.request("GET", "/api/v2.0/ping")
    return c.getresponse().read().decode()
print(ping(), flush=True)
first = c.sock
sys.stdin.readline()
print(ping(), c.sock is first, flush=True)
"#;

/// Replaces `live`'s pair with `cert`'s as deployment tools do: new files renamed over the old.
fn install(cert: &ServerCert, live: &ServerCert) {
    for (from, to) in [(&cert.key, &live.key), (&cert.chain, &live.chain)] {
        let staged = to.with_extension("new");
        std::fs::copy(from, &staged).unwrap();
        std::fs::rename(&staged, to).unwrap();
    }
}

/// Waits until `check` holds (10 s at most).
fn eventually(what: &str, berth: &Berth, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen; log:\n{}", berth.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn certificates_reload_on_sighup_and_on_change_without_dropping_connections() {
    let (first, second) = (Pki::new(), Pki::new());
    let live_dir = tempfile::tempdir().unwrap();
    let live = ServerCert { chain: live_dir.path().join("cert.pem"), key: live_dir.path().join("key.pem") };
    install(&first.server("a", KeyKind::Ecdsa, &Validity::CURRENT), &live);
    let berth = https_berth(&live, &[]);
    let ping = berth.https_url("/api/v2.0/ping");
    let mut client = Command::new("python3")
        .args(["-c", KEPT_ALIVE_CLIENT, path_str(&first.root()), &berth.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut answers = BufReader::new(client.stdout.take().unwrap()).lines();
    assert_eq!(answers.next().unwrap().unwrap(), "Pong");

    // SIGHUP: new connections get the certificate of the second root, the kept-alive one goes on.
    install(&second.server("b", KeyKind::Rsa, &Validity::CURRENT), &live);
    berth.signal("HUP");
    eventually("a reload on SIGHUP", &berth, || curl(&second.root(), &[&ping]).is_ok());
    assert!(berth.log().contains("SIGHUP"), "{}", berth.log());
    let refused = curl(&first.root(), &[&ping]).unwrap_err();
    assert!(refused.contains("certificate"), "{refused}");
    writeln!(client.stdin.take().unwrap()).unwrap();
    assert_eq!(answers.next().unwrap().unwrap(), "Pong True", "the kept-alive connection was dropped");
    assert!(client.wait().unwrap().success());

    // A key that does not match its certificate: logged, and the previous pair stays.
    let mismatched = first.server("c", KeyKind::Ecdsa, &Validity::CURRENT);
    std::fs::copy(&first.server("d", KeyKind::Ecdsa, &Validity::CURRENT).key, &mismatched.key).unwrap();
    install(&mismatched, &live);
    berth.signal("HUP");
    eventually("the refusal of a mismatched key", &berth, || berth.log().contains("not reloaded"));
    assert!(berth.log().contains("not the key of the certificate"), "{}", berth.log());
    assert_eq!(curl(&second.root(), &[&ping]).unwrap(), "Pong");

    // Files replaced without a signal: picked up by the watch.
    install(&first.server("e", KeyKind::Rsa, &Validity::CURRENT), &live);
    eventually("a reload on change", &berth, || curl(&first.root(), &[&ping]).is_ok());
}

#[test]
fn bad_certificates_stop_the_start_with_the_file_and_the_reason() {
    let pki = Pki::new();
    let good = pki.server("good", KeyKind::Ecdsa, &Validity::CURRENT);
    let other = pki.server("other", KeyKind::Rsa, &Validity::CURRENT);
    let expired = pki.server("expired", KeyKind::Ecdsa, &Validity::EXPIRED);
    let early = pki.server("early", KeyKind::Ecdsa, &Validity::NOT_YET);
    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").unwrap();
    let missing = pki.path("missing.pem");
    let cases = [
        (&good.chain, &other.key, "not the key of the certificate"),
        (&expired.chain, &expired.key, "expired on"),
        (&early.chain, &early.key, "is not valid before"),
        (&garbage, &good.key, "no certificate in it"),
        (&missing, &good.key, "not a readable PEM file"),
        (&good.chain, &good.chain, "not a readable PEM private key"),
    ];
    let data = tempfile::tempdir().unwrap();
    for (chain, key, reason) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("serve")
            .env("BERTH_DATA_VOLUME", data.path())
            .env("BERTH_HTTP_ADDRESS", "127.0.0.1")
            .env("BERTH_HTTP_PORT", free_port().to_string())
            .env("BERTH_HTTP_TLS_CERTIFICATE", chain)
            .env("BERTH_HTTP_TLS_PRIVATE_KEY", key)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {chain:?} and {key:?}");
        assert!(stderr.contains(reason), "the error for {chain:?} + {key:?} does not say {reason:?}: {stderr}");
        let named = if reason.contains("key") { key } else { chain };
        assert!(stderr.contains(path_str(named)), "the error does not name {named:?}: {stderr}");
    }
}

#[test]
fn plain_port_redirects_browsers_and_tells_registry_clients_to_use_https() {
    let pki = Pki::new();
    let plain = free_port();
    let berth = https_berth(
        &pki.server("s", KeyKind::Ecdsa, &Validity::CURRENT),
        &[("BERTH_HTTP_TLS_REDIRECT_PORT", &plain.to_string())],
    );
    let root = pki.root();
    let https = format!("https://127.0.0.1:{}", berth.port());
    let head = curl(
        &root,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            &format!("http://127.0.0.1:{plain}/harbor/projects?page=2"),
        ],
    )
    .unwrap();
    assert_eq!(head, format!("308 {https}/harbor/projects?page=2"));
    // Followed, it reaches the portal over https (its sign-in page).
    let followed = curl(
        &root,
        &[
            "-L",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{url_effective}",
            &format!("http://127.0.0.1:{plain}/harbor/projects"),
        ],
    )
    .unwrap();
    assert!(followed.starts_with(&format!("200 {https}/harbor/sign-in")), "{followed}");
    let v2 = curl(&root, &["-w", "\n%{http_code}", &format!("http://127.0.0.1:{plain}/v2/library/app/manifests/v1")])
        .unwrap();
    let (body, status) = v2.rsplit_once('\n').unwrap();
    assert_eq!(status, "403");
    let error: Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["errors"][0]["code"], "DENIED");
    assert!(error["errors"][0]["message"].as_str().unwrap().contains(&https), "{error}");

    // Signed in over https, the session cookie is Secure.
    let login = curl(
        &root,
        &["-i", "--data", &format!("principal={}&password={}", ADMIN.0, ADMIN.1), &format!("{https}/c/login")],
    )
    .unwrap();
    let cookie =
        login.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap_or_else(|| panic!("{login}"));
    assert!(cookie.trim_end().ends_with("; Secure"), "{cookie}");
}

/// Reads what the server sends on `stream` until it closes it (or 5 s pass).
fn read_all(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn connections_past_the_cap_are_answered_503_and_open_ones_keep_working() {
    let berth = Berth::builder().with_env("BERTH_HTTP_MAX_CONNECTIONS", "3").start();
    let connect = || TcpStream::connect(("127.0.0.1", berth.port())).unwrap();
    let request = b"GET /api/v2.0/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut open: Vec<TcpStream> = (0..3).map(|_| connect()).collect();
    // Give the server the time to count them.
    std::thread::sleep(Duration::from_millis(200));
    let mut refused = connect();
    refused.write_all(request).unwrap();
    let answer = read_all(&mut refused);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("retry-after: 1"), "{answer}");
    assert!(answer.contains(r#""code":"UNAVAILABLE""#), "{answer}");
    assert!(berth.log().contains("http.max_connections reached"), "{}", berth.log());
    // The connections already open are served.
    open[0].write_all(b"GET /api/v2.0/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let served = read_all(&mut open[0]);
    assert!(served.starts_with("HTTP/1.1 200") && served.ends_with("Pong"), "{served}");
    // Far past the cap (3 + 16 answered), connections are closed without a word.
    let held: Vec<TcpStream> = (0..17).map(|_| connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut dropped = connect();
    let _ = dropped.write_all(request);
    assert_eq!(read_all(&mut dropped), "");
    drop((held, open));
    std::thread::sleep(Duration::from_millis(200));
    let mut again = connect();
    again.write_all(b"GET /api/v2.0/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    assert!(read_all(&mut again).starts_with("HTTP/1.1 200"));
}
