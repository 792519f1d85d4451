//! Starting the two registries: Berth on its embedded defaults, and Debian's docker-registry
//! (CNCF distribution 2.8) with a filesystem store; both on 127.0.0.1, data in the work folder.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const ADMIN: (&str, &str) = ("admin", "Harbor12345");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Berth,
    Distribution,
}

pub struct Server {
    pub flavor: Flavor,
    pub host: String,
    pub ready_after: Duration,
    child: Child,
}

impl Server {
    pub fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::Berth => "berth",
            Flavor::Distribution => "distribution",
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    /// Basic credentials to send, if the registry wants any.
    pub fn creds(&self) -> Option<(&'static str, &'static str)> {
        (self.flavor == Flavor::Berth).then_some(ADMIN)
    }

    pub async fn start(flavor: Flavor, berth: &Path, dir: &Path) -> anyhow::Result<Server> {
        Server::start_with(flavor, berth, dir, &[]).await
    }

    /// [`Server::start`] with `env` added to the server's environment (Berth's settings).
    pub async fn start_with(
        flavor: Flavor,
        berth: &Path,
        dir: &Path,
        env: &[(String, String)],
    ) -> anyhow::Result<Server> {
        std::fs::create_dir_all(dir)?;
        let port = berth_testkit::free_port();
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut cmd = match flavor {
            Flavor::Berth => {
                let mut c = Command::new(berth);
                c.arg("serve")
                    .env("BERTH_HTTP_ADDRESS", "127.0.0.1")
                    .env("BERTH_HTTP_PORT", port.to_string())
                    .env("BERTH_DATA_VOLUME", dir.join("data"))
                    .env("BERTH_LOG_LEVEL", "warn")
                    .envs(env.iter().map(|(k, v)| (k, v)));
                c
            }
            Flavor::Distribution => {
                let config = dir.join("config.yml");
                std::fs::write(&config, berth_testkit::peer::config(&dir.join("data"), port))?;
                let mut c = Command::new("docker-registry");
                c.arg("serve").arg(config);
                c
            }
        };
        let started = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {flavor:?}"))?;
        let mut server = Server { flavor, host: format!("127.0.0.1:{port}"), ready_after: Duration::ZERO, child };
        let client = reqwest::Client::new();
        loop {
            let mut req = client.get(server.url("/v2/"));
            if let Some((u, p)) = server.creds() {
                req = req.basic_auth(u, Some(p));
            }
            if let Ok(r) = req.send().await
                && r.status().is_success()
            {
                server.ready_after = started.elapsed();
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("{flavor:?} not ready after 30 s (see {})", dir.join("server.log").display());
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("{flavor:?} exited with {status} (see {})", dir.join("server.log").display());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if flavor == Flavor::Berth {
            let r = client
                .post(server.url("/api/v2.0/projects"))
                .basic_auth(ADMIN.0, Some(ADMIN.1))
                .json(&serde_json::json!({"project_name": "bench", "metadata": {"public": "true"}}))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("creating the bench project: {}", r.status());
            }
        }
        Ok(server)
    }

    fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{field} of {:?}", self.flavor))
    }

    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        self.status_kib("VmRSS:")
    }

    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        self.status_kib("VmHWM:")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
