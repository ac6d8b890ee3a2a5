package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
)

// requireConserved checks the invariant at any moment:
// received + interest + credits = held + refunded + applied.
func requireConserved(t *testing.T, s deposit.State) {
	t.Helper()
	// Transfers out and partial refunds left before the settlement (#16).
	refunded := s.EarlierRefundsCents
	if s.Stage == deposit.StageClosed {
		refunded += s.RefundCents
	}
	require.Equal(t, s.ReceivedCents+s.InterestCents+s.CreditsCents, s.HeldCents+refunded+s.AppliedCents,
		"received %d + interest %d + credits %d != held %d + refunded %d + applied %d",
		s.ReceivedCents, s.InterestCents, s.CreditsCents, s.HeldCents, refunded, s.AppliedCents)
	if s.Stage == deposit.StageClosed {
		claimed := s.ArrearsCents + s.DeductionsCents + s.KeptCents
		require.Equal(t, claimed, s.AppliedCents+s.BalanceOwedCents, "claimed = applied + invoiced")
		var paid int64
		for _, p := range s.Payouts {
			paid += p.AmountCents
		}
		require.Equal(t, s.RefundCents, paid, "payouts add up to the refund")
	}
}

// The seed's own table (seed 001): cash 1000, −500, 250 and guarantee 5000,
// −1000 give cash 750.00 and guarantee 4000.00.
func TestSeedAmendmentTable(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalAmend, deposit.DepositRow{DepositID: 2, Type: deposit.DepositCash, AmountCents: -50000})
	h.at(2*time.Hour, SignalAmend, deposit.DepositRow{DepositID: 3, Type: deposit.DepositGuarantee, AmountCents: 500000, Guarantor: "Bank of America"})
	h.at(3*time.Hour, SignalAmend, deposit.DepositRow{DepositID: 4, Type: deposit.DepositCash, AmountCents: 25000})
	h.at(4*time.Hour, SignalAmend, deposit.DepositRow{DepositID: 5, Type: deposit.DepositGuarantee, AmountCents: -100000, Guarantor: "Bank of America"})
	h.checkAt(5*time.Hour, func(s deposit.State) {
		require.EqualValues(t, 75000, s.ExpectedCents)
		require.EqualValues(t, 400000, s.GuaranteeCents)
		require.Equal(t, []string{"Bank of America"}, s.Guarantors)
		require.Len(t, s.Deposits, 5)
		require.Equal(t, deposit.StageAwaitingPayment, s.Stage)
	})
	h.at(6*time.Hour, SignalPayment, pay(1, 75000))
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	s := h.run(LeaseInput{})
	// The guarantee is never refunded in cash.
	require.EqualValues(t, 75000, s.RefundCents)
	require.EqualValues(t, 400000, h.settlement().GuaranteeCents)
	requireConserved(t, s)
}

func TestRaisedDepositGoesBackToAwaitingPayment(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.checkAt(2*time.Hour, func(s deposit.State) { require.Equal(t, deposit.StageHeld, s.Stage) })
	h.at(3*time.Hour, SignalAmend, deposit.DepositRow{DepositID: 2, Type: deposit.DepositCash, AmountCents: 20000})
	h.checkAt(4*time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageAwaitingPayment, s.Stage)
		require.EqualValues(t, 120000, s.ExpectedCents)
	})
	h.at(5*time.Hour, SignalPayment, pay(2, 20000))
	h.checkAt(6*time.Hour, func(s deposit.State) { require.Equal(t, deposit.StageHeld, s.Stage) })
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	s := h.run(LeaseInput{})
	require.EqualValues(t, 120000, s.RefundCents)
	// A request for the raise, and a second receipt once it was paid.
	require.Equal(t, []string{"request", "receipt", "request", "receipt", "notice", "refund"}, h.emailKinds())
	require.Equal(t, "deposit-L1/email/request-amend-2", h.emails[2].Key)
	require.Equal(t, "deposit-L1/email/receipt-2", h.emails[3].Key)
	requireConserved(t, s)
}

func TestReturnedPaymentReversesAndChargesTheFee(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 60000))
	h.at(2*time.Hour, SignalPayment, pay(2, 40000))
	h.checkAt(3*time.Hour, func(s deposit.State) { require.Equal(t, deposit.StageHeld, s.Stage) })
	fee := &deposit.Charge{ChargeID: 70, Code: "NSF_FEE", Category: deposit.CategoryArrears, AmountCents: 2500, Description: "Returned payment fee"}
	h.at(4*time.Hour, SignalPaymentReturned, PaymentReturned{PaymentID: 2, Reason: "nsf", Fee: fee})
	h.at(4*time.Hour+time.Minute, SignalPaymentReturned, PaymentReturned{PaymentID: 2, Reason: "nsf", Fee: fee}) // delivered twice
	h.checkAt(5*time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageAwaitingPayment, s.Stage)
		require.EqualValues(t, 60000, s.PaidCents)
		require.EqualValues(t, 2500, s.ArrearsCents)
		require.True(t, s.Payments[1].Returned)
		requireConserved(t, s)
	})
	h.at(6*time.Hour, SignalPayment, pay(3, 40000))
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	s := h.run(LeaseInput{})
	require.EqualValues(t, 100000, s.ReceivedCents)
	require.EqualValues(t, 100000-2500, s.RefundCents)
	require.Equal(t, deposit.OutcomePartiallyRefunded, s.Outcome)
	require.Equal(t, []string{"request", "receipt", "returned", "receipt", "notice", "refund"}, h.emailKinds())
	returned := h.emails[2]
	require.EqualValues(t, 40000, returned.Data.Returned[0].Cents)
	require.EqualValues(t, 40000, returned.Data.OutstandingCents())
	requireConserved(t, s)
}

func TestReturnAfterMoveOutCanLeaveABalance(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	h.at(3*day, SignalCharge, deposit.Charge{ChargeID: 9, Category: deposit.CategoryDeduction, AmountCents: 30000, Description: "Cleaning"})
	h.at(3*day+time.Hour, SignalPaymentReturned, PaymentReturned{PaymentID: 1, Reason: "nsf"})
	s := h.run(LeaseInput{})
	require.Zero(t, s.ReceivedCents)
	require.Equal(t, deposit.OutcomeBalanceOwed, s.Outcome)
	require.EqualValues(t, 30000, s.BalanceOwedCents)
	requireConserved(t, s)
}

func TestPrepaidCountsAsReceivedAndCreditsAddToTheRefund(t *testing.T) {
	h := newHarness(t, 100000)
	// The cash part is lowered to 600 and 400 was prepaid ahead of time.
	h.at(time.Hour, SignalAmend, deposit.DepositRow{DepositID: 2, Type: deposit.DepositCash, AmountCents: -40000})
	h.at(time.Hour, SignalAmend, deposit.DepositRow{DepositID: 3, Type: deposit.DepositPrepaid, AmountCents: 40000})
	h.at(2*time.Hour, SignalPayment, pay(1, 60000))
	h.checkAt(3*time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageHeld, s.Stage)
		require.EqualValues(t, 60000, s.ExpectedCents)
		require.EqualValues(t, 100000, s.ReceivedCents)
	})
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	h.at(3*day, SignalCharge, deposit.Charge{ChargeID: 9, Code: "CREDIT", Category: deposit.CategoryCredit, AmountCents: 5000, Description: "Goodwill"})
	h.at(3*day, SignalCharge, deposit.Charge{ChargeID: 10, Code: "DAMAGE", Category: deposit.CategoryDeduction, AmountCents: 20000, Description: "Door"})
	s := h.run(LeaseInput{})
	require.EqualValues(t, 100000+5000-20000, s.RefundCents)
	st := h.settlement()
	require.EqualValues(t, 5000, st.CreditsCents)
	require.EqualValues(t, 100000, st.ReceivedCents)
	requireConserved(t, s)
}

func TestCoTenantsSplitTheRefundToTheCent(t *testing.T) {
	h := newHarness(t, 100000)
	h.tenants = []activities.Tenant{
		{ResidentID: 5, Email: "ana@example.com", Name: "Ana", Share: 1},
		{ResidentID: 6, Email: "bo@example.com", Name: "Bo", Share: 1},
		{ResidentID: 7, Email: "cy@example.com", Name: "Cy", Share: 1},
	}
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	h.at(3*day, SignalCharge, deposit.Charge{ChargeID: 9, Category: deposit.CategoryDeduction, AmountCents: 1, Description: "Key"})
	s := h.run(LeaseInput{})
	require.EqualValues(t, 99999, s.RefundCents)
	st := h.settlement()
	require.Equal(t, []int64{33333, 33333, 33333}, []int64{st.Payouts[0].AmountCents, st.Payouts[1].AmountCents, st.Payouts[2].AmountCents})
	require.Equal(t, []string{"bo@example.com", "cy@example.com"}, h.emails[0].Cc)
	require.Len(t, h.emails[len(h.emails)-1].Data.Payouts, 3)
	require.EqualValues(t, []int64{41, 42, 43}, []int64{s.Payouts[0].RefundID, s.Payouts[1].RefundID, s.Payouts[2].RefundID})
	requireConserved(t, s)
}

func TestUnequalSharesAndTheNewestPayee(t *testing.T) {
	h := newHarness(t, 100001)
	h.tenants = []activities.Tenant{
		{ResidentID: 5, Email: "ana@example.com", Name: "Ana", Share: 2},
		{ResidentID: 6, Email: "bo@example.com", Name: "Bo", Share: 1},
	}
	h.at(time.Hour, SignalPayment, pay(1, 100001))
	h.checkAt(2*time.Hour, func(s deposit.State) {
		p := (&flow{state: s}).payouts(s.ReceivedCents)
		require.EqualValues(t, []int64{66667, 33334}, []int64{p[0].AmountCents, p[1].AmountCents})
	})
	// The payee changes by amendment: the whole refund goes to the newest payee.
	h.at(3*time.Hour, SignalAmend, deposit.DepositRow{DepositID: 2, Type: deposit.DepositCash, PayeeEmail: "old@example.com"})
	h.at(4*time.Hour, SignalAmend, deposit.DepositRow{DepositID: 3, Type: deposit.DepositCash, PayeeEmail: "parent@example.com", PayeeName: "Pat Parent"})
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	s := h.run(LeaseInput{})
	require.Equal(t, []activities.PayoutPlan{{ResidentID: 5, Email: "parent@example.com", Name: "Pat Parent", AmountCents: 100001}}, h.settlement().Payouts)
	require.Equal(t, "parent@example.com", s.PayeeEmail)
	requireConserved(t, s)
}
