-- The tenant's side (migration 014): evidence, disputes, the statement's acceptance.

-- name: InsertEvidence :one
-- The same file on the same subject is one row: entering it again finds it.
INSERT INTO evidence (lease_id, subject, subject_id, side, sha256, content_type, size_bytes, filename, uploaded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (lease_id, subject, subject_id, sha256) DO UPDATE SET sha256 = EXCLUDED.sha256
RETURNING *;

-- name: ListEvidence :many
SELECT * FROM evidence WHERE lease_id = $1 ORDER BY evidence_id;

-- name: GetEvidence :one
-- A file of this lease: an ID of another lease finds nothing.
SELECT * FROM evidence WHERE evidence_id = $1 AND lease_id = $2;

-- name: LockLease :one
-- The lease's row, locked until the transaction ends: a dispute and the
-- settlement that holds its money are written one after the other.
SELECT lease_id, statement_sent_at FROM leases WHERE lease_id = $1 FOR UPDATE;

-- name: InsertDispute :one
INSERT INTO disputes (lease_id, resident_id, subject, subject_id, description, amount_cents, tenant_message)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: GetDispute :one
-- A dispute of this lease.
SELECT * FROM disputes WHERE dispute_id = $1 AND lease_id = $2;

-- name: GetDisputeBySubject :one
SELECT * FROM disputes WHERE lease_id = $1 AND subject = $2 AND subject_id = $3;

-- name: ListDisputes :many
SELECT * FROM disputes WHERE lease_id = $1 ORDER BY dispute_id;

-- name: AnswerDispute :one
-- The manager's answer to an item still open or offered (not resolved).
UPDATE disputes
SET status = sqlc.arg(status), offer_cents = sqlc.narg(offer_cents), manager_message = sqlc.arg(manager_message),
    answered_by = sqlc.arg(answered_by), answered_at = now()
WHERE dispute_id = sqlc.arg(dispute_id) AND lease_id = sqlc.arg(lease_id) AND status IN ('open', 'offered')
RETURNING *;

-- name: AgreeDispute :one
-- The tenant accepts the manager's offer on an item.
UPDATE disputes SET status = 'agreed', agreed_at = now()
WHERE dispute_id = $1 AND lease_id = $2 AND status = 'offered'
RETURNING *;

-- name: HoldDispute :one
-- The settlement holds what the deposit still covers of an item.
UPDATE disputes SET held_cents = $3, held = true
WHERE dispute_id = $1 AND lease_id = $2 AND NOT held
RETURNING *;

-- name: SettleDispute :one
-- A resolved item, paid back (refund_cents) and applied (the rest), once.
UPDATE disputes SET refund_cents = $3, applied_cents = $4, settled_at = now()
WHERE dispute_id = $1 AND lease_id = $2 AND held AND settled_at IS NULL
  AND status IN ('conceded', 'maintained', 'agreed')
RETURNING *;

-- name: SetDisputedCents :exec
UPDATE settlements SET disputed_cents = $2 WHERE settlement_id = $1;

-- name: AcceptStatement :one
-- The tenant accepts the itemized statement; the first acceptance stands.
UPDATE leases SET statement_accepted_at = COALESCE(statement_accepted_at, now()),
    statement_accepted_by = CASE WHEN statement_accepted_at IS NULL THEN $2 ELSE statement_accepted_by END
WHERE lease_id = $1
RETURNING statement_accepted_at, statement_accepted_by;

-- name: InsertDisputeRefund :one
-- What a resolution pays back, once per disputed item.
INSERT INTO refunds (lease_id, resident_id, amount_in_cents, received_cents, arrears_cents, deductions_cents, kept_cents,
                     recipient_name, recipient_email, recipient_address, idempotency_key, follows)
VALUES ($1, $2, $3, 0, 0, 0, 0, $4, $5, $6, $7, $8)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: LeaseIsResident :one
-- Whether a resident is a tenant of a lease (its first or a co-tenant).
SELECT EXISTS (SELECT 1 FROM leases l WHERE l.lease_id = sqlc.arg(lease_id)::text AND l.resident_id = sqlc.arg(resident_id)::bigint)
    OR EXISTS (SELECT 1 FROM lease_residents r WHERE r.lease_id = sqlc.arg(lease_id)::text AND r.resident_id = sqlc.arg(resident_id)::bigint);

-- name: TouchLease :exec
-- A dispute changes the lease's row too: a settlement whose snapshot came
-- before it fails (repeatable read) and is retried, holding the dispute.
UPDATE leases SET updated_at = now() WHERE lease_id = $1;
