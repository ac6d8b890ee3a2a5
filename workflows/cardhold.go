package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
)

// Card holds (seed 004, "Security Deposit Hold"): a property may take its
// deposit as an authorization hold on the tenant's card instead of a
// payment. The hold is placed when the lease starts and counts toward the
// deposit while it stands, but it is not money received: nothing of it is
// in the books. Before the card network lets it lapse it is placed again
// (a new hold, then the old one cancelled); a placement that fails tells
// the property's manager at once and is tried again later. At the
// release, what the settlement keeps (arrears, deductions, keeps, up to
// the hold) is captured and recorded as a payment by card, the rest is
// released, and the settlement then counts that payment like any other.
// Refunds of card payments go back to the card through the same provider.

// DefaultCardHoldRenewal is how often a hold is placed again unless the
// property says otherwise: card networks let an authorization lapse after
// about seven days.
const DefaultCardHoldRenewal = 7 * 24 * time.Hour

// cardRetryAfter bounds how long a failed placement waits to be tried again.
const cardRetryAfter = time.Hour

// renewEvery is the lease's renewal interval.
func (d *flow) renewEvery() time.Duration {
	if d.in.CardHoldRenewSeconds > 0 {
		return time.Duration(d.in.CardHoldRenewSeconds) * time.Second
	}
	return DefaultCardHoldRenewal
}

// placeCardHold places the first hold, for the cash deposit not yet paid.
func (d *flow) placeCardHold(ctx workflow.Context) {
	amount := d.state.ExpectedCents - d.state.PaidCents
	d.state.CardHold = &deposit.CardHold{PaymentMethod: d.in.CardPaymentMethod, AmountCents: amount,
		Status: deposit.HoldPending, RenewEvery: activities.RenewEveryText(d.renewEvery())}
	if amount <= 0 {
		d.state.CardHold.Status = deposit.HoldReleased
		return
	}
	d.placeHold(ctx)
}

// placeHold places the next hold (the first, a renewal, or again after a
// failure) and cancels the one it replaces.
func (d *flow) placeHold(ctx workflow.Context) {
	h := d.state.CardHold
	seq := h.Seq + 1
	key := fmt.Sprintf("card-hold-%d", seq)
	if h.FailedSeq == seq {
		// A refusal is remembered by the provider under its key: another
		// attempt at the same hold is a new request.
		key += fmt.Sprintf("-retry-%d", h.Failures)
	}
	in := activities.CardHoldInput{LeaseID: d.in.LeaseID, PaymentMethod: h.PaymentMethod, AmountCents: h.AmountCents, Seq: seq, Key: d.key(key)}
	fn := a.PlaceCardHold
	if h.Active() {
		in.Replaces, fn = h.PaymentIntentID, a.RenewCardHold
	}
	var res activities.CardHoldResult
	if err := workflow.ExecuteActivity(cardPlaceCtx(ctx), fn, in).Get(ctx, &res); err != nil {
		d.cardHoldFailed(ctx, err)
		return
	}
	now := workflow.Now(ctx)
	if h.Active() {
		workflow.GetMetricsHandler(ctx).Counter("deposit_card_hold_renewals").Inc(1)
	}
	h.PaymentIntentID, h.Seq, h.Status, h.PlacedAt, h.RenewAt, h.Failure = res.PaymentIntentID, res.Seq, deposit.HoldActive, now, now.Add(d.renewEvery()), ""
	workflow.GetLogger(ctx).Info("card hold placed", "lease_id", d.in.LeaseID, "payment_intent", h.PaymentIntentID, "seq", h.Seq, "renew_at", h.RenewAt)
}

// cardHoldFailed shows why no new hold stands, tells the property's
// manager at once, and tries again later. A hold that still stands keeps
// counting until it lapses.
func (d *flow) cardHoldFailed(ctx workflow.Context, err error) {
	h := d.state.CardHold
	why := err.Error()
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		why = ae.Message()
	}
	h.Failures++
	h.Failure, h.FailedSeq = why, h.Seq+1
	if !h.Active() {
		h.Status = deposit.HoldFailed
	}
	h.RenewAt = workflow.Now(ctx).Add(min(d.renewEvery(), cardRetryAfter))
	workflow.GetLogger(ctx).Error("card hold not placed", "lease_id", d.in.LeaseID, "seq", h.Seq+1, "why", why)
	workflow.GetMetricsHandler(ctx).Counter("deposit_card_hold_failures").Inc(1)
	d.mailq = append(d.mailq, outgoing{toManager: true, EmailInput: activities.EmailInput{
		Key: d.key(fmt.Sprintf("email/card-hold-failed-%d", h.Failures)), Kind: templates.KindCardHoldFailed, LeaseID: d.in.LeaseID, ToManager: true,
		Data: templates.Data{CardHold: &templates.CardHold{AmountCents: h.AmountCents, Status: h.Status, RenewEvery: h.RenewEvery, Failure: why}},
	}})
}

// startCardRenewals places the hold again each time it is due, until the
// settlement takes it over (cardStop) or the run continues as new.
func (d *flow) startCardRenewals(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			h := d.state.CardHold
			if h == nil || d.cardStop || d.draining || (h.Status != deposit.HoldActive && h.Status != deposit.HoldFailed) {
				return
			}
			if wait := h.RenewAt.Sub(workflow.Now(ctx)); wait > 0 {
				stopped, err := workflow.AwaitWithTimeout(ctx, wait, func() bool { return d.cardStop || d.draining })
				if err != nil || stopped {
					return
				}
			}
			d.cardBusy = true
			d.placeHold(ctx)
			d.cardBusy = false
		}
	})
}

// settleCardHold captures what the settlement keeps (up to the hold) as a
// payment by card and lets the rest go, or cancels the hold when nothing
// is kept. It runs once, before the settlement's terms are taken.
func (d *flow) settleCardHold(ctx workflow.Context) error {
	h := d.state.CardHold
	if !d.cardOn || h == nil {
		return nil
	}
	d.cardStop = true
	if err := workflow.Await(ctx, func() bool { return !d.cardBusy }); err != nil {
		return err
	}
	if !h.Active() {
		return nil
	}
	owed := deposit.Settle(d.terms()).BalanceOwedCents
	capture := min(owed, h.AmountCents)
	if capture <= 0 {
		err := workflow.ExecuteActivity(cardMoneyCtx(ctx), a.ReleaseCardHold, activities.CardReleaseInput{
			LeaseID: d.in.LeaseID, PaymentIntentID: h.PaymentIntentID, Key: d.key("card-hold-release"),
		}).Get(ctx, nil)
		if err != nil && !refused(err) {
			return err
		}
		h.Status, h.ReleasedCents = deposit.HoldReleased, h.AmountCents
		if err != nil {
			h.Failure = err.Error()
		}
		workflow.GetLogger(ctx).Info("card hold released", "lease_id", d.in.LeaseID, "payment_intent", h.PaymentIntentID)
		return nil
	}
	var p deposit.Payment
	err := workflow.ExecuteActivity(cardMoneyCtx(ctx), a.CaptureCardHold, activities.CardCaptureInput{
		LeaseID: d.in.LeaseID, PaymentIntentID: h.PaymentIntentID, AmountCents: capture, At: workflow.Now(ctx), Key: d.key("card-hold-capture"),
	}).Get(ctx, &p)
	if refused(err) {
		// The provider will not capture (the hold lapsed or was taken
		// back): nothing was received, and the settlement invoices what is owed.
		h.Status = deposit.HoldFailed
		d.cardHoldFailed(ctx, err)
		return nil
	}
	if err != nil {
		return err
	}
	h.Status, h.CapturedCents, h.ReleasedCents = deposit.HoldCaptured, capture, h.AmountCents-capture
	if !d.seen[factKey("p", p.PaymentID)] {
		d.seen[factKey("p", p.PaymentID)] = true
		d.state.AddPayment(p)
		d.facts++
	}
	workflow.GetLogger(ctx).Info("card hold captured", "lease_id", d.in.LeaseID, "payment_intent", h.PaymentIntentID,
		"captured_cents", capture, "released_cents", h.ReleasedCents)
	return nil
}

// paidByCard says whether a payment that still counts was made by card.
func (d *flow) paidByCard() bool {
	for _, p := range d.state.Payments {
		if p.Method == deposit.MethodCard && !p.Returned {
			return true
		}
	}
	return false
}

// refundToCards sends what the settlement refunds back to the cards it
// was paid with, through the same provider, up to each card payment.
func (d *flow) refundToCards(ctx workflow.Context, refund int64) error {
	left := refund
	for _, p := range d.state.Payments {
		if left <= 0 {
			break
		}
		if p.Method != deposit.MethodCard || p.Returned {
			continue
		}
		amount := min(left, p.AmountCents)
		var res activities.CardRefundResult
		if err := workflow.ExecuteActivity(cardMoneyCtx(ctx), a.RefundCardPayment, activities.CardRefundInput{
			LeaseID: d.in.LeaseID, PaymentID: p.PaymentID, RefundID: d.state.RefundID, AmountCents: amount,
			Key: d.key(fmt.Sprintf("card-refund-%d", p.PaymentID)),
		}).Get(ctx, &res); err != nil {
			return err
		}
		left -= amount
		workflow.GetLogger(ctx).Info("card payment refunded", "lease_id", d.in.LeaseID, "payment_id", p.PaymentID, "refund", res.ProviderRefundID, "cents", amount)
	}
	return nil
}

// refused says whether the card provider refused for good.
func refused(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == activities.ErrCardRefused
}

// Placing a hold is tried a few times, then the manager is told at once
// (and it is tried again later); a refusal is not retried.
func cardPlaceCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrBadData, activities.ErrCardRefused}},
	})
}

// Capturing, releasing and refunding move money the settlement counts on:
// retried for as long as the provider is away, never after a refusal.
func cardMoneyCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrBadData, activities.ErrCardRefused}},
	})
}
