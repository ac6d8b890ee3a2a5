package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/internal/books"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/workflows"
)

// Money moved before the settlement (#16): transfers, partial refunds and
// open invoices, on real Temporal, PostgreSQL and SMTP.

func tiesFor(t *testing.T, property string) books.Liability {
	t.Helper()
	var l books.Liability
	require.NoError(t, json.Unmarshal([]byte(must(t, "books", "liability", "--property", property, "-o", "json")), &l))
	require.True(t, l.Ties, "the liability report of %s does not tie: %+v", property, l)
	var tb books.TrialBalance
	require.NoError(t, json.Unmarshal([]byte(must(t, "books", "trial-balance", "--property", property, "-o", "json")), &tb))
	require.True(t, tb.Balanced, "%+v", tb)
	return l
}

func trustBank(t *testing.T, property string) int64 {
	t.Helper()
	return count(t, `SELECT COALESCE(sum(debit_cents - credit_cents), 0) FROM journal_lines WHERE property_id = $1 AND account = 'trust_bank'`, property)
}

// A renewal into a unit of another property: the source's refundable money
// moves to the target, which is held by it and tells its tenant; the same
// key again changes nothing; another currency, itself, more than the
// refundable amount and a lease outside the person's properties are refused,
// change nothing and are audited; both ledgers conserve and both
// properties' books tie, before and after both settle.
func TestTransferToAnotherPropertysLease(t *testing.T) {
	src, dst, gbp := "L-e2e-mv-src", "L-e2e-mv-dst", "L-e2e-mv-gbp"
	must(t, "lease", "start", src, "--property", "mv-oak", "--unit", "1", "--amount", "1,000",
		"--tenant-email", "rae@example.com", "--tenant-name", "Rae Sun", "--assess-for", "1h", "--release-after", "1h")
	must(t, "lease", "start", dst, "--property", "mv-pine", "--unit", "9", "--amount", "300",
		"--tenant-email", "rae.new@example.com", "--tenant-name", "Rae Sun", "--assess-for", "1h", "--release-after", "1h")
	must(t, "property", "set", "mv-pound", "--jurisdiction", "GB-ENG", "--time-zone", "Europe/London")
	must(t, "lease", "start", gbp, "--property", "mv-pound", "--unit", "2", "--amount", "100",
		"--tenant-email", "rae.uk@example.com", "--assess-for", "1h", "--release-after", "1h")
	must(t, "payment", "record", src, "--amount", "1000", "--ref", "CHK-MV1")
	waitMail(t, src, 2)
	waitMail(t, dst, 1)

	out := must(t, "transfer", src, "--to", dst, "--amount", "300", "--key", "RENEW-1", "--reason", "Renewal in unit 9")
	require.Contains(t, out, "Transferred $300.00 from lease "+src+" to lease "+dst)
	require.Contains(t, out, "refundable now $700.00")
	// The target is paid by it: held, with a receipt naming the transfer.
	mails := waitMail(t, dst, 2)
	require.Equal(t, "Receipt: your security deposit of $300.00 is held", mails[1].Subject)
	require.Contains(t, mails[1].Text, "Transfer from lease "+src)
	require.Equal(t, "rae.new@example.com", strings.Trim(addrOf(mails[1].Header.Get("To")), "<>"))
	s := status(t, dst)
	require.Equal(t, deposit.StageHeld, s.Stage)
	require.EqualValues(t, 30000, s.PaidCents)
	require.Equal(t, src, s.Payments[0].TransferFrom)

	// The same key again: nothing changes.
	require.Contains(t, must(t, "transfer", src, "--to", dst, "--amount", "300", "--key", "RENEW-1"), "nothing changed")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM transfers WHERE from_lease_id = $1", src))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM payments WHERE lease_id = $1", dst))
	require.EqualValues(t, 30000, status(t, src).EarlierRefundsCents)

	// Refused, changing nothing, audited.
	refusedCleanly(t, src, "never converts money", func() result { return deposits("transfer", src, "--to", gbp, "--amount", "10") })
	refusedCleanly(t, src, "cannot transfer to itself", func() result { return deposits("transfer", src, "--to", src, "--amount", "10") })
	refusedCleanly(t, src, "more than lease "+src+"'s refundable amount of $700.00", func() result {
		return deposits("transfer", src, "--to", dst, "--amount", "700.01")
	})
	_, err := addUserScoped("mv-oak-manager", []string{"manager"}, "mv-oak")
	require.NoError(t, err)
	refusedCleanly(t, src, "lease "+dst+" does not exist", func() result {
		return asUser(t, "mv-oak-manager", nil, "transfer", src, "--to", dst, "--amount", "10")
	})
	require.EqualValues(t, 4, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'transfer' AND NOT accepted", src))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'transfer' AND NOT accepted AND result LIKE '%never converts%'", src))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'transfer.in' AND accepted", dst))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM transfers"+" WHERE from_lease_id = $1", src))

	// Both ledgers conserve; both properties' books tie, and the money
	// moved between their trust bank accounts.
	for _, l := range []string{src, dst} {
		require.True(t, ledgerOf(t, l).Conserved, "ledger of %s", l)
	}
	require.EqualValues(t, 30000, ledgerOf(t, src).TransferredCents)
	require.EqualValues(t, 70000, tiesFor(t, "mv-oak").TotalHeldCents)
	require.EqualValues(t, 30000, tiesFor(t, "mv-pine").TotalHeldCents)
	require.EqualValues(t, -30000, trustBank(t, "mv-oak"))
	require.EqualValues(t, 30000, trustBank(t, "mv-pine"))

	// Both settle: the source refunds what is left, the target its deposit.
	for _, l := range []string{src, dst} {
		must(t, "moveout", l, "--date", now())
		must(t, "release", l)
	}
	s = waitClosed(t, src)
	require.EqualValues(t, 70000, s.RefundCents)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM settlements WHERE lease_id = $1 AND earlier_refunds_cents = 30000 AND refund_cents = 70000", src))
	require.EqualValues(t, 30000, waitClosed(t, dst).RefundCents)
	for _, l := range []string{src, dst} {
		require.True(t, ledgerOf(t, l).Conserved, "ledger of %s", l)
	}
	require.Zero(t, tiesFor(t, "mv-oak").TotalHeldCents)
	require.Zero(t, tiesFor(t, "mv-pine").TotalHeldCents)
	refusedWith(t, "is closed", "transfer", gbp, "--to", src, "--amount", "1")
	recordHistory(t, src, "transfer_out_refund")
	recordHistory(t, dst, "transfer_in_held_refund")
}

// Seed 002's figure with real facts: received 1,000.00; arrears 200.00 (an
// open invoice the deposit pays); deductibles 150.00; previous refunds and
// transfers 100.00 (a partial refund of 40.00 and a transfer of 60.00)
// gives 550.00 refunded, in the tenant's email, the statement and the
// ledger. The partial refund pays out on its own, with its own email.
func TestSeed002RefundableWithPartialRefundTransferAndInvoice(t *testing.T) {
	lease, next := "L-e2e-seed", "L-e2e-seed-next"
	must(t, "lease", "start", lease, "--property", "mv-elm", "--unit", "3", "--amount", "1,000",
		"--tenant-email", "sam@example.com", "--tenant-name", "Sam Park", "--assess-for", "1h", "--release-after", "1h")
	must(t, "lease", "start", next, "--property", "mv-elm", "--unit", "4", "--amount", "60",
		"--tenant-email", "sam@example.com", "--tenant-name", "Sam Park", "--assess-for", "1h", "--release-after", "1h")
	must(t, "payment", "record", lease, "--amount", "1000", "--ref", "CHK-S1")
	waitMail(t, lease, 2)

	// A partial refund: refund rows, an email, idempotent by its key.
	out := must(t, "refund", lease, "--amount", "40", "--reason", "Early return of the key deposit", "--key", "PR-1")
	require.Contains(t, out, "Refunded $40.00 of lease "+lease+"'s deposit now")
	require.Contains(t, must(t, "refund", lease, "--amount", "40", "--key", "PR-1"), "nothing changed")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1 AND partial_refund_id IS NOT NULL AND amount_in_cents = 4000 AND status = 'payable'", lease))
	mails := waitMail(t, lease, 3)
	require.Equal(t, "Part of your security deposit refunded: $40.00", mails[2].Subject)
	require.Contains(t, mails[2].Text, "Early return of the key deposit")
	require.Contains(t, mails[2].Text, "We still hold $960.00")
	require.True(t, ledgerOf(t, lease).Conserved)
	tiesFor(t, "mv-elm")

	// A transfer of 60.00 to the tenant's next lease, in the same property.
	must(t, "transfer", lease, "--to", next, "--amount", "60", "--key", "NEXT-1")
	require.Equal(t, deposit.StageHeld, waitHeld(t, next).Stage)
	require.EqualValues(t, 2, count(t, "SELECT count(*) FROM journal_lines jl JOIN journal_entries je USING (entry_id) WHERE je.source LIKE 'transfers:%' AND jl.lease_id IN ($1, $2)", lease, next))
	require.Zero(t, trustBank(t, "mv-elm"), "a transfer within a property leaves its trust bank as it was")
	tiesFor(t, "mv-elm")

	// The move-out: arrears are an open invoice the manager pays from the
	// deposit; the deductibles a cleaning charge.
	must(t, "moveout", lease, "--date", now())
	must(t, "invoice", "add", lease, "--amount", "200", "--ref", "INV-1", "--description", "March rent")
	refusedWith(t, "no open invoice INV-9", "apply-invoice", lease, "--invoice", "INV-9")
	refusedWith(t, "more than the $200.00 still open on invoice INV-1", "apply-invoice", lease, "--invoice", "INV-1", "--amount", "250")
	require.Contains(t, must(t, "apply-invoice", lease, "--invoice", "INV-1"), "Applied lease "+lease+"'s deposit to invoice INV-1")
	require.Contains(t, must(t, "apply-invoice", lease, "--invoice", "INV-1"), "nothing changed")
	refusedWith(t, "is paid from the deposit already", "apply-invoice", lease, "--invoice", "INV-1", "--key", "again")
	var inv []map[string]any
	require.NoError(t, json.Unmarshal([]byte(must(t, "invoice", "list", lease, "-o", "json")), &inv))
	require.Len(t, inv, 1)
	require.EqualValues(t, 0, inv[0]["open_cents"])
	must(t, "charge", "add", lease, "--code", "CLEANING", "--amount", "150", "--description", "Cleaning")
	s := status(t, lease)
	require.EqualValues(t, 55000, s.Terms().Refundable())

	must(t, "release", lease)
	s = waitClosed(t, lease)
	require.EqualValues(t, 55000, s.RefundCents)
	require.Equal(t, [4]int64{100000, 20000, 15000, 10000}, [4]int64{s.ReceivedCents, s.ArrearsCents, s.DeductionsCents, s.EarlierRefundsCents})
	require.EqualValues(t, 1, count(t, `SELECT count(*) FROM settlements WHERE lease_id = $1 AND received_cents = 100000 AND arrears_cents = 20000
		AND deductions_cents = 15000 AND earlier_refunds_cents = 10000 AND refund_cents = 55000`, lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1 AND settlement_id IS NOT NULL AND amount_in_cents = 55000", lease))

	mails = waitMail(t, lease, 4)
	refund := mails[len(mails)-1]
	require.Equal(t, "Your deposit refund of $550.00 has been issued", refund.Subject)
	for _, want := range []string{"Arrears: Invoice INV-1: March rent", "Deduction: Cleaning", "Refunded early on", "Transferred to lease " + next, "$550.00"} {
		require.Contains(t, refund.Text, want)
	}
	require.Contains(t, refund.HTML, "Invoice INV-1: March rent")
	// The tenant's page shows the same.
	link := regexp.MustCompile(`https?://[^\s"<>]+/t/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`).FindString(refund.Text)
	require.NotEmpty(t, link, refund.Text)
	page := get(t, link, "text/html")
	require.Contains(t, page, "Transferred to lease "+next)
	require.Contains(t, page, "Refunded early on")

	// The statement shows what was applied to which invoice.
	text := must(t, "statement", lease, "--format", "text")
	require.Contains(t, text, "Arrears: Invoice INV-1: March rent")
	pdf := filepath.Join(t.TempDir(), "statement.pdf")
	must(t, "statement", lease, "--format", "pdf", "--out", pdf)
	raw, err := os.ReadFile(pdf)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(raw), "%PDF-"))

	l := ledgerOf(t, lease)
	require.True(t, l.Conserved, "%+v", l)
	require.EqualValues(t, 4000+55000, l.RefundedCents)
	require.EqualValues(t, 6000, l.TransferredCents)
	require.Empty(t, tiesFor(t, "mv-elm").Differences)
	recordHistory(t, lease, "seed002_partial_refund_transfer_invoice")
}

func waitHeld(t *testing.T, lease string) deposit.State {
	t.Helper()
	var s deposit.State
	require.Eventually(t, func() bool {
		s = status(t, lease)
		return s.Stage == deposit.StageHeld
	}, 20e9, 2e8, "lease %s is not held", lease)
	return s
}

// Transfers and partial refunds count toward the property's approval
// threshold as keeps do: one that would take the money moved by hand above
// it is refused (it cannot wait for an approval), changes nothing and is
// audited.
func TestMovesCountTowardTheApprovalThreshold(t *testing.T) {
	lease, next := "L-e2e-mv-birch", "L-e2e-mv-birch-next"
	must(t, "property", "set", "mv-birch", "--approval-threshold", "100.00")
	must(t, "lease", "start", lease, "--property", "mv-birch", "--unit", "1", "--amount", "500",
		"--tenant-email", "lee@example.com", "--assess-for", "1h", "--release-after", "1h")
	must(t, "lease", "start", next, "--property", "mv-birch", "--unit", "2", "--amount", "500",
		"--tenant-email", "lee@example.com", "--assess-for", "1h", "--release-after", "1h")
	must(t, "payment", "record", lease, "--amount", "500", "--ref", "CHK-BI")
	waitMail(t, lease, 2)
	refusedCleanly(t, lease, "above property mv-birch's approval threshold of $100.00", func() result {
		return deposits("transfer", lease, "--to", next, "--amount", "150")
	})
	must(t, "transfer", lease, "--to", next, "--amount", "80")
	refusedCleanly(t, lease, "move at most $20.00", func() result { return deposits("refund", lease, "--amount", "30") })
	must(t, "refund", lease, "--amount", "20")
	require.EqualValues(t, 2, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action IN ('transfer', 'refund.partial') AND NOT accepted AND result LIKE '%approval threshold%'", lease))
	require.EqualValues(t, 10000, status(t, lease).EarlierRefundsCents)
}

// A partial refund is a refund due like the settlement's: the PMS's
// endpoint gets its refund.due at once.
func TestPartialRefundReachesThePMS(t *testing.T) {
	const property, lease = "mv-hooks", "L-e2e-mv-hook"
	rcv := newHookReceiver(t)
	addHook(t, rcv.srv.URL+"/hooks", "--events", "refund.due", "--property", property)
	must(t, "lease", "start", lease, "--property", property, "--unit", "1", "--amount", "500",
		"--tenant-email", "hooked@example.com", "--assess-for", "1h", "--release-after", "1h")
	must(t, "payment", "record", lease, "--amount", "500", "--ref", "H-MV")
	waitMail(t, lease, 2)
	must(t, "refund", lease, "--amount", "25")
	r := rcv.waitFor(t, "refund.due", 15e9, func(r hookRequest) bool { return r.event.Type == "refund.due" })
	var d struct {
		LeaseID       string `json:"lease_id"`
		RefundID      int64  `json:"refund_id"`
		AmountInCents int64  `json:"amount_in_cents"`
		Email         string `json:"recipient_email"`
	}
	require.NoError(t, json.Unmarshal(r.event.Data, &d))
	require.Equal(t, lease, d.LeaseID)
	require.EqualValues(t, 2500, d.AmountInCents)
	require.Equal(t, "hooked@example.com", d.Email)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM refunds WHERE refund_id = $1 AND partial_refund_id IS NOT NULL", d.RefundID))
}

// A transfer and a partial refund written to the database whose signals
// never reached the workflow (Temporal away after the commit) are told by
// the next reconcile pass: the source applies them once, the tenant gets
// the partial refund's email, and the target the transfer's payment.
func TestReconcileTellsTransfersAndPartialRefunds(t *testing.T) {
	// Only this test's passes: the schedule's waits.
	h := temporal.ScheduleClient().GetHandle(context.Background(), workflows.ReconcileScheduleID)
	require.NoError(t, h.Pause(context.Background(), client.SchedulePauseOptions{Note: "paused by TestReconcileTellsTransfersAndPartialRefunds"}))
	t.Cleanup(func() { _ = h.Unpause(context.Background(), client.ScheduleUnpauseOptions{}) })
	src, dst := "L-e2e-mv-rec", "L-e2e-mv-rec-next"
	must(t, "lease", "start", src, "--property", "mv-rec", "--unit", "1", "--amount", "500",
		"--tenant-email", "rec@example.com", "--assess-for", "1h", "--release-after", "1h")
	must(t, "lease", "start", dst, "--property", "mv-rec", "--unit", "2", "--amount", "100",
		"--tenant-email", "rec@example.com", "--assess-for", "1h", "--release-after", "1h")
	must(t, "payment", "record", src, "--amount", "500", "--ref", "CHK-REC")
	waitMail(t, src, 2)
	_, err := pool.Exec(context.Background(), `WITH t AS (
		INSERT INTO transfers (from_lease_id, to_lease_id, currency, amount_in_cents, created_by, idempotency_key)
		VALUES ($1, $2, 'USD', 10000, 'psql', 'sql-transfer-1') RETURNING transfer_id)
		INSERT INTO payments (lease_id, resident_id, amount_in_cents, transaction_date, reference, created_by, transfer_id)
		SELECT $2, l.resident_id, 10000, current_date, 'sql-transfer', 'psql', t.transfer_id FROM leases l, t WHERE l.lease_id = $2`, src, dst)
	require.NoError(t, err)
	_, err = pool.Exec(context.Background(), `WITH p AS (
		INSERT INTO partial_refunds (lease_id, currency, amount_in_cents, created_by, idempotency_key)
		VALUES ($1, 'USD', 2500, 'psql', 'sql-partial-1') RETURNING partial_refund_id)
		INSERT INTO refunds (lease_id, resident_id, amount_in_cents, received_cents, arrears_cents, deductions_cents, recipient_name,
		                     recipient_email, idempotency_key, partial_refund_id)
		SELECT $1, l.resident_id, 2500, 50000, 0, 0, 'Rec', 'rec@example.com', 'sql-partial-1/refund/1', p.partial_refund_id
		FROM leases l, p WHERE l.lease_id = $1`, src)
	require.NoError(t, err)
	require.Zero(t, status(t, src).EarlierRefundsCents, "nothing was signalled")

	out := must(t, "reconcile")
	require.Contains(t, out, "transfer ")
	require.Contains(t, out, "partial refund ")
	require.Contains(t, out, "payment sql-transfer")
	var s deposit.State
	require.Eventually(t, func() bool { s = status(t, src); return s.EarlierRefundsCents == 12500 }, 20e9, 1e8)
	require.Len(t, s.EarlierRefunds, 2)
	require.Eventually(t, func() bool { return status(t, dst).Stage == deposit.StageHeld }, 20e9, 1e8)
	mails := waitMail(t, src, 3)
	require.Equal(t, "Part of your security deposit refunded: $25.00", mails[2].Subject)
	require.Contains(t, must(t, "reconcile"), "fixed 0")
}
