// Package ingest records the facts of a lease that come from outside
// (payments, returned payments, charges, the move-out, a new lease) the one
// way depositflow knows: commit the fact to PostgreSQL first, then signal the
// lease's workflow, which applies each fact once by its database ID. The CLI
// (`deposits payment record`, ...), the HTTP API (`deposits serve`) and the
// importer all call it, so they refuse the same things for the same reasons.
//
// Recording the same fact again (the same payment reference, the same charge
// key, a payment already returned) changes nothing in the database and
// signals the workflow again, so a caller that failed half-way (committed,
// then Temporal was away) finishes the job by trying again; and if nobody
// tries again, the reconcile pass finds the fact and signals it.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/workflows"
)

// Kind says what went wrong, so that the CLI can choose an exit code and the
// API a status code.
type Kind int

// Kinds of failure.
const (
	Invalid      Kind = iota + 1 // the request itself is wrong: nothing changed
	NotFound                     // the lease, payment or listing does not exist: nothing changed
	Conflict                     // it contradicts what is recorded, or the lease is closed: nothing changed
	Unavailable                  // the database or Temporal cannot be reached: nothing changed
	NotSignalled                 // the fact is committed but its workflow was not told yet
)

// Error is a refusal or a failure, with the field it is about when there is one.
type Error struct {
	Kind  Kind
	Code  string // a stable machine-readable code, e.g. "amount_too_large"
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Msg }

func fail(kind Kind, code, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func unavailable(what string, err error) *Error {
	return &Error{Kind: Unavailable, Code: "unavailable", Msg: fmt.Sprintf("cannot reach %s: %v", what, err)}
}

// Service records facts. DB and Temporal are called on first use, so a
// command that is refused early never connects.
type Service struct {
	DB       func(context.Context) (*pgxpool.Pool, error)
	Temporal func(context.Context) (client.Client, error)
	// SignalWait is how long a Temporal hiccup is waited out after the
	// commit before giving up with NotSignalled (20 s when zero).
	SignalWait time.Duration
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidID says whether an ID survives in a workflow ID, a URL and an email Message-ID.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// CheckCents refuses amounts that are not positive or larger than money.MaxCents.
func CheckCents(field string, cents int64) error {
	switch {
	case cents < 0:
		return fail(Invalid, "amount_negative", field, "%s must be positive", field)
	case cents == 0:
		return fail(Invalid, "amount_zero", field, "%s must be more than zero", field)
	case cents > money.MaxCents:
		return fail(Invalid, "amount_too_large", field, "%s is larger than %s", field, money.Format(money.MaxCents))
	}
	return nil
}

// IsUniqueViolation says whether err is PostgreSQL refusing a duplicate key.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (s *Service) pool(ctx context.Context) (*pgxpool.Pool, error) { return s.DB(ctx) }

// CheckOpen says whether the lease's workflow runs, without needing a worker:
// facts can be recorded while workers restart.
func (s *Service) CheckOpen(ctx context.Context, leaseID string) error {
	if !ValidID(leaseID) {
		return fail(Invalid, "invalid_id", "lease_id", "lease %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", leaseID)
	}
	c, err := s.Temporal(ctx)
	if err != nil {
		return err
	}
	desc, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(leaseID), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fail(NotFound, "lease_not_found", "lease_id", "lease %s has no deposit workflow: start it with `deposits lease start %s ...`", leaseID, leaseID)
	}
	if err != nil {
		return unavailable("Temporal", err)
	}
	switch st := desc.GetWorkflowExecutionInfo().GetStatus(); st {
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return nil
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var state deposit.State
		if err := c.GetWorkflow(ctx, workflows.WorkflowID(leaseID), "").Get(ctx, &state); err != nil {
			return unavailable("Temporal", err)
		}
		return fail(Conflict, "lease_closed", "lease_id", "lease %s is closed (%s): nothing can change its deposit now", leaseID, state.Outcome)
	default:
		return fail(Conflict, "lease_closed", "lease_id", "the deposit workflow of lease %s ended as %s: an operator must look at it in the Temporal UI", leaseID, st.String())
	}
}

// openLease checks that the lease's workflow runs and reads the lease with
// its first tenant: the start of every fact about a lease.
func (s *Service) openLease(ctx context.Context, leaseID string) (*db.Queries, db.GetLeaseRow, error) {
	if err := s.CheckOpen(ctx, leaseID); err != nil {
		return nil, db.GetLeaseRow{}, err
	}
	pool, err := s.pool(ctx)
	if err != nil {
		return nil, db.GetLeaseRow{}, err
	}
	q := db.New(pool)
	l, err := q.GetLease(ctx, leaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, l, fail(NotFound, "lease_not_found", "lease_id", "lease %s is not in the database", leaseID)
	}
	if err != nil {
		return nil, l, unavailable("the database", err)
	}
	return q, l, nil
}

// checkNotForfeited refuses a charge against a deposit whose deductions a
// missed statutory deadline forfeited: it could never be withheld.
func (s *Service) checkNotForfeited(ctx context.Context, leaseID string) error {
	c, err := s.Temporal(ctx)
	if err != nil {
		return err
	}
	v, err := c.QueryWorkflow(ctx, workflows.WorkflowID(leaseID), "", workflows.QueryState)
	if err != nil {
		return unavailable("Temporal", err)
	}
	var state deposit.State
	if err := v.Get(&state); err != nil {
		return unavailable("Temporal", err)
	}
	if state.Forfeited {
		return fail(Conflict, "deductions_forfeited", "lease_id", "lease %s can no longer be charged against its deposit: %s", leaseID, state.DeadlineMissed)
	}
	return nil
}

// Signal tells the lease's workflow a fact already committed to the
// database. Temporal being away for a moment is waited out.
func (s *Service) Signal(ctx context.Context, leaseID, name string, arg any) error {
	c, err := s.Temporal(ctx)
	if err != nil {
		return &Error{Kind: NotSignalled, Code: "not_signalled", Msg: err.Error()}
	}
	wait := s.SignalWait
	if wait == 0 {
		wait = 20 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		err = c.SignalWorkflow(ctx, workflows.WorkflowID(leaseID), "", name, arg)
		var nf *serviceerror.NotFound
		switch {
		case err == nil:
			return nil
		case errors.As(err, &nf):
			return fail(Conflict, "lease_closed", "lease_id", "lease %s has no running deposit workflow (it may have just closed); the fact is in the database but the workflow will not apply it", leaseID)
		case time.Now().After(deadline) || ctx.Err() != nil:
			return fail(NotSignalled, "not_signalled", "",
				"recorded in the database, but Temporal did not take the %s signal for lease %s (%v): run the same command again to finish", name, leaseID, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// PaymentIn is a payment toward a lease's deposit.
type PaymentIn struct {
	LeaseID   string
	Cents     int64
	Date      time.Time // the transaction date, 00:00 UTC
	Reference string    // unique per lease: the PMS's payment ID, a cheque number
	// ResidentExternalID, when given, names the paying resident by the PMS's
	// ID; it must be a resident of the lease. Otherwise the lease's first tenant.
	ResidentExternalID string
	Actor              string
	// Strict: a payment recorded again under its reference must match in
	// amount and date (the API); otherwise the amount alone (the CLI).
	Strict bool
}

// PaymentOut is the payment row, and whether it was there before.
type PaymentOut struct {
	Payment db.Payment
	Again   bool
}

// RecordPayment commits a payment, then signals it.
func (s *Service) RecordPayment(ctx context.Context, in PaymentIn) (PaymentOut, error) {
	var out PaymentOut
	if err := CheckCents("amount", in.Cents); err != nil {
		return out, err
	}
	if strings.TrimSpace(in.Reference) == "" {
		return out, fail(Invalid, "missing_field", "reference", "a payment needs its reference")
	}
	q, l, err := s.openLease(ctx, in.LeaseID)
	if err != nil {
		return out, err
	}
	resident := l.Resident.ResidentID
	if in.ResidentExternalID != "" {
		r, err := q.GetLeaseResidentByExternal(ctx, db.GetLeaseResidentByExternalParams{LeaseID: in.LeaseID, ExternalID: pgtype.Text{String: in.ResidentExternalID, Valid: true}})
		if errors.Is(err, pgx.ErrNoRows) {
			return out, fail(Invalid, "unknown_resident", "resident_id", "resident %s is not a tenant of lease %s", in.ResidentExternalID, in.LeaseID)
		}
		if err != nil {
			return out, unavailable("the database", err)
		}
		resident = r.ResidentID
	}
	p, err := q.InsertPayment(ctx, db.InsertPaymentParams{
		LeaseID: in.LeaseID, ResidentID: resident, AmountInCents: in.Cents,
		TransactionDate: pgtype.Date{Time: in.Date, Valid: true}, Reference: in.Reference, CreatedBy: in.Actor,
	})
	out.Again = IsUniqueViolation(err)
	if out.Again {
		if p, err = q.GetPaymentByReference(ctx, db.GetPaymentByReferenceParams{LeaseID: in.LeaseID, Reference: in.Reference}); err != nil {
			return out, unavailable("the database", err)
		}
		if p.AmountInCents != in.Cents || in.Strict && !p.TransactionDate.Time.Equal(in.Date) {
			return out, fail(Conflict, "duplicate_reference", "reference",
				"payment %s is already recorded for lease %s with %s: give another --ref if this is a different payment",
				in.Reference, in.LeaseID, money.Format(p.AmountInCents))
		}
	} else if err != nil {
		return out, unavailable("the database", err)
	}
	out.Payment = p
	return out, s.Signal(ctx, in.LeaseID, workflows.SignalPayment, PaymentSignal(p))
}

// PaymentSignal is the signal that tells a workflow about a payment row.
func PaymentSignal(p db.Payment) deposit.Payment {
	return deposit.Payment{PaymentID: p.PaymentID, AmountCents: p.AmountInCents, Reference: p.Reference, Date: p.TransactionDate.Time.Format(time.DateOnly)}
}

// ChargeIn is a charge on the resident ledger.
type ChargeIn struct {
	LeaseID     string
	Code        string
	Cents       int64
	Description string
	// Key makes the charge idempotent: the same key again is the same
	// charge. Empty: every call adds a charge (a manager without --ref).
	Key   string
	Actor string
}

// ChargeOut is the charge, its category, and whether it was there before.
type ChargeOut struct {
	ChargeID int64
	Code     string
	Category string
	Again    bool
}

// AddCharge commits a charge, then signals it.
func (s *Service) AddCharge(ctx context.Context, in ChargeIn) (ChargeOut, error) {
	var out ChargeOut
	if err := CheckCents("amount", in.Cents); err != nil {
		return out, err
	}
	in.Description = strings.TrimSpace(in.Description)
	if in.Description == "" {
		return out, fail(Invalid, "missing_field", "description", "description is required: the tenant reads it on the statement")
	}
	if len(in.Description) > 200 {
		return out, fail(Invalid, "too_long", "description", "description is longer than 200 characters")
	}
	pool, err := s.pool(ctx)
	if err != nil {
		return out, err
	}
	q := db.New(pool)
	cc, err := q.GetChargeCode(ctx, strings.ToUpper(in.Code))
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(Invalid, "unknown_charge_code", "charge_code_id", "unknown charge code %q; the codes are %s", in.Code, CodeList(ctx, q))
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	if cc.IsDeposit {
		return out, fail(Invalid, "deposit_charge_code", "charge_code_id", "the deposit charge is made by depositflow itself; choose one of %s", CodeList(ctx, q))
	}
	if err := s.CheckOpen(ctx, in.LeaseID); err != nil {
		return out, err
	}
	if cc.Category != deposit.CategoryCredit {
		if err := s.checkNotForfeited(ctx, in.LeaseID); err != nil {
			return out, err
		}
	}
	l, err := q.GetLease(ctx, in.LeaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(NotFound, "lease_not_found", "lease_id", "lease %s is not in the database", in.LeaseID)
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	params := db.InsertChargeWithKeyParams{
		LeaseID: in.LeaseID, ResidentID: l.Resident.ResidentID, ChargeCodeID: cc.ChargeCodeID,
		AmountInCents: in.Cents, Description: in.Description, CreatedBy: in.Actor,
	}
	if in.Key != "" {
		params.IdempotencyKey = pgtype.Text{String: in.Key, Valid: true}
	}
	ch, err := q.InsertChargeWithKey(ctx, params)
	out.Again = IsUniqueViolation(err)
	if out.Again {
		prev, err := q.GetChargeByKey(ctx, params.IdempotencyKey)
		if err != nil {
			return out, unavailable("the database", err)
		}
		if prev.AmountInCents != in.Cents || prev.ChargeCodeID != cc.ChargeCodeID || prev.LeaseID != in.LeaseID {
			return out, fail(Conflict, "duplicate_reference", "charge_id", "charge %s is already on lease %s as %s %s: give another --ref if this is a different charge",
				in.Key[strings.LastIndex(in.Key, "/")+1:], prev.LeaseID, prev.ChargeCodeID, money.Format(prev.AmountInCents))
		}
		ch = db.Charge{ChargeID: prev.ChargeID, Description: prev.Description}
	} else if err != nil {
		return out, unavailable("the database", err)
	}
	out.ChargeID, out.Code, out.Category = ch.ChargeID, cc.ChargeCodeID, cc.Category
	return out, s.Signal(ctx, in.LeaseID, workflows.SignalCharge, deposit.Charge{
		ChargeID: ch.ChargeID, Code: cc.ChargeCodeID, Category: cc.Category, AmountCents: in.Cents, Description: ch.Description,
	})
}

// CodeList names the charge codes a person may use.
func CodeList(ctx context.Context, q *db.Queries) string {
	codes, err := q.ListChargeCodes(ctx)
	if err != nil {
		return "listed by `deposits charge codes`"
	}
	var names []string
	for _, c := range codes {
		if !c.IsDeposit {
			names = append(names, c.ChargeCodeID)
		}
	}
	return strings.Join(names, ", ")
}

// ReturnReasons are why a payment may come back.
var ReturnReasons = []string{"nsf", "closed_account", "invalid_account", "stopped_payment", "other"}

// ReturnIn is a payment that came back.
type ReturnIn struct {
	LeaseID, Reference, Reason, Actor string
}

// ReturnOut is the returned payment, the NSF fee charged for it (if any),
// and whether it was returned before.
type ReturnOut struct {
	Payment db.Payment
	Fee     *deposit.Charge
	Again   bool
}

// ReturnPayment marks a payment returned and charges the property's NSF fee
// in one transaction, then signals both.
func (s *Service) ReturnPayment(ctx context.Context, in ReturnIn) (ReturnOut, error) {
	var out ReturnOut
	if err := s.CheckOpen(ctx, in.LeaseID); err != nil {
		return out, err
	}
	pool, err := s.pool(ctx)
	if err != nil {
		return out, err
	}
	q := db.New(pool)
	p, err := q.GetPaymentByReference(ctx, db.GetPaymentByReferenceParams{LeaseID: in.LeaseID, Reference: in.Reference})
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(NotFound, "payment_not_found", "payment_id", "lease %s has no payment with reference %s", in.LeaseID, in.Reference)
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	out.Again = p.ReturnedAt != nil
	reason := in.Reason
	if !out.Again {
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			q := db.New(tx)
			if p, err = q.ReturnPayment(ctx, db.ReturnPaymentParams{LeaseID: in.LeaseID, Reference: in.Reference, ReturnReason: reason, ReturnedBy: in.Actor}); err != nil {
				return err
			}
			l, err := q.GetLease(ctx, in.LeaseID)
			if err != nil {
				return err
			}
			prop, err := q.GetProperty(ctx, l.Lease.PropertyID)
			if err != nil {
				return err
			}
			if prop.NsfFeeCents > 0 {
				out.Fee, err = nsfFee(ctx, q, in.LeaseID, p, prop.NsfFeeCents, reason, in.Actor)
			}
			return err
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return out, fail(Conflict, "already_returned", "payment_id", "payment %s was returned meanwhile; nothing was changed", in.Reference)
		}
		if err != nil {
			return out, unavailable("the database", err)
		}
	} else {
		// Returned before: tell the workflow again (it applies a return once),
		// with the fee charge written then, if any.
		if out.Fee, err = ExistingNSFFee(ctx, q, in.LeaseID, in.Reference); err != nil {
			return out, unavailable("the database", err)
		}
		reason = p.ReturnReason
	}
	out.Payment = p
	return out, s.Signal(ctx, in.LeaseID, workflows.SignalPaymentReturned, workflows.PaymentReturned{PaymentID: p.PaymentID, Reason: reason, Fee: out.Fee})
}

// nsfFee writes the fee charge for a returned payment, under a key made from
// the payment, so the fee can be found again.
func nsfFee(ctx context.Context, q *db.Queries, leaseID string, p db.Payment, cents int64, reason, actor string) (*deposit.Charge, error) {
	desc := fmt.Sprintf("Returned payment fee (%s, %s)", p.Reference, reason)
	ch, err := q.InsertChargeWithKey(ctx, db.InsertChargeWithKeyParams{LeaseID: leaseID, ResidentID: p.ResidentID, ChargeCodeID: "NSF_FEE",
		AmountInCents: cents, Description: desc, CreatedBy: actor, IdempotencyKey: nsfKey(leaseID, p.Reference)})
	if err != nil {
		return nil, err
	}
	return &deposit.Charge{ChargeID: ch.ChargeID, Code: "NSF_FEE", Category: deposit.CategoryArrears, AmountCents: ch.AmountInCents, Description: desc}, nil
}

// ExistingNSFFee is the fee charged when a payment was returned, if any.
func ExistingNSFFee(ctx context.Context, q *db.Queries, leaseID, ref string) (*deposit.Charge, error) {
	ch, err := q.GetChargeByKey(ctx, nsfKey(leaseID, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &deposit.Charge{ChargeID: ch.ChargeID, Code: ch.ChargeCodeID, Category: ch.Category, AmountCents: ch.AmountInCents, Description: ch.Description}, nil
}

func nsfKey(leaseID, ref string) pgtype.Text {
	return pgtype.Text{String: "nsf/" + leaseID + "/" + ref, Valid: true}
}

// MoveOutIn is the realized move-out of a lease's tenant.
type MoveOutIn struct {
	LeaseID string
	At      time.Time // 00:00 UTC of the date, or an exact instant
}

// MoveOutOut says whether the same date was recorded before.
type MoveOutOut struct {
	Again bool
}

// RecordMoveOut commits the realized move-out date, then signals it. The same
// date again changes nothing; another date once one is recorded is refused.
func (s *Service) RecordMoveOut(ctx context.Context, in MoveOutIn) (MoveOutOut, error) {
	var out MoveOutOut
	q, l, err := s.openLease(ctx, in.LeaseID)
	if err != nil {
		return out, err
	}
	at := in.At.UTC()
	if prev := l.Lease.RealizedMoveOutAt; prev != nil {
		if !sameDay(*prev, at) {
			return out, fail(Conflict, "already_moved_out", "realized_move_out_date", "lease %s already has its move-out recorded (%s)", in.LeaseID, prev.Format(time.DateOnly))
		}
		out.Again = true
	} else if n, err := q.SetRealizedMoveOut(ctx, db.SetRealizedMoveOutParams{LeaseID: in.LeaseID, RealizedMoveOutAt: &at}); err != nil {
		return out, unavailable("the database", err)
	} else if n == 0 {
		return out, fail(Conflict, "already_moved_out", "realized_move_out_date", "lease %s had its move-out recorded meanwhile", in.LeaseID)
	}
	return out, s.Signal(ctx, in.LeaseID, workflows.SignalMoveOut, workflows.MoveOut{At: in.At.UTC()})
}

func sameDay(a, b time.Time) bool {
	return a.UTC().Truncate(24 * time.Hour).Equal(b.UTC().Truncate(24 * time.Hour))
}

// ForwardingIn is the tenant's written forwarding address and the day it arrived.
type ForwardingIn struct {
	LeaseID string
	Address string
	At      time.Time
}

// ForwardingOut is the address as stored, with the day the first one
// arrived (when a statute's clock started), and whether nothing changed.
type ForwardingOut struct {
	Address string
	At      time.Time
	Again   bool
}

// RecordForwarding commits the tenant's written forwarding address, then
// signals it: where a statute counts from it (US-TX) the lease's clock
// starts. A corrected address keeps the day the first one arrived; the same
// address again changes nothing.
func (s *Service) RecordForwarding(ctx context.Context, in ForwardingIn) (ForwardingOut, error) {
	var out ForwardingOut
	in.Address = strings.TrimSpace(in.Address)
	if in.Address == "" {
		return out, fail(Invalid, "missing_field", "forwarding_address", "the forwarding address is required")
	}
	if len(in.Address) > 500 {
		return out, fail(Invalid, "too_long", "forwarding_address", "the forwarding address is longer than 500 characters")
	}
	if in.At.After(time.Now().Add(24 * time.Hour)) {
		return out, fail(Invalid, "future_date", "received_date", "the forwarding address cannot arrive in the future (%s)", in.At.Format(time.DateOnly))
	}
	q, l, err := s.openLease(ctx, in.LeaseID)
	if err != nil {
		return out, err
	}
	out.Again = l.Lease.ForwardingAddress == in.Address && l.Lease.ForwardingAddressAt != nil
	at := in.At.UTC()
	row, err := q.SetForwardingAddress(ctx, db.SetForwardingAddressParams{LeaseID: in.LeaseID, ForwardingAddress: in.Address, ForwardingAddressAt: &at})
	if err != nil {
		return out, unavailable("the database", err)
	}
	out.Address, out.At = row.ForwardingAddress, *row.ForwardingAddressAt
	return out, s.Signal(ctx, in.LeaseID, workflows.SignalForwarding, workflows.ForwardingAddress{Address: out.Address, At: out.At})
}
