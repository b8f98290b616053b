-- hallpass session store, MySQL / MariaDB, migration 3: when and how the principal
-- last authenticated (SR-30), as the JSON text of hallpass's `Authenticated`; NULL
-- for an anonymous session and for one logged in before this migration. DDL commits
-- implicitly here, so the statement is idempotent on MariaDB (`IF NOT EXISTS`); MySQL 8
-- has no such clause, and the store runs it without (a migrator that died between
-- this statement and its record then fails the next start with "duplicate column").
ALTER TABLE hallpass_sessions ADD COLUMN IF NOT EXISTS authentication TEXT NULL;
