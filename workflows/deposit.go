// Package workflows holds the deposit workflow: one durable workflow per lease
// that owns the security deposit from the first charge to the refund or the
// invoice. This file tells its story from top to bottom; ledger.go applies
// the facts that arrive by signal, decisions.go the managers' Updates,
// mail.go the emails, law.go the statutory clock, state.go the names other
// programs use to talk to it. The deposit's vocabulary (its state, stages and
// the refund maths) is internal/deposit, shared with everything outside.
package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/rules"
	"github.com/depositflow/depositflow/templates"
)

// a is only used to name activities; the worker registers the real one.
var a *activities.Activities

// DepositWorkflow runs one lease's deposit:
//
//	expect → charge + request email → await payment ⇄ held + receipt →
//	move-out → assess final charges → notice with release date →
//	release date → settle: refund payouts or invoice + email → closed
//
// Payments (and returned payments), charges, amendments and the move-out
// arrive as signals at any point; managers decide by Updates after the
// move-out; the state query answers with everything known.
func DepositWorkflow(ctx workflow.Context, in LeaseInput) (deposit.State, error) {
	d := newFlow(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (deposit.State, error) { return d.state, nil }); err != nil {
		return d.state, err
	}
	if err := d.registerDecisions(ctx); err != nil {
		return d.state, err
	}
	d.listen(ctx)
	d.startMailer(ctx)
	// Leases started before short database writes became local activities
	// replay with regular ones.
	d.localWrites = workflow.GetVersion(ctx, "local-db-writes", workflow.DefaultVersion, 1) >= 1
	// Leases started before the database became the book of record keep
	// their old behaviour to the end: they apply what a signal says, believe
	// the actor an Update names, and build each email's lines themselves.
	// Their settlement is checked against the books all the same: a
	// difference fails SettleDeposit with a retryable error, so such a lease
	// waits on that failing activity, visibly, instead of paying.
	d.bookOfRecord = workflow.GetVersion(ctx, "book-of-record", workflow.DefaultVersion, 1) >= 1
	// Leases started before continuing as new existed never do.
	d.canContinue = workflow.GetVersion(ctx, "continue-as-new", workflow.DefaultVersion, 1) >= 1
	// Leases started before the tenant's side existed take no disputes.
	d.disputesOn = d.bookOfRecord && workflow.GetVersion(ctx, "disputes", workflow.DefaultVersion, 1) >= 1
	// Leases started before transfers and partial refunds existed (#16)
	// take none: the server refuses them for such a lease.
	d.movesOn = d.bookOfRecord && workflow.GetVersion(ctx, "transfers", workflow.DefaultVersion, 1) >= 1
	// Leases started before the manager's alerts remind 3 days and 1 day
	// before the release, and send no alert at the move-out.
	d.managerAlerts = d.bookOfRecord && workflow.GetVersion(ctx, "manager-alerts", workflow.DefaultVersion, 1) >= 1
	// Leases started before card holds existed never take one; a lease
	// takes one when its property's deposits are card holds (cardhold.go).
	if in.Carried == nil && in.CardPaymentMethod != "" {
		d.cardOn = workflow.GetVersion(ctx, "card-holds", workflow.DefaultVersion, 1) >= 1
	}
	if in.Carried != nil {
		// Continued as new: the story resumes where the last run stopped.
		d.localWrites, d.disputesOn = in.Carried.LocalWrites, in.Carried.Disputes
		d.movesOn, d.managerAlerts, d.cardOn = in.Carried.MoneyMoves, in.Carried.ManagerAlerts, in.Carried.CardHolds
		if err := d.publish(ctx, true); err != nil {
			return d.state, err
		}
	}
	if d.disputesOn {
		d.state.Disputable = true
		d.startDisputeReminders(ctx)
	}
	d.state.MoneyMoves = d.movesOn

	// 1. Expect the deposit: the listing's advertised amount unless the manager gave one.
	if d.step < stepCharged {
		var exp activities.Expectation
		if err := d.write(ctx, a.ExpectDeposit, activities.ExpectDepositInput{
			LeaseID: in.LeaseID, AmountCents: in.AmountCents, Key: d.key("expect"),
		}).Get(ctx, &exp); err != nil {
			return d.state, err
		}
		d.expect(exp)
		workflow.SetCurrentDetails(ctx, d.details())

		// 2. Charge it on the resident ledger and ask the tenant to pay.
		if err := d.write(ctx, a.ChargeDeposit, activities.ChargeDepositInput{
			LeaseID: in.LeaseID, AmountCents: exp.ExpectedCents, Key: d.key("charge-deposit"),
		}).Get(ctx, &d.state.DepositChargeID); err != nil {
			return d.state, err
		}
		// A deposit held on the card is not asked for, unless the hold
		// could not be placed.
		if d.cardOn {
			d.placeCardHold(ctx)
		}
		if !d.state.CardHold.Active() {
			d.email(templates.KindRequest, "")
		}
		d.step = stepCharged
	}
	if d.cardOn {
		d.startCardRenewals(ctx)
	}

	// 3. Until the move-out the stage follows the money: held (with a
	// receipt) while the cash deposit is paid in full, back to awaiting
	// payment when it no longer is (a returned payment, a raised deposit).
	// Partial payments add up; an over-payment stays as a credit and comes
	// back with the refund; a tenant may move out before paying everything.
	for d.step < stepAssessing {
		covered := d.covered()
		switch {
		case covered && d.state.Stage == deposit.StageAwaitingPayment:
			if err := d.setStage(ctx, deposit.StageHeld); err != nil {
				return d.state, err
			}
			d.receipts++
			d.email(templates.KindReceipt, numbered(d.receipts))
			workflow.GetMetricsHandler(ctx).Counter("deposit_held").Inc(1)
		case !covered && d.state.Stage == deposit.StageHeld:
			if err := d.setStage(ctx, deposit.StageAwaitingPayment); err != nil {
				return d.state, err
			}
		}
		if d.movedOut() {
			break
		}
		if err := d.await(ctx, func() bool { return d.covered() != covered || d.movedOut() }); err != nil {
			return d.state, err
		}
	}

	// 4. Assess final charges until the assessment window closes. Both the
	// window and the release date count from the move-out; a release date
	// that falls inside the window (or passed before the move-out was
	// recorded) moves to the end of the window.
	if d.step < stepAssessing {
		moveOut := d.state.MovedOutAt
		d.state.AssessUntil = moveOut.Add(in.AssessFor())
		d.state.ReleaseAt = latest(moveOut.Add(in.ReleaseAfter()), d.state.AssessUntil)
		// The lease's jurisdiction sets a statutory clock from here (law.go);
		// leases started before it existed replay without one.
		if workflow.GetVersion(ctx, "statutory-clock", workflow.DefaultVersion, 1) >= 1 {
			if err := d.startClock(ctx); err != nil {
				return d.state, err
			}
		}
		if err := d.setStage(ctx, deposit.StageAssessing); err != nil {
			return d.state, err
		}
		if d.managerAlerts {
			// The property's managers hear of the move-out at once, each
			// with links to release now, extend a week or open the lease.
			d.alertManagers(templates.KindReminder, "email/manager-alert", true)
		}
		d.step = stepAssessing
	}
	if d.step < stepNotified {
		// A manager may release now (an Update) and end the window early; the
		// statute ends it in time for the itemized statement.
		if err := d.awaitAssessment(ctx); err != nil {
			return d.state, err
		}

		// 5. Tell the tenant every deduction and the release date: the itemized
		// statement. A deposit released during the window goes straight to the
		// refund, whose email carries the same statement.
		d.interest(ctx)
		if err := d.statementSent(ctx); err != nil {
			return d.state, err
		}
		if !d.releaseNow {
			d.state.ReleaseAt = latest(d.state.ReleaseAt, workflow.Now(ctx))
			if err := d.setStage(ctx, deposit.StageReleasePending); err != nil {
				return d.state, err
			}
			d.email(templates.KindNotice, "")
		}
		d.step = stepNotified
	}

	if d.step < stepSettled {
		// 6. Wait for the release date, reminding the manager before it.
		// Managers may extend it, keep part, hold it or release now meanwhile.
		if !d.releaseNow {
			if err := d.awaitRelease(ctx); err != nil {
				return d.state, err
			}
		}

		// 7. Settle: refund what is left, or invoice what is owed, and close. If
		// the database's books do not bear the settlement out, nothing is paid:
		// the lease waits in books_disagree until an admin rechecks them.
		// What the tenant disputes stays held (disputes.go).
		if err := d.settleFromTheBooks(ctx); err != nil {
			return d.state, err
		}
		d.step = stepSettled
	}

	// 7b. Disputed items: each resolution is paid back at once; the lease
	// closes once every one is settled.
	if d.disputesOn {
		if err := d.awaitDisputes(ctx); err != nil {
			return d.state, err
		}
	}

	// 8. Every email has gone out (or failed for good), and every update
	// handler has finished, before the lease closes.
	if err := workflow.Await(ctx, func() bool { return d.mailDone() && workflow.AllHandlersFinished(ctx) }); err != nil {
		return d.state, err
	}
	workflow.GetLogger(ctx).Info("deposit closed", "lease_id", in.LeaseID, "outcome", d.state.Outcome,
		"refund_cents", d.state.RefundCents, "balance_owed_cents", d.state.BalanceOwedCents)
	return d.state, nil
}

// Steps of the story a lease has passed: a run continued as new resumes
// after the last one.
const (
	stepStart     = iota
	stepCharged   // the deposit is expected, charged and asked for
	stepAssessing // moved out: the window, the release date and the clock are set
	stepNotified  // the itemized statement (or the release) is decided
	stepSettled   // the settlement is written; disputed items may still be held
)

// flow is the workflow's memory between steps. What must outlive a run is
// carried into the next at a continue-as-new (carry, newFlow).
type flow struct {
	in           LeaseInput
	state        deposit.State
	step         int  // how far the story got
	expected     bool // the expectation is known
	settled      bool
	releaseNow   bool            // a manager released the deposit
	receipts     int             // receipts sent: a deposit can be held again after a returned payment
	decisionMu   workflow.Mutex  // one decision handler at a time
	law          *law            // the jurisdiction's facts, once the clock started
	maxRelease   time.Time       // the latest release date a manager may set; zero: 120 days after the move-out
	shown        string          // the deadlines last shown to operators and the database
	mirrored     string          // the view last mirrored into the lease's row
	reminded     map[string]bool // reminders already queued, by key
	localWrites  bool            // short database writes run as local activities
	bookOfRecord bool            // facts are read from the database, decisions claimed from its audit log
	canContinue  bool            // continues as new when the server suggests it
	seen         map[string]bool // signal facts already applied, by database ID
	requests     []int64         // decision requests (audit rows) already used
	signals      []workflow.ReceiveChannel
	drain        workflow.Channel // asks the listener to apply every signal left, before continuing as new
	drained      bool             // it did: nothing is left
	listening    bool             // the listener is applying a signal (it may be reading the fact)
	facts        int              // facts applied so far: a wait for the books wakes on a new one
	recheck      *recheckBooks
	settling     bool           // the settlement is being written: facts wait (deferred)
	deferred     []deferredFact // facts that arrived meanwhile
	alerts       int            // books_disagree alerts sent
	draining     bool           // about to continue as new: the mailer takes no new email
	mailq        []outgoing
	mailBusy     bool
	// The tenant's side (disputes.go).
	disputesOn    bool          // the lease takes disputes
	disputeSeq    int           // disputed items read so far: waits wake on a new read
	disputeRemind time.Duration // how long an item waits for an answer before a reminder
	// Transfers and partial refunds (moves.go).
	movesOn bool // the lease takes them
	// The manager's alerts (version manager-alerts): an alert at the
	// move-out, reminders on the property's schedule (10, 5 and 1 days
	// before the release by default).
	managerAlerts bool
	// Card holds (cardhold.go).
	cardOn   bool // the deposit is a hold on the tenant's card
	cardBusy bool // a hold is being placed
	cardStop bool // the settlement took the hold over: no more renewals
}

// newFlow is a new lease's memory, or the one carried from the last run.
func newFlow(ctx workflow.Context, in LeaseInput) *flow {
	d := &flow{in: in, state: deposit.State{
		LeaseID: in.LeaseID, PropertyID: in.PropertyID, UnitID: in.UnitID, Jurisdiction: in.Jurisdiction,
		Stage: deposit.StageAwaitingPayment, Payments: []deposit.Payment{}, Charges: []deposit.Charge{}, EmailsSent: []string{},
		Kept: []deposit.Keep{}, Decisions: []deposit.Decision{}, Deposits: []deposit.DepositRow{}, Tenants: []deposit.Tenant{}, Payouts: []deposit.Payout{},
	}, decisionMu: workflow.NewMutex(ctx), reminded: map[string]bool{}, seen: map[string]bool{}}
	c := in.Carried
	if c == nil {
		return d
	}
	d.in.Carried = nil
	d.state, d.step, d.expected, d.releaseNow, d.receipts = c.State, c.Step, c.Expected, c.ReleaseNow, c.Receipts
	d.maxRelease, d.shown, d.mirrored, d.alerts, d.localWrites = c.MaxRelease, c.Shown, c.Mirrored, c.Alerts, c.LocalWrites
	d.disputesOn, d.disputeRemind, d.disputeSeq, d.settled = c.Disputes, c.RemindAfter, c.DisputeSeq, c.Step >= stepSettled
	d.managerAlerts = c.ManagerAlerts
	d.cardOn = c.CardHolds
	if c.Law != nil {
		d.law = &law{leaseStart: c.Law.LeaseStart, buildingUnits: c.Law.BuildingUnits}
		if c.Law.Zone != "" {
			zone, err := rules.LoadZone(c.Law.Zone)
			if err != nil {
				// As in startClock: a worker built with other zones; the
				// task is retried until one that knows it runs.
				panic(fmt.Sprintf("lease %s: %v", in.LeaseID, err))
			}
			d.law.zone = zone
		}
	}
	if c.Reminded != nil {
		d.reminded = c.Reminded
	}
	if c.Seen != nil {
		d.seen = c.Seen
	}
	d.requests = slices.Clone(c.Requests)
	for _, m := range c.Mail {
		d.mailq = append(d.mailq, outgoing{EmailInput: m, toManager: m.ToManager})
	}
	return d
}

// covered says whether the cash deposit is paid in full.
func (d *flow) covered() bool {
	paid := d.state.PaidCents
	if h := d.state.CardHold; h.Active() {
		paid += h.AmountCents // a hold that stands secures the deposit
	}
	return d.expected && paid >= d.state.ExpectedCents
}

func (d *flow) movedOut() bool { return !d.state.MovedOutAt.IsZero() }

// key is an idempotency key for one step of this lease: the lease and the
// step, never the run, so it survives continue-as-new and a reset.
func (d *flow) key(step string) string { return WorkflowID(d.in.LeaseID) + "/" + step }

// numbered names the nth occurrence of a step: "" for the first, "-2" after.
func numbered(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf("-%d", n)
}

// setStage moves the deposit to a stage, shows it to operators (search
// attributes and details) and mirrors it into the database.
func (d *flow) setStage(ctx workflow.Context, stage string) error {
	d.state.Stage = stage
	if err := d.publish(ctx, true); err != nil {
		return err
	}
	if d.bookOfRecord {
		return d.mirror(ctx, true)
	}
	return d.write(ctx, a.SaveLeaseStage, activities.StageInput{
		LeaseID: d.in.LeaseID, Stage: stage, Outcome: d.state.Outcome,
		MovedOutAt: d.state.MovedOutAt, ReleaseAt: d.state.ReleaseAt, ClosedAt: d.state.ClosedAt,
	}).Get(ctx, nil)
}

// mirror writes what only the workflow knows into the lease's row (the
// stage, the dates, the hold, the clock, the interest, a missed deadline,
// why the books disagree) when it changed since the last time, or always
// at a stage change: the emails and statements are built from that row.
func (d *flow) mirror(ctx workflow.Context, always bool) error {
	s := d.state
	view := activities.ViewOf(s)
	in := activities.StageInput{LeaseID: d.in.LeaseID, Stage: s.Stage, Outcome: s.Outcome,
		MovedOutAt: s.MovedOutAt, ReleaseAt: s.ReleaseAt, ClosedAt: s.ClosedAt}
	// The key is made of values only (never the view's address, which a
	// replay would not have), so the same view is never written twice.
	key := fmt.Sprintf("%+v %+v", in, view)
	in.View = &view
	if key == d.mirrored && !always {
		return nil
	}
	if err := d.write(ctx, a.SaveLeaseStage, in).Get(ctx, nil); err != nil {
		return err
	}
	d.mirrored = key
	return nil
}

// ReminderOffsets are how long before an automatic release the property's
// manager was reminded before the manager-alerts version (seed 004:
// "numerous reminders before the money is refunded").
var ReminderOffsets = []time.Duration{3 * 24 * time.Hour, 24 * time.Hour}

// DefaultReminderDays are the days before an automatic release the
// property's managers are reminded, unless the property sets its own
// (`deposits property set P --reminder-days 10,5,1`).
var DefaultReminderDays = []int{10, 5, 1}

// reminderOffsets are this lease's reminders before its release date,
// largest first: the property's schedule, read as the wait for the release
// begins (a changed schedule applies to the next wait), or the old 3 days
// and 1 day for leases started before the manager's alerts.
func (d *flow) reminderOffsets(ctx workflow.Context) ([]time.Duration, error) {
	if !d.managerAlerts {
		return ReminderOffsets, nil
	}
	var p activities.Policy
	if err := d.read(ctx, a.GetPropertyPolicy, d.in.PropertyID).Get(ctx, &p); err != nil {
		return nil, err
	}
	days := p.ReminderDays
	if days == nil {
		days = DefaultReminderDays
	}
	days = slices.Clone(days)
	slices.Sort(days)
	slices.Reverse(days)
	days = slices.Compact(days)
	out := make([]time.Duration, 0, len(days))
	for _, n := range days {
		if n > 0 {
			out = append(out, time.Duration(n)*24*time.Hour)
		}
	}
	return out, nil
}

// awaitRelease waits for the release date, which managers may move (the
// updatable-timer pattern: wait for the date or a change, whichever comes
// first, and re-arm). On the way it reminds the manager before the release;
// on hold it waits for a manual release and reminds the manager once when
// the date has passed; a keep awaiting approval holds the release until it
// is decided. Where a statute governs, none of that may pass the refund
// deadline: the engine then settles by itself (settleBy, law.go), and the
// reminders count down to that.
func (d *flow) awaitRelease(ctx workflow.Context) error {
	// Workflows recorded before reminders existed replay without them.
	reminders := workflow.GetVersion(ctx, "release-reminders", workflow.DefaultVersion, 1) >= 1
	var offsets []time.Duration
	if reminders {
		var err error
		if offsets, err = d.reminderOffsets(ctx); err != nil {
			return err
		}
	}
	for !d.releaseNow {
		at, onHold, key := d.state.ReleaseAt, d.state.OnHold, d.clockKey()
		now := workflow.Now(ctx)
		forced := d.settleBy()
		if !forced.IsZero() && !forced.After(now) {
			return d.settleByStatute(ctx)
		}
		target := at
		if !forced.IsZero() && (onHold || forced.Before(at)) {
			target = forced
		}
		wake, reminder := target, ""
		if reminders && (!onHold || !forced.IsZero()) {
			for _, before := range offsets {
				key := fmt.Sprintf("email/reminder-%s-%s", target.UTC().Format("20060102T150405Z"), before)
				if t := target.Add(-before); t.After(now) && !d.reminded[key] {
					wake, reminder = t, key
					break
				}
			}
		}
		changed := func() bool {
			return d.releaseNow || !d.state.ReleaseAt.Equal(at) || d.state.OnHold != onHold || d.clockKey() != key
		}
		if wake.After(now) {
			woke, err := d.awaitTimeout(ctx, wake.Sub(now), changed)
			if err != nil {
				return err
			}
			if !woke && reminder != "" {
				d.reminded[reminder] = true
				d.alertManagers(templates.KindReminder, reminder, false)
			}
			if err := d.clockMoved(ctx, key); err != nil {
				return err
			}
			continue
		}
		// The release date has come.
		var waitFor func() bool
		switch {
		case onHold:
			if reminders && !d.reminded["email/hold-reminder"] {
				d.reminded["email/hold-reminder"] = true
				d.alertManagers(templates.KindReminder, "email/hold-reminder", false)
			}
			waitFor = func() bool { return d.releaseNow || !d.state.OnHold }
		case d.state.AwaitsApproval():
			waitFor = func() bool { return d.releaseNow || !d.state.AwaitsApproval() }
		default:
			return nil
		}
		if forced.IsZero() {
			// No deadline yet; one may start meanwhile (a forwarding address).
			if err := d.await(ctx, func() bool { return waitFor() || d.clockKey() != key }); err != nil {
				return err
			}
			if err := d.clockMoved(ctx, key); err != nil {
				return err
			}
			continue
		}
		if _, err := d.awaitTimeout(ctx, forced.Sub(now), func() bool { return waitFor() || d.clockKey() != key }); err != nil {
			return err
		}
		if err := d.clockMoved(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// awaitAssessment waits for the end of the assessment window, a manager's
// release, or the last moment to send the itemized statement in time,
// following the statutory clock as it moves.
func (d *flow) awaitAssessment(ctx workflow.Context) error {
	for {
		until, key := d.state.AssessUntil, d.clockKey()
		if by := d.statementBy(); !by.IsZero() && by.Before(until) {
			until = by
		}
		if _, err := d.awaitUntil(ctx, until, func() bool { return d.releaseNow || (d.law != nil && d.clockKey() != key) }); err != nil {
			return err
		}
		if d.releaseNow || !workflow.Now(ctx).Before(until) {
			return nil
		}
		if err := d.clockMoved(ctx, key); err != nil {
			return err
		}
	}
}

// clockMoved saves and shows the deadlines again if they moved since key.
func (d *flow) clockMoved(ctx workflow.Context, key string) error {
	if d.law == nil || d.clockKey() == key {
		return nil
	}
	return d.updateClock(ctx)
}

// terms are the figures of the refund maths as they stand.
func (d *flow) terms() deposit.Terms { return d.state.Terms() }

// settleFromTheBooks settles; where the database is the book of record and
// its books do not bear the settlement out, nothing is paid: the lease
// shows why (stage books_disagree), alerts the property's manager, and
// waits for an admin's recheck_books (or a new fact) to settle again.
func (d *flow) settleFromTheBooks(ctx workflow.Context) error {
	for {
		err := d.settle(ctx)
		var appErr *temporal.ApplicationError
		if !d.bookOfRecord || !errors.As(err, &appErr) || appErr.Type() != activities.ErrBooksDisagree {
			return err
		}
		if err := d.booksDisagree(ctx, appErr.Message()); err != nil {
			return err
		}
	}
}

// booksDisagree stops the lease before any money moves, says why, and
// waits for what may settle it: a recheck (after rebuilding the workflow's
// view from the database, if asked) or a new fact.
func (d *flow) booksDisagree(ctx workflow.Context, why string) error {
	d.settled = false
	if why != d.state.BooksDisagree {
		d.state.BooksDisagree = why
		d.alerts++
		d.remind(templates.KindBooksDisagree, "email/books-disagree"+numbered(d.alerts))
		workflow.GetMetricsHandler(ctx).Counter("deposit_books_disagree").Inc(1)
		workflow.GetLogger(ctx).Error("the books disagree: nothing was paid", "lease_id", d.in.LeaseID, "why", why)
	}
	if err := d.setStage(ctx, deposit.StageBooksDisagree); err != nil {
		return err
	}
	facts := d.facts
	// Facts that arrived while the refused settlement was written apply
	// now, and settle it again at once.
	d.replayDeferred(ctx)
	if err := d.await(ctx, func() bool { return d.recheck != nil || d.facts != facts }); err != nil {
		return err
	}
	r := d.recheck
	d.recheck = nil
	if r != nil && r.rebuild {
		return d.rebuild(ctx)
	}
	return nil
}

// rebuild replaces the workflow's view of the lease's facts with every fact
// the database holds for it.
func (d *flow) rebuild(ctx workflow.Context) error {
	var f activities.LeaseFacts
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.ReadLeaseFacts, d.in.LeaseID).Get(ctx, &f); err != nil {
		return err
	}
	f.Fold(&d.state)
	d.seen = map[string]bool{}
	for _, p := range f.Payments {
		d.seen[factKey("p", p.PaymentID)] = true
		if p.Returned {
			d.seen[factKey("r", p.PaymentID)] = true
		}
	}
	for _, c := range f.Charges {
		if deposit.Counts(c.Approval) || c.Approval == deposit.ApprovalDeclined {
			d.seen[factKey("c", c.ChargeID)] = true
		}
	}
	for _, r := range f.Deposits {
		if deposit.Counts(r.Approval) || r.Approval == deposit.ApprovalDeclined {
			d.seen[factKey("d", r.DepositID)] = true
		}
	}
	for _, e := range f.EarlierRefunds {
		d.seen[factKey(earlierKind(e.Kind), e.ID)] = true
	}
	workflow.GetLogger(ctx).Info("view rebuilt from the database", "lease_id", d.in.LeaseID,
		"received_cents", d.state.ReceivedCents, "pending", len(d.state.Pending))
	return nil
}

// settle computes the refund and writes the settlement: the refund split
// into payouts, or the invoice for the balance owed.
func (d *flow) settle(ctx workflow.Context) error {
	d.settled = true
	if d.state.Rule != nil {
		d.interest(ctx)
		if c := d.clock(); c.Started && workflow.Now(ctx).After(c.RefundDue) && !strings.Contains(d.state.DeadlineMissed, "after its refund deadline") {
			d.missed(ctx, "refund", fmt.Sprintf("the deposit was settled %s, after its refund deadline %s under %s",
				d.dayText(workflow.Now(ctx)), d.dayText(c.RefundDue), d.state.Rule.Label()))
		}
		if d.state.Forfeited {
			d.state.ForfeitedCents = d.state.ArrearsCents + d.state.DeductionsCents + d.state.KeptCents
		}
		if err := d.updateClock(ctx); err != nil {
			return err
		}
	}
	// A hold on the tenant's card becomes what it pays: what is kept is
	// captured as a payment by card, the rest released.
	if err := d.settleCardHold(ctx); err != nil {
		return err
	}
	t := d.terms()
	s := deposit.Settle(t)
	d.state.RefundCents, d.state.BalanceOwedCents, d.state.Outcome = s.RefundCents, s.BalanceOwedCents, s.Outcome
	d.state.Payouts = d.payouts(s.RefundCents)

	// Leases started before settlements existed issue their refund or
	// invoice as they did then, so their histories replay.
	if workflow.GetVersion(ctx, "settlement", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		if err := d.settleV0(ctx, s); err != nil {
			return err
		}
	} else {
		in := activities.SettleInput{
			LeaseID: d.in.LeaseID, Key: d.key("settlement"),
			ReceivedCents: t.ReceivedCents, InterestCents: t.InterestCents, CreditsCents: t.CreditsCents,
			ArrearsCents: t.ArrearsCents, DeductionsCents: t.DeductionsCents, KeptCents: t.KeptCents,
			EarlierRefundsCents: t.EarlierRefundsCents, RefundCents: s.RefundCents, BalanceOwedCents: s.BalanceOwedCents,
			GuaranteeCents: d.state.GuaranteeCents, Outcome: s.Outcome, Kept: []activities.KeptLine{}, Payouts: []activities.PayoutPlan{},
		}
		for _, k := range d.state.Kept {
			in.Kept = append(in.Kept, activities.KeptLine{AmountCents: k.AmountCents, Reason: k.Reason, RequestedBy: k.RequestedBy, ApprovedBy: k.ApprovedBy})
		}
		for _, p := range d.state.Payouts {
			in.Payouts = append(in.Payouts, activities.PayoutPlan{ResidentID: p.ResidentID, Email: p.Email, Name: p.Name, AmountCents: p.AmountCents})
		}
		if len(d.state.Tenants) > 0 {
			in.InvoiceResidentID = d.state.Tenants[0].ResidentID
		}
		if d.bookOfRecord {
			in.Books = &activities.BooksCheck{At: workflow.Now(ctx), Forfeited: d.state.Forfeited}
		}
		in.HoldDisputes = d.disputesOn
		var res activities.SettleResult
		d.settling = true
		err := workflow.ExecuteActivity(dbCtx(ctx), a.SettleDeposit, in).Get(ctx, &res)
		d.settling = false
		if err != nil {
			return err
		}
		// What arrived while it was written came after the settlement.
		for _, f := range d.deferred {
			d.late(f.What)
		}
		d.deferred = nil
		d.state.SettlementID, d.state.InvoiceID = res.SettlementID, res.InvoiceID
		for i := range d.state.Payouts {
			if i < len(res.RefundIDs) {
				d.state.Payouts[i].RefundID = res.RefundIDs[i]
			}
		}
		if len(res.RefundIDs) > 0 {
			d.state.RefundID = res.RefundIDs[0]
		}
		if d.disputesOn {
			d.adoptHeld(res.Held)
		}
		// What the tenant paid by card goes back to the card (leases that
		// settled before card payments existed had none).
		if s.RefundCents > 0 && d.paidByCard() && workflow.GetVersion(ctx, "card-holds", workflow.DefaultVersion, 1) >= 1 {
			if err := d.refundToCards(ctx, s.RefundCents); err != nil {
				return err
			}
		}
	}

	// Conservation: what came in is now either refunded or applied to what
	// the tenant owed; nothing is held any more.
	// What the tenant disputes stays held until it is resolved.
	funds := t.ReceivedCents + t.InterestCents + t.CreditsCents
	held := deposit.DisputedHeld(d.state.Disputes)
	d.state.AppliedCents = funds - s.RefundCents - held - t.EarlierRefundsCents
	d.state.HeldCents = held

	d.state.ClosedAt, d.state.BooksDisagree = workflow.Now(ctx), ""
	stage := deposit.StageClosed
	if d.disputesOn && slices.ContainsFunc(d.state.Disputes, func(it deposit.Dispute) bool { return it.Held && !it.Resolved() }) {
		stage = deposit.StageDisputed
	}
	if err := d.setStage(ctx, stage); err != nil {
		return err
	}
	metrics := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": s.Outcome})
	metrics.Counter("deposit_settled").Inc(1)
	if s.RefundCents > 0 {
		metrics.Counter("deposit_refunds_issued").Inc(int64(len(d.state.Payouts)))
		metrics.Counter("deposit_refunded_cents").Inc(s.RefundCents)
	}
	if s.BalanceOwedCents > 0 {
		d.email(templates.KindBalanceOwed, "")
	} else if s.Outcome != deposit.OutcomeNothingDue || (d.cardOn && d.state.CardHold != nil) {
		// A hold on the card that was released is news to the tenant too.
		d.email(templates.KindRefund, "")
	}
	return nil
}

// payouts splits a refund: all of it to the newest payee when an amendment
// named one, otherwise among the tenants by their shares, to the cent.
func (d *flow) payouts(refund int64) []deposit.Payout { return deposit.PlannedPayouts(d.state, refund) }

// settleV0 is how leases started before settlements issued their refund or
// invoice: one refund row or one invoice row.
func (d *flow) settleV0(ctx workflow.Context, s deposit.Settlement) error {
	in := activities.SettlementInput{
		LeaseID: d.in.LeaseID, ReceivedCents: d.state.ReceivedCents,
		ArrearsCents: d.state.ArrearsCents, DeductionsCents: d.state.DeductionsCents, KeptCents: d.state.KeptCents,
	}
	var p activities.Payable
	switch {
	case s.RefundCents > 0:
		in.Key, in.AmountCents = d.key("refund"), s.RefundCents
		if err := workflow.ExecuteActivity(dbCtx(ctx), a.IssueRefund, in).Get(ctx, &p); err != nil {
			return err
		}
		d.state.RefundID = p.ID
	case s.BalanceOwedCents > 0:
		in.Key, in.AmountCents = d.key("invoice"), s.BalanceOwedCents
		if err := workflow.ExecuteActivity(dbCtx(ctx), a.IssueInvoice, in).Get(ctx, &p); err != nil {
			return err
		}
		d.state.InvoiceID = p.ID
	}
	return nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Waits at the safe points of the story (the payment loop, the assessment,
// the release wait, the books_disagree wait) go through these: when the
// server suggests it, the workflow continues as new there, and the next
// run resumes the same wait.

// await waits until cond holds, or continues as new.
func (d *flow) await(ctx workflow.Context, cond func() bool) error {
	if err := workflow.Await(ctx, func() bool { return cond() || d.suggested(ctx) }); err != nil {
		return err
	}
	if !cond() {
		return d.continueAsNew(ctx)
	}
	return nil
}

// awaitTimeout waits until cond holds or the timeout passes, and says
// whether cond held; or continues as new.
func (d *flow) awaitTimeout(ctx workflow.Context, timeout time.Duration, cond func() bool) (bool, error) {
	if _, err := workflow.AwaitWithTimeout(ctx, timeout, func() bool { return cond() || d.suggested(ctx) }); err != nil {
		return false, err
	}
	if cond() {
		return true, nil
	}
	if d.suggested(ctx) {
		return false, d.continueAsNew(ctx)
	}
	return false, nil
}

// awaitUntil waits until t or until cond holds, and says whether cond did.
func (d *flow) awaitUntil(ctx workflow.Context, t time.Time, cond func() bool) (bool, error) {
	left := t.Sub(workflow.Now(ctx))
	if left <= 0 {
		return cond(), nil
	}
	return d.awaitTimeout(ctx, left, cond)
}

// suggested says whether to continue as new: the server suggests it when
// the history grows long (leases live for years).
func (d *flow) suggested(ctx workflow.Context) bool {
	return d.canContinue && workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// continueAsNew ends this run and starts the next with the workflow's
// memory: once every buffered signal is applied (none being read), every
// update handler has finished, and no email is being sent. The emails
// still queued go with it; their keys are the lease's and the step's, so
// none goes out twice, and nothing is paid twice either.
func (d *flow) continueAsNew(ctx workflow.Context) error {
	d.draining = true
	if err := workflow.Await(ctx, func() bool {
		return !d.listening && d.buffered() == 0 && !d.mailBusy && !d.cardBusy && workflow.AllHandlersFinished(ctx)
	}); err != nil {
		return err
	}
	// Last, the listener applies whatever signal it was handed meanwhile (the
	// SDK gives a signal to a waiting selector without counting it in its
	// channel); the run ends in the same step, so none can slip in between.
	d.drain.SendAsync(true)
	if err := workflow.Await(ctx, func() bool { return d.drained && !d.listening }); err != nil {
		return err
	}
	workflow.GetLogger(ctx).Info("continuing as new", "lease_id", d.in.LeaseID, "stage", d.state.Stage, "step", d.step)
	return workflow.NewContinueAsNewError(ctx, WorkflowType, d.carry())
}

// buffered counts the signals received and not yet applied.
func (d *flow) buffered() int {
	n := 0
	for _, c := range d.signals {
		n += c.Len()
	}
	return n
}

// carry is the input of the next run: the lease and the workflow's memory.
func (d *flow) carry() LeaseInput {
	in := d.in
	c := &Carried{State: d.state, Step: d.step, Expected: d.expected, ReleaseNow: d.releaseNow, Receipts: d.receipts,
		MaxRelease: d.maxRelease, Shown: d.shown, Mirrored: d.mirrored, Reminded: d.reminded, Seen: d.seen,
		Alerts: d.alerts, LocalWrites: d.localWrites, Disputes: d.disputesOn, RemindAfter: d.disputeRemind, DisputeSeq: d.disputeSeq,
		MoneyMoves: d.movesOn, ManagerAlerts: d.managerAlerts, CardHolds: d.cardOn}
	if d.law != nil {
		c.Law = &CarriedLaw{LeaseStart: d.law.leaseStart, BuildingUnits: d.law.buildingUnits}
		if d.law.zone != nil {
			c.Law.Zone = d.law.zone.String()
		}
	}
	c.Requests = slices.Clone(d.requests)
	for _, m := range d.mailq {
		c.Mail = append(c.Mail, m.EmailInput)
	}
	in.Carried = c
	return in
}

// write runs a short, idempotent database write (expect, charge the deposit,
// mirror the stage). As a local activity it costs no activity task round
// trip: make bench measured 8.6 leases/s with regular activities against 15.3
// for a bare workflow of the same shape (bench/README.md). The settlement
// stays a regular activity, visible on its own in the UI.
func (d *flow) write(ctx workflow.Context, fn, arg any) workflow.Future {
	if d.localWrites {
		return workflow.ExecuteLocalActivity(localCtx(ctx), fn, arg)
	}
	return workflow.ExecuteActivity(dbCtx(ctx), fn, arg)
}

// read runs a short database read as write does: local where writes are.
func (d *flow) read(ctx workflow.Context, fn, arg any) workflow.Future { return d.write(ctx, fn, arg) }

// Activity options, chosen per kind of side effect.
//
// Database writes take milliseconds: a 10 s limit lets an attempt lost with a
// killed worker be retried soon. If the database is away they retry every
// minute at most, for as long as it takes, since the lease cannot move on
// without them. Bad data (a lease or listing that does not exist) is not retried.
func dbCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second, RetryPolicy: dbRetry()})
}

func dbRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		NonRetryableErrorTypes: []string{activities.ErrBadData},
	}
}

// Local database writes: the same limits as dbCtx; past the workflow task's
// timeout the SDK keeps retrying them on timers, so a database outage is
// waited out too.
func localCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second, RetryPolicy: dbRetry()})
}

// Email waits on a remote server (go-mail gives up on a silent one after
// 20 s): a 30 s limit, and retries that back off to ten minutes so a mail
// outage of hours costs few attempts. A message the server refuses for good
// (a 5xx, a malformed address) is not retried.
func mailCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrBadData, "EmailRejected"},
		},
	})
}
