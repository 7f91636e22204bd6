-- Single-use, expiring password-reset tokens (login or transaction password), stored as SHA-256 hashes.
CREATE TABLE mlm_resets (
    token_hash TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    created_at INTEGER NOT NULL
);
