package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
)

// The tenant's side (issue #17, version "disputes"). The server writes a
// tenant's dispute of an item of the itemized statement, a manager's
// answer, or a tenant's acceptance of an offer to PostgreSQL, then signals
// the lease's workflow with the item's ID; the workflow reads the lease's
// disputed items from the database (ReadDisputes) and:
//
//   - emails the manager about a new item, and the tenant about an answer;
//   - at the release date (never later than the statutory deadline) settles
//     as always, refunding the undisputed part, while the settlement holds
//     what the deposit covers of each disputed item (stage disputed);
//   - pays back what each resolution concedes or agrees at once (before the
//     settlement: with it), in a refund of its own, and emails the tenant;
//   - reminds the manager of an item left unanswered, and the tenant of an
//     offer left unanswered;
//   - closes once every item is resolved and settled.
//
// The law-safe rule at a statutory deadline with a dispute open: the
// engine settles by the deadline as always (the undisputed part is
// refunded in time, the statement itemizes what is withheld), and only
// what is disputed stays held, with the reason shown; where a missed
// deadline forfeited the deductions, nothing is held and everything is
// refunded.

// DisputeSignal names a disputed item whose row changed (opened, answered,
// an offer accepted). Only the ID is used: the workflow reads the rows.
type DisputeSignal struct {
	DisputeID int64 `json:"dispute_id"`
}

// readDisputes reads the lease's disputed items and acts on what changed
// since the workflow last read them.
func (d *flow) readDisputes(ctx workflow.Context) {
	var f activities.DisputesFact
	if !d.readFact(ctx, a.ReadDisputes, 0, &f) {
		return
	}
	if f.RemindAfter > 0 {
		d.disputeRemind = f.RemindAfter
	}
	known := map[int64]deposit.Dispute{}
	for _, it := range d.state.Disputes {
		known[it.DisputeID] = it
	}
	next := make([]deposit.Dispute, 0, len(f.Disputes))
	for _, it := range f.Disputes {
		was, seen := known[it.DisputeID]
		if seen && was.Settled() && !it.Settled() {
			it = was // a read that began before the item was settled
		}
		next = append(next, it)
		switch {
		case !seen:
			d.disputeEmail(templates.KindDisputeOpened, it.DisputeID, true, fmt.Sprintf("email/dispute-%d-opened", it.DisputeID))
			workflow.GetLogger(ctx).Info("item disputed", "lease_id", d.in.LeaseID, "dispute_id", it.DisputeID, "item", it.Item, "cents", it.AmountCents)
		case was.Status == it.Status && was.OfferCents == it.OfferCents:
			continue
		}
		switch it.Status {
		case deposit.DisputeOffered:
			d.disputeEmail(templates.KindDisputeAnswer, it.DisputeID, false, fmt.Sprintf("email/dispute-%d-offered-%d", it.DisputeID, it.OfferCents))
		case deposit.DisputeMaintained:
			d.disputeEmail(templates.KindDisputeAnswer, it.DisputeID, false, fmt.Sprintf("email/dispute-%d-maintained", it.DisputeID))
		case deposit.DisputeConceded:
			if !d.settled {
				// After the settlement the payment's email says it.
				d.disputeEmail(templates.KindDisputeAnswer, it.DisputeID, false, fmt.Sprintf("email/dispute-%d-conceded", it.DisputeID))
			}
		}
		if it.Status != deposit.DisputeOpen {
			workflow.GetLogger(ctx).Info("disputed item answered", "lease_id", d.in.LeaseID, "dispute_id", it.DisputeID, "status", it.Status)
		}
	}
	d.state.Disputes = next
	d.state.DisputedCents = deposit.DisputedHeld(next)
	d.disputeSeq++
}

// disputeEmail queues an email about a disputed item.
func (d *flow) disputeEmail(kind string, id int64, toManager bool, key string) {
	d.mailq = append(d.mailq, outgoing{toManager: toManager, EmailInput: activities.EmailInput{
		Key: d.key(key), Kind: kind, LeaseID: d.in.LeaseID, ToManager: toManager, DisputeID: id}})
}

// adoptHeld takes the disputed items as the settlement held them.
func (d *flow) adoptHeld(held []deposit.Dispute) {
	if held == nil {
		return
	}
	d.state.Disputes = held
	d.state.DisputedCents = deposit.DisputedHeld(held)
	d.disputeSeq++
}

// unsettledDisputes says whether a held item still waits to be resolved or paid.
func (d *flow) unsettledDisputes() bool {
	return slices.ContainsFunc(d.state.Disputes, func(it deposit.Dispute) bool { return it.Held && !it.Settled() })
}

// awaitDisputes, after the settlement, pays back each resolution as it
// comes and closes the lease once every held item is settled.
func (d *flow) awaitDisputes(ctx workflow.Context) error {
	for {
		for _, it := range slices.Clone(d.state.Disputes) {
			if !it.Held || it.Settled() || !it.Resolved() {
				continue
			}
			if err := d.payDispute(ctx, it); err != nil {
				return err
			}
		}
		d.state.DisputedCents = deposit.DisputedHeld(d.state.Disputes)
		if !d.unsettledDisputes() {
			if d.state.Stage != deposit.StageClosed {
				return d.setStage(ctx, deposit.StageClosed)
			}
			return nil
		}
		if d.state.Stage != deposit.StageDisputed {
			if err := d.setStage(ctx, deposit.StageDisputed); err != nil {
				return err
			}
		}
		seq := d.disputeSeq
		workflow.SetCurrentDetails(ctx, d.details())
		if err := d.await(ctx, func() bool { return d.disputeSeq != seq }); err != nil {
			return err
		}
	}
}

// payDispute settles one resolved item: its refund (if it pays anything
// back) and what it applies, once, then the tenant's email.
func (d *flow) payDispute(ctx workflow.Context, it deposit.Dispute) error {
	var out deposit.Dispute
	err := workflow.ExecuteActivity(dbCtx(ctx), a.PayDispute, activities.PayDisputeInput{
		LeaseID: d.in.LeaseID, DisputeID: it.DisputeID, Key: d.key(fmt.Sprintf("dispute/%d", it.DisputeID)),
	}).Get(ctx, &out)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == activities.ErrBadData {
		// The database does not bear it out (yet): the next read decides.
		workflow.GetLogger(ctx).Error("disputed item not settled", "lease_id", d.in.LeaseID, "dispute_id", it.DisputeID, "why", appErr.Message())
		d.ignore(ctx, SignalDispute, fmt.Sprintf("disputed item %d (%s)", it.DisputeID, appErr.Message()))
		for i := range d.state.Disputes {
			if d.state.Disputes[i].DisputeID == it.DisputeID {
				d.state.Disputes[i].Status = deposit.DisputeOpen
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	for i := range d.state.Disputes {
		if d.state.Disputes[i].DisputeID == it.DisputeID {
			d.state.Disputes[i] = out
		}
	}
	// Conservation: what was held is now paid back or applied.
	d.state.AppliedCents += out.AppliedCents
	d.state.HeldCents = deposit.DisputedHeld(d.state.Disputes)
	metrics := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"status": out.Status})
	metrics.Counter("deposit_disputes_settled").Inc(1)
	if out.RefundCents > 0 {
		metrics.Counter("deposit_dispute_refunded_cents").Inc(out.RefundCents)
		d.disputeEmail(templates.KindDisputePaid, out.DisputeID, false, fmt.Sprintf("email/dispute-%d-paid", out.DisputeID))
	}
	workflow.GetLogger(ctx).Info("disputed item settled", "lease_id", d.in.LeaseID, "dispute_id", out.DisputeID, "status", out.Status,
		"refund_cents", out.RefundCents, "applied_cents", out.AppliedCents)
	return nil
}

// startDisputeReminders reminds, once each, the manager of an item left
// open and the tenant of an offer left unanswered for the remind period.
func (d *flow) startDisputeReminders(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			seq := d.disputeSeq
			now := workflow.Now(ctx)
			var next time.Time
			for _, it := range d.state.Disputes {
				if it.Settled() || it.Resolved() {
					continue
				}
				key, kind, toManager, from := fmt.Sprintf("email/dispute-%d-reminder", it.DisputeID), templates.KindDisputeReminder, true, it.OpenedAt
				if it.Status == deposit.DisputeOffered {
					key, kind, toManager, from = fmt.Sprintf("email/dispute-%d-offer-reminder-%d", it.DisputeID, it.OfferCents), templates.KindOfferReminder, false, it.AnsweredAt
				}
				if d.reminded[key] {
					continue
				}
				at := from.Add(d.remindAfter())
				if !at.After(now) {
					d.reminded[key] = true
					d.disputeEmail(kind, it.DisputeID, toManager, key)
					continue
				}
				if next.IsZero() || at.Before(next) {
					next = at
				}
			}
			if next.IsZero() {
				_ = workflow.Await(ctx, func() bool { return d.disputeSeq != seq })
				continue
			}
			_, _ = workflow.AwaitWithTimeout(ctx, next.Sub(now), func() bool { return d.disputeSeq != seq })
		}
	})
}

func (d *flow) remindAfter() time.Duration {
	if d.disputeRemind > 0 {
		return d.disputeRemind
	}
	return activities.DefaultDisputeRemindAfter
}
