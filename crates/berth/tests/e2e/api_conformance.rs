//! Harbor's API clients work unchanged: schemathesis (PyPI) drives every `/api/v2.0` operation a
//! real Berth implements, with generated and malformed input, and checks each answer against
//! Harbor's own document (vendored as `crates/api-types/tests/harbor-swagger.yaml`): no server
//! error, and the status code, content type, headers and body the document gives that operation.
//! `tests/api-conformance/conformance.py` finds the operations and lists, with reasons, the few
//! codes Harbor's server answers but its document omits. Zero failures pass.

use std::path::PathBuf;
use std::process::Command;

use crate::support::registry::*;
use crate::support::{ADMIN, Berth, random_bytes};
use serde_json::json;

/// Test cases per operation (each also gets its schema's boundary and malformed values).
const EXAMPLES: &str = "25";

#[tokio::test]
async fn every_implemented_operation_answers_as_harbors_document_says() {
    let berth = Berth::start();
    // Content the generated requests can name (beside the values that name nothing): a public
    // project with an image, a member, a robot, a registry endpoint and a replication policy.
    berth.create_project("conformance", true);
    let user = berth.create_user("casey", "Casey12345");
    berth.add_member("conformance", "casey", 2);
    Registry::new(berth.url("")).push_image("conformance/app", "v1", &random_bytes(200, 31)).await;
    let created = |path: &str, body: serde_json::Value| {
        let (status, text) = berth.api("POST", path, Some(ADMIN), Some(&body.to_string()));
        assert_eq!(status, 201, "POST {path}: {text}");
    };
    created(
        "/robots",
        json!({"name": "ci", "level": "project", "duration": -1, "permissions": [{"kind": "project",
               "namespace": "conformance", "access": [{"resource": "repository", "action": "pull"}]}]}),
    );
    created("/registries", json!({"name": "peer", "type": "docker-registry", "url": "http://127.0.0.1:9"}));
    created(
        "/replication/policies",
        json!({"name": "out", "dest_registry": {"id": 1}, "trigger": {"type": "manual"}, "enabled": true}),
    );
    let examples = json!({
        "project_name": "conformance", "project_name_or_id": "conformance", "repository_name": "app",
        "reference": "v1", "tag_name": "v1", "user_id": user, "robot_id": 1, "id": 1, "addition": "build_history",
    });

    let work = tempfile::tempdir().unwrap();
    let examples_file = work.path().join("examples.json");
    std::fs::write(&examples_file, examples.to_string()).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg(root.join("tests/api-conformance/conformance.py"))
        .arg(berth.url(""))
        .arg(format!("{}:{}", ADMIN.0, ADMIN.1))
        .arg(root.join("crates/api-types/tests/harbor-swagger.yaml"))
        .arg(work.path())
        .arg(&examples_file)
        .arg(EXAMPLES)
        .output()
        .expect("python3 runs the conformance script");
    let report = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found answers Harbor's document does not allow:\n{report}");
    // It ran: operations were found and cases generated (a run of nothing would pass too).
    assert!(report.contains("operations implemented") && report.contains(" passed"), "{report}");
}
