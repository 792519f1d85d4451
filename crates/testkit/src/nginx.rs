//! A real nginx as the load balancer in front of several Berth instances, configured as the
//! README's "Scale out" section recommends: round robin without stickiness, request and response
//! bodies streamed (not buffered to disk), no body size limit, HTTP/1.1 with keep-alive to the
//! instances, and the X-Forwarded-* headers set; optionally terminating TLS, as in front of a
//! single instance.
//!
//! Everything nginx writes (pid, logs, temporary folders) stays in its own temp dir; it listens on
//! 127.0.0.1 only. nginx is a Debian package, installed by `scripts/install-test-deps.sh`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{path_str, raw_get_status, wait_until_ready};

pub struct Nginx {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// Each request line of the access log names the instance that served it, so tests can see the
/// load spread.
const LOG_FORMAT: &str = r#"'$request_method $uri $status $upstream_addr'"#;

impl Nginx {
    /// Starts nginx on `127.0.0.1:port` balancing over the servers `upstreams` (`host:port`), and
    /// waits until it forwards requests (`/api/v2.0/ping` answers through it).
    pub fn start(port: u16, upstreams: &[String]) -> Nginx {
        Nginx::start_with(port, upstreams, None)
    }

    /// Starts nginx on `127.0.0.1:port` in front of the S3 server `upstream` (`host:port`), the
    /// way a load balancer fronts a storage cluster; waits until it accepts connections. See
    /// [`answer_503`](Self::answer_503).
    pub fn start_in_front_of_s3(port: u16, upstream: &str) -> Nginx {
        Nginx::start_with(port, &[upstream.to_owned()], Some(Front::S3))
    }

    /// The same, terminating TLS (HTTP/2 and HTTP/1.1) with the PEM files `certificate` (with its
    /// chain) and `key`; waits until it accepts connections.
    pub fn start_https(port: u16, upstreams: &[String], certificate: &Path, key: &Path) -> Nginx {
        Nginx::start_with(port, upstreams, Some(Front::Tls { certificate, key }))
    }

    /// While `on`, nginx answers every request itself with `503` and S3's `SlowDown` error, as a
    /// load balancer does with no healthy backend left (or shedding load), instead of passing it
    /// on.
    pub fn answer_503(&self, on: bool) {
        let switch = self.dir.path().join(UNAVAILABLE_SWITCH);
        if on {
            std::fs::write(&switch, b"").expect("write the switch file");
        } else {
            let _ = std::fs::remove_file(&switch);
        }
    }

    fn start_with(port: u16, upstreams: &[String], front: Option<Front>) -> Nginx {
        let dir = tempfile::tempdir().expect("tempdir");
        // When the tests run as root, nginx runs its workers as `nobody` (there is no `user`
        // directive: as anyone else it stays that user); they must reach their temp folders.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), port, upstreams, front)).expect("write nginx.conf");
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("nginx stderr");
        let child = Command::new(binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            // nginx opens its compiled-in error log before it reads the configuration.
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn nginx");
        // Kept first, so that a failed start still stops it (on drop).
        let mut nginx = Nginx { child: Some(child), port, dir };
        wait_until_ready(
            "nginx",
            nginx.child.as_mut().unwrap(),
            Duration::from_secs(20),
            || match front {
                None => raw_get_status(port, "/api/v2.0/ping") == Some(200),
                Some(_) => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            },
            || logs(nginx.dir.path()),
        );
        nginx
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, as registry clients want it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// The access log: one `METHOD URI STATUS UPSTREAM` line per request.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

/// nginx's stderr and error log, in its folder `dir`.
fn logs(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!("-- stderr --\n{}\n-- error.log --\n{}", read("stderr.log"), read("error.log"))
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM to the master, which stops its workers: SIGKILL would leave them listening.
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- nginx ----\n{}\n-- access.log --\n{}", logs(self.dir.path()), self.access_log());
        }
    }
}

/// `nginx` from PATH, or Debian's `/usr/sbin/nginx` (not on the PATH of non-root users).
fn binary() -> PathBuf {
    if let Ok(out) = Command::new("nginx").arg("-v").output()
        && out.status.success()
    {
        return PathBuf::from("nginx");
    }
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.exists() {
        return sbin;
    }
    panic!("this test needs nginx (neither `nginx` on PATH nor /usr/sbin/nginx): run scripts/install-test-deps.sh");
}

/// What nginx is in front of, when not plain-HTTP Berth instances.
#[derive(Clone, Copy)]
enum Front<'a> {
    /// Berth, with TLS terminated by nginx.
    Tls { certificate: &'a Path, key: &'a Path },
    /// An S3 server, with [`Nginx::answer_503`]'s switch.
    S3,
}

/// The file in nginx's folder whose presence makes an S3 front answer 503.
const UNAVAILABLE_SWITCH: &str = "answer-503";

fn config(dir: &Path, port: u16, upstreams: &[String], front: Option<Front>) -> String {
    let listen = match front {
        None | Some(Front::S3) => format!("listen 127.0.0.1:{port};"),
        Some(Front::Tls { certificate, key }) => format!(
            "listen 127.0.0.1:{port} ssl http2;\n        ssl_certificate {};\n        ssl_certificate_key {};",
            path_str(certificate),
            path_str(key)
        ),
    };
    let dir = path_str(dir);
    let switch = match front {
        Some(Front::S3) => format!(
            "if (-f {dir}/{UNAVAILABLE_SWITCH}) {{\n                return 503 '<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';\n            }}"
        ),
        _ => String::new(),
    };
    let servers: String =
        upstreams.iter().map(|u| format!("        server {u} max_fails=1 fail_timeout=10s;\n")).collect();
    format!(
        r#"daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;

events {{
    worker_connections 1024;
}}

http {{
    log_format upstream {LOG_FORMAT};
    access_log {dir}/access.log upstream;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    # Round robin (the default), no stickiness: any instance serves any request.
    upstream berth {{
{servers}        keepalive 32;
    }}

    server {{
        {listen}

        # Layers have no size limit, and their bytes stream through in both directions.
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;

        # HTTP/1.1 and an empty Connection header keep connections to the instances alive.
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;

        # A dead instance refuses the connection: nginx then tries the next one (a request whose
        # body has started to flow cannot be replayed; the client retries it).
        proxy_next_upstream error timeout;
        proxy_connect_timeout 2s;

        location / {{
            {switch}
            proxy_pass http://berth;
        }}
    }}
}}
"#
    )
}
