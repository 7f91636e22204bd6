-- The client's own x-request-id, kept beside the server's (which alone is trusted for correlation).
ALTER TABLE audit_log ADD COLUMN client_request_id TEXT;
