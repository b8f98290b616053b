-- hallpass session store, PostgreSQL, migration 4: the session's last token rotation
-- (SR-17), as the JSON text of hallpass's `Rotation` (`at`, and the hash of the token
-- a periodic rotation replaced); NULL for a session that never rotated.
ALTER TABLE hallpass_sessions ADD COLUMN IF NOT EXISTS rotation TEXT;
