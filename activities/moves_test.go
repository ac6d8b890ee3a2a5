package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
)

// A lease's workflow reads a transfer or a partial refund by its ID, scoped
// to its own lease (#16): the source sees it as money out, the target as
// the payment it received, any other lease finds nothing; the books fold
// them into the refund maths, and the partial refund's email names it.
func TestReadTransfersAndPartialRefunds(t *testing.T) {
	ctx := context.Background()
	q := db.New(pool)
	src, dst, other := newLease(t, 100000), newLease(t, 30000), newLease(t, 10000)
	_, err := q.InsertPayment(ctx, db.InsertPaymentParams{LeaseID: src, ResidentID: leaseResident(t, src), AmountInCents: 100000,
		TransactionDate: pgtype.Date{Time: time.Now().UTC(), Valid: true}, Reference: "CHK-R1"})
	require.NoError(t, err)
	tr, err := q.InsertTransfer(ctx, db.InsertTransferParams{FromLeaseID: src, ToLeaseID: dst, Currency: "USD", AmountInCents: 30000,
		CreatedBy: "maria", IdempotencyKey: "transfer/" + src + "/T1"})
	require.NoError(t, err)
	p, err := q.InsertTransferPayment(ctx, db.InsertTransferPaymentParams{LeaseID: dst, ResidentID: leaseResident(t, dst), AmountInCents: 30000,
		TransactionDate: pgtype.Date{Time: time.Now().UTC(), Valid: true}, Reference: "transfer-1", CreatedBy: "maria",
		TransferID: pgtype.Int8{Int64: tr.TransferID, Valid: true}})
	require.NoError(t, err)
	pr, err := q.InsertPartialRefund(ctx, db.InsertPartialRefundParams{LeaseID: src, Currency: "USD", AmountInCents: 5000, Reason: "Key deposit",
		CreatedBy: "maria", IdempotencyKey: "partial-refund/" + src + "/P1"})
	require.NoError(t, err)
	_, err = q.InsertPartialRefundPayout(ctx, db.InsertPartialRefundPayoutParams{LeaseID: src, ResidentID: leaseResident(t, src), AmountInCents: 5000,
		RecipientName: "Ana Lopez", RecipientEmail: "ana@example.com", IdempotencyKey: "partial-refund/" + src + "/P1/refund/1",
		PartialRefundID: pgtype.Int8{Int64: pr.PartialRefundID, Valid: true}})
	require.NoError(t, err)

	out, err := run[activities.TransferFact](t, acts.ReadTransfer, activities.FactInput{LeaseID: src, ID: tr.TransferID})
	require.NoError(t, err)
	require.True(t, out.Found && out.Out)
	require.Equal(t, deposit.EarlierRefund{Kind: deposit.EarlierTransfer, ID: tr.TransferID, AmountCents: 30000, ToLease: dst, By: "maria", At: out.Row.At}, out.Row.EarlierRefund)
	in, err := run[activities.TransferFact](t, acts.ReadTransfer, activities.FactInput{LeaseID: dst, ID: tr.TransferID})
	require.NoError(t, err)
	require.True(t, in.Found)
	require.False(t, in.Out)
	require.Equal(t, p.PaymentID, in.PaymentID)
	none, err := run[activities.TransferFact](t, acts.ReadTransfer, activities.FactInput{LeaseID: other, ID: tr.TransferID})
	require.NoError(t, err)
	require.False(t, none.Found)

	paid, err := run[activities.PaymentFact](t, acts.ReadPayment, activities.FactInput{LeaseID: dst, ID: p.PaymentID})
	require.NoError(t, err)
	require.Equal(t, src, paid.Payment.TransferFrom)

	prf, err := run[activities.PartialRefundFact](t, acts.ReadPartialRefund, activities.FactInput{LeaseID: src, ID: pr.PartialRefundID})
	require.NoError(t, err)
	require.True(t, prf.Found)
	require.Len(t, prf.Row.Payouts, 1)
	require.EqualValues(t, 5000, prf.Row.Payouts[0].AmountCents)
	nopr, err := run[activities.PartialRefundFact](t, acts.ReadPartialRefund, activities.FactInput{LeaseID: dst, ID: pr.PartialRefundID})
	require.NoError(t, err)
	require.False(t, nopr.Found)

	// The books: 1,000.00 received, 350.00 left early, 650.00 refundable and held.
	b, err := activities.ReadBooks(ctx, q, src)
	require.NoError(t, err)
	s := b.State()
	require.EqualValues(t, 35000, s.EarlierRefundsCents)
	require.EqualValues(t, 65000, s.Terms().Refundable())
	require.EqualValues(t, 65000, s.HeldCents)
	data := b.Data(templates.KindNotice)
	require.Len(t, data.EarlierRefunds, 2)
	require.Contains(t, data.EarlierRefunds[0].Description, "Transferred to lease "+dst)
	env, err := b.Envelope(activities.EmailInput{Kind: templates.KindPartialRefund, LeaseID: src, PartialRefundID: pr.PartialRefundID})
	require.NoError(t, err)
	require.EqualValues(t, 5000, env.Data.PartialRefund.Cents)
	require.EqualValues(t, 65000, env.Data.PartialRefund.LeftCents)
	_, err = b.Envelope(activities.EmailInput{Kind: templates.KindPartialRefund, LeaseID: src, PartialRefundID: pr.PartialRefundID + 999})
	require.Error(t, err)
	r, err := templates.Render(templates.KindPartialRefund, env.Data)
	require.NoError(t, err)
	require.Equal(t, "Part of your security deposit refunded: $50.00", r.Subject)
}
