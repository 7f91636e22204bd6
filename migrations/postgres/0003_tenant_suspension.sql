-- Who suspended a tenant (the tenant of the admin who did), so that only an admin at or above that level may
-- reactivate it; and whether it was closed (a deleted reseller), which no one reactivates.
ALTER TABLE tenants ADD COLUMN suspended_by BIGINT REFERENCES tenants (id);
ALTER TABLE tenants ADD COLUMN closed INTEGER NOT NULL DEFAULT 0;
-- Suspensions made before this was recorded are the platform's to undo.
UPDATE tenants SET suspended_by = (SELECT root.id FROM tenants root WHERE root.parent_id IS NULL) WHERE status = 'suspended';
