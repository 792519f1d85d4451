//! Configuration: one YAML file, every key overridable by a `BERTH_<KEY_PATH>` environment
//! variable (`http.port` → `BERTH_HTTP_PORT`). The list of keys — and so of variables — is derived
//! from [`Config`] itself, so the two cannot drift apart.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use berth_storage::S3Config;
use serde::{Deserialize, Serialize};
use yaml_serde::{Mapping, Value};

/// Environment variables that are not configuration keys.
const NON_KEY_VARIABLES: &[&str] = &["BERTH_CONFIG"];

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
    pub database: Database,
    pub storage: Storage,
    /// Key sealing secrets kept in the database (registry endpoint passwords). Empty: one is
    /// generated (SQLite: `<data_volume>/secret.key`; PostgreSQL: in the database).
    pub secret_key: String,
    pub limits: Limits,
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

/// Where metadata lives: SQLite in `data_volume` (default) or a PostgreSQL server shared by
/// every instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    /// Empty for SQLite (`<data_volume>/registry.db`), or `postgres://user:password@host:port/db`.
    pub url: String,
    /// Upper bound of this instance's connection pool (N instances open at most N times this).
    pub max_connections: u32,
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
        Database { url: String::new(), max_connections: 16 }
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
            database: Database::default(),
            storage: Storage::default(),
            secret_key: String::new(),
            limits: Limits::default(),
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http { address: "0.0.0.0".to_owned(), port: 5000 }
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
        for (var, raw) in env {
            let Some(suffix) = var.strip_prefix("BERTH_") else {
                continue;
            };
            if NON_KEY_VARIABLES.contains(&var.as_str()) {
                continue;
            }
            let Some((path, default)) = keys.iter().find(|(path, _)| env_suffix(path) == suffix) else {
                bail!("environment variable {var} names no configuration key (see berth.example.yml)");
            };
            // Numbers and booleans are read as YAML scalars; strings stay verbatim.
            let parsed = match default {
                Value::Number(_) | Value::Bool(_) => yaml_serde::from_str(&raw).unwrap_or(Value::String(raw)),
                _ => Value::String(raw),
            };
            set_path(&mut value, path, parsed);
        }
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            anyhow::anyhow!("configuration key `{key}`: {}", e.inner())
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.data_volume.as_os_str().is_empty() {
            bail!("configuration key `data_volume`: must not be empty");
        }
        if self.http.address.parse::<std::net::IpAddr>().is_err() {
            bail!("configuration key `http.address`: {:?} is not an IP address", self.http.address);
        }
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
        if let Err(rule) = berth_auth::password::check_rules(&self.admin_password) {
            bail!("configuration key `admin_password`: {rule}");
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
        assert!(e.contains("BERTH_HTTP_PROT"), "{e}");
        let e = Config::load(None, env(&[("BERTH_EXTERNAL_URL", "reg.example")])).unwrap_err().to_string();
        assert!(e.contains("external_url"), "{e}");
        let e = Config::load(None, env(&[("BERTH_HTTP_ADDRESS", "localhost:1")])).unwrap_err().to_string();
        assert!(e.contains("http.address"), "{e}");
        let e = Config::load(None, env(&[("BERTH_DATABASE_URL", "mysql://x")])).unwrap_err().to_string();
        assert!(e.contains("database.url"), "{e}");
        let e = Config::load(None, env(&[("BERTH_DATABASE_MAX_CONNECTIONS", "0")])).unwrap_err().to_string();
        assert!(e.contains("database.max_connections"), "{e}");
        let e = Config::load(None, env(&[("BERTH_STORAGE_S3_BUCKET", "b"), ("BERTH_STORAGE_S3_ENDPOINT", "s3.local")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("storage.s3.endpoint"), "{e}");
        let e = Config::load(None, env(&[("BERTH_STORAGE_REDIRECT", "true")])).unwrap_err().to_string();
        assert!(e.contains("storage.redirect"), "{e}");
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
