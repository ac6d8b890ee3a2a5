package activities_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/mailsink"
	"github.com/depositflow/depositflow/internal/pgcluster"
	"github.com/depositflow/depositflow/templates"
)

// These tests run the activities against a real PostgreSQL (a throwaway
// cluster, or a fresh database on DATABASE_URL) and a real SMTP server.
var (
	pool *pgxpool.Pool
	sink *mailsink.Sink
	acts *activities.Activities
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		ctx := context.Background()
		url, stop, err := pgcluster.ForTests(ctx, "activities_test")
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
		return m.Run()
	}())
}

// newLease writes a property, unit, listing (1500.00), tenant and lease.
func newLease(t *testing.T, requested int64) string {
	t.Helper()
	ctx := context.Background()
	q := db.New(pool)
	id := fmt.Sprintf("L-%d", time.Now().UnixNano())
	require.NoError(t, q.UpsertProperty(ctx, "maple"))
	require.NoError(t, q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: "maple", UnitID: "4B"}))
	_, err := q.UpsertListing(ctx, db.UpsertListingParams{ListingID: "LST-4B", PropertyID: "maple", UnitID: "4B", DepositAmountInCents: 150000})
	require.NoError(t, err)
	r, err := q.CreateResident(ctx, db.CreateResidentParams{Email: "ana@example.com", Name: "Ana Lopez"})
	require.NoError(t, err)
	_, err = q.CreateLease(ctx, db.CreateLeaseParams{
		LeaseID: id, PropertyID: "maple", UnitID: "4B", ListingID: pgtype.Text{String: "LST-4B", Valid: true},
		ResidentID: r.ResidentID, RequestedCents: pgtype.Int8{Int64: requested, Valid: requested > 0},
		AssessForSeconds: 3600, ReleaseAfterSeconds: 7200,
	})
	require.NoError(t, err)
	require.NoError(t, q.AddLeaseResident(ctx, db.AddLeaseResidentParams{LeaseID: id, ResidentID: r.ResidentID, Position: 1, Share: 1}))
	return id
}

// addCoTenant adds a resident to a lease and returns its ID.
func addCoTenant(t *testing.T, lease, email, name string, position int32) int64 {
	t.Helper()
	ctx := context.Background()
	q := db.New(pool)
	r, err := q.CreateResident(ctx, db.CreateResidentParams{Email: email, Name: name})
	require.NoError(t, err)
	require.NoError(t, q.AddLeaseResident(ctx, db.AddLeaseResidentParams{LeaseID: lease, ResidentID: r.ResidentID, Position: position, Share: 1}))
	return r.ResidentID
}

// run executes one activity in Temporal's activity test environment, which
// gives it a real activity context.
func run[T any](t *testing.T, fn any, in any) (T, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	var out T
	v, err := env.ExecuteActivity(fn, in)
	if err != nil {
		return out, err
	}
	if v.HasValue() {
		require.NoError(t, v.Get(&out))
	}
	return out, nil
}

func count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func requireNonRetryable(t *testing.T, err error, contains string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "want an ApplicationError, got %v", err)
	require.True(t, appErr.NonRetryable(), "want non-retryable: %v", err)
	require.Contains(t, err.Error(), contains)
}

func TestExpectDepositFromListingOnce(t *testing.T) {
	lease := newLease(t, 0)
	in := activities.ExpectDepositInput{LeaseID: lease, Key: "deposit-" + lease + "/expect"}
	exp, err := run[activities.Expectation](t, acts.ExpectDeposit, in)
	require.NoError(t, err)
	require.EqualValues(t, 150000, exp.ExpectedCents)
	require.Equal(t, "listing LST-4B", exp.Source)
	require.NotZero(t, exp.DepositID)
	require.Equal(t, "ana@example.com", exp.TenantEmail)
	require.Len(t, exp.Tenants, 1)
	require.Equal(t, activities.Tenant{ResidentID: exp.Tenants[0].ResidentID, Email: "ana@example.com", Name: "Ana Lopez", Share: 1}, exp.Tenants[0])

	// The listing changes; a retry of the same step still answers what was decided.
	_, err = db.New(pool).UpsertListing(context.Background(), db.UpsertListingParams{ListingID: "LST-4B", PropertyID: "maple", UnitID: "4B", DepositAmountInCents: 99900})
	require.NoError(t, err)
	again, err := run[activities.Expectation](t, acts.ExpectDeposit, in)
	require.NoError(t, err)
	require.EqualValues(t, 150000, again.ExpectedCents)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM deposits WHERE lease_id = $1", lease))
	_, err = db.New(pool).UpsertListing(context.Background(), db.UpsertListingParams{ListingID: "LST-4B", PropertyID: "maple", UnitID: "4B", DepositAmountInCents: 150000})
	require.NoError(t, err)
}

func TestExpectDepositGivenAmount(t *testing.T) {
	lease := newLease(t, 90000)
	exp, err := run[activities.Expectation](t, acts.ExpectDeposit, activities.ExpectDepositInput{LeaseID: lease, AmountCents: 90000, Key: lease + "/expect"})
	require.NoError(t, err)
	require.EqualValues(t, 90000, exp.ExpectedCents)
	require.Equal(t, "manual", exp.Source)
}

func TestUnknownLeaseIsNotRetried(t *testing.T) {
	_, err := run[activities.Expectation](t, acts.ExpectDeposit, activities.ExpectDepositInput{LeaseID: "nope", Key: "k-nope"})
	requireNonRetryable(t, err, "lease nope is not in the database")
	_, err = run[activities.Payable](t, acts.IssueRefund, activities.SettlementInput{LeaseID: "nope", Key: "k-nope2", AmountCents: 5})
	requireNonRetryable(t, err, "not in the database")
}

func TestChargeDepositOnce(t *testing.T) {
	lease := newLease(t, 0)
	in := activities.ChargeDepositInput{LeaseID: lease, AmountCents: 150000, Key: "deposit-" + lease + "/charge-deposit"}
	id1, err := run[int64](t, acts.ChargeDeposit, in)
	require.NoError(t, err)
	id2, err := run[int64](t, acts.ChargeDeposit, in)
	require.NoError(t, err)
	require.Equal(t, id1, id2)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM charges WHERE lease_id = $1 AND charge_code_id = 'DEPOSIT' AND amount_in_cents = 150000", lease))
}

func TestIssueRefundOnce(t *testing.T) {
	lease := newLease(t, 0)
	_, err := pool.Exec(context.Background(), "UPDATE residents SET forwarding_address = '12 Elm St' WHERE resident_id = (SELECT resident_id FROM leases WHERE lease_id = $1)", lease)
	require.NoError(t, err)
	in := activities.SettlementInput{LeaseID: lease, Key: "deposit-" + lease + "/refund", AmountCents: 118000, ReceivedCents: 150000, ArrearsCents: 20000, DeductionsCents: 12000}
	p1, err := run[activities.Payable](t, acts.IssueRefund, in)
	require.NoError(t, err)
	p2, err := run[activities.Payable](t, acts.IssueRefund, in)
	require.NoError(t, err)
	require.Equal(t, p1, p2)
	require.Equal(t, activities.Payable{ID: p1.ID, AmountCents: 118000, RecipientEmail: "ana@example.com", RecipientName: "Ana Lopez"}, p1)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1", lease))
	require.Equal(t, 1, count(t, `SELECT count(*) FROM refunds WHERE lease_id = $1 AND recipient_address = '12 Elm St'
		AND received_cents = 150000 AND arrears_cents = 20000 AND deductions_cents = 12000 AND status = 'payable'`, lease))

	_, err = run[activities.Payable](t, acts.IssueRefund, activities.SettlementInput{LeaseID: lease, Key: "other", AmountCents: 0})
	requireNonRetryable(t, err, "must be positive")
}

func TestIssueInvoiceOnce(t *testing.T) {
	lease := newLease(t, 0)
	in := activities.SettlementInput{LeaseID: lease, Key: "deposit-" + lease + "/invoice", AmountCents: 30000, ReceivedCents: 100000, DeductionsCents: 130000}
	p1, err := run[activities.Payable](t, acts.IssueInvoice, in)
	require.NoError(t, err)
	p2, err := run[activities.Payable](t, acts.IssueInvoice, in)
	require.NoError(t, err)
	require.Equal(t, p1.ID, p2.ID)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM invoices WHERE lease_id = $1 AND amount_due_in_cents = 30000 AND recipient_email = 'ana@example.com'", lease))
}

func TestSaveLeaseStage(t *testing.T) {
	lease := newLease(t, 0)
	release := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	_, err := run[struct{}](t, acts.SaveLeaseStage, activities.StageInput{LeaseID: lease, Stage: "release_pending", ReleaseAt: release})
	require.NoError(t, err)
	l, err := db.New(pool).GetLease(context.Background(), lease)
	require.NoError(t, err)
	require.Equal(t, "release_pending", l.Lease.Stage)
	require.True(t, release.Equal(*l.Lease.ReleaseAt))
	require.Nil(t, l.Lease.ClosedAt)
}

func emailInput(lease, kind string) activities.EmailInput {
	return activities.EmailInput{Key: "deposit-" + lease + "/email/" + kind, Kind: kind, To: "ana@example.com", ToName: "Ana Lopez", Data: templates.Data{
		LeaseID: lease, PropertyID: "maple", UnitID: "4B", TenantName: "Ana Lopez", TenantEmail: "ana@example.com",
		ExpectedCents: 150000, PaidCents: 150000, ReceivedCents: 150000, RefundCents: 150000,
		Payments: []templates.Line{{Description: "Payment CHK-1 on 2026-11-02", Cents: 150000}},
	}}
}

func messagesTo(lease string) int {
	n := 0
	for _, m := range sink.Messages() {
		if strings.Contains(string(m.Raw), lease) {
			n++
		}
	}
	return n
}

func TestSendEmailOnce(t *testing.T) {
	lease := newLease(t, 0)
	in := emailInput(lease, templates.KindReceipt)
	r1, err := run[activities.EmailResult](t, acts.SendEmail, in)
	require.NoError(t, err)
	require.False(t, r1.AlreadySent)
	r2, err := run[activities.EmailResult](t, acts.SendEmail, in)
	require.NoError(t, err)
	require.True(t, r2.AlreadySent)
	require.Equal(t, r1.MessageID, r2.MessageID)
	require.Equal(t, 1, messagesTo(lease))

	m, err := sink.WaitFor(time.Second, func(m mailsink.Message) bool { return strings.Contains(string(m.Raw), lease) })
	require.NoError(t, err)
	p, err := mailsink.Parse(m.Raw)
	require.NoError(t, err)
	require.Equal(t, []string{"ana@example.com"}, m.To)
	require.Equal(t, "<"+r1.MessageID+">", p.Header.Get("Message-Id"))
	require.Equal(t, "deposit-"+lease+".email.receipt@maple.example", r1.MessageID)
	require.Equal(t, "Receipt: your security deposit of $1,500.00 is held", p.Subject)
	require.Contains(t, p.Header.Get("From"), "deposits@maple.example")
	require.Contains(t, p.Text, "Payment CHK-1 on 2026-11-02")
	require.Contains(t, p.HTML, "<table")
	require.Contains(t, p.Text, "Maple Homes, security deposits")
	require.Equal(t, 1, count(t, "SELECT count(*) FROM email_outbox WHERE lease_id = $1 AND sent_at IS NOT NULL", lease))
}

func TestSendEmailWaitsOutAMailOutage(t *testing.T) {
	lease := newLease(t, 0)
	in := emailInput(lease, templates.KindRequest)
	sink.SetRefusing(true)
	_, err := run[activities.EmailResult](t, acts.SendEmail, in)
	sink.SetRefusing(false)
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		require.False(t, appErr.NonRetryable(), "a temporary refusal must be retried: %v", err)
	}
	require.Equal(t, 0, messagesTo(lease))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM email_outbox WHERE lease_id = $1 AND sent_at IS NULL AND last_error <> ''", lease))

	// The retry sends it, under the same Message-ID.
	r, err := run[activities.EmailResult](t, acts.SendEmail, in)
	require.NoError(t, err)
	require.False(t, r.AlreadySent)
	require.Equal(t, 1, messagesTo(lease))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM email_outbox WHERE lease_id = $1 AND sent_at IS NOT NULL AND attempts = 2", lease))
}

func TestMigrateIsIdempotent(t *testing.T) {
	from, to, err := db.Migrate(context.Background(), pool)
	require.NoError(t, err)
	require.Equal(t, from, to)
	require.Equal(t, 9, count(t, "SELECT count(*) FROM charge_codes")) // INVOICE since 017
}

func leaseResident(t *testing.T, lease string) int64 {
	l, err := db.New(pool).GetLease(context.Background(), lease)
	require.NoError(t, err)
	return l.Resident.ResidentID
}

func TestSettleDepositSplitsOnceAndAudits(t *testing.T) {
	lease := newLease(t, 0)
	ana := leaseResident(t, lease)
	bo := addCoTenant(t, lease, "bo@example.com", "Bo Chen", 2)
	// The rows the settlement is checked against.
	addPayment(t, lease, 100000, "CHK-1", "2026-11-02")
	addCharge(t, lease, "CREDIT", 1, "Goodwill", "none")
	addCharge(t, lease, "CLEANING", 20000, "Cleaning", "none")
	_, err := acts.RecordKeep(ctx, activities.RecordKeepInput{LeaseID: lease, AmountCents: 10000, Reason: "Paint", RequestedBy: "maria", Status: "applied", Key: lease + "/keep/1"})
	require.NoError(t, err)
	in := activities.SettleInput{
		LeaseID: lease, Key: "deposit-" + lease + "/settlement",
		ReceivedCents: 100000, CreditsCents: 1, DeductionsCents: 20000, KeptCents: 10000,
		RefundCents: 70001, Outcome: "partially_refunded",
		Kept:    []activities.KeptLine{{AmountCents: 10000, Reason: "Paint", RequestedBy: "maria"}},
		Payouts: []activities.PayoutPlan{{ResidentID: ana, Email: "ana@example.com", Name: "Ana Lopez", AmountCents: 35001}, {ResidentID: bo, Email: "bo@example.com", Name: "Bo Chen", AmountCents: 35000}},
	}
	r1, err := run[activities.SettleResult](t, acts.SettleDeposit, in)
	require.NoError(t, err)
	r2, err := run[activities.SettleResult](t, acts.SettleDeposit, in)
	require.NoError(t, err)
	require.Equal(t, r1, r2, "a retry finds what the first attempt wrote")
	require.Len(t, r1.RefundIDs, 2)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM settlements WHERE lease_id = $1 AND refund_cents = 70001 AND kept->0->>'reason' = 'Paint'", lease))
	require.Equal(t, 2, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1 AND settlement_id IS NOT NULL", lease))
	require.Equal(t, 70001, count(t, "SELECT sum(amount_in_cents) FROM refunds WHERE lease_id = $1", lease))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1 AND recipient_email = 'bo@example.com' AND amount_in_cents = 35000", lease))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'settle' AND actor = 'depositflow'", lease))
}

func TestSettleDepositInvoicesABalance(t *testing.T) {
	lease := newLease(t, 0)
	addPayment(t, lease, 100000, "CHK-1", "2026-11-02")
	addCharge(t, lease, "DAMAGE", 130000, "Broken window", "none")
	in := activities.SettleInput{LeaseID: lease, Key: lease + "/settlement", ReceivedCents: 100000, DeductionsCents: 130000,
		BalanceOwedCents: 30000, Outcome: "balance_owed", InvoiceResidentID: leaseResident(t, lease)}
	r, err := run[activities.SettleResult](t, acts.SettleDeposit, in)
	require.NoError(t, err)
	require.NotZero(t, r.InvoiceID)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM invoices WHERE lease_id = $1 AND amount_due_in_cents = 30000 AND settlement_id IS NOT NULL", lease))
}

func TestSettleDepositRefusesMathsThatDoNotAddUp(t *testing.T) {
	lease := newLease(t, 0)
	ana := leaseResident(t, lease)
	// The payouts do not add up to the refund.
	_, err := run[activities.SettleResult](t, acts.SettleDeposit, activities.SettleInput{LeaseID: lease, Key: lease + "/s1",
		ReceivedCents: 1000, RefundCents: 1000, Outcome: "refunded",
		Payouts: []activities.PayoutPlan{{ResidentID: ana, Email: "a@example.com", AmountCents: 999}}})
	requireNonRetryable(t, err, "add up to 999 cents")
	// The refund does not follow from the terms: the books refuse it (and
	// the database's CHECK would).
	addPayment(t, lease, 1000, "CHK-1", "2026-11-02")
	addCharge(t, lease, "CLEANING", 10, "Cleaning", "none")
	_, err = run[activities.SettleResult](t, acts.SettleDeposit, activities.SettleInput{LeaseID: lease, Key: lease + "/s2",
		ReceivedCents: 1000, DeductionsCents: 10, RefundCents: 1000, Outcome: "refunded",
		Payouts: []activities.PayoutPlan{{ResidentID: ana, Email: "ana@example.com", Name: "Ana Lopez", AmountCents: 1000}}, Books: &activities.BooksCheck{}})
	requireNonRetryable(t, err, "refund: workflow 1000, database 990")
	require.Equal(t, 0, count(t, "SELECT count(*) FROM settlements WHERE lease_id = $1", lease))
	require.Equal(t, 0, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1", lease))
}

func TestGetPropertyPolicy(t *testing.T) {
	newLease(t, 0)
	_, err := db.New(pool).SetPropertyPolicy(context.Background(), db.SetPropertyPolicyParams{PropertyID: "maple",
		ManagerEmail: pgtype.Text{String: "m@maple.example", Valid: true}, ApprovalThresholdCents: pgtype.Int8{Int64: 50000, Valid: true}})
	require.NoError(t, err)
	p, err := run[activities.Policy](t, acts.GetPropertyPolicy, "maple")
	require.NoError(t, err)
	require.Equal(t, activities.Policy{ManagerEmail: "m@maple.example", ApprovalThresholdCents: 50000}, p)
	_, err = run[activities.Policy](t, acts.GetPropertyPolicy, "nope")
	requireNonRetryable(t, err, "not in the database")
}

// Every kind of email goes out as a well-formed MIME message: multipart/
// alternative with a plain-text and an HTML part, the subject decoded as
// rendered, co-tenants in Cc, and the Message-ID from the key.
func TestEveryKindIsAWellFormedMIMEMessage(t *testing.T) {
	lease := newLease(t, 0)
	for _, kind := range templates.Kinds {
		in := emailInput(lease, kind)
		in.Cc = []string{"bo@example.com"}
		in.Data.Arrears = []templates.Line{{Description: `Rent <November> & "fees"`, Cents: 2500}}
		want, err := templates.Render(kind, func() templates.Data { d := in.Data; d.Organization = "Maple Homes"; return d }())
		require.NoError(t, err)
		res, err := run[activities.EmailResult](t, acts.SendEmail, in)
		require.NoError(t, err, kind)
		m, err := sink.WaitFor(5*time.Second, func(m mailsink.Message) bool {
			return strings.Contains(string(m.Raw), res.MessageID)
		})
		require.NoError(t, err, kind)
		p, err := mailsink.Parse(m.Raw)
		require.NoError(t, err, kind)
		require.Contains(t, p.Header.Get("Content-Type"), "multipart/alternative", kind)
		require.Equal(t, want.Subject, p.Subject, kind)
		require.Equal(t, strings.TrimSpace(want.Text), strings.TrimSpace(strings.ReplaceAll(p.Text, "\r\n", "\n")), kind)
		if strings.Contains(want.Text, "Rent <November>") {
			require.Contains(t, p.HTML, "Rent &lt;November&gt; &amp; &#34;fees&#34;", kind)
		}
		require.Contains(t, p.Header.Get("Cc"), "bo@example.com", kind)
		require.ElementsMatch(t, []string{"ana@example.com", "bo@example.com"}, m.To, kind)
		require.NotEmpty(t, p.Header.Get("Date"), kind)
	}
}

// A server that accepted a message and then dropped the line (before the
// client's RSET or QUIT) delivered it: the attempt succeeds and nothing is
// sent twice.
func TestSendEmailDeliveredThenHungUp(t *testing.T) {
	lease := newLease(t, 0)
	in := emailInput(lease, templates.KindReceipt)
	sink.SetHangUp(mailsink.HangUpAfterReply)
	r, err := run[activities.EmailResult](t, acts.SendEmail, in)
	sink.SetHangUp(mailsink.HangUpNever)
	require.NoError(t, err)
	require.False(t, r.AlreadySent)
	r, err = run[activities.EmailResult](t, acts.SendEmail, in)
	require.NoError(t, err)
	require.True(t, r.AlreadySent)
	require.Equal(t, 1, messagesTo(lease))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM email_outbox WHERE lease_id = $1 AND sent_at IS NOT NULL AND attempts_in_doubt = 0 AND NOT attempt_open", lease))
}

// A server that kept a message but never answered may or may not have it: the
// attempt fails, the retry sends the very same message again, and the outbox
// counts that retry as in doubt.
func TestSendEmailInDoubtIsSentAgainTheSame(t *testing.T) {
	lease := newLease(t, 0)
	in := emailInput(lease, templates.KindReceipt)
	sink.SetHangUp(mailsink.HangUpBeforeReply)
	_, err := run[activities.EmailResult](t, acts.SendEmail, in)
	sink.SetHangUp(mailsink.HangUpNever)
	require.ErrorContains(t, err, activities.ErrInDoubt.Error())
	require.Equal(t, 1, messagesTo(lease))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM email_outbox WHERE lease_id = $1 AND sent_at IS NULL AND attempt_open AND attempts_in_doubt = 0", lease))

	_, err = run[activities.EmailResult](t, acts.SendEmail, in)
	require.NoError(t, err)
	require.Equal(t, 2, messagesTo(lease))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM email_outbox WHERE lease_id = $1 AND sent_at IS NOT NULL AND attempts = 2 AND attempts_in_doubt = 1", lease))
	var copies [][]byte
	for _, m := range sink.Messages() {
		if strings.Contains(string(m.Raw), lease) {
			copies = append(copies, m.Raw)
		}
	}
	require.Equal(t, string(copies[0]), string(copies[1]), "the copy sent again is the same message")

	// A failure before the message was written whole is not in doubt.
	lease2 := newLease(t, 0)
	in2 := emailInput(lease2, templates.KindReceipt)
	sink.SetRefusing(true)
	_, err = run[activities.EmailResult](t, acts.SendEmail, in2)
	sink.SetRefusing(false)
	require.Error(t, err)
	_, err = run[activities.EmailResult](t, acts.SendEmail, in2)
	require.NoError(t, err)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM email_outbox WHERE lease_id = $1 AND sent_at IS NOT NULL AND attempts = 2 AND attempts_in_doubt = 0", lease2))
}

// A mistyped SMTP_URL is explained without its password.
func TestSMTPURLMistakesKeepThePasswordSecret(t *testing.T) {
	for _, u := range []string{
		"smtp://mailer:s3cret@[::1", "smtp://mailer:s3cret@mail.example.com:port", "smtpx://mailer:s3cret@mail.example.com",
		"smtp://mailer:s3cret@mail.example.com:587?tls=maybe", "smtp://mailer:s3cret@:25",
	} {
		_, err := activities.NewMailer(u, "Deposits <d@example.com>")
		require.Error(t, err, u)
		require.NotContains(t, err.Error(), "s3cret", u)
	}
}
