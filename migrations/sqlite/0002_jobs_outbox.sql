-- The job runner and the outbox. Instants are epoch milliseconds, flags INTEGER, JSON as TEXT.

-- One row per registered job: its schedule (NULL: runs only when queued) and the state of its last run.
CREATE TABLE core_jobs (
    name TEXT PRIMARY KEY,
    every_ms INTEGER,
    next_run_at INTEGER,
    lease_owner TEXT,
    lease_until INTEGER,
    last_started_at INTEGER,
    last_finished_at INTEGER,
    last_outcome TEXT,
    last_error TEXT,
    last_duration_ms INTEGER,
    runs INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0
);

-- One-off runs queued at runtime (in the transaction of the change that wants them).
CREATE TABLE core_job_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    payload TEXT NOT NULL,
    run_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX core_job_queue_due ON core_job_queue (status, run_at);

-- Events and emails, written in the transaction of the change that causes them.
CREATE TABLE core_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    tenant_id INTEGER NOT NULL,
    tenant_path TEXT NOT NULL,
    event_type TEXT,
    payload TEXT,
    plugin TEXT,
    template TEXT,
    email_to TEXT,
    subject TEXT,
    body TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    retry_until INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    done_at INTEGER
);
CREATE INDEX core_outbox_due ON core_outbox (status, next_attempt_at);
CREATE INDEX core_outbox_emails ON core_outbox (kind, tenant_path, id);

-- Webhook endpoints of tenants. The secret is stored as is: it signs every delivery.
CREATE TABLE core_webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    tenant_path TEXT NOT NULL,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    description TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX core_webhooks_tenant ON core_webhooks (tenant_path, id);

-- One delivery per (event, endpoint); its id is the stable Tessera-Delivery header.
CREATE TABLE core_webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
    webhook_id INTEGER NOT NULL REFERENCES core_webhooks (id),
    outbox_id INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    retry_until INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    UNIQUE (outbox_id, webhook_id)
);
CREATE INDEX core_webhook_deliveries_due ON core_webhook_deliveries (status, next_attempt_at);
CREATE INDEX core_webhook_deliveries_webhook ON core_webhook_deliveries (webhook_id, id);

-- Every attempt of a delivery: the HTTP status or the error, and how long it took.
CREATE TABLE core_webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES core_webhook_deliveries (id),
    at INTEGER NOT NULL,
    http_status INTEGER,
    error TEXT,
    latency_ms INTEGER NOT NULL
);
CREATE INDEX core_webhook_attempts_delivery ON core_webhook_attempts (delivery_id, id);
