-- hallpass session store, PostgreSQL, migration 1.
-- Applied automatically on connect; DBAs may apply it themselves (then connect with
-- SqlOptions::without_migration). Every name starts with `hallpass_`, which the store
-- replaces with its configured table prefix.
CREATE TABLE IF NOT EXISTS hallpass_sessions (
    token_hash        BYTEA   PRIMARY KEY,
    handle            BYTEA   NOT NULL UNIQUE,
    principal         TEXT,
    data              TEXT    NOT NULL,
    created_at        BIGINT  NOT NULL,
    last_seen_at      BIGINT  NOT NULL,
    idle_deadline     BIGINT  NOT NULL,
    absolute_deadline BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    version           BIGINT  NOT NULL,
    remember          BOOLEAN NOT NULL,
    client_ip         TEXT,
    user_agent        TEXT
);
CREATE INDEX IF NOT EXISTS hallpass_sessions_expires_at ON hallpass_sessions (expires_at);
CREATE INDEX IF NOT EXISTS hallpass_sessions_principal ON hallpass_sessions (principal, created_at);
