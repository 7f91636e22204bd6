CREATE TABLE hello_greetings (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX hello_greetings_by_name ON hello_greetings (tenant_id, name);
