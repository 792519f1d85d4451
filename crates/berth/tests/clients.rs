//! End-to-end tests with real registry clients: skopeo, podman and oras-py, each against its own
//! `berth` server on 127.0.0.1.
//!
//! The clients are not Rust crates: `scripts/install-test-deps.sh` installs them. A missing client
//! fails its test with a message saying so; no test is skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::layout::{self, Image};
use common::{Berth, path_str, run};
use serde_json::Value;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

// ---------------------------------------------------------------------------------------------
// Harness for the client tools
// ---------------------------------------------------------------------------------------------

/// Fails the test (never skips it) when `tool` cannot be run.
fn require_tool(tool: &str) {
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

/// An isolated configuration for the containers tools (skopeo, podman): their own home, policy,
/// registries.conf, auth file, storage and temporary folders, so that nothing of the host's
/// configuration or image storage is read or written.
struct Clients {
    dir: tempfile::TempDir,
}

impl Clients {
    fn new() -> Clients {
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
        std::fs::write(
            root.join("containers.conf"),
            format!(
                "[engine]\n\
                 events_logger = \"file\"\n\
                 events_logfile_path = \"{}\"\n\
                 cgroup_manager = \"cgroupfs\"\n\
                 tmp_dir = \"{}\"\n\
                 volume_path = \"{}\"\n\
                 static_dir = \"{}\"\n",
                path_str(&root.join("podman/events.log")),
                path_str(&root.join("podman/tmp")),
                path_str(&root.join("podman/volumes")),
                path_str(&root.join("podman/static")),
            ),
        )
        .unwrap();
        Clients { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// `program` with the isolated environment, and no proxy: all traffic goes to 127.0.0.1.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        for var in [
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("home/.config"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env("XDG_CACHE_HOME", self.path("home/.cache"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("TMPDIR", self.path("tmp"))
            .env("REGISTRY_AUTH_FILE", self.path("auth.json"))
            .env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.path("storage.conf"))
            .env("CONTAINERS_CONF", self.path("containers.conf"));
        cmd
    }

    fn skopeo(&self) -> Command {
        let mut cmd = self.command("skopeo");
        cmd.arg("--policy").arg(self.path("policy.json"));
        cmd
    }

    fn podman(&self) -> Command {
        let mut cmd = self.command("podman");
        cmd.arg("--log-level=error");
        cmd
    }

    /// Pushes the image of an OCI layout to `docker://HOST/REPO:TAG` unchanged
    /// (`--preserve-digests`: skopeo would otherwise gzip the uncompressed layers on the way).
    fn push_layout(&self, image: &Image, host: &str, repo_tag: &str) {
        run(self.skopeo().args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &image.oci_ref(),
            &format!("docker://{host}/{repo_tag}"),
        ]));
    }

    /// Copies `docker://HOST/REPO:TAG` into the OCI layout `dir` under `tag`, unchanged
    /// (`--preserve-digests`: skopeo would otherwise gzip uncompressed layers for an OCI layout).
    fn pull_layout(&self, host: &str, repo_tag: &str, dir: &Path, tag: &str) {
        run(self.skopeo().args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
            &format!("docker://{host}/{repo_tag}"),
            &format!("oci:{}:{tag}", path_str(dir)),
        ]));
    }

    /// `skopeo inspect` (parsed), `--raw` gives the manifest as the registry serves it.
    fn inspect(&self, host: &str, repo_tag: &str, raw: bool) -> Vec<u8> {
        let mut cmd = self.skopeo();
        cmd.args(["inspect", "--tls-verify=false"]);
        if raw {
            cmd.arg("--raw");
        }
        cmd.arg(format!("docker://{host}/{repo_tag}"));
        let out = cmd.output().expect("run skopeo inspect");
        assert!(
            out.status.success(),
            "skopeo inspect {repo_tag} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn inspect_json(&self, host: &str, repo_tag: &str) -> Value {
        serde_json::from_slice(&self.inspect(host, repo_tag, false))
            .expect("inspect output is JSON")
    }

    fn raw_manifest(&self, host: &str, repo_tag: &str) -> (Vec<u8>, Value) {
        let bytes = self.inspect(host, repo_tag, true);
        let json = serde_json::from_slice(&bytes).expect("manifest is JSON");
        (bytes, json)
    }
}

/// A GET with no proxy, returning the status, headers and body.
struct HttpResponse {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn http_get(url: &str) -> HttpResponse {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client");
        let resp = client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("response body").to_vec();
        HttpResponse {
            status,
            headers,
            body,
        }
    })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_owned()
        })
        .collect()
}

/// Checks that the OCI layout at `dir` holds, under `tag`, exactly `image`: same manifest
/// digest, and every blob byte-for-byte the same as in the source layout.
fn assert_layout_holds(dir: &Path, tag: &str, image: &Image) {
    let count = layout::verify_blobs(dir);
    assert!(
        count >= 2 + image.layer_digests.len(),
        "only {count} blobs in {}",
        dir.display()
    );
    let desc = layout::manifest_descriptor(dir, tag);
    assert_eq!(
        desc["digest"],
        image.manifest_digest.as_str(),
        "manifest digest changed on the way; pushed:\n{}\nreceived:\n{}",
        String::from_utf8_lossy(&image.manifest),
        String::from_utf8_lossy(&layout::read_blob(dir, desc["digest"].as_str().unwrap())),
    );
    assert_eq!(desc["size"], image.manifest_size);
    assert_eq!(
        layout::read_blob(dir, &image.manifest_digest),
        image.manifest
    );
    for digest in image.blob_digests() {
        assert_eq!(
            layout::read_blob(dir, &digest),
            layout::read_blob(&image.dir, &digest),
            "blob {digest} differs from the pushed one"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// skopeo
// ---------------------------------------------------------------------------------------------

#[test]
fn skopeo_push_inspect_pull_convert_delete() {
    require_tool("skopeo");
    let berth = Berth::start();
    let host = berth.host();
    let clients = Clients::new();
    let image = layout::write_image(&clients.path("src"), "v1", 3, 300 * 1024, 1);

    // Push from the OCI layout.
    clients.push_layout(&image, &host, "proj/app:v1");

    // What the registry serves is what was pushed.
    let (raw, manifest) = clients.raw_manifest(&host, "proj/app:v1");
    assert_eq!(
        raw, image.manifest,
        "served manifest differs from the pushed one"
    );
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    let info = clients.inspect_json(&host, "proj/app:v1");
    assert_eq!(
        info["Digest"],
        image.manifest_digest.as_str(),
        "inspect: {info}"
    );
    assert_eq!(
        strings(&info["Layers"]),
        image.layer_digests,
        "inspect: {info}"
    );
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Name"], format!("{host}/proj/app"));

    // Pull back into a new layout: byte-for-byte the same image.
    let back = clients.path("back");
    clients.pull_layout(&host, "proj/app:v1", &back, "v1");
    assert_layout_holds(&back, "v1", &image);

    // Registry to registry, converted to Docker schema 2 under another tag.
    run(clients.skopeo().args([
        "copy",
        "--quiet",
        "--format",
        "v2s2",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{host}/proj/app:v1"),
        &format!("docker://{host}/proj/app:v2s2"),
    ]));
    let (raw, manifest) = clients.raw_manifest(&host, "proj/app:v2s2");
    assert_eq!(manifest["mediaType"], DOCKER_MANIFEST, "{manifest}");
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["config"]["mediaType"], DOCKER_CONFIG);
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        image.layer_digests.len()
    );
    let info = clients.inspect_json(&host, "proj/app:v2s2");
    assert_eq!(
        info["Digest"],
        common::sha256_digest(&raw),
        "inspect: {info}"
    );
    assert_eq!(info["Architecture"], "amd64");

    let tags = clients.skopeo_list_tags(&host, "proj/app");
    assert_eq!(tags, ["v1", "v2s2"], "tags of proj/app (in lexical order)");

    // The same image into a second repository: its blobs are already in the registry (skopeo
    // tries a cross-repository mount for blobs it has seen there).
    run(clients.skopeo().args([
        "copy",
        "--quiet",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{host}/proj/app:v1"),
        &format!("docker://{host}/other/app:v1"),
    ]));
    let info = clients.inspect_json(&host, "other/app:v1");
    assert_eq!(
        info["Digest"],
        image.manifest_digest.as_str(),
        "inspect: {info}"
    );
    assert_eq!(strings(&info["Layers"]), image.layer_digests);
    assert_eq!(clients.skopeo_list_tags(&host, "other/app"), ["v1"]);

    // Delete the manifest from proj/app: gone there, untouched in other/app.
    run(clients.skopeo().args([
        "delete",
        "--tls-verify=false",
        &format!("docker://{host}/proj/app:v1"),
    ]));
    let out = clients
        .skopeo()
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{host}/proj/app:v1"),
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "skopeo inspect still finds proj/app:v1 after delete: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let status =
        http_get(&berth.url(&format!("/v2/proj/app/manifests/{}", image.manifest_digest))).status;
    assert_eq!(status, 404, "GET of the deleted manifest by digest");
    // Tags of the deleted manifest go with it; the converted copy stays.
    assert_eq!(clients.skopeo_list_tags(&host, "proj/app"), ["v2s2"]);
    clients.inspect_json(&host, "proj/app:v2s2");

    let back2 = clients.path("back2");
    clients.pull_layout(&host, "other/app:v1", &back2, "v1");
    assert_layout_holds(&back2, "v1", &image);
}

impl Clients {
    fn skopeo_list_tags(&self, host: &str, repo: &str) -> Vec<String> {
        let out = run(self.skopeo().args([
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{host}/{repo}"),
        ]));
        let list: Value = serde_json::from_str(&out).expect("list-tags output is JSON");
        assert_eq!(list["Repository"], format!("{host}/{repo}"));
        strings(&list["Tags"])
    }
}

// ---------------------------------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------------------------------

#[test]
fn podman_pull_tag_push() {
    require_tool("podman");
    require_tool("skopeo");
    let berth = Berth::start();
    let host = berth.host();
    let clients = Clients::new();
    let image = layout::write_image(&clients.path("src"), "v1", 2, 200 * 1024, 2);
    clients.push_layout(&image, &host, "proj/app:v1");

    let source = format!("{host}/proj/app:v1");
    run(clients
        .podman()
        .args(["pull", "--quiet", "--tls-verify=false", &source]));

    // podman unpacked the layers into its storage: their diff IDs are those of the layout.
    let out = run(clients.podman().args(["image", "inspect", &source]));
    let inspect: Value = serde_json::from_str(&out).expect("podman image inspect is JSON");
    let pulled = &inspect[0];
    assert_eq!(pulled["Digest"], image.manifest_digest.as_str(), "{pulled}");
    assert_eq!(
        strings(&pulled["RootFS"]["Layers"]),
        image.layer_digests,
        "{pulled}"
    );
    assert_eq!(pulled["Architecture"], "amd64");
    assert_eq!(pulled["Os"], "linux");

    let target = format!("{host}/proj/copy:v2");
    run(clients.podman().args(["tag", &source, &target]));
    let digestfile = clients.path("pushed.digest");
    run(clients.podman().args([
        "push",
        "--quiet",
        "--tls-verify=false",
        "--digestfile",
        path_str(&digestfile),
        &target,
    ]));
    let pushed_digest = std::fs::read_to_string(&digestfile).expect("podman wrote the digest file");

    // The pushed image: same config (podman keeps it), layers recompressed by podman.
    let (raw, manifest) = clients.raw_manifest(&host, "proj/copy:v2");
    assert_eq!(common::sha256_digest(&raw), pushed_digest.trim());
    assert_eq!(
        manifest["config"]["digest"],
        image.config_digest.as_str(),
        "{manifest}"
    );
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        image.layer_digests.len()
    );
    let info = clients.inspect_json(&host, "proj/copy:v2");
    assert_eq!(info["Digest"], pushed_digest.trim(), "inspect: {info}");
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(clients.skopeo_list_tags(&host, "proj/copy"), ["v2"]);

    // And podman reads back what it pushed.
    run(clients.podman().args(["rmi", "--force", &source, &target]));
    run(clients
        .podman()
        .args(["pull", "--quiet", "--tls-verify=false", &target]));
    let out = run(clients.podman().args(["image", "inspect", &target]));
    let inspect: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        strings(&inspect[0]["RootFS"]["Layers"]),
        image.layer_digests
    );
}

// ---------------------------------------------------------------------------------------------
// oras (oras-py) and the referrers API
// ---------------------------------------------------------------------------------------------

/// Pushes two artifacts whose `subject` is the image manifest given on the command line:
///
/// * `sig`, with oras-py's own `push(subject=…)`. oras-py 0.2 has no parameter for the manifest's
///   `artifactType`, so this one carries its type the pre-1.1 way, as the config media type
///   (the referrers API must then report the config media type as the artifactType);
/// * `sbom`, an OCI 1.1 artifact with an explicit `artifactType` and the empty config, built here
///   and sent with oras-py's lower-level `upload_blob` and `upload_manifest`.
///
/// Then pulls `sig` back. Writes what it saw (digests of the manifests exactly as sent, and the
/// registry's response headers) as JSON to the output path.
const ORAS_SCRIPT: &str = r#"
import dataclasses, hashlib, json, os, sys

import oras.defaults
import oras.oci
import oras.provider

host, repo, subject_digest, subject_size, sig_type, sbom_type, workdir, out_path = sys.argv[1:9]
os.chdir(workdir)
registry = oras.provider.Registry(hostname=host, insecure=True, tls_verify=False)
subject = oras.oci.Subject(
    mediaType=oras.defaults.default_manifest_media_type,
    digest=subject_digest,
    size=int(subject_size),
)


def sent(resp):
    body = resp.request.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    return {
        "status": resp.status_code,
        "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
        "size": len(body),
        "docker_content_digest": resp.headers.get("Docker-Content-Digest"),
        "oci_subject": resp.headers.get("OCI-Subject"),
        "location": resp.headers.get("Location"),
    }


result = {}

# 1. The high-level push, with a subject.
with open("signature.txt", "w") as f:
    f.write("berth test signature\n")
resp = registry.push(
    target=f"{host}/{repo}:sig",
    files=["signature.txt:application/vnd.berth.test.signature.v1"],
    manifest_config=f":{sig_type}",
    manifest_annotations={"org.berth.test.kind": "sig"},
    subject=subject,
    quiet=True,
)
result["sig"] = sent(resp)

# 2. An OCI 1.1 artifact with artifactType and the empty config, by the lower-level calls.
container = registry.get_container(f"{host}/{repo}:sbom")
with open("sbom.json", "w") as f:
    json.dump({"spdxVersion": "SPDX-2.3", "name": "berth-test"}, f)
layer = oras.oci.NewLayer("sbom.json", media_type="application/spdx+json")
layer["annotations"] = {oras.defaults.annotation_title: "sbom.json"}
registry._check_200_response(registry.upload_blob("sbom.json", container, layer))
with open("empty.json", "w") as f:
    f.write("{}")
config = {
    "mediaType": "application/vnd.oci.empty.v1+json",
    "digest": oras.defaults.blank_config_hash,
    "size": 2,
}
registry._check_200_response(registry.upload_blob("empty.json", container, config))
manifest = oras.oci.NewManifest()
manifest["artifactType"] = sbom_type
manifest["config"] = config
manifest["layers"] = [layer]
manifest["subject"] = dataclasses.asdict(subject)
manifest["annotations"] = {"org.berth.test.kind": "sbom"}
resp = registry.upload_manifest(manifest, container)
registry._check_200_response(resp)
result["sbom"] = sent(resp)

# 3. Pull the signature back.
files = registry.pull(target=f"{host}/{repo}:sig", outdir=os.path.join(workdir, "pulled"))
result["pulled"] = {os.path.basename(p): open(p).read() for p in files}

with open(out_path, "w") as f:
    json.dump(result, f)
"#;

#[test]
fn oras_artifacts_and_referrers() {
    require_tool("skopeo");
    require_tool("python3");
    let probe = Command::new("python3")
        .args(["-c", "import oras"])
        .output()
        .expect("run python3");
    assert!(
        probe.status.success(),
        "the python package `oras` (oras-py) is required by this test but cannot be imported: {}\n\
         install it with scripts/install-test-deps.sh",
        String::from_utf8_lossy(&probe.stderr)
    );

    let berth = Berth::start();
    let host = berth.host();
    let clients = Clients::new();
    let image = layout::write_image(&clients.path("src"), "v1", 1, 64 * 1024, 3);
    clients.push_layout(&image, &host, "proj/app:v1");

    let sig_type = "application/vnd.berth.test.signature.config.v1+json";
    let sbom_type = "application/vnd.berth.test.sbom.v1";
    let work = clients.path("oras");
    std::fs::create_dir_all(&work).unwrap();
    let script = clients.path("push_referrers.py");
    std::fs::write(&script, ORAS_SCRIPT).unwrap();
    let out_path = clients.path("oras-result.json");
    run(clients.command("python3").arg(&script).args([
        &host,
        "proj/app",
        &image.manifest_digest,
        &image.manifest_size.to_string(),
        sig_type,
        sbom_type,
        path_str(&work),
        path_str(&out_path),
    ]));
    let result: Value =
        serde_json::from_slice(&std::fs::read(&out_path).expect("oras script output")).unwrap();

    for kind in ["sig", "sbom"] {
        let r = &result[kind];
        assert_eq!(r["status"], 201, "PUT of the {kind} manifest: {r}");
        assert_eq!(r["docker_content_digest"], r["digest"], "{kind}: {r}");
        assert_eq!(
            r["oci_subject"],
            image.manifest_digest.as_str(),
            "{kind}: a manifest with a subject must be answered with OCI-Subject: {r}"
        );
    }
    assert_eq!(result["pulled"]["signature.txt"], "berth test signature\n");
    let sig_digest = result["sig"]["digest"].as_str().unwrap().to_owned();
    let sbom_digest = result["sbom"]["digest"].as_str().unwrap().to_owned();

    // The referrers of the image: both artifacts.
    let referrers = |query: &str| {
        let resp = http_get(&berth.url(&format!(
            "/v2/proj/app/referrers/{}{query}",
            image.manifest_digest
        )));
        assert_eq!(
            resp.status,
            200,
            "GET referrers{query}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        let content_type = resp.header("content-type").unwrap_or_default().to_owned();
        assert!(
            content_type.starts_with(OCI_INDEX),
            "referrers content type: {content_type}"
        );
        let index = resp.json();
        assert_eq!(index["schemaVersion"], 2, "{index}");
        assert_eq!(index["mediaType"], OCI_INDEX, "{index}");
        let manifests = index["manifests"].as_array().cloned().unwrap_or_else(|| {
            panic!("referrers index without manifests: {index}");
        });
        (resp, manifests)
    };
    let find = |manifests: &[Value], digest: &str| {
        manifests.iter().find(|m| m["digest"] == digest).cloned()
    };

    let (resp, all) = referrers("");
    assert_eq!(all.len(), 2, "referrers: {all:?}");
    assert!(
        resp.header("oci-filters-applied").is_none(),
        "no filter was asked for"
    );
    let sig = find(&all, &sig_digest).unwrap_or_else(|| panic!("sig not in referrers: {all:?}"));
    assert_eq!(sig["mediaType"], OCI_MANIFEST);
    assert_eq!(sig["size"], result["sig"]["size"]);
    assert_eq!(
        sig["artifactType"], sig_type,
        "artifactType from the config media type: {sig}"
    );
    assert_eq!(sig["annotations"]["org.berth.test.kind"], "sig", "{sig}");
    let sbom = find(&all, &sbom_digest).unwrap_or_else(|| panic!("sbom not in referrers: {all:?}"));
    assert_eq!(sbom["mediaType"], OCI_MANIFEST);
    assert_eq!(sbom["size"], result["sbom"]["size"]);
    assert_eq!(sbom["artifactType"], sbom_type, "{sbom}");
    assert_eq!(sbom["annotations"]["org.berth.test.kind"], "sbom", "{sbom}");

    // Filtered by artifactType.
    let (resp, only_sbom) = referrers(&format!("?artifactType={sbom_type}"));
    assert_eq!(resp.header("oci-filters-applied"), Some("artifactType"));
    assert_eq!(only_sbom.len(), 1, "{only_sbom:?}");
    assert_eq!(only_sbom[0]["digest"], sbom_digest.as_str());

    let (resp, none) = referrers("?artifactType=application/vnd.berth.test.other");
    assert_eq!(resp.header("oci-filters-applied"), Some("artifactType"));
    assert!(none.is_empty(), "filtered out: {none:?}");

    // A digest nothing refers to: an empty list, not an error.
    let unknown = common::sha256_digest(b"nothing refers to this");
    let resp = http_get(&berth.url(&format!("/v2/proj/app/referrers/{unknown}")));
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.json()["manifests"], Value::Array(vec![]));

    // The artifacts are ordinary tagged manifests too.
    let tags = clients.skopeo_list_tags(&host, "proj/app");
    assert_eq!(tags, ["sbom", "sig", "v1"]);
}
