-- A tenant's dispute and the manager's answer are facts of the lease: like
-- every other fact they note the lease in lease_changes, in their own
-- transaction, so the reconcile pass wakes a workflow whose signal was lost.
CREATE TRIGGER disputes_change AFTER INSERT OR UPDATE OF status, offer_cents ON disputes
    FOR EACH ROW EXECUTE FUNCTION log_lease_change();
