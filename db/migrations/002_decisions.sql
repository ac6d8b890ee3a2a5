-- Manager decisions: a per-property approval threshold for keeping money, and
-- the kept amount as its own term of every refund and invoice.
ALTER TABLE properties ADD COLUMN approval_threshold_cents bigint CHECK (approval_threshold_cents > 0);
ALTER TABLE refunds ADD COLUMN kept_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN kept_cents bigint NOT NULL DEFAULT 0;

---- create above / drop below ----
ALTER TABLE invoices DROP COLUMN kept_cents;
ALTER TABLE refunds DROP COLUMN kept_cents;
ALTER TABLE properties DROP COLUMN approval_threshold_cents;
