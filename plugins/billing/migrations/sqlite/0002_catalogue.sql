-- The catalogue: categories, products and addons (one table: an addon is a product of kind `addon`, without a
-- category), and promo codes. Prices in minor units of the product's currency; `period` is how often it is billed.
CREATE TABLE billing_product_categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER
);
CREATE UNIQUE INDEX billing_product_categories_title ON billing_product_categories (tenant_id, title);

CREATE TABLE billing_products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    category_id INTEGER REFERENCES billing_product_categories (id),
    title TEXT NOT NULL,
    product_type TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    currency TEXT NOT NULL,
    price INTEGER NOT NULL DEFAULT 0,
    setup_price INTEGER NOT NULL DEFAULT 0,
    period TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER
);
CREATE UNIQUE INDEX billing_products_title ON billing_products (tenant_id, kind, title);
CREATE INDEX billing_products_category ON billing_products (category_id);

-- `used` counts redemptions; a redemption is one guarded UPDATE (`used < max_uses`), so concurrent orders cannot
-- use a code beyond its limit.
CREATE TABLE billing_promocodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    code TEXT NOT NULL,
    promo_type TEXT NOT NULL,
    value INTEGER NOT NULL,
    max_uses INTEGER NOT NULL DEFAULT 0,
    used INTEGER NOT NULL DEFAULT 0,
    starts_at INTEGER,
    ends_at INTEGER,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER
);
CREATE UNIQUE INDEX billing_promocodes_code ON billing_promocodes (tenant_id, code);
