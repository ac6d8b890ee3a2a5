package workflows

import (
	"fmt"
	"slices"
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
	d.locale(exp.Currency, exp.TimeZone)
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
// sync, a reconcile pass) is applied once. Where the database is the book of
// record (facts.go) a signal only wakes the workflow: the fact is read from
// PostgreSQL by its ID, and nothing else the signal says is used.
func (d *flow) listen(ctx workflow.Context) {
	logger := workflow.GetLogger(ctx)
	handlers := []struct {
		ch    workflow.ReceiveChannel
		apply func(ctx workflow.Context, c workflow.ReceiveChannel)
	}{
		{workflow.GetSignalChannel(ctx, SignalPayment), func(ctx workflow.Context, c workflow.ReceiveChannel) {
			var p deposit.Payment
			c.Receive(ctx, &p)
			if d.bookOfRecord {
				d.readPayment(ctx, p.PaymentID)
				return
			}
			if d.late(fmt.Sprintf("payment %d", p.PaymentID)) || d.dup("p", p.PaymentID) {
				return
			}
			d.state.AddPayment(p)
			logger.Info("payment applied", "lease_id", d.in.LeaseID, "payment_id", p.PaymentID, "paid_cents", d.state.PaidCents)
		}},
		{workflow.GetSignalChannel(ctx, SignalPaymentReturned), func(ctx workflow.Context, c workflow.ReceiveChannel) {
			var r PaymentReturned
			c.Receive(ctx, &r)
			if d.bookOfRecord {
				d.readReturn(ctx, r.PaymentID)
				return
			}
			if d.late(fmt.Sprintf("return of payment %d", r.PaymentID)) || d.dup("r", r.PaymentID) {
				return
			}
			d.applyReturn(r)
			logger.Info("payment returned", "lease_id", d.in.LeaseID, "payment_id", r.PaymentID, "reason", r.Reason, "paid_cents", d.state.PaidCents)
		}},
		{workflow.GetSignalChannel(ctx, SignalCharge), func(ctx workflow.Context, c workflow.ReceiveChannel) {
			var ch deposit.Charge
			c.Receive(ctx, &ch)
			if d.bookOfRecord {
				d.readCharge(ctx, ch.ChargeID)
				return
			}
			if d.late(fmt.Sprintf("charge %d", ch.ChargeID)) {
				return
			}
			d.applyCharge(ch)
			logger.Info("charge applied", "lease_id", d.in.LeaseID, "charge_id", ch.ChargeID, "category", ch.Category)
		}},
		{workflow.GetSignalChannel(ctx, SignalAmend), func(ctx workflow.Context, c workflow.ReceiveChannel) {
			var row deposit.DepositRow
			c.Receive(ctx, &row)
			if d.bookOfRecord {
				d.readAmendment(ctx, row.DepositID)
				return
			}
			if d.late(fmt.Sprintf("deposit amendment %d", row.DepositID)) || d.dup("d", row.DepositID) {
				return
			}
			d.amend(row)
			logger.Info("deposit amended", "lease_id", d.in.LeaseID, "deposit_id", row.DepositID, "type", row.Type, "expected_cents", d.state.ExpectedCents)
		}},
		{workflow.GetSignalChannel(ctx, SignalMoveOut), func(ctx workflow.Context, c workflow.ReceiveChannel) {
			var m MoveOut
			c.Receive(ctx, &m)
			if d.bookOfRecord {
				d.readMoveOut(ctx)
				return
			}
			d.moveOut(ctx, m.At)
		}},
		{workflow.GetSignalChannel(ctx, SignalDispute), func(ctx workflow.Context, c workflow.ReceiveChannel) {
			var s DisputeSignal
			c.Receive(ctx, &s)
			if !d.disputesOn {
				d.ignore(ctx, SignalDispute, fmt.Sprintf("disputed item %d (this lease's workflow started before disputes)", s.DisputeID))
				return
			}
			d.readDisputes(ctx)
		}},
		{workflow.GetSignalChannel(ctx, SignalTransfer), func(ctx workflow.Context, c workflow.ReceiveChannel) {
			var m MoveSignal
			c.Receive(ctx, &m)
			if !d.movesOn {
				d.ignore(ctx, SignalTransfer, fmt.Sprintf("transfer %d (this lease's workflow started before transfers)", m.ID))
				return
			}
			d.readTransfer(ctx, m.ID)
		}},
		{workflow.GetSignalChannel(ctx, SignalPartialRefund), func(ctx workflow.Context, c workflow.ReceiveChannel) {
			var m MoveSignal
			c.Receive(ctx, &m)
			if !d.movesOn {
				d.ignore(ctx, SignalPartialRefund, fmt.Sprintf("partial refund %d (this lease's workflow started before partial refunds)", m.ID))
				return
			}
			d.readPartialRefund(ctx, m.ID)
		}},
		{workflow.GetSignalChannel(ctx, SignalForwarding), func(ctx workflow.Context, c workflow.ReceiveChannel) {
			var f ForwardingAddress
			c.Receive(ctx, &f)
			if d.bookOfRecord {
				d.readForwarding(ctx)
				return
			}
			if d.late("forwarding address") {
				return
			}
			d.forward(ctx, f.Address, f.At)
		}},
	}
	d.signals = nil
	for _, h := range handlers {
		d.signals = append(d.signals, h.ch)
	}
	// drainAll applies every signal received and not yet applied, until none is left.
	drainAll := func(ctx workflow.Context) {
		for more := true; more; {
			more = false
			for _, h := range handlers {
				for h.ch.Len() > 0 {
					h.apply(ctx, h.ch)
					more = true
				}
			}
		}
	}
	d.drain = workflow.NewBufferedChannel(ctx, 1)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			s := workflow.NewSelector(ctx)
			for _, h := range handlers {
				s.AddReceive(h.ch, func(c workflow.ReceiveChannel, _ bool) { h.apply(ctx, c) })
			}
			// Before the workflow continues as new: a signal the SDK has
			// handed to this selector is not in its channel's length, so only
			// this goroutine can tell that nothing is left (continueAsNew).
			s.AddReceive(d.drain, func(c workflow.ReceiveChannel, _ bool) {
				c.Receive(ctx, nil)
				drainAll(ctx)
				d.drained = true
			})
			s.Select(ctx)
			workflow.SetCurrentDetails(ctx, d.details())
		}
	})
}

// amend applies a deposit row; a changed cash deposit that leaves something
// to pay asks for it.
func (d *flow) amend(row deposit.DepositRow) {
	d.applyDeposit(row)
	if row.Type == deposit.DepositCash && row.AmountCents != 0 && d.expected && !d.covered() && !d.movedOut() {
		d.email(templates.KindRequest, fmt.Sprintf("-amend-%d", row.DepositID))
	}
}

// moveOut records the move-out; the first starts the clocks, a later one
// cannot move them.
func (d *flow) moveOut(ctx workflow.Context, at time.Time) {
	if d.movedOut() {
		if !at.UTC().Equal(d.state.MovedOutAt) || !d.bookOfRecord {
			d.state.LateEvents = append(d.state.LateEvents, "move-out "+d.timeText(at)+" after the move-out was recorded")
		}
		return
	}
	d.state.MovedOutAt = at.UTC()
	d.facts++
	workflow.GetLogger(ctx).Info("move-out recorded", "lease_id", d.in.LeaseID, "at", d.state.MovedOutAt)
}

// forward records the tenant's written forwarding address. A corrected
// address keeps the time the first one arrived: that is when the statute's
// clock started.
func (d *flow) forward(ctx workflow.Context, address string, at time.Time) {
	d.state.ForwardingAddress = address
	if d.state.ForwardingAt.IsZero() {
		d.state.ForwardingAt = at.UTC()
	}
	workflow.GetLogger(ctx).Info("forwarding address recorded", "lease_id", d.in.LeaseID, "at", d.state.ForwardingAt)
}

// readFact runs the local activity that reads one fact of the lease. It
// says false when the read failed for good (it is logged; a later signal
// for the same fact reads it again).
func (d *flow) readFact(ctx workflow.Context, fn any, id int64, out any) bool {
	d.listening = true
	defer func() { d.listening = false }()
	err := workflow.ExecuteLocalActivity(localCtx(ctx), fn, activities.FactInput{LeaseID: d.in.LeaseID, ID: id}).Get(ctx, out)
	if err != nil {
		workflow.GetLogger(ctx).Error("reading a fact failed", "lease_id", d.in.LeaseID, "id", id, "error", err)
		return false
	}
	return true
}

// ignore records a signal naming a fact the database does not hold for
// this lease: nothing is applied, and operators see it (the state, the
// log, the deposit_signals_ignored metric).
func (d *flow) ignore(ctx workflow.Context, signal, what string) {
	why := fmt.Sprintf("%s, which lease %s does not have", what, d.in.LeaseID)
	if len(d.state.IgnoredSignals) >= maxIgnored {
		d.state.IgnoredSignals = d.state.IgnoredSignals[1:]
	}
	d.state.IgnoredSignals = append(d.state.IgnoredSignals, why)
	workflow.GetLogger(ctx).Warn("signal ignored", "lease_id", d.in.LeaseID, "signal", signal, "why", why)
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"signal": signal}).Counter("deposit_signals_ignored").Inc(1)
}

// maxIgnored bounds the ignored signals the state lists (the newest are kept).
const maxIgnored = 100

func (d *flow) readPayment(ctx workflow.Context, id int64) {
	what := fmt.Sprintf("payment %d", id)
	if d.lateFact(SignalPayment, id, what) || d.seen[factKey("p", id)] {
		return
	}
	var f activities.PaymentFact
	if !d.readFact(ctx, a.ReadPayment, id, &f) {
		return
	}
	if !f.Found {
		d.ignore(ctx, SignalPayment, what)
		return
	}
	// The main flow may have settled while the fact was read.
	if d.lateFact(SignalPayment, id, what) || d.dup("p", id) {
		return
	}
	p := f.Payment
	p.Returned, p.ReturnReason = false, "" // a return is applied by its own signal
	d.state.AddPayment(p)
	d.facts++
	workflow.GetLogger(ctx).Info("payment applied", "lease_id", d.in.LeaseID, "payment_id", id, "paid_cents", d.state.PaidCents)
}

func (d *flow) readReturn(ctx workflow.Context, id int64) {
	what := fmt.Sprintf("return of payment %d", id)
	if d.lateFact(SignalPaymentReturned, id, what) || d.seen[factKey("r", id)] {
		return
	}
	var f activities.ReturnedPaymentFact
	if !d.readFact(ctx, a.ReadReturnedPayment, id, &f) {
		return
	}
	if !f.Found {
		d.ignore(ctx, SignalPaymentReturned, what+" (not returned in the database)")
		return
	}
	if d.lateFact(SignalPaymentReturned, id, what) || d.dup("r", id) {
		return
	}
	if !d.dup("p", id) {
		// The payment's own signal never came: the database has it.
		p := f.Payment
		p.Returned, p.ReturnReason = false, ""
		d.state.AddPayment(p)
	}
	d.state.ReturnPayment(id, f.Payment.ReturnReason)
	if f.Fee != nil {
		d.applyChargeRow(ctx, *f.Fee)
	}
	d.email(templates.KindReturned, fmt.Sprintf("-%d", id))
	d.facts++
	workflow.GetLogger(ctx).Info("payment returned", "lease_id", d.in.LeaseID, "payment_id", id, "reason", f.Payment.ReturnReason, "paid_cents", d.state.PaidCents)
}

func (d *flow) readCharge(ctx workflow.Context, id int64) {
	what := fmt.Sprintf("charge %d", id)
	if d.lateFact(SignalCharge, id, what) || d.seen[factKey("c", id)] {
		return
	}
	var f activities.ChargeFact
	if !d.readFact(ctx, a.ReadCharge, id, &f) {
		return
	}
	switch {
	case !f.Found:
		d.ignore(ctx, SignalCharge, what)
		return
	case f.Charge.Category == "deposit":
		d.ignore(ctx, SignalCharge, what+" as a term of the refund (it is the deposit charge)")
		return
	case d.lateFact(SignalCharge, id, what):
		return
	}
	d.applyChargeRow(ctx, f.Charge)
}

// applyChargeRow applies a charge as the database has it: one that counts
// (approval none or approved) goes into its term; one written pending waits
// for a books_admin as an item; a declined one is never applied.
func (d *flow) applyChargeRow(ctx workflow.Context, row activities.ChargeRow) {
	logger := workflow.GetLogger(ctx)
	item := deposit.ItemID(deposit.PendingCharge, row.ChargeID)
	switch {
	case deposit.Counts(row.Approval):
		if d.dup("c", row.ChargeID) {
			return
		}
		// Approved in the database meanwhile: no longer pending.
		if d.state.FindPending(item) != nil {
			d.state.RemovePending(item)
		}
		d.state.AddCharge(row.Charge)
		d.facts++
		logger.Info("charge applied", "lease_id", d.in.LeaseID, "charge_id", row.ChargeID, "category", row.Category)
	case row.Approval == deposit.ApprovalPending:
		if d.state.FindPending(item) == nil {
			d.state.AddPending(row.Pending())
			d.facts++
			logger.Info("charge awaits approval", "lease_id", d.in.LeaseID, "charge_id", row.ChargeID, "cents", row.AmountCents)
		}
	default:
		if d.dup("c", row.ChargeID) {
			return
		}
		d.state.RemovePending(item)
		logger.Info("charge declined: not applied", "lease_id", d.in.LeaseID, "charge_id", row.ChargeID, "decided_by", row.DecidedBy)
	}
}

func (d *flow) readAmendment(ctx workflow.Context, id int64) {
	what := fmt.Sprintf("deposit amendment %d", id)
	if d.lateFact(SignalAmend, id, what) || d.seen[factKey("d", id)] {
		return
	}
	var f activities.DepositFact
	if !d.readFact(ctx, a.ReadDepositRow, id, &f) {
		return
	}
	if !f.Found {
		d.ignore(ctx, SignalAmend, what)
		return
	}
	if d.lateFact(SignalAmend, id, what) {
		return
	}
	logger := workflow.GetLogger(ctx)
	item := deposit.ItemID(deposit.PendingDeposit, id)
	switch {
	case deposit.Counts(f.Row.Approval):
		if d.dup("d", id) {
			return
		}
		if d.state.FindPending(item) != nil {
			d.state.RemovePending(item)
		}
		d.amend(f.Row.DepositRow)
		d.facts++
		logger.Info("deposit amended", "lease_id", d.in.LeaseID, "deposit_id", id, "type", f.Row.Type, "expected_cents", d.state.ExpectedCents)
	case f.Row.Approval == deposit.ApprovalPending:
		if d.state.FindPending(item) == nil {
			d.state.AddPending(f.Row.Pending())
			d.facts++
			logger.Info("deposit amendment awaits approval", "lease_id", d.in.LeaseID, "deposit_id", id)
		}
	default:
		if !d.dup("d", id) {
			d.state.RemovePending(item)
			logger.Info("deposit amendment declined: not applied", "lease_id", d.in.LeaseID, "deposit_id", id)
		}
	}
}

func (d *flow) readMoveOut(ctx workflow.Context) {
	var f activities.MoveOutFact
	if !d.readFact(ctx, a.ReadMoveOut, 0, &f) {
		return
	}
	if !f.Found {
		d.ignore(ctx, SignalMoveOut, "a move-out")
		return
	}
	d.moveOut(ctx, f.At)
}

func (d *flow) readForwarding(ctx workflow.Context) {
	if d.lateFact(SignalForwarding, 0, "forwarding address") {
		return
	}
	var f activities.ForwardingFact
	if !d.readFact(ctx, a.ReadForwardingAddress, 0, &f) {
		return
	}
	if !f.Found {
		d.ignore(ctx, SignalForwarding, "a forwarding address")
		return
	}
	if d.lateFact(SignalForwarding, 0, "forwarding address") || (f.Address == d.state.ForwardingAddress && !d.state.ForwardingAt.IsZero()) {
		return
	}
	d.forward(ctx, f.Address, f.At)
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

// factKey names a fact in seen: its kind and database ID ("c34").
func factKey(kind string, id int64) string { return fmt.Sprintf("%s%d", kind, id) }

// dup says whether a fact was applied before, and marks it applied.
func (d *flow) dup(kind string, id int64) bool {
	k := factKey(kind, id)
	if d.seen[k] {
		return true
	}
	d.seen[k] = true
	return false
}

// lateFact is late for a fact the workflow reads from the database. One
// that arrives while the settlement is being written waits: if the books
// then disagree, it is applied (replayDeferred) and the lease settles
// again; if the settlement is written, it arrived late.
func (d *flow) lateFact(signal string, id int64, what string) bool {
	if !d.settled {
		return false
	}
	if d.settling {
		f := deferredFact{Signal: signal, ID: id, What: what}
		if !slices.Contains(d.deferred, f) {
			d.deferred = append(d.deferred, f)
		}
		return true
	}
	return d.late(what)
}

// deferredFact is a signal that arrived while the settlement was written.
type deferredFact struct {
	Signal string
	ID     int64
	What   string
}

// replayDeferred applies the facts that arrived while a settlement that
// the books then refused was being written.
func (d *flow) replayDeferred(ctx workflow.Context) {
	facts := d.deferred
	d.deferred = nil
	for _, f := range facts {
		switch f.Signal {
		case SignalPayment:
			d.readPayment(ctx, f.ID)
		case SignalPaymentReturned:
			d.readReturn(ctx, f.ID)
		case SignalCharge:
			d.readCharge(ctx, f.ID)
		case SignalAmend:
			d.readAmendment(ctx, f.ID)
		case SignalForwarding:
			d.readForwarding(ctx)
		case SignalTransfer:
			d.readTransfer(ctx, f.ID)
		case SignalPartialRefund:
			d.readPartialRefund(ctx, f.ID)
		}
	}
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
