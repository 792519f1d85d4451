-- Scale-out: the event outbox, the job queue, and upload sessions any instance can continue.

-- What the blob store needs to continue an upload session (for S3: the multipart upload, its
-- parts and the pending tail), beside the length and hash state.
ALTER TABLE uploads ADD COLUMN store_state BLOB NOT NULL DEFAULT X'';
-- Which request may write to the session now, until when (unix seconds): requests on one
-- session, on any instance, take turns. A lease of a request that died runs out.
ALTER TABLE uploads ADD COLUMN lease_owner TEXT;
ALTER TABLE uploads ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;

-- The event outbox and the job queue.
--
-- Every change (and every pull, login failure...) is one row of `events`, written in the same
-- transaction as the change it describes where the change is made in this database. The audit
-- log is a view of these rows; webhooks, replication and scan-on-push read them in order with a
-- cursor each (`event_cursors`), so a consumer that was down catches up instead of missing them.
ALTER TABLE audit_logs RENAME TO events;
ALTER TABLE events ADD COLUMN repository TEXT;
ALTER TABLE events ADD COLUMN digest TEXT;
ALTER TABLE events ADD COLUMN tag TEXT;
-- The writing transaction's id on PostgreSQL (see the PostgreSQL twin); SQLite commits
-- transactions in the order it numbers rows, so it needs none.
ALTER TABLE events ADD COLUMN txid BIGINT NOT NULL DEFAULT 0;

CREATE TABLE event_cursors (
    consumer   TEXT   PRIMARY KEY,
    txid       BIGINT NOT NULL,
    event_id   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Durable jobs: claimed with a lease by any instance, retried with backoff, logs kept.
CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY,
    kind           TEXT    NOT NULL,
    payload        TEXT    NOT NULL DEFAULT '{}',
    -- Pending | Running | Success | Error | Stopped
    status         TEXT    NOT NULL,
    -- A job with a key is enqueued at most once (scheduled runs: one per period cluster-wide).
    unique_key     TEXT    UNIQUE,
    attempts       BIGINT  NOT NULL DEFAULT 0,
    max_attempts   BIGINT  NOT NULL,
    run_at         BIGINT  NOT NULL,
    worker         TEXT,
    lease_until    BIGINT  NOT NULL DEFAULT 0,
    stop_requested BOOLEAN NOT NULL DEFAULT FALSE,
    log            TEXT    NOT NULL DEFAULT '',
    last_error     TEXT,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    started_at     BIGINT,
    finished_at    BIGINT
);
CREATE INDEX jobs_ready ON jobs (status, run_at);
CREATE INDEX jobs_by_kind ON jobs (kind, status);

-- Job kinds an administrator paused: their pending jobs wait.
CREATE TABLE job_queues (
    kind   TEXT    PRIMARY KEY,
    paused BOOLEAN NOT NULL DEFAULT FALSE
);

-- Each running instance's worker pool, with a heartbeat (the jobservice API lists them).
CREATE TABLE job_workers (
    id           TEXT   PRIMARY KEY,
    host         TEXT   NOT NULL,
    pid          BIGINT NOT NULL,
    concurrency  BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
