package activities

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
)

// The database is the book of record (issue #15). A signal only wakes a
// lease's workflow: it names a fact by its database ID, and the workflow
// reads the fact here, in a local activity, scoped to its own lease. An ID
// the lease does not have answers Found false, never an error: the workflow
// then ignores the signal and says so, and a retry could not change that.

// FactInput names one fact of a lease by its database ID (none for the
// lease's own move-out and forwarding address).
type FactInput struct {
	LeaseID string
	ID      int64
}

// PaymentFact is a payment row of the lease, as it stands: Returned is set
// when it came back.
type PaymentFact struct {
	Found   bool
	Payment deposit.Payment
}

// ReturnedPaymentFact is a returned payment with the NSF fee charged for it
// in the same transaction (idempotency key nsf/<lease>/<reference>), if any.
// Found is false for a payment the lease does not have or that the database
// does not show as returned.
type ReturnedPaymentFact struct {
	Found   bool
	Payment deposit.Payment
	Fee     *ChargeRow
}

// ChargeRow is a ledger charge with what decides whether it counts: its
// approval (none, pending, approved, declined) and who wrote it.
type ChargeRow struct {
	deposit.Charge
	Approval  string
	Origin    string // system, user, integration
	CreatedBy string
	CreatedAt time.Time
	DecidedBy string
}

// ChargeFact is a charge of the lease.
type ChargeFact struct {
	Found  bool
	Charge ChargeRow
}

// DepositRowFact is a deposit row (the first cash row or an amendment) with
// its approval.
type DepositRowFact struct {
	deposit.DepositRow
	Source    string
	Approval  string
	CreatedBy string
	CreatedAt time.Time
	DecidedBy string
}

// DepositFact is an amendment of the lease's deposit.
type DepositFact struct {
	Found bool
	Row   DepositRowFact
}

// MoveOutFact is the lease's own move-out (leases.realized_move_out_at).
type MoveOutFact struct {
	Found bool
	At    time.Time
}

// ForwardingFact is the tenant's written forwarding address on the lease,
// and when the first one arrived.
type ForwardingFact struct {
	Found   bool
	Address string
	At      time.Time
}

// KeepRow is a manager's keep as the keeps table holds it.
type KeepRow struct {
	deposit.Keep
	Status string // applied, pending, declined, lapsed
}

// ReadPayment reads a payment of the lease.
func (a *Activities) ReadPayment(ctx context.Context, in FactInput) (PaymentFact, error) {
	p, err := a.q().GetLeasePayment(ctx, db.GetLeasePaymentParams{PaymentID: in.ID, LeaseID: in.LeaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		return PaymentFact{}, nil
	}
	if err != nil {
		return PaymentFact{}, err
	}
	pay, err := transferPayment(ctx, a.q(), p)
	if err != nil {
		return PaymentFact{}, err
	}
	return PaymentFact{Found: true, Payment: pay}, nil
}

// ReadReturnedPayment reads a payment of the lease that came back, and the
// fee charge written with its return.
func (a *Activities) ReadReturnedPayment(ctx context.Context, in FactInput) (ReturnedPaymentFact, error) {
	q := a.q()
	p, err := q.GetLeasePayment(ctx, db.GetLeasePaymentParams{PaymentID: in.ID, LeaseID: in.LeaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		return ReturnedPaymentFact{}, nil
	}
	if err != nil {
		return ReturnedPaymentFact{}, err
	}
	if p.ReturnedAt == nil {
		return ReturnedPaymentFact{}, nil
	}
	out := ReturnedPaymentFact{Found: true, Payment: paymentOf(p)}
	fee, err := q.GetChargeByKey(ctx, NSFFeeKey(in.LeaseID, p.Reference))
	if err == nil && fee.LeaseID == in.LeaseID {
		c := chargeRow(db.GetLeaseChargeRow(fee))
		out.Fee = &c
	} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return ReturnedPaymentFact{}, err
	}
	return out, nil
}

// NSFFeeKey is the idempotency key of the fee charged for a returned
// payment, written in the same transaction as the return.
func NSFFeeKey(leaseID, reference string) pgtype.Text {
	return pgtype.Text{String: "nsf/" + leaseID + "/" + reference, Valid: true}
}

// ReadCharge reads a charge of the lease, with its category and approval.
func (a *Activities) ReadCharge(ctx context.Context, in FactInput) (ChargeFact, error) {
	c, err := a.q().GetLeaseCharge(ctx, db.GetLeaseChargeParams{ChargeID: in.ID, LeaseID: in.LeaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		return ChargeFact{}, nil
	}
	if err != nil {
		return ChargeFact{}, err
	}
	return ChargeFact{Found: true, Charge: chargeRow(c)}, nil
}

// ReadDepositRow reads an amendment of the lease's deposit (source
// 'amendment': the workflow's own first row is not signalled).
func (a *Activities) ReadDepositRow(ctx context.Context, in FactInput) (DepositFact, error) {
	d, err := a.q().GetLeaseAmendment(ctx, db.GetLeaseAmendmentParams{DepositID: in.ID, LeaseID: in.LeaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		return DepositFact{}, nil
	}
	if err != nil {
		return DepositFact{}, err
	}
	return DepositFact{Found: true, Row: depositRow(d)}, nil
}

// ReadMoveOut reads the lease's own move-out.
func (a *Activities) ReadMoveOut(ctx context.Context, in FactInput) (MoveOutFact, error) {
	l, err := a.q().GetLease(ctx, in.LeaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return MoveOutFact{}, nil
	}
	if err != nil {
		return MoveOutFact{}, err
	}
	if l.Lease.RealizedMoveOutAt == nil {
		return MoveOutFact{}, nil
	}
	return MoveOutFact{Found: true, At: l.Lease.RealizedMoveOutAt.UTC()}, nil
}

// ReadForwardingAddress reads the tenant's written forwarding address on the lease.
func (a *Activities) ReadForwardingAddress(ctx context.Context, in FactInput) (ForwardingFact, error) {
	l, err := a.q().GetLease(ctx, in.LeaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ForwardingFact{}, nil
	}
	if err != nil {
		return ForwardingFact{}, err
	}
	if l.Lease.ForwardingAddressAt == nil || l.Lease.ForwardingAddress == "" {
		return ForwardingFact{}, nil
	}
	return ForwardingFact{Found: true, Address: l.Lease.ForwardingAddress, At: l.Lease.ForwardingAddressAt.UTC()}, nil
}

// LeaseFacts are every fact of a lease in the database: what the books are
// computed from, and what a workflow rebuilds its view from.
type LeaseFacts struct {
	Tenants  []Tenant // in order, with shares
	Payments []deposit.Payment
	Deposits []DepositRowFact // every row: the first cash row and the amendments
	Charges  []ChargeRow      // every charge but the deposit charge itself
	Keeps    []KeepRow
	// Money that left before the settlement (#16): transfers out and
	// partial refunds, in the order they were written.
	EarlierRefunds []EarlierRefundRow
	// The lease's own move-out and forwarding address (zero: none yet).
	MovedOutAt        time.Time
	ForwardingAddress string
	ForwardingAt      time.Time
}

// ReadLeaseFacts reads every fact of a lease, for a workflow that rebuilds
// its view from the database (recheck_books with rebuild).
func (a *Activities) ReadLeaseFacts(ctx context.Context, leaseID string) (LeaseFacts, error) {
	q := a.q()
	l, err := q.GetLease(ctx, leaseID)
	if err != nil {
		return LeaseFacts{}, leaseErr(leaseID, err)
	}
	return readFacts(ctx, q, l.Lease)
}

func readFacts(ctx context.Context, q *db.Queries, l db.Lease) (LeaseFacts, error) {
	f := LeaseFacts{Tenants: []Tenant{}, Payments: []deposit.Payment{}, Deposits: []DepositRowFact{}, Charges: []ChargeRow{}, Keeps: []KeepRow{}, EarlierRefunds: []EarlierRefundRow{}}
	if l.RealizedMoveOutAt != nil {
		f.MovedOutAt = l.RealizedMoveOutAt.UTC()
	}
	if l.ForwardingAddressAt != nil && l.ForwardingAddress != "" {
		f.ForwardingAddress, f.ForwardingAt = l.ForwardingAddress, l.ForwardingAddressAt.UTC()
	}
	residents, err := q.ListLeaseResidents(ctx, l.LeaseID)
	if err != nil {
		return f, err
	}
	for _, r := range residents {
		f.Tenants = append(f.Tenants, Tenant{ResidentID: r.ResidentID, Email: r.Email, Name: r.Name, Share: int64(r.Share)})
	}
	payments, err := q.ListPayments(ctx, l.LeaseID)
	if err != nil {
		return f, err
	}
	for _, p := range payments {
		pay, err := transferPayment(ctx, q, p)
		if err != nil {
			return f, err
		}
		f.Payments = append(f.Payments, pay)
	}
	deposits, err := q.ListDeposits(ctx, l.LeaseID)
	if err != nil {
		return f, err
	}
	for _, d := range deposits {
		f.Deposits = append(f.Deposits, depositRow(d))
	}
	charges, err := q.ListCharges(ctx, l.LeaseID)
	if err != nil {
		return f, err
	}
	for _, c := range charges {
		if c.Category == "deposit" {
			continue // the deposit charge asks for the money; it is no term of the refund
		}
		f.Charges = append(f.Charges, chargeRow(db.GetLeaseChargeRow(c)))
	}
	keeps, err := q.ListKeeps(ctx, l.LeaseID)
	if err != nil {
		return f, err
	}
	for _, k := range keeps {
		f.Keeps = append(f.Keeps, keepRow(k))
	}
	if f.EarlierRefunds, err = readEarlierRefunds(ctx, q, l.LeaseID); err != nil {
		return f, err
	}
	return f, nil
}

// EarlierRefundRow is money that left a lease before its settlement: a
// transfer out, or a partial refund with its payouts (refund rows).
type EarlierRefundRow struct {
	deposit.EarlierRefund
	Payouts []deposit.Payout `json:",omitempty"`
}

// TransferFact is a transfer out of or into the lease: Out says which.
// Into it, PaymentID is the payment it was received as.
type TransferFact struct {
	Found     bool
	Out       bool
	Row       EarlierRefundRow
	FromLease string
	PaymentID int64
}

// PartialRefundFact is a partial refund of the lease with its payouts.
type PartialRefundFact struct {
	Found bool
	Row   EarlierRefundRow
}

// ReadTransfer reads a transfer out of or into the lease.
func (a *Activities) ReadTransfer(ctx context.Context, in FactInput) (TransferFact, error) {
	q := a.q()
	t, err := q.GetLeaseTransfer(ctx, db.GetLeaseTransferParams{TransferID: in.ID, LeaseID: in.LeaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		return TransferFact{}, nil
	}
	if err != nil {
		return TransferFact{}, err
	}
	f := TransferFact{Found: true, Out: t.FromLeaseID == in.LeaseID, Row: transferRow(t), FromLease: t.FromLeaseID}
	if !f.Out {
		p, err := q.GetTransferPayment(ctx, pgtype.Int8{Int64: t.TransferID, Valid: true})
		if err != nil {
			return TransferFact{}, err
		}
		f.PaymentID = p.PaymentID
	}
	return f, nil
}

// ReadPartialRefund reads a partial refund of the lease.
func (a *Activities) ReadPartialRefund(ctx context.Context, in FactInput) (PartialRefundFact, error) {
	q := a.q()
	r, err := q.GetLeasePartialRefund(ctx, db.GetLeasePartialRefundParams{PartialRefundID: in.ID, LeaseID: in.LeaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		return PartialRefundFact{}, nil
	}
	if err != nil {
		return PartialRefundFact{}, err
	}
	row, err := partialRefundRow(ctx, q, r)
	if err != nil {
		return PartialRefundFact{}, err
	}
	return PartialRefundFact{Found: true, Row: row}, nil
}

func transferRow(t db.Transfer) EarlierRefundRow {
	return EarlierRefundRow{EarlierRefund: deposit.EarlierRefund{Kind: deposit.EarlierTransfer, ID: t.TransferID, AmountCents: t.AmountInCents,
		ToLease: t.ToLeaseID, Reason: t.Reason, By: t.CreatedBy, At: t.CreatedAt.UTC()}}
}

func partialRefundRow(ctx context.Context, q *db.Queries, r db.PartialRefund) (EarlierRefundRow, error) {
	row := EarlierRefundRow{EarlierRefund: deposit.EarlierRefund{Kind: deposit.EarlierPartialRefund, ID: r.PartialRefundID, AmountCents: r.AmountInCents,
		Reason: r.Reason, By: r.CreatedBy, At: r.CreatedAt.UTC()}, Payouts: []deposit.Payout{}}
	payouts, err := q.ListPartialRefundPayouts(ctx, pgtype.Int8{Int64: r.PartialRefundID, Valid: true})
	if err != nil {
		return row, err
	}
	for _, p := range payouts {
		row.Payouts = append(row.Payouts, deposit.Payout{RefundID: p.RefundID, ResidentID: p.ResidentID, Email: p.RecipientEmail, Name: p.RecipientName, AmountCents: p.AmountInCents})
	}
	return row, nil
}

// readEarlierRefunds reads a lease's transfers out and partial refunds, in
// the order they were written.
func readEarlierRefunds(ctx context.Context, q *db.Queries, leaseID string) ([]EarlierRefundRow, error) {
	out := []EarlierRefundRow{}
	transfers, err := q.ListTransfersOut(ctx, leaseID)
	if err != nil {
		return out, err
	}
	for _, t := range transfers {
		out = append(out, transferRow(t))
	}
	partials, err := q.ListPartialRefunds(ctx, leaseID)
	if err != nil {
		return out, err
	}
	for _, r := range partials {
		row, err := partialRefundRow(ctx, q, r)
		if err != nil {
			return out, err
		}
		out = append(out, row)
	}
	slices.SortStableFunc(out, func(a, b EarlierRefundRow) int { return a.At.Compare(b.At) })
	return out, nil
}

// transferPayment is a payment row as the lease's facts show it: one that
// is a transfer in names the lease it came from.
func transferPayment(ctx context.Context, q *db.Queries, p db.Payment) (deposit.Payment, error) {
	out := paymentOf(p)
	if !p.TransferID.Valid {
		return out, nil
	}
	t, err := q.GetLeaseTransfer(ctx, db.GetLeaseTransferParams{TransferID: p.TransferID.Int64, LeaseID: p.LeaseID})
	if err != nil {
		return out, err
	}
	out.TransferFrom = t.FromLeaseID
	return out, nil
}

// Fold replaces the facts of s with these rows, summed by the same code
// the workflow applies its signals with: rows that count (approval none or
// approved, keeps applied) go into the terms, rows awaiting approval into
// s.Pending, declined and lapsed ones nowhere. The tenants are the lease's.
func (f LeaseFacts) Fold(s *deposit.State) {
	s.ClearFacts()
	s.Tenants = []deposit.Tenant{}
	for _, t := range f.Tenants {
		s.Tenants = append(s.Tenants, deposit.Tenant{ResidentID: t.ResidentID, Email: t.Email, Name: t.Name, Share: t.Share})
	}
	if len(f.Tenants) > 0 {
		s.TenantEmail, s.TenantName = f.Tenants[0].Email, f.Tenants[0].Name
	}
	for _, d := range f.Deposits {
		switch {
		case deposit.Counts(d.Approval):
			s.AddDepositRow(d.DepositRow)
		case d.Approval == deposit.ApprovalPending:
			s.AddPending(d.Pending())
		}
	}
	for _, p := range f.Payments {
		returned, reason := p.Returned, p.ReturnReason
		p.Returned, p.ReturnReason = false, ""
		s.AddPayment(p)
		if returned {
			s.ReturnPayment(p.PaymentID, reason)
		}
	}
	for _, c := range f.Charges {
		switch {
		case deposit.Counts(c.Approval):
			s.AddCharge(c.Charge)
		case c.Approval == deposit.ApprovalPending:
			s.AddPending(c.Pending())
		}
	}
	for _, k := range f.Keeps {
		switch k.Status {
		case "applied":
			s.AddKeep(k.Keep)
		case "pending":
			s.AddPending(k.Pending())
		}
	}
	for _, e := range f.EarlierRefunds {
		s.AddEarlierRefund(e.EarlierRefund)
	}
}

// Pending is a charge written 'pending' as an item awaiting approval.
func (c ChargeRow) Pending() deposit.Pending {
	ch := c.Charge
	return deposit.Pending{Item: deposit.ItemID(deposit.PendingCharge, c.ChargeID), Kind: deposit.PendingCharge, ID: c.ChargeID,
		AmountCents: c.AmountCents, Reason: c.Description, RequestedBy: c.CreatedBy, RequestedAt: c.CreatedAt, Charge: &ch}
}

// Pending is a deposit row written 'pending' as an item awaiting approval.
func (d DepositRowFact) Pending() deposit.Pending {
	row := d.DepositRow
	reason := "deposit amendment: " + d.Type
	if d.PayeeEmail != "" {
		reason = "refund payee " + d.PayeeEmail
	}
	return deposit.Pending{Item: deposit.ItemID(deposit.PendingDeposit, d.DepositID), Kind: deposit.PendingDeposit, ID: d.DepositID,
		AmountCents: d.AmountCents, Reason: reason, RequestedBy: d.CreatedBy, RequestedAt: d.CreatedAt, Deposit: &row}
}

// Pending is a keep held for approval as an item awaiting approval.
func (k KeepRow) Pending() deposit.Pending {
	keep := k.Keep
	return deposit.Pending{Item: deposit.ItemID(deposit.PendingKeep, k.KeepID), Kind: deposit.PendingKeep, ID: k.KeepID,
		AmountCents: k.AmountCents, Reason: k.Reason, RequestedBy: k.RequestedBy, RequestedAt: k.RequestedAt, Keep: &keep}
}

func paymentOf(p db.Payment) deposit.Payment {
	out := deposit.Payment{PaymentID: p.PaymentID, AmountCents: p.AmountInCents, Reference: p.Reference}
	if p.TransactionDate.Valid {
		out.Date = p.TransactionDate.Time.Format(time.DateOnly)
	}
	if p.ReturnedAt != nil {
		out.Returned, out.ReturnReason = true, p.ReturnReason
	}
	if p.Method == deposit.MethodCard {
		out.Method, out.PaymentIntent = p.Method, p.ProviderPaymentIntent.String
	}
	return out
}

func chargeRow(c db.GetLeaseChargeRow) ChargeRow {
	return ChargeRow{
		Charge:   deposit.Charge{ChargeID: c.ChargeID, Code: c.ChargeCodeID, Category: c.Category, AmountCents: c.AmountInCents, Description: c.Description},
		Approval: c.Approval, Origin: c.Origin, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt.UTC(), DecidedBy: c.DecidedBy,
	}
}

func depositRow(d db.Deposit) DepositRowFact {
	return DepositRowFact{
		DepositRow: deposit.DepositRow{DepositID: d.DepositID, Type: d.DepositType, AmountCents: d.AmountInCents,
			Guarantor: d.Guarantor, PayeeEmail: d.PayeeEmail, PayeeName: d.PayeeName},
		Source: d.Source, Approval: d.Approval, CreatedBy: d.CreatedBy, CreatedAt: d.CreatedAt.UTC(), DecidedBy: d.DecidedBy,
	}
}

func keepRow(k db.Keep) KeepRow {
	out := KeepRow{Status: k.Status, Keep: deposit.Keep{KeepID: k.KeepID, RequestID: k.RequestID.Int64, AmountCents: k.AmountInCents,
		Reason: k.Reason, RequestedBy: k.RequestedBy, RequestedAt: k.CreatedAt.UTC()}}
	if k.Status == "applied" {
		out.ApprovedBy = k.DecidedBy
	}
	return out
}
