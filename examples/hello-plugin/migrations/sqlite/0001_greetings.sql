CREATE TABLE hello_greetings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX hello_greetings_by_name ON hello_greetings (tenant_id, name);
