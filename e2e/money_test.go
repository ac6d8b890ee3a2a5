package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/internal/deposit"
)

// A returned payment with its NSF fee, amendments of every type, a credit,
// and a refund split among three co-tenants to the cent, proven by the ledger.
func TestReturnedPaymentAmendmentsAndSplitRefund(t *testing.T) {
	lease := "L-e2e-split"
	must(t, "lease", "start", lease, "--property", "pine", "--unit", "2B", "--amount", "900",
		"--tenant-email", "ana2@example.com", "--tenant-name", "Ana", "--tenant-email", "bo2@example.com", "--tenant-name", "Bo",
		"--tenant-email", "cy2@example.com", "--shares", "1,1,1", "--assess-for", "2s", "--release-after", "3s")
	out := must(t, "property", "set", "pine", "--nsf-fee", "35")
	require.Contains(t, out, "NSF fee $35.00")
	must(t, "payment", "record", lease, "--amount", "500", "--ref", "A")
	out = must(t, "payment", "record", lease, "--amount", "400", "--ref", "B")
	require.Contains(t, out, "stage held")

	out = must(t, "payment", "return", lease, "--ref", "B", "--reason", "nsf")
	require.Contains(t, out, "NSF fee of $35.00 charged")
	require.Contains(t, out, "Paid $500.00 of $900.00; stage awaiting_payment")
	require.Contains(t, must(t, "payment", "return", lease, "--ref", "B"), "already returned")
	require.EqualValues(t, 50000, status(t, lease).PaidCents)
	require.EqualValues(t, 3500, status(t, lease).ArrearsCents, "the fee is charged once")
	refusedCleanly(t, lease, "no payment with reference ZZZ", func() result { return deposits("payment", "return", lease, "--ref", "ZZZ") })
	refusedCleanly(t, lease, "--reason \"lost\"", func() result { return deposits("payment", "return", lease, "--ref", "A", "--reason", "lost") })

	// Money changed after a payment waits for a books_admin who did not ask.
	out = must(t, "deposit", "amend", lease, "--type", "cash", "--amount", "-100", "--ref", "AMD-1")
	require.Contains(t, out, "It waits for a books_admin who is not you")
	require.EqualValues(t, 90000, status(t, lease).ExpectedCents, "a pending amendment does not count")
	item := status(t, lease).Pending[0].Item
	refusedCleanly(t, lease, "someone else must approve", func() result { return deposits("approve", lease, "--item", item) })
	r := asUser(t, "ben", []string{"books_admin"}, "approve", lease, "--item", item)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `Cash deposit\s+\$800\.00`, r.stdout)
	// The same amendment again (its reference) changes nothing.
	require.Contains(t, must(t, "deposit", "amend", lease, "--type", "cash", "--amount", "-100", "--ref", "AMD-1"), "already recorded")
	require.EqualValues(t, 80000, status(t, lease).ExpectedCents)
	refusedCleanly(t, lease, "needs its guarantor", func() result {
		return deposits("deposit", "amend", lease, "--type", "guarantee", "--amount", "1000")
	})
	refusedCleanly(t, lease, "would leave -$200.00", func() result {
		return deposits("deposit", "amend", lease, "--type", "cash", "--amount", "-1,000")
	})
	out = must(t, "deposit", "amend", lease, "--type", "guarantee", "--amount", "1,000", "--guarantor", "First Bank")
	require.Contains(t, out, "guarantee $1,000.00")
	out = must(t, "payment", "record", lease, "--amount", "300", "--ref", "C")
	require.Contains(t, out, "Paid $800.00 of $800.00; stage held")

	must(t, "charge", "add", lease, "--code", "CREDIT", "--amount", "10", "--description", "Goodwill for the broken lift")
	must(t, "moveout", lease, "--date", now())
	refusedCleanly(t, lease, "has ended", func() result { return deposits("deposit", "amend", lease, "--type", "cash", "--amount", "5") })
	must(t, "charge", "add", lease, "--code", "CLEANING", "--amount", "100.01", "--description", "Oven cleaning")

	s := waitClosed(t, lease)
	require.EqualValues(t, 80000, s.ReceivedCents)
	require.EqualValues(t, 3500, s.ArrearsCents)
	require.EqualValues(t, 1000, s.CreditsCents)
	require.EqualValues(t, 10001, s.DeductionsCents)
	require.EqualValues(t, 100000, s.GuaranteeCents)
	require.EqualValues(t, 80000+1000-3500-10001, s.RefundCents)
	require.Len(t, s.Payouts, 3)
	require.Equal(t, []int64{22500, 22500, 22499}, []int64{s.Payouts[0].AmountCents, s.Payouts[1].AmountCents, s.Payouts[2].AmountCents})

	// The rows in PostgreSQL: one settlement, three payouts adding up to the refund.
	require.EqualValues(t, 67499, count(t, "SELECT sum(amount_in_cents) FROM refunds WHERE lease_id = $1", lease))
	require.EqualValues(t, 3, count(t, "SELECT count(DISTINCT recipient_email) FROM refunds WHERE lease_id = $1", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM settlements WHERE lease_id = $1 AND refund_cents = 67499 AND guarantee_cents = 100000", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM payments WHERE lease_id = $1 AND reference = 'B' AND returned_at IS NOT NULL", lease))
	require.EqualValues(t, 3500, count(t, "SELECT sum(amount_in_cents) FROM charges WHERE lease_id = $1 AND charge_code_id = 'NSF_FEE'", lease))

	// The ledger proves conservation from those rows.
	out = must(t, "ledger", lease)
	require.Contains(t, out, "returned")
	require.Contains(t, out, "Conserved  yes")
	var l struct {
		Conserved     bool  `json:"conserved"`
		ReceivedCents int64 `json:"received_cents"`
		RefundedCents int64 `json:"refunded_cents"`
		AppliedCents  int64 `json:"applied_cents"`
		HeldCents     int64 `json:"held_cents"`
	}
	require.NoError(t, json.Unmarshal([]byte(must(t, "ledger", lease, "-o", "json")), &l))
	require.True(t, l.Conserved)
	require.EqualValues(t, 80000, l.ReceivedCents)
	require.EqualValues(t, 67499, l.RefundedCents)
	require.EqualValues(t, 13501, l.AppliedCents)
	require.Zero(t, l.HeldCents)

	// Every tenant got every email; the returned-payment email says what is due.
	mails := waitMail(t, lease, 7) // request, receipt, returned, request (amend), receipt, notice, refund
	var kinds []string
	for _, m := range mails {
		require.Contains(t, m.Header.Get("To"), "ana2@example.com")
		require.Contains(t, m.Header.Get("Cc"), "bo2@example.com")
		require.Contains(t, m.Header.Get("Cc"), "cy2@example.com")
		kinds = append(kinds, strings.SplitN(m.Header.Get("Message-Id"), ".email.", 2)[1])
	}
	require.Len(t, kinds, 7, "%v", kinds)
	returned := mails[2]
	require.Equal(t, "A payment toward your security deposit was returned", returned.Subject)
	require.Contains(t, returned.Text, "Payment B")
	require.Contains(t, returned.Text, "Returned payment fee (B, nsf)")
	refund := mails[len(mails)-1]
	require.Contains(t, refund.Text, "Credit: Goodwill for the broken lift")
	require.Contains(t, refund.Text, "paid to Bo <bo2@example.com>")
	require.Contains(t, refund.Text, "guarantee of $1,000.00 is not cash")
	require.Equal(t, deposit.OutcomePartiallyRefunded, s.Outcome)
	recordHistory(t, lease, "returned_payment_amendments_split_refund")
}
