-- name: SetUserEmail :one
UPDATE users SET email = $2 WHERE name = $1 AND revoked_at IS NULL
RETURNING *;

-- name: PropertyManagers :many
-- The people alerted about a property's leases: not revoked, the manager
-- role, the property (or every property) in their scope, and an email.
SELECT * FROM users
WHERE revoked_at IS NULL AND email <> '' AND 'manager' = ANY (roles)
  AND (sqlc.arg(property_id)::text = ANY (properties) OR '*' = ANY (properties))
ORDER BY name;

-- name: GetPropertyReminderDays :one
SELECT reminder_days FROM properties WHERE property_id = $1;

-- name: SetPropertyReminderDays :exec
UPDATE properties SET reminder_days = sqlc.narg(reminder_days)::integer[] WHERE property_id = sqlc.arg(property_id);

-- name: UseManagerLink :one
-- Claims a one-click link's single use; no row: it was used before.
INSERT INTO manager_link_uses (token_hash, lease_id, user_name, action)
VALUES ($1, $2, $3, $4)
ON CONFLICT (token_hash) DO NOTHING
RETURNING *;

-- name: GetManagerLinkUse :one
SELECT * FROM manager_link_uses WHERE token_hash = $1;

-- name: FinishManagerLinkUse :exec
UPDATE manager_link_uses SET result = $2 WHERE token_hash = $1;

-- name: ForgetManagerLinkUse :exec
-- The decision could not reach the lease: the link may be tried again.
DELETE FROM manager_link_uses WHERE token_hash = $1;

-- name: InsertDecisionMessage :exec
INSERT INTO decision_messages (audit_id, lease_id, message) VALUES ($1, $2, $3)
ON CONFLICT (audit_id) DO NOTHING;

-- name: LatestDecisionMessage :one
-- The newest message to the tenant of a decision the lease's workflow took
-- (claimed its request) and did not refuse.
SELECT m.message, a.action, a.actor, m.created_at
FROM decision_messages m JOIN audit_log a USING (audit_id)
WHERE m.lease_id = $1 AND a.claimed_at IS NOT NULL AND a.accepted IS DISTINCT FROM false
ORDER BY m.audit_id DESC
LIMIT 1;

-- name: LeasesAwaitingApproval :many
-- Leases of some properties (or all, '*') with an item that waits for a
-- books_admin: a keep, a charge or a deposit row written pending.
SELECT l.lease_id, l.property_id
FROM leases l
WHERE (sqlc.arg(all_properties)::boolean OR l.property_id = ANY (sqlc.arg(properties)::text[]))
  AND l.stage <> 'closed'
  AND (EXISTS (SELECT 1 FROM keeps k WHERE k.lease_id = l.lease_id AND k.status = 'pending')
    OR EXISTS (SELECT 1 FROM charges c WHERE c.lease_id = l.lease_id AND c.approval = 'pending')
    OR EXISTS (SELECT 1 FROM deposits d WHERE d.lease_id = l.lease_id AND d.approval = 'pending'))
ORDER BY l.property_id, l.lease_id;
