-- A client's balance moves only with a row here, in the same transaction, so the ledger always sums to the balance.
-- Rows outlive a removed client (its history). `idempotency_key` (a caller's, optional) makes a retried move answer the first one instead of moving twice.
CREATE TABLE billing_balance_ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    client_id INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    kind TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT,
    invoice_id INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX billing_balance_ledger_client ON billing_balance_ledger (tenant_id, client_id, id);
CREATE UNIQUE INDEX billing_balance_ledger_key ON billing_balance_ledger (tenant_id, client_id, idempotency_key);
