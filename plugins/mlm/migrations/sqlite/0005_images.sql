-- Members' profile images, served at /mlm/images/{name}: the name is random, so a link cannot be guessed.
CREATE TABLE mlm_images (
    name TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL UNIQUE,
    content_type TEXT NOT NULL,
    bytes BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
