package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/depositclient"
)

// seedLeases writes n leases of a prefix straight into the database, as
// the bench does (they have no workflows: they only exist to be listed),
// alternately of two properties, at stages held, assessing,
// release_pending (due in i%10 days) and closed, and removes them, with
// what refers to them, when the test ends. Their change-log rows go in
// the same transaction, so no reconcile pass starts workflows for them.
func seedLeases(t *testing.T, prefix string, n int, properties [2]string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, sql := range []string{
			`INSERT INTO properties (property_id) VALUES ($1), ($2) ON CONFLICT DO NOTHING`,
			`INSERT INTO units (property_id, unit_id) VALUES ($1, '1'), ($2, '1') ON CONFLICT DO NOTHING`,
		} {
			if _, err := tx.Exec(ctx, sql, properties[0], properties[1]); err != nil {
				return err
			}
		}
		var resident int64
		if err := tx.QueryRow(ctx, `INSERT INTO residents (email, name) VALUES ($1, 'Seeded') RETURNING resident_id`,
			strings.ToLower(prefix)+"@example.com").Scan(&resident); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO leases (lease_id, property_id, unit_id, resident_id, requested_cents, assess_for_seconds, release_after_seconds, stage, release_at)
			SELECT $1 || lpad(g::text, 4, '0'), (ARRAY[$3, $4])[g % 2 + 1], '1', $2, 100000, 259200, 1209600,
			       (ARRAY['held', 'assessing', 'release_pending', 'closed'])[g % 4 + 1],
			       CASE WHEN g % 4 = 2 THEN now() + (g % 10) * interval '1 day' END
			FROM generate_series(0, $5::int - 1) g`, prefix, resident, properties[0], properties[1], n)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM lease_changes WHERE lease_id LIKE $1 || '%'`, prefix)
		return err
	}))
	t.Cleanup(func() {
		// The journal is immutable and keeps the leases it posted for: this
		// seeded data is purged past its triggers, as only a test may.
		require.NoError(t, pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
			for _, sql := range []string{
				`SET LOCAL session_replication_role = replica`,
				`DELETE FROM journal_lines WHERE entry_id IN (SELECT entry_id FROM journal_entries WHERE lease_id LIKE $1 || '%') OR lease_id LIKE $1 || '%'`,
				`DELETE FROM journal_entries WHERE lease_id LIKE $1 || '%'`,
			} {
				args := []any{prefix}
				if strings.HasPrefix(sql, "SET") {
					args = nil
				}
				if _, err := tx.Exec(context.Background(), sql, args...); err != nil {
					return err
				}
			}
			return nil
		}))
		for _, sql := range []string{
			`DELETE FROM refunds WHERE lease_id LIKE $1 || '%'`,
			`DELETE FROM invoices WHERE lease_id LIKE $1 || '%'`,
			`DELETE FROM leases WHERE lease_id LIKE $1 || '%'`,
			`DELETE FROM lease_changes WHERE lease_id LIKE $1 || '%'`,
			`DELETE FROM residents WHERE email = lower($1) || '@example.com'`,
		} {
			_, err := pool.Exec(context.Background(), sql, prefix)
			require.NoError(t, err)
		}
	})
}

// addSeededLease writes one more lease as seedLeases does, as a PMS would
// while a client pages.
func addSeededLease(ctx context.Context, id, prefix, property string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO leases (lease_id, property_id, unit_id, resident_id, requested_cents, assess_for_seconds, release_after_seconds)
			SELECT $1, $2, '1', resident_id, 100000, 259200, 1209600 FROM residents WHERE email = lower($3) || '@example.com'`, id, property, prefix)
		if err == nil {
			_, err = tx.Exec(ctx, `DELETE FROM lease_changes WHERE lease_id = $1`, id)
		}
		return err
	})
}

// A thousand leases paged through GET /v1/leases with small pages, while
// new leases are written all over the key space: every lease that existed
// is listed exactly once, none twice, in lease_id order; the filters of
// `deposits list` keep exactly the leases they name; a key sees only its
// properties; a bad limit or cursor is refused, in the shape asked for.
func TestLeasesPageThroughAThousand(t *testing.T) {
	const n, size = 1000, 37
	prefix := "L-page-"
	url := startServe(t)
	seedLeases(t, prefix, n, [2]string{"pager", "pager-b"})
	c := depositclient.New(url, newKey(t, "pms-pager", "pager", "pager-b"))
	ctx := context.Background()

	// New leases keep arriving while the client pages: among the originals
	// (L-page-0042-new sorts right after L-page-0042) and after all of them.
	var added []string
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("%s%04d-new", prefix, rand.IntN(n))
			if i%2 == 1 {
				id = fmt.Sprintf("%s%04d-new", prefix, n+i)
			}
			if err := addSeededLease(ctx, id, prefix, "pager-b"); err != nil {
				if strings.Contains(err.Error(), "duplicate key") {
					continue
				}
				t.Errorf("adding %s: %v", id, err)
				return
			}
			mu.Lock()
			added = append(added, id)
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()

	seen := map[string]int{}
	cursor, pages := "", 0
	start := time.Now()
	for {
		page, err := c.LeasesPage(ctx, depositclient.LeaseFilter{Limit: size}, cursor)
		require.NoError(t, err)
		pages++
		require.LessOrEqual(t, len(page.Leases), size)
		for _, l := range page.Leases {
			seen[l.LeaseID]++
			require.Equal(t, "deposit-"+l.LeaseID, l.WorkflowID)
		}
		if page.NextCursor == "" {
			break
		}
		require.Len(t, page.Leases, size, "a page before the last is full")
		cursor = page.NextCursor
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	for i := range n {
		id := fmt.Sprintf("%s%04d", prefix, i)
		require.Equal(t, 1, seen[id], "lease %s listed %d times", id, seen[id])
	}
	for id, k := range seen {
		require.Equal(t, 1, k, "lease %s listed %d times", id, k)
	}
	t.Logf("%d leases (and %d of the %d written meanwhile) in %d pages of %d: %v", n, len(seen)-n, len(added), pages, size, took)
	require.NotEmpty(t, added, "no lease was written while the client paged")

	// Every lease now, through the client's iterator, at the largest pages.
	all := 0
	for l, err := range c.Leases(ctx, depositclient.LeaseFilter{Limit: depositclientMaxPage}) {
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(l.LeaseID, prefix), l.LeaseID)
		all++
	}
	require.Equal(t, n+len(added), all)

	// The filters of deposits list: stage, property, release due before.
	due := time.Now().Add(4*24*time.Hour + 12*time.Hour)
	var want, got []string
	for i := range n {
		if i%4 == 2 && i%2 == 0 && i%10 <= 4 {
			want = append(want, fmt.Sprintf("%s%04d", prefix, i))
		}
	}
	for l, err := range c.Leases(ctx, depositclient.LeaseFilter{Stage: "release_pending", PropertyID: "pager", DueBefore: due, Limit: 7}) {
		require.NoError(t, err)
		require.Equal(t, "release_pending", l.Stage)
		require.True(t, l.ReleaseAt.Before(due))
		got = append(got, l.LeaseID)
	}
	require.Equal(t, want, got)
	out := must(t, "list", "--stage", "release_pending", "--property", "pager", "--due-before", due.UTC().Format(time.RFC3339), "-o", "json")
	for _, id := range want {
		require.Contains(t, out, `"`+id+`"`)
	}
	require.Equal(t, len(want), strings.Count(out, `"lease_id"`))
	require.Equal(t, 3, strings.Count(must(t, "list", "--property", "pager-b", "--stage", "closed", "--limit", "3", "-o", "json"), `"lease_id"`),
		"deposits list stops at --limit")

	// A key of one property lists only its leases; another property is 403, audited.
	one := depositclient.New(url, newKey(t, "pms-pager-a", "pager"))
	mine := 0
	for l, err := range one.Leases(ctx, depositclient.LeaseFilter{}) {
		require.NoError(t, err)
		require.Equal(t, "pager", l.PropertyID)
		mine++
	}
	require.Equal(t, n/2, mine)
	var refusal *depositclient.Error
	_, err := one.LeasesPage(ctx, depositclient.LeaseFilter{PropertyID: "pager-b"}, "")
	require.ErrorAs(t, err, &refusal)
	require.Equal(t, 403, refusal.Status)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE principal = 'key:pms-pager-a' AND action = 'lease.list' AND NOT accepted"))

	// A bad limit or cursor is refused, as problem details to this client.
	for _, tc := range []struct {
		f            depositclient.LeaseFilter
		cursor, code string
	}{
		{depositclient.LeaseFilter{Limit: 501}, "", "invalid"},
		{depositclient.LeaseFilter{}, "not-a-cursor", "invalid_cursor"},
		{depositclient.LeaseFilter{Stage: "lost"}, "", "invalid"},
	} {
		_, err := c.LeasesPage(ctx, tc.f, tc.cursor)
		require.True(t, errors.As(err, &refusal), "%v", err)
		require.Equal(t, 422, refusal.Status)
		require.Equal(t, tc.code, refusal.Code)
		require.Equal(t, "urn:depositflow:problem:"+tc.code, refusal.Type)
		require.NotEmpty(t, refusal.RequestID)
	}
	invoicesCursor := firstInvoicesCursor(t, c)
	_, err = c.LeasesPage(ctx, depositclient.LeaseFilter{}, invoicesCursor)
	require.ErrorAs(t, err, &refusal)
	require.Equal(t, "invalid_cursor", refusal.Code, "a cursor of another list")
}

// depositclientMaxPage is the largest page the server answers.
const depositclientMaxPage = 500

// firstInvoicesCursor is the next_cursor of a first page of invoices of one.
func firstInvoicesCursor(t *testing.T, c *depositclient.Client) string {
	t.Helper()
	ctx := context.Background()
	var resident int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT resident_id FROM leases WHERE lease_id = 'L-page-0000'`).Scan(&resident))
	for i := range 2 {
		_, err := pool.Exec(ctx, `INSERT INTO refunds (lease_id, resident_id, amount_in_cents, received_cents, arrears_cents, deductions_cents,
			recipient_name, recipient_email, idempotency_key) VALUES ('L-page-0000', $1, 100, 100, 0, 0, 'Seeded', 's@example.com', $2)`,
			resident, fmt.Sprintf("page-cursor-%d", i))
		require.NoError(t, err)
	}
	page, err := c.InvoicesPage(ctx, depositclient.InvoiceFilter{Limit: 1}, "")
	require.NoError(t, err)
	require.NotEmpty(t, page.NextCursor)
	return page.NextCursor
}

// GET /v1/invoices: what a PMS must pay or collect across its leases,
// oldest first, paged: every refund still payable and every balance still
// open exactly once (refunds and invoices written in the same transaction
// share a created_at, which the cursor's key breaks ties in), none an
// operator marked paid in the database, only of the key's properties.
func TestOpenInvoicesPageAcrossLeases(t *testing.T) {
	prefix := "L-inv-"
	url := startServe(t)
	seedLeases(t, prefix, 40, [2]string{"inv-a", "inv-b"})
	ctx := context.Background()
	var resident int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT resident_id FROM leases WHERE lease_id = $1`, prefix+"0000").Scan(&resident))
	for batch := range 3 {
		_, err := pool.Exec(ctx, `
			WITH r AS (
				INSERT INTO refunds (lease_id, resident_id, amount_in_cents, received_cents, arrears_cents, deductions_cents,
				                     recipient_name, recipient_email, idempotency_key, status, paid_on)
				SELECT $1 || lpad((g % 40)::text, 4, '0'), $2, 1000 + g, 1000 + g, 0, 0, 'Tia Moss', 'tia@example.com',
				       'inv-test-refund-' || $3 || '-' || g, CASE WHEN g % 10 = 0 THEN 'paid' ELSE 'payable' END,
				       CASE WHEN g % 10 = 0 THEN current_date END
				FROM generate_series(1, 50) g RETURNING 1)
			INSERT INTO invoices (lease_id, resident_id, amount_due_in_cents, received_cents, arrears_cents, deductions_cents,
			                      recipient_name, recipient_email, idempotency_key)
			SELECT $1 || lpad((g % 40)::text, 4, '0'), $2, 500 + g, 0, 500 + g, 0, 'Bo Lee', 'bo@example.com', 'inv-test-invoice-' || $3 || '-' || g
			FROM generate_series(1, 20) g`, prefix, resident, fmt.Sprint(batch))
		require.NoError(t, err)
	}
	var open, all int
	require.NoError(t, pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM refunds WHERE lease_id LIKE $1 || '%' AND status = 'payable') + (SELECT count(*) FROM invoices WHERE lease_id LIKE $1 || '%'),
		(SELECT count(*) FROM refunds WHERE lease_id LIKE $1 || '%') + (SELECT count(*) FROM invoices WHERE lease_id LIKE $1 || '%')`, prefix).Scan(&open, &all))

	c := depositclient.New(url, newKey(t, "pms-inv", "inv-a", "inv-b"))
	seen := map[string]int{}
	var prev depositclient.Invoice
	for inv, err := range c.Invoices(ctx, depositclient.InvoiceFilter{Status: "open", Limit: 17}) {
		require.NoError(t, err)
		seen[inv.InvoiceID]++
		require.Contains(t, []string{"payable", "open"}, inv.Status, "status=open keeps what is still to pay or collect")
		require.True(t, strings.HasPrefix(inv.LeaseID, prefix))
		require.Equal(t, "USD", inv.Currency)
		require.False(t, inv.CreatedAt.Before(prev.CreatedAt), "oldest first")
		switch inv.Kind {
		case "refund":
			require.True(t, strings.HasPrefix(inv.InvoiceID, "refund-"))
			require.Equal(t, "tia@example.com", inv.Recipient.Email)
		case "balance_owed":
			require.True(t, strings.HasPrefix(inv.InvoiceID, "invoice-"))
			require.Equal(t, "Bo Lee", inv.Recipient.Name)
		default:
			t.Fatalf("kind %q", inv.Kind)
		}
		prev = inv
	}
	require.Len(t, seen, open)
	for id, k := range seen {
		require.Equal(t, 1, k, "%s listed %d times", id, k)
	}
	n := 0
	for _, err := range c.Invoices(ctx, depositclient.InvoiceFilter{}) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, all, n, "without status=open, the paid refunds too")

	// A key of one property sees its leases' invoices only.
	one := depositclient.New(url, newKey(t, "pms-inv-a", "inv-a"))
	var props []string
	for inv, err := range one.Invoices(ctx, depositclient.InvoiceFilter{Status: "open"}) {
		require.NoError(t, err)
		if !slices.Contains(props, inv.PropertyID) {
			props = append(props, inv.PropertyID)
		}
	}
	require.Equal(t, []string{"inv-a"}, props)
	var refusal *depositclient.Error
	_, err := one.InvoicesPage(ctx, depositclient.InvoiceFilter{PropertyID: "inv-b"}, "")
	require.ErrorAs(t, err, &refusal)
	require.Equal(t, 403, refusal.Status)
	_, err = one.InvoicesPage(ctx, depositclient.InvoiceFilter{Status: "paid"}, "")
	require.ErrorAs(t, err, &refusal)
	require.Equal(t, 422, refusal.Status, "status is open or absent")
}
