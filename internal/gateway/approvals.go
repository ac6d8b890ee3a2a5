package gateway

import (
	"context"
	"errors"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
)

// Batch approvals (issue #16, after Propra's "Approve Deposit Batch"): a
// books_admin lists what waits for approval across the properties of their
// scope and approves or declines several items at once. Each item is still
// its own decision (Decide: the roles, the scope, never one's own request,
// the audit log, its own email), so one refused does not stop the others;
// the answer says what became of each.

// Awaiting is an item that waits for a books_admin's approval.
type Awaiting struct {
	LeaseID    string          `json:"lease_id"`
	PropertyID string          `json:"property_id"`
	Currency   string          `json:"currency"`
	TenantName string          `json:"tenant_name"`
	Pending    deposit.Pending `json:"pending"`
}

// Approvals lists what waits for approval on the leases of the caller's
// properties (a books_admin's), oldest request first within each lease.
func (g *Gateway) Approvals(ctx context.Context, who Principal) ([]Awaiting, error) {
	if err := who.may(Approve); err != nil {
		g.audit(ctx, who, "", "approvals.list", map[string]any{}, err)
		return nil, err
	}
	q, err := g.queries(ctx)
	if err != nil {
		return nil, err
	}
	all := who.Covers("*")
	leases, err := q.LeasesAwaitingApproval(ctx, db.LeasesAwaitingApprovalParams{AllProperties: all, Properties: who.Properties})
	if err != nil {
		return nil, unavailable("the database", err)
	}
	out := []Awaiting{}
	for _, l := range leases {
		if !who.Covers(l.PropertyID) {
			continue
		}
		s, err := g.state(ctx, l.LeaseID)
		if err != nil {
			if IsKind(err, NotFound) {
				continue // no workflow yet: reconcile starts it
			}
			return nil, err
		}
		for _, p := range s.Pending {
			out = append(out, Awaiting{LeaseID: l.LeaseID, PropertyID: l.PropertyID, Currency: s.Currency, TenantName: s.TenantName, Pending: p})
		}
	}
	return out, nil
}

// ApprovalBatch is a batch decision: every item waiting on the caller's
// properties (All), or those of some leases (each of a lease's items), or
// named items ("L-100 keep:12" as Items).
type ApprovalBatch struct {
	Approve bool           `json:"approve"`
	All     bool           `json:"all,omitempty"`
	Leases  []string       `json:"leases,omitempty"`
	Items   []ApprovalItem `json:"items,omitempty"`
	Reason  string         `json:"reason,omitempty"`  // decline: why (the audit log and the managers' email)
	Message string         `json:"message,omitempty"` // the manager's message to the tenant, with each decline
}

// ApprovalItem names one item of one lease.
type ApprovalItem struct {
	LeaseID string `json:"lease_id"`
	Item    string `json:"item"`
}

// ApprovalOutcome is what became of one item.
type ApprovalOutcome struct {
	LeaseID string `json:"lease_id"`
	Item    string `json:"item"`
	OK      bool   `json:"ok"`
	Code    string `json:"code,omitempty"`
	Error   string `json:"error,omitempty"`
}

// DecideBatch approves or declines several items, each on its own. The
// batch itself fails only when it cannot start (the caller's role, nothing
// named, the database away); every item's refusal is in its outcome. An
// idempotency key given for the batch makes each item's key (the key, the
// lease and the item), so a batch sent again decides nothing twice.
func (g *Gateway) DecideBatch(ctx context.Context, who Principal, in ApprovalBatch) ([]ApprovalOutcome, error) {
	kind := Decline
	if in.Approve {
		kind = Approve
	}
	fail0 := func(err error) ([]ApprovalOutcome, error) {
		g.audit(ctx, who, "", "approvals."+kind, in, err)
		return nil, err
	}
	if err := who.may(kind); err != nil {
		return fail0(err)
	}
	if !in.All && len(in.Leases) == 0 && len(in.Items) == 0 {
		return fail0(fail(Invalid, "missing_field", "leases", "name the leases (or items) to %s, or all", kind))
	}
	if in.All && (len(in.Leases) > 0 || len(in.Items) > 0) {
		return fail0(fail(Invalid, "invalid", "all", "give all or the leases, not both"))
	}
	if len(in.Leases)+len(in.Items) > 500 {
		return fail0(fail(Invalid, "too_many", "leases", "at most 500 leases or items at once"))
	}
	items := in.Items
	if in.All || len(in.Leases) > 0 {
		waiting, err := g.Approvals(ctx, who)
		if err != nil {
			return nil, err
		}
		named := map[string]bool{}
		for _, l := range in.Leases {
			named[l] = true
		}
		for _, w := range waiting {
			if in.All || named[w.LeaseID] {
				items = append(items, ApprovalItem{LeaseID: w.LeaseID, Item: w.Pending.Item})
				delete(named, w.LeaseID)
			}
		}
		for _, l := range in.Leases {
			if named[l] {
				// Nothing waits there (or it is not the caller's): let
				// Decide say so, and audit it, as for one lease.
				items = append(items, ApprovalItem{LeaseID: l})
				delete(named, l)
			}
		}
	}
	out := make([]ApprovalOutcome, 0, len(items))
	for _, it := range items {
		one := who
		if who.RequestKey != "" {
			one.RequestKey = who.RequestKey + "/" + it.LeaseID + "/" + it.Item
		}
		d := Decision{Kind: kind, Item: it.Item, Reason: in.Reason}
		if !in.Approve {
			d.Message = in.Message
		}
		_, err := g.Decide(ctx, one, it.LeaseID, d)
		o := ApprovalOutcome{LeaseID: it.LeaseID, Item: it.Item, OK: err == nil}
		if err != nil {
			o.Error = err.Error()
			var ge *Error
			if errors.As(err, &ge) {
				o.Code = ge.Code
			}
		}
		out = append(out, o)
	}
	return out, nil
}
