package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
)

// Manager decisions arrive as Temporal Updates. Each has a validator that
// reads the state and refuses a wrong request before anything is written to
// the workflow's history: a refused request leaves no trace there, and the
// caller gets the reason from the update handle.
//
// Where the database is the book of record, who asks is not what the
// payload says. The server authenticates the person, checks their roles
// and properties, and writes an audit row of the request (accepted NULL)
// before it sends the Update, whose Actor carries that row's ID
// (RequestID). The validator refuses an Update without one or with one
// already used on this lease; the handler then claims the row
// (activities.ClaimDecision: this lease, this action, the same content, not
// yet decided) and validates again with the actor and roles the row names.
// A request the row does not prove changes nothing (deposit_forged_requests).
const (
	UpdateExtend       = "extend"        // move the release date later
	UpdateKeep         = "keep"          // keep part or all of the deposit, with a reason for the tenant
	UpdateRelease      = "release"       // release now: settle at once
	UpdateHold         = "hold"          // never release automatically (or lift the hold)
	UpdateApprove      = "approve"       // a books_admin approves an item awaiting approval
	UpdateDecline      = "decline"       // a books_admin (or who asked) declines it
	UpdateRecheckBooks = "recheck_books" // an admin settles again a lease whose books disagreed
)

// Actor says who asks; every decision carries it. Role is what decisions
// carried before the database was the book of record (kept so their
// histories decode; the server sends the person's roles joined by ',' there
// too). RequestID is the audit row the server wrote for the request: the
// only part the workflow believes, once it has claimed the row.
type Actor struct {
	Actor     string   `json:"actor"`
	Role      string   `json:"role"`
	Roles     []string `json:"roles,omitempty"`
	RequestID int64    `json:"request_id,omitempty"`
}

// roles are the roles the actor claims (or, after the claim, holds).
func (a Actor) roles() []string {
	if len(a.Roles) > 0 {
		return a.Roles
	}
	return deposit.ParseRoles(a.Role)
}

// has says whether the actor holds the role.
func (a Actor) has(role string) bool { return deposit.HasRole(a.roles(), role) }

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

// ApprovalRequest approves or declines an item awaiting approval: "keep:12",
// "charge:34", "deposit:56"; empty names the only one.
type ApprovalRequest struct {
	Actor
	Item   string `json:"item,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// RecheckRequest settles again a lease whose books disagreed: after the
// database was corrected, or (Rebuild) after the workflow re-read every
// fact of the lease from it.
type RecheckRequest struct {
	Actor
	Rebuild bool `json:"rebuild"`
}

// recheckBooks is an admin's recheck, for the main flow to carry out.
type recheckBooks struct {
	rebuild bool
}

// The business content of each decision, as the server records it in the
// request's audit row: ClaimDecision compares it with the Update's.
type (
	extendContent struct {
		Days int `json:"days"`
	}
	keepContent struct {
		AmountCents int64  `json:"amount_cents"`
		All         bool   `json:"all"`
		Reason      string `json:"reason"`
	}
	holdContent struct {
		Off bool `json:"off"`
	}
	approvalContent struct {
		Item   string `json:"item"`
		Reason string `json:"reason"`
	}
	recheckContent struct {
		Rebuild bool `json:"rebuild"`
	}
)

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
		{UpdateRecheckBooks, d.recheckBooks, counted(ctx, UpdateRecheckBooks, d.validateRecheck)},
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

// checkActor is what every decision's actor needs: a name and a role that
// decides. Where the database is the book of record, also a request (the
// audit row) not used before on this lease, and the role this decision
// takes (need: any of them); the handler checks it again with the roles
// the audit row names.
func (d *flow) checkActor(a Actor, need ...string) error {
	if a.Actor == "" {
		return errors.New("who is acting? a decision goes through the server, which names the person signed in")
	}
	if !d.bookOfRecord {
		if a.Role != deposit.RoleManager && a.Role != deposit.RoleBooksAdmin {
			return fmt.Errorf("role %q may not decide on deposits: use manager or books_admin", a.Role)
		}
		return nil
	}
	if a.RequestID <= 0 {
		return errors.New("no request_id: a decision goes through the server, which records it in the audit log first")
	}
	if slices.Contains(d.requests, a.RequestID) {
		return fmt.Errorf("request %d was already used on lease %s", a.RequestID, d.in.LeaseID)
	}
	if !slices.ContainsFunc(need, a.has) {
		return fmt.Errorf("%s (role %q) may not decide this on deposits: it takes the role %s", a.Actor, strings.Join(a.roles(), ","), strings.Join(need, " or "))
	}
	return nil
}

// decide runs a decision's handler where the database is the book of
// record: one decision at a time; the request's audit row claimed first;
// then validated again, with who asked as the row says, and applied.
// Nothing changes if any of it fails.
func (d *flow) decide(ctx workflow.Context, name string, req Actor, content any, validate func(by Actor) error, apply func(by Actor) error) (deposit.State, error) {
	if err := d.decisionMu.Lock(ctx); err != nil {
		return d.state, err
	}
	defer d.decisionMu.Unlock()
	by, err := d.claimRequest(ctx, name, req, content)
	if err != nil {
		return d.state, err
	}
	// Once claimed, a request is used, whatever happens next.
	defer func() { d.requests = append(d.requests, req.RequestID) }()
	if err := validate(by); err != nil {
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"decision": name}).Counter("deposit_refusals").Inc(1)
		return d.state, err
	}
	if err := apply(by); err != nil {
		return d.state, err
	}
	return d.state, nil
}

// claimRequest claims the request's audit row and returns who asked, as the
// row says.
func (d *flow) claimRequest(ctx workflow.Context, name string, req Actor, content any) (Actor, error) {
	if req.RequestID <= 0 || slices.Contains(d.requests, req.RequestID) {
		return Actor{}, fmt.Errorf("request %d was already used on lease %s, or there is none", req.RequestID, d.in.LeaseID)
	}
	// The content is a struct of plain fields: it encodes the same every
	// time (what workflowcheck sees in encoding/json is its map encoder).
	//workflowcheck:ignore
	body, err := json.Marshal(content)
	if err != nil {
		return Actor{}, err
	}
	var c activities.Claim
	err = workflow.ExecuteLocalActivity(localCtx(ctx), a.ClaimDecision, activities.ClaimInput{
		LeaseID: d.in.LeaseID, RequestID: req.RequestID, Action: name, Content: body,
	}).Get(ctx, &c)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == activities.ErrForgedRequest {
		workflow.GetLogger(ctx).Warn("decision refused: its request is not recorded", "lease_id", d.in.LeaseID, "decision", name,
			"request_id", req.RequestID, "actor", req.Actor, "why", appErr.Message())
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"decision": name}).Counter("deposit_forged_requests").Inc(1)
		return Actor{}, errors.New(appErr.Message())
	}
	if err != nil {
		return Actor{}, err
	}
	return Actor{Actor: c.Actor, Role: strings.Join(c.Roles, ","), Roles: c.Roles, RequestID: c.RequestID}, nil
}

// decidable is what every decision after the move-out needs.
func (d *flow) decidable(what string) error {
	if d.settled {
		return fmt.Errorf("lease %s is closed (%s): it is too late to %s", d.in.LeaseID, d.state.Outcome, what)
	}
	if d.state.Stage == deposit.StageBooksDisagree {
		return fmt.Errorf("the books of lease %s disagree and it is settling: an admin must recheck them; it is too late to %s", d.in.LeaseID, what)
	}
	if !d.movedOut() {
		return fmt.Errorf("lease %s has no move-out yet: record it with `deposits moveout %s` before you %s", d.in.LeaseID, d.in.LeaseID, what)
	}
	if d.releaseNow {
		return fmt.Errorf("lease %s is being released now: it is too late to %s", d.in.LeaseID, what)
	}
	return nil
}

// keepable is what can still be kept: what was received (and what a hold
// on the tenant's card secures, captured at the release), less what the
// charges and earlier keeps already take.
func (d *flow) keepable() int64 {
	received := d.state.ReceivedCents
	if h := d.state.CardHold; h.Active() {
		received += h.AmountCents
	}
	return max(received-d.state.ArrearsCents-d.state.DeductionsCents-d.state.KeptCents, 0)
}

func (d *flow) record(ctx workflow.Context, kind string, by Actor, detail string) {
	d.state.Decisions = append(d.state.Decisions, deposit.Decision{Kind: kind, Actor: by.Actor, Role: by.Role, At: workflow.Now(ctx), Detail: detail})
	workflow.SetCurrentDetails(ctx, d.details())
}

// Every decision validates its actor, then the state.

func (d *flow) validateExtend(req ExtendRequest) error {
	if err := d.checkActor(req.Actor, deposit.RoleManager); err != nil {
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
			req.Days, d.dateText(next), d.state.Rule.Label(), d.dateText(d.state.Clock.RefundDue), d.dateText(by))
	}
	limit := d.state.MovedOutAt.Add(deposit.MaxDelay)
	if !d.maxRelease.IsZero() {
		limit = d.maxRelease
	}
	if next.After(limit) {
		return fmt.Errorf("extending by %d days would release on %s, past the limit of 120 days after move-out (%s)",
			req.Days, d.dateText(next), d.dateText(limit))
	}
	return nil
}

func (d *flow) extend(ctx workflow.Context, req ExtendRequest) (deposit.State, error) {
	if d.bookOfRecord {
		return d.decide(ctx, UpdateExtend, req.Actor, extendContent{Days: req.Days},
			func(by Actor) error { r := req; r.Actor = by; return d.validateExtend(r) },
			func(by Actor) error {
				r := req
				r.Actor = by
				if _, err := d.extendV0(ctx, r); err != nil {
					return err
				}
				// The lease's row shows the release date too.
				return d.mirror(ctx, false)
			})
	}
	return d.extendV0(ctx, req)
}

func (d *flow) extendV0(ctx workflow.Context, req ExtendRequest) (deposit.State, error) {
	from := d.state.ReleaseAt
	d.state.ReleaseAt = from.AddDate(0, 0, req.Days)
	d.record(ctx, UpdateExtend, req.Actor, fmt.Sprintf("release date %s -> %s", d.timeText(from), d.timeText(d.state.ReleaseAt)))
	// Operators filter on the release date: keep its search attribute true.
	return d.state, d.publish(ctx, true)
}

func (d *flow) validateKeep(req KeepRequest) error {
	if err := d.checkActor(req.Actor, deposit.RoleManager); err != nil {
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
			d.money(d.state.PendingKeep.AmountCents), d.state.PendingKeep.RequestedBy)
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
		return fmt.Errorf("cannot keep %s: only %s is held after charges and earlier keeps", d.money(req.AmountCents), d.money(left))
	}
	return nil
}

// keep applies a keep, or holds it for approval when it brings the lease's
// total of money people moved after the move-out (the discretionary total,
// read from the database with the threshold) above the property's approval
// threshold: three keeps of 200.00 under a threshold of 500.00 apply the
// first two and hold the third. The keep is written to the database (keeps)
// as it is applied or held. The threshold is read when the keep is made,
// so a changed policy applies to the next decision.
func (d *flow) keep(ctx workflow.Context, req KeepRequest) (deposit.State, error) {
	if !d.bookOfRecord {
		return d.keepV0(ctx, req)
	}
	validate := func(by Actor) error { r := req; r.Actor = by; return d.validateKeep(r) }
	return d.decide(ctx, UpdateKeep, req.Actor, keepContent{AmountCents: req.AmountCents, All: req.All, Reason: req.Reason}, validate,
		func(by Actor) error {
			var policy activities.ApprovalPolicy
			if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.ReadApprovalPolicy, activities.ApprovalPolicyInput{
				LeaseID: d.in.LeaseID, PropertyID: d.in.PropertyID,
			}).Get(ctx, &policy); err != nil {
				return err
			}
			// The state may have moved while the policy was read.
			if err := validate(by); err != nil {
				return err
			}
			amount := req.AmountCents
			if req.All {
				amount = d.keepable()
			}
			status := "applied"
			total := policy.DiscretionaryCents + amount
			if policy.ThresholdCents > 0 && total > policy.ThresholdCents {
				status = "pending"
			}
			var row activities.KeepRow
			if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.RecordKeep, activities.RecordKeepInput{
				LeaseID: d.in.LeaseID, RequestID: by.RequestID, AmountCents: amount, Reason: req.Reason, RequestedBy: by.Actor,
				Status: status, Key: d.key(fmt.Sprintf("keep/%d", by.RequestID)),
			}).Get(ctx, &row); err != nil {
				return err
			}
			if row.Status == "pending" {
				p := row.Pending()
				d.state.AddPending(p)
				d.record(ctx, "keep_requested", by, fmt.Sprintf("%s %s pending approval (the lease's total moved after the move-out would be %s, above the threshold %s): %s",
					p.Item, d.money(amount), d.money(total), d.money(policy.ThresholdCents), req.Reason))
				return nil
			}
			d.applyKeep(row.Keep)
			d.record(ctx, UpdateKeep, by, d.money(amount)+": "+req.Reason)
			return nil
		})
}

// keepV0 is how leases started before the database was the book of record
// keep: the threshold applies to each keep.
func (d *flow) keepV0(ctx workflow.Context, req KeepRequest) (deposit.State, error) {
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
			d.money(k.AmountCents), d.money(policy.ApprovalThresholdCents), k.Reason))
		return d.state, nil
	}
	d.applyKeep(k)
	d.record(ctx, UpdateKeep, req.Actor, d.money(k.AmountCents)+": "+k.Reason)
	return d.state, nil
}

func (d *flow) applyKeep(k deposit.Keep) { d.state.AddKeep(k) }

// pending returns the keep awaiting approval, or why there is none to
// decide (leases from before the database was the book of record).
func (d *flow) pending(req ApprovalRequest) (*deposit.Keep, error) {
	if err := d.checkActor(req.Actor); err != nil {
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

// pendingItem returns the item an approval names (or the only one awaiting
// approval), or why there is none to decide.
func (d *flow) pendingItem(req ApprovalRequest) (*deposit.Pending, error) {
	items := make([]string, 0, len(d.state.Pending))
	for _, p := range d.state.Pending {
		items = append(items, p.Item)
	}
	switch {
	case d.settled:
		return nil, fmt.Errorf("lease %s is closed", d.in.LeaseID)
	case len(items) == 0:
		return nil, errors.New("there is nothing awaiting approval")
	case req.Item == "" && len(items) > 1:
		return nil, fmt.Errorf("%d items await approval: name one of %s", len(items), strings.Join(items, ", "))
	case req.Item == "":
		return &d.state.Pending[0], nil
	}
	if p := d.state.FindPending(req.Item); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("%s does not await approval; what does: %s", req.Item, strings.Join(items, ", "))
}

func (d *flow) validateApprove(req ApprovalRequest) error {
	if !d.bookOfRecord {
		return d.validateApproveV0(req)
	}
	if err := d.checkActor(req.Actor, deposit.Roles...); err != nil {
		return err
	}
	p, err := d.pendingItem(req)
	if err != nil {
		return err
	}
	switch {
	case !req.has(deposit.RoleBooksAdmin):
		return fmt.Errorf("only a books_admin may approve %s (you act as %s)", p.Item, strings.Join(req.roles(), ","))
	case req.Actor.Actor == p.RequestedBy:
		// Whatever roles they hold: separation of duties.
		return fmt.Errorf("you asked for %s: someone else must approve it", p.Item)
	case p.Kind == deposit.PendingKeep && p.AmountCents > d.keepable():
		return fmt.Errorf("the pending keep of %s is now more than the %s held after charges: decline it and ask again",
			d.money(p.AmountCents), d.money(d.keepable()))
	}
	return nil
}

func (d *flow) validateApproveV0(req ApprovalRequest) error {
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
			d.money(p.AmountCents), d.money(d.keepable()))
	}
	return nil
}

func (d *flow) approve(ctx workflow.Context, req ApprovalRequest) (deposit.State, error) {
	if !d.bookOfRecord {
		k := *d.state.PendingKeep
		k.ApprovedBy = req.Actor.Actor
		d.state.PendingKeep = nil
		d.applyKeep(k)
		d.record(ctx, UpdateApprove, req.Actor, fmt.Sprintf("keep of %s requested by %s: %s", d.money(k.AmountCents), k.RequestedBy, k.Reason))
		return d.state, nil
	}
	validate := func(by Actor) error { r := req; r.Actor = by; return d.validateApprove(r) }
	return d.decide(ctx, UpdateApprove, req.Actor, approvalContent{Item: req.Item, Reason: req.Reason}, validate, func(by Actor) error {
		p, err := d.pendingItem(req)
		if err != nil {
			return err
		}
		item := *p
		if err := d.decideItem(ctx, item, activities.DecisionApproved, by.Actor); err != nil {
			return err
		}
		d.state.RemovePending(item.Item)
		switch {
		case item.Keep != nil:
			k := *item.Keep
			k.ApprovedBy = by.Actor
			d.applyKeep(k)
		case item.Charge != nil:
			if !d.dup("c", item.ID) {
				d.state.AddCharge(*item.Charge)
			}
		case item.Deposit != nil:
			if !d.dup("d", item.ID) {
				d.amend(*item.Deposit)
			}
		}
		d.facts++
		d.record(ctx, UpdateApprove, by, fmt.Sprintf("%s (%s %s requested by %s: %s)", item.Item, item.Kind, d.money(item.AmountCents), item.RequestedBy, item.Reason))
		d.approvalEmail(item, "approved", by.Actor, "")
		return nil
	})
}

// decideItem writes a decision on an item awaiting approval to its row,
// before the state changes.
func (d *flow) decideItem(ctx workflow.Context, p deposit.Pending, decision, by string) error {
	return workflow.ExecuteLocalActivity(localCtx(ctx), a.DecideApproval, activities.DecideApprovalInput{
		LeaseID: d.in.LeaseID, Kind: p.Kind, ID: p.ID, Decision: decision, By: by,
	}).Get(ctx, nil)
}

func (d *flow) validateDecline(req ApprovalRequest) error {
	if !d.bookOfRecord {
		p, err := d.pending(req)
		if err != nil {
			return err
		}
		if req.Role != deposit.RoleBooksAdmin && req.Actor.Actor != p.RequestedBy {
			return fmt.Errorf("only a books_admin, or %s who asked, may decline this keep", p.RequestedBy)
		}
		return nil
	}
	if err := d.checkActor(req.Actor, deposit.Roles...); err != nil {
		return err
	}
	p, err := d.pendingItem(req)
	if err != nil {
		return err
	}
	if !req.has(deposit.RoleBooksAdmin) && req.Actor.Actor != p.RequestedBy {
		return fmt.Errorf("only a books_admin, or %s who asked, may decline %s", p.RequestedBy, p.Item)
	}
	return nil
}

func (d *flow) decline(ctx workflow.Context, req ApprovalRequest) (deposit.State, error) {
	if !d.bookOfRecord {
		k := *d.state.PendingKeep
		d.state.PendingKeep = nil
		d.record(ctx, UpdateDecline, req.Actor, fmt.Sprintf("keep of %s requested by %s; %s", d.money(k.AmountCents), k.RequestedBy, req.Reason))
		return d.state, nil
	}
	validate := func(by Actor) error { r := req; r.Actor = by; return d.validateDecline(r) }
	return d.decide(ctx, UpdateDecline, req.Actor, approvalContent{Item: req.Item, Reason: req.Reason}, validate, func(by Actor) error {
		p, err := d.pendingItem(req)
		if err != nil {
			return err
		}
		item := *p
		if err := d.decideItem(ctx, item, activities.DecisionDeclined, by.Actor); err != nil {
			return err
		}
		d.state.RemovePending(item.Item)
		switch item.Kind {
		case deposit.PendingCharge:
			d.dup("c", item.ID)
		case deposit.PendingDeposit:
			d.dup("d", item.ID)
		}
		d.facts++
		d.record(ctx, UpdateDecline, by, fmt.Sprintf("%s (%s %s requested by %s: %s); %s", item.Item, item.Kind, d.money(item.AmountCents), item.RequestedBy, item.Reason, req.Reason))
		d.approvalEmail(item, "declined", by.Actor, req.Reason)
		return nil
	})
}

func (d *flow) validateRelease(req ReleaseRequest) error {
	if err := d.checkActor(req.Actor, deposit.RoleManager); err != nil {
		return err
	}
	if err := d.decidable("release the deposit"); err != nil {
		return err
	}
	if p := d.state.PendingKeep; p != nil {
		return fmt.Errorf("a keep of %s awaits approval: approve or decline it before releasing", d.money(p.AmountCents))
	}
	if d.state.AwaitsApproval() {
		items := make([]string, 0, len(d.state.Pending))
		for _, p := range d.state.Pending {
			items = append(items, p.Item)
		}
		return fmt.Errorf("%s awaits approval: approve or decline it before releasing", strings.Join(items, ", "))
	}
	return nil
}

func (d *flow) release(ctx workflow.Context, req ReleaseRequest) (deposit.State, error) {
	apply := func(by Actor) error {
		d.releaseNow = true
		d.record(ctx, UpdateRelease, by, "released now")
		return nil
	}
	if d.bookOfRecord {
		return d.decide(ctx, UpdateRelease, req.Actor, struct{}{},
			func(by Actor) error { r := req; r.Actor = by; return d.validateRelease(r) }, apply)
	}
	return d.state, apply(req.Actor)
}

func (d *flow) validateHold(req HoldRequest) error {
	if err := d.checkActor(req.Actor, deposit.RoleManager); err != nil {
		return err
	}
	switch {
	case d.settled:
		return fmt.Errorf("lease %s is closed (%s): there is nothing left to hold", d.in.LeaseID, d.state.Outcome)
	case d.state.Stage == deposit.StageBooksDisagree:
		return fmt.Errorf("the books of lease %s disagree and it is settling: there is nothing left to hold", d.in.LeaseID)
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
	apply := func(by Actor) error {
		d.state.OnHold = !req.Off
		detail := "on hold: never released automatically"
		if by := d.settleBy(); !by.IsZero() {
			detail = fmt.Sprintf("on hold until the refund deadline: the engine releases it by %s under %s", d.dayText(by), d.state.Rule.Label())
		}
		if req.Off {
			detail = "hold lifted: released automatically on the release date"
		}
		d.record(ctx, UpdateHold, by, detail)
		return nil
	}
	if d.bookOfRecord {
		return d.decide(ctx, UpdateHold, req.Actor, holdContent{Off: req.Off},
			func(by Actor) error { r := req; r.Actor = by; return d.validateHold(r) },
			func(by Actor) error {
				if err := apply(by); err != nil {
					return err
				}
				return d.mirror(ctx, false)
			})
	}
	return d.state, apply(req.Actor)
}

func (d *flow) validateRecheck(req RecheckRequest) error {
	if !d.bookOfRecord {
		return errors.New("this lease started before its books were checked: there is nothing to recheck")
	}
	if err := d.checkActor(req.Actor, deposit.RoleAdmin); err != nil {
		return err
	}
	switch {
	case d.state.Stage != deposit.StageBooksDisagree:
		return fmt.Errorf("the books of lease %s do not disagree (stage %s): there is nothing to recheck", d.in.LeaseID, d.state.Stage)
	case d.recheck != nil:
		return errors.New("a recheck is already under way")
	}
	return nil
}

// recheckBooks asks the main flow to settle again, after rebuilding its
// view from the database if asked.
func (d *flow) recheckBooks(ctx workflow.Context, req RecheckRequest) (deposit.State, error) {
	return d.decide(ctx, UpdateRecheckBooks, req.Actor, recheckContent{Rebuild: req.Rebuild},
		func(by Actor) error { r := req; r.Actor = by; return d.validateRecheck(r) },
		func(by Actor) error {
			d.recheck = &recheckBooks{rebuild: req.Rebuild}
			detail := "settle again from the database as it is now"
			if req.Rebuild {
				detail = "rebuild the workflow's view from every fact in the database, then settle again"
			}
			d.record(ctx, UpdateRecheckBooks, by, detail+" (the books disagreed: "+d.state.BooksDisagree+")")
			return nil
		})
}
