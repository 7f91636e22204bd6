-- Subtree filters are ranges of paths (`path >= $1 AND path < $2`), which need bytewise order: with the database's
-- own collation, punctuation may be ignored and `/1/4/9/` sort after `/1/40`. The indexes are rebuilt with it.
ALTER TABLE tenants ALTER COLUMN path TYPE TEXT COLLATE "C";
DROP INDEX audit_log_path;
ALTER TABLE audit_log ALTER COLUMN tenant_path TYPE TEXT COLLATE "C";
CREATE INDEX audit_log_path ON audit_log (tenant_path, id);
