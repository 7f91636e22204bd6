-- Staff groups: their permissions (module → 1) are the rules of the casbin role `billing_group_<id>`.
CREATE TABLE billing_staff_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    permissions TEXT NOT NULL DEFAULT '{}',
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER
);
CREATE UNIQUE INDEX billing_staff_groups_name ON billing_staff_groups (tenant_id, name);

-- Staff members: core principals of the business (password and API keys are the core's).
CREATE TABLE billing_staff (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    principal_id INTEGER NOT NULL UNIQUE,
    group_id INTEGER NOT NULL REFERENCES billing_staff_groups (id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    acc_manager INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER
);
CREATE INDEX billing_staff_tenant ON billing_staff (tenant_id, id);
CREATE INDEX billing_staff_group ON billing_staff (group_id);

CREATE TABLE billing_client_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER
);
CREATE UNIQUE INDEX billing_client_groups_title ON billing_client_groups (tenant_id, title);

-- Clients: core principals of the business, with their billing profile; money in minor units of `currency`.
CREATE TABLE billing_clients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    principal_id INTEGER NOT NULL UNIQUE,
    group_id INTEGER REFERENCES billing_client_groups (id),
    status TEXT NOT NULL DEFAULT 'active',
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    gender TEXT NOT NULL DEFAULT '',
    dob TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    company TEXT NOT NULL DEFAULT '',
    address_1 TEXT NOT NULL DEFAULT '',
    address_2 TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '',
    postcode TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    currency TEXT NOT NULL,
    balance INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER
);
CREATE INDEX billing_clients_tenant ON billing_clients (tenant_id, id);
CREATE INDEX billing_clients_group ON billing_clients (group_id);
