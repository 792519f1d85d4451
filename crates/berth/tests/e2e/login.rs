//! Logging in with real registry clients (podman, skopeo), each test against its own `berth` server
//! on 127.0.0.1: credentials right and wrong, `podman login`/`logout`, what each project role may
//! do, and what anonymous clients may do in public and private projects.
//!
//! The clients are not Rust crates: `scripts/install-test-deps.sh` installs them. A missing client
//! fails its test with a message saying so; no test is skipped.

use crate::support::clients::{Clients, Creds, require_tool, strings};
use crate::support::layout::{self, Image};
use crate::support::try_run;
use crate::support::{ADMIN, Berth, run};
use serde_json::Value;

/// Harbor role ids, for [`Berth::add_member`].
const DEVELOPER: i64 = 2;
const GUEST: i64 = 3;
const MAINTAINER: i64 = 4;

/// A test server with a private project `team`.
fn server_with_team() -> Berth {
    let berth = Berth::start();
    berth.create_project("team", false);
    berth
}

/// A user of the test server.
struct User {
    name: &'static str,
    password: String,
}

impl User {
    /// Creates user `name` (password `{name}-Passw0rd`), a member of `project` with `role`
    /// unless that is `None`.
    fn new(berth: &Berth, name: &'static str, membership: Option<(&str, i64)>) -> User {
        let password = format!("{name}-Passw0rd");
        berth.create_user(name, &password);
        if let Some((project, role)) = membership {
            berth.add_member(project, name, role);
        }
        User { name, password }
    }

    fn login(&self) -> (&str, &str) {
        (self.name, &self.password)
    }

    fn creds(&self) -> Creds<'_> {
        Some(self.login())
    }
}

/// Checks that a client command failed, with an error that says the registry refused it (one of
/// `words`, case-insensitively); returns the error.
fn refused(result: Result<String, String>, what: &str, words: &[&str]) -> String {
    let error = match result {
        Ok(stdout) => panic!("{what} should have been refused, but succeeded:\n{stdout}"),
        Err(error) => error,
    };
    let lower = error.to_lowercase();
    assert!(words.iter().any(|w| lower.contains(w)), "{what} failed, but not saying any of {words:?}:\n{error}");
    error
}

/// What a client says when the registry refuses the credentials or the access.
const DENIED: &[&str] = &["denied", "unauthorized"];

/// What skopeo says of an image that is not there (of a repository never pushed to, the registry
/// does not know the name at all).
const ABSENT: &[&str] = &["manifest unknown", "name unknown"];

/// The manifest digest `skopeo inspect` reports for `repo_tag`, as `creds`.
fn inspected_digest(clients: &Clients, host: &str, repo_tag: &str, creds: Creds) -> String {
    let out = clients.inspect_as(host, repo_tag, false, creds).unwrap_or_else(|e| panic!("{e}"));
    let info: Value = serde_json::from_str(&out).expect("inspect output is JSON");
    info["Digest"].as_str().unwrap_or_else(|| panic!("no digest: {info}")).to_owned()
}

/// Puts `image` into podman's storage (from its OCI layout) as `name`.
fn podman_load(clients: &Clients, image: &Image, name: &str) {
    run(clients.skopeo("copy").args(["--quiet", &image.oci_ref(), &format!("containers-storage:{name}")]));
}

#[test]
fn podman_login_logout_and_roles() {
    require_tool("podman");
    require_tool("skopeo");
    let berth = server_with_team();
    let host = berth.host();
    let developer = User::new(&berth, "dev", Some(("team", DEVELOPER)));
    let guest = User::new(&berth, "guest", Some(("team", GUEST)));
    let clients = Clients::new();

    // Right credentials: podman checks them against the registry and stores them in the test's
    // own auth file.
    let out = clients.podman_login(&host, ADMIN).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("Login Succeeded"), "podman login: {out}");
    assert_eq!(clients.logged_in_hosts(), [host.as_str()]);
    run(clients.podman().args(["logout", &host]));
    assert!(clients.logged_in_hosts().is_empty(), "podman logout left credentials behind");

    // A wrong password: refused, nothing stored.
    let error = refused(
        clients.podman_login(&host, ("admin", "not-the-password")),
        "podman login with a wrong password",
        &["unauthorized", "invalid username/password"],
    );
    assert!(clients.logged_in_hosts().is_empty(), "a failed login stored credentials: {error}");

    let image = layout::write_image(&clients.path("src"), "v1", 2, 64 * 1024, 31);
    let target = format!("{host}/team/app:v1");
    podman_load(&clients, &image, &target);

    // Logged out: no push into the private project.
    refused(clients.podman_push(&target), "an anonymous podman push", DENIED);

    // A developer pushes.
    clients.podman_login(&host, developer.login()).unwrap_or_else(|e| panic!("{e}"));
    let pushed = clients.podman_push(&target).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inspected_digest(&clients, &host, "team/app:v1", Some(ADMIN)), pushed);
    run(clients.podman().args(["logout", &host]));

    // A guest may pull, but not push.
    clients.podman_login(&host, guest.login()).unwrap_or_else(|e| panic!("{e}"));
    let guest_target = format!("{host}/team/app:guest");
    run(clients.podman().args(["tag", &target, &guest_target]));
    refused(clients.podman_push(&guest_target), "a guest's podman push", DENIED);
    run(clients.podman().args(["rmi", "--all", "--force"]));
    run(clients.podman().args(["pull", "--quiet", "--tls-verify=false", &target]));
    let out = run(clients.podman().args(["image", "inspect", &target]));
    let inspect: Value = serde_json::from_str(&out).expect("podman image inspect is JSON");
    assert_eq!(inspect[0]["Digest"], pushed, "{inspect}");

    let tags = Clients::with_creds(ADMIN).skopeo_list_tags(&host, "team/app");
    assert_eq!(tags, ["v1"], "only the developer's push landed");
}

#[test]
fn skopeo_credentials() {
    require_tool("skopeo");
    let berth = server_with_team();
    let host = berth.host();
    let dev = User::new(&berth, "dev", Some(("team", DEVELOPER)));
    let developer = dev.creds();
    let wrong = Some((dev.name, "not-the-password"));
    let outsider = User::new(&berth, "outsider", None);
    let clients = Clients::new();
    let image = layout::write_image(&clients.path("src"), "v1", 2, 64 * 1024, 32);

    // Wrong credentials: nothing is pushed.
    refused(clients.push_layout_as(&image, &host, "team/app:v1", wrong), "a push with a wrong password", DENIED);
    refused(
        clients.inspect_as(&host, "team/app:v1", false, Some(ADMIN)),
        "inspecting what a refused push would have made",
        ABSENT,
    );

    // The developer's credentials: pushed, and read back.
    clients.push_layout_as(&image, &host, "team/app:v1", developer).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inspected_digest(&clients, &host, "team/app:v1", developer), image.manifest_digest);
    let raw = clients.inspect_as(&host, "team/app:v1", true, developer).unwrap_or_else(|e| panic!("{e}"));
    assert!(raw.as_bytes() == image.manifest, "served manifest differs from the pushed one:\n{raw}");
    let out = run(clients
        .skopeo_with(&[], "list-tags", developer)
        .args(["--tls-verify=false", &format!("docker://{host}/team/app")]));
    let list: Value = serde_json::from_str(&out).expect("list-tags output is JSON");
    assert_eq!(strings(&list["Tags"]), ["v1"]);

    // A wrong password, a user outside the project, and nobody cannot read it.
    for (who, creds) in [("a wrong password", wrong), ("a non-member", outsider.creds()), ("an anonymous client", None)]
    {
        refused(clients.inspect_as(&host, "team/app:v1", false, creds), &format!("inspect by {who}"), DENIED);
    }

    // No project, no push, not even for the admin.
    refused(
        clients.push_layout_as(&image, &host, "nosuch/app:v1", Some(ADMIN)),
        "a push into a project that does not exist",
        &["denied", "unauthorized", "name unknown", "not found"],
    );
}

#[test]
fn anonymous_pull_from_public_projects_only() {
    require_tool("skopeo");
    require_tool("podman");
    let berth = Berth::start();
    let host = berth.host();
    berth.create_project("secret", false);
    let clients = Clients::new();
    let image = layout::write_image(&clients.path("src"), "v1", 2, 64 * 1024, 33);
    // `library` is the public project every server starts with.
    for repo_tag in ["library/app:v1", "secret/app:v1"] {
        clients.push_layout_as(&image, &host, repo_tag, Some(ADMIN)).unwrap_or_else(|e| panic!("{e}"));
    }

    // Public: anyone may pull.
    assert_eq!(inspected_digest(&clients, &host, "library/app:v1", None), image.manifest_digest);
    let public = format!("{host}/library/app:v1");
    run(clients.podman().args(["pull", "--quiet", "--tls-verify=false", &public]));
    let out = run(clients.podman().args(["image", "inspect", &public]));
    let inspect: Value = serde_json::from_str(&out).expect("podman image inspect is JSON");
    assert_eq!(inspect[0]["Digest"], image.manifest_digest.as_str(), "{inspect}");
    assert_eq!(strings(&inspect[0]["RootFS"]["Layers"]), image.layer_digests, "{inspect}");

    // Private: not anonymously.
    refused(clients.inspect_as(&host, "secret/app:v1", false, None), "an anonymous inspect of a private image", DENIED);
    let private = format!("{host}/secret/app:v1");
    refused(
        try_run(clients.podman().args(["pull", "--quiet", "--tls-verify=false", &private])),
        "an anonymous podman pull of a private image",
        DENIED,
    );

    // Nobody pushes anonymously, not even into a public project.
    refused(clients.push_layout_as(&image, &host, "library/anon:v1", None), "an anonymous push", DENIED);
    refused(
        clients.inspect_as(&host, "library/anon:v1", false, Some(ADMIN)),
        "inspecting what a refused push would have made",
        ABSENT,
    );
}

#[test]
fn maintainer_deletes_developer_does_not() {
    require_tool("skopeo");
    let berth = server_with_team();
    let host = berth.host();
    let developer = User::new(&berth, "dev", Some(("team", DEVELOPER)));
    let maintainer = User::new(&berth, "maint", Some(("team", MAINTAINER)));
    let clients = Clients::new();
    let image = layout::write_image(&clients.path("src"), "v1", 1, 64 * 1024, 34);
    clients.push_layout_as(&image, &host, "team/app:v1", developer.creds()).unwrap_or_else(|e| panic!("{e}"));
    let delete = |creds: Creds| {
        try_run(
            clients
                .skopeo_with(&[], "delete", creds)
                .args(["--tls-verify=false", &format!("docker://{host}/team/app:v1")]),
        )
    };

    // The developer who pushed it may not delete it.
    refused(delete(developer.creds()), "a developer's skopeo delete", DENIED);
    assert_eq!(inspected_digest(&clients, &host, "team/app:v1", developer.creds()), image.manifest_digest);

    // A maintainer may.
    delete(maintainer.creds()).unwrap_or_else(|e| panic!("{e}"));
    refused(
        clients.inspect_as(&host, "team/app:v1", false, maintainer.creds()),
        "inspecting the deleted image",
        &["manifest unknown"],
    );
}
