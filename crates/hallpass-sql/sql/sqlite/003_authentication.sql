-- hallpass session store, SQLite, migration 3: when and how the principal last
-- authenticated (SR-30), as the JSON text of hallpass's `Authenticated`; NULL for an
-- anonymous session and for one logged in before this migration.
ALTER TABLE hallpass_sessions ADD COLUMN authentication TEXT;
