package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
)

// Money that moves before the settlement (#16, seed 002's "Add
// refund/transfer"): a transfer of refundable money to another lease, and
// a partial refund. The server writes each fact first (a transfer with the
// payment the target receives it as; a partial refund with its refund
// rows), then signals its ID; the workflow reads it here. On the source
// both count as "previous refunds/transfers" of the refundable formula; the
// target counts a transfer in as a payment. Leases started before the
// "transfers" version take none (the server refuses them).

// MoveSignal names a transfer or a partial refund by its database ID.
type MoveSignal struct {
	ID int64 `json:"id"`
}

// earlierKind is the seen-key kind of a transfer out or a partial refund.
func earlierKind(kind string) string {
	if kind == deposit.EarlierTransfer {
		return "t"
	}
	return "pr"
}

// readTransfer applies a transfer: out of this lease, an earlier refund;
// into it, the payment it was received as (and a receipt).
func (d *flow) readTransfer(ctx workflow.Context, id int64) {
	what := fmt.Sprintf("transfer %d", id)
	if d.lateFact(SignalTransfer, id, what) || d.seen[factKey("t", id)] {
		return
	}
	var f activities.TransferFact
	if !d.readFact(ctx, a.ReadTransfer, id, &f) {
		return
	}
	if !f.Found {
		d.ignore(ctx, SignalTransfer, what)
		return
	}
	if d.lateFact(SignalTransfer, id, what) {
		return
	}
	if !f.Out {
		// Into this lease: received toward the deposit like a payment. A
		// deposit it covers for the first time before the move-out is held
		// by the main flow, which sends the receipt; otherwise (held
		// already, or moved out) the transfer's own receipt goes out here.
		if d.seen[factKey("p", f.PaymentID)] {
			d.seen[factKey("t", id)] = true
			return
		}
		wasCovered := d.covered()
		d.readPayment(ctx, f.PaymentID)
		if !d.seen[factKey("p", f.PaymentID)] {
			return // not applied (late, or not found): nothing to tell
		}
		d.seen[factKey("t", id)] = true
		if d.covered() && (wasCovered || d.movedOut()) {
			d.email(templates.KindReceipt, fmt.Sprintf("-transfer-%d", id))
		}
		workflow.GetLogger(ctx).Info("transfer received", "lease_id", d.in.LeaseID, "transfer_id", id, "from", f.FromLease, "paid_cents", d.state.PaidCents)
		return
	}
	if d.dup("t", id) {
		return
	}
	d.state.AddEarlierRefund(f.Row.EarlierRefund)
	d.facts++
	workflow.GetLogger(ctx).Info("transfer out applied", "lease_id", d.in.LeaseID, "transfer_id", id, "to", f.Row.ToLease,
		"cents", f.Row.AmountCents, "earlier_refunds_cents", d.state.EarlierRefundsCents)
}

// readPartialRefund applies a partial refund: an earlier refund, and its
// email to the tenants.
func (d *flow) readPartialRefund(ctx workflow.Context, id int64) {
	what := fmt.Sprintf("partial refund %d", id)
	if d.lateFact(SignalPartialRefund, id, what) || d.seen[factKey("pr", id)] {
		return
	}
	var f activities.PartialRefundFact
	if !d.readFact(ctx, a.ReadPartialRefund, id, &f) {
		return
	}
	if !f.Found {
		d.ignore(ctx, SignalPartialRefund, what)
		return
	}
	if d.lateFact(SignalPartialRefund, id, what) || d.dup("pr", id) {
		return
	}
	d.state.AddEarlierRefund(f.Row.EarlierRefund)
	d.facts++
	d.mailq = append(d.mailq, outgoing{EmailInput: activities.EmailInput{
		Key: d.key(fmt.Sprintf("email/%s-%d", templates.KindPartialRefund, id)), Kind: templates.KindPartialRefund,
		LeaseID: d.in.LeaseID, PartialRefundID: id,
	}})
	workflow.GetLogger(ctx).Info("partial refund applied", "lease_id", d.in.LeaseID, "partial_refund_id", id,
		"cents", f.Row.AmountCents, "earlier_refunds_cents", d.state.EarlierRefundsCents)
}
