-- Failed logins are counted per account name and client address, not per account: the old
-- per-account lock (users.failed_logins, users.locked_until) let anyone lock `admin` out for
-- everyone by guessing. A row exists for any name tried, existing or not, so its presence tells
-- nothing; every instance reads and writes the same rows, so a guesser gains nothing by being
-- balanced across instances.
CREATE TABLE login_failures (
    username      TEXT   NOT NULL,
    source        TEXT   NOT NULL,
    -- Consecutive failures since the last success (forgotten an hour after the last one).
    failures      BIGINT NOT NULL,
    -- Unix milliseconds until which this name from this address is answered 429 unchecked (the
    -- first blocks last a second: whole seconds would make them anything from 0 to 1 s).
    blocked_until BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (username, source)
);
CREATE INDEX login_failures_updated ON login_failures (updated_at);

ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN locked_until;
