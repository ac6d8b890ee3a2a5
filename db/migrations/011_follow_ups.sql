-- A fact that reaches a lease after its deposit was settled, which the PMS
-- had already booked (reconcile finds it in the database), is never applied
-- to the settlement: it becomes a follow-up the manager sees, emailed to the
-- tenant and in the books. A late payment or credit is refunded, a late
-- charge invoiced. follows names the fact ("payment:12", "charge:34"), once
-- per lease; settlement rows leave it NULL.
ALTER TABLE refunds ADD COLUMN follows text;
ALTER TABLE invoices ADD COLUMN follows text;
CREATE UNIQUE INDEX refunds_follows_idx ON refunds (lease_id, follows) WHERE follows IS NOT NULL;
CREATE UNIQUE INDEX invoices_follows_idx ON invoices (lease_id, follows) WHERE follows IS NOT NULL;

---- create above / drop below ----
DROP INDEX invoices_follows_idx;
DROP INDEX refunds_follows_idx;
ALTER TABLE invoices DROP COLUMN follows;
ALTER TABLE refunds DROP COLUMN follows;
