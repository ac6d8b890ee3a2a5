-- name: InsertAudit :one
-- One action, accepted or refused, or (accepted NULL) a decision still under
-- way, with the authenticated caller, its roles and address, and what it asked.
INSERT INTO audit_log (actor, role, lease_id, action, request, accepted, result, principal, origin, request_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, sqlc.narg(request_key))
RETURNING *;

-- name: FinishAudit :exec
-- The outcome of a decision that was under way.
UPDATE audit_log SET accepted = $2, result = $3 WHERE audit_id = $1;

-- name: GetAuditByRequestKey :one
-- A request the same caller made before under the same idempotency key.
SELECT * FROM audit_log WHERE principal = $1 AND request_key = $2;

-- name: ClaimDecisionRequest :one
-- The lease's workflow takes a decision's audit row as the proof of who asked
-- for what, once: a row of another lease or action, or one already decided,
-- is no proof.
UPDATE audit_log SET claimed_at = COALESCE(claimed_at, now())
WHERE audit_id = $1 AND lease_id = $2 AND action = $3 AND accepted IS NULL
RETURNING *;

-- name: ListAudit :many
SELECT * FROM audit_log WHERE lease_id = $1 ORDER BY at, audit_id;

-- name: CountAudit :one
SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = $2;

-- name: GetAudit :one
SELECT * FROM audit_log WHERE audit_id = $1;
