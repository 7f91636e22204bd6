-- The compensation plan of a business: a sponsor bonus in basis points of the package's amount, and binary pairing:
-- every `pair_pv` points matched on both legs is a pair worth `pair_bonus`, at most `daily_pair_cap` paid pairs per
-- member and day (matched pairs beyond it are flushed), unmatched volume carried forward.
ALTER TABLE mlm_settings ADD COLUMN sponsor_bonus_bp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mlm_settings ADD COLUMN pair_pv INTEGER NOT NULL DEFAULT 100;
ALTER TABLE mlm_settings ADD COLUMN pair_bonus INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mlm_settings ADD COLUMN daily_pair_cap INTEGER NOT NULL DEFAULT 10;

-- The leg volume already matched by pairing runs: what remains of left_pv/right_pv is carried forward.
ALTER TABLE mlm_members ADD COLUMN paired_left_pv INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mlm_members ADD COLUMN paired_right_pv INTEGER NOT NULL DEFAULT 0;

-- One committed run per business and period (a UTC day).
CREATE TABLE mlm_comp_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    period TEXT NOT NULL,
    sponsor_total INTEGER NOT NULL,
    pairing_total INTEGER NOT NULL,
    credits INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, period)
);
