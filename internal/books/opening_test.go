package books_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/pgcluster"
)

// The books open balanced: facts written before the journal existed
// (schema 14, the one before the journal; the queries this test writes
// with are today's, which need 014's columns) are posted by migration 015
// as one opening entry per lease, after which the trial balance balances,
// the liability report ties, and the next fact posts only its own lines.
func TestBooksOpenBalancedOnExistingFacts(t *testing.T) {
	url, err := pgcluster.CreateDatabase(ctx, pool.Config().ConnString(), "books_opening")
	require.NoError(t, err)
	old, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer old.Close()
	_, to, err := db.MigrateTo(ctx, old, 14)
	require.NoError(t, err)
	require.EqualValues(t, 14, to)

	q := db.New(old)
	require.NoError(t, q.UpsertProperty(ctx, "legacy"))
	require.NoError(t, q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: "legacy", UnitID: "1"}))
	lease := func(id string, cents int64) int64 {
		r, err := q.CreateResident(ctx, db.CreateResidentParams{Email: id + "@legacy.example", Name: id})
		require.NoError(t, err)
		// In SQL of its own: today's queries return the columns later
		// migrations add to leases and payments.
		_, err = old.Exec(ctx, `INSERT INTO leases (lease_id, property_id, unit_id, resident_id, requested_cents, assess_for_seconds, release_after_seconds)
			VALUES ($1, 'legacy', '1', $2, $3, 60, 120)`, id, r.ResidentID, cents)
		require.NoError(t, err)
		return r.ResidentID
	}
	// Payments and charges as schema 14 takes them: today's queries
	// return columns added since (017's transfer_id, open_invoice_id).
	pay := func(id string, resident, cents int64, ref string) {
		_, err := old.Exec(ctx, `INSERT INTO payments (lease_id, resident_id, amount_in_cents, transaction_date, reference, created_by)
			VALUES ($1, $2, $3, $4, $5, 'pms')`, id, resident, cents, day("2025-06-01"), ref)
		require.NoError(t, err)
	}
	charge := func(id string, resident int64, code string, cents int64) {
		_, err := old.Exec(ctx, `INSERT INTO charges (lease_id, resident_id, charge_code_id, amount_in_cents, description, created_by,
			idempotency_key, origin, approval) VALUES ($1, $2, $3, $4, $3, 'maria', $1 || '/' || $3, 'user', 'none')`, id, resident, code, cents)
		require.NoError(t, err)
	}
	a := lease("OLD-1", 100000)
	charge("OLD-1", a, "DEPOSIT", 100000)
	pay("OLD-1", a, 60000, "A1")
	b := lease("OLD-2", 80000)
	pay("OLD-2", b, 80000, "B1")
	pay("OLD-2", b, 5000, "B2")
	_, err = old.Exec(ctx, `UPDATE payments SET returned_at = now(), return_reason = 'nsf', returned_by = 'pms' WHERE lease_id = 'OLD-2' AND reference = 'B2'`)
	require.NoError(t, err)
	charge("OLD-2", b, "NSF_FEE", 2500)
	charge("OLD-2", b, "CLEANING", 10000)
	charge("OLD-2", b, "CREDIT", 1500)

	_, to, err = db.Migrate(ctx, old)
	require.NoError(t, err)
	require.GreaterOrEqual(t, to, int32(15))

	og := &gateway.Gateway{DB: dbOf(old), Temporal: gw.Temporal}
	check := func(held int64) {
		t.Helper()
		tb, err := og.TrialBalance(ctx, booksAdmin, "legacy", "")
		require.NoError(t, err)
		require.True(t, tb.Balanced, "%+v", tb)
		l, err := og.Liability(ctx, booksAdmin, "legacy", "")
		require.NoError(t, err)
		require.True(t, l.Ties, "%+v", l.Differences)
		require.Equal(t, held, l.TotalHeldCents)
		require.Equal(t, held, -balance(tb, "security_deposit_liability"))
	}
	// 600.00 + 800.00 received (the returned 50.00 is not), 15.00 credited.
	check(60000 + 80000 + 1500)
	var n int
	require.NoError(t, old.QueryRow(ctx, "SELECT count(*) FROM journal_entries WHERE event = 'opening_balance' AND property_id = 'legacy'").Scan(&n))
	require.Equal(t, 2, n, "one opening entry per lease with money")
	require.NoError(t, old.QueryRow(ctx, "SELECT count(*) FROM property_accounts WHERE property_id = 'legacy'").Scan(&n))
	require.Equal(t, 10, n, "the property has its chart")

	// The next fact posts its own entry.
	pay("OLD-1", a, 40000, "A2")
	check(60000 + 40000 + 80000 + 1500)
	require.NoError(t, old.QueryRow(ctx, "SELECT count(*) FROM journal_entries WHERE lease_id = 'OLD-1' AND event = 'payment_received'").Scan(&n))
	require.Equal(t, 1, n)
}
