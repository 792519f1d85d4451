-- Online garbage collection (docs/architecture.md, "Garbage collection").
--
-- A blob row is `live` or `deleting`: a collection decided to delete it (in one statement that
-- also checked nothing references it and nothing used it since the collection began), and its
-- bytes may already be gone. Pushes treat a `deleting` blob as absent. `last_used` is when a push
-- last relied on the blob (upload, mount, existence check, manifest reference), unix seconds.
ALTER TABLE blobs ADD COLUMN gc_state TEXT NOT NULL DEFAULT 'live';
ALTER TABLE blobs ADD COLUMN last_used BIGINT NOT NULL DEFAULT 0;
-- How many uses there were: a collection flips a blob only if none happened since its mark.
ALTER TABLE blobs ADD COLUMN uses BIGINT NOT NULL DEFAULT 0;
UPDATE blobs SET last_used = created_at;
CREATE INDEX blobs_by_gc_state ON blobs (gc_state, last_used);

-- A link's last use, as the blob's; `pending`: linked by an upload or mount and not referenced by
-- a manifest of the repository since (it counts towards the quota until a manifest references it
-- or a collection removes it). Links from before this migration count as pending: as before.
ALTER TABLE repository_blobs ADD COLUMN last_used BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repository_blobs ADD COLUMN pending BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE repository_blobs SET last_used = created_at;

-- What each manifest references, written with the manifest: blobs (config, layers; `blob`
-- true) and, for an index, the manifests it lists (`blob` false). The collection's mark, the
-- untagged sweep and the quota read them. Manifests stored before this migration have
-- `refs_recorded` false until a collection parses them.
CREATE TABLE manifest_refs (
    manifest_id BIGINT  NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    digest      TEXT    NOT NULL,
    blob        BOOLEAN NOT NULL,
    PRIMARY KEY (manifest_id, digest)
);
CREATE INDEX manifest_refs_by_digest ON manifest_refs (digest, blob);
ALTER TABLE manifests ADD COLUMN refs_recorded BOOLEAN NOT NULL DEFAULT FALSE;

-- At most one collection at a time across instances and `berth gc` runs: the holder of this
-- single row's lease.
CREATE TABLE gc_lock (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    holder      TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0
);
INSERT INTO gc_lock (id) VALUES (1);

-- What each collection freed (or, dry, would free): the history's bytes-freed figures.
CREATE TABLE gc_results (
    job_id      BIGINT  PRIMARY KEY,
    dry_run     BOOLEAN NOT NULL,
    blobs       BIGINT  NOT NULL,
    bytes       BIGINT  NOT NULL,
    manifests   BIGINT  NOT NULL,
    uploads     BIGINT  NOT NULL,
    tombstones  BIGINT  NOT NULL,
    strays      BIGINT  NOT NULL,
    finished_at BIGINT  NOT NULL
);
