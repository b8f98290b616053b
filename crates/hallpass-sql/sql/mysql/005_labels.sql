-- hallpass session store, MySQL / MariaDB, migration 5: the label index
-- (hallpass::label): one row per label pair and session handle, written before the
-- session write that sets the label, so a revoke by label finds every session
-- carrying it. The purge drops rows whose session is gone, once they are older than
-- any write in flight. Binary NO PAD, as principals (migration 2): 'sid ' is not 'sid'.
CREATE TABLE IF NOT EXISTS hallpass_labels (
    name   VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    value  VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    handle BINARY(16)   NOT NULL,
    indexed_at BIGINT   NOT NULL,
    PRIMARY KEY (name, value, handle),
    KEY hallpass_labels_handle (handle)
) ENGINE=InnoDB;
