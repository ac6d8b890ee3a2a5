-- Card holds (019): the hold on the tenant's card, what it captured, and
-- refunds sent back to a card.

-- name: GetLeaseCardTerms :one
-- How a lease's deposit is taken: its card (if any), its property's method
-- and renewal interval, and the lease's currency.
SELECT l.lease_id, l.card_payment_method, p.deposit_method, p.card_hold_renew_seconds, l.currency
FROM leases l JOIN properties p USING (property_id)
WHERE l.lease_id = $1;

-- name: SetLeaseCardPaymentMethod :exec
UPDATE leases SET card_payment_method = $2 WHERE lease_id = $1;

-- name: SetPropertyCardHolds :one
-- Sets what was given and keeps the rest: NULL leaves a column as it is.
UPDATE properties
SET deposit_method = COALESCE(sqlc.narg(deposit_method), deposit_method),
    card_hold_renew_seconds = COALESCE(sqlc.narg(card_hold_renew_seconds), card_hold_renew_seconds)
WHERE property_id = sqlc.arg(property_id)
RETURNING *;

-- name: InsertCardHold :one
-- Once per step: the same key finds the row written before.
INSERT INTO card_holds (lease_id, seq, payment_intent_id, payment_method, amount_cents, currency, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: GetCardHold :one
SELECT * FROM card_holds WHERE payment_intent_id = $1;

-- name: ListCardHolds :many
SELECT * FROM card_holds WHERE lease_id = $1 ORDER BY seq, card_hold_id;

-- name: EndCardHold :one
-- The hold was cancelled or captured; an ended hold stays as it ended.
UPDATE card_holds
SET status = sqlc.arg(status), captured_cents = sqlc.arg(captured_cents), ended_at = now()
WHERE payment_intent_id = sqlc.arg(payment_intent_id) AND status = 'active'
RETURNING *;

-- name: InsertCardPayment :one
-- What a hold captured is a payment by card; its reference is the
-- PaymentIntent, unique per lease, so a retry finds the same row.
INSERT INTO payments (lease_id, resident_id, amount_in_cents, transaction_date, reference, created_by,
                      method, provider_payment_intent, provider_charge)
VALUES ($1, $2, $3, $4, $5, $6, 'card', $7, $8)
ON CONFLICT (lease_id, reference) DO UPDATE SET reference = EXCLUDED.reference
RETURNING *;

-- name: ListCardPayments :many
-- A lease's card payments that still count, oldest first.
SELECT * FROM payments
WHERE lease_id = $1 AND method = 'card' AND returned_at IS NULL
ORDER BY payment_id;

-- name: InsertCardRefund :one
INSERT INTO card_refunds (lease_id, payment_id, refund_id, provider_refund_id, amount_cents, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: ListCardRefunds :many
SELECT * FROM card_refunds WHERE lease_id = $1 ORDER BY card_refund_id;

-- name: SetPaymentByCard :one
-- A payment the tenant made by card through the provider (a PMS says so):
-- its refund goes back to the card.
UPDATE payments SET method = 'card', provider_payment_intent = $3
WHERE lease_id = $1 AND payment_id = $2
RETURNING *;
