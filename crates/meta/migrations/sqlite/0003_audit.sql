-- The audit trail: who did what to which resource, from where. Purged by age
-- (audit_log_retention_days), so it never grows without bound.
CREATE TABLE audit_logs (
    id            INTEGER PRIMARY KEY,
    project_id    BIGINT,
    username      TEXT   NOT NULL,
    resource      TEXT   NOT NULL,
    resource_type TEXT   NOT NULL,
    operation     TEXT   NOT NULL,
    source_ip     TEXT   NOT NULL,
    op_time       BIGINT NOT NULL
);

CREATE INDEX audit_logs_by_time ON audit_logs (op_time);
CREATE INDEX audit_logs_by_project ON audit_logs (project_id, op_time);
