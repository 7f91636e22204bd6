-- Usernames chosen by members (static) or generated at registration (dynamic): the prefix and six digits.
ALTER TABLE mlm_settings ADD COLUMN username_type TEXT NOT NULL DEFAULT 'static';
ALTER TABLE mlm_settings ADD COLUMN username_prefix TEXT NOT NULL DEFAULT 'm';
