package rules

import (
	"fmt"
	"time"
)

// SafetyMargin is how long before a statutory deadline the engine acts on
// its own: the statement goes out and the deposit settles a day early, so a
// retried email or payout still lands in time.
const SafetyMargin = 24 * time.Hour

// Facts are what a lease's statutory clock depends on. Times are instants;
// a move-out known by its date is 00:00 of that date (in UTC without a
// Zone, in the Zone with one: MidnightIn).
type Facts struct {
	MovedOut     time.Time // zero: not moved out yet
	ForwardingAt time.Time // when a written forwarding address arrived; zero: none yet
	StatementAt  time.Time // when the itemized statement (notice of a claim) went out; zero: not yet
	// Claim: something will be withheld (arrears, deductions or a keep). Some
	// statutes give less time when nothing is (US-FL).
	Claim bool
	// Zone is the property's time zone (LoadZone), where the law counts
	// calendar days: from the day of the trigger there, to 00:00 there of
	// the day the count reaches.
	//
	// nil is the clock as it was before properties had a zone: the period
	// is added to the trigger's instant in UTC, which for a move-out (00:00
	// UTC of its date) is 00:00 UTC of the counted day, and for an instant
	// (a statement sent at 14:10) the same time of the counted day. A
	// workflow that started without a zone keeps these deadlines on replay.
	Zone *time.Location
}

// deadline is when a period counted from a trigger ends (see Facts.Zone).
func (f Facts) deadline(p Period, trigger time.Time) time.Time {
	if f.Zone == nil {
		return p.From(trigger)
	}
	return p.FromDayIn(trigger, f.Zone)
}

// Clock is a lease's deadlines under its rule. A statute counts whole days
// from the trigger; a deadline here is 00:00 of the day the count reaches in
// the property's zone (UTC by default), the first instant that could be
// called late, so the engine never relies on the last hours of a day.
type Clock struct {
	// Started is false while the trigger has not happened: no move-out yet,
	// or (US-TX) no written forwarding address yet.
	Started      bool      `json:"started"`
	TriggeredAt  time.Time `json:"triggered_at,omitzero"`
	StatementDue time.Time `json:"statement_due,omitzero"` // the itemized statement, or the notice of a claim
	RefundDue    time.Time `json:"refund_due,omitzero"`    // the statutory deadline for the refund
	// ObjectionEnds: after a notice of a claim the tenant may object until
	// then; nothing is deducted before (US-FL).
	ObjectionEnds time.Time `json:"objection_ends,omitzero"`
	ReceiptsDue   time.Time `json:"receipts_due,omitzero"` // receipts for an estimate (US-IL)
	// Why says in words how the deadline was reached.
	Why string `json:"why,omitempty"`
}

// Clock computes the deadlines the rule sets for these facts.
func (r Rule) Clock(f Facts) Clock {
	if !r.HasClock() {
		return Clock{Why: r.Code + ": no statutory deadline; the manager's release date applies"}
	}
	var start time.Time
	var from string
	switch r.Trigger {
	case TriggerVacate:
		start, from = f.MovedOut, "the move-out"
	case TriggerForwarding:
		if !f.MovedOut.IsZero() {
			start, from = f.ForwardingAt, "the written forwarding address"
		}
	case TriggerLaterOf:
		if !f.MovedOut.IsZero() && !f.ForwardingAt.IsZero() {
			start, from = latest(f.MovedOut, f.ForwardingAt), "the move-out"
			if f.ForwardingAt.After(f.MovedOut) {
				from = "the written forwarding address"
			}
		}
	}
	if start.IsZero() {
		why := "the clock starts at the move-out"
		if r.Trigger != TriggerVacate {
			why = "the clock waits for a written forwarding address (deposits forwarding-address)"
		}
		return Clock{Why: fmt.Sprintf("%s: %s", r.Label(), why)}
	}
	c := Clock{Started: true, TriggeredAt: start}
	if !f.Claim && r.NoClaimReturn != nil {
		c.RefundDue = f.deadline(*r.NoClaimReturn, start)
		c.StatementDue = c.RefundDue
		c.Why = fmt.Sprintf("%s: refund within %s of %s when nothing is withheld", r.Label(), r.NoClaimReturn, from)
		return c
	}
	c.RefundDue = f.deadline(*r.Return, start)
	c.StatementDue = c.RefundDue
	c.Why = fmt.Sprintf("%s: refund within %s of %s", r.Label(), r.Return, from)
	if r.Statement != nil {
		c.StatementDue = f.deadline(*r.Statement, start)
		c.Why += fmt.Sprintf(", itemized statement within %s", r.Statement)
	}
	if r.ReturnAfterStatement != nil {
		notice := f.StatementAt
		if notice.IsZero() || notice.After(c.StatementDue) {
			notice = c.StatementDue
		}
		c.RefundDue = earliest(c.RefundDue, f.deadline(*r.ReturnAfterStatement, notice))
		c.Why += fmt.Sprintf(", the balance within %s of the notice", r.ReturnAfterStatement)
	}
	if !f.StatementAt.IsZero() {
		if r.ObjectionWindow != nil && f.Claim {
			c.ObjectionEnds = f.deadline(*r.ObjectionWindow, f.StatementAt)
		}
		if r.ReceiptsWithin != nil && f.Claim {
			c.ReceiptsDue = f.deadline(*r.ReceiptsWithin, f.StatementAt)
		}
	}
	return c
}

// ActBy is when the engine acts on its own to meet a deadline: the margin
// before it.
func ActBy(deadline time.Time) time.Time {
	if deadline.IsZero() {
		return deadline
	}
	return deadline.Add(-SafetyMargin)
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
