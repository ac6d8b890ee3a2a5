package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/rules"
)

// The legal clock. At the move-out the workflow reads the rule of the
// lease's jurisdiction in force that day (internal/rules) and from then on
// keeps its deadlines: the assessment ends in time for the itemized
// statement, the release date never passes the refund deadline, and near
// the deadline the engine settles by itself, whatever is on hold or awaiting
// approval. Deadlines move when the facts do (a forwarding address arrives,
// a claim appears), so every wait also wakes when the clock changes.
//
// The engine acts rules.SafetyMargin before a deadline. A deadline that is
// missed anyway (the move-out was recorded late, the worker was down) is
// recorded with the reason, and where the rule says so the deductions are
// forfeited: the tenant gets everything back.

// law is the lease's rule and the facts its interest needs, once loaded,
// and the time zone where its statute counts days.
type law struct {
	leaseStart    time.Time
	buildingUnits int
	// zone is where the statute counts calendar days (rules.Facts.Zone):
	// the lease's time zone, UTC when it names none. Nil for a lease whose
	// clock started before the zoned-clock version: its deadlines stay
	// exactly what they were, counted in UTC from the trigger's instant.
	zone *time.Location
}

// startClock loads the lease's rule at the move-out and starts its clock.
//
// The day of the move-out is the calendar day of its instant in the
// lease's time zone: the server records a typed day as 00:00 there (and
// "now" as now), so a move-out on 29 March in London is 29 March whatever
// the hour in UTC, and the statute counts its days from there to 00:00
// London time of the day it reaches, across a clock change.
func (d *flow) startClock(ctx workflow.Context) error {
	var l activities.LeaseLaw
	if err := d.write(ctx, a.LoadLeaseLaw, activities.LeaseLawInput{LeaseID: d.in.LeaseID, On: d.state.MovedOutAt}).Get(ctx, &l); err != nil {
		return err
	}
	d.locale(l.Currency, l.TimeZone)
	d.law = &law{leaseStart: l.LeaseStart, buildingUnits: l.BuildingUnits}
	// Leases whose clock started before deadlines counted days in the
	// lease's zone replay with the clock they had.
	if workflow.GetVersion(ctx, "zoned-clock", workflow.DefaultVersion, 1) >= 1 {
		zone, err := rules.LoadZone(l.TimeZone)
		if err != nil {
			// LoadLeaseLaw refuses a zone it does not know, so only a
			// worker built with other zones gets here: the workflow task
			// fails and is retried, and the lease waits, visibly.
			panic(fmt.Sprintf("lease %s: %v", d.in.LeaseID, err))
		}
		d.law.zone = zone
	}
	d.state.Rule, d.state.Jurisdiction = &l.Rule, l.Rule.Code
	if l.Rule.MaxManagerDelay != nil {
		// Where no statute bounds the release, the rule's own limit does,
		// counted as the statute's days are.
		d.maxRelease = l.Rule.MaxManagerDelay.From(d.state.MovedOutAt)
		if d.law.zone != nil {
			d.maxRelease = l.Rule.MaxManagerDelay.FromDayIn(d.state.MovedOutAt, d.law.zone)
		}
	}
	return d.updateClock(ctx)
}

// locale records the lease's currency and time zone as the database has
// them; an activity result recorded before leases had them names none and
// changes nothing.
func (d *flow) locale(currency, timeZone string) {
	if currency != "" {
		d.state.Currency = currency
	}
	if timeZone != "" {
		d.state.TimeZone = timeZone
	}
}

// clockZone is where the lease's statute counts days; nil: the clock as
// it was before zones (see law.zone).
func (d *flow) clockZone() *time.Location {
	if d.law == nil {
		return nil
	}
	return d.law.zone
}

// claim says whether anything will be withheld: some statutes give less
// time when nothing is (US-FL).
func (d *flow) claim() bool {
	s := d.state
	if s.ArrearsCents+s.DeductionsCents+s.KeptCents > 0 || s.PendingKeep != nil {
		return true
	}
	for _, p := range s.Pending {
		if p.Kind == deposit.PendingKeep || (p.Kind == deposit.PendingCharge && p.Charge != nil && p.Charge.Category != deposit.CategoryCredit) {
			return true
		}
	}
	return false
}

// clock computes the lease's deadlines from the facts as they stand now.
func (d *flow) clock() rules.Clock {
	if d.state.Rule == nil {
		return rules.Clock{}
	}
	return d.state.Rule.Clock(rules.Facts{
		MovedOut: d.state.MovedOutAt, ForwardingAt: d.state.ForwardingAt, StatementAt: d.state.StatementAt, Claim: d.claim(),
		Zone: d.clockZone(),
	})
}

// clockKey identifies the deadlines, so that a wait can wake when they move.
func (d *flow) clockKey() string {
	c := d.clock()
	return fmt.Sprint(c.Started, c.StatementDue.Unix(), c.RefundDue.Unix(), c.ObjectionEnds.Unix())
}

// updateClock recomputes the deadlines, pulls the release date in front of
// the refund deadline, and shows the deadline to operators (search attribute,
// details) and to `deposits compliance` (database).
func (d *flow) updateClock(ctx workflow.Context) error {
	d.state.Clock = d.clock()
	c := d.state.Clock
	if c.Started && !d.state.ReleaseAt.IsZero() {
		if by := d.settleBy(); d.state.ReleaseAt.After(by) {
			d.state.ReleaseAt = latest(by, workflow.Now(ctx))
		}
	}
	workflow.SetCurrentDetails(ctx, d.details())
	// Publishing costs history events (an upsert, a local activity): only
	// when there is something new to show. A lease no statute governs has
	// nothing to show at all.
	note := d.deadlineNote()
	shown := fmt.Sprint(c.Started, c.StatementDue.Unix(), c.RefundDue.Unix(), note)
	if shown == d.shown || (d.shown == "" && note == "" && !c.Started) {
		return nil
	}
	d.shown = shown
	if err := workflow.UpsertTypedSearchAttributes(ctx, d.lawAttributes()...); err != nil {
		return err
	}
	return d.write(ctx, a.SaveLeaseDeadlines, activities.DeadlinesInput{
		LeaseID: d.in.LeaseID, StatementDue: c.StatementDue, RefundDue: c.RefundDue, Note: note,
	}).Get(ctx, nil)
}

// deadlineNote is the clock in words, with a missed deadline first.
func (d *flow) deadlineNote() string {
	switch {
	case d.state.DeadlineMissed != "":
		return "MISSED: " + d.state.DeadlineMissed
	case d.state.Rule == nil || !d.state.Rule.HasClock():
		return ""
	}
	return d.state.Clock.Why
}

// statementBy is when the engine sends the itemized statement at the latest
// (zero: no statute sets one yet).
func (d *flow) statementBy() time.Time {
	c := d.clock()
	if !c.Started {
		return time.Time{}
	}
	return rules.ActBy(c.StatementDue)
}

// settleBy is when the engine settles the deposit at the latest, whatever a
// manager has asked (zero: no statute sets one yet).
func (d *flow) settleBy() time.Time {
	c := d.clock()
	if !c.Started {
		return time.Time{}
	}
	return rules.ActBy(c.RefundDue)
}

// statementSent records the itemized statement going out now, and a missed
// statement deadline.
func (d *flow) statementSent(ctx workflow.Context) error {
	if d.state.Rule == nil {
		return nil
	}
	now := workflow.Now(ctx)
	d.state.StatementAt = now
	if c := d.clock(); c.Started && now.After(c.StatementDue) {
		d.missed(ctx, "statement", fmt.Sprintf("the itemized statement went out %s, after its deadline %s under %s",
			d.dayText(now), d.dayText(c.StatementDue), d.state.Rule.Label()))
	}
	// With a claim the tenant may now object for a while (US-FL): the
	// release waits for the window to close.
	if oe := d.clock().ObjectionEnds; oe.After(d.state.ReleaseAt) {
		d.state.ReleaseAt = oe
	}
	return d.updateClock(ctx)
}

// missed records a missed deadline (counted in deposit_deadlines_missed,
// which operators alert on); where the rule says so, the right to
// withhold anything is forfeited and the tenant gets everything back.
func (d *flow) missed(ctx workflow.Context, deadline, why string) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"deadline": deadline}).Counter("deposit_deadlines_missed").Inc(1)
	if d.state.DeadlineMissed == "" {
		d.state.DeadlineMissed = why
	} else {
		d.state.DeadlineMissed += "; " + why
	}
	if d.state.Rule != nil && d.state.Rule.ForfeitsDeductions && !d.state.Forfeited {
		d.state.Forfeited = true
		d.state.DeadlineMissed += ": every deduction is forfeited and the deposit is refunded in full"
	}
}

// settleByStatute is the engine releasing the deposit itself to meet the
// refund deadline: a hold ends, and what awaits approval is not applied:
// where the database is the book of record, each such item is recorded
// there as lapsed (a keep) or declined by the statute (a charge or deposit
// row) before the state changes.
func (d *flow) settleByStatute(ctx workflow.Context) error {
	by := Actor{Actor: "depositflow", Role: deposit.RoleSystem}
	detail := fmt.Sprintf("released to meet the refund deadline %s under %s", d.dayText(d.state.Clock.RefundDue), d.state.Rule.Label())
	if d.state.OnHold {
		d.state.OnHold = false
		detail += "; the hold ended"
	}
	if d.bookOfRecord {
		for len(d.state.Pending) > 0 {
			p := d.state.Pending[0]
			if err := d.decideItem(ctx, p, activities.DecisionLapsed, deposit.Statute); err != nil {
				return err
			}
			d.state.RemovePending(p.Item)
			detail += fmt.Sprintf("; %s (%s %s asked by %s: %s) was not approved in time and is not applied",
				p.Item, p.Kind, d.money(p.AmountCents), p.RequestedBy, p.Reason)
		}
	} else if p := d.state.PendingKeep; p != nil {
		d.state.PendingKeep = nil
		detail += fmt.Sprintf("; the keep of %s asked by %s was not approved in time and is not applied", d.money(p.AmountCents), p.RequestedBy)
	}
	d.record(ctx, "statute", by, detail)
	return nil
}

// interest computes the interest owed as of now under the lease's rule.
func (d *flow) interest(ctx workflow.Context) {
	if d.state.Rule == nil || d.law == nil {
		return
	}
	d.state.Interest = d.state.InterestOwed(workflow.Now(ctx), d.law.leaseStart, d.law.buildingUnits)
	d.state.InterestCents = d.state.Interest.Cents
}
