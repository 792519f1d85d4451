-- Registry core: repositories, content-addressed blobs linked into repositories, manifests
-- (stored whole: they are small and served byte-for-byte), tags and upload sessions.

CREATE TABLE repositories (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    pull_count  BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

-- One row per verified blob in storage, whatever the number of repositories using it.
CREATE TABLE blobs (
    digest     TEXT   PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A blob is visible in a repository only through a link: pulling by digest never leaks a blob
-- from a repository the caller cannot read.
CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories (id),
    digest        TEXT   NOT NULL REFERENCES blobs (digest),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);

CREATE TABLE manifests (
    id            INTEGER PRIMARY KEY,
    repository_id BIGINT NOT NULL REFERENCES repositories (id),
    digest        TEXT   NOT NULL,
    media_type    TEXT   NOT NULL,
    artifact_type TEXT,
    subject       TEXT,
    annotations   TEXT,
    size          BIGINT NOT NULL,
    -- The manifest plus every blob it references: what the artifact weighs.
    total_size    BIGINT NOT NULL,
    content       BLOB   NOT NULL,
    created_at    BIGINT NOT NULL,
    pull_time     BIGINT NOT NULL DEFAULT 0,
    UNIQUE (repository_id, digest)
);

CREATE INDEX manifests_by_subject ON manifests (repository_id, subject) WHERE subject IS NOT NULL;
-- Artifact listings, newest first.
CREATE INDEX manifests_by_time ON manifests (repository_id, created_at, id);

CREATE TABLE tags (
    id            INTEGER PRIMARY KEY,
    repository_id BIGINT NOT NULL,
    name          TEXT   NOT NULL,
    digest        TEXT   NOT NULL,
    updated_at    BIGINT NOT NULL,
    pull_time     BIGINT NOT NULL DEFAULT 0,
    UNIQUE (repository_id, name),
    FOREIGN KEY (repository_id, digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);

-- The tags of one artifact (listings), and the cascade when a manifest is deleted.
CREATE INDEX tags_by_digest ON tags (repository_id, digest);

-- An upload session: `length` bytes received so far and the SHA-256 state after them. Bytes past
-- `length` in the upload's data file are leftovers of an interrupted request.
CREATE TABLE uploads (
    id            TEXT   PRIMARY KEY,
    repository_id BIGINT NOT NULL REFERENCES repositories (id),
    length        BIGINT NOT NULL,
    hash_state    BLOB   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
