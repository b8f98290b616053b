-- hallpass session store, SQLite, migration 1.
-- Applied automatically on connect. Every name starts with `hallpass_`, which the store
-- replaces with its configured table prefix.
CREATE TABLE IF NOT EXISTS hallpass_sessions (
    token_hash        BLOB    NOT NULL PRIMARY KEY,
    handle            BLOB    NOT NULL UNIQUE,
    principal         TEXT,
    data              TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    last_seen_at      INTEGER NOT NULL,
    idle_deadline     INTEGER NOT NULL,
    absolute_deadline INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    remember          INTEGER NOT NULL,
    client_ip         TEXT,
    user_agent        TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hallpass_sessions_expires_at ON hallpass_sessions (expires_at);
CREATE INDEX IF NOT EXISTS hallpass_sessions_principal ON hallpass_sessions (principal, created_at);
