package books_test

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/books"
	"github.com/depositflow/depositflow/internal/gateway"
)

// A property's two years, simulated on explicit dates through the real
// posting path (the rows the gateway and the activities write, each in its
// own transaction, posted by the journal's triggers): hundreds of leases
// with payments (some in two parts), NSF returns with their fee and the
// payment made again, weekly deposit batches, interest credited at the
// anniversaries (US-MA pays it yearly), deductions, keeps, settlements
// with refunds or a balance owed, and refunds paid. At every month end the
// trial balance balances, and the liability report ties: the deposits
// held from the records equal the Security Deposit Liability balance, and
// both equal what this test's own model of the leases says is held.
// (depositflow records no transfer of a deposit between leases: there is
// none to simulate.)
func TestPropertySimulationTiesEveryMonthEnd(t *testing.T) {
	leases := 300
	if v := os.Getenv("BOOKS_SIM_LEASES"); v != "" {
		leases, _ = strconv.Atoi(v)
	}
	w := newWorld(t, "sim", "US-MA")
	begin, end := day("2024-01-01"), day("2025-12-31")

	type event struct {
		on  time.Time
		seq int
		do  func()
	}
	var events []event
	add := func(on time.Time, do func()) {
		events = append(events, event{on: on, seq: len(events), do: do})
	}
	held := map[string]int64{}   // the test's model: what each lease holds
	settled := map[string]bool{} // settled leases hold nothing
	var balanceOwed int64
	var counts struct{ payments, returns, batches, interest, settlements, refundsPaid, keeps, deductions int }
	var interestCents int64
	resident := map[string]int64{}

	for i := 0; i < leases; i++ {
		id := fmt.Sprintf("S-%03d", i)
		start := begin.AddDate(0, 0, (i*7)%300)
		dep := int64(100000 + (i%8)*12500)
		add(start, func() { resident[id] = w.lease(id, start, dep) })
		pay := func(on time.Time, cents int64, ref string) {
			add(on, func() {
				w.pay(id, resident[id], cents, ref, on)
				held[id] += cents
				counts.payments++
			})
		}
		first := start.AddDate(0, 0, 1+i%5)
		if i%5 == 0 {
			pay(first, dep/2, id+"-P1")
			pay(first.AddDate(0, 0, 10), dep-dep/2, id+"-P2")
		} else {
			pay(first, dep, id+"-P1")
		}
		if i%13 == 0 {
			paid := dep
			if i%5 == 0 {
				paid = dep / 2
			}
			add(first.AddDate(0, 0, 4), func() {
				w.returnPayment(id, resident[id], id+"-P1")
				held[id] -= paid
				counts.returns++
			})
			pay(first.AddDate(0, 0, 9), paid, id+"-R1")
		}
		if i%3 == 2 {
			continue // still living there at the end
		}
		out := start.AddDate(1, (i%6)*2, 0)
		settleAt := out.AddDate(0, 0, 7)
		if settleAt.After(end.AddDate(0, 0, -12)) {
			continue
		}
		if i%4 == 0 {
			add(out, func() { w.charge(id, resident[id], "CLEANING", 15000); counts.deductions++ })
		}
		if i%17 == 0 {
			add(out, func() { w.charge(id, resident[id], "DAMAGE", dep+30000); counts.deductions++ })
		}
		if i%6 == 1 {
			add(out, func() { w.keep(id, 5000); counts.keeps++ })
		}
		add(settleAt, func() {
			r := w.moveOutAndSettle(id, out, settleAt)
			held[id], settled[id] = 0, true
			counts.settlements++
			if i%17 == 0 {
				require.NotZero(t, r.InvoiceID, "lease %s owes a balance", id)
			}
			if i%10 != 7 {
				for _, refund := range r.RefundIDs {
					paidOn := settleAt.AddDate(0, 0, 10).Format(time.DateOnly)
					add(settleAt.AddDate(0, 0, 10), func() {
						_, err := gw.MarkRefundPaid(ctx, booksAdmin, gateway.RefundPaidIn{RefundID: refund, PaidOn: paidOn, Reference: fmt.Sprintf("CHK-%d", refund)})
						require.NoError(t, err)
						counts.refundsPaid++
					})
				}
			}
		})
	}
	// The deposit batches, every Friday, and the interest pass with them.
	for d := day("2024-01-05"); !d.After(end); d = d.AddDate(0, 0, 7) {
		add(d, func() {
			out, err := gw.DepositBatch(ctx, booksAdmin, gateway.BatchIn{PropertyID: "sim", Date: d.Format(time.DateOnly)})
			require.NoError(t, err)
			counts.batches += len(out.Batches)
			for _, due := range run[[]activities.InterestDue](w, acts.ListInterestDue, activities.InterestDueInput{AsOf: d}) {
				c := run[activities.InterestCredited](w, acts.CreditYearlyInterest, due)
				if c.Again || c.Settled {
					continue
				}
				held[c.LeaseID] += c.Cents
				interestCents += c.Cents
				counts.interest++
			}
		})
	}

	monthEnd := func(m time.Time) {
		tb, err := gw.TrialBalance(ctx, booksAdmin, "sim", "")
		require.NoError(t, err)
		require.True(t, tb.Balanced, "%s: the trial balance does not balance: %+v", m.Format("2006-01"), tb)
		require.Equal(t, tb.TotalDebitCents, tb.TotalCreditCents, m.Format("2006-01"))
		l, err := gw.Liability(ctx, booksAdmin, "sim", "")
		require.NoError(t, err)
		require.True(t, l.Ties, "%s: the liability report does not tie: %+v", m.Format("2006-01"), l.Differences)
		var model, sum int64
		for _, h := range held {
			model += h
		}
		for _, x := range l.Leases {
			sum += x.HeldCents
		}
		require.Equal(t, model, l.TotalHeldCents, "%s: held by the test's model", m.Format("2006-01"))
		require.Equal(t, sum, l.TotalHeldCents, m.Format("2006-01"))
		require.Equal(t, l.TotalHeldCents, l.LiabilityBalanceCents, m.Format("2006-01"))
		require.Equal(t, l.TotalHeldCents, -balance(tb, books.SecurityDepositLiability), "%s: the liability account", m.Format("2006-01"))
	}

	sort.SliceStable(events, func(i, j int) bool { return events[i].on.Before(events[j].on) })
	started := time.Now()
	months := 0
	month := time.Date(begin.Year(), begin.Month(), 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < len(events); i++ {
		e := events[i]
		for !e.on.Before(month.AddDate(0, 1, 0)) {
			monthEnd(month)
			months++
			month = month.AddDate(0, 1, 0)
		}
		e.do()
		// Events added while running (refunds paid) join the queue in order.
		sort.SliceStable(events[i+1:], func(a, b int) bool { return events[i+1+a].on.Before(events[i+1+b].on) })
	}
	for !month.After(end) {
		monthEnd(month)
		months++
		month = month.AddDate(0, 1, 0)
	}
	for id := range settled {
		require.Zero(t, held[id])
	}
	aging, err := gw.Aging(ctx, booksAdmin, "sim", "")
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, "SELECT COALESCE(sum(balance_owed_cents), 0) FROM settlements s JOIN leases l USING (lease_id) WHERE l.property_id = 'sim'").Scan(&balanceOwed))
	require.Equal(t, balanceOwed, aging.TotalCents, "the aging report is what former tenants were invoiced")
	require.Equal(t, 24, months)
	require.NotZero(t, counts.returns)
	require.NotZero(t, counts.interest)
	require.NotZero(t, interestCents)
	t.Logf("%d leases over %d months (%s to %s): %d payments, %d NSF returns, %d deposit batches, %d anniversaries credited (%d cents of interest), %d deductions, %d keeps, %d settlements (%d cents invoiced), %d refunds paid; trial balance and liability report checked at %d month ends; %s",
		leases, months, begin.Format(time.DateOnly), end.Format(time.DateOnly), counts.payments, counts.returns, counts.batches, counts.interest, interestCents,
		counts.deductions, counts.keeps, counts.settlements, balanceOwed, counts.refundsPaid, months, time.Since(started).Round(time.Millisecond))
}
