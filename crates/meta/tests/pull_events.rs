//! Batched pull events against a real SQLite database: every event is kept, statistics are
//! summed per repository and the latest pull time wins.

use berth_meta::{AuditFilter, Event, ManifestPush, Meta, NewManifest, NewUser, RegistryEvent, Required, Sort};

fn pull(repo: &str, digest: &str, tag: &str, op_time: i64) -> Event {
    Event {
        project: "p".into(),
        username: "anonymous".into(),
        resource: format!("{repo}:{tag}"),
        resource_type: "artifact",
        operation: "pull",
        source_ip: "127.0.0.1".into(),
        op_time,
        repository: Some(repo.into()),
        digest: Some(digest.into()),
        tag: Some(tag.into()),
        origin: None,
    }
}

/// A new SQLite database with its first start done: the user `admin` and the project `p`.
async fn fresh_meta() -> (tempfile::TempDir, Meta) {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open_sqlite(&dir.path().join("db"), 2).await.unwrap();
    let admin =
        NewUser { username: "admin", email: None, realname: "", comment: "", password_hash: "x", sysadmin: true };
    assert!(meta.first_start(&admin, "p").await.unwrap());
    (dir, meta)
}

#[tokio::test]
async fn a_batch_keeps_every_event_and_sums_statistics() {
    let (_dir, meta) = fresh_meta().await;
    let mut repos = Vec::new();
    for name in ["p/a", "p/b"] {
        let repo = meta.ensure_repository(name).await.unwrap();
        let manifest = NewManifest {
            digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: None,
            subject: None,
            annotations: None,
            content: b"{}",
            total_size: 2,
            blobs: &[],
            children: &[],
        };
        let digest = manifest.digest;
        let created = Event { operation: "create", ..pull(name, digest, "v1", 1) };
        let push =
            ManifestPush { manifest, required: Required::default(), tag: Some("v1"), stamp: None, event: &created };
        meta.put_manifest(repo, &push).await.unwrap();
        repos.push((name, repo, digest));
    }

    // 450 pulls of a (many INSERT statements), 3 of b, out of time order.
    let mut batch = Vec::new();
    for i in 0..450 {
        let (name, repo, digest) = repos[0];
        batch.push(RegistryEvent { event: pull(name, digest, "v1", 1000 + (i * 7) % 450), pulled_from: Some(repo) });
    }
    for t in [2000, 2500, 2200] {
        let (name, repo, digest) = repos[1];
        batch.push(RegistryEvent { event: pull(name, digest, "v1", t), pulled_from: Some(repo) });
    }
    meta.record_registry_events(&batch).await.unwrap();

    let pulls = AuditFilter { operation: Some("pull"), ..AuditFilter::default() };
    let sort = Sort::parse(None, &[], &[("op_time", true)], "id").unwrap();
    let total = meta.list_audit(&pulls, &sort, 0, 1).await.unwrap().total;
    assert_eq!(total, 453, "every pull is in the audit log");

    for ((name, repo, digest), (count, latest)) in repos.into_iter().zip([(450, 1449), (3, 2500)]) {
        assert_eq!(meta.repository(name).await.unwrap().unwrap().pull_count, count, "{name}");
        let tags = meta.tags_of(repo, digest).await.unwrap();
        assert_eq!(tags[0].pull_time, latest, "{name}: the latest pull time, whatever the order");
    }
}

#[tokio::test]
async fn the_audit_total_is_counted_up_to_its_cap_and_pages_go_on_past_it() {
    let (_dir, meta) = fresh_meta().await;
    let digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    let over = berth_meta::AUDIT_TOTAL_CAP + 25;
    for start in (0..over).step_by(1000) {
        let batch: Vec<RegistryEvent> = (start..over.min(start + 1000))
            .map(|i| RegistryEvent { event: pull("p/a", digest, "v1", i), pulled_from: None })
            .collect();
        meta.record_registry_events(&batch).await.unwrap();
    }
    let sort = Sort::parse(None, &[], &[("op_time", true)], "id DESC").unwrap();
    let pulls = AuditFilter { operation: Some("pull"), ..AuditFilter::default() };
    let first = meta.list_audit(&pulls, &sort, 0, 10).await.unwrap();
    assert_eq!((first.total, first.capped), (berth_meta::AUDIT_TOTAL_CAP, true));
    assert_eq!(first.rows[0].op_time, over - 1, "newest first");
    let past = meta.list_audit(&pulls, &sort, over - 5, 10).await.unwrap();
    assert_eq!(past.rows.len(), 5, "the records past the cap can still be paged to");
    assert_eq!(past.rows[4].op_time, 0);
    let few = AuditFilter { operation: Some("pull"), from: Some(over - 30), ..AuditFilter::default() };
    let narrow = meta.list_audit(&few, &sort, 0, 10).await.unwrap();
    assert_eq!((narrow.total, narrow.capped), (30, false), "filters apply to the count");
    let none = AuditFilter { username: Some("nobody"), ..AuditFilter::default() };
    let empty = meta.list_audit(&none, &sort, 0, 10).await.unwrap();
    assert_eq!((empty.total, empty.capped, empty.rows.len()), (0, false, 0));
}
