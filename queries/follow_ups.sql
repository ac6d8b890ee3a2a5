-- name: InsertFollowUpRefund :one
-- A refund of a fact that came after the settlement, once per fact.
INSERT INTO refunds (lease_id, resident_id, amount_in_cents, received_cents, arrears_cents, deductions_cents, kept_cents,
                     recipient_name, recipient_email, recipient_address, idempotency_key, follows)
VALUES ($1, $2, $3, 0, 0, 0, 0, $4, $5, $6, $7, $8)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: InsertFollowUpInvoice :one
-- An invoice for a fact that came after the settlement, once per fact.
INSERT INTO invoices (lease_id, resident_id, amount_due_in_cents, received_cents, arrears_cents, deductions_cents, kept_cents,
                      recipient_name, recipient_email, recipient_address, idempotency_key, follows)
VALUES ($1, $2, $3, 0, 0, 0, 0, $4, $5, $6, $7, $8)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: ListFollowUps :many
-- A lease's follow-ups: refunds and invoices of facts that came after its settlement.
SELECT 'refund'::text AS kind, f.follows::text AS follows, f.amount_in_cents, f.recipient_email, f.created_at FROM refunds f
WHERE f.lease_id = sqlc.arg(lease_id) AND f.follows IS NOT NULL AND f.follows NOT LIKE 'dispute:%'
UNION ALL
SELECT 'invoice'::text AS kind, i.follows::text AS follows, i.amount_due_in_cents, i.recipient_email, i.created_at FROM invoices i
WHERE i.lease_id = sqlc.arg(lease_id) AND i.follows IS NOT NULL
ORDER BY created_at;
