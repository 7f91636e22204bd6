-- Customers of a reseller (a core tenant of kind reseller). Money in minor units of the reseller's currency.
CREATE TABLE registrar_customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    username TEXT NOT NULL,
    name TEXT NOT NULL,
    company TEXT NOT NULL,
    telnocc TEXT NOT NULL,
    telno TEXT NOT NULL,
    address1 TEXT NOT NULL,
    address2 TEXT NOT NULL,
    address3 TEXT NOT NULL,
    city TEXT NOT NULL,
    state TEXT NOT NULL,
    country TEXT NOT NULL,
    zip TEXT NOT NULL,
    pin TEXT NOT NULL,
    lang TEXT NOT NULL,
    status TEXT NOT NULL,
    funds INTEGER NOT NULL DEFAULT 0,
    total_receipts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, username)
);

-- Plans of a product (codeguard, sitelock) a reseller sells: a tier and a monthly price per tenure (JSON).
CREATE TABLE registrar_plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    product TEXT NOT NULL,
    name TEXT NOT NULL,
    tier INTEGER NOT NULL,
    pricing TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE registrar_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    customer_id INTEGER NOT NULL REFERENCES registrar_customers (id),
    product TEXT NOT NULL,
    domain TEXT NOT NULL,
    plan_id INTEGER NOT NULL REFERENCES registrar_plans (id),
    months INTEGER NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    pending_plan_id INTEGER,
    created_at INTEGER NOT NULL
);

-- Every action on a customer or an order (eaqid), with its reason where one is given.
CREATE TABLE registrar_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    customer_id INTEGER NOT NULL REFERENCES registrar_customers (id),
    order_id INTEGER,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE registrar_invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    customer_id INTEGER NOT NULL REFERENCES registrar_customers (id),
    order_id INTEGER NOT NULL REFERENCES registrar_orders (id),
    action_id INTEGER NOT NULL REFERENCES registrar_actions (id),
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Single-use customer login tokens, stored as hashes.
CREATE TABLE registrar_login_tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    customer_id INTEGER NOT NULL REFERENCES registrar_customers (id),
    expires_at INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
