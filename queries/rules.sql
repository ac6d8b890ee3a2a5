-- name: ListJurisdictionRules :many
-- The operator's rules; the embedded ones are in the binary.
SELECT * FROM jurisdiction_rules ORDER BY code, effective_from;

-- name: PutJurisdictionRule :one
INSERT INTO jurisdiction_rules (code, effective_from, rule, updated_by)
VALUES ($1, $2, $3, $4)
ON CONFLICT (code, effective_from) DO UPDATE
    SET rule = EXCLUDED.rule, updated_by = EXCLUDED.updated_by, updated_at = now()
RETURNING *;

-- name: DeleteJurisdictionRule :execrows
DELETE FROM jurisdiction_rules WHERE code = $1 AND effective_from = $2;

-- name: SetPropertyJurisdiction :one
-- Sets what was given and keeps the rest: NULL leaves a column as it is.
UPDATE properties
SET jurisdiction = COALESCE(sqlc.narg(jurisdiction), jurisdiction),
    building_units = COALESCE(sqlc.narg(building_units), building_units)
WHERE property_id = sqlc.arg(property_id)
RETURNING *;

-- name: SetLeaseJurisdiction :exec
-- Written by `lease start`: the property's jurisdiction unless overridden.
UPDATE leases SET jurisdiction = $2, starts_on = $3 WHERE lease_id = $1;

-- name: SetForwardingAddress :one
-- The first written forwarding address starts the clock where a statute
-- waits for one; a corrected address keeps the time the first arrived.
UPDATE leases
SET forwarding_address = $2,
    forwarding_address_at = COALESCE(forwarding_address_at, $3),
    updated_at = now()
WHERE lease_id = $1
RETURNING forwarding_address, forwarding_address_at;

-- name: GetLeaseLaw :one
-- What the workflow needs to apply its jurisdiction's rule: with the
-- lease's currency and the time zone where its statute counts days.
SELECT leases.jurisdiction, leases.starts_on, properties.building_units, leases.currency, leases.time_zone
FROM leases JOIN properties USING (property_id)
WHERE leases.lease_id = $1;

-- name: SetLeaseDeadlines :exec
-- Mirrored by the workflow whenever its clock moves, for compliance reports.
UPDATE leases
SET statement_due = $2, statutory_deadline = $3, deadline_note = $4, updated_at = now()
WHERE lease_id = $1;

-- name: ListCompliance :many
-- Open leases with their clock, the nearest deadline first (none last).
SELECT lease_id, property_id, unit_id, jurisdiction, stage, moved_out_at, release_at,
       forwarding_address_at, statement_due, statutory_deadline, deadline_note
FROM leases
WHERE stage <> 'closed'
  AND (sqlc.narg(property_id)::text IS NULL OR property_id = sqlc.narg(property_id))
ORDER BY statutory_deadline NULLS LAST, lease_id;
