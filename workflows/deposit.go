// Package workflows holds the deposit workflow: one durable workflow per lease
// that owns the security deposit from the first charge to the refund or the
// invoice. This file tells its story from top to bottom; ledger.go applies
// the facts that arrive by signal, decisions.go the managers' Updates,
// mail.go the emails, law.go the statutory clock, state.go the names other
// programs use to talk to it. The deposit's vocabulary (its state, stages and
// the refund maths) is internal/deposit, shared with everything outside.
package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
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
	d := &flow{in: in, state: deposit.State{
		LeaseID: in.LeaseID, PropertyID: in.PropertyID, UnitID: in.UnitID, Jurisdiction: in.Jurisdiction,
		Stage: deposit.StageAwaitingPayment, Payments: []deposit.Payment{}, Charges: []deposit.Charge{}, EmailsSent: []string{},
		Kept: []deposit.Keep{}, Decisions: []deposit.Decision{}, Deposits: []deposit.DepositRow{}, Tenants: []deposit.Tenant{}, Payouts: []deposit.Payout{},
	}, decisionMu: workflow.NewMutex(ctx), reminded: map[string]bool{}, seen: map[string]bool{}}
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

	// 1. Expect the deposit: the listing's advertised amount unless the manager gave one.
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
	d.email(templates.KindRequest, "")

	// 3. Until the move-out the stage follows the money: held (with a
	// receipt) while the cash deposit is paid in full, back to awaiting
	// payment when it no longer is (a returned payment, a raised deposit).
	// Partial payments add up; an over-payment stays as a credit and comes
	// back with the refund; a tenant may move out before paying everything.
	for {
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
		if err := workflow.Await(ctx, func() bool { return d.covered() != covered || d.movedOut() }); err != nil {
			return d.state, err
		}
	}

	// 4. Assess final charges until the assessment window closes. Both the
	// window and the release date count from the move-out; a release date
	// that falls inside the window (or passed before the move-out was
	// recorded) moves to the end of the window.
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

		// 6. Wait for the release date, reminding the manager before it.
		// Managers may extend it, keep part, hold it or release now meanwhile.
		if err := d.awaitRelease(ctx); err != nil {
			return d.state, err
		}
	}

	// 7. Settle: refund what is left, or invoice what is owed, and close.
	if err := d.settle(ctx); err != nil {
		return d.state, err
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

// flow is the workflow's memory between steps.
type flow struct {
	in          LeaseInput
	state       deposit.State
	expected    bool // the expectation is known
	settled     bool
	releaseNow  bool            // a manager released the deposit
	receipts    int             // receipts sent: a deposit can be held again after a returned payment
	decisionMu  workflow.Mutex  // one decision handler at a time
	law         *law            // the jurisdiction's facts, once the clock started
	maxRelease  time.Time       // the latest release date a manager may set; zero: 120 days after the move-out
	shown       string          // the deadlines last shown to operators and the database
	reminded    map[string]bool // reminders already queued, by key
	localWrites bool            // short database writes run as local activities
	seen        map[string]bool // signal facts already applied, by database ID
	mailq       []outgoing
	mailBusy    bool
}

// covered says whether the cash deposit is paid in full.
func (d *flow) covered() bool {
	return d.expected && d.state.PaidCents >= d.state.ExpectedCents
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
	return d.write(ctx, a.SaveLeaseStage, activities.StageInput{
		LeaseID: d.in.LeaseID, Stage: stage, Outcome: d.state.Outcome,
		MovedOutAt: d.state.MovedOutAt, ReleaseAt: d.state.ReleaseAt, ClosedAt: d.state.ClosedAt,
	}).Get(ctx, nil)
}

// ReminderOffsets are how long before an automatic release the property's
// manager is reminded (seed 004: "numerous reminders before the money is refunded").
var ReminderOffsets = []time.Duration{3 * 24 * time.Hour, 24 * time.Hour}

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
	for !d.releaseNow {
		at, onHold, key := d.state.ReleaseAt, d.state.OnHold, d.clockKey()
		now := workflow.Now(ctx)
		forced := d.settleBy()
		if !forced.IsZero() && !forced.After(now) {
			d.settleByStatute(ctx)
			return nil
		}
		target := at
		if !forced.IsZero() && (onHold || forced.Before(at)) {
			target = forced
		}
		wake, reminder := target, ""
		if reminders && (!onHold || !forced.IsZero()) {
			for _, before := range ReminderOffsets {
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
			woke, err := workflow.AwaitWithTimeout(ctx, wake.Sub(now), changed)
			if err != nil {
				return err
			}
			if !woke && reminder != "" {
				d.reminded[reminder] = true
				d.remindManager(reminder)
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
				d.remindManager("email/hold-reminder")
			}
			waitFor = func() bool { return d.releaseNow || !d.state.OnHold }
		case d.state.PendingKeep != nil:
			waitFor = func() bool { return d.releaseNow || d.state.PendingKeep == nil }
		default:
			return nil
		}
		if forced.IsZero() {
			// No deadline yet; one may start meanwhile (a forwarding address).
			if err := workflow.Await(ctx, func() bool { return waitFor() || d.clockKey() != key }); err != nil {
				return err
			}
			if err := d.clockMoved(ctx, key); err != nil {
				return err
			}
			continue
		}
		if _, err := workflow.AwaitWithTimeout(ctx, forced.Sub(now), func() bool { return waitFor() || d.clockKey() != key }); err != nil {
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
		if _, err := awaitUntil(ctx, until, func() bool { return d.releaseNow || (d.law != nil && d.clockKey() != key) }); err != nil {
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

// settle computes the refund and writes the settlement: the refund split
// into payouts, or the invoice for the balance owed.
func (d *flow) settle(ctx workflow.Context) error {
	d.settled = true
	if d.state.Rule != nil {
		d.interest(ctx)
		if c := d.clock(); c.Started && workflow.Now(ctx).After(c.RefundDue) {
			d.missed(fmt.Sprintf("the deposit was settled %s, after its refund deadline %s under %s",
				dayText(workflow.Now(ctx)), dayText(c.RefundDue), d.state.Rule.Label()))
		}
		if d.state.Forfeited {
			d.state.ForfeitedCents = d.state.ArrearsCents + d.state.DeductionsCents + d.state.KeptCents
		}
		if err := d.updateClock(ctx); err != nil {
			return err
		}
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
		var res activities.SettleResult
		if err := workflow.ExecuteActivity(dbCtx(ctx), a.SettleDeposit, in).Get(ctx, &res); err != nil {
			return err
		}
		d.state.SettlementID, d.state.InvoiceID = res.SettlementID, res.InvoiceID
		for i := range d.state.Payouts {
			if i < len(res.RefundIDs) {
				d.state.Payouts[i].RefundID = res.RefundIDs[i]
			}
		}
		if len(res.RefundIDs) > 0 {
			d.state.RefundID = res.RefundIDs[0]
		}
	}

	// Conservation: what came in is now either refunded or applied to what
	// the tenant owed; nothing is held any more.
	funds := t.ReceivedCents + t.InterestCents + t.CreditsCents
	d.state.AppliedCents = funds - s.RefundCents
	d.state.HeldCents = 0

	d.state.ClosedAt = workflow.Now(ctx)
	if err := d.setStage(ctx, deposit.StageClosed); err != nil {
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
	} else if s.Outcome != deposit.OutcomeNothingDue {
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

// awaitUntil waits until t or until cond holds, and says whether cond did.
func awaitUntil(ctx workflow.Context, t time.Time, cond func() bool) (bool, error) {
	left := t.Sub(workflow.Now(ctx))
	if left <= 0 {
		return cond(), nil
	}
	return workflow.AwaitWithTimeout(ctx, left, cond)
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
