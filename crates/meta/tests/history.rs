//! Audit retention and the job history purge against real databases: SQLite, and PostgreSQL
//! (the server of `TEST_BERTH_POSTGRES`, by default the local one).

use berth_meta::{AuditEntry, AuditFilter, AuditPurge, Executions, Meta, NewJob};
use berth_testkit::postgres::TestDatabase;

/// Runs `check` on a fresh SQLite database, then on a fresh PostgreSQL one.
async fn on_both<F: std::future::Future<Output = ()>>(check: impl Fn(Meta) -> F) {
    let dir = tempfile::tempdir().unwrap();
    check(Meta::open_sqlite(&dir.path().join("db"), 2).await.unwrap()).await;
    let db = TestDatabase::create();
    check(Meta::open_postgres(&db.url(), 2, std::time::Duration::from_secs(5)).await.unwrap()).await;
}

fn now() -> i64 {
    berth_meta::time::now()
}

async fn total(meta: &Meta) -> i64 {
    let sort = berth_meta::Sort::parse(None, &[], &[("op_time", true)], "id").unwrap();
    meta.list_audit(&AuditFilter::default(), &sort, 0, 10).await.unwrap().total
}

#[tokio::test]
async fn purge_removes_only_records_past_retention_and_of_the_included_types() {
    on_both(audit_purge).await;
}

async fn audit_purge(meta: Meta) {
    for (operation, resource_type) in
        [("create", "project"), ("create", "user"), ("delete", "project"), ("pull", "artifact")]
    {
        let entry = AuditEntry {
            project_id: None,
            username: "admin",
            resource: "p",
            resource_type,
            operation,
            source_ip: "127.0.0.1",
        };
        meta.audit(&entry).await.unwrap();
    }
    let recent = AuditPurge { before: now() - 60, include: None };
    assert_eq!(meta.count_audit_purge(&recent).await.unwrap(), 0, "records of the last minute are kept");
    assert_eq!(meta.purge_audit_batch(&recent, 100).await.unwrap(), 0);

    let nothing: Vec<String> = Vec::new();
    let none = AuditPurge { before: now() + 60, include: Some(&nothing) };
    assert_eq!(meta.count_audit_purge(&none).await.unwrap(), 0, "no type included: nothing purged");
    assert_eq!(meta.purge_audit_batch(&none, 100).await.unwrap(), 0);

    let types = vec!["create_project".to_owned(), "pull".to_owned()];
    let some = AuditPurge { before: now() + 60, include: Some(&types) };
    assert_eq!(meta.count_audit_purge(&some).await.unwrap(), 2);
    assert_eq!(total(&meta).await, 4, "counting deletes nothing");
    assert_eq!(meta.purge_audit_batch(&some, 1).await.unwrap(), 1, "one batch at a time");
    assert_eq!(meta.purge_audit_batch(&some, 100).await.unwrap(), 1);
    assert_eq!(total(&meta).await, 2, "create_user and delete_project stay");

    let all = AuditPurge { before: now() + 60, include: None };
    assert_eq!(meta.purge_audit_batch(&all, 100).await.unwrap(), 2);
    assert_eq!(total(&meta).await, 0);
}

fn job(kind: &'static str) -> NewJob {
    NewJob { kind, payload: "{}".into(), max_attempts: 1, run_at: now(), unique_key: None }
}

/// Claims the next job as worker `w` and ends it with `outcome`; its id.
async fn finish(meta: &Meta, outcome: Result<(), (String, Option<i64>)>) -> i64 {
    let claimed = meta.claim_job("w", now() + 60).await.unwrap().expect("a runnable job");
    meta.finish_job(claimed.id, "w", outcome).await.unwrap();
    claimed.id
}

#[tokio::test]
async fn job_purge_takes_finished_jobs_only_and_keeps_each_kinds_latest() {
    on_both(job_purge).await;
}

async fn job_purge(meta: Meta) {
    let mut done = Vec::new();
    for _ in 0..3 {
        meta.enqueue_job(&job("A")).await.unwrap();
        done.push(finish(&meta, Ok(())).await);
    }
    meta.enqueue_job(&job("B")).await.unwrap();
    let failed = finish(&meta, Err(("boom".into(), None))).await;
    let running = meta.enqueue_job(&job("A")).await.unwrap().unwrap();
    meta.claim_job("w", now() + 60).await.unwrap();
    let pending = meta.enqueue_job(&job("A").at(now() + 3600)).await.unwrap().unwrap();

    assert_eq!(meta.purge_job_batch(now() - 60, 100).await.unwrap(), 0, "recent jobs are kept");
    assert_eq!(meta.purge_job_batch(now() + 60, 1).await.unwrap(), 1, "one batch at a time");
    assert_eq!(meta.purge_job_batch(now() + 60, 100).await.unwrap(), 2);
    assert_eq!(meta.purge_job_batch(now() + 60, 100).await.unwrap(), 0);
    for id in &done {
        assert!(meta.job(*id).await.unwrap().is_none(), "finished job {id} purged");
    }
    assert!(meta.job(failed).await.unwrap().is_some(), "B's latest run stays");
    assert_eq!(meta.job(running).await.unwrap().unwrap().status, "Running");
    assert_eq!(meta.job(pending).await.unwrap().unwrap().status, "Pending");
}

async fn policy(meta: &Meta, name: &str) -> i64 {
    let p = berth_meta::NewPolicy {
        name,
        description: "",
        src_registry_id: None,
        dest_registry_id: None,
        dest_namespace: "",
        dest_namespace_replace_count: -1,
        trigger_type: "manual",
        cron: "",
        filters: "[]",
        replicate_deletion: false,
        override_existing: true,
        enabled: true,
        speed: -1,
    };
    let event = berth_meta::Event {
        project: String::new(),
        username: "admin".into(),
        resource: name.into(),
        resource_type: "replication_policy",
        operation: "create",
        source_ip: String::new(),
        op_time: now(),
        repository: None,
        digest: None,
        tag: None,
        origin: None,
    };
    meta.create_policy(&p, &event).await.unwrap()
}

/// An execution of `policy` whose planning finished, with `tasks` tasks, of which the first
/// `finished` ran to the end (the others are left running); returns its id and its jobs' ids.
async fn execution(meta: &Meta, policy: i64, tasks: usize, finished: usize) -> (i64, Vec<i64>) {
    let id = meta.create_execution(policy, "manual", &|_| job("PLAN")).await.unwrap().unwrap();
    let mut jobs = vec![finish(meta, Ok(())).await];
    let new: Vec<berth_meta::NewTask> = (0..tasks)
        .map(|i| berth_meta::NewTask {
            operation: "copy",
            resource_type: "artifact",
            src_resource: format!("p/a:{i}"),
            dst_resource: format!("p/a:{i}"),
            spec: "{}".into(),
        })
        .collect();
    meta.add_tasks(id, &new, &|_| job("COPY")).await.unwrap();
    for i in 0..tasks {
        let claimed = meta.claim_job("w", now() + 60).await.unwrap().expect("a task's job");
        if i < finished {
            meta.finish_job(claimed.id, "w", Ok(())).await.unwrap();
        }
        jobs.push(claimed.id);
    }
    (id, jobs)
}

#[tokio::test]
async fn execution_purge_takes_finished_executions_with_their_tasks_and_jobs() {
    on_both(execution_purge).await;
}

async fn execution_purge(meta: Meta) {
    let (a, b) = (policy(&meta, "a").await, policy(&meta, "b").await);
    let (old, old_jobs) = execution(&meta, a, 2, 2).await;
    let (busy, busy_jobs) = execution(&meta, a, 2, 1).await;
    let (latest, _) = execution(&meta, a, 1, 1).await;
    let (only, _) = execution(&meta, b, 1, 1).await;

    assert_eq!(
        meta.purge_execution_batch(Executions::Replication, now() - 60, 100).await.unwrap(),
        0,
        "recent executions stay"
    );
    // The job purge leaves jobs that tasks and executions still name to the execution purge.
    meta.purge_job_batch(now() + 60, 100).await.unwrap();
    for id in old_jobs.iter().chain(&busy_jobs) {
        assert!(meta.job(*id).await.unwrap().is_some(), "job {id} of a kept execution purged");
    }

    assert_eq!(meta.purge_execution_batch(Executions::Replication, now() + 60, 100).await.unwrap(), 1);
    assert!(meta.execution(old).await.unwrap().is_none());
    assert_eq!(meta.list_tasks(old, 0, 10).await.unwrap().1, 0, "its tasks went with it");
    for id in &old_jobs {
        assert!(meta.job(*id).await.unwrap().is_none(), "its job {id} went with it");
    }
    for (id, why) in [(busy, "a task still runs"), (latest, "the policy's latest"), (only, "the policy's only")] {
        assert!(meta.execution(id).await.unwrap().is_some(), "execution {id} kept: {why}");
    }
    assert_eq!(meta.list_tasks(busy, 0, 10).await.unwrap().1, 2);
}

#[tokio::test]
async fn retention_schedules_and_execution_purge() {
    on_both(retention_purge).await;
}

/// A retention execution of `policy` whose planning finished, with one task per repository of
/// `repositories`, the first `finished` of them ended; its id and its jobs' ids.
async fn retention_execution(meta: &Meta, policy: i64, repositories: usize, finished: usize) -> (i64, Vec<i64>) {
    let id = meta.create_retention_execution(policy, "MANUAL", false, &|_| job("RETENTION")).await.unwrap().unwrap();
    let mut jobs = vec![finish(meta, Ok(())).await];
    let names: Vec<String> = (0..repositories).map(|i| format!("p/r{i}")).collect();
    meta.add_retention_tasks(id, &names, &|_| job("RETENTION_TASK")).await.unwrap();
    for i in 0..repositories {
        let claimed = meta.claim_job("w", now() + 60).await.unwrap().expect("a task's job");
        if i < finished {
            meta.finish_job(claimed.id, "w", Ok(())).await.unwrap();
        }
        jobs.push(claimed.id);
    }
    (id, jobs)
}

async fn retention_purge(meta: Meta) {
    let admin = berth_meta::NewUser {
        username: "admin",
        email: None,
        realname: "",
        comment: "",
        password_hash: "x",
        sysadmin: true,
    };
    assert!(meta.first_start(&admin, "p").await.unwrap());
    let project = meta.project_by_name("p").await.unwrap().unwrap().id;
    let policy = meta.create_retention_policy(project, "or", "[]").await.unwrap();
    // Schedules: the policy's, and one naming a policy that is gone.
    for kind in [berth_meta::retention_schedule_kind(policy), berth_meta::retention_schedule_kind(policy + 1)] {
        meta.set_job_schedule(&kind, "Custom", "0 0 0 * * *", "{}").await.unwrap();
    }
    assert_eq!(meta.scheduled_retention_policies().await.unwrap(), [policy]);
    let (old, old_jobs) = retention_execution(&meta, policy, 2, 2).await;
    let (busy, busy_jobs) = retention_execution(&meta, policy, 2, 1).await;
    let (latest, _) = retention_execution(&meta, policy, 1, 1).await;

    let purge = |before| meta.purge_execution_batch(Executions::Retention, before, 100);
    assert_eq!(purge(now() - 60).await.unwrap(), 0, "recent executions stay");
    // The job purge leaves jobs that tasks and executions still name to the execution purge.
    meta.purge_job_batch(now() + 60, 100).await.unwrap();
    for id in old_jobs.iter().chain(&busy_jobs) {
        assert!(meta.job(*id).await.unwrap().is_some(), "job {id} of a kept execution purged");
    }
    // Replication's purge leaves retention's history alone.
    assert_eq!(meta.purge_execution_batch(Executions::Replication, now() + 60, 100).await.unwrap(), 0);

    assert_eq!(purge(now() + 60).await.unwrap(), 1);
    assert!(meta.retention_execution(old).await.unwrap().is_none());
    assert_eq!(meta.list_retention_tasks(old, 0, 10).await.unwrap().1, 0, "its tasks went with it");
    for id in &old_jobs {
        assert!(meta.job(*id).await.unwrap().is_none(), "its job {id} went with it");
    }
    for (id, why) in [(busy, "a task still runs"), (latest, "the policy's latest")] {
        assert!(meta.retention_execution(id).await.unwrap().is_some(), "execution {id} kept: {why}");
    }
    assert_eq!(meta.list_retention_tasks(busy, 0, 10).await.unwrap().1, 2);
}
