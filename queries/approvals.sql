-- name: DiscretionaryCents :one
-- What people have moved of a lease's deposit since its move-out, in its
-- currency: keeps applied or awaiting approval, and deductions and credits a
-- person (not a PMS, not depositflow) added after the move-out, unless
-- declined. A property's approval threshold applies to this total, so a keep
-- or a charge cannot slip under it by being split into small pieces.
SELECT (
    COALESCE((SELECT sum(k.amount_in_cents) FROM keeps k
              WHERE k.lease_id = l.lease_id AND k.status IN ('applied', 'pending')), 0)
  + COALESCE((SELECT sum(c.amount_in_cents) FROM charges c JOIN charge_codes cc USING (charge_code_id)
              WHERE c.lease_id = l.lease_id AND c.origin = 'user' AND cc.category IN ('deduction', 'credit')
                AND c.approval <> 'declined'
                AND l.realized_move_out_at IS NOT NULL AND c.created_at >= l.realized_move_out_at), 0)
)::bigint AS cents
FROM leases l WHERE l.lease_id = $1;
