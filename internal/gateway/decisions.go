package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/workflows"
)

// Decisions are Temporal Updates with validators: the workflow refuses a
// wrong request before anything is written to its history, and the refusal
// comes back here. Each decision is audited first, under way, and the
// Update carries the audit row's ID: the workflow reads that row (who asked,
// with which roles, for what) from the database and acts only on what it
// says, so an Update sent straight to Temporal with an invented name moves
// nothing. The row then records the outcome.

// Decision kinds, as the workflow names its Updates.
const (
	Extend       = workflows.UpdateExtend
	Keep         = workflows.UpdateKeep
	Release      = workflows.UpdateRelease
	Hold         = workflows.UpdateHold
	Approve      = workflows.UpdateApprove
	Decline      = workflows.UpdateDecline
	RecheckBooks = workflows.UpdateRecheckBooks
)

// Decision is what a person decides about a lease's deposit.
type Decision struct {
	Kind        string `json:"kind"`
	Days        int    `json:"days,omitempty"`         // extend
	AmountCents int64  `json:"amount_cents,omitempty"` // keep
	Currency    string `json:"currency,omitempty"`     // keep: empty or the lease's
	All         bool   `json:"all,omitempty"`          // keep everything still held
	Reason      string `json:"reason,omitempty"`       // keep (the tenant reads it), decline
	Off         bool   `json:"off,omitempty"`          // hold: lift the hold
	Item        string `json:"item,omitempty"`         // approve, decline: "keep:12"; empty: the only one pending
	Rebuild     bool   `json:"rebuild,omitempty"`      // recheck_books: rebuild the workflow's view from the database first
	// Message is the manager's own words to the tenant (keep, release,
	// decline), shown above the statement in the tenant's next email.
	// Stored with the decision's audit row (decision_messages), not in the
	// request the workflow compares.
	Message string `json:"message,omitempty"`
}

// MaxTenantMessage bounds a manager's message to the tenant, in characters.
const MaxTenantMessage = 2000

// CheckMessage cleans a manager's message to the tenant: line ends made
// \n, spaces trimmed at both ends; it refuses one longer than
// MaxTenantMessage characters or with control characters (other than new
// lines and tabs) or text that is not UTF-8.
func CheckMessage(msg string) (string, error) {
	msg = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\r", "\n"))
	if !utf8.ValidString(msg) {
		return "", fail(Invalid, "invalid", "message", "the message is not UTF-8 text")
	}
	if n := utf8.RuneCountInString(msg); n > MaxTenantMessage {
		return "", fail(Invalid, "too_long", "message", "the message has %d characters: at most %d", n, MaxTenantMessage)
	}
	for _, r := range msg {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) && r != '\u200d') {
			return "", fail(Invalid, "invalid", "message", "the message holds a control character (%U): write plain text", r)
		}
	}
	return msg, nil
}

// content is what the decision asks, as its audit row records it and the
// workflow compares it: the business fields of the Update, without who asks.
func (d Decision) content() (map[string]any, error) {
	d.Reason = strings.TrimSpace(d.Reason)
	if len(d.Reason) > MaxReason {
		return nil, fail(Invalid, "too_long", "reason", "the reason is longer than %d characters", MaxReason)
	}
	switch d.Kind {
	case Extend:
		if d.Days < 1 || d.Days > int(deposit.MaxDelay.Hours()/24) {
			return nil, fail(Invalid, "invalid", "days", "extend by 1 to %d days (asked: %d)", int(deposit.MaxDelay.Hours()/24), d.Days)
		}
		return map[string]any{"days": d.Days}, nil
	case Keep:
		switch {
		case d.All && d.AmountCents != 0:
			return nil, fail(Invalid, "invalid", "amount_in_cents", "give either an amount or all, not both")
		case !d.All:
			if err := CheckCents("amount_in_cents", d.AmountCents); err != nil {
				return nil, err
			}
		}
		if d.Reason == "" {
			return nil, fail(Invalid, "missing_field", "reason", "give a reason: the tenant reads it as the explanation")
		}
		return map[string]any{"amount_cents": d.AmountCents, "all": d.All, "reason": d.Reason}, nil
	case Release:
		return map[string]any{}, nil
	case Hold:
		return map[string]any{"off": d.Off}, nil
	case Approve, Decline:
		if d.Item != "" && !itemPattern(d.Item) {
			return nil, fail(Invalid, "invalid", "item", "item %q: write it as kind:id, e.g. keep:12 (see deposits status)", d.Item)
		}
		return map[string]any{"item": d.Item, "reason": d.Reason}, nil
	case RecheckBooks:
		return map[string]any{"rebuild": d.Rebuild}, nil
	}
	return nil, fail(Invalid, "invalid", "kind", "no decision %q", d.Kind)
}

func itemPattern(item string) bool {
	kind, id, ok := strings.Cut(item, ":")
	return ok && (kind == "keep" || kind == "charge" || kind == "deposit") && id != "" && strings.Trim(id, "0123456789") == ""
}

// update is the Update's argument: the content and who asks, with the proof.
func (d Decision) update(by workflows.Actor) any {
	switch d.Kind {
	case Extend:
		return workflows.ExtendRequest{Actor: by, Days: d.Days}
	case Keep:
		return workflows.KeepRequest{Actor: by, AmountCents: d.AmountCents, All: d.All, Reason: strings.TrimSpace(d.Reason)}
	case Release:
		return workflows.ReleaseRequest{Actor: by}
	case Hold:
		return workflows.HoldRequest{Actor: by, Off: d.Off}
	case Approve, Decline:
		return workflows.ApprovalRequest{Actor: by, Item: d.Item, Reason: strings.TrimSpace(d.Reason)}
	}
	return workflows.RecheckRequest{Actor: by, Rebuild: d.Rebuild}
}

// Decide sends a decision to the lease's workflow and returns the state it
// leaves. A refusal (by the roles, the lease's scope or the workflow's
// validator) changes nothing and is audited with its reason. The same
// decision sent again under the caller's idempotency key is the same
// decision: it is not applied twice.
func (g *Gateway) Decide(ctx context.Context, who Principal, leaseID string, d Decision) (deposit.State, error) {
	var s deposit.State
	content, err := d.content()
	if err == nil && d.Message != "" {
		if d.Kind != Keep && d.Kind != Release && d.Kind != Decline {
			err = fail(Invalid, "invalid", "message", "a message to the tenant goes with keep, release or decline, not %s", d.Kind)
		} else {
			d.Message, err = CheckMessage(d.Message)
		}
	}
	if err == nil {
		err = who.may(d.Kind)
	}
	var q *db.Queries
	var l db.GetLeaseRow
	if err == nil {
		q, l, err = g.lease(ctx, who, leaseID)
	}
	if err == nil {
		err = checkCurrency(l, d.Currency)
	}
	if err == nil && (l.Lease.Stage == deposit.StageClosed) {
		err = fail(Conflict, "lease_closed", "lease_id", "lease %s is closed (%s): no decision can change it now", leaseID, l.Lease.Outcome)
	}
	if err != nil {
		g.audit(ctx, who, leaseID, d.Kind, d, err)
		return s, err
	}
	row, repeat, err := g.decisionRow(ctx, q, who, leaseID, d.Kind, content)
	if err != nil {
		if !IsKind(err, Unavailable) {
			g.audit(ctx, who, leaseID, d.Kind, d, err) // a key reused, or an earlier refusal sent again
		}
		return s, err
	}
	if d.Message != "" && !repeat {
		// Before the Update: the tenant's email, sent once the workflow
		// took the decision, reads it.
		if err := q.InsertDecisionMessage(ctx, db.InsertDecisionMessageParams{AuditID: row.AuditID, LeaseID: leaseID, Message: d.Message}); err != nil {
			g.finish(ctx, q, row.AuditID, false, "the message could not be stored")
			return s, unavailable("the database", err)
		}
	}
	if repeat {
		s, err := g.state(ctx, leaseID)
		if s.Currency == "" {
			s.Currency = l.Lease.Currency
		}
		return s, err
	}
	by := workflows.Actor{Actor: who.Name, Role: legacyRole(d.Kind, who), Roles: who.Roles, RequestID: row.AuditID}
	s, err = g.update(ctx, leaseID, d.Kind, fmt.Sprintf("request-%d", row.AuditID), d.update(by))
	if s.Currency == "" {
		s.Currency = l.Lease.Currency
	}
	switch {
	case err == nil:
		g.finish(ctx, q, row.AuditID, true, "ok")
	case IsKind(err, Unavailable):
		// The Update may yet run: the row stays under way, and the same
		// request sent again (same idempotency key) finishes it.
		g.log("decision not answered", err, "lease_id", leaseID, "request_id", row.AuditID)
	default:
		g.finish(ctx, q, row.AuditID, false, err.Error())
	}
	return s, err
}

// legacyRole is the one role a lease started before decisions were checked
// against the database reads (Actor.Role): the role that allows this
// decision, among the person's.
func legacyRole(kind string, who Principal) string {
	for _, r := range permissions[kind].roles {
		if who.Has(r) {
			return r
		}
	}
	return strings.Join(who.Roles, ",")
}

// decisionRow audits a decision as under way, or finds the one the caller
// sent before under the same idempotency key (repeat: it was accepted and
// the lease's state answers for it).
func (g *Gateway) decisionRow(ctx context.Context, q *db.Queries, who Principal, leaseID, kind string, content map[string]any) (row db.AuditLog, repeat bool, err error) {
	if who.RequestKey == "" {
		row, err = g.auditRow(ctx, who, leaseID, kind, content, pgtype.Bool{}, "under way", "")
		return row, false, err
	}
	for try := 0; ; try++ {
		prev, err := q.GetAuditByRequestKey(ctx, db.GetAuditByRequestKeyParams{Principal: who.ID(), RequestKey: pgtype.Text{String: who.RequestKey, Valid: true}})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return row, false, unavailable("the database", err)
		default:
			return g.sentBefore(ctx, who, leaseID, kind, content, prev)
		}
		row, err = g.auditRow(ctx, who, leaseID, kind, content, pgtype.Bool{}, "under way", who.RequestKey)
		var ge *Error
		if try == 0 && errors.As(err, &ge) && IsUniqueViolation(ge.Cause()) {
			continue // the same key, sent twice at once: the other one wrote the row
		}
		return row, false, err
	}
}

// sentBefore answers a decision whose idempotency key the caller used
// before: the same request is the same decision (under way: send it again,
// Temporal runs it once; accepted: repeat; refused: the same refusal), and
// another request under the key is refused.
func (g *Gateway) sentBefore(ctx context.Context, who Principal, leaseID, kind string, content map[string]any, prev db.AuditLog) (db.AuditLog, bool, error) {
	var was, is map[string]any
	_ = json.Unmarshal(prev.Request, &was)
	now, _ := json.Marshal(content)
	_ = json.Unmarshal(now, &is)
	if prev.LeaseID != leaseID || prev.Action != kind || !reflect.DeepEqual(was, is) {
		return db.AuditLog{}, false, fail(Conflict, "idempotency_key_reused", "Idempotency-Key",
			"the idempotency key %s was used for another request (%s of lease %s)", who.RequestKey, prev.Action, prev.LeaseID)
	}
	switch {
	case !prev.Accepted.Valid:
		return prev, false, nil
	case !prev.Accepted.Bool:
		return prev, false, fail(Conflict, "refused", "", "%s", prev.Result)
	}
	g.audit(ctx, who, leaseID, kind, content, nil)
	return prev, true, nil
}

func (g *Gateway) finish(ctx context.Context, q *db.Queries, auditID int64, accepted bool, result string) {
	if err := q.FinishAudit(context.WithoutCancel(ctx), db.FinishAuditParams{AuditID: auditID, Accepted: pgtype.Bool{Bool: accepted, Valid: true}, Result: result}); err != nil {
		g.log("audit row not finished", err, "audit_id", auditID)
	}
}

// update sends an Update and waits for its outcome. A validator's or
// handler's refusal comes back as the workflow's own words.
func (g *Gateway) update(ctx context.Context, leaseID, name, updateID string, arg any) (deposit.State, error) {
	var s deposit.State
	c, err := g.temporal(ctx)
	if err != nil {
		return s, err
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(leaseID),
		UpdateID:     updateID,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		// A validator's refusal surfaces here, not from UpdateWorkflow.
		err = h.Get(ctx, &s)
	}
	var appErr *temporal.ApplicationError
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return s, nil
	case errors.As(err, &appErr):
		return s, fail(Conflict, "refused", "", "%s", appErr.Message())
	case errors.As(err, &nf):
		return s, fail(Conflict, "lease_closed", "lease_id", "lease %s has no running deposit workflow (it may have just closed)", leaseID)
	default:
		return s, unavailable("Temporal", err)
	}
}
