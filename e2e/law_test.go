package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/depositflow/depositflow/internal/deposit"
)

// The legal clock on real components: rules overridden by the operator, a
// New York lease whose release is pulled in front of its 14-day deadline
// and earns interest at the bank's rate less the 1% fee, a Texas lease whose
// clock waits for the forwarding address, and a move-out recorded too late,
// which forfeits the deductions.
func TestStatutoryDeadlinesEndToEnd(t *testing.T) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	day := func(d time.Time) string { return d.Format(time.DateOnly) }

	// The rules: embedded, and the operator's override of New York with the
	// bank's interest rates. A bad rule file is refused and changes nothing.
	out := must(t, "rules", "list")
	for _, code := range []string{"US-CA", "US-NY", "US-TX", "US-IL-CHI", "GB-ENG", "NONE"} {
		require.Contains(t, out, code)
	}
	require.Contains(t, must(t, "rules", "show", "US-WA", "--on", "2023-01-01"), "21 days after move-out")
	require.Contains(t, must(t, "rules", "show", "US-WA"), "30 days after move-out")
	var ny map[string]any
	require.NoError(t, json.Unmarshal([]byte(must(t, "rules", "show", "US-NY", "-o", "json")), &ny))
	ny["interest"].(map[string]any)["rates"] = []map[string]int{{"year": today.Year() - 1, "basis_points": 150}}
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "ny.json"), filepath.Join(dir, "bad.json")
	b, _ := json.Marshal(ny)
	require.NoError(t, os.WriteFile(good, b, 0o644))
	require.NoError(t, os.WriteFile(bad, []byte(`[{"code":"US-ZZ","effective_from":"2026-01-01","citation":"x","trigger":"vacate","return":{"days":-4}}]`), 0o644))
	before := count(t, "SELECT count(*) FROM jurisdiction_rules")
	refusedWith(t, "not a statutory deadline", "rules", "set", "--file", bad)
	require.Equal(t, before, count(t, "SELECT count(*) FROM jurisdiction_rules"))
	require.Contains(t, must(t, "rules", "set", "--file", good), "Rule US-NY from 1970-01-01")
	require.Contains(t, must(t, "rules", "show", "US-NY"), "operator rule")

	// A New York building of 12 units; a lease that began two years ago,
	// whose manager asks for a release 60 days after the move-out.
	must(t, "listing", "add", "LST-NY", "--property", "ny-towers", "--unit", "12C", "--deposit", "1,000.00")
	refusedWith(t, "no rules for jurisdiction", "property", "set", "ny-towers", "--jurisdiction", "US-XX")
	must(t, "property", "set", "ny-towers", "--jurisdiction", "us-ny", "--building-units", "12", "--manager-email", "pm@ny-towers.example")
	lease := "L-e2e-ny"
	out = must(t, "lease", "start", lease, "--property", "ny-towers", "--unit", "12C", "--listing", "LST-NY", "--tenant-email", "noa@example.com",
		"--tenant-name", "Noa Berg", "--starts", day(today.AddDate(-2, 0, 0)), "--assess-for", "4s", "--release-after", "1440h")
	require.Contains(t, out, "Jurisdiction US-NY")
	paid := today.AddDate(0, 0, -365)
	must(t, "payment", "record", lease, "--amount", "1000", "--ref", "WIRE-1", "--date", day(paid))
	movedOut := today.AddDate(0, 0, -12) // the refund is due in 2 days
	must(t, "charge", "add", lease, "--code", "CLEANING", "--amount", "80.00", "--description", "Oven cleaning")
	out = must(t, "moveout", lease, "--date", day(movedOut))
	due := movedOut.AddDate(0, 0, 14)
	s := status(t, lease)
	require.Equal(t, "US-NY", s.Jurisdiction)
	require.True(t, s.Clock.Started)
	require.True(t, due.Equal(s.Clock.RefundDue), "due %s, want %s", s.Clock.RefundDue, due)
	require.True(t, s.ReleaseAt.Equal(due.Add(-24*time.Hour)), "the release (%s) is pulled in front of the deadline", s.ReleaseAt)
	refusedWith(t, "requires the refund by "+day(due), "extend", lease, "--days", "7")
	require.Contains(t, must(t, "status", lease), "Statutory clock")

	// Compliance lists it with 1 day left (2 at most), high risk; the search
	// attributes show the jurisdiction and the deadline in the Web UI.
	var rows []struct {
		LeaseID  string `json:"lease_id"`
		Risk     string `json:"risk"`
		DaysLeft *int   `json:"days_left"`
		Note     string `json:"note"`
	}
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal([]byte(must(t, "compliance", "--property", "ny-towers", "-o", "json")), &rows))
		return len(rows) == 1 && rows[0].Risk == "high"
	}, 20*time.Second, 200*time.Millisecond, "compliance: %+v", rows)
	require.LessOrEqual(t, *rows[0].DaysLeft, 2)
	require.Contains(t, rows[0].Note, "N.Y. Gen. Oblig. Law")
	var listErr error
	require.Eventually(t, func() bool {
		res, err := temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("DepositJurisdiction = 'US-NY' AND DepositStatutoryDeadline < '%s' AND DepositLeaseId = '%s'",
				due.Add(time.Minute).Format(time.RFC3339), lease),
		})
		if listErr = err; err != nil {
			return false
		}
		return len(res.Executions) == 1
	}, 20*time.Second, 200*time.Millisecond, "the deadline is not searchable: %v", listErr)

	// The manager releases now; the refund email is the itemized statement
	// with the deadline met and the interest: the bank paid 1.5% for 365
	// days on 1,000.00 = 15.00, the landlord keeps 1% = 10.00: 5.00.
	must(t, "release", lease)
	s = waitClosed(t, lease)
	require.EqualValues(t, 500, s.InterestCents)
	require.EqualValues(t, 100000+500-8000, s.RefundCents)
	require.Empty(t, s.DeadlineMissed)
	mails := waitMail(t, lease, 4)
	notice, refund := mails[2], mails[3]
	require.Contains(t, notice.Text, "Deduction: Oven cleaning")
	require.Contains(t, strings.ReplaceAll(notice.Text, "\r\n", "\n"), "Under US-NY (N.Y. Gen. Oblig. Law 7-103, 7-108) the itemized statement and the\nrefund are due by "+due.Format("Monday, 2 January 2006"))
	require.Contains(t, refund.Subject, "$925.00")
	require.Contains(t, refund.Text, "Interest")
	require.Contains(t, refund.Text, "$5.00")
	require.Contains(t, refund.Text, "less the landlord's fee of 1.00% a year")
	require.Contains(t, refund.Text, "the statutory deadline was met")
	require.Contains(t, refund.HTML, "the statutory deadline was met")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM settlements WHERE lease_id = $1 AND interest_cents = 500", lease))

	// The downloadable statement.
	pdf := filepath.Join(dir, "statement.pdf")
	must(t, "statement", lease, "--format", "pdf", "--out", pdf)
	raw, err := os.ReadFile(pdf)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(raw), "%PDF-"))
	text := must(t, "statement", lease, "--format", "text")
	require.Contains(t, text, "Itemized statement of the security deposit of lease "+lease)
	require.Contains(t, text, "Deduction: Oven cleaning")
	require.Contains(t, text, "the statutory deadline was met")
	refusedWith(t, "a PDF goes to a file", "statement", lease, "--format", "pdf")

	// Texas: no clock until the written forwarding address arrives.
	tx := "L-e2e-tx"
	must(t, "lease", "start", tx, "--property", "lone-star", "--unit", "2", "--amount", "500", "--tenant-email", "tex@example.com",
		"--jurisdiction", "US-TX", "--assess-for", "4s", "--release-after", "1440h")
	must(t, "payment", "record", tx, "--amount", "500", "--ref", "TX-1")
	must(t, "moveout", tx, "--date", day(today.AddDate(0, 0, -3)))
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal([]byte(must(t, "compliance", "--property", "lone-star", "-o", "json")), &rows))
		return len(rows) == 1 && rows[0].Risk == "waiting"
	}, 20*time.Second, 200*time.Millisecond, "compliance: %+v", rows)
	require.Contains(t, rows[0].Note, "forwarding address")
	out = must(t, "forwarding-address", tx, "--address", "12 Elm St, Austin TX 78701", "--date", day(today.AddDate(0, 0, -1)))
	require.Contains(t, out, "refund due "+day(today.AddDate(0, 0, 29)))
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal([]byte(must(t, "compliance", "--property", "lone-star", "-o", "json")), &rows))
		return len(rows) == 1 && rows[0].Risk == "low"
	}, 20*time.Second, 200*time.Millisecond, "compliance: %+v", rows)
	must(t, "release", tx)
	waitClosed(t, tx)

	// A forwarding address a PMS wrote straight into the database reaches
	// the workflow through reconcile, and starts the clock.
	txSQL := "L-e2e-tx-sql"
	must(t, "lease", "start", txSQL, "--property", "lone-star", "--unit", "3", "--amount", "500", "--tenant-email", "tex2@example.com",
		"--jurisdiction", "US-TX", "--assess-for", "4s", "--release-after", "1440h")
	must(t, "moveout", txSQL, "--date", day(today.AddDate(0, 0, -3)))
	_, err = pool.Exec(context.Background(), `UPDATE leases SET forwarding_address = '1 Oak Ave, Dallas TX', forwarding_address_at = $2 WHERE lease_id = $1`,
		txSQL, today.AddDate(0, 0, -2))
	require.NoError(t, err)
	rep, _ := reconcileOnce(t)
	require.Contains(t, rep.fixed(txSQL), "forwarding address")
	require.Eventually(t, func() bool { return status(t, txSQL).Clock.Started }, 20*time.Second, 100*time.Millisecond)
	require.True(t, status(t, txSQL).Clock.RefundDue.Equal(today.AddDate(0, 0, 28)))
	again, _ := reconcileOnce(t)
	require.Nil(t, again.fixed(txSQL))
	must(t, "release", txSQL)
	waitClosed(t, txSQL)

	// A New York move-out recorded 20 days late: the statement deadline has
	// passed, the deductions are forfeited, and the engine refunds in full at once.
	late := "L-e2e-ny-late"
	must(t, "lease", "start", late, "--property", "ny-towers", "--unit", "12D", "--amount", "1,200.00", "--tenant-email", "lou@example.com",
		"--assess-for", "72h", "--release-after", "336h")
	must(t, "payment", "record", late, "--amount", "1200", "--ref", "L-1", "--date", day(today))
	must(t, "charge", "add", late, "--code", "RENT", "--amount", "300.00", "--description", "October rent")
	must(t, "moveout", late, "--date", day(today.AddDate(0, 0, -20)))
	s = waitClosed(t, late)
	require.True(t, s.Forfeited)
	require.Contains(t, s.DeadlineMissed, "forfeited")
	require.EqualValues(t, 120000, s.RefundCents)
	require.EqualValues(t, 30000, s.ForfeitedCents)
	refusedWith(t, "is closed", "charge", "add", late, "--code", "DAMAGE", "--amount", "10", "--description", "late")
	require.Contains(t, must(t, "status", late), "DEADLINE MISSED")
	mails = waitMail(t, late, 4)
	last := mails[len(mails)-1]
	require.Contains(t, last.Text, "Deadline missed:")
	require.Contains(t, last.Text, "Not withheld: $300.00 of charges (October rent $300.00)")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM leases WHERE lease_id = $1 AND deadline_note LIKE 'MISSED:%'", late))
	recordHistory(t, lease, "statutory_clock_interest_release")
	_ = deposit.StageClosed
}
