package webhook

import "time"

// What each event's data carries (the "data" of the body). Field names are
// the API's (Propexo's): amounts in the lease's currency's minor units.

// RefundDue is a refund payable: one per payout of a settlement (one per
// co-tenant, or one to the payee), or a follow-up's refund of a payment or
// credit that came after the settlement.
type RefundDue struct {
	LeaseID          string `json:"lease_id"`
	PropertyID       string `json:"property_id"`
	UnitID           string `json:"unit_id"`
	RefundID         int64  `json:"refund_id"`
	SettlementID     int64  `json:"settlement_id,omitempty"`
	Outcome          string `json:"outcome,omitempty"`
	AmountInCents    int64  `json:"amount_in_cents"`
	Currency         string `json:"currency"`
	RecipientName    string `json:"recipient_name"`
	RecipientEmail   string `json:"recipient_email"`
	RecipientAddress string `json:"recipient_address,omitempty"`
	// Follows names the late fact a follow-up refunds ("payment:12").
	Follows string `json:"follows,omitempty"`
}

// InvoiceDue is a balance the tenant owes beyond the deposit, or a
// follow-up's invoice of a charge that came after the settlement.
type InvoiceDue struct {
	LeaseID          string `json:"lease_id"`
	PropertyID       string `json:"property_id"`
	UnitID           string `json:"unit_id"`
	InvoiceID        int64  `json:"invoice_id"`
	SettlementID     int64  `json:"settlement_id,omitempty"`
	AmountDueInCents int64  `json:"amount_due_in_cents"`
	Currency         string `json:"currency"`
	RecipientName    string `json:"recipient_name"`
	RecipientEmail   string `json:"recipient_email"`
	RecipientAddress string `json:"recipient_address,omitempty"`
	Follows          string `json:"follows,omitempty"`
}

// StageChanged is the deposit entering a stage (awaiting_payment, held,
// assessing, release_pending, books_disagree, closed).
type StageChanged struct {
	LeaseID       string     `json:"lease_id"`
	PropertyID    string     `json:"property_id"`
	UnitID        string     `json:"unit_id"`
	Stage         string     `json:"stage"`
	PreviousStage string     `json:"previous_stage"`
	Outcome       string     `json:"outcome,omitempty"`
	MovedOutAt    *time.Time `json:"moved_out_at,omitempty"`
	ReleaseAt     *time.Time `json:"release_at,omitempty"`
	ClosedAt      *time.Time `json:"closed_at,omitempty"`
}

// DeadlineAtRisk is the statutory refund deadline a week away or less (the
// compliance report's medium or high risk) when the engine reminds the
// property's manager: the deposit is on hold, awaits an approval, or is
// released close to the deadline. The engine still settles in time by
// itself (a day early); this says someone should look now.
type DeadlineAtRisk struct {
	LeaseID           string     `json:"lease_id"`
	PropertyID        string     `json:"property_id"`
	UnitID            string     `json:"unit_id"`
	Rule              string     `json:"rule"`
	StatutoryDeadline time.Time  `json:"statutory_deadline"`
	DaysLeft          int        `json:"days_left"`
	ReleaseAt         *time.Time `json:"release_at,omitempty"`
	OnHold            bool       `json:"on_hold"`
}

// AtRiskWithin is how close a statutory deadline must be for a reminder to
// be a deadline.at_risk event (deposit.RiskMedium: a week or less).
const AtRiskWithin = 7 * 24 * time.Hour
