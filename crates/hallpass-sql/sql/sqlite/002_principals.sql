-- hallpass session store, SQLite, migration 2: one row per principal that ever
-- logged in, holding its generation (see hallpass-sql). TEXT compares bytewise.
CREATE TABLE IF NOT EXISTS hallpass_principals (
    principal  TEXT    NOT NULL PRIMARY KEY,
    generation INTEGER NOT NULL
) WITHOUT ROWID;
