-- A business's settings: one row per organisation tenant, created with defaults on first use.
CREATE TABLE mlm_settings (
    tenant_id INTEGER PRIMARY KEY,
    registration_blocked INTEGER NOT NULL DEFAULT 0,
    username_min INTEGER NOT NULL DEFAULT 4,
    username_max INTEGER NOT NULL DEFAULT 20,
    signup_fee INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT 'USD',
    updated_at INTEGER NOT NULL
);

-- Membership packages (registration) and cart packages (purchases). Money in minor units; PV in points.
CREATE TABLE mlm_packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    package_code TEXT NOT NULL,
    name TEXT NOT NULL,
    amount INTEGER NOT NULL,
    pv INTEGER NOT NULL,
    category TEXT NOT NULL,
    image TEXT NOT NULL,
    description TEXT NOT NULL,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, package_code)
);
CREATE INDEX mlm_packages_by_kind ON mlm_packages (tenant_id, kind, id);

-- Members: the binary genealogy as a materialised path of positions from the top member ('' at the top, 'LR' is
-- the right child of the top's left child), so "inside the sponsor's downline" is a prefix test and the uplines are
-- the path's prefixes. Leg volumes and counts are kept on each member, so reading them is O(1).
CREATE TABLE mlm_members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    principal_id INTEGER NOT NULL UNIQUE,
    username TEXT NOT NULL,
    sponsor_id INTEGER,
    parent_id INTEGER,
    position TEXT,
    path TEXT NOT NULL,
    depth INTEGER NOT NULL,
    package_id INTEGER,
    firstname TEXT NOT NULL,
    lastname TEXT NOT NULL,
    gender TEXT NOT NULL DEFAULT '',
    date_of_birth TEXT NOT NULL,
    email TEXT NOT NULL,
    mobile TEXT NOT NULL,
    landline TEXT NOT NULL DEFAULT '',
    address_line1 TEXT NOT NULL DEFAULT '',
    address_line2 TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    zip_code TEXT NOT NULL DEFAULT '',
    bank_name TEXT NOT NULL DEFAULT '',
    branch_name TEXT NOT NULL DEFAULT '',
    account_holder TEXT NOT NULL DEFAULT '',
    account_number TEXT NOT NULL DEFAULT '',
    ifsc TEXT NOT NULL DEFAULT '',
    pan TEXT NOT NULL DEFAULT '',
    profile_image TEXT NOT NULL DEFAULT '',
    rank_name TEXT NOT NULL DEFAULT '',
    txn_password_hash TEXT NOT NULL,
    balance INTEGER NOT NULL DEFAULT 0,
    personal_pv INTEGER NOT NULL DEFAULT 0,
    left_pv INTEGER NOT NULL DEFAULT 0,
    right_pv INTEGER NOT NULL DEFAULT 0,
    left_count INTEGER NOT NULL DEFAULT 0,
    right_count INTEGER NOT NULL DEFAULT 0,
    kyc_status TEXT NOT NULL DEFAULT 'pending',
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, username),
    UNIQUE (tenant_id, parent_id, position)
);
-- One top member per business (its parent is NULL, which the unique constraint above does not cover).
CREATE UNIQUE INDEX mlm_members_one_top ON mlm_members (tenant_id) WHERE parent_id IS NULL;
CREATE INDEX mlm_members_by_path ON mlm_members (tenant_id, path);

-- Members' access tokens: only the SHA-256 hash is kept.
CREATE TABLE mlm_tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    principal_id INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX mlm_tokens_by_member ON mlm_tokens (member_id);

-- The e-wallet ledger: every move of a member's balance, with its source; it sums to the balance.
CREATE TABLE mlm_ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    idempotency_key TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, member_id, idempotency_key)
);
CREATE INDEX mlm_ledger_by_member ON mlm_ledger (tenant_id, member_id, id);

-- E-pins: single-use codes of a value, stored as a hash of the code; `used_at` set once.
CREATE TABLE mlm_epins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    batch TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    amount INTEGER NOT NULL,
    owner_member_id INTEGER,
    expires_at INTEGER,
    used_at INTEGER,
    used_by INTEGER,
    used_for TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, code_hash)
);

-- Orders reported by the shop (order complete): unique per business, so a repeated report changes nothing twice.
CREATE TABLE mlm_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    order_ref TEXT NOT NULL,
    total_amount INTEGER NOT NULL,
    total_quantity INTEGER NOT NULL,
    total_pv INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, order_ref)
);
