-- name: InsertAudit :exec
INSERT INTO audit_log (actor, role, lease_id, action, request, accepted, result)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: ListAudit :many
SELECT * FROM audit_log WHERE lease_id = $1 ORDER BY at, audit_id;


-- name: CountAudit :one
SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = $2;
