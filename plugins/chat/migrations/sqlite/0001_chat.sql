-- An addon: one chat product an organisation (a core tenant) runs.
CREATE TABLE chat_addons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    unique_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, unique_name)
);

-- Access/refresh token pairs, stored as SHA-256 hashes. A family is one login and every pair rotated from it.
CREATE TABLE chat_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    addon_id INTEGER NOT NULL REFERENCES chat_addons (id),
    principal_id INTEGER NOT NULL REFERENCES principals (id),
    family TEXT NOT NULL,
    access_hash TEXT NOT NULL UNIQUE,
    refresh_hash TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    refresh_expires_at INTEGER NOT NULL,
    rotated INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX chat_tokens_family ON chat_tokens (family);
CREATE INDEX chat_tokens_addon ON chat_tokens (addon_id);

-- Operators: principals of the organisation working on an addon.
CREATE TABLE chat_operators (
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    addon_id INTEGER NOT NULL REFERENCES chat_addons (id),
    principal_id INTEGER NOT NULL REFERENCES principals (id),
    active INTEGER NOT NULL,
    presence INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (addon_id, principal_id)
);

-- Websites of an addon.
CREATE TABLE chat_domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    addon_id INTEGER NOT NULL REFERENCES chat_addons (id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    active INTEGER NOT NULL,
    link TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (addon_id, name)
);

-- Operators assigned to domains.
CREATE TABLE chat_assignments (
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    addon_id INTEGER NOT NULL REFERENCES chat_addons (id),
    domain_id INTEGER NOT NULL REFERENCES chat_domains (id),
    principal_id INTEGER NOT NULL REFERENCES principals (id),
    is_admin INTEGER NOT NULL,
    online_status INTEGER NOT NULL,
    unique_id TEXT,
    status INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (domain_id, principal_id)
);
