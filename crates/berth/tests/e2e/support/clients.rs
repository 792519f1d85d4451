//! The registry clients (skopeo, podman) in an isolated environment, shared by the real-client
//! tests.
//!
//! The clients are not Rust crates: `scripts/install-test-deps.sh` installs them. A missing client
//! fails its test with a message saying so; no test is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use berth_testkit::{path_str, run, try_run};

use crate::support::layout::Image;

/// Registry credentials, `(user, password)`; `None` is anonymous.
pub type Creds<'a> = Option<(&'a str, &'a str)>;

/// Fails the test (never skips it) when `tool` cannot be run.
pub fn require_tool(tool: &str) {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{tool} --version` failed ({}): {}\nrun scripts/install-test-deps.sh",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "the registry client `{tool}` is required by this test but cannot be run ({e}); \
             install it with scripts/install-test-deps.sh"
        ),
    }
}

/// `program` with no proxy, whatever the environment says: all traffic goes to 127.0.0.1.
pub fn direct_command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    for var in ["http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        cmd.env_remove(var);
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost").env("no_proxy", "127.0.0.1,localhost");
    cmd
}

/// An isolated configuration for the containers tools (skopeo, podman): their own home, policy,
/// registries.conf, auth file, storage and temporary folders, so that neither the host's
/// configuration nor its image storage is used. (One thing cannot be moved from the command
/// line: as root, skopeo keeps its blob-info cache in /var/lib/containers/cache. It is only a
/// cache of where blobs were seen, keyed by registry host and port.)
///
/// The skopeo helpers pass this environment's credentials ([`Clients::with_creds`]) on the
/// command line; podman reads what `podman login` wrote into the environment's auth file.
pub struct Clients {
    dir: tempfile::TempDir,
    creds: Option<(String, String)>,
}

impl Clients {
    /// An environment whose skopeo helpers are anonymous.
    pub fn new() -> Clients {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for sub in [
            "home/.config/containers",
            "home/.local/share",
            "home/.cache",
            "run",
            "tmp",
            "storage/graph",
            "storage/run",
            "podman/networks",
            "podman/tmp",
            "podman/volumes",
            "podman/static",
        ] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let policy = r#"{"default":[{"type":"insecureAcceptAnything"}]}"#;
        std::fs::write(root.join("policy.json"), policy).unwrap();
        std::fs::write(root.join("home/.config/containers/policy.json"), policy).unwrap();
        // No search registries, no mirrors, no short names: only fully qualified 127.0.0.1 names.
        std::fs::write(
            root.join("registries.conf"),
            "unqualified-search-registries = []\nshort-name-mode = \"disabled\"\n",
        )
        .unwrap();
        std::fs::write(root.join("auth.json"), "{\"auths\":{}}\n").unwrap();
        std::fs::write(
            root.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                path_str(&root.join("storage/graph")),
                path_str(&root.join("storage/run")),
            ),
        )
        .unwrap();
        // podman as root, without systemd: events to a file, cgroupfs, and every state folder in
        // the temp dir. The CNI network backend with its own config folder: rootful netavark
        // would create /run/containers/networks on the host even for a pull.
        std::fs::write(
            root.join("containers.conf"),
            format!(
                "[network]\n\
                 network_backend = \"cni\"\n\
                 network_config_dir = \"{}\"\n\
                 [engine]\n\
                 events_logger = \"file\"\n\
                 events_logfile_path = \"{}\"\n\
                 cgroup_manager = \"cgroupfs\"\n\
                 tmp_dir = \"{}\"\n\
                 volume_path = \"{}\"\n\
                 static_dir = \"{}\"\n",
                path_str(&root.join("podman/networks")),
                path_str(&root.join("podman/events.log")),
                path_str(&root.join("podman/tmp")),
                path_str(&root.join("podman/volumes")),
                path_str(&root.join("podman/static")),
            ),
        )
        .unwrap();
        Clients { dir, creds: None }
    }

    /// An environment whose skopeo helpers use `creds`.
    pub fn with_creds(creds: (&str, &str)) -> Clients {
        let mut clients = Clients::new();
        clients.creds = Some((creds.0.to_owned(), creds.1.to_owned()));
        clients
    }

    pub fn creds(&self) -> Creds<'_> {
        self.creds.as_ref().map(|(user, password)| (user.as_str(), password.as_str()))
    }

    pub fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// The auth file `podman login` writes and podman reads (skopeo, always given credentials or
    /// `--no-creds` here, ignores it).
    pub fn auth_file(&self) -> PathBuf {
        self.path("auth.json")
    }

    /// The registries the auth file holds credentials for.
    pub fn logged_in_hosts(&self) -> Vec<String> {
        let auth: Value = serde_json::from_slice(&std::fs::read(self.auth_file()).expect("auth file")).unwrap();
        auth["auths"].as_object().map(|a| a.keys().cloned().collect()).unwrap_or_default()
    }

    /// `program` with the isolated environment, and no proxy.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = direct_command(program);
        cmd.env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("home/.config"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env("XDG_CACHE_HOME", self.path("home/.cache"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("TMPDIR", self.path("tmp"))
            .env("REGISTRY_AUTH_FILE", self.auth_file())
            .env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.path("storage.conf"))
            .env("CONTAINERS_CONF", self.path("containers.conf"));
        cmd
    }

    /// `skopeo [GLOBAL…] SUBCOMMAND` with the isolated policy, authenticating with `creds` (for
    /// `copy`, on both sides); `None` is explicitly anonymous, whatever the auth file holds.
    pub fn skopeo_with(&self, global: &[&str], subcommand: &str, creds: Creds) -> Command {
        let mut cmd = self.command("skopeo");
        cmd.arg("--policy").arg(self.path("policy.json")).args(global).arg(subcommand);
        let sides: &[&str] = if subcommand == "copy" { &["--src-", "--dest-"] } else { &["--"] };
        for side in sides {
            match creds {
                Some((user, password)) => cmd.arg(format!("{side}creds={user}:{password}")),
                None => cmd.arg(format!("{side}no-creds")),
            };
        }
        cmd
    }

    /// `skopeo SUBCOMMAND` with this environment's credentials.
    pub fn skopeo(&self, subcommand: &str) -> Command {
        self.skopeo_with(&[], subcommand, self.creds())
    }

    pub fn podman(&self) -> Command {
        let mut cmd = self.command("podman");
        cmd.arg("--log-level=error");
        cmd
    }

    /// `podman login` to `host`, which stores the credentials in this environment's auth file.
    pub fn podman_login(&self, host: &str, (user, password): (&str, &str)) -> Result<String, String> {
        try_run(self.podman().args(["login", "--tls-verify=false", "--username", user, "--password", password, host]))
    }

    /// `podman push` of the local image `image`, with the credentials of the auth file; returns
    /// the manifest digest podman reports.
    pub fn podman_push(&self, image: &str) -> Result<String, String> {
        let digestfile = self.path("pushed.digest");
        let _ = std::fs::remove_file(&digestfile);
        try_run(self.podman().args([
            "push",
            "--quiet",
            "--tls-verify=false",
            "--digestfile",
            path_str(&digestfile),
            image,
        ]))?;
        Ok(std::fs::read_to_string(&digestfile).expect("podman wrote the digest file").trim().to_owned())
    }

    /// Pushes the image of an OCI layout to `docker://HOST/REPO:TAG` unchanged
    /// (`--preserve-digests`: skopeo would otherwise gzip the uncompressed layers on the way).
    pub fn push_layout_as(&self, image: &Image, host: &str, repo_tag: &str, creds: Creds) -> Result<String, String> {
        try_run(self.skopeo_with(&[], "copy", creds).args([
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &image.oci_ref(),
            &format!("docker://{host}/{repo_tag}"),
        ]))
    }

    pub fn push_layout(&self, image: &Image, host: &str, repo_tag: &str) {
        self.push_layout_as(image, host, repo_tag, self.creds()).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Copies `docker://HOST/REPO:TAG` into the OCI layout `dir` under `tag`, unchanged
    /// (`--preserve-digests`: skopeo would otherwise gzip uncompressed layers for an OCI layout).
    pub fn pull_layout(&self, host: &str, repo_tag: &str, dir: &Path, tag: &str) {
        run(self.skopeo("copy").args([
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
            &format!("docker://{host}/{repo_tag}"),
            &format!("oci:{}:{tag}", path_str(dir)),
        ]));
    }

    /// Over HTTPS trusting only the CA in `cert_dir` (as `ca.crt`, never `--tls-verify=false`):
    /// pushes the image of `image` to `docker://HOST/REPO:TAG` unchanged, and pulls it back into
    /// a new layout; returns the manifest digest pulled.
    pub fn round_trip_https(&self, image: &Image, host: &str, repo_tag: &str, cert_dir: &Path) -> String {
        let (target, cert_dir) = (format!("docker://{host}/{repo_tag}"), path_str(cert_dir));
        let copy = |side: &str, from: &str, to: &str| {
            let flag = format!("--{side}-cert-dir");
            run(self.skopeo("copy").args(["--quiet", "--preserve-digests", &flag, cert_dir, from, to]));
        };
        copy("dest", &image.oci_ref(), &target);
        let pulled = self.path("pulled-https");
        copy("src", &target, &format!("oci:{}:pulled", path_str(&pulled)));
        crate::support::layout::manifest_descriptor(&pulled, "pulled")["digest"].as_str().unwrap().to_owned()
    }

    /// `skopeo inspect` (parsed), `--raw` gives the manifest as the registry serves it.
    pub fn inspect_as(&self, host: &str, repo_tag: &str, raw: bool, creds: Creds) -> Result<String, String> {
        let mut cmd = self.skopeo_with(&[], "inspect", creds);
        cmd.arg("--tls-verify=false");
        if raw {
            cmd.arg("--raw");
        }
        try_run(cmd.arg(format!("docker://{host}/{repo_tag}")))
    }

    pub fn inspect(&self, host: &str, repo_tag: &str, raw: bool) -> Vec<u8> {
        self.inspect_as(host, repo_tag, raw, self.creds()).unwrap_or_else(|e| panic!("{e}")).into_bytes()
    }

    pub fn inspect_json(&self, host: &str, repo_tag: &str) -> Value {
        serde_json::from_slice(&self.inspect(host, repo_tag, false)).expect("inspect output is JSON")
    }

    pub fn raw_manifest(&self, host: &str, repo_tag: &str) -> (Vec<u8>, Value) {
        let bytes = self.inspect(host, repo_tag, true);
        let json = serde_json::from_slice(&bytes).expect("manifest is JSON");
        (bytes, json)
    }

    pub fn skopeo_list_tags(&self, host: &str, repo: &str) -> Vec<String> {
        let out = run(self.skopeo("list-tags").args(["--tls-verify=false", &format!("docker://{host}/{repo}")]));
        let list: Value = serde_json::from_str(&out).expect("list-tags output is JSON");
        assert_eq!(list["Repository"], format!("{host}/{repo}"));
        strings(&list["Tags"])
    }
}

/// A JSON array of strings.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("not a string: {s}")).to_owned())
        .collect()
}
