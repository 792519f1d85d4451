-- Tag retention (Harbor's `/retentions`): at most one policy per project, linked from the
-- project's metadata `retention_id`. Its schedule is a `job_schedules` row of kind
-- `RETENTION#<policy id>`, read by every instance's housekeeping scheduler.
CREATE TABLE retention_policies (
    id          INTEGER PRIMARY KEY,
    project_id  BIGINT  NOT NULL UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    -- `or`: an artifact is kept if any rule keeps it.
    algorithm   TEXT    NOT NULL,
    -- Harbor's rule list, as JSON.
    rules       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

-- One run of a policy: planned by job `plan_job_id` (one task per repository in scope); its
-- status is derived from its jobs, as a replication execution's.
CREATE TABLE retention_executions (
    id          INTEGER PRIMARY KEY,
    policy_id   BIGINT  NOT NULL REFERENCES retention_policies (id) ON DELETE CASCADE,
    -- MANUAL | SCHEDULE
    trigger     TEXT    NOT NULL,
    -- Decides and logs, deletes nothing.
    dry_run     BOOLEAN NOT NULL,
    plan_job_id BIGINT,
    start_time  BIGINT  NOT NULL
);
CREATE INDEX retention_executions_by_policy ON retention_executions (policy_id, id);
CREATE INDEX retention_executions_by_plan ON retention_executions (plan_job_id);
CREATE INDEX retention_executions_by_start ON retention_executions (start_time);

-- One repository of an execution, run as job `job_id` (its status and log are the task's):
-- how many artifacts it had and how many were kept.
CREATE TABLE retention_tasks (
    id           INTEGER PRIMARY KEY,
    execution_id BIGINT  NOT NULL REFERENCES retention_executions (id) ON DELETE CASCADE,
    job_id       BIGINT  NOT NULL,
    repository   TEXT    NOT NULL,
    total        BIGINT  NOT NULL DEFAULT 0,
    retained     BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX retention_tasks_by_execution ON retention_tasks (execution_id, id);
CREATE INDEX retention_tasks_by_job ON retention_tasks (job_id);
