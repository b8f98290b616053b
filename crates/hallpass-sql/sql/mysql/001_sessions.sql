-- hallpass session store, MySQL / MariaDB, migration 1.
-- Applied automatically on connect. Every name starts with `hallpass_`, which the store
-- replaces with its configured table prefix. utf8mb4_bin: principals compare exactly.
CREATE TABLE IF NOT EXISTS hallpass_sessions (
    token_hash        BINARY(32)   NOT NULL PRIMARY KEY,
    handle            BINARY(16)   NOT NULL,
    principal         VARCHAR(255) NULL,
    data              LONGTEXT     NOT NULL,
    created_at        BIGINT       NOT NULL,
    last_seen_at      BIGINT       NOT NULL,
    idle_deadline     BIGINT       NOT NULL,
    absolute_deadline BIGINT       NOT NULL,
    expires_at        BIGINT       NOT NULL,
    version           BIGINT       NOT NULL,
    remember          BOOLEAN      NOT NULL,
    client_ip         VARCHAR(45)  NULL,
    user_agent        TEXT         NULL,
    UNIQUE KEY hallpass_sessions_handle (handle),
    KEY hallpass_sessions_expires_at (expires_at),
    KEY hallpass_sessions_principal (principal, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
