-- A reseller code is unique among the resellers of one parent (an ISP's own, or one reseller's sub-resellers), not
-- across the whole ISP: a sub-reseller choosing a code learns nothing about resellers outside its own subtree.
ALTER TABLE reseller_accounts ADD COLUMN parent_id BIGINT REFERENCES tenants (id);
UPDATE reseller_accounts SET parent_id = (SELECT t.parent_id FROM tenants t WHERE t.id = reseller_accounts.tenant_id);
DROP INDEX reseller_accounts_code;
CREATE UNIQUE INDEX reseller_accounts_code ON reseller_accounts (parent_id, code) WHERE deleted = 0;
