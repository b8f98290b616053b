-- hallpass session store, SQLite, migration 6: the session's device binding (DBSC),
-- as the JSON text of hallpass's `BoundDevice` (the public key as a JWK, its RFC 7638
-- thumbprint, the epoch, when it was registered and last refreshed); NULL for a
-- session that is not bound to a device.
ALTER TABLE hallpass_sessions ADD COLUMN device TEXT;
