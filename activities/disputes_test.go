package activities_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
)

// Against the real PostgreSQL: the settlement holds what the deposit covers
// of a disputed item while refunding the rest; a resolution is paid back
// once (its own refund row, the rest applied), however often it is retried;
// ReadDisputes and the books see each step.
func TestDisputeHeldThenPaidBackOnce(t *testing.T) {
	lease := newLease(t, 0)
	ana := leaseResident(t, lease)
	q := db.New(pool)
	addPayment(t, lease, 100000, "CHK-1", "2026-11-02")
	addCharge(t, lease, "CLEANING", 12000, "Carpet cleaning", "none")
	damage := addCharge(t, lease, "DAMAGE", 8000, "Wall repainting", "none")
	d, err := q.InsertDispute(ctx, db.InsertDisputeParams{LeaseID: lease, ResidentID: ana, Subject: "charge", SubjectID: damage,
		Description: "Deduction: Wall repainting", AmountCents: 8000, TenantMessage: "It was scuffed already"})
	require.NoError(t, err)

	f, err := run[activities.DisputesFact](t, acts.ReadDisputes, activities.FactInput{LeaseID: lease})
	require.NoError(t, err)
	require.Len(t, f.Disputes, 1)
	require.Equal(t, deposit.DisputeOpen, f.Disputes[0].Status)
	require.Equal(t, activities.DefaultDisputeRemindAfter, f.RemindAfter)

	// Paying back an item not yet held or resolved is refused, not retried.
	_, err = run[deposit.Dispute](t, acts.PayDispute, activities.PayDisputeInput{LeaseID: lease, DisputeID: d.DisputeID, Key: "deposit-" + lease + "/dispute-1"})
	require.Error(t, err)

	in := activities.SettleInput{
		LeaseID: lease, Key: "deposit-" + lease + "/settlement", HoldDisputes: true,
		ReceivedCents: 100000, DeductionsCents: 20000, RefundCents: 80000, Outcome: "partially_refunded",
		Payouts: []activities.PayoutPlan{{ResidentID: ana, Email: "ana@example.com", Name: "Ana Lopez", AmountCents: 80000}},
	}
	r1, err := run[activities.SettleResult](t, acts.SettleDeposit, in)
	require.NoError(t, err)
	require.Len(t, r1.Held, 1)
	require.True(t, r1.Held[0].Held)
	require.EqualValues(t, 8000, r1.Held[0].HeldCents)
	r2, err := run[activities.SettleResult](t, acts.SettleDeposit, in)
	require.NoError(t, err)
	require.Equal(t, r1.SettlementID, r2.SettlementID, "a retry finds what the first attempt wrote")
	require.Equal(t, 1, count(t, "SELECT count(*) FROM settlements WHERE lease_id = $1 AND disputed_cents = 8000", lease))
	require.Equal(t, 80000, count(t, "SELECT sum(amount_in_cents) FROM refunds WHERE lease_id = $1", lease))
	// The trust books: the held 80.00 stays in the liability and the
	// disputed charge stays owed (migration 016), not income paid from the deposit.
	balance := func(account string) int {
		return count(t, "SELECT COALESCE(sum(debit_cents - credit_cents), 0) FROM journal_lines WHERE lease_id = $1 AND account = $2", lease, account)
	}
	require.Equal(t, -8000, balance("security_deposit_liability"))
	require.Equal(t, 8000, balance("tenant_receivable"))
	require.Equal(t, -20000, balance("damage_income"))
	require.Equal(t, -80000, balance("refunds_payable"))

	// The manager offers half; the tenant agrees; the half is paid back once.
	_, err = q.AnswerDispute(ctx, db.AnswerDisputeParams{Status: deposit.DisputeOffered, OfferCents: pgtype.Int8{Int64: 4000, Valid: true},
		ManagerMessage: "Half", AnsweredBy: "maria", DisputeID: d.DisputeID, LeaseID: lease})
	require.NoError(t, err)
	_, err = q.AgreeDispute(ctx, db.AgreeDisputeParams{DisputeID: d.DisputeID, LeaseID: lease})
	require.NoError(t, err)
	pay := activities.PayDisputeInput{LeaseID: lease, DisputeID: d.DisputeID, Key: "deposit-" + lease + "/dispute-1"}
	p1, err := run[deposit.Dispute](t, acts.PayDispute, pay)
	require.NoError(t, err)
	p2, err := run[deposit.Dispute](t, acts.PayDispute, pay)
	require.NoError(t, err)
	require.Equal(t, p1, p2, "paid back once")
	require.EqualValues(t, 4000, p1.RefundCents)
	require.EqualValues(t, 4000, p1.AppliedCents)
	require.NotZero(t, p1.RefundID)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1 AND follows = $2 AND amount_in_cents = 4000", lease, deposit.DisputeKey(d.DisputeID)))
	require.Equal(t, 84000, count(t, "SELECT sum(amount_in_cents) FROM refunds WHERE lease_id = $1", lease))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'dispute.settle'", lease))

	// Resolved: nothing held, nothing owed, half the disputed charge income,
	// half payable to the tenant; every entry balanced.
	require.Zero(t, balance("security_deposit_liability"))
	require.Zero(t, balance("tenant_receivable"))
	require.Equal(t, -16000, balance("damage_income"))
	require.Equal(t, -84000, balance("refunds_payable"))
	require.Zero(t, count(t, "SELECT count(*) FROM (SELECT entry_id FROM journal_lines GROUP BY entry_id HAVING sum(debit_cents) <> sum(credit_cents)) x"))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM journal_entries WHERE lease_id = $1 AND event = 'dispute_held'", lease))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM journal_entries WHERE lease_id = $1 AND event = 'dispute_resolved'", lease))

	b, err := activities.ReadBooks(ctx, q, lease)
	require.NoError(t, err)
	require.Zero(t, deposit.DisputedHeld(b.Disputes))
	require.Len(t, b.Data("refund").Disputes, 1)
}
