-- An email that carries a secret (a password-reset link): its text is sent, never shown in the admin API.
ALTER TABLE core_outbox ADD COLUMN secret BIGINT NOT NULL DEFAULT 0;
