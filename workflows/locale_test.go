package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/rules"
	"github.com/depositflow/depositflow/templates"
)

// london is the zone of the pound leases below. British Summer Time starts
// on 28 March 2027 at 01:00 UTC: the clocks go from 01:00 GMT to 02:00 BST.
var london = func() *time.Location {
	z, err := rules.LoadZone("Europe/London")
	if err != nil {
		panic(err)
	}
	return z
}()

// currentDetails is what the Temporal UI shows of the lease now (the
// workflow's current details, through the SDK's metadata query).
func (h *harness) currentDetails() string {
	v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
	require.NoError(h.t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(h.t, v.Get(&md))
	return md.GetCurrentDetails()
}

// poundHarness is a lease of a property in England: its database row says
// GBP and Europe/London, its rule is GB-ENG (the refund within 10 days of
// the move-out), and £1,200.00 is asked and paid.
func poundHarness(t *testing.T) *harness {
	h := newHarness(t, 120000)
	h.db.change(func(b *activities.Books) { b.Currency, b.TimeZone = "GBP", "Europe/London" })
	h.law = lawOf("GB-ENG", t0.AddDate(0, -6, 0), 1)
	h.at(time.Hour, SignalPayment, pay(1, 120000))
	return h
}

// since is how long after the test's start an instant is.
func since(at time.Time) time.Duration { return at.Sub(t0) }

// requireNoDollar checks a text the workflow wrote for a pound lease.
func requireNoDollar(t *testing.T, what, text string) {
	t.Helper()
	require.NotContains(t, text, "$", "%s shows a dollar sign: %s", what, text)
}

// A lease in pounds in London: the UI's details, the decisions, the
// refusals and the settlement speak pounds and London time, and the
// statutory deadline is 00:00 London time of the tenth day, counted across
// the change to summer time; the lease keeps it when it continues as new.
func TestPoundLeaseInLondon(t *testing.T) {
	h := poundHarness(t)
	// Moved out on Saturday 27 March 2027, typed as a day: 00:00 GMT.
	movedOut := time.Date(2027, 3, 27, 0, 0, 0, 0, london)
	mo := since(movedOut)
	// Ten days later is Tuesday 6 April, 00:00 BST: 23:00 UTC on the 5th,
	// an hour before the clock without a zone (00:00 UTC on the 6th).
	due := time.Date(2027, 4, 6, 0, 0, 0, 0, london)
	require.Equal(t, time.Date(2027, 4, 5, 23, 0, 0, 0, time.UTC), due.UTC())
	require.Equal(t, movedOut.UTC().AddDate(0, 0, 10), due.UTC().Add(time.Hour))
	settleBy := time.Date(2027, 4, 5, 0, 0, 0, 0, london) // a day's margin before the deadline

	h.at(mo+2*time.Hour, SignalMoveOut, MoveOut{At: movedOut})
	h.at(mo+3*time.Hour, SignalCharge, deposit.Charge{ChargeID: 10, Code: "CLEANING", Category: deposit.CategoryDeduction, AmountCents: 15000, Description: "Carpet cleaning"})
	h.update(mo+4*time.Hour, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 200000, Reason: "Everything"},
		"cannot keep £2,000.00: only £1,050.00 is held after charges and earlier keeps", nil)
	h.update(mo+5*time.Hour, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 5000, Reason: "Scuffs"}, "", func(s deposit.State) {
		require.Equal(t, "£50.00: Scuffs", s.Decisions[len(s.Decisions)-1].Detail)
	})
	// The refusal names the days on London's calendar: in UTC the deadline
	// is still the 5th and the engine's last moment the 4th.
	h.update(mo+6*time.Hour, UpdateExtend, ExtendRequest{Actor: mgr, Days: 30},
		"requires the refund by 2027-04-06: the engine releases it by 2027-04-05 at the latest", nil)
	h.update(mo+6*time.Hour+time.Minute, UpdateHold, HoldRequest{Actor: mgr}, "", func(s deposit.State) {
		require.Contains(t, s.Decisions[len(s.Decisions)-1].Detail, "the engine releases it by 5 Apr 2027 00:00 BST under GB-ENG")
	})
	h.checkAt(mo+7*time.Hour, func(s deposit.State) {
		require.Equal(t, "GBP", s.Currency)
		require.Equal(t, "Europe/London", s.TimeZone)
		require.True(t, s.Clock.Started)
		require.Equal(t, due, s.Clock.RefundDue.In(london))
		require.Equal(t, settleBy, s.ReleaseAt.In(london), "pulled in front of the deadline")
		details := h.currentDetails()
		requireNoDollar(t, "the details", details)
		require.Contains(t, details, "refund £1,000.00 if nothing changes")
		require.Contains(t, details, "Statement due 6 Apr 2027 00:00 BST, refund due 6 Apr 2027 00:00 BST")
		require.Contains(t, details, "Cash deposit £1,200.00, paid £1,200.00")
		require.Contains(t, details, "deductions £150.00, kept £50.00")
	})
	// A run that continues as new in the release wait keeps the zone.
	h.after(mo+8*time.Hour, func() { h.env.SetContinueAsNewSuggested(true) })
	s := h.run(LeaseInput{Jurisdiction: "GB-ENG"})

	require.Equal(t, 2, h.runs, "continued as new once")
	require.Equal(t, due, s.Clock.RefundDue.In(london))
	require.Equal(t, settleBy, s.ClosedAt.In(london), "the statute settled it, a day before its deadline")
	require.Equal(t, due, h.deadlines[len(h.deadlines)-1].RefundDue.In(london), "leases.statutory_deadline")
	require.EqualValues(t, 100000, s.RefundCents)
	require.EqualValues(t, 100000, h.settlement().RefundCents)
	require.Empty(t, s.DeadlineMissed)

	closed := (&flow{state: s}).plainDetails()
	requireNoDollar(t, "the closing details", closed)
	require.Contains(t, closed, "partially refunded, refund £1,000.00 in 1 payout(s), closed 5 Apr 2027 00:00 BST.")
	for _, d := range s.Decisions {
		requireNoDollar(t, "decision "+d.Kind, d.Detail)
	}
	require.Contains(t, decisionsOf(s, "statute")[0].Detail, "released to meet the refund deadline 6 Apr 2027 00:00 BST under GB-ENG (Housing Act 2004 ss.213-214); the hold ended")

	// The emails (built from the database) are in pounds and London days.
	require.Equal(t, []string{"request", "receipt", "notice", "refund"}, h.emailKinds())
	for _, e := range h.emails {
		require.Equal(t, "GBP", e.Data.Currency)
		require.Equal(t, "Europe/London", e.Data.TimeZone)
		r, err := templates.Render(e.Kind, e.Data)
		require.NoError(t, err)
		requireNoDollar(t, "the "+e.Kind+" email", r.Subject+r.Text+r.HTML)
		require.Contains(t, r.Text, "£")
	}
	notice, err := templates.Render(templates.KindNotice, h.emails[2].Data)
	require.NoError(t, err)
	require.Contains(t, notice.Text, "We recorded your move-out on Saturday, 27 March 2027")
	require.Contains(t, notice.Text, "Tuesday, 6 April 2027", "the deadline on London's calendar (in UTC: Monday the 5th)")
	require.Contains(t, notice.Text, "£1,000.00")
	require.Equal(t, "GBP", EmailData(s, false).Currency, "workflows.EmailData carries the lease's currency")
}

// The day of a move-out is the calendar day of its instant in the lease's
// zone: 23:30 UTC on 31 March is 00:30 on 1 April in London (summer time),
// so the ten days count from 1 April.
func TestMoveOutDayIsTheLeasesDay(t *testing.T) {
	h := poundHarness(t)
	movedOut := time.Date(2027, 3, 31, 23, 30, 0, 0, time.UTC) // recorded as "now"
	h.at(since(movedOut)+time.Minute, SignalMoveOut, MoveOut{At: movedOut})
	s := h.run(LeaseInput{Jurisdiction: "GB-ENG"})
	require.Equal(t, time.Date(2027, 4, 11, 0, 0, 0, 0, london), s.Clock.RefundDue.In(london))
	require.Equal(t, time.Date(2027, 4, 10, 23, 0, 0, 0, time.UTC), s.Clock.RefundDue.UTC())
	require.Equal(t, time.Date(2027, 4, 10, 0, 0, 0, 0, london), s.ClosedAt.In(london))
}

// A lease whose clock started before the zoned-clock version keeps the
// deadline it had (00:00 UTC of the tenth day); only its words change.
func TestClockStartedBeforeZonesKeepsItsDeadline(t *testing.T) {
	h := poundHarness(t)
	h.env.OnGetVersion("zoned-clock", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	movedOut := time.Date(2027, 3, 27, 0, 0, 0, 0, time.UTC)
	h.at(since(movedOut)+time.Hour, SignalMoveOut, MoveOut{At: movedOut})
	s := h.run(LeaseInput{Jurisdiction: "GB-ENG"})
	require.Equal(t, time.Date(2027, 4, 6, 0, 0, 0, 0, time.UTC), s.Clock.RefundDue)
	require.Equal(t, time.Date(2027, 4, 5, 0, 0, 0, 0, time.UTC), s.ClosedAt)
	closed := (&flow{state: s}).plainDetails()
	require.Contains(t, closed, "refund £1,200.00 in 1 payout(s), closed 5 Apr 2027 01:00 BST.")
}

// A lease whose activities name no currency or zone (results recorded
// before leases had them, or a property that names neither) is as it
// was: dollars, UTC, and the same deadlines.
func TestDollarLeaseAsBefore(t *testing.T) {
	h := newHarness(t, 100000)
	h.db.change(func(b *activities.Books) { b.Currency, b.TimeZone = "", "" })
	h.law.Rule = ruleOf("US-CA")
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*day, SignalMoveOut, moveOutDay(1)) // 2026-11-04: the refund is due 2026-11-25
	due := moveOutDay(1).At.AddDate(0, 0, 21)
	h.update(3*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 200000, Reason: "Everything"},
		"cannot keep $2,000.00: only $1,000.00 is held after charges and earlier keeps", nil)
	h.update(3*day+time.Hour, UpdateExtend, ExtendRequest{Actor: mgr, Days: 30},
		"requires the refund by 2026-11-25: the engine releases it by 2026-11-24 at the latest", nil)
	h.update(3*day+2*time.Hour, UpdateExtend, ExtendRequest{Actor: mgr, Days: 1}, "", func(s deposit.State) {
		require.Equal(t, "release date 2026-11-18T00:00:00Z -> 2026-11-19T00:00:00Z", s.Decisions[len(s.Decisions)-1].Detail)
	})
	h.checkAt(3*day+3*time.Hour, func(s deposit.State) {
		require.Empty(t, s.Currency)
		require.Empty(t, s.TimeZone)
		details := h.currentDetails()
		require.Contains(t, details, `release on 19 Nov 2026 00:00 UTC; refund \$1,000.00 if nothing changes`)
		require.Contains(t, details, "Statement due 25 Nov 2026 00:00 UTC, refund due 25 Nov 2026 00:00 UTC")
	})
	s := h.run(LeaseInput{Jurisdiction: "US-CA"})
	require.Equal(t, due, s.Clock.RefundDue)
	require.Equal(t, time.UTC, s.Clock.RefundDue.Location())
	require.Equal(t, moveOutDay(1).At.AddDate(0, 0, 15), s.ClosedAt)
	require.True(t, strings.HasPrefix((&flow{state: s}).plainDetails(), "**closed**: refunded, refund $1,000.00 in 1 payout(s), closed 19 Nov 2026 00:00 UTC."))
	for _, e := range h.emails {
		require.Empty(t, e.Data.Currency)
		r, err := templates.Render(e.Kind, e.Data)
		require.NoError(t, err)
		require.NotContains(t, r.Text, "£")
		require.Contains(t, r.Text, "$1,000.00")
	}
}
