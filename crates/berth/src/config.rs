//! Configuration: one YAML file, every key overridable by a `BERTH_<KEY_PATH>` environment
//! variable (`http.port` → `BERTH_HTTP_PORT`). The list of keys — and so of variables — is derived
//! from [`Config`] itself, so the two cannot drift apart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use berth_storage::S3Config;
use serde::{Deserialize, Serialize};
use yaml_serde::{Mapping, Value};

/// Environment variables that are not configuration keys.
const NON_KEY_VARIABLES: &[&str] = &["BERTH_CONFIG"];

/// How many letters a `BERTH_*` variable may differ by from a key's and still be taken for a
/// misspelling of it.
const TYPO_DISTANCE: usize = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: Http,
    /// Where the SQLite database and the blobs live.
    pub data_volume: PathBuf,
    /// The URL clients reach Berth at, when it differs from the address they connected to (behind
    /// a load balancer or TLS terminator). Used in `Location` headers.
    pub external_url: Option<String>,
    pub log: Log,
    /// Password of the `admin` user created on first start (ignored afterwards).
    pub admin_password: String,
    /// Lifetime of registry tokens, in minutes.
    pub token_expiration: u64,
    /// Whether anyone may sign up through `POST /api/v2.0/users`.
    pub self_registration: bool,
    pub project_creation_restriction: ProjectCreationRestriction,
    /// Audit records older than this many days are purged.
    pub audit_log_retention_days: u64,
    /// Finished jobs, replication and retention executions and their tasks older than this many
    /// days are purged (each kind's and each policy's latest run stays).
    pub job_history_retention_days: u64,
    pub database: Database,
    pub storage: Storage,
    pub gc: Gc,
    /// Key sealing secrets kept in the database (registry endpoint passwords). Empty: one is
    /// generated (SQLite: `<data_volume>/secret.key`; PostgreSQL: in the database).
    pub secret_key: String,
    /// `BERTH_*` environment variables that name no key and were ignored, to be warned about
    /// once logging runs. Not a key.
    #[serde(skip)]
    pub ignored_variables: Vec<String>,
    pub metrics: Metrics,
    pub limits: Limits,
    pub tracing: Tracing,
}

/// Prometheus metrics at `/metrics`. Off by default (as in Harbor): its labels name every
/// project, private ones too, and it takes no credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    pub enabled: bool,
    /// 0: `/metrics` is served on the main listener, to anyone who reaches it. Otherwise only on
    /// a listener of its own at `address`:`port`.
    pub port: u16,
    /// The address of that listener (loopback by default: for a Prometheus on the same host).
    pub address: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { enabled: false, port: 0, address: "127.0.0.1".to_owned() }
    }
}

/// OpenTelemetry tracing: Berth's spans sent to a collector over OTLP/HTTP (protobuf). Off unless
/// `otlp.endpoint` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tracing {
    pub otlp: Otlp,
    /// The share of traces started here that are kept (0.0 to 1.0); a request that continues a
    /// client's trace (`traceparent`) follows the client's decision instead.
    pub sample_ratio: f64,
    /// The `service.name` of the spans' resource.
    pub service_name: String,
    /// Extra resource attributes, each `key=value` (`deployment.environment=production`).
    pub attributes: Vec<String>,
}

/// Where spans go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Otlp {
    /// The collector's OTLP/HTTP URL (`http://collector:4318`); `/v1/traces` is appended unless
    /// it has a path. Empty: tracing is off.
    pub endpoint: String,
    /// How long one export may take before it is given up.
    pub timeout_seconds: u64,
    /// Headers sent with each export, each `name=value` (`authorization=Bearer ...`).
    pub headers: Vec<String>,
}

impl Default for Tracing {
    fn default() -> Self {
        Tracing { otlp: Otlp::default(), sample_ratio: 1.0, service_name: "berth".to_owned(), attributes: Vec::new() }
    }
}

impl Default for Otlp {
    fn default() -> Self {
        Otlp { endpoint: String::new(), timeout_seconds: 10, headers: Vec::new() }
    }
}

impl Tracing {
    pub fn enabled(&self) -> bool {
        !self.otlp.endpoint.is_empty()
    }

    /// The URL spans are posted to: the endpoint, with `/v1/traces` when it has no path.
    pub fn traces_url(&self) -> anyhow::Result<String> {
        let endpoint = &self.otlp.endpoint;
        let uri: http::Uri = endpoint.parse().map_err(|e| {
            anyhow::anyhow!("configuration key `tracing.otlp.endpoint`: {endpoint:?} is not a URL ({e})")
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
            bail!(
                "configuration key `tracing.otlp.endpoint`: {endpoint:?} must be an http:// or https:// URL with a host"
            );
        }
        // The URL is logged: credentials belong in `tracing.otlp.headers`, which never are.
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            bail!("configuration key `tracing.otlp.endpoint`: put credentials in tracing.otlp.headers, not in the URL");
        }
        if matches!(uri.path(), "" | "/") && uri.query().is_none() {
            return Ok(format!("{}/v1/traces", endpoint.trim_end_matches('/')));
        }
        Ok(endpoint.clone())
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.enabled() {
            self.traces_url()?;
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            bail!("configuration key `tracing.sample_ratio`: must be between 0.0 and 1.0");
        }
        if self.service_name.trim().is_empty() {
            bail!("configuration key `tracing.service_name`: must not be empty");
        }
        if !(1..=300).contains(&self.otlp.timeout_seconds) {
            bail!("configuration key `tracing.otlp.timeout_seconds`: must be between 1 and 300");
        }
        for attribute in &self.attributes {
            if key_value(attribute).is_none() {
                bail!("configuration key `tracing.attributes`: {attribute:?} is not `key=value`");
            }
        }
        for header in &self.otlp.headers {
            // The value may be a secret: the message names the header only.
            let valid = key_value(header).is_some_and(|(name, value)| {
                http::HeaderName::try_from(name).is_ok() && http::HeaderValue::try_from(value).is_ok()
            });
            if !valid {
                let name = header.split('=').next().unwrap_or_default();
                bail!(
                    "configuration key `tracing.otlp.headers`: {name:?} is not `name=value` with a valid HTTP header name and value"
                );
            }
        }
        Ok(())
    }

    /// The extra resource attributes, as (key, value).
    pub fn attribute_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attributes.iter().filter_map(|a| key_value(a))
    }

    /// The collector's headers, as (name, value).
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.otlp.headers.iter().filter_map(|h| key_value(h))
    }
}

/// `key=value`, both sides trimmed, the key not empty.
fn key_value(item: &str) -> Option<(&str, &str)> {
    let (key, value) = item.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()).then_some((key, value.trim()))
}

/// Per-client limits against abuse (`0` turns one off). Clients are counted by address (IPv6 by
/// /64), per instance; over a limit a request is answered 429 with `Retry-After`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Requests to the token service (`/service/token`) per minute, and how many at once.
    pub token_per_minute: u32,
    pub token_burst: u32,
    /// Sign-ins (`POST /c/login`, the portal's sign-in form) per minute, and how many at once.
    pub login_per_minute: u32,
    pub login_burst: u32,
    /// Requests to `/api/` per second, and how many at once.
    pub api_per_second: u32,
    pub api_burst: u32,
    /// Blob upload requests (`POST`, `PATCH`, `PUT` of `/v2/<name>/blobs/uploads/`) in progress at once.
    pub uploads_per_client: u32,
    /// Whether clients on loopback (127.0.0.0/8, ::1) are exempt from these limits.
    pub exempt_loopback: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            token_per_minute: 600,
            token_burst: 100,
            login_per_minute: 30,
            login_burst: 10,
            api_per_second: 20,
            api_burst: 200,
            uploads_per_client: 32,
            exempt_loopback: true,
        }
    }
}

/// Garbage collection (`/system/gc`, `berth gc`; docs/architecture.md, "Garbage collection").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gc {
    /// Blobs, repository links and untagged artifacts used (pushed, uploaded, mounted, checked)
    /// within this many hours stay (Harbor's `GC_TIME_WINDOW_HOURS`). Fractions and 0 allowed.
    pub time_window_hours: f64,
    /// Upload sessions idle this many hours are abandoned and deleted, as are stray objects in
    /// storage no metadata names once this old. Fractions and 0 allowed.
    pub upload_idle_hours: f64,
}

impl Default for Gc {
    fn default() -> Self {
        Gc { time_window_hours: 2.0, upload_idle_hours: 24.0 }
    }
}

impl Gc {
    pub fn time_window(&self) -> Duration {
        Duration::from_secs_f64(self.time_window_hours * 3600.0)
    }

    pub fn upload_idle(&self) -> Duration {
        Duration::from_secs_f64(self.upload_idle_hours * 3600.0)
    }

    fn validate(&self) -> anyhow::Result<()> {
        for (key, hours) in
            [("time_window_hours", self.time_window_hours), ("upload_idle_hours", self.upload_idle_hours)]
        {
            if !(0.0..=87_600.0).contains(&hours) {
                bail!("configuration key `gc.{key}`: must be a number of hours from 0 to 87600, not {hours}");
            }
        }
        Ok(())
    }
}

/// Where metadata lives: SQLite in `data_volume` (default) or a PostgreSQL server shared by
/// every instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    /// Empty for SQLite (`<data_volume>/registry.db`), or `postgres://user:password@host:port/db`.
    pub url: String,
    /// Upper bound of this instance's connection pool (N instances open at most N times this).
    pub max_connections: u32,
    /// PostgreSQL: how long a request waits for a connection before it is answered `503` (the
    /// server is down, or every connection is busy); also the bound of the first connection at
    /// start-up.
    pub acquire_timeout_seconds: u64,
}

/// Where blobs live: the `storage/` folder of `data_volume` (default) or an S3-compatible bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// An S3-compatible bucket; used when `bucket` is set.
    pub s3: S3Config,
    /// Serve blob downloads as `307` redirects to presigned URLs of the bucket (S3 only), so the
    /// bytes flow from the store to the client without passing through Berth.
    pub redirect: bool,
}

impl Default for Database {
    fn default() -> Self {
        Database { url: String::new(), max_connections: 16, acquire_timeout_seconds: 5 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectCreationRestriction {
    Everyone,
    AdminOnly,
}

/// Harbor's well-known default; Berth warns when it is used.
pub const DEFAULT_ADMIN_PASSWORD: &str = "Harbor12345";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    pub address: String,
    pub port: u16,
    /// Addresses or CIDR ranges of the proxies whose forwarding headers (`X-Forwarded-For`,
    /// `-Proto`, `-Host`, `Forwarded`) are believed; every other peer's are ignored.
    pub trusted_proxies: Vec<String>,
    /// Most connections open at once; past it new ones are answered 503 (or, far past it, closed).
    pub max_connections: u32,
    pub tls: Tls,
}

/// HTTPS on `http.port`, when `certificate` and `private_key` are set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM file: the server's certificate first, then the intermediates of its chain.
    pub certificate: PathBuf,
    /// PEM file: the certificate's private key (RSA, ECDSA or Ed25519; PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// A plain-HTTP port that sends browsers to https and tells registry clients to use it; 0: none.
    pub redirect_port: u16,
}

impl Tls {
    pub fn enabled(&self) -> bool {
        !self.certificate.as_os_str().is_empty()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub level: LogLevel,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http: Http::default(),
            data_volume: PathBuf::from("./data"),
            external_url: None,
            log: Log::default(),
            admin_password: DEFAULT_ADMIN_PASSWORD.to_owned(),
            token_expiration: 30,
            self_registration: false,
            project_creation_restriction: ProjectCreationRestriction::Everyone,
            audit_log_retention_days: 90,
            job_history_retention_days: 30,
            database: Database::default(),
            storage: Storage::default(),
            gc: Gc::default(),
            secret_key: String::new(),
            ignored_variables: Vec::new(),
            metrics: Metrics::default(),
            limits: Limits::default(),
            tracing: Tracing::default(),
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http {
            address: "0.0.0.0".to_owned(),
            port: 5000,
            trusted_proxies: Vec::new(),
            max_connections: 1000,
            tls: Tls::default(),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log { level: LogLevel::Info, format: LogFormat::Text }
    }
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl Config {
    /// Reads `file` (if any), applies `BERTH_*` variables from `env`, and validates.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Config> {
        let mut value = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                let v: Value = yaml_serde::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
                match v {
                    Value::Null => Value::Mapping(Mapping::new()),
                    v @ Value::Mapping(_) => v,
                    _ => bail!("{}: the configuration must be a mapping of keys", path.display()),
                }
            }
            None => Value::Mapping(Mapping::new()),
        };
        let keys = leaf_keys();
        let mut ignored = Vec::new();
        for (var, raw) in env {
            let Some(suffix) = var.strip_prefix("BERTH_") else {
                continue;
            };
            if NON_KEY_VARIABLES.contains(&var.as_str()) {
                continue;
            }
            let Some((path, default)) = keys.iter().find(|(path, _)| env_suffix(path) == suffix) else {
                if let Some(meant) = meant_key(&var, &keys) {
                    bail!(
                        "environment variable {var} names no configuration key: did you mean BERTH_{}? \
                         (see berth.example.yml)",
                        env_suffix(meant)
                    );
                }
                ignored.push(var);
                continue;
            };
            // Numbers and booleans are read as YAML scalars, lists as comma-separated items;
            // strings stay verbatim.
            let parsed = match default {
                Value::Number(_) | Value::Bool(_) => yaml_serde::from_str(&raw).unwrap_or(Value::String(raw)),
                Value::Sequence(_) => {
                    raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect()
                }
                _ => Value::String(raw),
            };
            set_path(&mut value, path, parsed);
        }
        let mut config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            anyhow::anyhow!("configuration key `{key}`: {}", e.inner())
        })?;
        config.validate()?;
        ignored.sort();
        config.ignored_variables = ignored;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.data_volume.as_os_str().is_empty() {
            bail!("configuration key `data_volume`: must not be empty");
        }
        if self.http.address.parse::<std::net::IpAddr>().is_err() {
            bail!("configuration key `http.address`: {:?} is not an IP address", self.http.address);
        }
        self.http.validate()?;
        if let Some(url) = &self.external_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("configuration key `external_url`: {url:?} must start with http:// or https://");
        }
        if self.audit_log_retention_days == 0 {
            bail!(
                "configuration key `audit_log_retention_days`: must be at least 1 (the log must not grow without bound)"
            );
        }
        if self.job_history_retention_days == 0 {
            bail!(
                "configuration key `job_history_retention_days`: must be at least 1 (a run's status must stay visible)"
            );
        }
        self.gc.validate()?;
        if !self.secret_key.is_empty() && self.secret_key.len() < 16 {
            bail!("configuration key `secret_key`: must be at least 16 characters (or empty to generate one)");
        }
        if self.token_expiration == 0 {
            bail!("configuration key `token_expiration`: must be at least 1 (minutes)");
        }
        let url = &self.database.url;
        if !(url.is_empty() || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("configuration key `database.url`: must be empty (SQLite in data_volume) or a postgres:// URL");
        }
        if self.database.max_connections == 0 || self.database.max_connections > 1000 {
            bail!("configuration key `database.max_connections`: must be between 1 and 1000");
        }
        if !(1..=300).contains(&self.database.acquire_timeout_seconds) {
            bail!("configuration key `database.acquire_timeout_seconds`: must be between 1 and 300");
        }
        let s3 = &self.storage.s3;
        if !s3.bucket.is_empty() {
            if !(s3.endpoint.starts_with("http://") || s3.endpoint.starts_with("https://")) {
                bail!("configuration key `storage.s3.endpoint`: {:?} must be an http:// or https:// URL", s3.endpoint);
            }
            if s3.access_key.is_empty() || s3.secret_key.is_empty() {
                bail!("configuration key `storage.s3.access_key`: the bucket needs an access key and a secret key");
            }
        } else if self.storage.redirect {
            bail!("configuration key `storage.redirect`: needs S3 storage (storage.s3.bucket)");
        }
        if self.metrics.address.parse::<std::net::IpAddr>().is_err() {
            bail!("configuration key `metrics.address`: {:?} is not an IP address", self.metrics.address);
        }
        if self.metrics.port != 0 && self.metrics.port == self.http.port {
            bail!("configuration key `metrics.port`: must differ from http.port (0 serves /metrics on http.port)");
        }
        self.tracing.validate()?;
        if let Err(rule) = berth_auth::password::check_rules(&self.admin_password) {
            bail!("configuration key `admin_password`: {rule}");
        }
        Ok(())
    }
}

impl Http {
    fn validate(&self) -> anyhow::Result<()> {
        if let Err(e) = crate::origin::TrustedProxies::parse(&self.trusted_proxies) {
            bail!("configuration key `http.trusted_proxies`: {e}");
        }
        if self.max_connections == 0 {
            bail!("configuration key `http.max_connections`: must be at least 1");
        }
        let tls = &self.tls;
        if tls.certificate.as_os_str().is_empty() != tls.private_key.as_os_str().is_empty() {
            bail!("configuration key `http.tls`: set both `certificate` and `private_key`, or neither");
        }
        if tls.redirect_port != 0 && (!tls.enabled() || tls.redirect_port == self.port) {
            bail!("configuration key `http.tls.redirect_port`: needs TLS on http.port, and another port than it");
        }
        Ok(())
    }
}

/// Every leaf key of the configuration with its default value, e.g. (["http","port"], 5000).
fn leaf_keys() -> Vec<(Vec<String>, Value)> {
    fn walk(prefix: &mut Vec<String>, v: &Value, out: &mut Vec<(Vec<String>, Value)>) {
        match v {
            Value::Mapping(m) => {
                for (k, child) in m {
                    prefix.push(k.as_str().expect("config keys are strings").to_owned());
                    walk(prefix, child, out);
                    prefix.pop();
                }
            }
            leaf => out.push((prefix.clone(), leaf.clone())),
        }
    }
    let defaults = yaml_serde::to_value(Config::default()).expect("default config serializes");
    let mut out = Vec::new();
    walk(&mut Vec::new(), &defaults, &mut out);
    out
}

/// The key a `BERTH_*` variable naming none was meant for, if it looks like a misspelling of one:
/// a few letters off a key's variable (`BERTH_HTP_PORT`), or, unless Kubernetes could have set it,
/// a variable under a key's section (`BERTH_HTTP_PROT`). Other variables may be someone else's: Kubernetes gives every pod `BERTH_PORT`,
/// `BERTH_SERVICE_HOST`… when a Service called `berth` runs in its namespace, and scripts name
/// their own `BERTH_*` variables; those are ignored.
fn meant_key<'k>(var: &str, keys: &'k [(Vec<String>, Value)]) -> Option<&'k [String]> {
    let suffix = var.strip_prefix("BERTH_")?;
    let nearest = |paths: &mut dyn Iterator<Item = &'k Vec<String>>| {
        paths.map(|path| (edit_distance(suffix, &env_suffix(path)), path)).min()
    };
    let (distance, key) = nearest(&mut keys.iter().map(|(path, _)| path))?;
    if distance <= TYPO_DISTANCE {
        return Some(key);
    }
    if kubernetes_service_variable(var) {
        return None;
    }
    let mut section =
        keys.iter().map(|(path, _)| path).filter(|path| suffix.starts_with(&format!("{}_", path[0].to_uppercase())));
    nearest(&mut section).map(|(_, key)| key.as_slice())
}

/// Whether `var` has the shape of the variables Kubernetes sets for a Service:
/// `{SERVICE}_SERVICE_HOST`, `{SERVICE}_SERVICE_PORT[_{NAME}]`, `{SERVICE}_PORT` and
/// `{SERVICE}_PORT_{port}_{TCP|UDP|SCTP}[_PROTO|_PORT|_ADDR]`.
fn kubernetes_service_variable(var: &str) -> bool {
    if var.ends_with("_SERVICE_HOST") || var.contains("_SERVICE_PORT") || var.ends_with("_PORT") {
        return true;
    }
    var.split("_PORT_").skip(1).any(|rest| {
        let parts: Vec<&str> = rest.split('_').collect();
        let port = parts[0].parse::<u16>().is_ok();
        let protocol = parts.get(1).is_some_and(|p| matches!(*p, "TCP" | "UDP" | "SCTP"));
        let field = match parts.get(2..) {
            Some([]) => true,
            Some([f]) => matches!(*f, "PROTO" | "PORT" | "ADDR"),
            _ => false,
        };
        port && protocol && field
    })
}

/// Levenshtein distance between `a` and `b`, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn env_suffix(path: &[String]) -> String {
    path.join("_").to_uppercase()
}

fn set_path(root: &mut Value, path: &[String], leaf: Value) {
    let mut node = root;
    for (i, key) in path.iter().enumerate() {
        if !matches!(node, Value::Mapping(_)) {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else { unreachable!() };
        let key = Value::String(key.clone());
        if i == path.len() - 1 {
            map.insert(key, leaf);
            return;
        }
        node = map.entry(key).or_insert(Value::Mapping(Mapping::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn defaults_without_file() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.http.port, 5000);
        assert_eq!(c.data_volume, PathBuf::from("./data"));
    }

    #[test]
    fn file_then_environment() {
        let f = file("http:\n  port: 6000\nlog:\n  format: json\nexternal_url: https://reg.example\n");
        let c = Config::load(
            Some(f.path()),
            env(&[("BERTH_HTTP_PORT", "7000"), ("BERTH_DATA_VOLUME", "/srv/b"), ("PATH", "x")]),
        )
        .unwrap();
        assert_eq!(c.http.port, 7000);
        assert_eq!(c.data_volume, PathBuf::from("/srv/b"));
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.external_url.as_deref(), Some("https://reg.example"));
    }

    #[test]
    fn errors_name_the_key() {
        let f = file("http:\n  prot: 1\n");
        let e = Config::load(Some(f.path()), env(&[])).unwrap_err().to_string();
        assert!(e.contains("http") && e.contains("prot"), "{e}");
        let f = file("log:\n  level: loud\n");
        let e = Config::load(Some(f.path()), env(&[])).unwrap_err().to_string();
        assert!(e.contains("log.level"), "{e}");
        let e = Config::load(None, env(&[("BERTH_HTTP_PORT", "99999")])).unwrap_err().to_string();
        assert!(e.contains("http.port"), "{e}");
        let e = Config::load(None, env(&[("BERTH_HTTP_PROT", "1")])).unwrap_err().to_string();
        assert!(e.contains("BERTH_HTTP_PROT") && e.contains("did you mean BERTH_HTTP_PORT"), "{e}");
        let e = Config::load(None, env(&[("BERTH_EXTERNAL_URL", "reg.example")])).unwrap_err().to_string();
        assert!(e.contains("external_url"), "{e}");
        let e = Config::load(None, env(&[("BERTH_HTTP_ADDRESS", "localhost:1")])).unwrap_err().to_string();
        assert!(e.contains("http.address"), "{e}");
        let e = Config::load(None, env(&[("BERTH_DATABASE_URL", "mysql://x")])).unwrap_err().to_string();
        assert!(e.contains("database.url"), "{e}");
        let e = Config::load(None, env(&[("BERTH_DATABASE_MAX_CONNECTIONS", "0")])).unwrap_err().to_string();
        assert!(e.contains("database.max_connections"), "{e}");
        let e = Config::load(None, env(&[("BERTH_DATABASE_ACQUIRE_TIMEOUT_SECONDS", "0")])).unwrap_err().to_string();
        assert!(e.contains("database.acquire_timeout_seconds"), "{e}");
        let e = Config::load(None, env(&[("BERTH_STORAGE_S3_BUCKET", "b"), ("BERTH_STORAGE_S3_ENDPOINT", "s3.local")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("storage.s3.endpoint"), "{e}");
        let e = Config::load(None, env(&[("BERTH_STORAGE_REDIRECT", "true")])).unwrap_err().to_string();
        assert!(e.contains("storage.redirect"), "{e}");
        let e = Config::load(None, env(&[("BERTH_METRICS_ADDRESS", "localhost")])).unwrap_err().to_string();
        assert!(e.contains("metrics.address"), "{e}");
        let e = Config::load(None, env(&[("BERTH_METRICS_PORT", "5000")])).unwrap_err().to_string();
        assert!(e.contains("metrics.port"), "{e}");
        let e = Config::load(None, env(&[("BERTH_HTTP_TRUSTED_PROXIES", "10.0.0.0/33")])).unwrap_err().to_string();
        assert!(e.contains("http.trusted_proxies") && e.contains("10.0.0.0/33"), "{e}");
        let e = Config::load(None, env(&[("BERTH_HTTP_TLS_CERTIFICATE", "/c.pem")])).unwrap_err().to_string();
        assert!(e.contains("http.tls"), "{e}");
        let e = Config::load(None, env(&[("BERTH_HTTP_TLS_REDIRECT_PORT", "80")])).unwrap_err().to_string();
        assert!(e.contains("http.tls.redirect_port"), "{e}");
        let e = Config::load(None, env(&[("BERTH_HTTP_MAX_CONNECTIONS", "0")])).unwrap_err().to_string();
        assert!(e.contains("http.max_connections"), "{e}");
        let e = Config::load(None, env(&[("BERTH_JOB_HISTORY_RETENTION_DAYS", "0")])).unwrap_err().to_string();
        assert!(e.contains("job_history_retention_days"), "{e}");
        let c = Config::load(None, env(&[("BERTH_JOB_HISTORY_RETENTION_DAYS", "7")])).unwrap();
        assert_eq!(c.job_history_retention_days, 7);
    }

    #[test]
    fn tracing_is_off_by_default_and_its_settings_are_checked() {
        let c = Config::load(None, env(&[])).unwrap();
        assert!(!c.tracing.enabled());
        let traces = |endpoint: &str| {
            let c = Config::load(None, env(&[("BERTH_TRACING_OTLP_ENDPOINT", endpoint)])).unwrap();
            c.tracing.traces_url().unwrap()
        };
        assert_eq!(traces("http://collector:4318"), "http://collector:4318/v1/traces");
        assert_eq!(traces("https://collector:4318/"), "https://collector:4318/v1/traces");
        assert_eq!(traces("http://collector/otlp/v1/traces"), "http://collector/otlp/v1/traces");
        let c = Config::load(
            None,
            env(&[
                ("BERTH_TRACING_ATTRIBUTES", "deployment.environment = prod,team=a=b"),
                ("BERTH_TRACING_OTLP_HEADERS", "authorization=Bearer x"),
            ]),
        )
        .unwrap();
        let attributes: Vec<_> = c.tracing.attribute_pairs().collect();
        assert_eq!(attributes, [("deployment.environment", "prod"), ("team", "a=b")]);
        assert_eq!(c.tracing.header_pairs().collect::<Vec<_>>(), [("authorization", "Bearer x")]);
        for (var, value, key) in [
            ("BERTH_TRACING_OTLP_ENDPOINT", "collector:4318", "tracing.otlp.endpoint"),
            ("BERTH_TRACING_OTLP_ENDPOINT", "grpc://collector:4317", "tracing.otlp.endpoint"),
            ("BERTH_TRACING_OTLP_ENDPOINT", "http:///v1/traces", "tracing.otlp.endpoint"),
            ("BERTH_TRACING_OTLP_ENDPOINT", "http://user:s3cret@collector:4318", "tracing.otlp.endpoint"),
            ("BERTH_TRACING_SAMPLE_RATIO", "-0.1", "tracing.sample_ratio"),
            ("BERTH_TRACING_SAMPLE_RATIO", "often", "tracing.sample_ratio"),
            ("BERTH_TRACING_SERVICE_NAME", " ", "tracing.service_name"),
            ("BERTH_TRACING_ATTRIBUTES", "team", "tracing.attributes"),
            ("BERTH_TRACING_OTLP_HEADERS", "bad header=x", "tracing.otlp.headers"),
            ("BERTH_TRACING_OTLP_TIMEOUT_SECONDS", "0", "tracing.otlp.timeout_seconds"),
        ] {
            let e = Config::load(None, env(&[(var, value)])).unwrap_err().to_string();
            assert!(e.contains(key), "{var}={value}: {e}");
        }
        // A header's value may be a secret: the error names the header, not the value.
        let e = Config::load(None, env(&[("BERTH_TRACING_OTLP_HEADERS", "authorization=Bearer s3\u{1}cret")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("authorization") && !e.contains("cret"), "{e}");
    }

    #[test]
    fn lists_come_from_the_environment_comma_separated() {
        let c = Config::load(None, env(&[("BERTH_HTTP_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1,,::1")])).unwrap();
        assert_eq!(c.http.trusted_proxies, ["10.0.0.0/8", "192.0.2.1", "::1"]);
    }

    #[test]
    fn misspelt_variables_stop_the_start_naming_the_key_meant() {
        for (var, meant) in [
            ("BERTH_HTP_PORT", "BERTH_HTTP_PORT"),
            ("BERTH_HTTP_PORTS", "BERTH_HTTP_PORT"),
            ("BERTH_DATABASEURL", "BERTH_DATABASE_URL"),
            ("BERTH_LOG_LEVLE", "BERTH_LOG_LEVEL"),
            ("BERTH_STORGE_S3_BUCKET", "BERTH_STORAGE_S3_BUCKET"),
            ("BERTH_ADMIN_PASSWROD", "BERTH_ADMIN_PASSWORD"),
            ("BERTH_HTTP_PROT", "BERTH_HTTP_"),
            ("BERTH_STORAGE_S3_REGIONS_LIST", "BERTH_STORAGE_S3_REGION"),
            ("BERTH_SECRET_KEY_FILE", "BERTH_SECRET_KEY"),
            ("BERTH_DATABASE_PASSWORD", "BERTH_DATABASE_URL"),
        ] {
            let e = Config::load(None, env(&[(var, "1")])).unwrap_err().to_string();
            assert!(e.contains(var) && e.contains(&format!("did you mean {meant}")), "{var}: {e}");
        }
    }

    #[test]
    fn variables_of_kubernetes_and_scripts_are_ignored_and_listed() {
        // What Kubernetes sets in every pod of a namespace with Services `berth` and
        // `berth-database`, and what the project's own test scripts use.
        let others = [
            ("BERTH_PORT", "tcp://10.0.0.7:5000"),
            ("BERTH_SERVICE_HOST", "10.0.0.7"),
            ("BERTH_SERVICE_PORT", "5000"),
            ("BERTH_SERVICE_PORT_HTTP", "5000"),
            ("BERTH_PORT_5000_TCP", "tcp://10.0.0.7:5000"),
            ("BERTH_PORT_5000_TCP_PROTO", "tcp"),
            ("BERTH_PORT_5000_TCP_PORT", "5000"),
            ("BERTH_PORT_5000_TCP_ADDR", "10.0.0.7"),
            ("BERTH_DATABASE_PORT", "tcp://10.0.0.8:5432"),
            ("BERTH_DATABASE_PORT_5432_TCP_ADDR", "10.0.0.8"),
            ("BERTH_S3_TEST_DIR", "/tmp/s3"),
            ("BERTH_S3_TEST_ENDPOINT", "http://127.0.0.1:39100"),
        ];
        let mut vars = env(&others);
        vars.push(("BERTH_HTTP_PORT".to_owned(), "7000".to_owned()));
        let c = Config::load(None, vars).unwrap();
        assert_eq!(c.http.port, 7000, "real keys are still read");
        let mut expected: Vec<&str> = others.iter().map(|(k, _)| *k).collect();
        expected.sort();
        assert_eq!(c.ignored_variables, expected);
        // A key in the file that is no key is still refused.
        let f = file("port: 5000\n");
        assert!(Config::load(Some(f.path()), env(&others)).is_err());
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("HTTP_PORT", "HTTP_PORT"), 0);
        assert_eq!(edit_distance("HTP_PORT", "HTTP_PORT"), 1);
        assert_eq!(edit_distance("HTTP_PROT", "HTTP_PORT"), 2);
        assert_eq!(edit_distance("", "LOG"), 3);
        assert_eq!(edit_distance("PORT", "HTTP_PORT"), 5);
    }

    #[test]
    fn example_file_is_valid_and_complete() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../berth.example.yml");
        let c = Config::load(Some(&example), env(&[])).unwrap();
        assert_eq!(c.http.port, Config::default().http.port);
        let text = std::fs::read_to_string(&example).unwrap();
        for (path, _) in leaf_keys() {
            let last = path.last().unwrap();
            assert!(text.contains(&format!("{last}:")), "berth.example.yml does not document {}", path.join("."));
        }
    }
}
