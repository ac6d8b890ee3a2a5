package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/internal/books"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/mailsink"
	"github.com/depositflow/depositflow/worker"
	"github.com/depositflow/depositflow/workflows"
)

// The trust books end to end, through the CLI, the API (held to
// api/openapi.yaml) and the real worker: a lease paid, its receipt banked
// by a deposit batch, a keep, the settlement and the refund paid. The
// liability report ties at each step, the trial balance balances, the
// journal exports as CSV, and a bank statement missing the refund cheque
// and showing a fee the books lack is reconciled with both reported.
func TestTrustBooks(t *testing.T) {
	lease := "L-e2e-trust"
	today := time.Now().UTC().Format(time.DateOnly)
	must(t, "lease", "start", lease, "--property", "books-elm", "--unit", "1A", "--amount", "1,000",
		"--tenant-email", "di@example.com", "--tenant-name", "Di Reyes", "--assess-for", "2s", "--release-after", "1h")
	must(t, "payment", "record", lease, "--amount", "1000", "--ref", "CHK-B1", "--date", today)
	require.Contains(t, must(t, "property", "set", "books-elm", "--unclaimed-after-days", "30"), "refunds unpaid after 30 days are flagged")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM properties WHERE property_id = 'books-elm' AND unclaimed_after_days = 30"))

	liability := func() books.Liability {
		t.Helper()
		var l books.Liability
		require.NoError(t, json.Unmarshal([]byte(must(t, "books", "liability", "--property", "books-elm", "-o", "json")), &l))
		require.True(t, l.Ties, "%+v", l)
		require.Equal(t, l.TotalHeldCents, l.LiabilityBalanceCents)
		return l
	}
	trial := func() books.TrialBalance {
		t.Helper()
		var tb books.TrialBalance
		require.NoError(t, json.Unmarshal([]byte(must(t, "books", "trial-balance", "--property", "books-elm", "-o", "json")), &tb))
		require.True(t, tb.Balanced, "%+v", tb)
		require.Equal(t, tb.TotalDebitCents, tb.TotalCreditCents)
		return tb
	}
	account := func(tb books.TrialBalance, name string) int64 {
		for _, a := range tb.Accounts {
			if a.Account == name {
				return a.DebitCents - a.CreditCents
			}
		}
		return 0
	}

	l := liability()
	require.EqualValues(t, 100000, l.TotalHeldCents)
	require.Len(t, l.Leases, 1)
	require.Equal(t, lease, l.Leases[0].LeaseID)
	require.EqualValues(t, 100000, l.Leases[0].HeldCents)
	require.Contains(t, must(t, "books", "liability", "--property", "books-elm"), "Ties")
	rows, err := csv.NewReader(strings.NewReader(must(t, "books", "liability", "--property", "books-elm", "-o", "csv"))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, []string{"property_id", "currency", "lease_id", "tenant_name", "stage", "held", "liability", "difference"}, rows[0])
	rows[1][4] = "" // the stage the workflow mirrors, a moment after the payment
	require.Equal(t, []string{"books-elm", "USD", lease, "Di Reyes", "", "1000.00", "1000.00", "0.00"}, rows[1])
	require.EqualValues(t, 100000, account(trial(), books.UndepositedFunds))

	out := must(t, "books", "deposit-batch", "--property", "books-elm", "--date", today, "--reference", "DEP-ELM-1")
	require.Contains(t, out, "1 receipt(s), $1,000.00")
	require.Contains(t, must(t, "books", "deposit-batch", "--property", "books-elm", "--date", today, "--reference", "DEP-ELM-1"), "already recorded")
	tb := trial()
	require.EqualValues(t, 100000, account(tb, books.TrustBank))
	require.Zero(t, account(tb, books.UndepositedFunds))

	must(t, "moveout", lease, "--date", now())
	require.Eventually(t, func() bool { return status(t, lease).Stage == deposit.StageReleasePending }, 30*time.Second, 200*time.Millisecond)
	must(t, "keep", lease, "--amount", "150", "--reason", "Broken blind")
	must(t, "release", lease)
	s := waitClosed(t, lease)
	require.EqualValues(t, 85000, s.RefundCents)
	l = liability()
	require.Zero(t, l.TotalHeldCents, "nothing is held after the settlement")
	tb = trial()
	require.EqualValues(t, -85000, account(tb, books.RefundsPayable))
	require.EqualValues(t, -15000, account(tb, books.DamageIncome))

	refund := count(t, "SELECT refund_id FROM refunds WHERE lease_id = $1", lease)
	id := strconv.FormatInt(refund, 10)
	// A viewer reads the books but does not write them.
	r := asUser(t, "vic-books", []string{"viewer"}, "books", "trial-balance", "--property", "books-elm")
	require.Equal(t, 0, r.code, r.stderr)
	r = asUser(t, "vic-books", []string{"viewer"}, "books", "refund-paid", id, "--reference", "CHK-R1")
	require.Equal(t, 3, r.code, r.stderr)
	require.Contains(t, r.stderr, "books_admin")
	out = must(t, "books", "refund-paid", id, "--reference", "CHK-R1", "--paid-on", today)
	require.Contains(t, out, "$850.00, paid on "+today+" under CHK-R1")
	tb = trial()
	require.Zero(t, account(tb, books.RefundsPayable))
	require.EqualValues(t, 15000, account(tb, books.TrustBank), "what was kept stays in the bank")
	liability()

	// The journal export an accountant imports.
	records, err := csv.NewReader(strings.NewReader(must(t, "books", "journal", "--property", "books-elm", "--from", today, "--to", today, "-o", "csv"))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, books.JournalColumns, records[0])
	require.Greater(t, len(records), 8)
	events := map[string]bool{}
	for _, rec := range records[1:] {
		events[rec[9]] = true
	}
	// (deposit_charged posts nothing when the payment was recorded before
	// the workflow charged the deposit: nothing was left to bill.)
	for _, e := range []string{"payment_received", "deposit_batch", "settlement", "refund_paid"} {
		require.True(t, events[e], "%s in %v", e, events)
	}

	// The bank shows the deposit and a fee; the refund cheque is not cashed yet.
	statement := filepath.Join(t.TempDir(), "statement.csv")
	require.NoError(t, os.WriteFile(statement, []byte("date,amount,reference,description\n"+
		today+",1000.00,DEP-ELM-1,Deposit\n"+
		today+",-12.50,,Service charge\n"), 0o600))
	watchContract(t)
	r = deposits("books", "reconcile", "--property", "books-elm", "--statement", statement)
	require.Equal(t, 1, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "1 line(s) matched")
	require.Contains(t, r.stdout, "Service charge")
	require.Contains(t, r.stdout, "CHK-R1")
	require.Contains(t, r.stderr, "1 statement line(s) not in the books, 1 movement(s) not on the statement")

	must(t, "books", "aging", "--property", "books-elm")
	must(t, "books", "unclaimed", "-o", "json")
	must(t, "books", "interest-report", "--year", strconv.Itoa(time.Now().Year()), "-o", "json")
}

// The books' daily pass on the real server: `deposits setup` made its
// Schedule, and triggered now it credits the interest of a Massachusetts
// lease whose first anniversary is today (its start and payment dated a
// year back in the database), emails the tenant, and the liability report
// still ties with the interest in it.
func TestBooksDailyPassOnTheServer(t *testing.T) {
	ctx := context.Background()
	h := temporal.ScheduleClient().GetHandle(ctx, workflows.BooksScheduleID)
	desc, err := h.Describe(ctx)
	require.NoError(t, err)
	require.Len(t, desc.Schedule.Spec.Calendars, 1, "daily at %d:00 UTC", worker.BooksDailyAt)

	lease := "L-e2e-interest"
	must(t, "property", "set", "books-cedar", "--jurisdiction", "US-MA", "--building-units", "10")
	must(t, "lease", "start", lease, "--property", "books-cedar", "--unit", "3C", "--amount", "1,000",
		"--tenant-email", "ed@example.com", "--tenant-name", "Ed Moss", "--assess-for", "1h", "--release-after", "2h")
	must(t, "payment", "record", lease, "--amount", "1000", "--ref", "CHK-I1")
	_, err = pool.Exec(ctx, "UPDATE leases SET starts_on = current_date - interval '1 year' WHERE lease_id = $1", lease)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE payments SET transaction_date = current_date - interval '1 year' WHERE lease_id = $1", lease)
	require.NoError(t, err)

	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	require.Eventually(t, func() bool {
		return count(t, "SELECT count(*) FROM interest_accruals WHERE lease_id = $1", lease) == 1
	}, 60*time.Second, 250*time.Millisecond, "the pass credited no interest")
	require.EqualValues(t, 5000, count(t, "SELECT amount_cents FROM interest_accruals WHERE lease_id = $1", lease), "5% of 1,000.00 for a year")
	_, err = sink.WaitFor(30*time.Second, func(m mailsink.Message) bool {
		return strings.Contains(string(m.Raw), lease) && strings.Contains(string(m.Raw), "credited to your security deposit")
	})
	require.NoError(t, err)

	var l books.Liability
	require.NoError(t, json.Unmarshal([]byte(must(t, "books", "liability", "--property", "books-cedar", "-o", "json")), &l))
	require.True(t, l.Ties, "%+v", l)
	require.EqualValues(t, 105000, l.TotalHeldCents)
	var rep gateway.InterestReport
	require.NoError(t, json.Unmarshal([]byte(must(t, "books", "interest-report", "--year", strconv.Itoa(time.Now().UTC().Year()), "--property", "books-cedar", "-o", "json")), &rep))
	require.Len(t, rep.Tenants, 1)
	require.EqualValues(t, 5000, rep.Tenants[0].InterestCents)
	require.Equal(t, "ed@example.com", rep.Tenants[0].Email)
}
