-- Schedules of system jobs (the audit log purge; later garbage collection) set through the API,
-- one row per job kind, read by every instance's scheduler. No row: the configuration's default.
CREATE TABLE job_schedules (
    kind       TEXT   PRIMARY KEY,
    -- Hourly | Daily | Weekly | Custom | None
    type       TEXT   NOT NULL,
    -- Harbor's six-field cron (seconds first); empty for None.
    cron       TEXT   NOT NULL,
    -- The runs' parameters, as JSON.
    parameters TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The history purge: finished jobs by age, each kind's latest run, and the replication rows that
-- point at jobs (a job a kept task or execution names is kept).
CREATE INDEX jobs_by_finish ON jobs (finished_at);
CREATE INDEX jobs_by_kind_id ON jobs (kind, id);
CREATE INDEX replication_tasks_by_job ON replication_tasks (job_id);
CREATE INDEX replication_executions_by_plan ON replication_executions (plan_job_id);
CREATE INDEX replication_executions_by_start ON replication_executions (start_time);
