-- name: ClaimEmail :one
-- Records the email under its key, or returns the row an earlier attempt wrote;
-- the caller sends only when sent_at is still null.
INSERT INTO email_outbox (idempotency_key, lease_id, kind, message_id, recipient, subject)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (idempotency_key) DO UPDATE SET attempts = email_outbox.attempts + 1
RETURNING *;

-- name: MarkEmailSent :exec
UPDATE email_outbox SET sent_at = now(), last_error = '' WHERE email_id = $1 AND sent_at IS NULL;

-- name: MarkEmailFailed :exec
UPDATE email_outbox SET last_error = $2 WHERE email_id = $1;
