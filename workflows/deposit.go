// Package workflows holds the deposit workflow: one durable workflow per lease
// that owns the security deposit from the first charge to the refund or the
// invoice. This file tells its story from top to bottom; state.go has the
// types, refund.go the money maths.
package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/templates"
)

// a is only used to name activities; the worker registers the real one.
var a *activities.Activities

// DepositWorkflow runs one lease's deposit:
//
//	expect → charge + request email → await payment → held + receipt →
//	await move-out → assess final charges → notice with release date →
//	release date → refund or invoice + email → closed
//
// Payments, charges and the move-out arrive as signals at any point; the
// state query answers with everything known.
func DepositWorkflow(ctx workflow.Context, in LeaseInput) (State, error) {
	d := &deposit{in: in, state: State{
		LeaseID: in.LeaseID, PropertyID: in.PropertyID, UnitID: in.UnitID,
		Stage: StageAwaitingPayment, Payments: []Payment{}, Charges: []Charge{}, EmailsSent: []string{},
		Kept: []Keep{}, Decisions: []Decision{},
	}, decisionMu: workflow.NewMutex(ctx), reminded: map[string]bool{}}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return d.state, nil }); err != nil {
		return d.state, err
	}
	if err := d.registerDecisions(ctx); err != nil {
		return d.state, err
	}
	d.listen(ctx)
	d.startMailer(ctx)

	// 1. Expect the deposit: the listing's advertised amount unless the manager gave one.
	var exp activities.Expectation
	if err := workflow.ExecuteActivity(dbCtx(ctx), a.ExpectDeposit, activities.ExpectDepositInput{
		LeaseID: in.LeaseID, AmountCents: in.AmountCents, Key: d.key("expect"),
	}).Get(ctx, &exp); err != nil {
		return d.state, err
	}
	d.state.ExpectedCents, d.state.ExpectedSource = exp.ExpectedCents, exp.Source
	d.state.TenantEmail, d.state.TenantName = exp.TenantEmail, exp.TenantName

	// 2. Charge it on the resident ledger and ask the tenant to pay.
	if err := workflow.ExecuteActivity(dbCtx(ctx), a.ChargeDeposit, activities.ChargeDepositInput{
		LeaseID: in.LeaseID, AmountCents: exp.ExpectedCents, Key: d.key("charge-deposit"),
	}).Get(ctx, &d.state.DepositChargeID); err != nil {
		return d.state, err
	}
	d.email(templates.KindRequest)

	// 3. Await payment in full. Partial payments add up; a tenant may also
	// move out before paying everything, and then there is nothing to hold.
	if err := workflow.Await(ctx, func() bool { return d.paidInFull() || d.movedOut() }); err != nil {
		return d.state, err
	}

	// 4. Held: the deposit is paid in full (an over-payment stays as a credit
	// in ReceivedCents and comes back with the refund).
	if d.paidInFull() {
		if err := d.setStage(ctx, StageHeld); err != nil {
			return d.state, err
		}
		d.email(templates.KindReceipt)
	}

	// 5. Await the move-out.
	if err := workflow.Await(ctx, d.movedOut); err != nil {
		return d.state, err
	}

	// 6. Assess final charges until the assessment window closes. Both the
	// window and the release date count from the move-out; a release date
	// that falls inside the window (or passed before the move-out was
	// recorded) moves to the end of the window.
	moveOut := d.state.MovedOutAt
	d.state.AssessUntil = moveOut.Add(in.AssessFor())
	d.state.ReleaseAt = latest(moveOut.Add(in.ReleaseAfter()), d.state.AssessUntil)
	if err := d.setStage(ctx, StageAssessing); err != nil {
		return d.state, err
	}
	// A manager may release now (an Update) and end the window early.
	if _, err := awaitUntil(ctx, d.state.AssessUntil, func() bool { return d.releaseNow }); err != nil {
		return d.state, err
	}

	// 7. Tell the tenant every deduction and the release date; a deposit
	// released during the window goes straight to the refund, whose email
	// carries the same statement.
	if !d.releaseNow {
		d.state.ReleaseAt = latest(d.state.ReleaseAt, workflow.Now(ctx))
		if err := d.setStage(ctx, StageReleasePending); err != nil {
			return d.state, err
		}
		d.email(templates.KindNotice)

		// 8. Wait for the release date, reminding the manager before it.
		// Managers may extend it, keep part, hold it or release now meanwhile.
		if err := d.awaitRelease(ctx); err != nil {
			return d.state, err
		}
	}

	// 9. Settle: refund what is left, or invoice what is owed, and close.
	if err := d.settle(ctx); err != nil {
		return d.state, err
	}

	// 10. Every email has gone out (or failed for good), and every update
	// handler has finished, before the lease closes.
	if err := workflow.Await(ctx, func() bool { return d.mailDone() && workflow.AllHandlersFinished(ctx) }); err != nil {
		return d.state, err
	}
	workflow.GetLogger(ctx).Info("deposit closed", "lease_id", in.LeaseID, "outcome", d.state.Outcome,
		"refund_cents", d.state.RefundCents, "balance_owed_cents", d.state.BalanceOwedCents)
	return d.state, nil
}

// deposit is the workflow's memory between steps.
type deposit struct {
	in         LeaseInput
	state      State
	settled    bool
	releaseNow bool            // a manager released the deposit
	decisionMu workflow.Mutex  // one decision handler at a time
	reminded   map[string]bool // reminders already queued, by key
	seen       map[string]bool // signal facts already applied, by database ID
	mailq      []outgoing
	mailBusy   bool
}

// outgoing is a queued email; toManager ones are addressed when sent.
type outgoing struct {
	activities.EmailInput
	toManager bool
}

func (d *deposit) paidInFull() bool {
	return d.state.ExpectedCents > 0 && d.state.ReceivedCents >= d.state.ExpectedCents
}
func (d *deposit) movedOut() bool { return !d.state.MovedOutAt.IsZero() }
func (d *deposit) mailDone() bool { return len(d.mailq) == 0 && !d.mailBusy }

// key is an idempotency key for one step of this lease: the lease and the
// step, never the run, so it survives continue-as-new and a reset.
func (d *deposit) key(step string) string { return WorkflowID(d.in.LeaseID) + "/" + step }

// listen applies signals as they arrive, whatever step the main flow is at.
// Each fact carries its database ID, so a signal delivered twice (a retried
// sync, a reconcile pass) is applied once.
func (d *deposit) listen(ctx workflow.Context) {
	d.seen = map[string]bool{}
	logger := workflow.GetLogger(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		payments := workflow.GetSignalChannel(ctx, SignalPayment)
		charges := workflow.GetSignalChannel(ctx, SignalCharge)
		moveOuts := workflow.GetSignalChannel(ctx, SignalMoveOut)
		for {
			s := workflow.NewSelector(ctx)
			s.AddReceive(payments, func(c workflow.ReceiveChannel, _ bool) {
				var p Payment
				c.Receive(ctx, &p)
				if d.late(fmt.Sprintf("payment %d", p.PaymentID)) || d.dup("p", p.PaymentID) {
					return
				}
				d.state.Payments = append(d.state.Payments, p)
				d.state.ReceivedCents += p.AmountCents
				logger.Info("payment applied", "lease_id", d.in.LeaseID, "payment_id", p.PaymentID, "received_cents", d.state.ReceivedCents)
			})
			s.AddReceive(charges, func(c workflow.ReceiveChannel, _ bool) {
				var ch Charge
				c.Receive(ctx, &ch)
				if d.late(fmt.Sprintf("charge %d", ch.ChargeID)) || d.dup("c", ch.ChargeID) {
					return
				}
				d.state.Charges = append(d.state.Charges, ch)
				if ch.Category == CategoryArrears {
					d.state.ArrearsCents += ch.AmountCents
				} else {
					d.state.DeductionsCents += ch.AmountCents
				}
				logger.Info("charge applied", "lease_id", d.in.LeaseID, "charge_id", ch.ChargeID, "category", ch.Category)
			})
			s.AddReceive(moveOuts, func(c workflow.ReceiveChannel, _ bool) {
				var m MoveOut
				c.Receive(ctx, &m)
				if d.movedOut() {
					// The first move-out starts the clocks; a later one cannot move them.
					d.state.LateEvents = append(d.state.LateEvents, "move-out "+m.At.Format(time.RFC3339)+" after the move-out was recorded")
					return
				}
				d.state.MovedOutAt = m.At.UTC()
				logger.Info("move-out recorded", "lease_id", d.in.LeaseID, "at", d.state.MovedOutAt)
			})
			s.Select(ctx)
		}
	})
}

func (d *deposit) dup(kind string, id int64) bool {
	k := fmt.Sprintf("%s%d", kind, id)
	if d.seen[k] {
		return true
	}
	d.seen[k] = true
	return false
}

// late records a fact that arrived after the money was settled: it can no
// longer change the refund, and an operator must see it.
func (d *deposit) late(what string) bool {
	if !d.settled {
		return false
	}
	d.state.LateEvents = append(d.state.LateEvents, what+" arrived after the deposit was settled")
	return true
}

// setStage moves the deposit to a stage and mirrors it into the database.
func (d *deposit) setStage(ctx workflow.Context, stage string) error {
	d.state.Stage = stage
	return workflow.ExecuteActivity(dbCtx(ctx), a.SaveLeaseStage, activities.StageInput{
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
// is decided.
func (d *deposit) awaitRelease(ctx workflow.Context) error {
	// Workflows recorded before reminders existed replay without them.
	reminders := workflow.GetVersion(ctx, "release-reminders", workflow.DefaultVersion, 1) >= 1
	for !d.releaseNow {
		at, onHold := d.state.ReleaseAt, d.state.OnHold
		now := workflow.Now(ctx)
		wake, reminder := at, ""
		if reminders && !onHold {
			for _, before := range ReminderOffsets {
				key := fmt.Sprintf("email/reminder-%s-%s", at.UTC().Format("20060102T150405Z"), before)
				if t := at.Add(-before); t.After(now) && !d.reminded[key] {
					wake, reminder = t, key
					break
				}
			}
		}
		if wake.After(now) {
			changed, err := workflow.AwaitWithTimeout(ctx, wake.Sub(now), func() bool {
				return d.releaseNow || !d.state.ReleaseAt.Equal(at) || d.state.OnHold != onHold
			})
			if err != nil {
				return err
			}
			if !changed && reminder != "" {
				d.reminded[reminder] = true
				d.remindManager(reminder)
			}
			continue
		}
		// The release date has come.
		switch {
		case onHold:
			if reminders && !d.reminded["email/hold-reminder"] {
				d.reminded["email/hold-reminder"] = true
				d.remindManager("email/hold-reminder")
			}
			if err := workflow.Await(ctx, func() bool { return d.releaseNow || !d.state.OnHold }); err != nil {
				return err
			}
		case d.state.PendingKeep != nil:
			if err := workflow.Await(ctx, func() bool { return d.releaseNow || d.state.PendingKeep == nil }); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

// remindManager queues a reminder to the property's manager; the mailer
// reads the manager's address when it sends, so a changed address is used.
func (d *deposit) remindManager(key string) {
	data := d.emailData()
	data.RecipientName = ""
	d.mailq = append(d.mailq, outgoing{toManager: true, EmailInput: activities.EmailInput{Key: d.key(key), Kind: templates.KindReminder, Data: data}})
}

// settle computes the refund and issues it, or the invoice for the balance.
func (d *deposit) settle(ctx workflow.Context) error {
	d.settled = true
	s := ComputeRefund(d.state.ReceivedCents, d.state.ArrearsCents, d.state.DeductionsCents+d.state.KeptCents)
	d.state.RefundCents, d.state.BalanceOwedCents = s.RefundCents, s.BalanceOwedCents
	in := activities.SettlementInput{
		LeaseID: d.in.LeaseID, ReceivedCents: d.state.ReceivedCents,
		ArrearsCents: d.state.ArrearsCents, DeductionsCents: d.state.DeductionsCents, KeptCents: d.state.KeptCents,
	}
	var p activities.Payable
	switch {
	case s.RefundCents > 0:
		in.Key, in.AmountCents = d.key("refund"), s.RefundCents
		if err := workflow.ExecuteActivity(moneyCtx(ctx), a.IssueRefund, in).Get(ctx, &p); err != nil {
			return err
		}
		d.state.RefundID = p.ID
	case s.BalanceOwedCents > 0:
		in.Key, in.AmountCents = d.key("invoice"), s.BalanceOwedCents
		if err := workflow.ExecuteActivity(moneyCtx(ctx), a.IssueInvoice, in).Get(ctx, &p); err != nil {
			return err
		}
		d.state.InvoiceID = p.ID
	}
	d.state.Outcome = s.Outcome
	d.state.ClosedAt = workflow.Now(ctx)
	if err := d.setStage(ctx, StageClosed); err != nil {
		return err
	}
	if s.BalanceOwedCents > 0 {
		d.email(templates.KindBalanceOwed)
	} else if s.Outcome != OutcomeNothingDue {
		d.email(templates.KindRefund)
	}
	return nil
}

// email queues an email to the tenant showing the state as it is now. The
// money flow never waits for the mail server: a goroutine sends the queue in
// order, and the workflow only waits for it before it closes.
func (d *deposit) email(kind string) {
	d.mailq = append(d.mailq, outgoing{EmailInput: activities.EmailInput{
		Key: d.key("email/" + kind), Kind: kind, To: d.state.TenantEmail, ToName: d.state.TenantName, Data: d.emailData(),
	}})
}

func (d *deposit) startMailer(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			_ = workflow.Await(ctx, func() bool { return len(d.mailq) > 0 })
			d.mailBusy = true
			next := d.mailq[0]
			if err := d.send(ctx, next); err != nil {
				// Only a message refused for good (or with no one to send it
				// to) ends here; the lease goes on and the failure shows in its state.
				d.state.EmailFailures = append(d.state.EmailFailures, next.Kind+": "+err.Error())
				workflow.GetLogger(ctx).Error("email not sent", "lease_id", d.in.LeaseID, "kind", next.Kind, "error", err)
			} else {
				d.state.EmailsSent = append(d.state.EmailsSent, next.Kind)
			}
			d.mailq = d.mailq[1:]
			d.mailBusy = false
		}
	})
}

func (d *deposit) send(ctx workflow.Context, m outgoing) error {
	if m.toManager {
		var policy activities.Policy
		if err := workflow.ExecuteActivity(dbCtx(ctx), a.GetPropertyPolicy, d.in.PropertyID).Get(ctx, &policy); err != nil {
			return err
		}
		if policy.ManagerEmail == "" {
			return fmt.Errorf("property %s has no manager email (deposits property set %s --manager-email ...)", d.in.PropertyID, d.in.PropertyID)
		}
		m.To = policy.ManagerEmail
	}
	return workflow.ExecuteActivity(mailCtx(ctx), a.SendEmail, m.EmailInput).Get(ctx, nil)
}

func (d *deposit) emailData() templates.Data {
	s := d.state
	data := templates.Data{
		LeaseID: s.LeaseID, PropertyID: s.PropertyID, UnitID: s.UnitID,
		TenantName: s.TenantName, TenantEmail: s.TenantEmail, RecipientName: s.TenantName,
		ExpectedCents: s.ExpectedCents, ReceivedCents: s.ReceivedCents,
		ArrearsCents: s.ArrearsCents, DeductionsCents: s.DeductionsCents,
		KeptCents: s.KeptCents, MovedOutAt: s.MovedOutAt, ReleaseAt: s.ReleaseAt, OnHold: s.OnHold,
		Payments: []templates.Line{}, Arrears: []templates.Line{}, Deductions: []templates.Line{}, Kept: []templates.Line{},
	}
	for _, k := range s.Kept {
		data.Kept = append(data.Kept, templates.Line{Description: k.Reason, Cents: k.AmountCents})
	}
	for _, p := range s.Payments {
		desc := "Payment " + p.Reference
		if p.Date != "" {
			desc += " on " + p.Date
		}
		data.Payments = append(data.Payments, templates.Line{Description: desc, Cents: p.AmountCents})
	}
	for _, c := range s.Charges {
		l := templates.Line{Description: c.Description, Cents: c.AmountCents}
		if c.Category == CategoryArrears {
			data.Arrears = append(data.Arrears, l)
		} else {
			data.Deductions = append(data.Deductions, l)
		}
	}
	// The notice shows what would be refunded if nothing else changes.
	p := ComputeRefund(s.ReceivedCents, s.ArrearsCents, s.DeductionsCents+s.KeptCents)
	data.RefundCents, data.BalanceOwedCents = p.RefundCents, p.BalanceOwedCents
	return data
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

// Activity options, chosen per kind of side effect.
//
// Database writes are short; if the database is away they retry every minute
// at most, for as long as it takes, since the lease cannot move on without them.
func dbCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrBadData},
		},
	})
}

// Refunds and invoices are database writes too, with the same policy; they
// get their own function so that a payout provider can change it alone.
func moneyCtx(ctx workflow.Context) workflow.Context { return dbCtx(ctx) }

// Email waits on a remote server: a longer timeout, and retries that back
// off to ten minutes so a mail outage of hours costs few attempts.
func mailCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrBadData, "EmailRejected"},
		},
	})
}
