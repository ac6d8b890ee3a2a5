-- name: ClaimEmail :one
-- Records the email under its key, or returns the row an earlier attempt wrote;
-- the caller sends only when sent_at is still null. A retry that follows an
-- attempt whose outcome was never recorded counts as in doubt: that attempt
-- may have been accepted by the mail server. The row keeps the message as
-- this first attempt rendered it (recipient, subject, bodies): a retry sends
-- the row's, never a newer rendering.
INSERT INTO email_outbox (idempotency_key, lease_id, kind, message_id, recipient, subject, attempt_open,
                          recipient_name, cc, body_text, body_html)
VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8, $9, $10)
ON CONFLICT (idempotency_key) DO UPDATE SET
    attempts = email_outbox.attempts + 1,
    attempts_in_doubt = email_outbox.attempts_in_doubt
        + CASE WHEN email_outbox.attempt_open AND email_outbox.sent_at IS NULL THEN 1 ELSE 0 END,
    attempt_open = email_outbox.sent_at IS NULL
RETURNING *;

-- name: MarkEmailSent :exec
UPDATE email_outbox SET sent_at = now(), last_error = '', attempt_open = false
WHERE email_id = $1 AND sent_at IS NULL;

-- name: MarkEmailFailed :exec
-- in_doubt keeps the attempt open when the failure came after the whole
-- message was written, while waiting for the server's answer.
UPDATE email_outbox SET last_error = $2, attempt_open = sqlc.arg(in_doubt)::boolean WHERE email_id = $1;

-- name: ListLeaseEmails :many
SELECT * FROM email_outbox WHERE lease_id = $1 ORDER BY email_id;
