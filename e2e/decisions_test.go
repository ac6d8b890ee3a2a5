package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/workflows"
)

// footprint is what a refused action must leave exactly as it was: the
// workflow's history and every ledger table of the lease. (The audit log is
// the one place a refusal is written, by design.)
func footprint(t *testing.T, lease string) string {
	t.Helper()
	iter := temporal.GetWorkflowHistory(context.Background(), workflows.WorkflowID(lease), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	events := 0
	for iter.HasNext() {
		_, err := iter.Next()
		require.NoError(t, err)
		events++
	}
	var db string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT concat_ws(' ',
		(SELECT count(*) FROM charges WHERE lease_id = $1), (SELECT count(*) FROM payments WHERE lease_id = $1),
		(SELECT count(*) FROM refunds WHERE lease_id = $1), (SELECT count(*) FROM invoices WHERE lease_id = $1),
		(SELECT count(*) FROM deposits WHERE lease_id = $1), (SELECT count(*) FROM email_outbox WHERE lease_id = $1),
		(SELECT updated_at FROM leases WHERE lease_id = $1), (SELECT row_to_json(p)::text FROM properties p JOIN leases USING (property_id) WHERE lease_id = $1))`,
		lease).Scan(&db))
	return fmt.Sprintf("%d events; %s", events, db)
}

// quiet waits until the workflow has nothing under way (no pending activity,
// no history growing), so that a footprint taken now can only change by what
// the test does next.
func quiet(t *testing.T, lease string) string {
	t.Helper()
	var last string
	require.Eventually(t, func() bool {
		d, err := temporal.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(lease), "")
		require.NoError(t, err)
		f := footprint(t, lease)
		stable := f == last && len(d.GetPendingActivities()) == 0
		last = f
		return stable
	}, 20*time.Second, 150*time.Millisecond, "lease %s did not settle down", lease)
	return last
}

// refusedCleanly checks that a refused action changed nothing.
func refusedCleanly(t *testing.T, lease, want string, r func() result) {
	t.Helper()
	before := quiet(t, lease)
	res := r()
	require.Equal(t, 1, res.code, "want a refusal with %q; stdout: %s stderr: %s", want, res.stdout, res.stderr)
	require.Contains(t, res.stderr, want)
	require.Equal(t, before, footprint(t, lease), "a refused action changed the workflow history or the database")
}

func TestManagerDecisions(t *testing.T) {
	lease := "L-e2e-decide"
	must(t, "lease", "start", lease, "--property", "oak", "--unit", "1A", "--amount", "1,000",
		"--tenant-email", "cy@example.com", "--tenant-name", "Cy Park", "--assess-for", "2s", "--release-after", "1h")
	out := must(t, "property", "set", "oak", "--approval-threshold", "500.00", "--manager-email", "mgr@oak.example")
	require.Contains(t, out, "approval threshold $500.00, manager email mgr@oak.example")
	must(t, "payment", "record", lease, "--amount", "1000", "--ref", "W-1")
	waitMail(t, lease, 2)

	refusedCleanly(t, lease, "no move-out yet", func() result {
		return deposits("keep", lease, "--amount", "100", "--reason", "Early")
	})
	must(t, "moveout", lease, "--date", now())
	require.Eventually(t, func() bool { return status(t, lease).Stage == deposit.StageReleasePending }, 30*time.Second, 200*time.Millisecond)

	out = must(t, "keep", lease, "--amount", "300", "--reason", "Burn mark on the counter")
	require.Contains(t, out, "Kept $300.00 of lease "+lease+": Burn mark on the counter.")
	require.Regexp(t, `Stage\s+release_pending`, out)

	refusedCleanly(t, lease, "only $700.00 is held", func() result {
		return deposits("keep", lease, "--amount", "800", "--reason", "Too much")
	})
	refusedCleanly(t, lease, "give a reason", func() result { return deposits("keep", lease, "--amount", "5") })
	refusedCleanly(t, lease, "cents take one or two digits", func() result {
		return deposits("keep", lease, "--amount", "5.001", "--reason", "x")
	})
	refusedCleanly(t, lease, "needs the manager role", func() result { return asUser(t, "tia", []string{"viewer"}, "extend", lease) })

	before := status(t, lease).ReleaseAt
	out = must(t, "extend", lease, "--days", "7")
	require.Contains(t, out, "moved to "+before.AddDate(0, 0, 7).Format(time.RFC3339))
	refusedCleanly(t, lease, "past the limit of 120 days", func() result { return deposits("extend", lease, "--days", "200") })

	out = must(t, "hold", lease)
	require.Contains(t, out, "is on hold")
	refusedCleanly(t, lease, "already on hold", func() result { return deposits("hold", lease) })

	// Above the threshold: pending until a books_admin other than the asker approves.
	out = must(t, "keep", lease, "--amount", "600", "--reason", "New carpet in the bedroom")
	require.Contains(t, out, "pending until a books_admin")
	refusedCleanly(t, lease, "awaits approval", func() result { return deposits("release", lease) })
	refusedCleanly(t, lease, "someone else must approve", func() result { return deposits("approve", lease) })
	refusedCleanly(t, lease, "needs the books_admin role", func() result { return asUser(t, "sam", []string{"manager"}, "approve", lease) })
	r := asUser(t, "ben", []string{"books_admin"}, "approve", lease)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "Approved: $600.00 of lease "+lease+" is kept")

	r = deposits("release", lease, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var s deposit.State
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &s))
	require.Equal(t, deposit.StageClosed, s.Stage)
	require.Equal(t, deposit.OutcomePartiallyRefunded, s.Outcome)
	require.EqualValues(t, 90000, s.KeptCents)
	require.EqualValues(t, 10000, s.RefundCents)
	require.Equal(t, "ben", s.Kept[1].ApprovedBy)

	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1 AND amount_in_cents = 10000 AND kept_cents = 90000", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'settle' AND actor = 'depositflow'", lease))
	mails := waitMail(t, lease, 4)
	refund := mails[len(mails)-1]
	require.Equal(t, "Your deposit refund of $100.00 has been issued", refund.Subject)
	require.Contains(t, refund.Text, "Kept: Burn mark on the counter")
	require.Contains(t, refund.Text, "Kept: New carpet in the bedroom")
	require.Contains(t, refund.HTML, "Kept: New carpet in the bedroom")

	// Acting on a closed lease, or one that does not exist.
	refusedCleanly(t, lease, "is closed", func() result { return deposits("extend", lease) })
	refusedWith(t, "has no deposit workflow", "keep", "L-nope", "--amount", "1", "--reason", "x")

	// Every action, accepted or refused, is in the audit log with its actor and role.
	out = must(t, "audit", lease)
	for _, want := range []string{"keep", "only $700.00 is held", "cents take one or two digits", "approve", "ben", "books_admin", "settle"} {
		require.Contains(t, out, want)
	}
	var rows []struct {
		Actor, Role, Action string
		Accepted            bool
	}
	require.NoError(t, json.Unmarshal([]byte(must(t, "audit", lease, "-o", "json")), &rows))
	accepted, refusedN := 0, 0
	for _, row := range rows {
		if row.Accepted {
			accepted++
		} else {
			refusedN++
		}
	}
	require.GreaterOrEqual(t, refusedN, 10)
	require.GreaterOrEqual(t, accepted, 9)
	recordHistory(t, lease, "decisions_keep_approve_extend_hold_release")
}

// The exit code for an unreachable database is 2, and nothing is sent to the workflow.
func TestDecisionNeedsTheDatabase(t *testing.T) {
	cmd := exec.Command(bin, "extend", "L-x")
	cmd.Env = append(append([]string(nil), cliEnv...), "DATABASE_URL=postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode(), "%s", out)
	require.True(t, strings.Contains(string(out), "cannot reach the database"), "%s", out)
}
