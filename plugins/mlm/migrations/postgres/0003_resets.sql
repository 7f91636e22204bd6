-- Single-use, expiring password-reset tokens (login or transaction password), stored as SHA-256 hashes.
CREATE TABLE mlm_resets (
    token_hash TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
