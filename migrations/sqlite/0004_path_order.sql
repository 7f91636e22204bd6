-- Subtree filters are ranges of paths (`path >= $1 AND path < $2`), which need bytewise order: SQLite's default
-- (BINARY) already is, and the indexes on tenants.path and audit_log.tenant_path serve the ranges as they are.
SELECT 1;
