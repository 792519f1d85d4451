-- Tag immutability rules of a project (Harbor's `/projects/{p}/immutabletagrules`): a tag whose
-- repository (its name without the project) and name match an enabled rule cannot be moved to
-- another artifact or deleted, nor can its artifact. One repository and one tag selector each,
-- doublestar patterns (`berth-rules`); the same pair twice in a project is a duplicate.
CREATE TABLE immutable_rules (
    id                 INTEGER PRIMARY KEY,
    project_id         BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    priority           BIGINT  NOT NULL DEFAULT 0,
    disabled           BOOLEAN NOT NULL DEFAULT FALSE,
    -- `repoMatches` or `repoExcludes`.
    repository_decoration TEXT NOT NULL,
    repository_pattern    TEXT NOT NULL,
    -- `matches` or `excludes`.
    tag_decoration     TEXT    NOT NULL,
    tag_pattern        TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    UNIQUE (project_id, repository_decoration, repository_pattern, tag_decoration, tag_pattern)
);
