-- Reading one lease's ledger (deposits ledger, the refund from the ledger)
-- goes through these.
CREATE INDEX deposits_lease_idx ON deposits (lease_id);
CREATE INDEX refunds_lease_idx ON refunds (lease_id);
CREATE INDEX invoices_lease_idx ON invoices (lease_id);

---- create above / drop below ----
DROP INDEX invoices_lease_idx;
DROP INDEX refunds_lease_idx;
DROP INDEX deposits_lease_idx;
