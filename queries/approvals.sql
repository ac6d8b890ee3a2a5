-- name: DiscretionaryCents :one
-- What people have moved of a lease's deposit by hand, in its currency:
-- keeps applied or awaiting approval; deductions and credits a person (not a
-- PMS, not depositflow) added, whenever they added them (a deduction entered
-- the day before the move-out takes as much as one entered the day after);
-- arrears a person added after the move-out; and transfers and partial
-- refunds (people only make them). Declined ones do not count.
-- A property's approval threshold applies to this total, so a keep or a
-- charge cannot slip under it by being split into small pieces, filed under
-- another category or entered before the move-out.
SELECT (
    COALESCE((SELECT sum(k.amount_in_cents) FROM keeps k
              WHERE k.lease_id = l.lease_id AND k.status IN ('applied', 'pending')), 0)
  + COALESCE((SELECT sum(c.amount_in_cents) FROM charges c JOIN charge_codes cc USING (charge_code_id)
              WHERE c.lease_id = l.lease_id AND c.origin = 'user' AND c.approval <> 'declined'
                AND (cc.category IN ('deduction', 'credit')
                     OR (cc.category = 'arrears' AND l.realized_move_out_at IS NOT NULL
                         AND c.created_at >= l.realized_move_out_at))), 0)
  -- Money a person moved out of the deposit before the settlement (#16):
  -- transfers to other leases and partial refunds.
  + COALESCE((SELECT sum(t.amount_in_cents) FROM transfers t WHERE t.from_lease_id = l.lease_id), 0)
  + COALESCE((SELECT sum(r.amount_in_cents) FROM partial_refunds r WHERE r.lease_id = l.lease_id), 0)
)::bigint AS cents
FROM leases l WHERE l.lease_id = $1;

-- name: LockLeaseThreshold :one
-- Locks the lease's row until the transaction ends and reads its property's
-- approval threshold: whoever decides whether a keep or a charge waits for
-- approval holds the lock from reading the lease's total to writing the
-- row, so two at once cannot both pass under the threshold.
SELECT p.approval_threshold_cents
FROM leases l JOIN properties p ON p.property_id = l.property_id
WHERE l.lease_id = $1
FOR UPDATE OF l;

-- name: InsertKeepOnce :one
-- A manager's keep as the lease's workflow applies it (applied) or holds it
-- for approval (pending), once per request: a retry finds the row.
INSERT INTO keeps (lease_id, amount_in_cents, reason, requested_by, request_id, status, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: ListKeeps :many
SELECT * FROM keeps WHERE lease_id = $1 ORDER BY keep_id;

-- name: DecideKeep :one
-- A books_admin's decision on a pending keep (or the statute's lapse). The
-- same decision again (a retry) finds the row; any other finds none.
UPDATE keeps SET status = sqlc.arg(status), decided_by = sqlc.arg(decided_by), decided_at = COALESCE(decided_at, now())
WHERE keep_id = sqlc.arg(keep_id) AND lease_id = sqlc.arg(lease_id)
  AND (status = 'pending' OR (status = sqlc.arg(status) AND decided_by = sqlc.arg(decided_by)))
RETURNING *;

-- name: DecideCharge :one
-- A decision on a charge written pending; as DecideKeep.
UPDATE charges SET approval = sqlc.arg(approval), decided_by = sqlc.arg(decided_by), decided_at = COALESCE(decided_at, now())
WHERE charge_id = sqlc.arg(charge_id) AND lease_id = sqlc.arg(lease_id)
  AND (approval = 'pending' OR (approval = sqlc.arg(approval) AND decided_by = sqlc.arg(decided_by)))
RETURNING *;

-- name: DecideDeposit :one
-- A decision on a deposit row written pending; as DecideKeep.
UPDATE deposits SET approval = sqlc.arg(approval), decided_by = sqlc.arg(decided_by), decided_at = COALESCE(decided_at, now())
WHERE deposit_id = sqlc.arg(deposit_id) AND lease_id = sqlc.arg(lease_id)
  AND (approval = 'pending' OR (approval = sqlc.arg(approval) AND decided_by = sqlc.arg(decided_by)))
RETURNING *;
