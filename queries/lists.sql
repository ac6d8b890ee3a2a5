-- name: ListLeasesPage :many
-- A page of leases (GET /v1/leases) by lease_id, after the last key of the
-- page before (keyset pagination: a lease that exists is listed once however
-- many are written while a client pages), of the caller's properties only
-- (all_properties, or property_id in properties). stage and release_at are
-- what the lease's workflow mirrors into its row at every change.
SELECT lease_id, property_id, unit_id, stage, outcome, currency, jurisdiction,
       moved_out_at, release_at, closed_at, created_at
FROM leases
WHERE lease_id > sqlc.arg(after_lease_id)::text
  AND (sqlc.arg(all_properties)::boolean OR property_id = ANY (sqlc.arg(properties)::text[]))
  AND (sqlc.narg(stage)::text IS NULL OR stage = sqlc.narg(stage)::text)
  AND (sqlc.narg(property_id)::text IS NULL OR property_id = sqlc.narg(property_id)::text)
  AND (sqlc.narg(due_before)::timestamptz IS NULL OR release_at < sqlc.narg(due_before)::timestamptz)
ORDER BY lease_id
LIMIT sqlc.arg(page_size);

-- name: ListInvoicesPage :many
-- A page of the refunds to pay and balances to collect across the caller's
-- leases (GET /v1/invoices), oldest first, by (created_at, kind, id) after
-- the last key of the page before; open_only keeps the refunds still payable
-- and the balances still open.
SELECT m.kind::text AS kind, m.id, m.lease_id, l.property_id, m.amount_cents, m.currency, m.status,
       m.recipient_name, m.recipient_email, m.recipient_address, m.created_at
FROM (
    SELECT 'refund' AS kind, refund_id AS id, lease_id, amount_in_cents AS amount_cents, currency, status,
           recipient_name, recipient_email, recipient_address, created_at
    FROM refunds
    UNION ALL
    SELECT 'balance_owed', invoice_id, lease_id, amount_due_in_cents, currency, status,
           recipient_name, recipient_email, recipient_address, created_at
    FROM invoices
) m
JOIN leases l ON l.lease_id = m.lease_id
WHERE (m.created_at, m.kind, m.id) > (sqlc.arg(after_created_at)::timestamptz, sqlc.arg(after_kind)::text, sqlc.arg(after_id)::bigint)
  AND (sqlc.arg(all_properties)::boolean OR l.property_id = ANY (sqlc.arg(properties)::text[]))
  AND (sqlc.narg(property_id)::text IS NULL OR l.property_id = sqlc.narg(property_id)::text)
  AND (NOT sqlc.arg(open_only)::boolean OR m.status IN ('payable', 'open'))
ORDER BY m.created_at, m.kind, m.id
LIMIT sqlc.arg(page_size);
