package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/webhook"
	"github.com/depositflow/depositflow/workflows"
)

// Money moved before the settlement (#16, seed 002's "Add refund/transfer"
// and "Search for existing invoice"):
//
//   - a transfer moves all or part of a lease's refundable amount to
//     another lease (a renewal, a move to another unit), of any property the
//     person manages, in the same currency. The source counts it as an
//     earlier refund/transfer; the target receives it as a payment (a
//     payment row written with the transfer), with its own receipt.
//   - a partial refund pays part of the refundable amount out before the
//     settlement: refund rows split among the payees as the settlement's,
//     payable like them, with their own email.
//   - an open invoice is arrears the PMS (or a manager) holds open against
//     the tenant; a manager applies the deposit to it before anything is
//     paid out: an arrears charge (code INVOICE) naming it, which the
//     settlement takes from the deposit like any charge.
//
// Transfers and partial refunds are money a person moves by hand: they count
// toward the property's approval threshold (DiscretionaryCents), so a keep
// or a deduction after them waits for a books_admin sooner. One that would
// itself pass the threshold is refused (it cannot wait for an approval:
// money leaving the trust account is not held back for a decision); a
// books_admin may raise the threshold, or a smaller amount be moved.
// Applying an invoice is an arrears charge after the move-out, and waits for
// approval above the threshold exactly as a charge does.

// TransferIn moves refundable money from one lease to another.
type TransferIn struct {
	LeaseID   string `json:"lease_id"`
	ToLeaseID string `json:"to_lease_id"`
	Cents     int64  `json:"amount_in_cents,omitempty"` // 0: all of the refundable amount
	Currency  string `json:"currency,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// Key makes the transfer idempotent: the same key again is the same
	// transfer. Empty: the caller's Idempotency-Key, or one made from the
	// leases and the amount.
	Key string `json:"key,omitempty"`
}

// TransferOut is the transfer, the payment the target received it as, and
// whether it was made before under the same key.
type TransferOut struct {
	TransferID int64  `json:"transfer_id"`
	PaymentID  int64  `json:"payment_id"`
	Cents      int64  `json:"amount_in_cents"`
	Key        string `json:"key"`
	Again      bool   `json:"-"`
}

// PartialRefundIn refunds part of the refundable amount before the settlement.
type PartialRefundIn struct {
	LeaseID  string `json:"lease_id"`
	Cents    int64  `json:"amount_in_cents,omitempty"` // 0: all of the refundable amount
	Currency string `json:"currency,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Key      string `json:"key,omitempty"`
}

// PartialRefundOut is the partial refund and its payouts.
type PartialRefundOut struct {
	PartialRefundID int64            `json:"partial_refund_id"`
	Cents           int64            `json:"amount_in_cents"`
	Key             string           `json:"key"`
	Payouts         []deposit.Payout `json:"payouts"`
	Again           bool             `json:"-"`
}

// moveKey is the key of a transfer or partial refund: the caller's, or one
// made from what it says.
func moveKey(who Principal, given string, parts ...any) (string, error) {
	key := strings.TrimSpace(given)
	if key == "" {
		key = who.RequestKey
	}
	if key == "" {
		key = contentKey(parts...)
	}
	if len(key) > 200 {
		return "", fail(Invalid, "invalid", "key", "the key is longer than 200 characters")
	}
	return key, nil
}

// available is what a lease's books say may still leave it before the
// settlement: the refundable amount, less what waits for approval against
// it (keeps, deductions, arrears), as the database holds it now (q is the
// transaction's, with the lease's row locked).
func available(ctx context.Context, q *db.Queries, leaseID string) (int64, activities.Books, error) {
	b, err := activities.ReadBooks(ctx, q, leaseID)
	if err != nil {
		return 0, b, err
	}
	s := b.State()
	n := s.Terms().Refundable()
	for _, p := range s.Pending {
		switch {
		case p.Keep != nil:
			n -= p.AmountCents
		case p.Charge != nil && p.Charge.Category != deposit.CategoryCredit:
			n -= p.AmountCents
		}
	}
	return n, b, nil
}

// byHand refuses a transfer or partial refund that would take the lease's
// total of money people moved above its property's approval threshold.
func byHand(ctx context.Context, q *db.Queries, l db.GetLeaseRow, what string, cents int64) error {
	threshold, err := q.LockLeaseThreshold(ctx, l.Lease.LeaseID)
	if err != nil {
		return err
	}
	if !threshold.Valid {
		return nil
	}
	moved, err := q.DiscretionaryCents(ctx, l.Lease.LeaseID)
	if err != nil {
		return err
	}
	if moved+cents > threshold.Int64 {
		return fail(Conflict, "above_threshold", "amount_in_cents",
			"a %s of %s would bring the money moved by hand on lease %s to %s, above property %s's approval threshold of %s: it cannot wait for an approval; move at most %s, or ask a books_admin to raise the threshold",
			what, money.FormatIn(l.Lease.Currency, cents), l.Lease.LeaseID, money.FormatIn(l.Lease.Currency, moved+cents), l.Lease.PropertyID,
			money.FormatIn(l.Lease.Currency, threshold.Int64), money.FormatIn(l.Lease.Currency, max(threshold.Int64-moved, 0)))
	}
	return nil
}

// amountFor checks an amount against what is available: 0 asks for all of it.
func amountFor(l db.GetLeaseRow, what string, cents, avail int64) (int64, error) {
	if avail <= 0 {
		return 0, fail(Conflict, "nothing_refundable", "lease_id", "lease %s has nothing refundable to %s (its refundable amount is %s)",
			l.Lease.LeaseID, what, money.FormatIn(l.Lease.Currency, avail))
	}
	if cents == 0 {
		return avail, nil
	}
	if cents > avail {
		return 0, fail(Conflict, "over_refundable", "amount_in_cents", "%s is more than lease %s's refundable amount of %s: nothing was moved",
			money.FormatIn(l.Lease.Currency, cents), l.Lease.LeaseID, money.FormatIn(l.Lease.Currency, avail))
	}
	return cents, nil
}

// settleGuard writes the leases' rows (in a fixed order: two transfers
// between the same leases never deadlock) and refuses one settled
// meanwhile. A settlement being written at the same time locks its
// lease's row in a repeatable-read transaction: it then fails to
// serialize and is retried, seeing the money that moved; one written
// before is seen here.
func settleGuard(ctx context.Context, q *db.Queries, leases ...string) error {
	slices.Sort(leases)
	for _, l := range leases {
		if err := q.TouchLease(ctx, l); err != nil {
			return err
		}
	}
	for _, l := range leases {
		st, err := q.GetSettlement(ctx, l)
		if err == nil {
			return fail(Conflict, "lease_closed", "lease_id", "lease %s was settled meanwhile (%s): nothing was moved", l, st.Outcome)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	}
	return nil
}

// takesMoves refuses a lease whose workflow started before transfers and
// partial refunds existed.
func (g *Gateway) takesMoves(ctx context.Context, leaseID string) error {
	s, err := g.state(ctx, leaseID)
	if err != nil {
		return err
	}
	if !s.MoneyMoves {
		return fail(Conflict, "not_supported", "lease_id", "lease %s's deposit workflow started before transfers and partial refunds existed: it settles as it began", leaseID)
	}
	return nil
}

// Transfer moves refundable money from in.LeaseID to in.ToLeaseID. The
// person must be a manager of both leases' properties (a lease outside them
// answers as one that does not exist); both must be open and in one
// currency. Refused, nothing changes, and the refusal is audited.
func (g *Gateway) Transfer(ctx context.Context, who Principal, in TransferIn) (out TransferOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "transfer", in, ignoreNotSignalled(err)) }()
	in.Reason = strings.TrimSpace(in.Reason)
	if len(in.Reason) > MaxReason {
		return out, fail(Invalid, "too_long", "reason", "the reason is longer than %d characters", MaxReason)
	}
	if in.Cents != 0 {
		if err := CheckCents("amount_in_cents", in.Cents); err != nil {
			return out, err
		}
	}
	if err := CheckID("to_lease_id", in.ToLeaseID); err != nil {
		return out, err
	}
	if in.ToLeaseID == in.LeaseID {
		return out, fail(Invalid, "transfer_to_itself", "to_lease_id", "lease %s cannot transfer to itself", in.LeaseID)
	}
	q, src, err := g.factLease(ctx, who, "transfer", in.LeaseID)
	if err != nil {
		return out, err
	}
	_, dst, err := g.factLease(ctx, who, "transfer", in.ToLeaseID)
	if err != nil {
		if IsKind(err, Conflict) {
			var ge *Error
			errors.As(err, &ge)
			return out, fail(Conflict, ge.Code, "to_lease_id", "cannot transfer to lease %s: %s", in.ToLeaseID, ge.Msg)
		}
		return out, err
	}
	if err := checkCurrency(src, in.Currency); err != nil {
		return out, err
	}
	if src.Lease.Currency != dst.Lease.Currency {
		return out, fail(Invalid, "wrong_currency", "to_lease_id", "lease %s is in %s and lease %s in %s: a transfer never converts money",
			in.LeaseID, src.Lease.Currency, in.ToLeaseID, dst.Lease.Currency)
	}
	if out.Key, err = moveKey(who, in.Key, "transfer", in.LeaseID, in.ToLeaseID, in.Cents); err != nil {
		return out, err
	}
	key := "transfer/" + in.LeaseID + "/" + out.Key
	if prev, err := q.GetTransferByKey(ctx, key); err == nil {
		return g.transferAgain(ctx, q, in, prev, out.Key)
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return out, unavailable("the database", err)
	}
	for _, l := range []string{in.LeaseID, in.ToLeaseID} {
		if err := g.takesMoves(ctx, l); err != nil {
			return out, err
		}
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	var t db.Transfer
	var p db.Payment
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := settleGuard(ctx, q, in.LeaseID, in.ToLeaseID); err != nil {
			return err
		}
		avail, _, err := available(ctx, q, in.LeaseID)
		if err != nil {
			return err
		}
		cents, err := amountFor(src, "transfer", in.Cents, avail)
		if err != nil {
			return err
		}
		if err := byHand(ctx, q, src, "transfer", cents); err != nil {
			return err
		}
		t, err = q.InsertTransfer(ctx, db.InsertTransferParams{FromLeaseID: in.LeaseID, ToLeaseID: in.ToLeaseID, Currency: src.Lease.Currency,
			AmountInCents: cents, Reason: in.Reason, CreatedBy: who.by(), IdempotencyKey: key})
		if err != nil {
			return err
		}
		p, err = q.InsertTransferPayment(ctx, db.InsertTransferPaymentParams{LeaseID: in.ToLeaseID, ResidentID: dst.Resident.ResidentID,
			AmountInCents: cents, TransactionDate: pgtype.Date{Time: g.now().UTC().Truncate(24 * time.Hour), Valid: true},
			Reference: fmt.Sprintf("transfer-%d-from-%s", t.TransferID, in.LeaseID), CreatedBy: who.by(),
			TransferID: pgtype.Int8{Int64: t.TransferID, Valid: true}})
		return err
	})
	if IsUniqueViolation(err) {
		prev, err := q.GetTransferByKey(ctx, key)
		if err != nil {
			return out, unavailable("the database", err)
		}
		return g.transferAgain(ctx, q, in, prev, out.Key)
	}
	if err != nil {
		return out, txErr(err)
	}
	out.TransferID, out.PaymentID, out.Cents = t.TransferID, p.PaymentID, t.AmountInCents
	g.audit(ctx, who, in.ToLeaseID, "transfer.in", map[string]any{"from_lease_id": in.LeaseID, "transfer_id": t.TransferID, "amount_in_cents": t.AmountInCents}, nil)
	return out, g.signalTransfer(ctx, t)
}

// transferAgain answers a transfer made before under the same key: the
// same one is signalled again (finishing what a cut-off call began);
// another under the key is refused.
func (g *Gateway) transferAgain(ctx context.Context, q *db.Queries, in TransferIn, prev db.Transfer, key string) (TransferOut, error) {
	out := TransferOut{TransferID: prev.TransferID, Cents: prev.AmountInCents, Key: key, Again: true}
	if prev.ToLeaseID != in.ToLeaseID || (in.Cents != 0 && in.Cents != prev.AmountInCents) {
		return out, fail(Conflict, "idempotency_key_reused", "key", "the key %s was used for another transfer (%s to lease %s)",
			key, money.FormatIn(prev.Currency, prev.AmountInCents), prev.ToLeaseID)
	}
	p, err := q.GetTransferPayment(ctx, pgtype.Int8{Int64: prev.TransferID, Valid: true})
	if err != nil {
		return out, unavailable("the database", err)
	}
	out.PaymentID = p.PaymentID
	return out, g.signalTransfer(ctx, prev)
}

// signalTransfer tells both leases' workflows: each reads the transfer.
func (g *Gateway) signalTransfer(ctx context.Context, t db.Transfer) error {
	err := g.Signal(ctx, t.FromLeaseID, workflows.SignalTransfer, workflows.MoveSignal{ID: t.TransferID})
	if err2 := g.Signal(ctx, t.ToLeaseID, workflows.SignalTransfer, workflows.MoveSignal{ID: t.TransferID}); err == nil {
		err = err2
	}
	return err
}

// PartialRefund refunds part (or all) of a lease's refundable amount
// before its settlement.
func (g *Gateway) PartialRefund(ctx context.Context, who Principal, in PartialRefundIn) (out PartialRefundOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "refund.partial", in, ignoreNotSignalled(err)) }()
	in.Reason = strings.TrimSpace(in.Reason)
	if len(in.Reason) > MaxReason {
		return out, fail(Invalid, "too_long", "reason", "the reason is longer than %d characters", MaxReason)
	}
	if in.Cents != 0 {
		if err := CheckCents("amount_in_cents", in.Cents); err != nil {
			return out, err
		}
	}
	q, l, err := g.factLease(ctx, who, "refund.partial", in.LeaseID)
	if err != nil {
		return out, err
	}
	if err := checkCurrency(l, in.Currency); err != nil {
		return out, err
	}
	if out.Key, err = moveKey(who, in.Key, "refund", in.LeaseID, in.Cents); err != nil {
		return out, err
	}
	key := "partial-refund/" + in.LeaseID + "/" + out.Key
	if prev, err := q.GetPartialRefundByKey(ctx, key); err == nil {
		return g.partialAgain(ctx, q, in, prev, out.Key)
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return out, unavailable("the database", err)
	}
	if err := g.takesMoves(ctx, in.LeaseID); err != nil {
		return out, err
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	var r db.PartialRefund
	var queues []activities.WebhookQueue
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := settleGuard(ctx, q, in.LeaseID); err != nil {
			return err
		}
		avail, books, err := available(ctx, q, in.LeaseID)
		if err != nil {
			return err
		}
		cents, err := amountFor(l, "refund", in.Cents, avail)
		if err != nil {
			return err
		}
		if err := byHand(ctx, q, l, "partial refund", cents); err != nil {
			return err
		}
		s := books.State()
		payouts := deposit.PlannedPayouts(s, cents)
		if len(payouts) == 0 {
			return fail(Conflict, "no_payee", "lease_id", "lease %s has no tenant to refund", in.LeaseID)
		}
		r, err = q.InsertPartialRefund(ctx, db.InsertPartialRefundParams{LeaseID: in.LeaseID, Currency: l.Lease.Currency, AmountInCents: cents,
			Reason: in.Reason, CreatedBy: who.by(), IdempotencyKey: key})
		if err != nil {
			return err
		}
		t := s.Terms()
		for i, p := range payouts {
			res, err := q.GetResident(ctx, p.ResidentID)
			if err != nil {
				return err
			}
			row, err := q.InsertPartialRefundPayout(ctx, db.InsertPartialRefundPayoutParams{LeaseID: in.LeaseID, ResidentID: p.ResidentID,
				AmountInCents: p.AmountCents, ReceivedCents: t.ReceivedCents, ArrearsCents: t.ArrearsCents, DeductionsCents: t.DeductionsCents,
				KeptCents: t.KeptCents, RecipientName: p.Name, RecipientEmail: p.Email, RecipientAddress: res.ForwardingAddress,
				IdempotencyKey: fmt.Sprintf("%s/refund/%d", key, i+1), PartialRefundID: pgtype.Int8{Int64: r.PartialRefundID, Valid: true}})
			if err != nil {
				return err
			}
			p.RefundID = row.RefundID
			out.Payouts = append(out.Payouts, p)
			qs, err := activities.EmitRefundDue(ctx, q, in.LeaseID, row.IdempotencyKey, webhook.RefundDue{RefundID: row.RefundID,
				AmountInCents: row.AmountInCents, RecipientName: row.RecipientName, RecipientEmail: row.RecipientEmail, RecipientAddress: row.RecipientAddress})
			if err != nil {
				return err
			}
			queues = append(queues, qs...)
		}
		return nil
	})
	if IsUniqueViolation(err) {
		prev, err := q.GetPartialRefundByKey(ctx, key)
		if err != nil {
			return out, unavailable("the database", err)
		}
		return g.partialAgain(ctx, q, in, prev, out.Key)
	}
	if err != nil {
		return out, txErr(err)
	}
	out.PartialRefundID, out.Cents = r.PartialRefundID, r.AmountInCents
	if err := g.WakeWebhooks(ctx, queues); err != nil {
		g.log("webhook delivery not started: the next reconcile pass starts it", err, "lease_id", in.LeaseID)
	}
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalPartialRefund, workflows.MoveSignal{ID: r.PartialRefundID})
}

func (g *Gateway) partialAgain(ctx context.Context, q *db.Queries, in PartialRefundIn, prev db.PartialRefund, key string) (PartialRefundOut, error) {
	out := PartialRefundOut{PartialRefundID: prev.PartialRefundID, Cents: prev.AmountInCents, Key: key, Again: true, Payouts: []deposit.Payout{}}
	if in.Cents != 0 && in.Cents != prev.AmountInCents {
		return out, fail(Conflict, "idempotency_key_reused", "key", "the key %s was used for another partial refund (%s)", key, money.FormatIn(prev.Currency, prev.AmountInCents))
	}
	rows, err := q.ListPartialRefundPayouts(ctx, pgtype.Int8{Int64: prev.PartialRefundID, Valid: true})
	if err != nil {
		return out, unavailable("the database", err)
	}
	for _, p := range rows {
		out.Payouts = append(out.Payouts, deposit.Payout{RefundID: p.RefundID, ResidentID: p.ResidentID, Email: p.RecipientEmail, Name: p.RecipientName, AmountCents: p.AmountInCents})
	}
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalPartialRefund, workflows.MoveSignal{ID: prev.PartialRefundID})
}

// OpenInvoiceIn is an invoice held open against the tenant (arrears the
// PMS bills outside the deposit).
type OpenInvoiceIn struct {
	LeaseID     string `json:"lease_id"`
	Reference   string `json:"reference"`
	Cents       int64  `json:"amount_in_cents"`
	Currency    string `json:"currency,omitempty"`
	Description string `json:"description"`
}

// OpenInvoice is an open invoice and what the deposit paid of it.
type OpenInvoice struct {
	Reference    string    `json:"reference"`
	Cents        int64     `json:"amount_in_cents"`
	AppliedCents int64     `json:"applied_cents"`
	OpenCents    int64     `json:"open_cents"`
	Description  string    `json:"description"`
	CreatedBy    string    `json:"created_by"`
	CreatedAt    time.Time `json:"created_at"`
	Again        bool      `json:"-"`
}

// AddOpenInvoice records an open invoice of a lease, once per reference.
func (g *Gateway) AddOpenInvoice(ctx context.Context, who Principal, in OpenInvoiceIn) (out OpenInvoice, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "invoice.add", in, err) }()
	if err := CheckID("reference", in.Reference); err != nil {
		return out, err
	}
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
	if err := who.may("invoice.add"); err != nil {
		return out, err
	}
	q, l, err := g.lease(ctx, who, in.LeaseID)
	if err != nil {
		return out, err
	}
	if err := checkCurrency(l, in.Currency); err != nil {
		return out, err
	}
	_, err = q.InsertOpenInvoice(ctx, db.InsertOpenInvoiceParams{LeaseID: in.LeaseID, Currency: l.Lease.Currency, Reference: in.Reference,
		AmountInCents: in.Cents, Description: in.Description, CreatedBy: who.by()})
	again := IsUniqueViolation(err)
	if err != nil && !again {
		return out, unavailable("the database", err)
	}
	row, err := q.GetOpenInvoice(ctx, db.GetOpenInvoiceParams{LeaseID: in.LeaseID, Reference: in.Reference})
	if err != nil {
		return out, unavailable("the database", err)
	}
	out = openInvoice(row)
	out.Again = again
	if again && (row.AmountInCents != in.Cents || row.Description != in.Description) {
		return out, fail(Conflict, "duplicate_reference", "reference", "invoice %s is already open on lease %s for %s: give another reference if this is a different invoice",
			in.Reference, in.LeaseID, money.FormatIn(l.Lease.Currency, row.AmountInCents))
	}
	return out, nil
}

func openInvoice(o db.GetOpenInvoiceRow) OpenInvoice {
	return OpenInvoice{Reference: o.Reference, Cents: o.AmountInCents, AppliedCents: o.AppliedCents, OpenCents: o.AmountInCents - o.AppliedCents,
		Description: o.Description, CreatedBy: o.CreatedBy, CreatedAt: o.CreatedAt.UTC()}
}

// OpenInvoices lists a lease's open invoices.
func (g *Gateway) OpenInvoices(ctx context.Context, who Principal, leaseID string) ([]OpenInvoice, error) {
	q, _, err := g.readLease(ctx, who, leaseID)
	if err != nil {
		return nil, err
	}
	rows, err := q.ListOpenInvoices(ctx, leaseID)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	out := []OpenInvoice{}
	for _, r := range rows {
		out = append(out, openInvoice(db.GetOpenInvoiceRow(r)))
	}
	return out, nil
}

// ApplyInvoiceIn applies the deposit to an open invoice.
type ApplyInvoiceIn struct {
	LeaseID   string `json:"lease_id"`
	Reference string `json:"invoice"`
	Cents     int64  `json:"amount_in_cents,omitempty"` // 0: what is open of it, up to the refundable amount
	Key       string `json:"key,omitempty"`
}

// ApplyInvoice applies the lease's refundable amount to an open invoice:
// an arrears charge (code INVOICE) naming it, which the settlement takes
// from the deposit before anything is paid out. Above the property's
// threshold after the move-out it waits for a books_admin as any charge.
func (g *Gateway) ApplyInvoice(ctx context.Context, who Principal, in ApplyInvoiceIn) (out ChargeOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "invoice.apply", in, ignoreNotSignalled(err)) }()
	if err := CheckID("invoice", in.Reference); err != nil {
		return out, err
	}
	if in.Cents != 0 {
		if err := CheckCents("amount_in_cents", in.Cents); err != nil {
			return out, err
		}
	}
	q, l, err := g.factLease(ctx, who, "invoice.apply", in.LeaseID)
	if err != nil {
		return out, err
	}
	inv, err := q.GetOpenInvoice(ctx, db.GetOpenInvoiceParams{LeaseID: in.LeaseID, Reference: in.Reference})
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(NotFound, "invoice_not_found", "invoice", "lease %s has no open invoice %s (deposits invoice list %s)", in.LeaseID, in.Reference, in.LeaseID)
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	ref, err := moveKey(who, in.Key, "apply", in.Reference, in.Cents)
	if err != nil {
		return out, err
	}
	key := pgtype.Text{String: chargeKey(in.LeaseID, "invoice/"+in.Reference+"/"+ref), Valid: true}
	if prev, err := q.GetChargeByKey(ctx, key); err == nil {
		out = ChargeOut{ChargeID: prev.ChargeID, Ref: in.Reference, Code: prev.ChargeCodeID, Category: prev.Category, Again: true, Pending: prev.Approval == "pending"}
		if in.Cents != 0 && in.Cents != prev.AmountInCents {
			return out, fail(Conflict, "idempotency_key_reused", "key", "the key %s applied %s to invoice %s before", ref, money.FormatIn(prev.Currency, prev.AmountInCents), in.Reference)
		}
		return out, g.Signal(ctx, in.LeaseID, workflows.SignalCharge, deposit.Charge{ChargeID: prev.ChargeID, Code: prev.ChargeCodeID,
			Category: prev.Category, AmountCents: prev.AmountInCents, Description: prev.Description})
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return out, unavailable("the database", err)
	}
	if err := g.checkNotForfeited(ctx, in.LeaseID); err != nil {
		return out, err
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	var ch db.Charge
	var approval string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if _, err := q.LockLeaseThreshold(ctx, in.LeaseID); err != nil {
			return err
		}
		row, err := q.GetOpenInvoice(ctx, db.GetOpenInvoiceParams{LeaseID: in.LeaseID, Reference: in.Reference})
		if err != nil {
			return err
		}
		open := row.AmountInCents - row.AppliedCents
		if open <= 0 {
			return fail(Conflict, "invoice_paid", "invoice", "invoice %s of lease %s is paid from the deposit already (%s)", in.Reference, in.LeaseID,
				money.FormatIn(l.Lease.Currency, row.AppliedCents))
		}
		avail, _, err := available(ctx, q, in.LeaseID)
		if err != nil {
			return err
		}
		cents := in.Cents
		if cents == 0 {
			cents = min(open, avail)
		}
		switch {
		case cents > open:
			return fail(Conflict, "over_invoice", "amount_in_cents", "%s is more than the %s still open on invoice %s", money.FormatIn(l.Lease.Currency, cents),
				money.FormatIn(l.Lease.Currency, open), in.Reference)
		case avail <= 0:
			return fail(Conflict, "nothing_refundable", "lease_id", "lease %s has nothing refundable to apply (its refundable amount is %s)", in.LeaseID,
				money.FormatIn(l.Lease.Currency, avail))
		case cents > avail:
			return fail(Conflict, "over_refundable", "amount_in_cents", "%s is more than lease %s's refundable amount of %s: nothing was applied",
				money.FormatIn(l.Lease.Currency, cents), in.LeaseID, money.FormatIn(l.Lease.Currency, avail))
		}
		if approval, err = chargeApproval(ctx, q, who, l, deposit.CategoryArrears, cents); err != nil {
			return err
		}
		desc := fmt.Sprintf("Invoice %s: %s", in.Reference, row.Description)
		if len(desc) > MaxDescription {
			desc = desc[:MaxDescription]
		}
		ch, err = q.InsertInvoiceCharge(ctx, db.InsertInvoiceChargeParams{LeaseID: in.LeaseID, ResidentID: l.Resident.ResidentID, AmountInCents: cents,
			Description: desc, IdempotencyKey: key, CreatedBy: who.by(), Origin: who.origin(), Approval: approval,
			OpenInvoiceID: pgtype.Int8{Int64: inv.OpenInvoiceID, Valid: true}})
		return err
	})
	if err != nil {
		return out, txErr(err)
	}
	out = ChargeOut{ChargeID: ch.ChargeID, Ref: in.Reference, Code: ch.ChargeCodeID, Category: deposit.CategoryArrears, Pending: approval == "pending"}
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalCharge, chargeSignal(ch, deposit.CategoryArrears))
}
