-- hallpass session store, PostgreSQL, migration 5: the label index (hallpass::label):
-- one row per label pair and session handle, written before the session write that
-- sets the label, so a revoke by label finds every session carrying it. The purge
-- drops rows whose session is gone, once they are older than any write in flight.
CREATE TABLE IF NOT EXISTS hallpass_labels (
    name   TEXT  NOT NULL,
    value  TEXT  NOT NULL,
    handle BYTEA NOT NULL,
    indexed_at BIGINT NOT NULL,
    PRIMARY KEY (name, value, handle)
);
CREATE INDEX IF NOT EXISTS hallpass_labels_handle ON hallpass_labels (handle);
