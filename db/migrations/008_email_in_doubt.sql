-- SMTP has no idempotency: when an attempt dies after the server may have
-- accepted a message (the worker killed before it recorded the reply, the
-- connection lost while waiting for it), the retry must send again rather than
-- risk a tenant never getting a statutory notice. attempt_open marks an attempt
-- whose outcome is not recorded yet; attempts_in_doubt counts the retries that
-- followed such an attempt, so every redelivered copy is accounted for.
ALTER TABLE email_outbox
    ADD COLUMN attempt_open      boolean NOT NULL DEFAULT false,
    ADD COLUMN attempts_in_doubt integer NOT NULL DEFAULT 0;

---- create above / drop below ----
ALTER TABLE email_outbox DROP COLUMN attempt_open, DROP COLUMN attempts_in_doubt;
