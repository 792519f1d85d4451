//! Audit retention against a real SQLite database.

use berth_meta::{AuditEntry, AuditFilter, Meta};

#[tokio::test]
async fn purge_removes_only_records_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let meta = Meta::open_sqlite(&dir.path().join("db"), 2).await.unwrap();
    let entry = AuditEntry {
        project_id: None,
        username: "admin",
        resource: "p",
        resource_type: "project",
        operation: "create",
        source_ip: "127.0.0.1",
    };
    for _ in 0..3 {
        meta.audit(&entry).await.unwrap();
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert_eq!(meta.purge_audit(now - 60).await.unwrap(), 0, "records of the last minute are kept");
    let total = meta
        .list_audit(
            &AuditFilter::default(),
            &berth_meta::Sort::parse(None, &[], &[("op_time", true)], "id").unwrap(),
            0,
            10,
        )
        .await
        .unwrap()
        .total;
    assert_eq!(total, 3);
    assert_eq!(meta.purge_audit(now + 60).await.unwrap(), 3);
    let page = meta
        .list_audit(
            &AuditFilter::default(),
            &berth_meta::Sort::parse(None, &[], &[("op_time", true)], "id").unwrap(),
            0,
            10,
        )
        .await
        .unwrap();
    assert!(page.rows.is_empty());
    assert_eq!(page.total, 0);
}
