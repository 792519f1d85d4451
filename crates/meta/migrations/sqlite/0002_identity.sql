-- Identity and access: local users, projects (the namespace a repository's first path component
-- names), project membership with Harbor's role ids, and the token-signing key shared by every
-- instance.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT    UNIQUE,
    realname      TEXT    NOT NULL DEFAULT '',
    comment       TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL,
    sysadmin      BOOLEAN NOT NULL DEFAULT FALSE,
    -- Login throttling: consecutive failures and the time (unix seconds) until which logins are
    -- refused.
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    public     BOOLEAN NOT NULL DEFAULT FALSE,
    owner_id   BIGINT  NOT NULL REFERENCES users (id),
    -- Storage quota in bytes; -1 for none. Usage is computed from the content, never counted
    -- in a row every push would have to lock.
    storage_limit BIGINT NOT NULL DEFAULT -1,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

-- role_id: 1 projectAdmin, 2 developer, 3 guest, 4 maintainer, 5 limitedGuest (Harbor's ids).
CREATE TABLE project_members (
    id         INTEGER PRIMARY KEY,
    project_id BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id    INTEGER NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    UNIQUE (project_id, user_id)
);

-- The key that signs registry tokens: generated once by whichever instance starts first.
CREATE TABLE signing_keys (
    kid        TEXT   PRIMARY KEY,
    pkcs8      BLOB   NOT NULL,
    created_at BIGINT NOT NULL
);

-- Robot accounts: `robot$<name>` (system level) or `robot$<project>+<name>` (project level).
-- permissions: JSON [{kind, namespace, access:[{resource, action}]}], as Harbor's API takes it.
CREATE TABLE robots (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    level       TEXT    NOT NULL,
    project_id  BIGINT  REFERENCES projects (id) ON DELETE CASCADE,
    secret_hash TEXT    NOT NULL,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    -- Unix seconds, or -1 for never.
    expires_at  BIGINT  NOT NULL,
    duration    BIGINT  NOT NULL,
    permissions TEXT    NOT NULL,
    creator     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

-- Browser sessions: any instance serves any session. `id` is the SHA-256 of the cookie value,
-- so the table never holds a usable session token.
CREATE TABLE sessions (
    id         TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
