package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
	"github.com/depositflow/depositflow/workflows"
)

// The facts of a lease, each written to PostgreSQL under a key the caller
// can repeat, then signalled. The signal carries the row as the database
// holds it: a lease started before the workflow read its facts itself still
// applies the payload, and a newer one reads only the ID.

// MaxFacts bounds the payments, charges and deposit rows of one lease: far
// more than a lease of many years has, and far below what would bring its
// workflow near Temporal's history limits.
const MaxFacts = 1000

// MaxDescription and MaxReason bound the text a fact or decision carries.
const (
	MaxDescription = 200
	MaxReason      = 500
)

// factLease opens a lease for a new fact: the principal may take the
// action on it, it is open (not settled), and it has room for one more fact.
func (g *Gateway) factLease(ctx context.Context, who Principal, action, leaseID string) (*db.Queries, db.GetLeaseRow, error) {
	if err := who.may(action); err != nil {
		return nil, db.GetLeaseRow{}, err
	}
	q, l, err := g.lease(ctx, who, leaseID)
	if err != nil {
		return nil, l, err
	}
	if err := g.checkOpen(ctx, q, l); err != nil {
		return nil, l, err
	}
	n, err := q.CountLeaseFacts(ctx, leaseID)
	if err != nil {
		return nil, l, unavailable("the database", err)
	}
	if n >= MaxFacts {
		return nil, l, fail(Conflict, "too_many_facts", "lease_id", "lease %s already holds %d payments, charges and deposit rows, the most one lease may: an operator must look at it", leaseID, n)
	}
	return q, l, nil
}

// by is how a fact's row names who wrote it: a person by their name (the
// workflow compares it with who approves), anyone else by kind and name
// ("key:PMS-1"), which no person's name can be.
func (who Principal) by() string {
	if who.Kind == KindUser {
		return who.Name
	}
	return who.ID()
}

// origin says who wrote a charge, for the approval rules.
func (who Principal) origin() string {
	switch who.Kind {
	case KindUser:
		return "user"
	case KindKey:
		return "integration"
	}
	return "system"
}

// contentKey is a key made from what a fact says, for a caller that gave
// none: entering the same fact again is then recognised as the same.
func contentKey(parts ...any) string {
	// JSON keeps the parts apart: ("CLEANING", 100, "x") and
	// ("CLEANING", 10, "0x") are two charges, not one. Strings and numbers
	// always marshal.
	b, _ := json.Marshal(parts)
	h := sha256.Sum256(b)
	return "auto-" + hex.EncodeToString(h[:6])
}

// PaymentIn is a payment toward a lease's deposit.
type PaymentIn struct {
	LeaseID string `json:"lease_id"`
	Cents   int64  `json:"amount_in_cents"`
	// Currency, when given, must be the lease's: a PMS that sends pounds
	// to a dollar lease is refused, not converted.
	Currency string    `json:"currency,omitempty"`
	Date     time.Time `json:"transaction_date,omitzero"` // the transaction date
	// Reference is unique per lease (the PMS's payment ID, a cheque number);
	// empty: made from the amount and date, so the same payment entered again is recognised.
	Reference string `json:"payment_id,omitempty"`
	// ResidentExternalID, when given, names the paying resident by the PMS's
	// ID; it must be a resident of the lease. Otherwise the lease's first tenant.
	ResidentExternalID string `json:"resident_id,omitempty"`
	// CardPaymentIntent says the tenant paid by card through the card
	// provider (its PaymentIntent, pi_...): a refund goes back to the card.
	CardPaymentIntent string `json:"card_payment_intent,omitempty"`
}

// PaymentOut is the payment row, and whether it was there before.
type PaymentOut struct {
	Payment db.Payment
	Again   bool
}

// RecordPayment commits a payment, then signals it. The same reference with
// the same amount and date changes nothing; with others it is refused.
func (g *Gateway) RecordPayment(ctx context.Context, who Principal, in PaymentIn) (out PaymentOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "payment.record", in, ignoreNotSignalled(err)) }()
	if err := CheckCents("amount_in_cents", in.Cents); err != nil {
		return out, err
	}
	if in.Date.IsZero() {
		in.Date = g.now().UTC().Truncate(24 * time.Hour)
	}
	if in.Reference == "" {
		in.Reference = contentKey(in.LeaseID, in.Cents, in.Date.Format(time.DateOnly), in.ResidentExternalID)
	}
	if err := CheckID("payment_id", in.Reference); err != nil {
		return out, err
	}
	if in.CardPaymentIntent != "" && !validProviderID("pi_", in.CardPaymentIntent) {
		return out, fail(Invalid, "invalid", "card_payment_intent", "card payment intent %q is not a PaymentIntent ID such as pi_3Hh1...", in.CardPaymentIntent)
	}
	q, l, err := g.factLease(ctx, who, "payment.record", in.LeaseID)
	if err != nil {
		return out, err
	}
	if err := checkCurrency(l, in.Currency); err != nil {
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
		TransactionDate: pgtype.Date{Time: in.Date, Valid: true}, Reference: in.Reference, CreatedBy: who.by(),
	})
	out.Again = IsUniqueViolation(err)
	if out.Again {
		if p, err = q.GetPaymentByReference(ctx, db.GetPaymentByReferenceParams{LeaseID: in.LeaseID, Reference: in.Reference}); err != nil {
			return out, unavailable("the database", err)
		}
		if p.AmountInCents != in.Cents || !p.TransactionDate.Time.Equal(in.Date) || p.ResidentID != resident || p.ProviderPaymentIntent.String != in.CardPaymentIntent {
			return out, fail(Conflict, "duplicate_reference", "payment_id",
				"payment %s is already recorded for lease %s with %s on %s: give another reference if this is a different payment",
				in.Reference, in.LeaseID, money.FormatIn(l.Lease.Currency, p.AmountInCents), p.TransactionDate.Time.Format(time.DateOnly))
		}
	} else if err != nil {
		return out, unavailable("the database", err)
	} else if in.CardPaymentIntent != "" {
		if p, err = q.SetPaymentByCard(ctx, db.SetPaymentByCardParams{LeaseID: in.LeaseID, PaymentID: p.PaymentID,
			ProviderPaymentIntent: pgtype.Text{String: in.CardPaymentIntent, Valid: true}}); err != nil {
			return out, unavailable("the database", err)
		}
	}
	out.Payment = p
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalPayment, PaymentSignal(p))
}

// PaymentSignal is the signal that tells a workflow about a payment row.
func PaymentSignal(p db.Payment) deposit.Payment {
	return deposit.Payment{PaymentID: p.PaymentID, AmountCents: p.AmountInCents, Reference: p.Reference, Date: p.TransactionDate.Time.Format(time.DateOnly)}
}

// checkCurrency refuses an amount in another currency than the lease's.
func checkCurrency(l db.GetLeaseRow, currency string) error {
	if currency == "" || strings.EqualFold(currency, l.Lease.Currency) {
		return nil
	}
	return fail(Invalid, "wrong_currency", "currency", "lease %s is in %s, not %s: depositflow never converts money", l.Lease.LeaseID, l.Lease.Currency, strings.ToUpper(currency))
}

// ChargeIn is a charge on the resident ledger.
type ChargeIn struct {
	LeaseID     string `json:"lease_id"`
	Code        string `json:"charge_code_id"`
	Cents       int64  `json:"amount_in_cents"`
	Currency    string `json:"currency,omitempty"` // empty, or the lease's
	Description string `json:"description"`
	// Ref makes the charge idempotent: the same reference again is the same
	// charge (the PMS's charge ID, an invoice number). Empty: made from the
	// code, amount and description.
	Ref string `json:"charge_id,omitempty"`
}

// ChargeOut is the charge, its category, whether it was there before, and
// whether it waits for a books_admin's approval.
type ChargeOut struct {
	ChargeID int64
	Ref      string
	Code     string
	Category string
	Again    bool
	Pending  bool
}

// AddCharge commits a charge, then signals it. A charge a person adds that
// takes the lease's total of money people moved above the property's
// approval threshold waits for a books_admin (chargeApproval).
func (g *Gateway) AddCharge(ctx context.Context, who Principal, in ChargeIn) (out ChargeOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "charge.add", in, ignoreNotSignalled(err)) }()
	if err := CheckCents("amount_in_cents", in.Cents); err != nil {
		return out, err
	}
	in.Description = strings.TrimSpace(in.Description)
	if in.Description == "" {
		return out, fail(Invalid, "missing_field", "description", "description is required: the tenant reads it on the statement")
	}
	if len(in.Description) > MaxDescription {
		return out, fail(Invalid, "too_long", "description", "description is longer than %d characters", MaxDescription)
	}
	code := strings.ToUpper(strings.TrimSpace(in.Code))
	if in.Ref == "" {
		in.Ref = contentKey(in.LeaseID, code, in.Cents, in.Description)
	}
	if err := CheckID("charge_id", in.Ref); err != nil {
		return out, err
	}
	out.Ref = in.Ref
	q, l, err := g.factLease(ctx, who, "charge.add", in.LeaseID)
	if err != nil {
		return out, err
	}
	if err := checkCurrency(l, in.Currency); err != nil {
		return out, err
	}
	cc, err := q.GetChargeCode(ctx, code)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(Invalid, "unknown_charge_code", "charge_code_id", "unknown charge code %q; the codes are %s", in.Code, CodeList(ctx, q))
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	if cc.IsDeposit {
		return out, fail(Invalid, "deposit_charge_code", "charge_code_id", "the deposit charge is made by depositflow itself; choose one of %s", CodeList(ctx, q))
	}
	key := pgtype.Text{String: chargeKey(in.LeaseID, in.Ref), Valid: true}
	if prev, err := q.GetChargeByKey(ctx, key); err == nil {
		return g.chargeAgain(ctx, in, cc, prev)
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return out, unavailable("the database", err)
	}
	if cc.Category != deposit.CategoryCredit {
		if err := g.checkNotForfeited(ctx, in.LeaseID); err != nil {
			return out, err
		}
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	var ch db.Charge
	var approval string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		var err error
		if approval, err = chargeApproval(ctx, q, who, l, cc.Category, in.Cents); err != nil {
			return err
		}
		ch, err = q.InsertCharge(ctx, db.InsertChargeParams{
			LeaseID: in.LeaseID, ResidentID: l.Resident.ResidentID, ChargeCodeID: cc.ChargeCodeID,
			AmountInCents: in.Cents, Description: in.Description, CreatedBy: who.by(), IdempotencyKey: key,
			Origin: who.origin(), Approval: approval,
		})
		return err
	})
	if IsUniqueViolation(err) {
		prev, err := q.GetChargeByKey(ctx, key)
		if err != nil {
			return out, unavailable("the database", err)
		}
		return g.chargeAgain(ctx, in, cc, prev)
	}
	if err != nil {
		return out, txErr(err)
	}
	out.ChargeID, out.Code, out.Category, out.Pending = ch.ChargeID, cc.ChargeCodeID, cc.Category, approval == "pending"
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalCharge, chargeSignal(ch, cc.Category))
}

// chargeAgain answers a charge entered again under its key: the same
// charge is signalled again (finishing what a cut-off call began), another
// one under the same key is refused.
func (g *Gateway) chargeAgain(ctx context.Context, in ChargeIn, cc db.ChargeCode, prev db.GetChargeByKeyRow) (ChargeOut, error) {
	out := ChargeOut{ChargeID: prev.ChargeID, Ref: in.Ref, Code: prev.ChargeCodeID, Category: prev.Category, Again: true, Pending: prev.Approval == "pending"}
	if prev.AmountInCents != in.Cents || prev.ChargeCodeID != cc.ChargeCodeID || prev.LeaseID != in.LeaseID {
		return out, fail(Conflict, "duplicate_reference", "charge_id", "charge %s is already on lease %s as %s %s: give another reference if this is a different charge",
			in.Ref, prev.LeaseID, prev.ChargeCodeID, money.FormatIn(prev.Currency, prev.AmountInCents))
	}
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalCharge, deposit.Charge{
		ChargeID: prev.ChargeID, Code: prev.ChargeCodeID, Category: prev.Category, AmountCents: prev.AmountInCents, Description: prev.Description})
}

func chargeKey(leaseID, ref string) string { return "charge/" + leaseID + "/" + ref }

func chargeSignal(ch db.Charge, category string) deposit.Charge {
	return deposit.Charge{ChargeID: ch.ChargeID, Code: ch.ChargeCodeID, Category: category, AmountCents: ch.AmountInCents, Description: ch.Description}
}

// chargeApproval decides whether a new charge waits for a books_admin: a
// deduction or credit a person adds (before or after the move-out), or
// arrears a person adds after it, when the lease's total of money people
// moved (DiscretionaryCents) would pass the property's threshold. q is a
// transaction's: the lease's row stays locked until the charge is written.
func chargeApproval(ctx context.Context, q *db.Queries, who Principal, l db.GetLeaseRow, category string, cents int64) (string, error) {
	byHand := category == deposit.CategoryDeduction || category == deposit.CategoryCredit ||
		category == deposit.CategoryArrears && l.Lease.RealizedMoveOutAt != nil
	if who.Kind != KindUser || !byHand {
		return "none", nil
	}
	threshold, err := q.LockLeaseThreshold(ctx, l.Lease.LeaseID)
	if err != nil {
		return "", err
	}
	if !threshold.Valid {
		return "none", nil
	}
	moved, err := q.DiscretionaryCents(ctx, l.Lease.LeaseID)
	if err != nil {
		return "", err
	}
	if moved+cents > threshold.Int64 {
		return "pending", nil
	}
	return "none", nil
}

// checkNotForfeited refuses a charge against a deposit whose deductions a
// missed statutory deadline forfeited: it could never be withheld.
func (g *Gateway) checkNotForfeited(ctx context.Context, leaseID string) error {
	s, err := g.state(ctx, leaseID)
	if err != nil {
		return err
	}
	if s.Forfeited {
		return fail(Conflict, "deductions_forfeited", "lease_id", "lease %s can no longer be charged against its deposit: %s", leaseID, s.DeadlineMissed)
	}
	return nil
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
	LeaseID   string `json:"lease_id"`
	Reference string `json:"payment_id"`
	Reason    string `json:"reason"`
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
func (g *Gateway) ReturnPayment(ctx context.Context, who Principal, in ReturnIn) (out ReturnOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "payment.return", in, ignoreNotSignalled(err)) }()
	if in.Reason == "" {
		in.Reason = "nsf"
	}
	if !containsString(ReturnReasons, in.Reason) {
		return out, fail(Invalid, "invalid", "reason", "reason %q: choose one of %s", in.Reason, strings.Join(ReturnReasons, ", "))
	}
	if err := CheckID("payment_id", in.Reference); err != nil {
		return out, err
	}
	q, l, err := g.factLease(ctx, who, "payment.return", in.LeaseID)
	if err != nil {
		return out, err
	}
	p, err := q.GetPaymentByReference(ctx, db.GetPaymentByReferenceParams{LeaseID: in.LeaseID, Reference: in.Reference})
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(NotFound, "payment_not_found", "payment_id", "lease %s has no payment with reference %s", in.LeaseID, in.Reference)
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	if p.TransferID.Valid {
		return out, fail(Conflict, "transfer_not_returnable", "payment_id", "payment %s of lease %s is a transfer from another lease, not a payment that can come back", in.Reference, in.LeaseID)
	}
	out.Again = p.ReturnedAt != nil
	reason := in.Reason
	if !out.Again {
		pool, err := g.DB(ctx)
		if err != nil {
			return out, unavailable("the database", err)
		}
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			q := db.New(tx)
			if p, err = q.ReturnPayment(ctx, db.ReturnPaymentParams{LeaseID: in.LeaseID, Reference: in.Reference, ReturnReason: reason, ReturnedBy: who.by()}); err != nil {
				return err
			}
			prop, err := q.GetProperty(ctx, l.Lease.PropertyID)
			if err != nil {
				return err
			}
			if prop.NsfFeeCents > 0 {
				out.Fee, err = nsfFee(ctx, q, in.LeaseID, p, prop.NsfFeeCents, reason, who)
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
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalPaymentReturned, workflows.PaymentReturned{PaymentID: p.PaymentID, Reason: reason, Fee: out.Fee})
}

// nsfFee writes the fee charge for a returned payment, under a key made from
// the payment, so the fee can be found again.
func nsfFee(ctx context.Context, q *db.Queries, leaseID string, p db.Payment, cents int64, reason string, who Principal) (*deposit.Charge, error) {
	desc := fmt.Sprintf("Returned payment fee (%s, %s)", p.Reference, reason)
	ch, err := q.InsertCharge(ctx, db.InsertChargeParams{LeaseID: leaseID, ResidentID: p.ResidentID, ChargeCodeID: "NSF_FEE",
		AmountInCents: cents, Description: desc, CreatedBy: who.by(), IdempotencyKey: NSFKey(leaseID, p.Reference),
		Origin: "system", Approval: "none"})
	if err != nil {
		return nil, err
	}
	c := chargeSignal(ch, deposit.CategoryArrears)
	return &c, nil
}

// ExistingNSFFee is the fee charged when a payment was returned, if any.
func ExistingNSFFee(ctx context.Context, q *db.Queries, leaseID, ref string) (*deposit.Charge, error) {
	ch, err := q.GetChargeByKey(ctx, NSFKey(leaseID, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &deposit.Charge{ChargeID: ch.ChargeID, Code: ch.ChargeCodeID, Category: ch.Category, AmountCents: ch.AmountInCents, Description: ch.Description}, nil
}

// NSFKey is the key of the fee charged for a returned payment.
func NSFKey(leaseID, ref string) pgtype.Text {
	return pgtype.Text{String: "nsf/" + leaseID + "/" + ref, Valid: true}
}

// AmendIn adds a row to a lease's deposit: a raise, a lowering (negative), a
// guarantee, a prepaid part, or (Cents 0) a new payee.
type AmendIn struct {
	LeaseID    string `json:"lease_id"`
	Ref        string `json:"amendment_id,omitempty"` // the caller's reference; empty: made from the content
	Type       string `json:"type"`                   // deposit.DepositCash, DepositGuarantee or DepositPrepaid
	Cents      int64  `json:"amount_in_cents"`        // signed
	Currency   string `json:"currency,omitempty"`
	Guarantor  string `json:"guarantor,omitempty"`
	PayeeEmail string `json:"payee_email,omitempty"`
	PayeeName  string `json:"payee_name,omitempty"`
}

// AmendOut is the row written (or found), and whether it waits for a
// books_admin's approval.
type AmendOut struct {
	DepositID int64
	Ref       string
	Again     bool
	Pending   bool
}

// AmendDeposit commits a deposit amendment, then signals it. A payee change,
// and a cash or prepaid amendment once a payment was made, wait for a
// books_admin who is not the one asking.
func (g *Gateway) AmendDeposit(ctx context.Context, who Principal, in AmendIn) (out AmendOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "deposit.amend", in, ignoreNotSignalled(err)) }()
	if in.Type != deposit.DepositCash && in.Type != deposit.DepositGuarantee && in.Type != deposit.DepositPrepaid {
		return out, fail(Invalid, "invalid", "type", "type %q: choose cash, guarantee or prepaid", in.Type)
	}
	if in.Cents < -money.MaxCents || in.Cents > money.MaxCents {
		return out, fail(Invalid, "amount_too_large", "amount_in_cents", "the amount is larger than %s", money.Format(money.MaxCents))
	}
	if in.PayeeEmail != "" {
		addr, err := mail.ParseAddress(in.PayeeEmail)
		if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
			return out, fail(Invalid, "invalid", "payee_email", "payee %q is not an email address", in.PayeeEmail)
		}
		in.PayeeEmail = addr.Address
	}
	in.PayeeName, in.Guarantor = strings.TrimSpace(in.PayeeName), strings.TrimSpace(in.Guarantor)
	if len(in.PayeeName) > MaxDescription || len(in.Guarantor) > MaxDescription {
		return out, fail(Invalid, "too_long", "guarantor", "a name is longer than %d characters", MaxDescription)
	}
	if in.Cents == 0 && in.PayeeEmail == "" {
		return out, fail(Invalid, "amount_zero", "amount_in_cents", "an amount of 0 changes nothing: give an amount, or a payee to change the payee")
	}
	if in.Type == deposit.DepositGuarantee && in.Guarantor == "" {
		return out, fail(Invalid, "missing_field", "guarantor", "a guarantee needs its guarantor (e.g. \"Bank of America\")")
	}
	if in.Ref == "" {
		in.Ref = contentKey(in.LeaseID, in.Type, in.Cents, in.Guarantor, in.PayeeEmail, in.PayeeName)
	}
	if err := CheckID("amendment_id", in.Ref); err != nil {
		return out, err
	}
	out.Ref = in.Ref
	q, l, err := g.factLease(ctx, who, "deposit.amend", in.LeaseID)
	if err != nil {
		return out, err
	}
	if err := checkCurrency(l, in.Currency); err != nil {
		return out, err
	}
	key := "amend/" + in.LeaseID + "/" + in.Ref
	if prev, err := q.GetDepositByKey(ctx, key); err == nil {
		out.DepositID, out.Again, out.Pending = prev.DepositID, true, prev.Approval == "pending"
		if prev.LeaseID != in.LeaseID || prev.DepositType != in.Type || prev.AmountInCents != in.Cents || prev.PayeeEmail != in.PayeeEmail ||
			prev.PayeeName != in.PayeeName || prev.Guarantor != in.Guarantor {
			return out, fail(Conflict, "duplicate_reference", "amendment_id", "amendment %s of lease %s is already recorded as %s %s: give another reference if this is a different amendment",
				in.Ref, in.LeaseID, prev.DepositType, money.FormatIn(prev.Currency, prev.AmountInCents))
		}
		return out, g.Signal(ctx, in.LeaseID, workflows.SignalAmend, depositSignal(prev))
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return out, unavailable("the database", err)
	}
	if l.Lease.RealizedMoveOutAt != nil {
		return out, fail(Conflict, "moved_out", "lease_id", "lease %s has ended (moved out %s): amend a deposit while the lease is active", in.LeaseID, l.Lease.RealizedMoveOutAt.UTC().Format(time.DateOnly))
	}
	totals, err := q.DepositTotals(ctx, in.LeaseID)
	if err != nil {
		return out, unavailable("the database", err)
	}
	total := map[string]int64{deposit.DepositCash: totals.CashCents, deposit.DepositGuarantee: totals.GuaranteeCents, deposit.DepositPrepaid: totals.PrepaidCents}[in.Type]
	if total+in.Cents < 0 {
		return out, fail(Invalid, "amount_too_low", "amount_in_cents", "lowering the %s deposit by %s would leave %s: it is %s", in.Type, money.FormatIn(l.Lease.Currency, -in.Cents), money.FormatIn(l.Lease.Currency, total+in.Cents), money.FormatIn(l.Lease.Currency, total))
	}
	approval := "none"
	if in.PayeeEmail != "" {
		approval = "pending"
	} else if in.Type != deposit.DepositGuarantee {
		paid, err := q.CountPayments(ctx, in.LeaseID)
		if err != nil {
			return out, unavailable("the database", err)
		}
		if paid > 0 {
			approval = "pending"
		}
	}
	row, err := q.InsertAmendmentRow(ctx, db.InsertAmendmentRowParams{
		LeaseID: in.LeaseID, DepositType: in.Type, AmountInCents: in.Cents, Guarantor: in.Guarantor,
		PayeeEmail: in.PayeeEmail, PayeeName: in.PayeeName, CreatedBy: who.by(), IdempotencyKey: key, Approval: approval,
	})
	if err != nil {
		return out, unavailable("the database", err)
	}
	out.DepositID, out.Pending = row.DepositID, approval == "pending"
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalAmend, depositSignal(row))
}

func depositSignal(d db.Deposit) deposit.DepositRow {
	return deposit.DepositRow{DepositID: d.DepositID, Type: d.DepositType, AmountCents: d.AmountInCents, Guarantor: d.Guarantor, PayeeEmail: d.PayeeEmail, PayeeName: d.PayeeName}
}

// MoveOutIn is the lease's realized move-out.
type MoveOutIn struct {
	LeaseID string `json:"lease_id"`
	// Date is a day (YYYY-MM-DD, in the lease's time zone: its clocks start
	// at 00:00 there), an exact RFC 3339 instant, or empty for now.
	Date string `json:"realized_move_out_date,omitempty"`
}

// MoveOutOut is when the move-out was recorded, and whether it was before.
type MoveOutOut struct {
	At    time.Time
	Again bool
}

// RecordMoveOut commits the lease's move-out, then signals it. The same day
// again changes nothing; another day once one is recorded is refused. Only
// this lease moves out: a tenant's other leases are untouched.
func (g *Gateway) RecordMoveOut(ctx context.Context, who Principal, in MoveOutIn) (out MoveOutOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "moveout", in, ignoreNotSignalled(err)) }()
	q, l, err := g.factLease(ctx, who, "moveout", in.LeaseID)
	if err != nil {
		return out, err
	}
	zone, err := leaseZone(l)
	if err != nil {
		return out, err
	}
	at, err := g.pastDay("realized_move_out_date", in.Date, zone)
	if err != nil {
		return out, err
	}
	if prev := l.Lease.RealizedMoveOutAt; prev != nil {
		if !sameDay(*prev, at, zone) {
			return out, fail(Conflict, "already_moved_out", "realized_move_out_date", "lease %s already has its move-out recorded (%s)", in.LeaseID, prev.In(zone).Format(time.DateOnly))
		}
		out.At, out.Again = *prev, true
	} else if n, err := q.SetRealizedMoveOut(ctx, db.SetRealizedMoveOutParams{LeaseID: in.LeaseID, RealizedMoveOutAt: &at}); err != nil {
		return out, unavailable("the database", err)
	} else if n == 0 {
		return out, fail(Conflict, "already_moved_out", "realized_move_out_date", "lease %s had its move-out recorded meanwhile", in.LeaseID)
	} else {
		out.At = at
	}
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalMoveOut, workflows.MoveOut{At: out.At.UTC()})
}

// clockSkew is how far ahead of this server's clock an instant a caller
// sends may be and still count as now.
const clockSkew = time.Minute

// pastDay reads a day something happened: YYYY-MM-DD (00:00 in zone), an
// RFC 3339 instant, or empty for now. A day that has not begun in the
// lease's time zone, or an instant ahead of now, is refused: these are
// facts that happened (a move-out dated ahead would also hold charges
// entered before it out of the approval total).
func (g *Gateway) pastDay(field, s string, zone *time.Location) (time.Time, error) {
	now := g.now()
	if s == "" {
		return now.UTC(), nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, zone)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return time.Time{}, fail(Invalid, "invalid_date", field, "%s %q: write the date as YYYY-MM-DD", field, s)
		}
	}
	if t.After(now.Add(clockSkew)) {
		return time.Time{}, fail(Invalid, "future_date", field, "%s %s is in the future (it is %s in %s)", field, s, now.In(zone).Format("2006-01-02 15:04"), zone)
	}
	if t.Year() < 1990 {
		return time.Time{}, fail(Invalid, "invalid_date", field, "%s %s is too far in the past", field, s)
	}
	return t.UTC(), nil
}

func sameDay(a, b time.Time, zone *time.Location) bool {
	return a.In(zone).Format(time.DateOnly) == b.In(zone).Format(time.DateOnly)
}

// leaseZone is the lease's time zone, where its dates are days.
func leaseZone(l db.GetLeaseRow) (*time.Location, error) {
	z, err := rules.LoadZone(l.Lease.TimeZone)
	if err != nil {
		return nil, fail(Conflict, "bad_time_zone", "time_zone", "lease %s has the time zone %q, which this server does not know", l.Lease.LeaseID, l.Lease.TimeZone)
	}
	return z, nil
}

// ForwardingIn is the tenant's written forwarding address and the day it arrived.
type ForwardingIn struct {
	LeaseID string `json:"lease_id"`
	Address string `json:"forwarding_address"`
	Date    string `json:"received_date,omitempty"` // YYYY-MM-DD in the lease's zone, RFC 3339, or empty for today
}

// ForwardingOut is the address as stored, with the day the first one
// arrived (when a statute's clock started), and whether nothing changed.
type ForwardingOut struct {
	Address string
	At      time.Time
	Day     string // the day it arrived, in the lease's time zone
	Again   bool
}

// RecordForwarding commits the tenant's written forwarding address, then
// signals it: where a statute counts from it (US-TX) the lease's clock
// starts. A corrected address keeps the day the first one arrived; the same
// address again changes nothing.
func (g *Gateway) RecordForwarding(ctx context.Context, who Principal, in ForwardingIn) (out ForwardingOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "forwarding-address", in, ignoreNotSignalled(err)) }()
	in.Address = strings.TrimSpace(in.Address)
	if in.Address == "" {
		return out, fail(Invalid, "missing_field", "forwarding_address", "the forwarding address is required")
	}
	if len(in.Address) > MaxReason {
		return out, fail(Invalid, "too_long", "forwarding_address", "the forwarding address is longer than %d characters", MaxReason)
	}
	q, l, err := g.factLease(ctx, who, "forwarding-address", in.LeaseID)
	if err != nil {
		return out, err
	}
	zone, err := leaseZone(l)
	if err != nil {
		return out, err
	}
	at, err := g.pastDay("received_date", in.Date, zone)
	if err != nil {
		return out, err
	}
	out.Again = l.Lease.ForwardingAddress == in.Address && l.Lease.ForwardingAddressAt != nil
	row, err := q.SetForwardingAddress(ctx, db.SetForwardingAddressParams{LeaseID: in.LeaseID, ForwardingAddress: in.Address, ForwardingAddressAt: &at})
	if err != nil {
		return out, unavailable("the database", err)
	}
	out.Address, out.At = row.ForwardingAddress, *row.ForwardingAddressAt
	out.Day = out.At.In(zone).Format(time.DateOnly)
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalForwarding, workflows.ForwardingAddress{Address: out.Address, At: out.At})
}

// ignoreNotSignalled: a fact committed but not yet signalled was accepted.
func ignoreNotSignalled(err error) error {
	if IsKind(err, NotSignalled) {
		return nil
	}
	return err
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
