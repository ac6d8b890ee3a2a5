-- name: InsertCharge :one
-- A charge recorded by a person (user), a PMS (integration) or a pass of
-- depositflow's (system), under its key: entering it again finds this row.
-- approval is 'pending' when it waits for a books_admin, 'none' otherwise.
INSERT INTO charges (lease_id, resident_id, charge_code_id, amount_in_cents, description, idempotency_key,
                     created_by, origin, approval)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: InsertAmendmentRow :one
-- A deposit amendment under its key; approval 'pending' when a books_admin
-- must approve it (a payee change, money changed after a payment).
INSERT INTO deposits (lease_id, deposit_type, amount_in_cents, source, guarantor, payee_email, payee_name,
                      created_by, idempotency_key, approval)
VALUES ($1, $2, $3, 'amendment', $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: GetDepositByKey :one
SELECT * FROM deposits WHERE idempotency_key = $1;

-- name: DepositTotals :one
-- The deposit by type as its rows stand, counting the rows that apply
-- (never a pending or declined one).
SELECT
    COALESCE(sum(amount_in_cents) FILTER (WHERE deposit_type = 'cash'), 0)::bigint AS cash_cents,
    COALESCE(sum(amount_in_cents) FILTER (WHERE deposit_type = 'prepaid'), 0)::bigint AS prepaid_cents,
    COALESCE(sum(amount_in_cents) FILTER (WHERE deposit_type = 'guarantee'), 0)::bigint AS guarantee_cents
FROM deposits WHERE lease_id = $1 AND approval IN ('none', 'approved');

-- name: CountLeaseFacts :one
-- How many facts a lease holds: a bound keeps one lease's workflow far from
-- Temporal's history and payload limits.
SELECT ((SELECT count(*) FROM payments p WHERE p.lease_id = $1)
      + (SELECT count(*) FROM charges c WHERE c.lease_id = $1)
      + (SELECT count(*) FROM deposits d WHERE d.lease_id = $1))::bigint AS facts;

-- name: CountPayments :one
SELECT count(*) FROM payments WHERE lease_id = $1;

-- name: SetLeaseTerms :exec
-- Written by lease start: the lease's jurisdiction (the property's unless
-- overridden), its first day, and the currency and time zone of its property,
-- which it keeps for good.
UPDATE leases l SET jurisdiction = $2, starts_on = $3, currency = p.currency, time_zone = p.time_zone
FROM properties p WHERE p.property_id = l.property_id AND l.lease_id = $1;

-- name: SetPropertyLocale :one
-- The currency and time zone of a property's new leases: NULL keeps one.
UPDATE properties
SET currency = COALESCE(sqlc.narg(currency), currency),
    time_zone = COALESCE(sqlc.narg(time_zone), time_zone)
WHERE property_id = sqlc.arg(property_id)
RETURNING *;

-- name: InsertPropertyChange :one
INSERT INTO property_changes (property_id, threshold_cents, requested_by) VALUES ($1, $2, $3)
RETURNING *;

-- name: GetPendingPropertyChange :one
SELECT * FROM property_changes WHERE property_id = $1 AND status = 'pending';

-- name: DecidePropertyChange :one
UPDATE property_changes SET status = $2, decided_by = $3, decided_at = now()
WHERE change_id = $1 AND status = 'pending'
RETURNING *;

-- name: SetPropertyThreshold :one
UPDATE properties SET approval_threshold_cents = $2 WHERE property_id = $1
RETURNING *;
