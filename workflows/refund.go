package workflows

// Outcomes of a closed deposit.
const (
	OutcomeRefunded          = "refunded"           // everything received went back
	OutcomePartiallyRefunded = "partially_refunded" // some kept, the rest refunded
	OutcomeKept              = "kept"               // charges used up exactly what was received
	OutcomeBalanceOwed       = "balance_owed"       // charges exceed the deposit: invoice issued
	OutcomeNothingDue        = "nothing_due"        // nothing received, nothing owed
)

// Settlement is the result of the refund maths.
type Settlement struct {
	RefundCents      int64  `json:"refund_cents"`
	BalanceOwedCents int64  `json:"balance_owed_cents"`
	Outcome          string `json:"outcome"`
}

// ComputeRefund applies the seeds' formula:
//
//	refundable = received − (arrears + deductions)
//
// Above zero the tenant gets a refund; below zero the tenant owes the
// difference and gets an invoice; at zero nothing moves. Inputs are cents and
// never negative (the workflow only adds positive amounts).
func ComputeRefund(receivedCents, arrearsCents, deductionsCents int64) Settlement {
	refundable := receivedCents - (arrearsCents + deductionsCents)
	switch {
	case refundable < 0:
		return Settlement{BalanceOwedCents: -refundable, Outcome: OutcomeBalanceOwed}
	case refundable == 0 && receivedCents == 0:
		return Settlement{Outcome: OutcomeNothingDue}
	case refundable == 0:
		return Settlement{Outcome: OutcomeKept}
	case refundable == receivedCents:
		return Settlement{RefundCents: refundable, Outcome: OutcomeRefunded}
	default:
		return Settlement{RefundCents: refundable, Outcome: OutcomePartiallyRefunded}
	}
}
