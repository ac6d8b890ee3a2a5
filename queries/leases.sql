-- name: UpsertProperty :exec
INSERT INTO properties (property_id) VALUES ($1)
ON CONFLICT (property_id) DO NOTHING;

-- name: UpsertUnit :exec
INSERT INTO units (property_id, unit_id) VALUES ($1, $2)
ON CONFLICT (property_id, unit_id) DO NOTHING;

-- name: UpsertListing :one
INSERT INTO listings (listing_id, property_id, unit_id, deposit_amount_in_cents)
VALUES ($1, $2, $3, $4)
ON CONFLICT (listing_id) DO UPDATE
    SET deposit_amount_in_cents = EXCLUDED.deposit_amount_in_cents,
        updated_at = now()
    WHERE listings.property_id = EXCLUDED.property_id AND listings.unit_id = EXCLUDED.unit_id
RETURNING *;

-- name: GetListing :one
SELECT * FROM listings WHERE listing_id = $1;

-- name: CreateResident :one
INSERT INTO residents (email, name) VALUES ($1, $2)
RETURNING *;

-- name: CreateLease :one
INSERT INTO leases (lease_id, property_id, unit_id, listing_id, resident_id,
                    requested_cents, assess_for_seconds, release_after_seconds)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *;

-- name: GetLease :one
-- A lease with its tenant: what the workflow needs to address the tenant.
SELECT sqlc.embed(leases), sqlc.embed(residents)
FROM leases JOIN residents USING (resident_id)
WHERE leases.lease_id = $1;

-- name: SetLeaseStage :exec
-- Written by the workflow at each stage change; setting a value is idempotent.
UPDATE leases
SET stage = $2, outcome = $3, moved_out_at = $4, release_at = $5, closed_at = $6, updated_at = now()
WHERE lease_id = $1;

-- name: SetRealizedMoveOut :execrows
-- The lease's own move-out, once: a resident's other leases are not touched.
UPDATE leases SET realized_move_out_at = $2, updated_at = now()
WHERE lease_id = $1 AND realized_move_out_at IS NULL;

-- name: GetProperty :one
SELECT * FROM properties WHERE property_id = $1;

-- name: SetPropertyPolicy :one
-- Sets what was given and keeps the rest: NULL leaves a column as it is.
UPDATE properties
SET manager_email = COALESCE(sqlc.narg(manager_email), manager_email),
    nsf_fee_cents = COALESCE(sqlc.narg(nsf_fee_cents), nsf_fee_cents),
    approval_threshold_cents = CASE WHEN sqlc.arg(clear_threshold)::boolean THEN NULL
                                    ELSE COALESCE(sqlc.narg(approval_threshold_cents), approval_threshold_cents) END
WHERE property_id = sqlc.arg(property_id)
RETURNING *;

-- name: AddLeaseResident :exec
INSERT INTO lease_residents (lease_id, resident_id, position, share) VALUES ($1, $2, $3, $4);

-- name: ListLeaseResidents :many
SELECT residents.*, lease_residents.share, lease_residents.position
FROM lease_residents JOIN residents USING (resident_id)
WHERE lease_residents.lease_id = $1
ORDER BY lease_residents.position;

-- name: GetResident :one
SELECT * FROM residents WHERE resident_id = $1;

-- name: SetLeaseView :exec
-- Written by the workflow (book-of-record version) whenever what only it
-- knows changes: the stage and dates, and what the emails show from the
-- lease's row (migration 010). Setting values is idempotent.
UPDATE leases
SET stage = sqlc.arg(stage), outcome = sqlc.arg(outcome), moved_out_at = sqlc.narg(moved_out_at),
    release_at = sqlc.narg(release_at), closed_at = sqlc.narg(closed_at),
    on_hold = sqlc.arg(on_hold), assess_until = sqlc.narg(assess_until),
    rule_label = sqlc.arg(rule_label), clock_started = sqlc.arg(clock_started), clock_why = sqlc.arg(clock_why),
    statement_due = sqlc.narg(statement_due), statutory_deadline = sqlc.narg(statutory_deadline),
    objection_ends = sqlc.narg(objection_ends),
    interest_cents = sqlc.arg(interest_cents), interest_why = sqlc.arg(interest_why),
    forfeited = sqlc.arg(forfeited), deadline_missed = sqlc.arg(deadline_missed),
    statement_sent_at = sqlc.narg(statement_sent_at), books_disagree = sqlc.arg(books_disagree),
    updated_at = now()
WHERE lease_id = sqlc.arg(lease_id);
