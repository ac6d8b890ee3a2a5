package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
)

// The facts of the ledger arrive by signal once they are in the database:
// payments, returned payments, charges, deposit amendments and the move-out.
// This file applies them to the state; every total is kept here, so the
// story in deposit.go only reads them.

// expect records what the first activity found: the cash deposit expected
// and the lease's tenants.
func (d *flow) expect(exp activities.Expectation) {
	d.state.ExpectedSource = exp.Source
	d.state.TenantEmail, d.state.TenantName = exp.TenantEmail, exp.TenantName
	for _, t := range exp.Tenants {
		d.state.Tenants = append(d.state.Tenants, deposit.Tenant{ResidentID: t.ResidentID, Email: t.Email, Name: t.Name, Share: t.Share})
	}
	d.applyDeposit(deposit.DepositRow{DepositID: exp.DepositID, Type: deposit.DepositCash, AmountCents: exp.ExpectedCents})
	d.expected = true
}

// listen applies signals as they arrive, whatever step the main flow is at.
// Each fact carries its database ID, so a signal delivered twice (a retried
// sync, a reconcile pass) is applied once.
func (d *flow) listen(ctx workflow.Context) {
	logger := workflow.GetLogger(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		payments := workflow.GetSignalChannel(ctx, SignalPayment)
		returns := workflow.GetSignalChannel(ctx, SignalPaymentReturned)
		charges := workflow.GetSignalChannel(ctx, SignalCharge)
		amendments := workflow.GetSignalChannel(ctx, SignalAmend)
		moveOuts := workflow.GetSignalChannel(ctx, SignalMoveOut)
		forwarding := workflow.GetSignalChannel(ctx, SignalForwarding)
		for {
			s := workflow.NewSelector(ctx)
			s.AddReceive(payments, func(c workflow.ReceiveChannel, _ bool) {
				var p deposit.Payment
				c.Receive(ctx, &p)
				if d.late(fmt.Sprintf("payment %d", p.PaymentID)) || d.dup("p", p.PaymentID) {
					return
				}
				d.state.AddPayment(p)
				logger.Info("payment applied", "lease_id", d.in.LeaseID, "payment_id", p.PaymentID, "paid_cents", d.state.PaidCents)
			})
			s.AddReceive(returns, func(c workflow.ReceiveChannel, _ bool) {
				var r PaymentReturned
				c.Receive(ctx, &r)
				if d.late(fmt.Sprintf("return of payment %d", r.PaymentID)) || d.dup("r", r.PaymentID) {
					return
				}
				d.applyReturn(r)
				logger.Info("payment returned", "lease_id", d.in.LeaseID, "payment_id", r.PaymentID, "reason", r.Reason, "paid_cents", d.state.PaidCents)
			})
			s.AddReceive(charges, func(c workflow.ReceiveChannel, _ bool) {
				var ch deposit.Charge
				c.Receive(ctx, &ch)
				if d.late(fmt.Sprintf("charge %d", ch.ChargeID)) {
					return
				}
				d.applyCharge(ch)
				logger.Info("charge applied", "lease_id", d.in.LeaseID, "charge_id", ch.ChargeID, "category", ch.Category)
			})
			s.AddReceive(amendments, func(c workflow.ReceiveChannel, _ bool) {
				var row deposit.DepositRow
				c.Receive(ctx, &row)
				if d.late(fmt.Sprintf("deposit amendment %d", row.DepositID)) || d.dup("d", row.DepositID) {
					return
				}
				d.applyDeposit(row)
				// A changed cash deposit that leaves something to pay: ask for it.
				if row.Type == deposit.DepositCash && row.AmountCents != 0 && d.expected && !d.covered() && !d.movedOut() {
					d.email(templates.KindRequest, fmt.Sprintf("-amend-%d", row.DepositID))
				}
				logger.Info("deposit amended", "lease_id", d.in.LeaseID, "deposit_id", row.DepositID, "type", row.Type, "expected_cents", d.state.ExpectedCents)
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
			s.AddReceive(forwarding, func(c workflow.ReceiveChannel, _ bool) {
				var f ForwardingAddress
				c.Receive(ctx, &f)
				if d.late("forwarding address") {
					return
				}
				// A corrected address keeps the time the first one arrived:
				// that is when the statute's clock started.
				d.state.ForwardingAddress = f.Address
				if d.state.ForwardingAt.IsZero() {
					d.state.ForwardingAt = f.At.UTC()
				}
				logger.Info("forwarding address recorded", "lease_id", d.in.LeaseID, "at", d.state.ForwardingAt)
			})
			s.Select(ctx)
			workflow.SetCurrentDetails(ctx, d.details())
		}
	})
}

// addReceived counts cash in (or, negative, a payment that came back).
func (d *flow) addReceived(cents int64) {
	d.state.PaidCents += cents
	d.state.ReceivedCents += cents
	d.state.HeldCents += cents
}

// applyDeposit adds a deposit row to the totals of its type (deposit.State.AddDepositRow).
func (d *flow) applyDeposit(row deposit.DepositRow) { d.state.AddDepositRow(row) }

// applyReturn reverses a payment that came back and adds the fee charge;
// the stage loop then sends the lease back to awaiting payment if the
// deposit is no longer covered.
func (d *flow) applyReturn(r PaymentReturned) {
	for i := range d.state.Payments {
		p := &d.state.Payments[i]
		if p.PaymentID != r.PaymentID {
			continue
		}
		if p.Returned {
			return
		}
		p.Returned, p.ReturnReason = true, r.Reason
		d.addReceived(-p.AmountCents)
		if r.Fee != nil {
			d.applyCharge(*r.Fee)
		}
		d.email(templates.KindReturned, fmt.Sprintf("-%d", p.PaymentID))
		return
	}
	d.state.LateEvents = append(d.state.LateEvents, fmt.Sprintf("return of payment %d, which this lease never received", r.PaymentID))
}

// applyCharge adds a ledger charge to its term of the refund maths, once.
func (d *flow) applyCharge(ch deposit.Charge) {
	if d.dup("c", ch.ChargeID) {
		return
	}
	d.state.AddCharge(ch)
}

func (d *flow) dup(kind string, id int64) bool {
	k := fmt.Sprintf("%s%d", kind, id)
	if d.seen[k] {
		return true
	}
	d.seen[k] = true
	return false
}

// late records a fact that arrived after the money was settled: it can no
// longer change the refund, and an operator must see it.
func (d *flow) late(what string) bool {
	if !d.settled {
		return false
	}
	d.state.LateEvents = append(d.state.LateEvents, what+" arrived after the deposit was settled")
	return true
}
