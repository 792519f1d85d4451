-- Labels (Harbor's `/labels`): global ones (`scope` 'g', `project_id` NULL) made by a system
-- administrator, project ones (`scope` 'p') made in a project and usable only there. A label
-- name is unique within its scope: once globally, once per project.
CREATE TABLE labels (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    -- `#RRGGBB`, or empty for the portal's default.
    color       TEXT    NOT NULL DEFAULT '',
    scope       TEXT    NOT NULL,
    project_id  BIGINT  REFERENCES projects (id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

-- COALESCE: a UNIQUE constraint treats NULLs as distinct, and global labels have no project.
CREATE UNIQUE INDEX labels_by_name ON labels (scope, COALESCE(project_id, 0), name);
CREATE INDEX labels_by_project ON labels (project_id) WHERE project_id IS NOT NULL;

-- A label on an artifact (a manifest row); gone with either.
CREATE TABLE artifact_labels (
    label_id    BIGINT NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (manifest_id, label_id)
);

-- The artifacts of a label: its deletion's cascade, and `q=labels=(id)` filters.
CREATE INDEX artifact_labels_by_label ON artifact_labels (label_id);

-- Project metadata (Harbor's `/projects/{p}/metadatas`) beyond what has a column of its own
-- (`projects.public`): one string value per name, as Harbor's API carries them.
CREATE TABLE project_metadata (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);
