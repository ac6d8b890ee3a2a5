package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
)

// Decisions are checked against the database. The server authenticates a
// person, checks their roles and properties, and writes an audit row of the
// request (accepted NULL: under way) before it sends the Update, which
// carries only that row's ID. The workflow claims the row: it is the proof
// of who asked, with which roles, for what. Nothing a caller puts in the
// Update's payload about who they are is believed.

// ErrForgedRequest is the ApplicationError type of a decision whose audit
// row does not prove it: no such row for this lease and action, a row
// already decided, or a content other than the one recorded.
const ErrForgedRequest = "ForgedRequest"

// ClaimInput names the audit row of a decision and what the Update asks:
// its business content, as the server recorded it (extend {"days":7}; keep
// {"amount_cents":30000,"all":false,"reason":"..."}; release {}; hold
// {"off":false}; approve and decline {"item":"keep:12","reason":"..."};
// recheck_books {"rebuild":false}).
type ClaimInput struct {
	LeaseID   string
	RequestID int64
	Action    string
	Content   json.RawMessage
}

// Claim is who asked, from the audit row.
type Claim struct {
	RequestID int64
	Actor     string
	Roles     []string
	Principal string
}

// ClaimDecision claims the audit row of a decision for the lease's
// workflow, once: the row must be this lease's, for this action, not yet
// decided, and record the same content as the Update. A retry of the same
// claim (the row claimed, still under way) answers the same.
func (a *Activities) ClaimDecision(ctx context.Context, in ClaimInput) (Claim, error) {
	var out Claim
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		row, err := q.ClaimDecisionRequest(ctx, db.ClaimDecisionRequestParams{AuditID: in.RequestID, LeaseID: in.LeaseID, Action: in.Action})
		if errors.Is(err, pgx.ErrNoRows) {
			return a.unclaimable(ctx, q, in)
		}
		if err != nil {
			return err
		}
		same, err := SameContent(row.Request, in.Content)
		if err != nil {
			return forged("request %d of lease %s for %s: %v", in.RequestID, in.LeaseID, in.Action, err)
		}
		if !same {
			// Returning an error rolls the claim back: the row stays unclaimed.
			return forged("request %d of lease %s for %s is not what was recorded: the audit log has %s, the update asks %s",
				in.RequestID, in.LeaseID, in.Action, compact(row.Request), compact(in.Content))
		}
		out = Claim{RequestID: row.AuditID, Actor: row.Actor, Roles: deposit.ParseRoles(row.Role), Principal: row.Principal}
		return nil
	})
	return out, err
}

// unclaimable says why a row could not be claimed.
func (a *Activities) unclaimable(ctx context.Context, q *db.Queries, in ClaimInput) error {
	row, err := q.GetAudit(ctx, in.RequestID)
	if err == nil && row.LeaseID == in.LeaseID && row.Action == in.Action && row.Accepted.Valid {
		return forged("request %d of lease %s for %s was already decided", in.RequestID, in.LeaseID, in.Action)
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return forged("request %d is not a recorded request of lease %s for %s", in.RequestID, in.LeaseID, in.Action)
}

func forged(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrForgedRequest, nil)
}

// SameContent compares two JSON objects as values: key order and spacing
// do not matter (jsonb reorders keys), nor does a field left out rather
// than given its zero value ("all": false, "reason": ""). Numbers are
// compared exactly.
func SameContent(recorded, asked []byte) (bool, error) {
	r, err := contentMap(recorded)
	if err != nil {
		return false, fmt.Errorf("the recorded request is not a JSON object: %w", err)
	}
	q, err := contentMap(asked)
	if err != nil {
		return false, fmt.Errorf("the update's content is not a JSON object: %w", err)
	}
	return reflect.DeepEqual(r, q), nil
}

func contentMap(b []byte) (map[string]any, error) {
	m := map[string]any{}
	if len(bytes.TrimSpace(b)) == 0 {
		return m, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case bool:
			if !v {
				delete(m, k)
			}
		case string:
			if v == "" {
				delete(m, k)
			}
		case json.Number:
			if v == "0" {
				delete(m, k)
			}
		}
	}
	return m, nil
}

func compact(b []byte) string {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return string(b)
	}
	return out.String()
}

// ApprovalPolicyInput names the lease and its property.
type ApprovalPolicyInput struct {
	LeaseID    string
	PropertyID string
}

// ApprovalPolicy is the property's approval threshold (0: none) and the
// lease's total of money people moved after the move-out (DiscretionaryCents
// in queries/approvals.sql): the threshold applies to that total, so a keep
// cannot slip under it by being split.
type ApprovalPolicy struct {
	ThresholdCents     int64
	DiscretionaryCents int64
}

// ReadApprovalPolicy reads the threshold and the lease's discretionary total.
func (a *Activities) ReadApprovalPolicy(ctx context.Context, in ApprovalPolicyInput) (ApprovalPolicy, error) {
	q := a.q()
	p, err := q.GetProperty(ctx, in.PropertyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ApprovalPolicy{}, badData("property %s is not in the database", in.PropertyID)
	}
	if err != nil {
		return ApprovalPolicy{}, err
	}
	total, err := q.DiscretionaryCents(ctx, in.LeaseID)
	if err != nil {
		return ApprovalPolicy{}, leaseErr(in.LeaseID, err)
	}
	return ApprovalPolicy{ThresholdCents: p.ApprovalThresholdCents.Int64, DiscretionaryCents: total}, nil
}

// RecordKeepInput is a keep as the workflow applies it (status applied) or
// holds it for approval (pending). Key is made from the lease and the
// request, so a retry, or the same request after a continue-as-new, finds the row.
type RecordKeepInput struct {
	LeaseID     string
	RequestID   int64
	AmountCents int64
	Reason      string
	RequestedBy string
	Status      string // applied or pending
	Key         string
}

// RecordKeep writes the keep once and returns its row. It holds the lease's
// row locked while it writes, and a keep the workflow would apply is written
// pending instead when the lease's total has passed the threshold since the
// workflow read it (a charge a person added meanwhile): the row says which.
func (a *Activities) RecordKeep(ctx context.Context, in RecordKeepInput) (KeepRow, error) {
	if in.Status != "applied" && in.Status != "pending" {
		return KeepRow{}, badData("a keep is recorded applied or pending, not %q", in.Status)
	}
	var k db.Keep
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		threshold, err := q.LockLeaseThreshold(ctx, in.LeaseID)
		if err != nil {
			return err
		}
		if in.Status == "applied" && threshold.Valid {
			moved, err := q.DiscretionaryCents(ctx, in.LeaseID)
			if err != nil {
				return err
			}
			if moved+in.AmountCents > threshold.Int64 {
				in.Status = "pending"
			}
		}
		k, err = q.InsertKeepOnce(ctx, db.InsertKeepOnceParams{
			LeaseID: in.LeaseID, AmountInCents: in.AmountCents, Reason: in.Reason, RequestedBy: in.RequestedBy,
			RequestID: pgtype.Int8{Int64: in.RequestID, Valid: in.RequestID > 0}, Status: in.Status, IdempotencyKey: in.Key,
		})
		return err
	})
	if err != nil {
		return KeepRow{}, leaseErr(in.LeaseID, err)
	}
	if k.LeaseID != in.LeaseID {
		return KeepRow{}, badData("keep key %s belongs to lease %s", in.Key, k.LeaseID)
	}
	return keepRow(k), nil
}

// Decisions on an item awaiting approval.
const (
	DecisionApproved = "approved"
	DecisionDeclined = "declined"
	DecisionLapsed   = "lapsed" // the statute released the deposit before anyone decided
)

// DecideApprovalInput is a decision on a pending item of the lease: a keep,
// a charge or a deposit row (deposit.PendingKeep, PendingCharge, PendingDeposit).
type DecideApprovalInput struct {
	LeaseID  string
	Kind     string
	ID       int64
	Decision string // approved, declined or lapsed
	By       string
}

// DecideApproval writes the decision on the item's row before the workflow
// changes its state: a keep becomes applied, declined or lapsed; a charge
// or deposit row approved or declined (a lapsed one is declined). The same
// decision again is a no-op; an item no longer pending is refused.
func (a *Activities) DecideApproval(ctx context.Context, in DecideApprovalInput) error {
	q := a.q()
	var err error
	switch in.Kind {
	case deposit.PendingKeep:
		status := map[string]string{DecisionApproved: "applied", DecisionDeclined: "declined", DecisionLapsed: "lapsed"}[in.Decision]
		if status == "" {
			return badData("unknown decision %q", in.Decision)
		}
		_, err = q.DecideKeep(ctx, db.DecideKeepParams{KeepID: in.ID, LeaseID: in.LeaseID, Status: status, DecidedBy: in.By})
	case deposit.PendingCharge, deposit.PendingDeposit:
		approval := map[string]string{DecisionApproved: deposit.ApprovalApproved, DecisionDeclined: deposit.ApprovalDeclined, DecisionLapsed: deposit.ApprovalDeclined}[in.Decision]
		if approval == "" {
			return badData("unknown decision %q", in.Decision)
		}
		if in.Kind == deposit.PendingCharge {
			_, err = q.DecideCharge(ctx, db.DecideChargeParams{ChargeID: in.ID, LeaseID: in.LeaseID, Approval: approval, DecidedBy: in.By})
		} else {
			_, err = q.DecideDeposit(ctx, db.DecideDepositParams{DepositID: in.ID, LeaseID: in.LeaseID, Approval: approval, DecidedBy: in.By})
		}
	default:
		return badData("unknown kind of item %q", in.Kind)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return badData("%s:%d of lease %s is not pending approval in the database", in.Kind, in.ID, in.LeaseID)
	}
	return err
}
