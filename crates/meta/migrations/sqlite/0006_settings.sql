-- Settings changed at run time (Harbor's /api/v2.0/configurations): they override the
-- configuration file's values, on every instance. A setting without a row keeps the file's.
CREATE TABLE settings (
    name       TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL, -- JSON
    updated_at BIGINT NOT NULL
);
