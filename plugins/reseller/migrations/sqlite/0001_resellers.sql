-- A reseller or franchisee: a core tenant (kind reseller) under its ISP, plus these columns.
CREATE TABLE reseller_accounts (
    tenant_id INTEGER PRIMARY KEY REFERENCES tenants (id),
    isp_id INTEGER NOT NULL REFERENCES tenants (id),
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    code TEXT NOT NULL,
    invoice_by TEXT NOT NULL,
    payment_by TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    mobile TEXT NOT NULL,
    email TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '',
    commission_bp INTEGER NOT NULL DEFAULT 0,
    credit_limit INTEGER NOT NULL DEFAULT 0,
    balance INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX reseller_accounts_code ON reseller_accounts (isp_id, code) WHERE deleted = 0;
CREATE INDEX reseller_accounts_isp ON reseller_accounts (isp_id, tenant_id);

-- The wallet ledger: one row per balance change, written in the same transaction as the change.
CREATE TABLE reseller_ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    isp_id INTEGER NOT NULL REFERENCES tenants (id),
    txn_code TEXT NOT NULL,
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    service_id TEXT,
    txn_key TEXT,
    created_at INTEGER NOT NULL,
    created_by INTEGER NOT NULL
);
CREATE INDEX reseller_ledger_tenant ON reseller_ledger (tenant_id, id);
CREATE INDEX reseller_ledger_isp ON reseller_ledger (isp_id, id);
CREATE UNIQUE INDEX reseller_ledger_txn_key ON reseller_ledger (tenant_id, txn_key);
