package deposit

import (
	"testing"

	"github.com/stretchr/testify/require"
)

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
		tm := Terms{ReceivedCents: clamp(received), InterestCents: clamp(interest), CreditsCents: clamp(credits), ArrearsCents: clamp(arrears), DeductionsCents: clamp(deductions), KeptCents: clamp(kept), EarlierRefundsCents: clamp(earlier)}
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

func TestComputeRefund(t *testing.T) {
	for _, tc := range []struct {
		received, arrears, deductions int64
		want                          Settlement
	}{
		{150000, 0, 0, Settlement{RefundCents: 150000, Outcome: OutcomeRefunded}},
		{150000, 20000, 12000, Settlement{RefundCents: 118000, Outcome: OutcomePartiallyRefunded}},
		{100000, 0, 100000, Settlement{Outcome: OutcomeKept}},
		{100000, 50000, 80000, Settlement{BalanceOwedCents: 30000, Outcome: OutcomeBalanceOwed}},
		{0, 0, 0, Settlement{Outcome: OutcomeNothingDue}},
		{0, 5000, 0, Settlement{BalanceOwedCents: 5000, Outcome: OutcomeBalanceOwed}},
		{1, 0, 0, Settlement{RefundCents: 1, Outcome: OutcomeRefunded}},
	} {
		got := ComputeRefund(tc.received, tc.arrears, tc.deductions)
		require.Equal(t, tc.want, got, "%+v", tc)
		require.Equal(t, tc.received, got.RefundCents-got.BalanceOwedCents+tc.arrears+tc.deductions, "conservation")
	}
}

// TestSeed002Figure is seed 002's refundable formula against figures worked
// by hand: received 1,000.00; arrears 200.00; deductibles 150.00; previous
// refunds/transfers 100.00 (a transfer of 60.00 to another lease and a
// partial refund of 40.00) gives 1,000.00 − (200.00 + 150.00 + 100.00) = 550.00.
func TestSeed002Figure(t *testing.T) {
	terms := Terms{ReceivedCents: 100000, ArrearsCents: 20000, DeductionsCents: 15000, EarlierRefundsCents: 10000}
	require.Equal(t, int64(55000), terms.Refundable())
	require.Equal(t, Settlement{RefundCents: 55000, Outcome: OutcomePartiallyRefunded}, Settle(terms))

	// The same figure folded from the facts, as the workflow and the books do.
	var s State
	s.AddPayment(Payment{PaymentID: 1, AmountCents: 100000})
	s.AddCharge(Charge{ChargeID: 1, Category: CategoryArrears, AmountCents: 20000})
	s.AddCharge(Charge{ChargeID: 2, Category: CategoryDeduction, AmountCents: 15000})
	s.AddEarlierRefund(EarlierRefund{Kind: EarlierTransfer, ID: 1, AmountCents: 6000, ToLease: "L-2"})
	s.AddEarlierRefund(EarlierRefund{Kind: EarlierPartialRefund, ID: 1, AmountCents: 4000})
	require.Equal(t, terms, s.Terms())
	require.Equal(t, int64(55000), Settle(s.Terms()).RefundCents)
	// Conservation before the settlement: what left early is no longer held.
	require.Equal(t, int64(100000-10000), s.HeldCents)

	// Cleared and folded again: nothing counted twice.
	s.ClearFacts()
	require.Zero(t, s.EarlierRefundsCents)
	require.Empty(t, s.EarlierRefunds)
}
