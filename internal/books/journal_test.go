package books_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/internal/books"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/money"
)

// The database refuses an entry whose debits and credits differ (at
// commit), and any change to an entry or line once posted.
func TestJournalRefusesUnbalancedAndPostedChanges(t *testing.T) {
	w := newWorld(t, "constraint", "NONE")
	ana := w.lease("C-1", day("2026-01-05"), 100000)
	w.pay("C-1", ana, 100000, "CHK-1", day("2026-01-06"))

	// One line, or two that differ: refused when the transaction commits.
	for _, lines := range [][][2]int64{{{500, 0}}, {{500, 0}, {0, 499}}} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var entry int64
			if err := tx.QueryRow(ctx, `INSERT INTO journal_entries (property_id, currency, lease_id, event, source, entry_date)
				VALUES ('constraint', 'USD', 'C-1', 'correction', 'test:unbalanced', '2026-01-07') RETURNING entry_id`).Scan(&entry); err != nil {
				return err
			}
			accounts := []string{"undeposited_funds", "security_deposit_liability"}
			for i, l := range lines {
				if _, err := tx.Exec(ctx, `INSERT INTO journal_lines (entry_id, property_id, account, lease_id, debit_cents, credit_cents)
					VALUES ($1, 'constraint', $2, 'C-1', $3, $4)`, entry, accounts[i], l[0], l[1]); err != nil {
					return err
				}
			}
			return nil
		})
		var pe *pgconn.PgError
		require.ErrorAs(t, err, &pe, "lines %v", lines)
		require.Equal(t, "journal_entry_balanced", pe.ConstraintName, pe.Message)
		require.Contains(t, pe.Message, "is not balanced")
	}
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM journal_entries WHERE source = 'test:unbalanced'").Scan(&n))
	require.Zero(t, n, "nothing of a refused entry is left")

	// A balanced entry written by hand is accepted...
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `WITH e AS (INSERT INTO journal_entries (property_id, currency, lease_id, event, source, entry_date)
				VALUES ('constraint', 'USD', 'C-1', 'correction', 'test:balanced', '2026-01-07') RETURNING entry_id)
			INSERT INTO journal_lines (entry_id, property_id, account, lease_id, debit_cents, credit_cents)
			SELECT entry_id, 'constraint', a, 'C-1', d, c FROM e, (VALUES ('undeposited_funds', 1, 0), ('security_deposit_liability', 0, 1)) v(a, d, c)`)
		return err
	}))
	// ...and once posted, no entry or line can be updated or deleted.
	for _, sql := range []string{
		"UPDATE journal_lines SET debit_cents = debit_cents + 1 WHERE lease_id = 'C-1'",
		"DELETE FROM journal_lines WHERE lease_id = 'C-1'",
		"UPDATE journal_entries SET memo = 'x' WHERE lease_id = 'C-1'",
		"DELETE FROM journal_entries WHERE lease_id = 'C-1'",
		"TRUNCATE journal_lines CASCADE",
	} {
		_, err := pool.Exec(ctx, sql)
		require.ErrorContains(t, err, "the journal is immutable", sql)
	}
	// The payment posted exactly one entry of its own, balanced.
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM journal_entries WHERE lease_id = 'C-1' AND event = 'payment_received'`).Scan(&n))
	require.Equal(t, 1, n)
}

// A lease through payment, a deposit batch, a deduction, a keep, the
// settlement and the refund paid: the trial balance balances and the
// liability report ties at every step; after the settlement nothing is
// held; the refund paid leaves the trust bank. The journal export parses
// as CSV with the documented columns, each entry's debits equal to its
// credits.
func TestLeaseThroughTheBooks(t *testing.T) {
	w := newWorld(t, "lifecycle", "NONE")
	steps := []struct {
		name string
		do   func()
		held int64
	}{}
	var ana int64
	steps = append(steps,
		struct {
			name string
			do   func()
			held int64
		}{"lease", func() { ana = w.lease("LC-1", day("2026-02-01"), 150000) }, 0},
		struct {
			name string
			do   func()
			held int64
		}{"payment", func() { w.pay("LC-1", ana, 150000, "CHK-100", day("2026-02-02")) }, 150000},
		struct {
			name string
			do   func()
			held int64
		}{"batch", func() {
			out, err := gw.DepositBatch(ctx, booksAdmin, gateway.BatchIn{PropertyID: "lifecycle", Date: "2026-02-03", Reference: "DEP-0001"})
			require.NoError(t, err)
			require.Len(t, out.Batches, 1)
			require.Equal(t, int64(150000), out.Batches[0].TotalCents)
			again, err := gw.DepositBatch(ctx, booksAdmin, gateway.BatchIn{PropertyID: "lifecycle", Date: "2026-02-03", Reference: "DEP-0001"})
			require.NoError(t, err)
			require.True(t, again.Batches[0].Again, "the same batch again moves nothing")
			require.Equal(t, out.Batches[0].BatchID, again.Batches[0].BatchID)
		}, 150000},
		struct {
			name string
			do   func()
			held int64
		}{"cleaning", func() { w.charge("LC-1", ana, "CLEANING", 20000) }, 150000},
		struct {
			name string
			do   func()
			held int64
		}{"keep", func() { w.keep("LC-1", 10000) }, 150000},
		struct {
			name string
			do   func()
			held int64
		}{"settle", func() {
			r := w.moveOutAndSettle("LC-1", day("2026-03-01"), day("2026-03-05"))
			require.Len(t, r.RefundIDs, 1)
		}, 0},
		struct {
			name string
			do   func()
			held int64
		}{"refund paid", func() {
			var id int64
			require.NoError(t, pool.QueryRow(ctx, "SELECT refund_id FROM refunds WHERE lease_id = 'LC-1'").Scan(&id))
			out, err := gw.MarkRefundPaid(ctx, booksAdmin, gateway.RefundPaidIn{RefundID: id, PaidOn: "2026-03-06", Reference: "CHK-9001"})
			require.NoError(t, err)
			require.Equal(t, int64(120000), out.AmountCents)
		}, 0},
	)
	for _, s := range steps {
		s.do()
		tb, err := gw.TrialBalance(ctx, booksAdmin, "lifecycle", "")
		require.NoError(t, err)
		require.True(t, tb.Balanced, "after %s: %+v", s.name, tb)
		require.Equal(t, tb.TotalDebitCents, tb.TotalCreditCents, "after %s", s.name)
		l, err := gw.Liability(ctx, booksAdmin, "lifecycle", "")
		require.NoError(t, err)
		require.True(t, l.Ties, "after %s: %+v", s.name, l.Differences)
		require.Equal(t, s.held, l.TotalHeldCents, "after %s", s.name)
		require.Equal(t, s.held, l.LiabilityBalanceCents, "after %s", s.name)
		require.Equal(t, s.held, -balance(tb, books.SecurityDepositLiability), "after %s", s.name)
	}
	// As the books stood before any of it was posted: nothing, and tied.
	before, err := gw.Liability(ctx, booksAdmin, "lifecycle", "2000-01-01")
	require.NoError(t, err)
	require.True(t, before.Ties)
	require.Zero(t, before.TotalHeldCents)
	require.Empty(t, before.Leases)
	_, err = gw.Liability(ctx, booksAdmin, "lifecycle", "01/02/2026")
	require.True(t, gateway.IsKind(err, gateway.Invalid), "%v", err)

	tb, err := gw.TrialBalance(ctx, booksAdmin, "lifecycle", "")
	require.NoError(t, err)
	// 1500 in, 1200 refunded out: 300 stays in the bank as income (200
	// cleaning, 100 kept).
	require.Equal(t, int64(30000), balance(tb, books.TrustBank))
	require.Equal(t, int64(-30000), balance(tb, books.DamageIncome))
	require.Zero(t, balance(tb, books.RefundsPayable))
	require.Zero(t, balance(tb, books.UndepositedFunds))
	require.Zero(t, balance(tb, books.TenantReceivable))

	// The journal export.
	lines, err := gw.Journal(ctx, booksAdmin, "lifecycle", "2026-01-01", "2026-12-31")
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, books.WriteJournalCSV(&b, lines))
	records, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	require.Equal(t, books.JournalColumns, records[0])
	require.Equal(t, []string{"entry_id", "date", "property_id", "currency", "account_number", "account_name",
		"debit", "credit", "lease_id", "event", "source", "memo", "posted_at"}, records[0], "the columns docs/books.md documents")
	require.Len(t, records, len(lines)+1)
	col := map[string]int{}
	for i, c := range records[0] {
		col[c] = i
	}
	perEntry := map[string]int64{}
	events := map[string]bool{}
	for _, r := range records[1:] {
		require.Len(t, r, len(books.JournalColumns))
		require.True(t, (r[col["debit"]] == "") != (r[col["credit"]] == ""), "a line has a debit or a credit: %v", r)
		if r[col["debit"]] != "" {
			c, err := money.ParseIn("USD", r[col["debit"]])
			require.NoError(t, err)
			perEntry[r[col["entry_id"]]] += c
		} else {
			c, err := money.ParseIn("USD", r[col["credit"]])
			require.NoError(t, err)
			perEntry[r[col["entry_id"]]] -= c
		}
		require.Regexp(t, `^\d{4}-\d{2}-\d{2}$`, r[col["date"]])
		require.Equal(t, "LC-1", r[col["lease_id"]])
		events[r[col["event"]]] = true
	}
	for entry, net := range perEntry {
		require.Zero(t, net, "entry %s balances in the export", entry)
	}
	for _, e := range []string{"deposit_charged", "payment_received", "deposit_batch", "deduction_charged", "settlement", "refund_paid"} {
		require.True(t, events[e], "the export has a %s entry: %v", e, events)
	}
	require.Contains(t, strings.Join(records[1], ","), "lifecycle")
}

// A bank statement with one line the books lack (a bank fee) and missing
// one the books have (a refund cheque not cashed yet): both are reported,
// the rest matched.
func TestReconcileReportsBothWays(t *testing.T) {
	w := newWorld(t, "bank", "NONE")
	a := w.lease("BK-1", day("2026-04-01"), 100000)
	b := w.lease("BK-2", day("2026-04-01"), 80000)
	w.pay("BK-1", a, 100000, "CHK-1", day("2026-04-02"))
	w.pay("BK-2", b, 80000, "CHK-2", day("2026-04-02"))
	_, err := gw.DepositBatch(ctx, booksAdmin, gateway.BatchIn{PropertyID: "bank", Date: "2026-04-03", Reference: "DEP-APR-1"})
	require.NoError(t, err)
	w.moveOutAndSettle("BK-2", day("2026-04-20"), day("2026-04-25"))
	var refund int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT refund_id FROM refunds WHERE lease_id = 'BK-2'").Scan(&refund))
	_, err = gw.MarkRefundPaid(ctx, booksAdmin, gateway.RefundPaidIn{RefundID: refund, PaidOn: "2026-04-26", Reference: "CHK-5001"})
	require.NoError(t, err)

	statement := "Date,Amount,Reference,Description\n" +
		"2026-04-06,1800.00,DEP-APR-1,Deposit\n" + // the batch, credited three days later
		"2026-04-30,-15.00,,Monthly service fee\n" // not in the books
	// (cheque CHK-5001 of 800.00 has not been cashed: not on the statement)
	lines, err := books.ParseStatement(strings.NewReader(statement), "USD")
	require.NoError(t, err)
	r, err := gw.ReconcileStatement(ctx, booksAdmin, gateway.ReconcileIn{PropertyID: "bank", Lines: lines})
	require.NoError(t, err)
	require.False(t, r.Reconciled)
	require.Len(t, r.Matched, 1)
	require.Equal(t, "deposit_batch", r.Matched[0].Journal.Event)
	require.Len(t, r.NotInBooks, 1)
	require.Equal(t, int64(-1500), r.NotInBooks[0].AmountCents)
	require.Equal(t, 3, r.NotInBooks[0].Line)
	require.Len(t, r.NotOnStatement, 1)
	require.Equal(t, int64(-80000), r.NotOnStatement[0].AmountCents)
	require.Equal(t, "CHK-5001", r.NotOnStatement[0].Reference)
	require.Equal(t, "refund_paid", r.NotOnStatement[0].Event)
	// The same statement again is the same reconciliation.
	again, err := gw.ReconcileStatement(ctx, booksAdmin, gateway.ReconcileIn{PropertyID: "bank", Lines: lines})
	require.NoError(t, err)
	require.Equal(t, r.ID, again.ID)

	// A viewer of another property may not read this one's books, and a
	// viewer may not write them; the refusals are audited and change nothing.
	viewer := gateway.Principal{Kind: gateway.KindUser, Name: "vi", Roles: []string{"viewer"}, Properties: []string{"elsewhere"}}
	_, err = gw.Liability(ctx, viewer, "bank", "")
	require.True(t, gateway.IsKind(err, gateway.Forbidden), "%v", err)
	_, err = gw.DepositBatch(ctx, viewer, gateway.BatchIn{PropertyID: "bank", Date: "2026-04-30"})
	require.True(t, gateway.IsKind(err, gateway.Forbidden), "%v", err)
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM deposit_batches WHERE property_id = 'bank'").Scan(&n))
	require.Equal(t, 1, n)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE principal = 'user:vi' AND NOT accepted
		AND action IN ('books.read', 'books.deposit_batch') AND request->>'property_id' = 'bank'`).Scan(&n))
	require.Equal(t, 2, n, "both refusals are in the audit log")
}

// balance is an account's balance in a trial balance, a debit positive.
func balance(tb books.TrialBalance, account string) int64 {
	var n int64
	for _, a := range tb.Accounts {
		if a.Account == account {
			n += a.DebitCents - a.CreditCents
		}
	}
	return n
}
