-- A member's cart: one row per cart package, with its quantity.
CREATE TABLE mlm_cart (
    tenant_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    package_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, package_id)
);

-- A member's shipping addresses; at most one is the default.
CREATE TABLE mlm_addresses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    zip_code TEXT NOT NULL,
    city TEXT NOT NULL,
    phone TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX mlm_addresses_by_member ON mlm_addresses (member_id, id);

-- A checkout's order keeps where it goes and how it was paid.
ALTER TABLE mlm_orders ADD COLUMN address_id INTEGER;
ALTER TABLE mlm_orders ADD COLUMN paid_by TEXT NOT NULL DEFAULT 'shop';
