-- hallpass session store, MySQL / MariaDB, migration 2.
-- utf8mb4_bin is a PAD SPACE collation: 'alice ' = 'alice', so a principal with a
-- trailing space listed, counted and revoked alice's sessions. Principals now use a
-- binary NO PAD collation. `utf8mb4_nopad_bin` is MariaDB's name; on MySQL the store
-- substitutes `utf8mb4_0900_bin` before running this file.
ALTER TABLE hallpass_sessions MODIFY principal VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL;
-- One row per principal that ever logged in, holding its generation (see hallpass-sql).
CREATE TABLE IF NOT EXISTS hallpass_principals (
    principal  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    generation BIGINT NOT NULL
) ENGINE=InnoDB;
