//! Versioned schema migrations, applied at start. Each migration runs once,
//! in its own transaction, recorded in `schema_migrations`; an advisory lock
//! keeps several nodes starting at once from applying one twice.

/// (version, SQL). Append only: never edit a migration that has shipped.
pub const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE keys (
    id       TEXT PRIMARY KEY,
    seq      BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    revision BIGINT NOT NULL,
    body     BYTEA NOT NULL
);
CREATE TABLE key_versions (
    key_id         TEXT NOT NULL,
    version        BIGINT NOT NULL,
    body           BYTEA NOT NULL,
    usage_reserved BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, version)
);
CREATE TABLE records (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    body BYTEA NOT NULL,
    PRIMARY KEY (kind, id)
);
",
)];

/// Arbitrary constant for `pg_advisory_xact_lock`: "strongroom" in ASCII, truncated.
pub const MIGRATION_LOCK: i64 = 0x7374_726f_6e67_726f;

pub const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";
