package books_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/mailsink"
	"github.com/depositflow/depositflow/internal/pgcluster"
)

// These tests post the facts on the real posting path (the rows the
// gateway and the activities write, in their own transactions, against a
// real PostgreSQL) and read the books back through the gateway.

var (
	ctx  = context.Background()
	pool *pgxpool.Pool
	sink *mailsink.Sink
	acts *activities.Activities
	gw   *gateway.Gateway
	// booksAdmin reads and writes every property's books.
	booksAdmin = gateway.Principal{Kind: gateway.KindUser, Name: "bo", Roles: []string{deposit.RoleBooksAdmin}, Properties: []string{"*"}}
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		url, stop, err := pgcluster.ForTests(ctx, "books_test")
		if err != nil {
			fmt.Fprintln(os.Stderr, "PostgreSQL:", err)
			return 1
		}
		defer stop()
		if pool, err = pgxpool.New(ctx, url); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer pool.Close()
		if _, _, err := db.Migrate(ctx, pool); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if sink, err = mailsink.Start("127.0.0.1:0", ""); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer sink.Close()
		mailer, err := activities.NewMailer("smtp://"+sink.Addr, "Maple Homes <deposits@maple.example>")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		acts = activities.New(pool, mailer, "Maple Homes")
		gw = &gateway.Gateway{
			DB:       func(context.Context) (*pgxpool.Pool, error) { return pool, nil },
			Temporal: func(context.Context) (client.Client, error) { return nil, errors.New("these tests run no Temporal") },
		}
		return m.Run()
	}())
}

// world writes a property's leases and facts as depositflow does.
type world struct {
	t    *testing.T
	env  *testsuite.TestActivityEnvironment
	prop string
}

func newWorld(t *testing.T, prop, jurisdiction string) *world {
	t.Helper()
	q := db.New(pool)
	require.NoError(t, q.UpsertProperty(ctx, prop))
	_, err := pool.Exec(ctx, "UPDATE properties SET jurisdiction = $2, building_units = 12, manager_email = 'manager@"+prop+".example' WHERE property_id = $1", prop, jurisdiction)
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return &world{t: t, env: env, prop: prop}
}

// run executes one activity with a real activity context.
func run[T any](w *world, fn any, in any) T {
	w.t.Helper()
	var out T
	v, err := w.env.ExecuteActivity(fn, in)
	require.NoError(w.t, err)
	if v != nil && v.HasValue() {
		require.NoError(w.t, v.Get(&out))
	}
	return out
}

// lease starts a lease on a day, with its deposit expected and charged.
func (w *world) lease(id string, start time.Time, depositCents int64) int64 {
	w.t.Helper()
	q := db.New(pool)
	unit := "U-" + id
	require.NoError(w.t, q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: w.prop, UnitID: unit}))
	r, err := q.CreateResident(ctx, db.CreateResidentParams{Email: id + "@tenants.example", Name: "Tenant " + id})
	require.NoError(w.t, err)
	_, err = q.CreateLease(ctx, db.CreateLeaseParams{LeaseID: id, PropertyID: w.prop, UnitID: unit, ResidentID: r.ResidentID,
		RequestedCents: pgtype.Int8{Int64: depositCents, Valid: true}, AssessForSeconds: 3600, ReleaseAfterSeconds: 7200})
	require.NoError(w.t, err)
	require.NoError(w.t, q.AddLeaseResident(ctx, db.AddLeaseResidentParams{LeaseID: id, ResidentID: r.ResidentID, Position: 1, Share: 1}))
	_, err = pool.Exec(ctx, "UPDATE leases SET starts_on = $2, jurisdiction = (SELECT jurisdiction FROM properties WHERE property_id = $3) WHERE lease_id = $1", id, start, w.prop)
	require.NoError(w.t, err)
	run[activities.Expectation](w, acts.ExpectDeposit, activities.ExpectDepositInput{LeaseID: id, AmountCents: depositCents, Key: "deposit-" + id + "/expect"})
	run[int64](w, acts.ChargeDeposit, activities.ChargeDepositInput{LeaseID: id, AmountCents: depositCents, Key: "deposit-" + id + "/charge"})
	return r.ResidentID
}

func (w *world) pay(lease string, resident, cents int64, ref string, on time.Time) {
	w.t.Helper()
	_, err := db.New(pool).InsertPayment(ctx, db.InsertPaymentParams{LeaseID: lease, ResidentID: resident, AmountInCents: cents,
		TransactionDate: pgtype.Date{Time: on, Valid: true}, Reference: ref, CreatedBy: "pms"})
	require.NoError(w.t, err)
}

// returnPayment returns a payment (NSF) and charges the property's fee in
// one transaction, as the gateway does.
func (w *world) returnPayment(lease string, resident int64, ref string) {
	w.t.Helper()
	tx, err := pool.Begin(ctx)
	require.NoError(w.t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	q := db.New(tx)
	_, err = q.ReturnPayment(ctx, db.ReturnPaymentParams{LeaseID: lease, Reference: ref, ReturnReason: "nsf", ReturnedBy: "pms"})
	require.NoError(w.t, err)
	_, err = q.InsertCharge(ctx, db.InsertChargeParams{LeaseID: lease, ResidentID: resident, ChargeCodeID: "NSF_FEE", AmountInCents: 2500,
		Description: "Returned payment fee (" + ref + ", nsf)", CreatedBy: "pms", IdempotencyKey: gateway.NSFKey(lease, ref), Origin: "system", Approval: "none"})
	require.NoError(w.t, err)
	require.NoError(w.t, tx.Commit(ctx))
}

func (w *world) charge(lease string, resident int64, code string, cents int64) {
	w.t.Helper()
	_, err := db.New(pool).InsertCharge(ctx, db.InsertChargeParams{LeaseID: lease, ResidentID: resident, ChargeCodeID: code, AmountInCents: cents,
		Description: code, CreatedBy: "maria", IdempotencyKey: pgtype.Text{String: lease + "/" + code, Valid: true}, Origin: "user", Approval: "none"})
	require.NoError(w.t, err)
}

func (w *world) keep(lease string, cents int64) {
	w.t.Helper()
	run[activities.KeepRow](w, acts.RecordKeep, activities.RecordKeepInput{LeaseID: lease, AmountCents: cents, Reason: "Paint", RequestedBy: "maria",
		Status: "applied", Key: lease + "/keep/1"})
}

// moveOutAndSettle records the move-out and settles the lease as its
// workflow does: the terms computed from the books (interest under the
// rule at the move-out, to the settlement day), written by SettleDeposit
// with the books' check.
func (w *world) moveOutAndSettle(lease string, out, settleAt time.Time) activities.SettleResult {
	w.t.Helper()
	q := db.New(pool)
	_, err := q.SetRealizedMoveOut(ctx, db.SetRealizedMoveOutParams{LeaseID: lease, RealizedMoveOutAt: &out})
	require.NoError(w.t, err)
	b, err := activities.ReadBooks(ctx, q, lease)
	require.NoError(w.t, err)
	require.NoError(w.t, b.LoadLaw(ctx, q))
	check := activities.BooksCheck{At: settleAt}
	terms, st, payouts := b.Settlement(check)
	s := b.State()
	in := activities.SettleInput{LeaseID: lease, Key: "deposit-" + lease + "/settlement",
		ReceivedCents: terms.ReceivedCents, InterestCents: terms.InterestCents, CreditsCents: terms.CreditsCents, ArrearsCents: terms.ArrearsCents,
		DeductionsCents: terms.DeductionsCents, KeptCents: terms.KeptCents, EarlierRefundsCents: terms.EarlierRefundsCents,
		RefundCents: st.RefundCents, BalanceOwedCents: st.BalanceOwedCents, GuaranteeCents: s.GuaranteeCents, Outcome: st.Outcome,
		Kept: []activities.KeptLine{}, Payouts: []activities.PayoutPlan{}, Books: &check}
	for _, k := range s.Kept {
		in.Kept = append(in.Kept, activities.KeptLine{AmountCents: k.AmountCents, Reason: k.Reason, RequestedBy: k.RequestedBy, ApprovedBy: k.ApprovedBy})
	}
	for _, p := range payouts {
		in.Payouts = append(in.Payouts, activities.PayoutPlan{ResidentID: p.ResidentID, Email: p.Email, Name: p.Name, AmountCents: p.AmountCents})
	}
	if len(s.Tenants) > 0 {
		in.InvoiceResidentID = s.Tenants[0].ResidentID
	}
	return run[activities.SettleResult](w, acts.SettleDeposit, in)
}

// creditInterest runs the daily pass's interest activities for a day.
func (w *world) creditInterest(asOf time.Time) (n int, cents int64) {
	w.t.Helper()
	for _, d := range run[[]activities.InterestDue](w, acts.ListInterestDue, activities.InterestDueInput{AsOf: asOf}) {
		c := run[activities.InterestCredited](w, acts.CreditYearlyInterest, d)
		if !c.Again && !c.Settled {
			n++
			cents += c.Cents
		}
	}
	return n, cents
}

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func workflowName(name string) workflow.RegisterOptions { return workflow.RegisterOptions{Name: name} }

func dbOf(p *pgxpool.Pool) func(context.Context) (*pgxpool.Pool, error) {
	return func(context.Context) (*pgxpool.Pool, error) { return p, nil }
}
