-- Money moved before the settlement and open invoices (#16, migration 017).

-- name: InsertTransfer :one
INSERT INTO transfers (from_lease_id, to_lease_id, currency, amount_in_cents, reason, created_by, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: GetTransferByKey :one
SELECT * FROM transfers WHERE idempotency_key = $1;

-- name: GetLeaseTransfer :one
-- A transfer out of or into this lease: an ID of other leases finds nothing.
SELECT * FROM transfers WHERE transfer_id = $1 AND (from_lease_id = sqlc.arg(lease_id) OR to_lease_id = sqlc.arg(lease_id));

-- name: ListTransfersOut :many
SELECT * FROM transfers WHERE from_lease_id = $1 ORDER BY transfer_id;

-- name: InsertTransferPayment :one
-- The transfer as the target lease receives it: a payment toward its
-- deposit, written with the transfer.
INSERT INTO payments (lease_id, resident_id, amount_in_cents, transaction_date, reference, created_by, transfer_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: GetTransferPayment :one
SELECT * FROM payments WHERE transfer_id = $1;

-- name: InsertPartialRefund :one
INSERT INTO partial_refunds (lease_id, currency, amount_in_cents, reason, created_by, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: GetPartialRefundByKey :one
SELECT * FROM partial_refunds WHERE idempotency_key = $1;

-- name: GetLeasePartialRefund :one
SELECT * FROM partial_refunds WHERE partial_refund_id = $1 AND lease_id = $2;

-- name: ListPartialRefunds :many
SELECT * FROM partial_refunds WHERE lease_id = $1 ORDER BY partial_refund_id;

-- name: InsertPartialRefundPayout :one
-- One payee's part of a partial refund: a refund row outside the
-- settlement, payable like the settlement's.
INSERT INTO refunds (lease_id, resident_id, amount_in_cents, received_cents, arrears_cents, deductions_cents, kept_cents,
                     recipient_name, recipient_email, recipient_address, idempotency_key, partial_refund_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING *;

-- name: ListPartialRefundPayouts :many
SELECT * FROM refunds WHERE partial_refund_id = $1 ORDER BY refund_id;

-- name: InsertOpenInvoice :one
INSERT INTO open_invoices (lease_id, currency, reference, amount_in_cents, description, created_by)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: GetOpenInvoice :one
-- An open invoice of the lease with what the deposit paid of it so far
-- (charges applied or awaiting approval).
SELECT o.*, COALESCE((SELECT sum(c.amount_in_cents) FROM charges c WHERE c.open_invoice_id = o.open_invoice_id AND c.approval <> 'declined'), 0)::bigint AS applied_cents
FROM open_invoices o WHERE o.lease_id = $1 AND o.reference = $2;

-- name: ListOpenInvoices :many
SELECT o.*, COALESCE((SELECT sum(c.amount_in_cents) FROM charges c WHERE c.open_invoice_id = o.open_invoice_id AND c.approval <> 'declined'), 0)::bigint AS applied_cents
FROM open_invoices o WHERE o.lease_id = $1 ORDER BY o.open_invoice_id;

-- name: InsertInvoiceCharge :one
-- The deposit applied to an open invoice: an arrears charge (code INVOICE)
-- naming the invoice.
INSERT INTO charges (lease_id, resident_id, charge_code_id, amount_in_cents, description, idempotency_key,
                     created_by, origin, approval, open_invoice_id)
VALUES ($1, $2, 'INVOICE', $3, $4, $5, $6, $7, $8, $9)
RETURNING *;
