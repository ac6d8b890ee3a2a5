package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

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

// refusedCleanly checks that a refused action changed nothing (exit 1).
func refusedCleanly(t *testing.T, lease, want string, r func() result) {
	t.Helper()
	endedCleanly(t, lease, 1, want, r)
}

// notAllowedCleanly checks that an action refused for who asked (exit 3)
// changed nothing.
func notAllowedCleanly(t *testing.T, lease, want string, r func() result) {
	t.Helper()
	endedCleanly(t, lease, 3, want, r)
}

func endedCleanly(t *testing.T, lease string, code int, want string, r func() result) {
	t.Helper()
	before := quiet(t, lease)
	res := r()
	require.Equal(t, code, res.code, "want exit %d with %q; stdout: %s stderr: %s", code, want, res.stdout, res.stderr)
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
	// A viewer reads but does not decide: exit 3, nothing changed.
	notAllowedCleanly(t, lease, "needs the manager role", func() result { return asUser(t, "tia", []string{"viewer"}, "extend", lease) })
	require.Equal(t, lease, statusAs(t, "tia", lease).LeaseID)

	before := status(t, lease).ReleaseAt
	out = must(t, "extend", lease, "--days", "7")
	require.Contains(t, out, "moved to "+before.AddDate(0, 0, 7).Format(time.RFC3339))
	refusedCleanly(t, lease, "past the limit of 120 days", func() result { return deposits("extend", lease, "--days", "119") })
	refusedCleanly(t, lease, "extend by 1 to 120 days", func() result { return deposits("extend", lease, "--days", "200") })
	// The same decision sent again under its idempotency key is applied once.
	release := status(t, lease).ReleaseAt
	must(t, "extend", lease, "--days", "1", "--idempotency-key", "ext-once")
	must(t, "extend", lease, "--days", "1", "--idempotency-key", "ext-once")
	require.True(t, status(t, lease).ReleaseAt.Equal(release.AddDate(0, 0, 1)), "an extend sent twice under one key moved the date twice")

	out = must(t, "hold", lease)
	require.Contains(t, out, "is on hold")
	refusedCleanly(t, lease, "already on hold", func() result { return deposits("hold", lease) })

	// Above the threshold: pending until a books_admin other than the asker
	// approves, even though the asker is a books_admin too.
	out = must(t, "keep", lease, "--amount", "600", "--reason", "New carpet in the bedroom")
	require.Contains(t, out, "pending until a books_admin")
	refusedCleanly(t, lease, "awaits approval", func() result { return deposits("release", lease) })
	refusedCleanly(t, lease, "someone else must approve", func() result { return deposits("approve", lease) })
	notAllowedCleanly(t, lease, "needs the books_admin role", func() result { return asUser(t, "sam", []string{"manager"}, "approve", lease) })
	r := asUser(t, "ben", []string{"books_admin"}, "approve", lease)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "Approved on lease "+lease+": keep:")
	require.Contains(t, r.stdout, "$600.00 requested by e2e-manager: New carpet in the bedroom")

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
	// The keeps are in the book of record, with who asked and who approved.
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM keeps WHERE lease_id = $1 AND amount_in_cents = 60000 AND status = 'applied' AND requested_by = 'e2e-manager' AND decided_by = 'ben'", lease))
	mails := waitMail(t, lease, 4)
	refund := mails[len(mails)-1]
	require.Equal(t, "Your deposit refund of $100.00 has been issued", refund.Subject)
	require.Contains(t, refund.Text, "Kept: Burn mark on the counter")
	require.Contains(t, refund.Text, "Kept: New carpet in the bedroom")
	require.Contains(t, refund.HTML, "Kept: New carpet in the bedroom")

	// Acting on a closed lease, or one that does not exist.
	refusedCleanly(t, lease, "is closed", func() result { return deposits("extend", lease) })
	refusedWith(t, "lease L-nope does not exist", "keep", "L-nope", "--amount", "1", "--reason", "x")

	// Every action the server saw, accepted or refused, is in the audit log
	// under the person who signed in, from where. (A flag the CLI itself
	// refuses, such as an amount with three decimals, never reaches it.)
	out = must(t, "audit", lease)
	for _, want := range []string{"user:e2e-manager", "keep", "only $700.00 is held", "approve", "user:ben", "books_admin", "user:tia", "needs the manager role", "settle", "127.0.0.1"} {
		require.Contains(t, out, want)
	}
	var rows []deposit.AuditEntry
	require.NoError(t, json.Unmarshal([]byte(must(t, "audit", lease, "-o", "json")), &rows))
	accepted, refusedN := 0, 0
	for _, row := range rows {
		require.NotNil(t, row.Accepted, "a decision left under way: %+v", row)
		if *row.Accepted {
			accepted++
		} else {
			refusedN++
		}
	}
	require.GreaterOrEqual(t, refusedN, 8)
	require.GreaterOrEqual(t, accepted, 10)
	recordHistory(t, lease, "decisions_keep_approve_extend_hold_release")
}

// Separation of duties that cannot be split into small pieces: the
// threshold applies to the lease's total of money people take after the
// move-out, so three keeps of 200.00 under a 500.00 threshold leave the
// third waiting for approval; and a deduction a manager adds after the
// move-out counts toward the same total.
func TestThresholdCountsTheTotalNotEachAction(t *testing.T) {
	lease := "L-e2e-threshold"
	must(t, "lease", "start", lease, "--property", "spruce", "--unit", "2", "--amount", "1,000",
		"--tenant-email", "di@example.com", "--assess-for", "1h", "--release-after", "2h")
	must(t, "property", "set", "spruce", "--approval-threshold", "500.00")
	must(t, "payment", "record", lease, "--amount", "1000", "--ref", "S-1")
	must(t, "moveout", lease)
	require.Eventually(t, func() bool { return status(t, lease).Stage == deposit.StageAssessing }, 30*time.Second, 200*time.Millisecond)

	require.Contains(t, must(t, "keep", lease, "--amount", "200", "--reason", "Scratches, part 1"), "Kept $200.00")
	require.Contains(t, must(t, "keep", lease, "--amount", "200", "--reason", "Scratches, part 2"), "Kept $200.00")
	out := must(t, "keep", lease, "--amount", "200", "--reason", "Scratches, part 3")
	require.Contains(t, out, "pending until a books_admin")
	s := status(t, lease)
	require.EqualValues(t, 40000, s.KeptCents)
	require.Len(t, s.Pending, 1)
	require.EqualValues(t, 20000, s.Pending[0].AmountCents)

	// A deduction the manager adds now takes the total further: it waits too.
	out = must(t, "charge", "add", lease, "--code", "CLEANING", "--amount", "50", "--description", "Oven", "--ref", "OVEN-1")
	require.Contains(t, out, "approval threshold")
	require.Eventually(t, func() bool { return len(status(t, lease).Pending) == 2 }, 20*time.Second, 100*time.Millisecond)
	require.EqualValues(t, 0, status(t, lease).DeductionsCents, "a pending deduction does not count")

	// Another books_admin approves the keep and declines the charge.
	keep := status(t, lease).Pending[0].Item
	r := asUser(t, "flo", []string{"books_admin"}, "approve", lease, "--item", keep)
	require.Equal(t, 0, r.code, r.stderr)
	r = asUser(t, "flo", []string{"books_admin"}, "decline", lease, "--item", "charge:"+itoaE2E(status(t, lease).Pending[0].ID), "--reason", "No receipt")
	require.Equal(t, 0, r.code, r.stderr)
	s = status(t, lease)
	require.EqualValues(t, 60000, s.KeptCents)
	require.Empty(t, s.Pending)
	require.EqualValues(t, 0, s.DeductionsCents)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM charges WHERE lease_id = $1 AND approval = 'declined' AND decided_by = 'flo'", lease))
	require.EqualValues(t, 3, count(t, "SELECT count(*) FROM keeps WHERE lease_id = $1 AND status = 'applied'", lease))
	must(t, "release", lease)
	waitClosed(t, lease)
	recordHistory(t, lease, "threshold_total_keeps_charge_pending")
}

// Who signs in, and what they may see: a revoked or expired token is
// refused at once, a manager of one property sees another property's lease
// exactly as one that does not exist, and a refusal leaks no tenant.
func TestPeopleAndTheirScope(t *testing.T) {
	lease := "L-e2e-scope"
	must(t, "lease", "start", lease, "--property", "cedar", "--unit", "1", "--amount", "500", "--tenant-email", "eve@example.com")
	token, err := addUserScoped("gus", []string{"manager"}, "elm")
	require.NoError(t, err)
	gus := func(args ...string) result { return withEnv([]string{"DEPOSITS_TOKEN=" + token}, args...) }

	// Another property's lease answers exactly as one that does not exist.
	theirs, none := gus("status", lease), gus("status", "L-e2e-none")
	require.Equal(t, 1, theirs.code)
	require.Equal(t, strings.ReplaceAll(none.stderr, "L-e2e-none", lease), theirs.stderr)
	require.NotContains(t, theirs.stderr, "eve@example.com")
	notAllowedCleanly(t, lease, "may not act on property cedar", func() result {
		return gus("lease", "start", "L-e2e-scope-2", "--property", "cedar", "--unit", "2", "--amount", "5", "--tenant-email", "x@example.com")
	})
	r := gus("payment", "record", lease, "--amount", "5", "--ref", "G-1")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "lease "+lease+" does not exist")
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM payments WHERE lease_id = $1", lease))
	var listed []map[string]any
	require.NoError(t, json.Unmarshal([]byte(gus("list", "-o", "json").stdout), &listed))
	for _, l := range listed {
		require.NotEqual(t, lease, l["lease_id"], "a manager of elm lists a lease of cedar")
	}
	require.GreaterOrEqual(t, count(t, "SELECT count(*) FROM audit_log WHERE principal = 'user:gus' AND NOT accepted AND lease_id = $1", lease), int64(2))

	// Revoked: refused at once (exit 3), nothing changed.
	require.Equal(t, 0, gus("whoami").code)
	must(t, "user", "revoke", "gus")
	r = gus("whoami")
	require.Equal(t, 3, r.code, r.stderr)
	require.Contains(t, r.stderr, "unknown, expired or revoked")

	// Expired: the same.
	token, err = addUserScoped("hal", []string{"viewer"}, "cedar")
	require.NoError(t, err)
	require.Equal(t, 0, withEnv([]string{"DEPOSITS_TOKEN=" + token}, "status", lease).code)
	_, err = pool.Exec(context.Background(), "UPDATE user_tokens SET expires_at = now() - interval '1 second' WHERE user_id = (SELECT user_id FROM users WHERE name = 'hal')")
	require.NoError(t, err)
	r = withEnv([]string{"DEPOSITS_TOKEN=" + token}, "status", lease)
	require.Equal(t, 3, r.code, r.stderr)
	require.Contains(t, r.stderr, "unknown, expired or revoked")

	// Only a token's hash is stored.
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM user_tokens t WHERE strpos(t::text, $1) > 0", token))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM user_tokens WHERE token_hash = sha256(convert_to($1, 'UTF8'))", token))
}

// A decision sent straight to Temporal, past the server, with an invented
// name and role and no recorded request, moves nothing.
func TestForgedUpdateMovesNothing(t *testing.T) {
	lease := "L-e2e-forged-update"
	must(t, "lease", "start", lease, "--property", "oak", "--unit", "9", "--amount", "400", "--tenant-email", "fo@example.com",
		"--assess-for", "1h", "--release-after", "2h")
	must(t, "payment", "record", lease, "--amount", "400", "--ref", "F-1")
	must(t, "moveout", lease)
	require.Eventually(t, func() bool { return status(t, lease).Stage == deposit.StageAssessing }, 30*time.Second, 200*time.Millisecond)
	before := quiet(t, lease)
	for _, req := range []map[string]any{
		{"actor": "mallory", "role": "books_admin", "amount_cents": 40000, "reason": "mine now"},
		{"actor": "mallory", "role": "manager", "roles": []string{"manager"}, "request_id": 1, "amount_cents": 40000, "reason": "mine now"},
	} {
		h, err := temporal.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{
			WorkflowID: "deposit-" + lease, UpdateName: "keep", Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(context.Background(), nil)
		}
		require.Error(t, err, "a forged keep was accepted")
	}
	s := status(t, lease)
	require.Zero(t, s.KeptCents)
	require.Empty(t, s.Pending)
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM keeps WHERE lease_id = $1", lease))
	_ = before
}

// The CLI cannot reach the server: exit 2, and it says which server.
func TestServerUnreachable(t *testing.T) {
	r := withEnv([]string{"DEPOSITS_SERVER=http://127.0.0.1:1"}, "extend", "L-x")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "cannot reach the depositflow server at http://127.0.0.1:1")
}

// statusAs reads a lease's status as another person.
func statusAs(t *testing.T, name, lease string) deposit.State {
	t.Helper()
	var s deposit.State
	r := withEnv([]string{"DEPOSITS_TOKEN=" + users[name]}, "status", lease, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &s))
	return s
}

func itoaE2E(n int64) string { return strconv.FormatInt(n, 10) }
