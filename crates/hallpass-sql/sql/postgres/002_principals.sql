-- hallpass session store, PostgreSQL, migration 2: one row per principal that ever
-- logged in, holding its generation. A login, a rotation of the principal's
-- sessions and "log out everywhere" lock this row first, so the cap, the generation
-- check and revoke-all are each one atomic step (see hallpass-sql).
CREATE TABLE IF NOT EXISTS hallpass_principals (
    principal  TEXT   PRIMARY KEY,
    generation BIGINT NOT NULL
);
