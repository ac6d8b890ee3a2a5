-- Card holds (#16 item 5, seed 004 "Security Deposit Hold"): a property may
-- take its deposits as an authorization hold on the tenant's card instead
-- of a payment. A hold is not money received: nothing here is in the trust
-- books. What is captured at the release becomes a payment (method card,
-- with the provider's IDs), which the journal posts like any payment; what
-- is kept stays the keeps and deductions it already was.

ALTER TABLE properties
    ADD COLUMN deposit_method text NOT NULL DEFAULT 'payment' CHECK (deposit_method IN ('payment', 'card_hold')),
    -- How often a hold is placed again before the card network lets it lapse.
    ADD COLUMN card_hold_renew_seconds bigint NOT NULL DEFAULT 604800 CHECK (card_hold_renew_seconds > 0);

-- The card the hold is placed on: the provider's payment method ID, given
-- when the lease starts (the CLI, the API or a PMS).
ALTER TABLE leases ADD COLUMN card_payment_method text CHECK (card_payment_method <> '');

-- How a payment came: by hand (a cheque, a transfer, as before) or by card,
-- through the provider, whose IDs it keeps so a refund goes back to it.
ALTER TABLE payments
    ADD COLUMN method text NOT NULL DEFAULT 'manual' CHECK (method IN ('manual', 'card')),
    ADD COLUMN provider_payment_intent text,
    ADD COLUMN provider_charge text,
    ADD CONSTRAINT payments_card_check CHECK (method <> 'card' OR provider_payment_intent IS NOT NULL);

-- Every hold placed for a lease, one row per PaymentIntent. seq counts the
-- renewals (1: the first hold); the lease's current hold is its active row
-- with the highest seq. A row is written when the provider placed the hold,
-- under the step's idempotency key, so a retried activity finds it.
CREATE TABLE card_holds (
    card_hold_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id          text NOT NULL REFERENCES leases (lease_id),
    seq               integer NOT NULL CHECK (seq > 0),
    payment_intent_id text NOT NULL UNIQUE CHECK (payment_intent_id <> ''),
    payment_method    text NOT NULL,
    amount_cents      bigint NOT NULL CHECK (amount_cents > 0),
    currency          text NOT NULL,
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'canceled', 'captured')),
    captured_cents    bigint NOT NULL DEFAULT 0 CHECK (captured_cents >= 0 AND captured_cents <= amount_cents),
    idempotency_key   text NOT NULL UNIQUE,
    placed_at         timestamptz NOT NULL DEFAULT now(),
    ended_at          timestamptz
);
CREATE INDEX card_holds_lease_idx ON card_holds (lease_id, seq);

-- Refunds sent back to a card through the provider, one per refund row and
-- card payment.
CREATE TABLE card_refunds (
    card_refund_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id           text NOT NULL REFERENCES leases (lease_id),
    payment_id         bigint NOT NULL REFERENCES payments (payment_id),
    refund_id          bigint REFERENCES refunds (refund_id),
    provider_refund_id text NOT NULL UNIQUE,
    amount_cents       bigint NOT NULL CHECK (amount_cents > 0),
    idempotency_key    text NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX card_refunds_lease_idx ON card_refunds (lease_id);

---- create above / drop below ----

DROP TABLE card_refunds;
DROP TABLE card_holds;
ALTER TABLE payments DROP CONSTRAINT payments_card_check, DROP COLUMN provider_charge, DROP COLUMN provider_payment_intent, DROP COLUMN method;
ALTER TABLE leases DROP COLUMN card_payment_method;
ALTER TABLE properties DROP COLUMN card_hold_renew_seconds, DROP COLUMN deposit_method;
