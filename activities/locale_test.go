package activities_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/mailsink"
	"github.com/depositflow/depositflow/templates"
)

// london is the zone of the pound leases below.
var london = func() *time.Location {
	z, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	return z
}()

// poundLease writes a lease of a property in England, as lease start does:
// the property takes pounds and London time, and the lease copies both.
// The listing asks £1,200.00.
func poundLease(t *testing.T) string {
	t.Helper()
	q := db.New(pool)
	id := fmt.Sprintf("L-GB-%d", time.Now().UnixNano())
	require.NoError(t, q.UpsertProperty(ctx, "thames"))
	require.NoError(t, q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: "thames", UnitID: "2A"}))
	_, err := q.SetPropertyLocale(ctx, db.SetPropertyLocaleParams{PropertyID: "thames",
		Currency: pgtype.Text{String: "GBP", Valid: true}, TimeZone: pgtype.Text{String: "Europe/London", Valid: true}})
	require.NoError(t, err)
	_, err = q.SetPropertyPolicy(ctx, db.SetPropertyPolicyParams{PropertyID: "thames", ManagerEmail: pgtype.Text{String: "m@thames.example", Valid: true}})
	require.NoError(t, err)
	_, err = q.UpsertListing(ctx, db.UpsertListingParams{ListingID: "LST-2A", PropertyID: "thames", UnitID: "2A", DepositAmountInCents: 120000})
	require.NoError(t, err)
	r, err := q.CreateResident(ctx, db.CreateResidentParams{Email: "ana@example.com", Name: "Ana Lopez"})
	require.NoError(t, err)
	_, err = q.CreateLease(ctx, db.CreateLeaseParams{
		LeaseID: id, PropertyID: "thames", UnitID: "2A", ListingID: pgtype.Text{String: "LST-2A", Valid: true},
		ResidentID: r.ResidentID, AssessForSeconds: 3600, ReleaseAfterSeconds: 7200,
	})
	require.NoError(t, err)
	require.NoError(t, q.SetLeaseTerms(ctx, db.SetLeaseTermsParams{LeaseID: id, Jurisdiction: "GB-ENG",
		StartsOn: pgtype.Date{Time: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), Valid: true}}))
	require.NoError(t, q.AddLeaseResident(ctx, db.AddLeaseResidentParams{LeaseID: id, ResidentID: r.ResidentID, Position: 1, Share: 1}))
	return id
}

// sendFromBooks sends an email of a lease built from the database, as the
// workflow asks for it, and returns it as the tenant (or manager) gets it.
func sendFromBooks(t *testing.T, lease, kind string) mailsink.Parsed {
	t.Helper()
	in := activities.EmailInput{Key: "deposit-" + lease + "/email/" + kind, Kind: kind, LeaseID: lease, ToManager: activities.ForManager(kind)}
	res, err := run[activities.EmailResult](t, acts.SendEmail, in)
	require.NoError(t, err)
	m, err := sink.WaitFor(5*time.Second, func(m mailsink.Message) bool { return strings.Contains(string(m.Raw), res.MessageID) })
	require.NoError(t, err)
	p, err := mailsink.Parse(m.Raw)
	require.NoError(t, err)
	return p
}

// requirePounds checks that every part of an email is in pounds and holds
// the texts given.
func requirePounds(t *testing.T, kind string, p mailsink.Parsed, want ...string) {
	t.Helper()
	for part, body := range map[string]string{"subject": p.Subject, "text": p.Text, "html": p.HTML} {
		require.NotContains(t, body, "$", "the %s email's %s shows a dollar sign:\n%s", kind, part, body)
	}
	require.Contains(t, p.Subject+p.Text, "£", "the %s email", kind)
	require.Contains(t, p.HTML, "£", "the %s email's html", kind)
	for _, w := range want {
		require.Contains(t, p.Text, w, "the %s email's text", kind)
		require.Contains(t, p.HTML, w, "the %s email's html", kind)
	}
}

// A lease in England: every email and the statement built from its books
// show pounds, and days on London's calendar.
func TestPoundLeaseEmailsShowPoundsAndLondonDays(t *testing.T) {
	lease := poundLease(t)
	exp := expectDeposit(t, lease)
	require.Equal(t, "GBP", exp.Currency)
	require.Equal(t, "Europe/London", exp.TimeZone)
	requirePounds(t, "request", sendFromBooks(t, lease, templates.KindRequest), "£1,200.00")

	addPayment(t, lease, 120000, "BACS-1", "2027-03-01")
	requirePounds(t, "receipt", sendFromBooks(t, lease, templates.KindReceipt), "£1,200.00")

	// Moved out on 30 March 2027, typed as a day: 00:00 in London, British
	// Summer Time since the 28th, which is 23:00 on the 29th in UTC.
	movedOut := time.Date(2027, 3, 30, 0, 0, 0, 0, london)
	require.Equal(t, 29, movedOut.UTC().Day())
	moveOut(t, lease, movedOut)
	addCharge(t, lease, "CLEANING", 15000, "Carpet cleaning", "none")
	release := time.Date(2027, 4, 13, 0, 0, 0, 0, london)
	_, err := run[struct{}](t, acts.SaveLeaseStage, activities.StageInput{LeaseID: lease, Stage: deposit.StageReleasePending,
		MovedOutAt: movedOut, ReleaseAt: release, View: &activities.LeaseView{RuleLabel: "GB-ENG (Housing Act 2004 ss.213-214)", ClockStarted: true,
			ClockWhy: "GB-ENG: refund within 10 days of the move-out", RefundDue: time.Date(2027, 4, 9, 0, 0, 0, 0, london)}})
	require.NoError(t, err)

	law, err := run[activities.LeaseLaw](t, acts.LoadLeaseLaw, activities.LeaseLawInput{LeaseID: lease, On: movedOut})
	require.NoError(t, err)
	require.Equal(t, "GB-ENG", law.Rule.Code)
	require.Equal(t, "GBP", law.Currency)
	require.Equal(t, "Europe/London", law.TimeZone)

	data, err := activities.Statement(ctx, db.New(pool), lease, templates.KindNotice)
	require.NoError(t, err)
	require.Equal(t, "GBP", data.Currency)
	require.Equal(t, "Europe/London", data.TimeZone)
	notice := sendFromBooks(t, lease, templates.KindNotice)
	requirePounds(t, "notice", notice, "£150.00", "£1,050.00", "Tuesday, 30 March 2027", "Tuesday, 13 April 2027", "Friday, 9 April 2027")
	require.NotContains(t, notice.Text, "Monday, 29 March 2027", "the move-out is a day in London")

	// The manager's reminder and the itemized statement, in pounds too.
	requirePounds(t, "reminder", sendFromBooks(t, lease, templates.KindReminder), "£1,050.00")
	statement, err := templates.Render(templates.KindStatement, data)
	require.NoError(t, err)
	requirePounds(t, "itemized", mailsink.Parsed{Subject: statement.Subject, Text: statement.Text, HTML: statement.HTML}, "£150.00")

	// Settled: the refund's figures are the settlement's.
	b, err := activities.ReadBooks(ctx, db.New(pool), lease)
	require.NoError(t, err)
	resident := b.Facts.Tenants[0].ResidentID
	_, err = run[activities.SettleResult](t, acts.SettleDeposit, activities.SettleInput{
		LeaseID: lease, Key: "deposit-" + lease + "/settlement", ReceivedCents: 120000, DeductionsCents: 15000, RefundCents: 105000,
		Outcome: deposit.OutcomePartiallyRefunded, Kept: []activities.KeptLine{},
		Payouts: []activities.PayoutPlan{{ResidentID: resident, Email: "ana@example.com", Name: "Ana Lopez", AmountCents: 105000}},
		Books:   &activities.BooksCheck{At: release},
	})
	require.NoError(t, err)
	_, err = run[struct{}](t, acts.SaveLeaseStage, activities.StageInput{LeaseID: lease, Stage: deposit.StageClosed, Outcome: deposit.OutcomePartiallyRefunded,
		MovedOutAt: movedOut, ReleaseAt: release, ClosedAt: release, View: &activities.LeaseView{}})
	require.NoError(t, err)
	requirePounds(t, "refund", sendFromBooks(t, lease, templates.KindRefund), "£1,050.00", "£150.00")
}

// A balance owed beyond a deposit in pounds is invoiced in pounds; a
// deduction forfeited by a missed deadline is listed in pounds.
func TestPoundLeaseInvoiceAndForfeitureInPounds(t *testing.T) {
	lease := poundLease(t)
	expectDeposit(t, lease)
	addPayment(t, lease, 120000, "BACS-1", "2027-03-01")
	moveOut(t, lease, time.Date(2027, 3, 30, 0, 0, 0, 0, london))
	addCharge(t, lease, "DAMAGE", 150000, "Broken window", "none")
	release := time.Date(2027, 4, 13, 0, 0, 0, 0, london)
	_, err := run[struct{}](t, acts.SaveLeaseStage, activities.StageInput{LeaseID: lease, Stage: deposit.StageClosed, Outcome: deposit.OutcomeBalanceOwed,
		ReleaseAt: release, ClosedAt: release, View: &activities.LeaseView{}})
	require.NoError(t, err)
	requirePounds(t, "balance_owed", sendFromBooks(t, lease, templates.KindBalanceOwed), "£300.00", "£1,500.00")

	b, err := activities.ReadBooks(ctx, db.New(pool), lease)
	require.NoError(t, err)
	b.View.Forfeited = true
	data := b.Data(templates.KindRefund)
	require.Equal(t, "Broken window £1,500.00", data.ForfeitedList)
	require.Equal(t, "GBP", data.Currency)
}

// A lease of a property that names neither keeps dollars and UTC.
func TestDollarLeaseEmailsAreAsBefore(t *testing.T) {
	lease := newLease(t, 0)
	exp := expectDeposit(t, lease)
	require.Equal(t, "USD", exp.Currency)
	require.Equal(t, "UTC", exp.TimeZone)
	addPayment(t, lease, 150000, "CHK-1", "2026-11-02")
	moveOut(t, lease, time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC))
	_, err := run[struct{}](t, acts.SaveLeaseStage, activities.StageInput{LeaseID: lease, Stage: deposit.StageReleasePending,
		ReleaseAt: time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC), View: &activities.LeaseView{}})
	require.NoError(t, err)
	p := sendFromBooks(t, lease, templates.KindNotice)
	require.Contains(t, p.Text, "$1,500.00")
	require.Contains(t, p.Text, "Wednesday, 4 November 2026")
	require.Contains(t, p.Text, "Wednesday, 18 November 2026")
	require.NotContains(t, p.Text, "£")
}

// A lease whose time zone this binary does not know waits (a retryable
// error) rather than counting its statute's days in the wrong place.
func TestLoadLeaseLawRefusesAnUnknownZone(t *testing.T) {
	lease := poundLease(t)
	_, err := pool.Exec(ctx, "UPDATE leases SET time_zone = 'Europe/Lundon' WHERE lease_id = $1", lease)
	require.NoError(t, err)
	_, err = run[activities.LeaseLaw](t, acts.LoadLeaseLaw, activities.LeaseLawInput{LeaseID: lease, On: time.Now()})
	require.ErrorContains(t, err, `unknown time zone "Europe/Lundon"`)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		require.False(t, appErr.NonRetryable(), "retried until an operator fixes the zone")
	}
}
