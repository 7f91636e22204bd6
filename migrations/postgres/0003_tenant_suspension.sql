-- Who suspended a tenant (the tenant of the admin who did), so that only an admin at or above that level may
-- reactivate it; and whether it was closed (a deleted reseller), which no one reactivates.
ALTER TABLE tenants ADD COLUMN suspended_by BIGINT REFERENCES tenants (id);
ALTER TABLE tenants ADD COLUMN closed INTEGER NOT NULL DEFAULT 0;
