-- Reconcile sees a forwarding address however it was written (the CLI, the
-- API, plain SQL): it can start a statutory clock (US-TX), so a lost signal
-- must be found.
CREATE TRIGGER leases_forwarding_change AFTER UPDATE OF forwarding_address, forwarding_address_at ON leases
    FOR EACH ROW WHEN (NEW.forwarding_address IS DISTINCT FROM OLD.forwarding_address
                       OR NEW.forwarding_address_at IS DISTINCT FROM OLD.forwarding_address_at)
    EXECUTE FUNCTION log_lease_change();

---- create above / drop below ----
DROP TRIGGER leases_forwarding_change ON leases;
