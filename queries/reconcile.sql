-- name: ReconcileHorizon :one
-- Every transaction with an ID below this one has ended: the change-log rows
-- below it are final, committed or gone.
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon;

-- name: GetReconcileWatermark :one
SELECT COALESCE((SELECT txid FROM reconcile_watermark WHERE name = $1), 0)::bigint AS txid;

-- name: SetReconcileWatermark :exec
INSERT INTO reconcile_watermark (name, txid) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET txid = GREATEST(reconcile_watermark.txid, EXCLUDED.txid), updated_at = now();

-- name: ChangedLeases :many
-- The leases with facts written in [from, to): a closed one too, whose late
-- payments and charges become follow-ups.
SELECT DISTINCT c.lease_id
FROM lease_changes c JOIN leases l USING (lease_id)
WHERE c.txid >= sqlc.arg(from_txid) AND c.txid < sqlc.arg(to_txid)
ORDER BY c.lease_id;

-- name: CountChanges :one
SELECT count(*) FROM lease_changes WHERE txid >= sqlc.arg(from_txid) AND txid < sqlc.arg(to_txid);

-- name: OpenLeases :many
-- Every lease not closed: a full pass (deposits reconcile --full).
SELECT lease_id FROM leases WHERE stage <> 'closed' ORDER BY lease_id;

-- name: PruneChanges :exec
DELETE FROM lease_changes WHERE txid < $1;

-- name: LeaseFacts :one
-- A lease as reconcile compares it: its terms, its forwarding address and its
-- own move-out; its currency and time zone for the summary of a workflow it starts.
SELECT l.lease_id, l.property_id, l.unit_id, l.listing_id, l.requested_cents, l.assess_for_seconds,
       l.release_after_seconds, l.stage, l.jurisdiction, l.forwarding_address, l.forwarding_address_at,
       r.email, l.realized_move_out_at, l.currency, l.time_zone
FROM leases l JOIN residents r USING (resident_id)
WHERE l.lease_id = $1;

-- name: ListAmendments :many
SELECT * FROM deposits WHERE lease_id = $1 AND source = 'amendment' ORDER BY deposit_id;
