package deposit

// Outcomes of a closed deposit.
const (
	OutcomeRefunded          = "refunded"           // everything received went back
	OutcomePartiallyRefunded = "partially_refunded" // some kept, the rest refunded
	OutcomeKept              = "kept"               // charges used up exactly what was received
	OutcomeBalanceOwed       = "balance_owed"       // charges exceed the deposit: invoice issued
	OutcomeNothingDue        = "nothing_due"        // nothing received, nothing owed
)

// Terms are the figures of the refund maths (seed 002), all in cents and
// none negative.
type Terms struct {
	ReceivedCents       int64 `json:"received_cents"`        // cash paid (less returned payments) plus prepaid deposits
	InterestCents       int64 `json:"interest_cents"`        // interest owed to the tenant on the deposit
	CreditsCents        int64 `json:"credits_cents"`         // unallocated credits to the tenant
	ArrearsCents        int64 `json:"arrears_cents"`         // unpaid charges on the ledger (rent, fees)
	DeductionsCents     int64 `json:"deductions_cents"`      // move-out charges (cleaning, damage)
	KeptCents           int64 `json:"kept_cents"`            // kept by a manager's decision
	EarlierRefundsCents int64 `json:"earlier_refunds_cents"` // refunds or transfers already made
}

// Refundable is the seed's formula:
//
//	refundable = received + interest − (arrears + deductions + kept + earlier refunds) + credits
func (t Terms) Refundable() int64 {
	return t.ReceivedCents + t.InterestCents + t.CreditsCents -
		(t.ArrearsCents + t.DeductionsCents + t.KeptCents + t.EarlierRefundsCents)
}

// Settlement is the result of the refund maths.
type Settlement struct {
	RefundCents      int64  `json:"refund_cents"`
	BalanceOwedCents int64  `json:"balance_owed_cents"`
	Outcome          string `json:"outcome"`
}

// Settle applies the refund maths. Above zero the tenant gets a refund; below
// zero the tenant owes the difference and gets an invoice; at zero nothing
// moves. Always: RefundCents − BalanceOwedCents = t.Refundable().
func Settle(t Terms) Settlement {
	r := t.Refundable()
	taken := t.ArrearsCents + t.DeductionsCents + t.KeptCents
	switch {
	case r < 0:
		return Settlement{BalanceOwedCents: -r, Outcome: OutcomeBalanceOwed}
	case r == 0 && t.ReceivedCents == 0 && taken == 0:
		return Settlement{Outcome: OutcomeNothingDue}
	case r == 0 && taken == 0 && t.EarlierRefundsCents > 0:
		// Everything went back before the settlement (#16): refunded early
		// or transferred to another lease; nothing is left to pay.
		return Settlement{Outcome: OutcomeRefunded}
	case r == 0:
		return Settlement{Outcome: OutcomeKept}
	case taken == 0:
		return Settlement{RefundCents: r, Outcome: OutcomeRefunded}
	default:
		return Settlement{RefundCents: r, Outcome: OutcomePartiallyRefunded}
	}
}

// ComputeRefund is Settle for the three terms every lease has.
func ComputeRefund(receivedCents, arrearsCents, deductionsCents int64) Settlement {
	return Settle(Terms{ReceivedCents: receivedCents, ArrearsCents: arrearsCents, DeductionsCents: deductionsCents})
}

// SplitCents divides total among shares (positive weights) so that the parts
// add up to total exactly: each part is its exact share rounded down, and
// the cents left over go one each to the largest remainders, earlier shares
// first on a tie. No share, or no positive share, gets everything in one part.
func SplitCents(total int64, shares []int64) []int64 {
	if len(shares) == 0 {
		return nil
	}
	var sum int64
	for _, s := range shares {
		if s > 0 {
			sum += s
		}
	}
	parts := make([]int64, len(shares))
	if sum == 0 {
		parts[0] = total
		return parts
	}
	rem := make([]int64, len(shares))
	var given int64
	for i, s := range shares {
		if s <= 0 {
			continue
		}
		// total*s may overflow for absurd inputs; amounts here are far below
		// 2^63 / 2^31 (money.MaxCents times a share of at most 2^31).
		parts[i] = total * s / sum
		rem[i] = total * s % sum
		given += parts[i]
	}
	for left := total - given; left > 0; left-- {
		best := -1
		for i, s := range shares {
			if s > 0 && (best < 0 || rem[i] > rem[best]) {
				best = i
			}
		}
		parts[best]++
		rem[best] = -1
	}
	return parts
}

// Terms are the figures of the refund maths as the state stands: a missed
// deadline that forfeits deductions takes nothing from the tenant.
func (s State) Terms() Terms {
	if s.Forfeited {
		// A missed deadline forfeits the right to withhold: nothing is taken.
		s.ArrearsCents, s.DeductionsCents, s.KeptCents = 0, 0, 0
	}
	return Terms{
		ReceivedCents: s.ReceivedCents, InterestCents: s.InterestCents, CreditsCents: s.CreditsCents,
		ArrearsCents: s.ArrearsCents, DeductionsCents: s.DeductionsCents, KeptCents: s.KeptCents,
		EarlierRefundsCents: s.EarlierRefundsCents,
	}
}

// PlannedPayouts splits a refund: all of it to the newest payee when an
// amendment named one, otherwise among the tenants by their shares, to the cent.
func PlannedPayouts(s State, refund int64) []Payout {
	if refund <= 0 || len(s.Tenants) == 0 {
		return []Payout{}
	}
	if s.PayeeEmail != "" {
		return []Payout{{ResidentID: s.Tenants[0].ResidentID, Email: s.PayeeEmail, Name: s.PayeeName, AmountCents: refund}}
	}
	shares := make([]int64, len(s.Tenants))
	for i, t := range s.Tenants {
		shares[i] = t.Share
	}
	var out []Payout
	for i, part := range SplitCents(refund, shares) {
		if part > 0 {
			t := s.Tenants[i]
			out = append(out, Payout{ResidentID: t.ResidentID, Email: t.Email, Name: t.Name, AmountCents: part})
		}
	}
	return out
}
