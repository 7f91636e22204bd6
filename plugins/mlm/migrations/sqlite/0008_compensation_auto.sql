-- 1: the hourly job runs each ended UTC day's compensation on its own; 0: only an admin's run pays (after a preview).
ALTER TABLE mlm_settings ADD COLUMN compensation_auto INTEGER NOT NULL DEFAULT 1;
