-- Replication: registry endpoints, policies, executions and their tasks; proxy-cache projects.

-- Values this deployment holds once, shared by every instance: its registry id (peers learn it
-- to avoid sending back what they received from us) and, when no `secret_key` is configured on
-- PostgreSQL, the key that seals endpoint credentials.
CREATE TABLE system_values (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Remote registries: another Berth or a Harbor (`harbor`) or any OCI registry (`docker-registry`).
CREATE TABLE registries (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    description   TEXT    NOT NULL DEFAULT '',
    kind          TEXT    NOT NULL,
    url           TEXT    NOT NULL,
    access_key    TEXT,
    -- Sealed with the deployment's secret key (AES-256-GCM), never stored in clear.
    access_secret TEXT,
    insecure      BOOLEAN NOT NULL DEFAULT FALSE,
    -- healthy | unhealthy | unknown, as of the last ping.
    status        TEXT    NOT NULL DEFAULT 'unknown',
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE replication_policies (
    id                           INTEGER PRIMARY KEY,
    name                         TEXT    NOT NULL UNIQUE,
    description                  TEXT    NOT NULL DEFAULT '',
    -- Exactly one of the two is set: pull-based policies have a source, push-based a destination.
    src_registry_id              BIGINT  REFERENCES registries (id),
    dest_registry_id             BIGINT  REFERENCES registries (id),
    dest_namespace               TEXT    NOT NULL DEFAULT '',
    dest_namespace_replace_count BIGINT  NOT NULL DEFAULT -1,
    -- manual | scheduled | event_based
    trigger_type                 TEXT    NOT NULL,
    cron                         TEXT    NOT NULL DEFAULT '',
    -- Harbor's filter list, as JSON.
    filters                      TEXT    NOT NULL DEFAULT '[]',
    replicate_deletion           BOOLEAN NOT NULL DEFAULT FALSE,
    override_existing            BOOLEAN NOT NULL DEFAULT TRUE,
    enabled                      BOOLEAN NOT NULL DEFAULT TRUE,
    -- KB/s per transfer; -1 or 0 for no limit.
    speed                        BIGINT  NOT NULL DEFAULT -1,
    created_at                   BIGINT  NOT NULL,
    updated_at                   BIGINT  NOT NULL
);

-- One run of a policy. Its status is derived from its jobs: the planning job (manual and
-- scheduled runs list what to copy first) and one job per task.
CREATE TABLE replication_executions (
    id          INTEGER PRIMARY KEY,
    policy_id   BIGINT  NOT NULL REFERENCES replication_policies (id) ON DELETE CASCADE,
    -- manual | scheduled | event_based
    trigger     TEXT    NOT NULL,
    plan_job_id BIGINT,
    start_time  BIGINT  NOT NULL
);
CREATE INDEX replication_executions_by_policy ON replication_executions (policy_id, id);

-- One artifact to copy or delete; run (and retried) as job `job_id`, whose status and log are
-- the task's.
CREATE TABLE replication_tasks (
    id            INTEGER PRIMARY KEY,
    execution_id  BIGINT  NOT NULL REFERENCES replication_executions (id) ON DELETE CASCADE,
    job_id        BIGINT  NOT NULL,
    -- copy | deletion
    operation     TEXT    NOT NULL,
    resource_type TEXT    NOT NULL,
    src_resource  TEXT    NOT NULL,
    dst_resource  TEXT    NOT NULL,
    -- What exactly to do, as JSON (read by the task's job).
    spec          TEXT    NOT NULL
);
CREATE INDEX replication_tasks_by_execution ON replication_tasks (execution_id, id);

-- When tags were deleted: two registries replicating to each other settle every tag on its last
-- change (a write or a delete), whichever side made it. A replicated change carries its time and
-- is applied only if it is newer than what the receiver holds, tombstones included.
CREATE TABLE tag_tombstones (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name          TEXT   NOT NULL,
    deleted_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, name)
);

-- The registry a change came from by replication: a policy does not send a change back to the
-- registry it came from (two masters replicating to each other do not loop).
ALTER TABLE events ADD COLUMN origin TEXT;

-- A proxy-cache project pulls through from this endpoint.
ALTER TABLE projects ADD COLUMN registry_id BIGINT REFERENCES registries (id);
