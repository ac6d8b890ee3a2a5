package deposit

import (
	"slices"
	"strconv"
	"time"

	"github.com/depositflow/depositflow/internal/rules"
)

// The facts of a lease fold into its State the same way wherever they are
// read: the workflow applies them one by one as they arrive, and the books
// code (activities) folds the database's rows to check the workflow's
// settlement and to build the emails. Both call these, so a term of the
// refund maths is summed once.

// AddPayment counts a payment in: paid, received and held.
func (s *State) AddPayment(p Payment) {
	s.Payments = append(s.Payments, p)
	s.addReceived(p.AmountCents)
}

// ReturnPayment marks a payment returned and takes it out of what was
// received. It returns false when the lease has no such payment, or it was
// returned already.
func (s *State) ReturnPayment(paymentID int64, reason string) bool {
	for i := range s.Payments {
		p := &s.Payments[i]
		if p.PaymentID != paymentID {
			continue
		}
		if p.Returned {
			return false
		}
		p.Returned, p.ReturnReason = true, reason
		s.addReceived(-p.AmountCents)
		return true
	}
	return false
}

func (s *State) addReceived(cents int64) {
	s.PaidCents += cents
	s.ReceivedCents += cents
	s.HeldCents += cents
}

// AddDepositRow adds a deposit row to the totals of its type. Cash is what
// the tenant must pay; prepaid was paid ahead and counts as received; a
// guarantee is no cash at all. The payee is the one the newest row (the
// highest ID) names, whatever order the rows arrive in.
func (s *State) AddDepositRow(row DepositRow) {
	s.Deposits = append(s.Deposits, row)
	switch row.Type {
	case DepositCash:
		s.ExpectedCents += row.AmountCents
	case DepositPrepaid:
		s.PrepaidCents += row.AmountCents
		s.ReceivedCents += row.AmountCents
		s.HeldCents += row.AmountCents
	case DepositGuarantee:
		s.GuaranteeCents += row.AmountCents
		if row.Guarantor != "" && !slices.Contains(s.Guarantors, row.Guarantor) {
			s.Guarantors = append(s.Guarantors, row.Guarantor)
		}
	}
	if row.PayeeEmail != "" && !slices.ContainsFunc(s.Deposits, func(r DepositRow) bool { return r.PayeeEmail != "" && r.DepositID > row.DepositID }) {
		s.PayeeEmail, s.PayeeName = row.PayeeEmail, row.PayeeName
	}
}

// AddCharge adds a ledger charge to its term of the refund maths.
func (s *State) AddCharge(ch Charge) {
	s.Charges = append(s.Charges, ch)
	switch ch.Category {
	case CategoryArrears:
		s.ArrearsCents += ch.AmountCents
	case CategoryCredit:
		s.CreditsCents += ch.AmountCents
		s.HeldCents += ch.AmountCents
	default:
		s.DeductionsCents += ch.AmountCents
	}
}

// AddEarlierRefund counts money that left the deposit before the
// settlement (a transfer out, a partial refund): no longer held, and an
// earlier refund of the refundable formula.
func (s *State) AddEarlierRefund(e EarlierRefund) {
	s.EarlierRefunds = append(s.EarlierRefunds, e)
	s.EarlierRefundsCents += e.AmountCents
	s.HeldCents -= e.AmountCents
}

// AddKeep applies an amount kept by a manager's decision.
func (s *State) AddKeep(k Keep) {
	s.Kept = append(s.Kept, k)
	s.KeptCents += k.AmountCents
}

// ClearFacts empties every fact and its totals (payments, deposit rows,
// charges, keeps and the items awaiting approval), keeping the rest: the
// lease, its tenants, its clock and its decisions. The facts can then be
// folded again from the database.
func (s *State) ClearFacts() {
	s.Payments, s.Charges, s.Deposits, s.Kept, s.Pending = []Payment{}, []Charge{}, []DepositRow{}, []Keep{}, []Pending{}
	s.Guarantors, s.PayeeEmail, s.PayeeName, s.PendingKeep, s.EarlierRefunds = nil, "", "", nil, nil
	s.EarlierRefundsCents = 0
	s.ExpectedCents, s.PrepaidCents, s.GuaranteeCents = 0, 0, 0
	s.PaidCents, s.ReceivedCents, s.CreditsCents, s.ArrearsCents, s.DeductionsCents, s.KeptCents, s.HeldCents = 0, 0, 0, 0, 0, 0, 0
}

// Approval states of a charge or deposit row (migration 009): a row written
// 'pending' waits for a books_admin and does not count until 'approved';
// 'none' never needed an approval; 'declined' never counts.
const (
	ApprovalNone     = "none"
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDeclined = "declined"
)

// Counts says whether a row with this approval counts in the refund maths.
func Counts(approval string) bool {
	return approval == "" || approval == ApprovalNone || approval == ApprovalApproved
}

// Kinds of items that wait for a books_admin's approval.
const (
	PendingKeep    = "keep"    // a manager's keep that brought the lease's total above the threshold
	PendingCharge  = "charge"  // a charge written 'pending' (a deduction or credit above the threshold)
	PendingDeposit = "deposit" // a deposit row written 'pending' (a payee change, an amendment after a payment)
)

// Pending is one item awaiting a books_admin's decision. Item names it in
// an approve or decline ("keep:12", "charge:34", "deposit:56").
type Pending struct {
	Item        string    `json:"item"`
	Kind        string    `json:"kind"`
	ID          int64     `json:"id"`
	AmountCents int64     `json:"amount_cents"`
	Reason      string    `json:"reason"` // a keep's reason, a charge's or deposit row's description
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	// What the item applies when approved: exactly one is set.
	Keep    *Keep       `json:"keep,omitempty"`
	Charge  *Charge     `json:"charge,omitempty"`
	Deposit *DepositRow `json:"deposit,omitempty"`
}

// ItemID names a pending item: "keep:12".
func ItemID(kind string, id int64) string { return kind + ":" + strconv.FormatInt(id, 10) }

// AddPending adds an item awaiting approval. A pending keep also shows as
// PendingKeep, as it did before other items could wait.
func (s *State) AddPending(p Pending) {
	s.Pending = append(s.Pending, p)
	if p.Kind == PendingKeep && p.Keep != nil && s.PendingKeep == nil {
		k := *p.Keep
		s.PendingKeep = &k
	}
}

// FindPending returns the pending item named, or nil.
func (s *State) FindPending(item string) *Pending {
	for i := range s.Pending {
		if s.Pending[i].Item == item {
			return &s.Pending[i]
		}
	}
	return nil
}

// RemovePending takes an item off the list (approved, declined or lapsed).
func (s *State) RemovePending(item string) {
	s.Pending = slices.DeleteFunc(s.Pending, func(p Pending) bool { return p.Item == item })
	s.PendingKeep = nil
	for _, p := range s.Pending {
		if p.Kind == PendingKeep && p.Keep != nil {
			k := *p.Keep
			s.PendingKeep = &k
			break
		}
	}
}

// AwaitsApproval says whether anything waits for a books_admin.
func (s *State) AwaitsApproval() bool { return len(s.Pending) > 0 || s.PendingKeep != nil }

// InterestOwed is the interest owed under the state's rule (s.Rule must be
// set) on the payments still held, each from its day until the given
// instant: the workflow's figure and the books' check compute it here.
func (s State) InterestOwed(until, leaseStart time.Time, buildingUnits int) rules.InterestOwed {
	var held []rules.Held
	for _, p := range s.Payments {
		if p.Returned {
			continue
		}
		since, err := time.Parse(time.DateOnly, p.Date)
		if err != nil {
			since = s.MovedOutAt
		}
		held = append(held, rules.Held{Cents: p.AmountCents, Since: since})
	}
	return s.Rule.Interest.Owed(rules.InterestFacts{
		Held: held, Until: until, LeaseStart: leaseStart, MovedOut: s.MovedOutAt, BuildingUnits: buildingUnits,
	})
}
