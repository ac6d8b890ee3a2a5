package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
)

// Manager decisions arrive as Temporal Updates. Each has a validator that
// reads the state and refuses a wrong request before anything is written to
// the workflow's history: a refused request leaves no trace there, and the
// caller gets the reason from the update handle.
const (
	UpdateExtend  = "extend"  // move the release date later
	UpdateKeep    = "keep"    // keep part or all of the deposit, with a reason for the tenant
	UpdateRelease = "release" // release now: settle at once
	UpdateHold    = "hold"    // never release automatically (or lift the hold)
	UpdateApprove = "approve" // a books_admin approves a pending keep
	UpdateDecline = "decline" // a books_admin declines a pending keep
)

// Actor says who asks; every decision carries it.
type Actor struct {
	Actor string `json:"actor"`
	Role  string `json:"role"`
}

// ExtendRequest moves the release date Days later.
type ExtendRequest struct {
	Actor
	Days int `json:"days"`
}

// KeepRequest keeps AmountCents (or, with All, everything still refundable).
type KeepRequest struct {
	Actor
	AmountCents int64  `json:"amount_cents"`
	All         bool   `json:"all"`
	Reason      string `json:"reason"`
}

// ReleaseRequest settles the deposit now.
type ReleaseRequest struct {
	Actor
}

// HoldRequest puts the deposit on hold (never released automatically), or
// lifts the hold when Off is set.
type HoldRequest struct {
	Actor
	Off bool `json:"off"`
}

// ApprovalRequest approves or declines the pending keep.
type ApprovalRequest struct {
	Actor
	Reason string `json:"reason,omitempty"`
}

// registerDecisions installs the update handlers with their validators.
func (d *flow) registerDecisions(ctx workflow.Context) error {
	for _, u := range []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateExtend, d.extend, counted(ctx, UpdateExtend, d.validateExtend)},
		{UpdateKeep, d.keep, counted(ctx, UpdateKeep, d.validateKeep)},
		{UpdateRelease, d.release, counted(ctx, UpdateRelease, d.validateRelease)},
		{UpdateHold, d.hold, counted(ctx, UpdateHold, d.validateHold)},
		{UpdateApprove, d.approve, counted(ctx, UpdateApprove, d.validateApprove)},
		{UpdateDecline, d.decline, counted(ctx, UpdateDecline, d.validateDecline)},
	} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, workflow.UpdateHandlerOptions{Validator: u.validator}); err != nil {
			return err
		}
	}
	return nil
}

// counted wraps a validator so that every refusal shows in the worker's
// metrics (deposit_refusals, tagged with the decision).
func counted[T any](ctx workflow.Context, name string, validate func(T) error) func(T) error {
	refusals := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"decision": name}).Counter("deposit_refusals")
	return func(req T) error {
		err := validate(req)
		if err != nil {
			refusals.Inc(1)
		}
		return err
	}
}

func checkActor(a Actor) error {
	if a.Actor == "" {
		return errors.New("who is acting? give --actor or set DEPOSITS_ACTOR")
	}
	if a.Role != deposit.RoleManager && a.Role != deposit.RoleBooksAdmin {
		return fmt.Errorf("role %q may not decide on deposits: use manager or books_admin", a.Role)
	}
	return nil
}

// decidable is what every decision after the move-out needs.
func (d *flow) decidable(what string) error {
	if d.settled {
		return fmt.Errorf("lease %s is closed (%s): it is too late to %s", d.in.LeaseID, d.state.Outcome, what)
	}
	if !d.movedOut() {
		return fmt.Errorf("lease %s has no move-out yet: record it with `deposits moveout %s` before you %s", d.in.LeaseID, d.in.LeaseID, what)
	}
	if d.releaseNow {
		return fmt.Errorf("lease %s is being released now: it is too late to %s", d.in.LeaseID, what)
	}
	return nil
}

// keepable is what can still be kept: what was received, less what the
// charges and earlier keeps already take.
func (d *flow) keepable() int64 {
	return max(d.state.ReceivedCents-d.state.ArrearsCents-d.state.DeductionsCents-d.state.KeptCents, 0)
}

func (d *flow) record(ctx workflow.Context, kind string, by Actor, detail string) {
	d.state.Decisions = append(d.state.Decisions, deposit.Decision{Kind: kind, Actor: by.Actor, Role: by.Role, At: workflow.Now(ctx), Detail: detail})
	workflow.SetCurrentDetails(ctx, d.details())
}

func (d *flow) validateExtend(req ExtendRequest) error {
	if err := checkActor(req.Actor); err != nil {
		return err
	}
	if err := d.decidable("extend the release date"); err != nil {
		return err
	}
	if req.Days < 1 {
		return fmt.Errorf("extend by at least one day (asked: %d)", req.Days)
	}
	next := d.state.ReleaseAt.AddDate(0, 0, req.Days)
	if by := d.settleBy(); !by.IsZero() && next.After(by) {
		return fmt.Errorf("extending by %d days would release on %s, but %s requires the refund by %s: the engine releases it by %s at the latest",
			req.Days, next.Format(time.DateOnly), d.state.Rule.Label(), d.state.Clock.RefundDue.Format(time.DateOnly), by.Format(time.DateOnly))
	}
	limit := d.state.MovedOutAt.Add(deposit.MaxDelay)
	if !d.maxRelease.IsZero() {
		limit = d.maxRelease
	}
	if next.After(limit) {
		return fmt.Errorf("extending by %d days would release on %s, past the limit of 120 days after move-out (%s)",
			req.Days, next.Format(time.DateOnly), limit.Format(time.DateOnly))
	}
	return nil
}

func (d *flow) extend(ctx workflow.Context, req ExtendRequest) (deposit.State, error) {
	from := d.state.ReleaseAt
	d.state.ReleaseAt = from.AddDate(0, 0, req.Days)
	d.record(ctx, UpdateExtend, req.Actor, fmt.Sprintf("release date %s -> %s", from.Format(time.RFC3339), d.state.ReleaseAt.Format(time.RFC3339)))
	// Operators filter on the release date: keep its search attribute true.
	return d.state, d.publish(ctx, true)
}

func (d *flow) validateKeep(req KeepRequest) error {
	if err := checkActor(req.Actor); err != nil {
		return err
	}
	if err := d.decidable("keep part of the deposit"); err != nil {
		return err
	}
	if d.state.Forfeited {
		return fmt.Errorf("nothing may be kept: %s", d.state.DeadlineMissed)
	}
	if req.Reason == "" {
		return errors.New("give a reason: the tenant reads it as the explanation")
	}
	if len(req.Reason) > 500 {
		return errors.New("the reason is longer than 500 characters")
	}
	if d.state.PendingKeep != nil {
		return fmt.Errorf("a keep of %s by %s awaits approval: approve or decline it first",
			money.Format(d.state.PendingKeep.AmountCents), d.state.PendingKeep.RequestedBy)
	}
	left := d.keepable()
	switch {
	case req.All && req.AmountCents != 0:
		return errors.New("give either an amount or all, not both")
	case req.All && left == 0:
		return errors.New("there is nothing left to keep: the charges already take everything received")
	case req.All:
		return nil
	case req.AmountCents <= 0:
		return errors.New("the amount to keep must be more than zero")
	case req.AmountCents > left:
		return fmt.Errorf("cannot keep %s: only %s is held after charges and earlier keeps", money.Format(req.AmountCents), money.Format(left))
	}
	return nil
}

// keep applies a keep, or leaves it pending when it is above the property's
// approval threshold. The threshold is read when the keep is made, so a
// changed policy applies to the next decision.
func (d *flow) keep(ctx workflow.Context, req KeepRequest) (deposit.State, error) {
	if err := d.decisionMu.Lock(ctx); err != nil {
		return d.state, err
	}
	defer d.decisionMu.Unlock()
	var policy activities.Policy
	if err := workflow.ExecuteActivity(dbCtx(ctx), a.GetPropertyPolicy, d.in.PropertyID).Get(ctx, &policy); err != nil {
		return d.state, err
	}
	// The state may have moved while the policy was read.
	if err := d.validateKeep(req); err != nil {
		return d.state, err
	}
	k := deposit.Keep{AmountCents: req.AmountCents, Reason: req.Reason, RequestedBy: req.Actor.Actor, RequestedAt: workflow.Now(ctx)}
	if req.All {
		k.AmountCents = d.keepable()
	}
	if policy.ApprovalThresholdCents > 0 && k.AmountCents > policy.ApprovalThresholdCents {
		d.state.PendingKeep = &k
		d.record(ctx, "keep_requested", req.Actor, fmt.Sprintf("%s pending approval (threshold %s): %s",
			money.Format(k.AmountCents), money.Format(policy.ApprovalThresholdCents), k.Reason))
		return d.state, nil
	}
	d.applyKeep(k)
	d.record(ctx, UpdateKeep, req.Actor, money.Format(k.AmountCents)+": "+k.Reason)
	return d.state, nil
}

func (d *flow) applyKeep(k deposit.Keep) { d.state.AddKeep(k) }

// pending returns the keep awaiting approval, or why there is none to decide.
func (d *flow) pending(req ApprovalRequest) (*deposit.Keep, error) {
	if err := checkActor(req.Actor); err != nil {
		return nil, err
	}
	switch {
	case d.settled:
		return nil, fmt.Errorf("lease %s is closed", d.in.LeaseID)
	case d.state.PendingKeep == nil:
		return nil, errors.New("there is no keep awaiting approval")
	}
	return d.state.PendingKeep, nil
}

func (d *flow) validateApprove(req ApprovalRequest) error {
	p, err := d.pending(req)
	if err != nil {
		return err
	}
	switch {
	case req.Role != deposit.RoleBooksAdmin:
		return fmt.Errorf("only a books_admin may approve a keep (you act as %s)", req.Role)
	case req.Actor.Actor == p.RequestedBy:
		return errors.New("you asked for this keep: someone else must approve it")
	case p.AmountCents > d.keepable():
		return fmt.Errorf("the pending keep of %s is now more than the %s held after charges: decline it and ask again",
			money.Format(p.AmountCents), money.Format(d.keepable()))
	}
	return nil
}

func (d *flow) approve(ctx workflow.Context, req ApprovalRequest) (deposit.State, error) {
	k := *d.state.PendingKeep
	k.ApprovedBy = req.Actor.Actor
	d.state.PendingKeep = nil
	d.applyKeep(k)
	d.record(ctx, UpdateApprove, req.Actor, fmt.Sprintf("keep of %s requested by %s: %s", money.Format(k.AmountCents), k.RequestedBy, k.Reason))
	return d.state, nil
}

func (d *flow) validateDecline(req ApprovalRequest) error {
	p, err := d.pending(req)
	if err != nil {
		return err
	}
	if req.Role != deposit.RoleBooksAdmin && req.Actor.Actor != p.RequestedBy {
		return fmt.Errorf("only a books_admin, or %s who asked, may decline this keep", p.RequestedBy)
	}
	return nil
}

func (d *flow) decline(ctx workflow.Context, req ApprovalRequest) (deposit.State, error) {
	k := *d.state.PendingKeep
	d.state.PendingKeep = nil
	d.record(ctx, UpdateDecline, req.Actor, fmt.Sprintf("keep of %s requested by %s; %s", money.Format(k.AmountCents), k.RequestedBy, req.Reason))
	return d.state, nil
}

func (d *flow) validateRelease(req ReleaseRequest) error {
	if err := checkActor(req.Actor); err != nil {
		return err
	}
	if err := d.decidable("release the deposit"); err != nil {
		return err
	}
	if p := d.state.PendingKeep; p != nil {
		return fmt.Errorf("a keep of %s awaits approval: approve or decline it before releasing", money.Format(p.AmountCents))
	}
	return nil
}

func (d *flow) release(ctx workflow.Context, req ReleaseRequest) (deposit.State, error) {
	d.releaseNow = true
	d.record(ctx, UpdateRelease, req.Actor, "released now")
	return d.state, nil
}

func (d *flow) validateHold(req HoldRequest) error {
	if err := checkActor(req.Actor); err != nil {
		return err
	}
	switch {
	case d.settled:
		return fmt.Errorf("lease %s is closed (%s): there is nothing left to hold", d.in.LeaseID, d.state.Outcome)
	case d.releaseNow:
		return errors.New("the release is already under way")
	case req.Off && !d.state.OnHold:
		return errors.New("the deposit is not on hold")
	case !req.Off && d.state.OnHold:
		return errors.New("the deposit is already on hold")
	}
	return nil
}

func (d *flow) hold(ctx workflow.Context, req HoldRequest) (deposit.State, error) {
	d.state.OnHold = !req.Off
	detail := "on hold: never released automatically"
	if by := d.settleBy(); !by.IsZero() {
		detail = fmt.Sprintf("on hold until the refund deadline: the engine releases it by %s under %s", dayText(by), d.state.Rule.Label())
	}
	if req.Off {
		detail = "hold lifted: released automatically on the release date"
	}
	d.record(ctx, UpdateHold, req.Actor, detail)
	return d.state, nil
}
