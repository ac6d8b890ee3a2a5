package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/tenantlink"
	"github.com/depositflow/depositflow/templates"
)

// A manager's one-click links (issue #16): the alert at the move-out and
// each reminder before an automatic release carry, for each of the
// property's managers, "Release now", "Extend a week" and "Open this
// security deposit" (internal/tenantlink, manager.go). Each opens a page
// that shows what will happen; only the confirmation form's POST acts, as
// the person the link was sent to, through Decide: the same roles, scope,
// approval rules and audit as their CLI. A release or extend link acts
// once (manager_link_uses): a second POST changes nothing and says so. The
// "open" link only reads, and may be opened again until it expires.
//
// A link is refused, and the refusal audited, when it is not a valid link
// (tampered, expired, a tenant's), when its person was revoked, no longer
// holds the manager role or the lease's property, or when the lease moved
// on (settled, closed).

// ExtendDays is how far "Extend a week" moves the release date.
const ExtendDays = 7

// ManagerLinkView is what a manager's link opens.
type ManagerLinkView struct {
	Action   string         `json:"action"` // release, extend, open
	User     string         `json:"user"`
	Data     templates.Data `json:"data"`
	Stage    string         `json:"stage"`
	Expires  time.Time      `json:"expires"`
	UsedAt   *time.Time     `json:"used_at,omitempty"` // a release or extend link used before
	UsedWhat string         `json:"used_what,omitempty"`
	// Pending lists what awaits a books_admin's approval (a release waits
	// for it, as from the CLI).
	Pending int `json:"pending"`
}

// ManagerLinkOutcome is what a confirmed link did.
type ManagerLinkOutcome struct {
	View  ManagerLinkView `json:"view"`
	State deposit.State   `json:"state"`
}

// linkNotValid is every refusal of a link that is not a manager's valid
// link: tampered, expired, of another kind.
func linkNotValid() *Error {
	return fail(NotFound, "link_not_valid", "", "this link is not valid: it may have expired or been changed. Open the newest email about this deposit, or use the deposits CLI")
}

// ManagerLink checks a manager's link and reads what it opens, acting as
// nobody yet. Opening an "open" link is audited; so is every refusal.
func (g *Gateway) ManagerLink(ctx context.Context, token, origin string) (ManagerLinkView, error) {
	who, c, v, err := g.managerLink(ctx, token, origin)
	if err == nil && c.Action == tenantlink.ManagerOpen {
		g.audit(ctx, who, c.LeaseID, "manager.link.open", map[string]string{"action": c.Action}, nil)
	}
	return v, err
}

// managerLink checks a link: the token, the person as they are now, their
// role and scope, the lease's stage; and whether an acting link was used.
func (g *Gateway) managerLink(ctx context.Context, token, origin string) (Principal, tenantlink.ManagerClaims, ManagerLinkView, error) {
	var v ManagerLinkView
	anon := Principal{Kind: "anonymous", Origin: origin}
	c, why, err := g.Links.InspectManager(token)
	if err != nil {
		if linkRefusals.Allow() {
			g.audit(ctx, anon, "", "manager.link", map[string]string{"why": why}, linkNotValid())
		} else {
			g.log("manager link refused (not audited: too many)", errors.New(why), "origin", origin)
		}
		return anon, c, v, linkNotValid()
	}
	req := map[string]string{"action": c.Action, "user": c.User}
	q, err := g.queries(ctx)
	if err != nil {
		return anon, c, v, err
	}
	u, err := q.GetUserByName(ctx, c.User)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return anon, c, v, unavailable("the database", err)
	}
	if err != nil || u.UserID != c.UserID || u.RevokedAt != nil {
		refusal := fail(Forbidden, "link_revoked", "", "this link was sent to %s, who may no longer act on this deposit (their access was revoked)", c.User)
		g.audit(ctx, Principal{Kind: KindUser, Name: c.User, Origin: origin}, c.LeaseID, "manager.link", req, refusal)
		return anon, c, v, refusal
	}
	// The audit log says it came through a link from the email.
	who := Principal{Kind: KindUser, Name: u.Name, Roles: u.Roles, Properties: u.Properties, Origin: origin + " (email link)"}
	kind := Release
	if c.Action == tenantlink.ManagerExtend {
		kind = Extend
	} else if c.Action == tenantlink.ManagerOpen {
		kind = "read"
	}
	_, l, err := g.lease(ctx, who, c.LeaseID)
	if err == nil {
		err = who.may(kind)
	}
	if err != nil {
		if IsKind(err, Unavailable) {
			return who, c, v, err
		}
		refusal := fail(Forbidden, "link_revoked", "", "this link was sent to %s, who no longer manages this deposit's property: nothing was done", c.User)
		g.audit(ctx, who, c.LeaseID, "manager.link", req, refusal)
		return who, c, v, refusal
	}
	b, err := activities.ReadBooks(ctx, q, c.LeaseID)
	if err != nil {
		return who, c, v, unavailable("the database", err)
	}
	v = ManagerLinkView{Action: c.Action, User: u.Name, Data: b.Data(templates.KindReminder), Stage: l.Lease.Stage, Expires: c.Expires}
	v.Data.RecipientName = u.Name
	v.Pending = len(b.State().Pending)
	if c.Action != tenantlink.ManagerOpen {
		use, err := q.GetManagerLinkUse(ctx, tenantlink.TokenHash(token))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return who, c, v, unavailable("the database", err)
		default:
			at := use.UsedAt
			v.UsedAt, v.UsedWhat = &at, use.Result
		}
		if v.UsedAt == nil && (b.Settled != nil || l.Lease.Stage == deposit.StageClosed || l.Lease.Stage == deposit.StageDisputed) {
			refusal := fail(Conflict, "lease_moved_on", "", "the deposit of lease %s was already settled (%s): this link can no longer change it", c.LeaseID, l.Lease.Stage)
			g.audit(ctx, who, c.LeaseID, "manager.link", req, refusal)
			return who, c, v, refusal
		}
	}
	return who, c, v, nil
}

// ManagerLinkAct does what a release or extend link says, once, as the
// person it was sent to, after they confirmed it. The decision goes through
// Decide (roles, scope, the workflow's rules, the audit log) under an
// idempotency key made from the link, so a link used twice at once still
// acts once.
func (g *Gateway) ManagerLinkAct(ctx context.Context, token, origin string) (ManagerLinkOutcome, error) {
	var out ManagerLinkOutcome
	who, c, v, err := g.managerLink(ctx, token, origin)
	out.View = v
	if err != nil {
		return out, err
	}
	req := map[string]string{"action": c.Action, "user": c.User}
	if c.Action == tenantlink.ManagerOpen {
		refusal := fail(Invalid, "read_only", "", "this link only opens the deposit: it changes nothing")
		g.audit(ctx, who, c.LeaseID, "manager.link", req, refusal)
		return out, refusal
	}
	used := func(when time.Time, what string) *Error {
		msg := "this link was already used on " + when.UTC().Format("2 Jan 2006 15:04 UTC") + ": nothing more was done"
		if what != "" {
			msg += " (it " + what + ")"
		}
		return fail(Conflict, "link_used", "", "%s", msg)
	}
	if v.UsedAt != nil {
		refusal := used(*v.UsedAt, v.UsedWhat)
		g.audit(ctx, who, c.LeaseID, "manager.link", req, refusal)
		return out, refusal
	}
	if c.Action == tenantlink.ManagerRelease && v.Pending > 0 {
		// The lease's workflow refuses a release while items await
		// approval: say so, and leave the link for after they are decided.
		refusal := fail(Conflict, "awaiting_approval", "", "%d item(s) of lease %s await a books_admin's approval: the deposit is released once they are decided (deposits approvals list). This link still works until then", v.Pending, c.LeaseID)
		g.audit(ctx, who, c.LeaseID, "manager.link", req, refusal)
		return out, refusal
	}
	hash := tenantlink.TokenHash(token)
	q, err := g.queries(ctx)
	if err != nil {
		return out, err
	}
	_, err = q.UseManagerLink(ctx, db.UseManagerLinkParams{TokenHash: hash, LeaseID: c.LeaseID, UserName: c.User, Action: c.Action})
	if errors.Is(err, pgx.ErrNoRows) {
		// Used a moment ago, by another request.
		refusal := used(g.now(), "")
		g.audit(ctx, who, c.LeaseID, "manager.link", req, refusal)
		return out, refusal
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	d := Decision{Kind: Release}
	if c.Action == tenantlink.ManagerExtend {
		d = Decision{Kind: Extend, Days: ExtendDays}
	}
	who.RequestKey = "link-" + hex.EncodeToString(hash[:16])
	s, err := g.Decide(ctx, who, c.LeaseID, d)
	result := "released it"
	if d.Kind == Extend {
		result = "extended the release date by a week"
	}
	switch {
	case IsKind(err, Unavailable):
		// Nothing reached the lease for sure: the link may be tried again
		// (the same idempotency key makes a late one the same decision).
		if ferr := q.ForgetManagerLinkUse(context.WithoutCancel(ctx), hash); ferr != nil {
			g.log("manager link use not forgotten", ferr, "lease_id", c.LeaseID)
		}
		return out, err
	case err != nil:
		result = "was refused: " + err.Error()
	}
	if ferr := q.FinishManagerLinkUse(context.WithoutCancel(ctx), db.FinishManagerLinkUseParams{TokenHash: hash, Result: result}); ferr != nil {
		g.log("manager link use not finished", ferr, "lease_id", c.LeaseID)
	}
	out.State = s
	return out, err
}
