package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/activities"
)

// requireConserved checks the invariant at any moment:
// received + interest + credits = held + refunded + applied.
func requireConserved(t *testing.T, s State) {
	t.Helper()
	var refunded int64
	if s.Stage == StageClosed {
		refunded = s.RefundCents
	}
	require.Equal(t, s.ReceivedCents+s.InterestCents+s.CreditsCents, s.HeldCents+refunded+s.AppliedCents,
		"received %d + interest %d + credits %d != held %d + refunded %d + applied %d",
		s.ReceivedCents, s.InterestCents, s.CreditsCents, s.HeldCents, refunded, s.AppliedCents)
	if s.Stage == StageClosed {
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
	h.at(time.Hour, SignalAmend, DepositRow{DepositID: 2, Type: DepositCash, AmountCents: -50000})
	h.at(2*time.Hour, SignalAmend, DepositRow{DepositID: 3, Type: DepositGuarantee, AmountCents: 500000, Guarantor: "Bank of America"})
	h.at(3*time.Hour, SignalAmend, DepositRow{DepositID: 4, Type: DepositCash, AmountCents: 25000})
	h.at(4*time.Hour, SignalAmend, DepositRow{DepositID: 5, Type: DepositGuarantee, AmountCents: -100000, Guarantor: "Bank of America"})
	h.checkAt(5*time.Hour, func(s State) {
		require.EqualValues(t, 75000, s.ExpectedCents)
		require.EqualValues(t, 400000, s.GuaranteeCents)
		require.Equal(t, []string{"Bank of America"}, s.Guarantors)
		require.Len(t, s.Deposits, 5)
		require.Equal(t, StageAwaitingPayment, s.Stage)
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
	h.checkAt(2*time.Hour, func(s State) { require.Equal(t, StageHeld, s.Stage) })
	h.at(3*time.Hour, SignalAmend, DepositRow{DepositID: 2, Type: DepositCash, AmountCents: 20000})
	h.checkAt(4*time.Hour, func(s State) {
		require.Equal(t, StageAwaitingPayment, s.Stage)
		require.EqualValues(t, 120000, s.ExpectedCents)
	})
	h.at(5*time.Hour, SignalPayment, pay(2, 20000))
	h.checkAt(6*time.Hour, func(s State) { require.Equal(t, StageHeld, s.Stage) })
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
	h.checkAt(3*time.Hour, func(s State) { require.Equal(t, StageHeld, s.Stage) })
	fee := &Charge{ChargeID: 70, Code: "NSF_FEE", Category: CategoryArrears, AmountCents: 2500, Description: "Returned payment fee"}
	h.at(4*time.Hour, SignalPaymentReturned, PaymentReturned{PaymentID: 2, Reason: "nsf", Fee: fee})
	h.at(4*time.Hour+time.Minute, SignalPaymentReturned, PaymentReturned{PaymentID: 2, Reason: "nsf", Fee: fee}) // delivered twice
	h.checkAt(5*time.Hour, func(s State) {
		require.Equal(t, StageAwaitingPayment, s.Stage)
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
	require.Equal(t, OutcomePartiallyRefunded, s.Outcome)
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
	h.at(3*day, SignalCharge, Charge{ChargeID: 9, Category: CategoryDeduction, AmountCents: 30000, Description: "Cleaning"})
	h.at(3*day+time.Hour, SignalPaymentReturned, PaymentReturned{PaymentID: 1, Reason: "nsf"})
	s := h.run(LeaseInput{})
	require.Zero(t, s.ReceivedCents)
	require.Equal(t, OutcomeBalanceOwed, s.Outcome)
	require.EqualValues(t, 30000, s.BalanceOwedCents)
	requireConserved(t, s)
}

func TestPrepaidCountsAsReceivedAndCreditsAddToTheRefund(t *testing.T) {
	h := newHarness(t, 100000)
	// The cash part is lowered to 600 and 400 was prepaid ahead of time.
	h.at(time.Hour, SignalAmend, DepositRow{DepositID: 2, Type: DepositCash, AmountCents: -40000})
	h.at(time.Hour, SignalAmend, DepositRow{DepositID: 3, Type: DepositPrepaid, AmountCents: 40000})
	h.at(2*time.Hour, SignalPayment, pay(1, 60000))
	h.checkAt(3*time.Hour, func(s State) {
		require.Equal(t, StageHeld, s.Stage)
		require.EqualValues(t, 60000, s.ExpectedCents)
		require.EqualValues(t, 100000, s.ReceivedCents)
	})
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	h.at(3*day, SignalCharge, Charge{ChargeID: 9, Code: "CREDIT", Category: CategoryCredit, AmountCents: 5000, Description: "Goodwill"})
	h.at(3*day, SignalCharge, Charge{ChargeID: 10, Code: "DAMAGE", Category: CategoryDeduction, AmountCents: 20000, Description: "Door"})
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
	h.at(3*day, SignalCharge, Charge{ChargeID: 9, Category: CategoryDeduction, AmountCents: 1, Description: "Key"})
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
	h.checkAt(2*time.Hour, func(s State) {
		p := (&deposit{state: s}).payouts(s.ReceivedCents)
		require.EqualValues(t, []int64{66667, 33334}, []int64{p[0].AmountCents, p[1].AmountCents})
	})
	// The payee changes by amendment: the whole refund goes to the newest payee.
	h.at(3*time.Hour, SignalAmend, DepositRow{DepositID: 2, Type: DepositCash, PayeeEmail: "old@example.com"})
	h.at(4*time.Hour, SignalAmend, DepositRow{DepositID: 3, Type: DepositCash, PayeeEmail: "parent@example.com", PayeeName: "Pat Parent"})
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	s := h.run(LeaseInput{})
	require.Equal(t, []activities.PayoutPlan{{ResidentID: 5, Email: "parent@example.com", Name: "Pat Parent", AmountCents: 100001}}, h.settlement().Payouts)
	require.Equal(t, "parent@example.com", s.PayeeEmail)
	requireConserved(t, s)
}

func TestSettleTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		terms Terms
		want  Settlement
	}{
		{"all back", Terms{ReceivedCents: 150000}, Settlement{RefundCents: 150000, Outcome: OutcomeRefunded}},
		{"interest and credit", Terms{ReceivedCents: 100000, InterestCents: 120, CreditsCents: 500}, Settlement{RefundCents: 100620, Outcome: OutcomeRefunded}},
		{"seed 002 shape", Terms{ReceivedCents: 100000, InterestCents: 100, ArrearsCents: 20000, DeductionsCents: 15000, EarlierRefundsCents: 10000, CreditsCents: 2500},
			Settlement{RefundCents: 57600, Outcome: OutcomePartiallyRefunded}},
		{"kept exactly", Terms{ReceivedCents: 100000, KeptCents: 100000}, Settlement{Outcome: OutcomeKept}},
		{"owes", Terms{ReceivedCents: 100000, DeductionsCents: 130000}, Settlement{BalanceOwedCents: 30000, Outcome: OutcomeBalanceOwed}},
		{"nothing at all", Terms{}, Settlement{Outcome: OutcomeNothingDue}},
		{"arrears, nothing paid", Terms{ArrearsCents: 500}, Settlement{BalanceOwedCents: 500, Outcome: OutcomeBalanceOwed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Settle(tc.terms))
		})
	}
}

func TestSplitCents(t *testing.T) {
	require.Equal(t, []int64{34, 33, 33}, SplitCents(100, []int64{1, 1, 1}))
	require.Equal(t, []int64{67, 33}, SplitCents(100, []int64{2, 1}))
	require.Equal(t, []int64{0, 1, 0}, SplitCents(1, []int64{1, 5, 1}))
	require.Equal(t, []int64{7}, SplitCents(7, []int64{3}))
	require.Equal(t, []int64{5, 0}, SplitCents(5, []int64{0, 0}))
	require.Nil(t, SplitCents(5, nil))
}

// FuzzSettle: the refund maths never panic, never return both a refund and a
// balance, and always satisfy refund − balance = refundable.
func FuzzSettle(f *testing.F) {
	f.Add(int64(150000), int64(0), int64(0), int64(20000), int64(12000), int64(0), int64(0))
	f.Add(int64(0), int64(0), int64(0), int64(1), int64(0), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, received, interest, credits, arrears, deductions, kept, earlier int64) {
		clamp := func(v int64) int64 { // the terms are sums of amounts, each at most money.MaxCents
			if v < 0 {
				v = -v
			}
			return v % 1_000_000_000_000
		}
		tm := Terms{clamp(received), clamp(interest), clamp(credits), clamp(arrears), clamp(deductions), clamp(kept), clamp(earlier)}
		s := Settle(tm)
		if s.RefundCents < 0 || s.BalanceOwedCents < 0 || (s.RefundCents > 0 && s.BalanceOwedCents > 0) {
			t.Fatalf("%+v -> %+v", tm, s)
		}
		if s.RefundCents-s.BalanceOwedCents != tm.Refundable() {
			t.Fatalf("%+v -> %+v does not add up", tm, s)
		}
	})
}

// FuzzSplitCents: the parts always add up to the whole, and each part is
// within a cent of its exact share.
func FuzzSplitCents(f *testing.F) {
	f.Add(int64(100), uint8(3), uint8(1), uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, total int64, n, a, b, c uint8) {
		if total < 0 {
			total = -total
		}
		total %= 1_000_000_000_000
		shares := []int64{int64(a) + 1, int64(b) + 1, int64(c) + 1}[:int(n)%3+1]
		parts := SplitCents(total, shares)
		var sum, weight int64
		for _, s := range shares {
			weight += s
		}
		for i, p := range parts {
			sum += p
			exact := total * shares[i]
			if p*weight > exact+weight || p*weight < exact-weight {
				t.Fatalf("part %d = %d is not within a cent of %d/%d", i, p, exact, weight)
			}
		}
		if sum != total {
			t.Fatalf("SplitCents(%d, %v) = %v adds up to %d", total, shares, parts, sum)
		}
	})
}
