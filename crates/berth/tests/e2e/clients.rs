//! End-to-end tests with real registry clients: skopeo, podman and oras-py, each against its own
//! `berth` server on 127.0.0.1, all of them authenticated as the `admin` user.
//!
//! The clients are not Rust crates: `scripts/install-test-deps.sh` installs them. A missing client
//! fails its test with a message saying so; no test is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support;
use crate::support::clients::{Clients, direct_command, require_tool, strings};
use crate::support::layout::{self, Image, MultiArch};
use crate::support::registry::{OCI_INDEX, OCI_MANIFEST};
use crate::support::{ADMIN, Berth, path_str, run};
use serde_json::Value;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Like [`run`], and returns stdout and stderr.
fn run_output(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    (stdout, stderr)
}

/// The answer to [`http_get`]: status, headers and body.
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
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A GET with no proxy, as `admin` (Basic credentials, which `/v2/` accepts directly).
fn http_get(url: &str) -> HttpResponse {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().expect("http client");
        let (user, password) = ADMIN;
        let resp =
            client.get(url).basic_auth(user, Some(password)).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("response body").to_vec();
        HttpResponse { status, headers, body }
    })
}

/// Checks that the OCI layout at `dir` holds, under `tag`, exactly `image`: same manifest
/// digest, and every blob byte-for-byte the same as in the source layout.
fn assert_layout_holds(dir: &Path, tag: &str, image: &Image) {
    let count = layout::verify_blobs(dir);
    assert!(count >= 2 + image.layer_digests.len(), "only {count} blobs in {}", dir.display());
    let desc = layout::manifest_descriptor(dir, tag);
    assert_eq!(
        desc["digest"],
        image.manifest_digest.as_str(),
        "manifest digest changed on the way; pushed:\n{}\nreceived:\n{}",
        String::from_utf8_lossy(&image.manifest),
        String::from_utf8_lossy(&layout::read_blob(dir, desc["digest"].as_str().unwrap())),
    );
    assert_eq!(desc["size"], image.manifest_size);
    assert!(layout::read_blob(dir, &image.manifest_digest) == image.manifest);
    for digest in image.blob_digests() {
        assert!(
            layout::read_blob(dir, &digest) == layout::read_blob(&image.dir, &digest),
            "blob {digest} differs from the pushed one"
        );
    }
}

/// Like [`assert_layout_holds`], for a multi-architecture image.
fn assert_layout_holds_index(dir: &Path, tag: &str, multi: &MultiArch) {
    layout::verify_blobs(dir);
    let desc = layout::manifest_descriptor(dir, tag);
    assert_eq!(desc["mediaType"], OCI_INDEX, "{desc}");
    assert_eq!(desc["digest"], multi.index_digest.as_str(), "index digest changed on the way");
    assert!(layout::read_blob(dir, &multi.index_digest) == multi.index);
    for image in &multi.images {
        assert!(layout::read_blob(dir, &image.manifest_digest) == image.manifest);
        for digest in image.blob_digests() {
            assert!(
                layout::read_blob(dir, &digest) == layout::read_blob(&image.dir, &digest),
                "blob {digest} differs from the pushed one"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// skopeo
// ---------------------------------------------------------------------------------------------

#[test]
fn skopeo_push_inspect_pull_convert_delete() {
    require_tool("skopeo");
    let mut berth = Berth::start();
    let host = berth.host();
    berth.create_project("proj", false);
    berth.create_project("other", false);
    let clients = Clients::with_creds(ADMIN);
    let image = layout::write_image(&clients.path("src"), "v1", 3, 300 * 1024, 1);

    // Push from the OCI layout.
    clients.push_layout(&image, &host, "proj/app:v1");

    // What the registry serves is what was pushed.
    let (raw, manifest) = clients.raw_manifest(&host, "proj/app:v1");
    assert!(
        raw == image.manifest,
        "served manifest differs from the pushed one:\n{}\npushed:\n{}",
        String::from_utf8_lossy(&raw),
        String::from_utf8_lossy(&image.manifest)
    );
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    let info = clients.inspect_json(&host, "proj/app:v1");
    assert_eq!(info["Digest"], image.manifest_digest.as_str(), "inspect: {info}");
    assert_eq!(strings(&info["Layers"]), image.layer_digests, "inspect: {info}");
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Name"], format!("{host}/proj/app"));

    // Pull back into a new layout: byte-for-byte the same image.
    let back = clients.path("back");
    clients.pull_layout(&host, "proj/app:v1", &back, "v1");
    assert_layout_holds(&back, "v1", &image);

    // Registry to registry, converted to Docker schema 2 under another tag.
    run(clients.skopeo("copy").args([
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
    assert_eq!(manifest["layers"].as_array().unwrap().len(), image.layer_digests.len());
    let info = clients.inspect_json(&host, "proj/app:v2s2");
    assert_eq!(info["Digest"], support::sha256_digest(&raw), "inspect: {info}");
    assert_eq!(info["Architecture"], "amd64");

    let tags = clients.skopeo_list_tags(&host, "proj/app");
    assert_eq!(tags, ["v1", "v2s2"], "tags of proj/app (in lexical order)");

    // The same image into a second repository: its layers are already in the registry, and
    // skopeo, which saw them in proj/app, mounts them from there
    // (POST /v2/other/app/blobs/uploads/?mount=DIGEST&from=proj/app) instead of uploading them.
    let (_, debug_log) = run_output(clients.skopeo_with(&["--debug"], "copy", clients.creds()).args([
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{host}/proj/app:v1"),
        &format!("docker://{host}/other/app:v1"),
    ]));
    let mounted = debug_log.matches("mount OK").count();
    assert_eq!(
        mounted,
        image.layer_digests.len(),
        "skopeo should have mounted every layer from proj/app; its debug log:\n{debug_log}"
    );
    let info = clients.inspect_json(&host, "other/app:v1");
    assert_eq!(info["Digest"], image.manifest_digest.as_str(), "inspect: {info}");
    assert_eq!(strings(&info["Layers"]), image.layer_digests);
    assert_eq!(clients.skopeo_list_tags(&host, "other/app"), ["v1"]);

    // Delete the manifest from proj/app: gone there, untouched in other/app.
    run(clients.skopeo("delete").args(["--tls-verify=false", &format!("docker://{host}/proj/app:v1")]));
    let out = clients
        .skopeo("inspect")
        .args(["--tls-verify=false", &format!("docker://{host}/proj/app:v1")])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "skopeo inspect still finds proj/app:v1 after delete: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The registry's error code (MANIFEST_UNKNOWN), as skopeo reports it.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("manifest unknown"), "skopeo inspect of a deleted manifest: {stderr}");
    let status = http_get(&berth.url(&format!("/v2/proj/app/manifests/{}", image.manifest_digest))).status;
    assert_eq!(status, 404, "GET of the deleted manifest by digest");
    // Tags of the deleted manifest go with it; the converted copy stays.
    assert_eq!(clients.skopeo_list_tags(&host, "proj/app"), ["v2s2"]);
    clients.inspect_json(&host, "proj/app:v2s2");

    let back2 = clients.path("back2");
    clients.pull_layout(&host, "other/app:v1", &back2, "v1");
    assert_layout_holds(&back2, "v1", &image);

    // After a crash (kill -9) and restart on the same data, everything pushed is still there.
    berth.restart();
    let back3 = clients.path("back3");
    clients.pull_layout(&host, "other/app:v1", &back3, "v1");
    assert_layout_holds(&back3, "v1", &image);
    assert_eq!(clients.skopeo_list_tags(&host, "proj/app"), ["v2s2"]);
    let info = clients.inspect_json(&host, "proj/app:v2s2");
    assert_eq!(strings(&info["Layers"]).len(), image.layer_digests.len());
}

#[test]
fn skopeo_multi_arch_index() {
    require_tool("skopeo");
    let berth = Berth::start();
    let host = berth.host();
    berth.create_project("proj", false);
    let clients = Clients::with_creds(ADMIN);
    let multi = layout::write_multi_arch(&clients.path("src"), "multi", &["amd64", "arm64"], 2, 128 * 1024, 4);

    // The index and both images, unchanged.
    run(clients.skopeo("copy").args([
        "--quiet",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &multi.oci_ref(),
        &format!("docker://{host}/proj/multi:v1"),
    ]));
    let (raw, index) = clients.raw_manifest(&host, "proj/multi:v1");
    assert!(raw == multi.index, "served index differs from the pushed one: {index}");
    assert_eq!(index["mediaType"], OCI_INDEX);
    for image in &multi.images {
        let by_digest = format!("proj/multi@{}", image.manifest_digest);
        let (raw, _) = clients.raw_manifest(&host, &by_digest);
        assert!(raw == image.manifest, "served {} manifest differs from the pushed one", image.architecture);

        // skopeo resolves the index to the image of the platform asked for.
        let global = ["--override-arch", &image.architecture, "--override-os", "linux"];
        let out = run(clients
            .skopeo_with(&global, "inspect", clients.creds())
            .args(["--tls-verify=false", &format!("docker://{host}/proj/multi:v1")]));
        let info: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(info["Digest"], multi.index_digest.as_str(), "{info}");
        assert_eq!(info["Architecture"], image.architecture.as_str(), "{info}");
        assert_eq!(strings(&info["Layers"]), image.layer_digests, "{info}");
    }

    // Back into a new layout: the same index, images and blobs.
    let back = clients.path("back");
    run(clients.skopeo("copy").args([
        "--quiet",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{host}/proj/multi:v1"),
        &format!("oci:{}:v1", path_str(&back)),
    ]));
    assert_layout_holds_index(&back, "v1", &multi);

    // Deleting the index removes it and its tag.
    run(clients.skopeo("delete").args(["--tls-verify=false", &format!("docker://{host}/proj/multi:v1")]));
    let status = http_get(&berth.url(&format!("/v2/proj/multi/manifests/{}", multi.index_digest))).status;
    assert_eq!(status, 404, "GET of the deleted index by digest");
    let status = http_get(&berth.url("/v2/proj/multi/manifests/v1")).status;
    assert_eq!(status, 404, "GET of the deleted index by tag");
}

// ---------------------------------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------------------------------

impl Clients {
    /// Checks that podman's storage holds exactly the given layers (of the layout `dir`),
    /// unpacked: with the vfs driver each layer is a plain folder under vfs/dir/, and every file
    /// of every layer must be there, byte for byte.
    fn assert_unpacked(&self, dir: &Path, layer_digests: &[String]) {
        let layer_dirs: Vec<PathBuf> = std::fs::read_dir(self.path("storage/graph/vfs/dir"))
            .expect("podman's vfs layer folders")
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(layer_dirs.len(), layer_digests.len(), "{layer_dirs:?}");
        for digest in layer_digests {
            for (path, content) in layout::layer_files(dir, digest) {
                assert!(
                    layer_dirs.iter().any(|d| std::fs::read(d.join(&path)).is_ok_and(|c| c == content)),
                    "{} of layer {digest} is not unpacked in podman's storage",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn podman_pull_tag_push() {
    require_tool("podman");
    require_tool("skopeo");
    let berth = Berth::start();
    let host = berth.host();
    berth.create_project("proj", false);
    let clients = Clients::with_creds(ADMIN);
    let image = layout::write_image(&clients.path("src"), "v1", 2, 200 * 1024, 2);
    clients.push_layout(&image, &host, "proj/app:v1");

    // podman keeps the credentials in the test's own auth file.
    clients.podman_login(&host, ADMIN).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(clients.logged_in_hosts(), [host.as_str()], "podman login wrote to another auth file");

    let source = format!("{host}/proj/app:v1");
    run(clients.podman().args(["pull", "--quiet", "--tls-verify=false", &source]));

    // podman unpacked the layers into its storage: their diff IDs are those of the layout.
    let out = run(clients.podman().args(["image", "inspect", &source]));
    let inspect: Value = serde_json::from_str(&out).expect("podman image inspect is JSON");
    let pulled = &inspect[0];
    assert_eq!(pulled["Digest"], image.manifest_digest.as_str(), "{pulled}");
    assert_eq!(strings(&pulled["RootFS"]["Layers"]), image.layer_digests, "{pulled}");
    assert_eq!(pulled["Architecture"], "amd64");
    assert_eq!(pulled["Os"], "linux");
    clients.assert_unpacked(&image.dir, &image.layer_digests);

    let target = format!("{host}/proj/copy:v2");
    run(clients.podman().args(["tag", &source, &target]));
    let pushed_digest = clients.podman_push(&target).unwrap_or_else(|e| panic!("{e}"));

    // The pushed image: podman keeps the config, and the layers, which the registry already
    // holds (in proj/app), go unchanged.
    let (raw, manifest) = clients.raw_manifest(&host, "proj/copy:v2");
    assert_eq!(support::sha256_digest(&raw), pushed_digest);
    assert_eq!(manifest["config"]["digest"], image.config_digest.as_str(), "{manifest}");
    assert_eq!(manifest["layers"].as_array().unwrap().len(), image.layer_digests.len());
    let info = clients.inspect_json(&host, "proj/copy:v2");
    assert_eq!(info["Digest"], pushed_digest, "inspect: {info}");
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(clients.skopeo_list_tags(&host, "proj/copy"), ["v2"]);

    // And podman reads back what it pushed, by tag and by digest (podman checks every layer
    // against its diff ID as it unpacks it).
    run(clients.podman().args(["rmi", "--force", &source, &target]));
    run(clients.podman().args(["pull", "--quiet", "--tls-verify=false", &target]));
    let out = run(clients.podman().args(["image", "inspect", &target]));
    let inspect: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(strings(&inspect[0]["RootFS"]["Layers"]), image.layer_digests);
    assert_eq!(inspect[0]["Digest"], pushed_digest);

    run(clients.podman().args(["rmi", "--all", "--force"]));
    let by_digest = format!("{host}/proj/app@{}", image.manifest_digest);
    run(clients.podman().args(["pull", "--quiet", "--tls-verify=false", &by_digest]));
    let out = run(clients.podman().args(["image", "inspect", &by_digest]));
    let inspect: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(inspect[0]["Digest"], image.manifest_digest.as_str());
    assert_eq!(strings(&inspect[0]["RootFS"]["Layers"]), image.layer_digests);

    // An image podman makes itself (`podman import` of a tar: no container needed), with a layer
    // the registry has never seen: podman gzips it and uploads it.
    run(clients.podman().args(["rmi", "--all", "--force"]));
    let fresh = layout::write_image(&clients.path("fresh"), "v1", 1, 150 * 1024, 22);
    let tarball = layout::blob_path(&fresh.dir, &fresh.layer_digests[0]);
    let imported = format!("{host}/proj/imported:v1");
    run(clients.podman().args(["import", "--quiet", path_str(&tarball), &imported]));
    let pushed_digest = clients.podman_push(&imported).unwrap_or_else(|e| panic!("{e}"));
    let (raw, manifest) = clients.raw_manifest(&host, "proj/imported:v1");
    assert_eq!(support::sha256_digest(&raw), pushed_digest);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert!(layers[0]["mediaType"].as_str().unwrap().ends_with("gzip"), "{manifest}");
    run(clients.podman().args(["rmi", "--all", "--force"]));
    run(clients.podman().args(["pull", "--quiet", "--tls-verify=false", &imported]));
    let out = run(clients.podman().args(["image", "inspect", &imported]));
    let inspect: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(strings(&inspect[0]["RootFS"]["Layers"]), fresh.layer_digests);
    clients.assert_unpacked(&fresh.dir, &fresh.layer_digests);
}

// ---------------------------------------------------------------------------------------------
// oras (oras-py) and the referrers API
// ---------------------------------------------------------------------------------------------

/// The oras-py side of the oras tests, one mode a run: `python3 oras_client.py ARGS_JSON`, where
/// ARGS_JSON holds `mode`, `host`, `repo`, `user`, `password`, `workdir`, `out` (where the result
/// is written, as JSON) and what the mode needs.
///
/// oras-py authenticates with its token backend: on a 401 it asks the token service named in the
/// challenge for a token, sending the user's Basic credentials.
///
/// * `referrers`: pushes two artifacts whose `subject` is the manifest `subject_digest`:
///   - `sig`, with oras-py's own `push(subject=…)`. oras-py 0.2 has no parameter for the
///     manifest's `artifactType`, so this one carries its type the pre-1.1 way, as the config
///     media type (the referrers API must then report the config media type as artifactType);
///   - `sbom`, an OCI 1.1 artifact with an explicit `artifactType` and the empty config, built
///     here and sent with oras-py's lower-level `upload_blob` and `upload_manifest`.
///
///   Then pulls `sig` back.
/// * `delete`: `delete_tag` (HEAD the tag for its digest, then DELETE the manifest by digest).
/// * `chunked`: pushes the file `file` with `do_chunked=True` (POST, one PATCH per `chunk_size`
///   bytes with Content-Range, then PUT), and pulls it back into `pulled/`.
///
/// For each manifest PUT it reports the digest of the bytes exactly as sent, and the registry's
/// status and headers; and it logs every request oras-py made, with the answer's status and
/// upload headers.
const ORAS_SCRIPT: &str = r#"
import dataclasses, hashlib, json, os, sys, urllib.parse

import oras.defaults
import oras.oci
import oras.provider

args = json.loads(sys.argv[1])
host, repo = args["host"], args["repo"]
os.chdir(args["workdir"])
registry = oras.provider.Registry(hostname=host, insecure=True, tls_verify=False)
registry.auth.set_basic_auth(args["user"], args["password"])

# oras-py 0.2 keeps the first token it gets (for a push, the pull-only token of its first HEAD)
# and, on a 401 with error="insufficient_scope", retries with that same token. A token client asks
# the token service again for the scope the challenge names, so do that.
authenticate_request = registry.auth.authenticate_request

def reauthenticate(original, headers, refresh=False):
    challenge = original.headers.get("Www-Authenticate") or ""
    refresh = refresh or 'error="insufficient_scope"' in challenge
    return authenticate_request(original, headers, refresh=refresh)

registry.auth.authenticate_request = reauthenticate

# Every request oras-py makes, as the registry answered it.
exchanges = []

def log_exchange(resp, *args, **kwargs):
    exchanges.append({
        "method": resp.request.method,
        "path": urllib.parse.urlsplit(resp.request.url).path,
        "status": resp.status_code,
        "content_range": resp.request.headers.get("Content-Range"),
        "range": resp.headers.get("Range"),
        "location": resp.headers.get("Location"),
    })

registry.session.hooks["response"].append(log_exchange)

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

def pull(tag, outdir):
    files = registry.pull(target=f"{host}/{repo}:{tag}", outdir=os.path.abspath(outdir))
    return {os.path.basename(p): os.path.abspath(p) for p in files}

result = {}
mode = args["mode"]
if mode == "referrers":
    subject = oras.oci.Subject(
        mediaType=oras.defaults.default_manifest_media_type,
        digest=args["subject_digest"],
        size=args["subject_size"],
    )

    # 1. The high-level push, with a subject.
    with open("signature.txt", "w") as f:
        f.write("berth test signature\n")
    resp = registry.push(
        target=f"{host}/{repo}:sig",
        files=["signature.txt:application/vnd.berth.test.signature.v1"],
        manifest_config=":" + args["sig_type"],
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
    manifest["artifactType"] = args["sbom_type"]
    manifest["config"] = config
    manifest["layers"] = [layer]
    manifest["subject"] = dataclasses.asdict(subject)
    manifest["annotations"] = {"org.berth.test.kind": "sbom"}
    resp = registry.upload_manifest(manifest, container)
    registry._check_200_response(resp)
    result["sbom"] = sent(resp)

    # 3. Pull the signature back.
    result["pulled"] = {name: open(path).read() for name, path in pull("sig", "pulled").items()}
elif mode == "delete":
    result["deleted"] = registry.delete_tag(f"{host}/{repo}", args["tag"])
elif mode == "chunked":
    resp = registry.push(
        target=f"{host}/{repo}:{args['tag']}",
        files=[args["file"]],
        do_chunked=True,
        chunk_size=args["chunk_size"],
        quiet=True,
    )
    result["push"] = sent(resp)
    result["pulled"] = pull(args["tag"], "pulled")
    result["tags"] = registry.get_tags(f"{host}/{repo}")
else:
    raise SystemExit(f"unknown mode {mode}")

result["exchanges"] = exchanges
with open(args["out"], "w") as f:
    json.dump(result, f)
"#;

/// Fails the test unless `python3` can import oras-py.
fn require_oras_py() {
    require_tool("python3");
    let probe = Command::new("python3").args(["-c", "import oras"]).output().expect("run python3");
    assert!(
        probe.status.success(),
        "the python package `oras` (oras-py) is required by this test but cannot be imported: {}\n\
         install it with scripts/install-test-deps.sh",
        String::from_utf8_lossy(&probe.stderr)
    );
}

impl Clients {
    /// Runs [`ORAS_SCRIPT`] in `mode` against `host`/`repo`, with the extra `args`; returns its
    /// result.
    fn oras(&self, mode: &str, host: &str, repo: &str, mut args: Value) -> Value {
        let script = self.path("oras_client.py");
        std::fs::write(&script, ORAS_SCRIPT).unwrap();
        let work = self.oras_workdir();
        std::fs::create_dir_all(&work).unwrap();
        let out = self.path(&format!("oras-{mode}.json"));
        let _ = std::fs::remove_file(&out);
        let fields = args.as_object_mut().expect("args is an object");
        fields.insert("mode".into(), mode.into());
        fields.insert("host".into(), host.into());
        fields.insert("repo".into(), repo.into());
        let (user, password) = self.creds().expect("oras runs with credentials");
        fields.insert("user".into(), user.into());
        fields.insert("password".into(), password.into());
        fields.insert("workdir".into(), path_str(&work).into());
        fields.insert("out".into(), path_str(&out).into());
        // The python of the environment as it is (its HOME too: oras-py may be a user install).
        run(direct_command("python3").arg(&script).arg(args.to_string()));
        serde_json::from_slice(&std::fs::read(&out).expect("oras script result")).expect("oras result is JSON")
    }

    fn oras_workdir(&self) -> PathBuf {
        self.path("oras")
    }
}

#[test]
fn oras_artifacts_and_referrers() {
    require_tool("skopeo");
    require_oras_py();
    let berth = Berth::start();
    let host = berth.host();
    berth.create_project("proj", false);
    let clients = Clients::with_creds(ADMIN);
    let image = layout::write_image(&clients.path("src"), "v1", 1, 64 * 1024, 3);
    clients.push_layout(&image, &host, "proj/app:v1");

    let sig_type = "application/vnd.berth.test.signature.config.v1+json";
    let sbom_type = "application/vnd.berth.test.sbom.v1";
    let result = clients.oras(
        "referrers",
        &host,
        "proj/app",
        serde_json::json!({
            "subject_digest": image.manifest_digest,
            "subject_size": image.manifest_size,
            "sig_type": sig_type,
            "sbom_type": sbom_type,
        }),
    );
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

    // GET /v2/proj/app/referrers/<image digest>[query]: checks the envelope, returns the
    // response and its descriptors.
    let referrers = |query: &str| {
        let resp = http_get(&berth.url(&format!("/v2/proj/app/referrers/{}{query}", image.manifest_digest)));
        assert_eq!(resp.status, 200, "GET referrers{query}: {}", String::from_utf8_lossy(&resp.body));
        let content_type = resp.header("content-type").unwrap_or_default().to_owned();
        assert!(content_type.starts_with(OCI_INDEX), "referrers content type: {content_type}");
        let index = resp.json();
        assert_eq!(index["schemaVersion"], 2, "{index}");
        assert_eq!(index["mediaType"], OCI_INDEX, "{index}");
        let manifests = index["manifests"].as_array().cloned().unwrap_or_else(|| {
            panic!("referrers index without manifests: {index}");
        });
        (resp, manifests)
    };
    let find = |manifests: &[Value], digest: &str| manifests.iter().find(|m| m["digest"] == digest).cloned();

    // Both artifacts, each with its artifactType and annotations.
    let (resp, all) = referrers("");
    assert_eq!(all.len(), 2, "referrers: {all:?}");
    assert!(resp.header("oci-filters-applied").is_none(), "no filter was asked for");
    let sig = find(&all, &sig_digest).unwrap_or_else(|| panic!("sig not in referrers: {all:?}"));
    assert_eq!(sig["mediaType"], OCI_MANIFEST);
    assert_eq!(sig["size"], result["sig"]["size"]);
    assert_eq!(sig["artifactType"], sig_type, "artifactType from the config media type: {sig}");
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
    let unknown = support::sha256_digest(b"nothing refers to this");
    let resp = http_get(&berth.url(&format!("/v2/proj/app/referrers/{unknown}")));
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.json()["manifests"], Value::Array(vec![]));

    // The artifacts are ordinary tagged manifests too.
    assert_eq!(clients.skopeo_list_tags(&host, "proj/app"), ["sbom", "sig", "v1"]);

    // oras deletes the sbom (by digest): it leaves the referrers with its tag.
    let deleted = clients.oras("delete", &host, "proj/app", serde_json::json!({ "tag": "sbom" }));
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let (_, left) = referrers("");
    assert_eq!(left.len(), 1, "referrers after the sbom's deletion: {left:?}");
    assert_eq!(left[0]["digest"], sig_digest.as_str());
    assert_eq!(clients.skopeo_list_tags(&host, "proj/app"), ["sig", "v1"]);
    let status = http_get(&berth.url(&format!("/v2/proj/app/manifests/{sbom_digest}"))).status;
    assert_eq!(status, 404, "GET of the deleted sbom manifest");
}

#[test]
fn oras_chunked_push_and_pull() {
    require_oras_py();
    let berth = Berth::start();
    let host = berth.host();
    berth.create_project("proj", false);
    let clients = Clients::with_creds(ADMIN);

    // 300 KiB and a bit in 64 KiB chunks: four full PATCHes and a short last one.
    let content = support::random_bytes(300 * 1024 + 123, 5);
    let work = clients.oras_workdir();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("payload.bin"), &content).unwrap();
    let result = clients.oras(
        "chunked",
        &host,
        "proj/files",
        serde_json::json!({ "tag": "chunked", "file": "payload.bin", "chunk_size": 64 * 1024 }),
    );
    let push = &result["push"];
    assert_eq!(push["status"], 201, "PUT of the manifest: {push}");
    assert_eq!(push["docker_content_digest"], push["digest"], "{push}");
    assert!(push["oci_subject"].is_null(), "no subject, no OCI-Subject: {push}");
    let pulled = result["pulled"]["payload.bin"].as_str().unwrap_or_else(|| panic!("nothing pulled: {result}"));
    assert!(std::fs::read(pulled).expect("pulled file") == content, "the pulled file differs from the pushed one");
    assert_eq!(strings(&result["tags"]), ["chunked"]);

    // oras-py uploaded the payload in five PATCHes (its config goes up monolithically, POST then
    // PUT); after each, the registry said how much it holds and where to go on.
    let patches: Vec<&Value> =
        result["exchanges"].as_array().unwrap().iter().filter(|e| e["method"] == "PATCH").collect();
    assert_eq!(patches.len(), 5, "PATCH requests: {patches:?}");
    let len = content.len();
    for (i, patch) in patches.iter().enumerate() {
        let start = i * 64 * 1024;
        let end = (start + 64 * 1024).min(len) - 1;
        assert_eq!(patch["content_range"], format!("{start}-{end}"), "{patch}");
        assert_eq!(patch["status"], 202, "{patch}");
        assert_eq!(patch["range"], format!("0-{end}"), "Range after a PATCH: {patch}");
        assert!(patch["location"].is_string(), "a PATCH response needs a Location: {patch}");
    }

    // The blob as any client reads it.
    let blob = http_get(&berth.url(&format!("/v2/proj/files/blobs/{}", support::sha256_digest(&content))));
    assert_eq!(blob.status, 200);
    assert!(blob.body == content, "GET of the chunked blob returns other bytes");
}
