package workflows

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
)

// fakeDB is the lease's database as the workflow's activities see it in
// these tests: the rows a test writes (as the server does before it
// signals), the audit rows of decisions, and what the workflow writes back
// (keeps, decisions on pending items, the mirrored view, the settlement).
// The activities' own pure code reads it: the books fold, the settlement
// check and the email envelope are activities.Books methods, so a
// disagreement here is the one SettleDeposit would find.
type fakeDB struct {
	mu sync.Mutex
	activities.Books
	threshold int64
	audit     map[int64]*auditRow
	keepKeys  map[string]int64
	nextID    int64
	fees      map[int64]*activities.ChargeRow // NSF fee charged with each returned payment
	transfers map[int64]activities.TransferFact
}

// auditRow is a decision's request as the server records it.
type auditRow struct {
	leaseID, action, actor string
	roles                  []string
	content                []byte
	decided                bool
}

func newFakeDB(leaseID string) *fakeDB {
	return &fakeDB{
		Books: activities.Books{LeaseID: leaseID, PropertyID: "maple", UnitID: "4B", Currency: "USD", ManagerEmail: managerEmail, Stage: deposit.StageAwaitingPayment,
			Facts: activities.LeaseFacts{Tenants: []activities.Tenant{}, Payments: []deposit.Payment{}, Deposits: []activities.DepositRowFact{},
				Charges: []activities.ChargeRow{}, Keeps: []activities.KeepRow{}}},
		audit: map[int64]*auditRow{}, keepKeys: map[string]int64{}, fees: map[int64]*activities.ChargeRow{}, nextID: 1000,
		transfers: map[int64]activities.TransferFact{},
	}
}

func (f *fakeDB) id() int64 { f.nextID++; return f.nextID }

// Writes a test makes, as the server would.

func (f *fakeDB) addPayment(p deposit.Payment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.ContainsFunc(f.Facts.Payments, func(q deposit.Payment) bool { return q.PaymentID == p.PaymentID }) {
		f.Facts.Payments = append(f.Facts.Payments, p)
	}
}

func (f *fakeDB) returnPayment(r PaymentReturned) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.Facts.Payments {
		if p := &f.Facts.Payments[i]; p.PaymentID == r.PaymentID && !p.Returned {
			p.Returned, p.ReturnReason = true, r.Reason
			if r.Fee != nil {
				fee := activities.ChargeRow{Charge: *r.Fee, Approval: deposit.ApprovalNone, Origin: "user", CreatedBy: "bank"}
				f.Facts.Charges = append(f.Facts.Charges, fee)
				f.fees[r.PaymentID] = &fee
			}
		}
	}
}

// addEarlier writes a transfer out or a partial refund, once.
func (f *fakeDB) addEarlier(row activities.EarlierRefundRow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.ContainsFunc(f.Facts.EarlierRefunds, func(e activities.EarlierRefundRow) bool { return e.Kind == row.Kind && e.ID == row.ID }) {
		f.Facts.EarlierRefunds = append(f.Facts.EarlierRefunds, row)
	}
}

func (f *fakeDB) addCharge(c activities.ChargeRow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.ContainsFunc(f.Facts.Charges, func(q activities.ChargeRow) bool { return q.ChargeID == c.ChargeID }) {
		f.Facts.Charges = append(f.Facts.Charges, c)
	}
}

func (f *fakeDB) addDeposit(d activities.DepositRowFact) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.ContainsFunc(f.Facts.Deposits, func(q activities.DepositRowFact) bool { return q.DepositID == d.DepositID }) {
		f.Facts.Deposits = append(f.Facts.Deposits, d)
	}
}

func (f *fakeDB) moveOut(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Facts.MovedOutAt.IsZero() { // SetRealizedMoveOut: once
		f.Facts.MovedOutAt = at.UTC()
	}
}

func (f *fakeDB) forward(address string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Facts.ForwardingAddress = address
	if f.Facts.ForwardingAt.IsZero() {
		f.Facts.ForwardingAt = at.UTC()
	}
}

// record writes a decision's audit row and returns its ID.
func (f *fakeDB) record(row auditRow) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id()
	f.audit[id] = &row
	return id
}

// change edits the rows behind the workflow's back.
func (f *fakeDB) change(edit func(*activities.Books)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(&f.Books)
}

func (f *fakeDB) books() activities.Books {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.Books
	// A copy, so that the workflow's reads do not share the test's slices.
	b.Facts.Payments = slices.Clone(b.Facts.Payments)
	b.Facts.Charges = slices.Clone(b.Facts.Charges)
	b.Facts.Deposits = slices.Clone(b.Facts.Deposits)
	b.Facts.Keeps = slices.Clone(b.Facts.Keeps)
	b.Facts.Tenants = slices.Clone(b.Facts.Tenants)
	b.Facts.EarlierRefunds = slices.Clone(b.Facts.EarlierRefunds)
	b.Disputes = slices.Clone(b.Disputes)
	return b
}

// The activities, over the fake database.

func (f *fakeDB) ReadPayment(_ context.Context, in activities.FactInput) (activities.PaymentFact, error) {
	b := f.books()
	for _, p := range b.Facts.Payments {
		if p.PaymentID == in.ID && in.LeaseID == b.LeaseID {
			return activities.PaymentFact{Found: true, Payment: p}, nil
		}
	}
	return activities.PaymentFact{}, nil
}

func (f *fakeDB) ReadReturnedPayment(_ context.Context, in activities.FactInput) (activities.ReturnedPaymentFact, error) {
	p, _ := f.ReadPayment(context.Background(), in)
	if !p.Found || !p.Payment.Returned {
		return activities.ReturnedPaymentFact{}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return activities.ReturnedPaymentFact{Found: true, Payment: p.Payment, Fee: f.fees[in.ID]}, nil
}

func (f *fakeDB) ReadCharge(_ context.Context, in activities.FactInput) (activities.ChargeFact, error) {
	b := f.books()
	for _, c := range b.Facts.Charges {
		if c.ChargeID == in.ID && in.LeaseID == b.LeaseID {
			return activities.ChargeFact{Found: true, Charge: c}, nil
		}
	}
	return activities.ChargeFact{}, nil
}

func (f *fakeDB) ReadDepositRow(_ context.Context, in activities.FactInput) (activities.DepositFact, error) {
	b := f.books()
	for _, d := range b.Facts.Deposits {
		if d.DepositID == in.ID && d.Source == "amendment" && in.LeaseID == b.LeaseID {
			return activities.DepositFact{Found: true, Row: d}, nil
		}
	}
	return activities.DepositFact{}, nil
}

func (f *fakeDB) ReadMoveOut(_ context.Context, in activities.FactInput) (activities.MoveOutFact, error) {
	b := f.books()
	if b.Facts.MovedOutAt.IsZero() || in.LeaseID != b.LeaseID {
		return activities.MoveOutFact{}, nil
	}
	return activities.MoveOutFact{Found: true, At: b.Facts.MovedOutAt}, nil
}

func (f *fakeDB) ReadForwardingAddress(_ context.Context, in activities.FactInput) (activities.ForwardingFact, error) {
	b := f.books()
	if b.Facts.ForwardingAt.IsZero() || in.LeaseID != b.LeaseID {
		return activities.ForwardingFact{}, nil
	}
	return activities.ForwardingFact{Found: true, Address: b.Facts.ForwardingAddress, At: b.Facts.ForwardingAt}, nil
}

func (f *fakeDB) ReadTransfer(_ context.Context, in activities.FactInput) (activities.TransferFact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.transfers[in.ID]
	if !ok || in.LeaseID != f.LeaseID {
		return activities.TransferFact{}, nil
	}
	return t, nil
}

func (f *fakeDB) ReadPartialRefund(_ context.Context, in activities.FactInput) (activities.PartialRefundFact, error) {
	b := f.books()
	for _, e := range b.Facts.EarlierRefunds {
		if e.Kind == deposit.EarlierPartialRefund && e.ID == in.ID && in.LeaseID == b.LeaseID {
			return activities.PartialRefundFact{Found: true, Row: e}, nil
		}
	}
	return activities.PartialRefundFact{}, nil
}

func (f *fakeDB) ReadLeaseFacts(_ context.Context, _ string) (activities.LeaseFacts, error) {
	return f.books().Facts, nil
}

// ClaimDecision follows activities.ClaimDecision's rules on the audit rows.
func (f *fakeDB) ClaimDecision(_ context.Context, in activities.ClaimInput) (activities.Claim, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	forged := func(msg string) error {
		return temporal.NewNonRetryableApplicationError(msg, activities.ErrForgedRequest, nil)
	}
	row := f.audit[in.RequestID]
	switch {
	case row == nil || row.leaseID != in.LeaseID || row.action != in.Action:
		return activities.Claim{}, forged("request is not a recorded request of lease " + in.LeaseID + " for " + in.Action)
	case row.decided:
		return activities.Claim{}, forged("request was already decided")
	}
	same, err := activities.SameContent(row.content, in.Content)
	if err != nil || !same {
		return activities.Claim{}, forged("request is not what was recorded: the audit log has " + string(row.content) + ", the update asks " + string(in.Content))
	}
	return activities.Claim{RequestID: in.RequestID, Actor: row.actor, Roles: row.roles, Principal: "user:" + row.actor}, nil
}

// ReadApprovalPolicy sums what DiscretionaryCents sums.
func (f *fakeDB) ReadApprovalPolicy(_ context.Context, _ activities.ApprovalPolicyInput) (activities.ApprovalPolicy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var total int64
	for _, k := range f.Facts.Keeps {
		if k.Status == "applied" || k.Status == "pending" {
			total += k.AmountCents
		}
	}
	out := f.Facts.MovedOutAt
	for _, c := range f.Facts.Charges {
		if c.Origin == "user" && c.Category != deposit.CategoryArrears && c.Approval != deposit.ApprovalDeclined && !out.IsZero() && !c.CreatedAt.Before(out) {
			total += c.AmountCents
		}
	}
	return activities.ApprovalPolicy{ThresholdCents: f.threshold, DiscretionaryCents: total}, nil
}

func (f *fakeDB) RecordKeep(_ context.Context, in activities.RecordKeepInput) (activities.KeepRow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.keepKeys[in.Key]; ok {
		for _, k := range f.Facts.Keeps {
			if k.KeepID == id {
				return k, nil
			}
		}
	}
	k := activities.KeepRow{Status: in.Status, Keep: deposit.Keep{KeepID: f.id(), RequestID: in.RequestID, AmountCents: in.AmountCents,
		Reason: in.Reason, RequestedBy: in.RequestedBy, RequestedAt: t0}}
	f.keepKeys[in.Key] = k.KeepID
	f.Facts.Keeps = append(f.Facts.Keeps, k)
	return k, nil
}

func (f *fakeDB) DecideApproval(_ context.Context, in activities.DecideApprovalInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	notPending := temporal.NewNonRetryableApplicationError("not pending approval in the database", activities.ErrBadData, nil)
	switch in.Kind {
	case deposit.PendingKeep:
		for i := range f.Facts.Keeps {
			if k := &f.Facts.Keeps[i]; k.KeepID == in.ID && k.Status == "pending" {
				k.Status = map[string]string{activities.DecisionApproved: "applied", activities.DecisionDeclined: "declined", activities.DecisionLapsed: "lapsed"}[in.Decision]
				if k.Status == "applied" {
					k.ApprovedBy = in.By
				}
				return nil
			}
		}
	case deposit.PendingCharge:
		for i := range f.Facts.Charges {
			if c := &f.Facts.Charges[i]; c.ChargeID == in.ID && c.Approval == deposit.ApprovalPending {
				c.Approval, c.DecidedBy = approvalOf(in.Decision), in.By
				return nil
			}
		}
	case deposit.PendingDeposit:
		for i := range f.Facts.Deposits {
			if d := &f.Facts.Deposits[i]; d.DepositID == in.ID && d.Approval == deposit.ApprovalPending {
				d.Approval, d.DecidedBy = approvalOf(in.Decision), in.By
				return nil
			}
		}
	}
	return notPending
}

func approvalOf(decision string) string {
	if decision == activities.DecisionApproved {
		return deposit.ApprovalApproved
	}
	return deposit.ApprovalDeclined
}

// saveStage keeps what SaveLeaseStage writes: the stage and the view.
func (f *fakeDB) saveStage(in activities.StageInput) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Stage, f.Outcome, f.ReleaseAt, f.ClosedAt = in.Stage, in.Outcome, in.ReleaseAt, in.ClosedAt
	if in.View != nil {
		f.View = *in.View
	}
}

// settle checks a settlement against the books as SettleDeposit does, and
// writes it when they agree.
func (f *fakeDB) settle(in activities.SettleInput, law activities.LeaseLaw) (activities.SettleResult, error) {
	b := f.books()
	if in.Books != nil && !b.Facts.MovedOutAt.IsZero() {
		b.Law = &law
	}
	if err := b.Check(in); err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && !appErr.NonRetryable() {
			// The worker would retry it for as long as it fails.
			return activities.SettleResult{}, temporal.NewNonRetryableApplicationError("retryable: "+appErr.Message(), "Retryable", nil)
		}
		return activities.SettleResult{}, err
	}
	res := activities.SettleResult{SettlementID: 40}
	st := &activities.SettledBooks{SettlementID: 40, RefundCents: in.RefundCents, BalanceOwedCents: in.BalanceOwedCents, Outcome: in.Outcome}
	for i, p := range in.Payouts {
		res.RefundIDs = append(res.RefundIDs, int64(41+i))
		st.Payouts = append(st.Payouts, deposit.Payout{RefundID: int64(41 + i), ResidentID: p.ResidentID, Email: p.Email, Name: p.Name, AmountCents: p.AmountCents})
	}
	if in.BalanceOwedCents > 0 {
		res.InvoiceID = 42
	}
	f.mu.Lock()
	f.Settled = st
	if in.HoldDisputes {
		for id, cents := range activities.PlanHolds(in, f.Disputes) {
			for i := range f.Disputes {
				if f.Disputes[i].DisputeID == id {
					f.Disputes[i].Held, f.Disputes[i].HeldCents = true, cents
				}
			}
		}
		res.Held = slices.Clone(f.Disputes)
	}
	f.mu.Unlock()
	return res, nil
}
