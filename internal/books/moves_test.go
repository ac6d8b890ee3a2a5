package books_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/db"
)

// transfer writes a transfer and the payment the target receives it as, in
// one transaction, as the gateway does.
func (w *world) transfer(from, to string, toResident, cents int64, key string) {
	w.t.Helper()
	tx, err := pool.Begin(ctx)
	require.NoError(w.t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	q := db.New(tx)
	tr, err := q.InsertTransfer(ctx, db.InsertTransferParams{FromLeaseID: from, ToLeaseID: to, Currency: "USD", AmountInCents: cents,
		CreatedBy: "maria", IdempotencyKey: key})
	require.NoError(w.t, err)
	_, err = q.InsertTransferPayment(ctx, db.InsertTransferPaymentParams{LeaseID: to, ResidentID: toResident, AmountInCents: cents,
		TransactionDate: pgtype.Date{Time: time.Now().UTC(), Valid: true}, Reference: key, CreatedBy: "maria",
		TransferID: pgtype.Int8{Int64: tr.TransferID, Valid: true}})
	require.NoError(w.t, err)
	require.NoError(w.t, tx.Commit(ctx))
}

// partialRefund writes a partial refund and its one payout, as the gateway does.
func (w *world) partialRefund(lease string, resident, cents int64, key string) {
	w.t.Helper()
	tx, err := pool.Begin(ctx)
	require.NoError(w.t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	q := db.New(tx)
	pr, err := q.InsertPartialRefund(ctx, db.InsertPartialRefundParams{LeaseID: lease, Currency: "USD", AmountInCents: cents, CreatedBy: "maria", IdempotencyKey: key})
	require.NoError(w.t, err)
	_, err = q.InsertPartialRefundPayout(ctx, db.InsertPartialRefundPayoutParams{LeaseID: lease, ResidentID: resident, AmountInCents: cents,
		RecipientName: "Tenant", RecipientEmail: lease + "@tenants.example", IdempotencyKey: key + "/refund/1",
		PartialRefundID: pgtype.Int8{Int64: pr.PartialRefundID, Valid: true}})
	require.NoError(w.t, err)
	require.NoError(w.t, tx.Commit(ctx))
}

// The liability report ties after a transfer across properties, a transfer
// within one, and a partial refund, before and after both leases settle
// (#16); the money moves between the properties' trust bank accounts only
// when they differ, and a transfer in is never batched as a receipt.
func TestTransfersAndPartialRefundsTie(t *testing.T) {
	a, b := newWorld(t, "moves-a", "NONE"), newWorld(t, "moves-b", "NONE")
	ties := func(prop string, held int64) {
		t.Helper()
		l, err := gw.Liability(ctx, booksAdmin, prop, "")
		require.NoError(t, err)
		require.True(t, l.Ties, "%+v", l)
		require.Equal(t, held, l.TotalHeldCents)
		tb, err := gw.TrialBalance(ctx, booksAdmin, prop, "")
		require.NoError(t, err)
		require.True(t, tb.Balanced, "%+v", tb)
	}
	trust := func(prop string) int64 {
		return count(t, "SELECT COALESCE(sum(debit_cents - credit_cents), 0) FROM journal_lines WHERE property_id = $1 AND account = 'trust_bank'", prop)
	}

	ana := a.lease("LM-1", day("2026-01-01"), 100000)
	bea := b.lease("LM-2", day("2026-01-01"), 30000)
	cy := a.lease("LM-3", day("2026-01-01"), 10000)
	a.pay("LM-1", ana, 100000, "CHK-M1", day("2026-01-02"))
	ties("moves-a", 100000)

	// Across properties: the liability and the trust bank move.
	a.transfer("LM-1", "LM-2", bea, 30000, "transfer/LM-1/T1")
	ties("moves-a", 70000)
	ties("moves-b", 30000)
	require.EqualValues(t, -30000, trust("moves-a"))
	require.EqualValues(t, 30000, trust("moves-b"))
	require.EqualValues(t, 2, count(t, "SELECT count(*) FROM journal_entries WHERE source LIKE 'transfers:%' AND lease_id IN ('LM-1', 'LM-2')"))

	// Within a property: one entry of both leases, the trust bank unchanged.
	a.transfer("LM-1", "LM-3", cy, 10000, "transfer/LM-1/T2")
	ties("moves-a", 70000)
	require.EqualValues(t, -30000, trust("moves-a"))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM journal_entries WHERE event = 'transfer' AND lease_id IS NULL AND property_id = 'moves-a'"))

	// A partial refund: payable from the liability.
	a.partialRefund("LM-1", ana, 5000, "partial-refund/LM-1/P1")
	ties("moves-a", 65000)

	// A transfer in is no receipt to take to the bank.
	var batch *int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT create_deposit_batch('moves-b', 'USD', current_date, 'moves-b/1', 'bo', 'DEP-MB')").Scan(&batch))
	require.Nil(t, batch)

	// The settlements count them as previous refunds/transfers.
	r := a.moveOutAndSettle("LM-1", day("2026-03-01"), day("2026-03-02"))
	require.Len(t, r.RefundIDs, 1)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM settlements WHERE lease_id = 'LM-1' AND earlier_refunds_cents = 45000 AND refund_cents = 55000"))
	b.moveOutAndSettle("LM-2", day("2026-03-01"), day("2026-03-02"))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM settlements WHERE lease_id = 'LM-2' AND received_cents = 30000 AND refund_cents = 30000"))
	ties("moves-a", 10000) // LM-3 still holds its transfer in
	ties("moves-b", 0)
	for _, l := range []string{"LM-1", "LM-2"} {
		require.Zero(t, count(t, "SELECT COALESCE(sum(credit_cents - debit_cents), 0) FROM journal_lines WHERE lease_id = $1 AND account = 'security_deposit_liability'", l))
	}
}

func count(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(ctx, sql, args...).Scan(&n))
	return n
}
