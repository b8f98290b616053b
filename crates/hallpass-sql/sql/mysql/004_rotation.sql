-- hallpass session store, MySQL / MariaDB, migration 4: the session's last token
-- rotation (SR-17), as the JSON text of hallpass's `Rotation` (`at`, and the hash of
-- the token a periodic rotation replaced); NULL for a session that never rotated.
-- `IF NOT EXISTS` as in migration 3 (the store drops it on MySQL 8).
ALTER TABLE hallpass_sessions ADD COLUMN IF NOT EXISTS rotation TEXT NULL;
