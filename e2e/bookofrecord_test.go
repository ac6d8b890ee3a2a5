package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/depositflow/depositflow/internal/deposit"
)

// PostgreSQL is the book of record: a signal only wakes a lease's
// workflow, which reads the fact from the database.

// Whoever reaches Temporal directly cannot add money: a forged charge and a
// forged amendment (the signals the server sends, with invented IDs and
// amounts), and a real charge of another lease, move no money and are
// listed and counted.
func TestForgedSignalsMoveNoMoney(t *testing.T) {
	lease, other := "L-e2e-forged", "L-e2e-forged-other"
	for _, l := range []string{lease, other} {
		must(t, "lease", "start", l, "--property", "ash", "--unit", l, "--amount", "500", "--tenant-email", "fs@example.com",
			"--assess-for", "2s", "--release-after", "3s")
	}
	must(t, "payment", "record", lease, "--amount", "500", "--ref", "FS-1")
	must(t, "charge", "add", other, "--code", "CREDIT", "--amount", "50", "--description", "Goodwill", "--ref", "FS-C")
	var otherCharge int64
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT charge_id FROM charges WHERE lease_id = $1 AND charge_code_id = 'CREDIT'", other).Scan(&otherCharge))
	ignoredBefore := ignoredSignals(t)

	wid := "deposit-" + lease
	forge(t, wid, "charge", `{"charge_id":999999,"code":"CREDIT","category":"credit","amount_cents":100000000,"description":"a million"}`)
	forge(t, wid, "amend", `{"deposit_id":999999,"type":"cash","amount_cents":0,"payee_email":"mallory@example.com"}`)
	forge(t, wid, "charge", fmt.Sprintf(`{"charge_id":%d,"code":"CREDIT","category":"credit","amount_cents":5000,"description":"someone else's"}`, otherCharge))
	var s deposit.State
	require.Eventually(t, func() bool { s = status(t, lease); return len(s.IgnoredSignals) == 3 }, 20*time.Second, 100*time.Millisecond, "%+v", s.IgnoredSignals)
	require.Zero(t, s.CreditsCents)
	require.Empty(t, s.PayeeEmail)
	require.Contains(t, strings.Join(s.IgnoredSignals, "; "), "which lease "+lease+" does not have")
	require.Contains(t, must(t, "status", lease), "Ignored signal")
	require.Eventually(t, func() bool { return ignoredSignals(t) >= ignoredBefore+3 }, 10*time.Second, 200*time.Millisecond, "deposit_signals_ignored")

	must(t, "moveout", lease)
	s = waitClosed(t, lease)
	require.EqualValues(t, 50000, s.RefundCents, "the refund is what was paid, nothing a signal said")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1 AND amount_in_cents = 50000 AND recipient_email = 'fs@example.com'", lease))
	recordHistory(t, lease, "forged_signals_ignored")
}

// forge sends a signal as someone who can reach Temporal would, with the
// temporal CLI (`temporal workflow signal`, .tools/temporal: make dev and
// CI build it). Without it here, the SDK's client sends the same RPC with
// the same JSON; E2E_REQUIRE_TEMPORAL_CLI=1 (CI) makes its absence a failure.
func forge(t *testing.T, workflowID, name, input string) {
	t.Helper()
	cli, err := filepath.Abs(filepath.Join("..", ".tools", "temporal"))
	require.NoError(t, err)
	if _, err := os.Stat(cli); err == nil {
		out, err := exec.Command(cli, "workflow", "signal", "--address", temporalAddress, "--namespace", temporalNamespace,
			"--workflow-id", workflowID, "--name", name, "--input", input).CombinedOutput()
		require.NoError(t, err, "temporal workflow signal: %s", out)
		return
	}
	require.Empty(t, os.Getenv("E2E_REQUIRE_TEMPORAL_CLI"), "the temporal CLI is not at %s", cli)
	t.Logf("no temporal CLI at %s: signalling with the SDK's client", cli)
	var arg map[string]any
	require.NoError(t, json.Unmarshal([]byte(input), &arg))
	require.NoError(t, temporal.SignalWorkflow(context.Background(), workflowID, "", name, arg))
}

func ignoredSignals(t *testing.T) float64 {
	t.Helper()
	resp, err := http.Get(metricsURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return metric(string(b), "deposit_signals_ignored_total", "")
}

// The move-out belongs to the lease: a tenant on two leases (a renewal)
// moves out of one, and the other stays held through a reconcile pass, even
// when the PMS also writes its own resident field.
func TestTenantOnTwoLeasesMovesOutOfOne(t *testing.T) {
	url := startServe(t)
	key := newKey(t, "pms-larch", "larch")
	expect(t, call(t, "POST", url+"/v1/residents", key, map[string]any{"resident_id": "R-two", "property_id": "larch", "email": "two@example.com", "name": "Tu"}), 200)
	for _, l := range []string{"L-e2e-old", "L-e2e-renewal"} {
		expect(t, call(t, "POST", url+"/v1/leases", key, map[string]any{"lease_id": l, "property_id": "larch", "unit_id": "1",
			"deposit_amount_in_cents": 30000, "resident_ids": []string{"R-two"}, "assess_for_seconds": 3600, "release_after_seconds": 7200}), 201)
		expect(t, call(t, "POST", url+"/v1/leases/"+l+"/payments", key, map[string]any{"payment_id": "P-" + l, "amount_in_cents": 30000}), 201)
	}
	require.Eventually(t, func() bool { return status(t, "L-e2e-renewal").Stage == deposit.StageHeld }, 20*time.Second, 100*time.Millisecond)
	expect(t, call(t, "POST", url+"/v1/leases/L-e2e-old/move-out", key, map[string]any{}), 201)
	// The PMS writes its own field on the resident too, as PMSs do.
	_, err := pool.Exec(context.Background(), "UPDATE residents SET realized_move_out_date = CURRENT_DATE WHERE external_id = 'R-two'")
	require.NoError(t, err)
	must(t, "reconcile", "--local")
	must(t, "reconcile", "--local", "--full")
	require.Eventually(t, func() bool { return status(t, "L-e2e-old").Stage == deposit.StageAssessing }, 20*time.Second, 100*time.Millisecond)
	renewal := status(t, "L-e2e-renewal")
	require.Equal(t, deposit.StageHeld, renewal.Stage, "the renewal moved out with the old lease")
	require.True(t, renewal.MovedOutAt.IsZero())
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM leases WHERE lease_id = 'L-e2e-renewal' AND realized_move_out_at IS NOT NULL"))
}

// A settlement whose database facts differ from the workflow's view stops
// and says so, instead of paying; an admin settles it from the database.
func TestBooksDisagreeStopsTheSettlement(t *testing.T) {
	lease := "L-e2e-books"
	must(t, "lease", "start", lease, "--property", "beech", "--unit", "1", "--amount", "1,000", "--tenant-email", "bk@example.com",
		"--assess-for", "1h", "--release-after", "2h")
	must(t, "property", "set", "beech", "--manager-email", "pm@beech.example")
	must(t, "payment", "record", lease, "--amount", "1000", "--ref", "BK-1")
	must(t, "moveout", lease)
	must(t, "charge", "add", lease, "--code", "DAMAGE", "--amount", "120", "--description", "Door", "--ref", "BK-D")
	require.EqualValues(t, 12000, status(t, lease).DeductionsCents)
	// Someone edits the charge in the database behind the workflow's back.
	_, err := pool.Exec(context.Background(), "UPDATE charges SET amount_in_cents = 2000 WHERE lease_id = $1 AND charge_code_id = 'DAMAGE'", lease)
	require.NoError(t, err)

	must(t, "release", lease)
	var s deposit.State
	require.Eventually(t, func() bool { s = status(t, lease); return s.Stage == deposit.StageBooksDisagree }, 30*time.Second, 200*time.Millisecond, "stage %s", s.Stage)
	require.Contains(t, s.BooksDisagree, "deductions: workflow 12000, database 2000")
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1", lease), "nothing is paid while the books disagree")
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM settlements WHERE lease_id = $1", lease))
	require.Contains(t, must(t, "status", lease), "BOOKS DISAGREE")
	requireListed(t, lease, deposit.StageBooksDisagree)
	// The operator is alerted.
	require.Eventually(t, func() bool {
		for _, m := range mailFor(t, lease) {
			if strings.Contains(m.Header.Get("To"), "pm@beech.example") && strings.Contains(m.Text, "deductions: workflow 12000, database 2000") {
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond, "no alert to the manager")
	// Only an admin rechecks; the database is the book of record.
	notAllowedCleanly(t, lease, "needs the admin role", func() result { return deposits("books", "recheck", lease, "--rebuild") })
	r := asUser(t, "ada", []string{"admin"}, "books", "recheck", lease, "--rebuild")
	require.Equal(t, 0, r.code, r.stderr)
	s = waitClosed(t, lease)
	require.EqualValues(t, 2000, s.DeductionsCents)
	require.EqualValues(t, 98000, s.RefundCents)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM settlements WHERE lease_id = $1 AND deductions_cents = 2000 AND refund_cents = 98000", lease))
	require.Contains(t, must(t, "ledger", lease), "Conserved  yes")
	recordHistory(t, lease, "books_disagree_rebuild")
}

// A lease with enough facts to pass the server's continue-as-new suggestion
// (lowered for the tests: e2e_test.go) continues as new, and settles to the
// cent with every email sent once.
func TestLongLeaseContinuesAsNew(t *testing.T) {
	lease := "L-e2e-long"
	must(t, "lease", "start", lease, "--property", "yew", "--unit", "1", "--amount", "600", "--tenant-email", "long@example.com",
		"--assess-for", "3s", "--release-after", "4s")
	for i := 1; i <= 60; i++ {
		must(t, "payment", "record", lease, "--amount", "10", "--ref", fmt.Sprintf("LONG-%02d", i))
	}
	s := status(t, lease)
	var refs []string
	for _, p := range s.Payments {
		refs = append(refs, p.Reference)
	}
	require.EqualValues(t, 60000, s.PaidCents, "payments the workflow holds: %v", refs)
	require.Equal(t, deposit.StageHeld, s.Stage)
	require.Eventually(t, func() bool { return runs(t, "deposit-"+lease) > 1 }, 30*time.Second, 200*time.Millisecond, "the lease never continued as new")
	must(t, "charge", "add", lease, "--code", "CLEANING", "--amount", "33.33", "--description", "Windows", "--ref", "LONG-C")
	must(t, "moveout", lease)
	s = waitClosed(t, lease)
	require.EqualValues(t, 60000-3333, s.RefundCents)
	require.Len(t, s.Payments, 60)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1", lease))
	require.EqualValues(t, 60000-3333, count(t, "SELECT sum(amount_in_cents) FROM refunds WHERE lease_id = $1", lease))
	// Every email once: request, receipt, notice, refund.
	require.EqualValues(t, 4, count(t, "SELECT count(*) FROM email_outbox WHERE lease_id = $1", lease))
	require.Len(t, waitMail(t, lease, 4), 4)
	require.Contains(t, must(t, "ledger", lease), "Conserved  yes")
}

// runs counts a workflow's runs.
func runs(t *testing.T, wid string) int {
	t.Helper()
	resp, err := temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", wid),
	})
	require.NoError(t, err)
	return len(resp.GetExecutions())
}

// Late facts are never parked silently: a payment or charge sent to a
// settled lease is refused before it is recorded, with the settlement's
// date; one the PMS booked anyway (written straight to the database) is
// found by reconcile and followed up: the payment refunded, the charge
// invoiced, the tenant emailed, the books still conserved.
func TestLateFactsBecomeFollowUps(t *testing.T) {
	lease := "L-e2e-late"
	must(t, "lease", "start", lease, "--property", "hazel", "--unit", "1", "--amount", "300", "--tenant-email", "late@example.com",
		"--assess-for", "1s", "--release-after", "1s")
	must(t, "payment", "record", lease, "--amount", "300", "--ref", "LT-1")
	must(t, "moveout", lease, "--date", time.Now().UTC().Format(time.DateOnly))
	waitClosed(t, lease)
	settledOn := time.Now().UTC().Format(time.DateOnly)
	refusedWith(t, "was settled on "+settledOn, "payment", "record", lease, "--amount", "10", "--ref", "LT-LATE")
	refusedWith(t, "was settled on "+settledOn, "charge", "add", lease, "--code", "RENT", "--amount", "10", "--description", "late", "--ref", "LT-LATE")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM payments WHERE lease_id = $1", lease))

	// The PMS had booked them: they appear in the database by SQL.
	ctx := context.Background()
	_, err := pool.Exec(ctx, `INSERT INTO payments (lease_id, resident_id, amount_in_cents, transaction_date, reference, created_by)
		SELECT lease_id, resident_id, 2500, CURRENT_DATE, 'LT-PMS', 'pms' FROM leases WHERE lease_id = $1`, lease)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO charges (lease_id, resident_id, charge_code_id, amount_in_cents, description, created_by, origin)
		SELECT lease_id, resident_id, 'UTILITIES', 4550, 'Water, last month', 'pms', 'integration' FROM leases WHERE lease_id = $1`, lease)
	require.NoError(t, err)
	out := must(t, "reconcile", "--local")
	require.Contains(t, out, "followed up")
	require.Eventually(t, func() bool {
		return count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1 AND follows LIKE 'payment:%' AND amount_in_cents = 2500", lease) == 1 &&
			count(t, "SELECT count(*) FROM invoices WHERE lease_id = $1 AND follows LIKE 'charge:%' AND amount_due_in_cents = 4550", lease) == 1
	}, 30*time.Second, 200*time.Millisecond, "no follow-ups")
	var follow []string
	require.Eventually(t, func() bool {
		follow = nil
		for _, m := range mailFor(t, lease) {
			if strings.Contains(m.Header.Get("Message-Id"), "follow-up") {
				follow = append(follow, m.Subject)
			}
		}
		return len(follow) == 2
	}, 30*time.Second, 200*time.Millisecond, "follow-up emails: %v", follow)
	require.Contains(t, strings.Join(follow, "|"), "A refund of $25.00 after your deposit was settled")
	require.Contains(t, strings.Join(follow, "|"), "Invoice: $45.50 recorded after your deposit was settled")
	s := status(t, lease)
	require.Len(t, s.FollowUps, 2)
	require.Contains(t, must(t, "status", lease), "Follow-up")
	require.Contains(t, must(t, "ledger", lease), "Conserved  yes")
	// A second pass follows up nothing twice.
	must(t, "reconcile", "--local", "--full")
	require.EqualValues(t, 2, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM invoices WHERE lease_id = $1", lease))
}
