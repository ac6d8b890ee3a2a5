package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/internal/deposit"
)

// A lease in England is in pounds from the first email to the last, in the
// CLI's tables, the statement and the API; its dates are London days.
func TestPoundsForAnEnglishLease(t *testing.T) {
	// A new property set up before its first listing: English law, pounds.
	out := must(t, "property", "set", "abbey", "--jurisdiction", "GB-ENG", "--time-zone", "Europe/London")
	require.Contains(t, out, "currency GBP, time zone Europe/London")
	require.Contains(t, must(t, "listing", "add", "LST-ABBEY", "--property", "abbey", "--unit", "3", "--deposit", "£1,200"), "£1,200.00")
	refusedWith(t, "takes deposits in GBP, not USD", "listing", "add", "LST-ABBEY", "--property", "abbey", "--unit", "3", "--deposit", "$1,200")
	lease := "L-e2e-abbey"
	out = must(t, "lease", "start", lease, "--property", "abbey", "--unit", "3", "--listing", "LST-ABBEY", "--tenant-email", "olivia@example.co.uk",
		"--tenant-name", "Olivia Hughes", "--assess-for", "48h", "--release-after", "72h")
	require.Contains(t, out, "Jurisdiction GB-ENG")
	refusedWith(t, "is in GBP, not USD", "payment", "record", lease, "--amount", "$5", "--ref", "AB-USD")
	out = must(t, "payment", "record", lease, "--amount", "1,200", "--ref", "AB-1")
	require.Contains(t, out, "Paid £1,200.00 of £1,200.00")
	london, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	must(t, "moveout", lease, "--date", time.Now().In(london).Format(time.DateOnly))
	must(t, "charge", "add", lease, "--code", "CLEANING", "--amount", "150", "--description", "End-of-tenancy clean", "--ref", "AB-C")
	refusedWith(t, "cannot keep £2,000.00: only £1,050.00 is held", "keep", lease, "--amount", "2000", "--reason", "Everything")
	must(t, "release", lease)
	s := waitClosed(t, lease)
	require.Equal(t, "GBP", s.Currency)
	require.Equal(t, deposit.OutcomePartiallyRefunded, s.Outcome)
	require.EqualValues(t, 105000, s.RefundCents)
	// The move-out is 00:00 London time of its day.
	require.Equal(t, "00:00", s.MovedOutAt.In(london).Format("15:04"))

	for _, args := range [][]string{{"status", lease}, {"ledger", lease}, {"statement", lease, "--format", "text"}, {"statement", lease, "--format", "html"}} {
		out := must(t, args...)
		require.NotContains(t, out, "$", "%v shows dollars", args)
		require.Contains(t, out, "£", "%v", args)
	}
	pdf := filepath.Join(t.TempDir(), "abbey.pdf")
	must(t, "statement", lease, "--format", "pdf", "--out", pdf)
	b, err := os.ReadFile(pdf)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "%PDF"))
	mails := waitMail(t, lease, 3) // request, receipt, refund (released during the assessment: no notice)
	for _, m := range mails {
		for _, part := range []string{m.Subject, m.Text, m.HTML} {
			require.NotContains(t, part, "$", "an email of an English lease shows dollars: %s", m.Subject)
		}
		require.Contains(t, m.Text, "£")
	}
	require.Contains(t, mails[len(mails)-1].Subject, "£1,050.00")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM settlements WHERE lease_id = $1 AND currency = 'GBP' AND refund_cents = 105000", lease))
	recordHistory(t, lease, "gbp_london_keep_refused_release")
}

// Changing an existing approval threshold, or removing it, takes a second
// books_admin: no one switches separation of duties off alone.
func TestThresholdChangeNeedsASecondBooksAdmin(t *testing.T) {
	must(t, "listing", "add", "LST-ROWAN", "--property", "rowan", "--unit", "1", "--deposit", "100")
	require.Contains(t, must(t, "property", "set", "rowan", "--approval-threshold", "500"), "approval threshold $500.00")
	out := must(t, "property", "set", "rowan", "--approval-threshold", "5000")
	require.Contains(t, out, "approval threshold $500.00") // unchanged until approved
	require.Contains(t, out, "waits for another books_admin")
	r := deposits("property", "approve", "rowan")
	require.Equal(t, 3, r.code, r.stderr)
	require.Contains(t, r.stderr, "another books_admin must approve it")
	r = asUser(t, "pat", []string{"manager"}, "property", "set", "rowan", "--approval-threshold", "none")
	require.Equal(t, 3, r.code, r.stderr)
	require.Contains(t, r.stderr, "needs the books_admin role")
	r = asUser(t, "ida", []string{"books_admin"}, "property", "approve", "rowan")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "approval threshold $5,000.00")
	// Removing it: pending, then declined; it stays.
	require.Contains(t, must(t, "property", "set", "rowan", "--approval-threshold", "none"), "change to none")
	refusedWith(t, "already awaits approval", "property", "set", "rowan", "--approval-threshold", "none")
	r = asUser(t, "ida", []string{"books_admin"}, "property", "decline", "rowan")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "approval threshold $5,000.00")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM property_changes WHERE property_id = 'rowan' AND status = 'approved' AND requested_by = 'e2e-manager' AND decided_by = 'ida'"))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM property_changes WHERE property_id = 'rowan' AND status = 'declined'"))
}
