-- Payout requests: the amount leaves the e-wallet when requested (held), and comes back if the request is rejected.
CREATE TABLE mlm_payouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    decided_at INTEGER,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mlm_payouts_by_status ON mlm_payouts (tenant_id, status, id);
CREATE INDEX mlm_payouts_by_member ON mlm_payouts (member_id, id);
