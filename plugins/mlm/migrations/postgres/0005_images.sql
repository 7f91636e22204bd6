-- Members' profile images, served at /mlm/images/{name}: the name is random, so a link cannot be guessed.
CREATE TABLE mlm_images (
    name TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL UNIQUE,
    content_type TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
