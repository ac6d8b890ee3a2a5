-- name: UpsertPropertyDetails :one
-- A property posted by a PMS: name and manager email are set when given.
INSERT INTO properties (property_id, name, manager_email)
VALUES (sqlc.arg(property_id), COALESCE(sqlc.narg(name), ''), COALESCE(sqlc.narg(manager_email), ''))
ON CONFLICT (property_id) DO UPDATE
    SET name = COALESCE(sqlc.narg(name), properties.name),
        manager_email = COALESCE(sqlc.narg(manager_email), properties.manager_email)
RETURNING *;

-- name: GetUnit :one
SELECT * FROM units WHERE property_id = $1 AND unit_id = $2;

-- name: UpsertExternalResident :one
-- A resident known by the PMS's ID within a property.
INSERT INTO residents (property_id, external_id, email, name, forwarding_address)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (property_id, external_id) WHERE external_id IS NOT NULL DO UPDATE
    SET email = EXCLUDED.email, name = EXCLUDED.name,
        forwarding_address = EXCLUDED.forwarding_address, updated_at = now()
    -- The same details again change nothing (and return no row).
    WHERE (residents.email, residents.name, residents.forwarding_address)
          IS DISTINCT FROM (EXCLUDED.email, EXCLUDED.name, EXCLUDED.forwarding_address)
RETURNING *;

-- name: GetExternalResident :one
SELECT * FROM residents WHERE property_id = $1 AND external_id = $2;

-- name: GetLeaseResidentByExternal :one
-- A resident of a lease, by the PMS's resident ID.
SELECT residents.*
FROM lease_residents JOIN residents USING (resident_id)
WHERE lease_residents.lease_id = $1 AND residents.external_id = $2;

-- name: CreateAPIKey :one
INSERT INTO api_keys (name, key_hash, key_prefix, properties, created_by)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: GetAPIKeyByHash :one
SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL;

-- name: TouchAPIKey :exec
UPDATE api_keys SET last_used_at = now()
WHERE api_key_id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: ListAPIKeys :many
SELECT * FROM api_keys ORDER BY name;

-- name: RevokeAPIKey :one
UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
RETURNING *;

-- name: ListLeaseRefunds :many
-- What the PMS pays out: refund payouts to residents.
SELECT * FROM refunds WHERE lease_id = $1 ORDER BY refund_id;

-- name: ResidentLeasesHoldingMoney :many
-- The leases not yet closed that hold money a resident (by the PMS's ID)
-- would be refunded: where a payment toward the deposit was recorded.
SELECT DISTINCT l.lease_id
FROM residents r
JOIN lease_residents lr ON lr.resident_id = r.resident_id
JOIN leases l ON l.lease_id = lr.lease_id
WHERE r.property_id = $1 AND r.external_id = $2 AND l.closed_at IS NULL
  AND EXISTS (SELECT 1 FROM payments p WHERE p.lease_id = l.lease_id)
ORDER BY l.lease_id;
