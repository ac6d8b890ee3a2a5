package deposit

import (
	"encoding/json"
	"time"
)

// The reports people read about leases, as the server answers them and the
// CLI prints them.

// LedgerEntry is one row of a lease's ledger: money in (positive) or out (negative).
type LedgerEntry struct {
	Kind        string `json:"kind"`
	Ref         string `json:"ref"`
	Description string `json:"description"`
	Cents       int64  `json:"cents"`
}

// Ledger proves conservation from the database rows:
// received + interest + credits = held + refunded + transferred + applied, and what was
// claimed from the tenant = applied + invoiced.
type Ledger struct {
	LeaseID       string        `json:"lease_id"`
	Currency      string        `json:"currency"`
	Entries       []LedgerEntry `json:"entries"`
	ReceivedCents int64         `json:"received_cents"`
	InterestCents int64         `json:"interest_cents"`
	CreditsCents  int64         `json:"credits_cents"`
	HeldCents     int64         `json:"held_cents"`
	RefundedCents int64         `json:"refunded_cents"`
	// TransferredCents went to other leases before the settlement;
	// EarlierRefundsCents is it with the partial refunds (among
	// RefundedCents): the settlement's "previous refunds/transfers" (#16).
	TransferredCents    int64 `json:"transferred_cents"`
	EarlierRefundsCents int64 `json:"earlier_refunds_cents"`
	AppliedCents        int64 `json:"applied_cents"`
	ClaimedCents        int64 `json:"claimed_cents"`
	InvoicedCents       int64 `json:"invoiced_cents"`
	GuaranteeCents      int64 `json:"guarantee_cents"`
	// DisputedCents is what the settlement still holds for disputed items
	// (part of HeldCents), ConcededCents what their resolutions paid back
	// of what was claimed.
	DisputedCents int64 `json:"disputed_cents"`
	ConcededCents int64 `json:"conceded_cents"`
	Settled       bool  `json:"settled"`
	Conserved     bool  `json:"conserved"`
}

// AuditEntry is one action on a lease, accepted, refused or (Accepted nil)
// still under way, with who asked (as the server authenticated them), from
// where, and what they asked.
type AuditEntry struct {
	ID        int64           `json:"audit_id"`
	At        time.Time       `json:"at"`
	Actor     string          `json:"actor"`
	Role      string          `json:"role"`
	Principal string          `json:"principal"`
	Origin    string          `json:"origin"`
	LeaseID   string          `json:"lease_id"`
	Action    string          `json:"action"`
	Request   json.RawMessage `json:"request"`
	Accepted  *bool           `json:"accepted"`
	Result    string          `json:"result"`
}

// EmailEntry is one email of a lease, from the outbox.
type EmailEntry struct {
	Kind            string     `json:"kind"`
	Recipient       string     `json:"recipient"`
	Subject         string     `json:"subject"`
	MessageID       string     `json:"message_id"`
	SentAt          *time.Time `json:"sent_at"`
	Attempts        int32      `json:"attempts"`
	AttemptsInDoubt int32      `json:"attempts_in_doubt"`
	LastError       string     `json:"last_error"`
	CreatedAt       time.Time  `json:"created_at"`
}

// Risk levels of the compliance report, worst first.
const (
	RiskMissed  = "missed"  // a deadline passed
	RiskHigh    = "high"    // 3 days or fewer left
	RiskMedium  = "medium"  // a week or less
	RiskLow     = "low"     // more than a week
	RiskWaiting = "waiting" // the clock has not started (no move-out, no forwarding address)
	RiskNone    = "none"    // no statute governs
)

// ComplianceRow is one open lease against its statutory deadline.
type ComplianceRow struct {
	LeaseID      string     `json:"lease_id"`
	PropertyID   string     `json:"property_id"`
	Jurisdiction string     `json:"jurisdiction"`
	Stage        string     `json:"stage"`
	MovedOutAt   *time.Time `json:"moved_out_at,omitempty"`
	ReleaseAt    *time.Time `json:"release_at,omitempty"`
	StatementDue *time.Time `json:"statement_due,omitempty"`
	Deadline     *time.Time `json:"statutory_deadline,omitempty"`
	DaysLeft     *int       `json:"days_left,omitempty"`
	Risk         string     `json:"risk"`
	Note         string     `json:"note"`
}

// ListedLease is one lease of a list, as the database keeps it: the
// lease's workflow mirrors its stage and dates into its row as they change.
type ListedLease struct {
	LeaseID      string    `json:"lease_id"`
	PropertyID   string    `json:"property_id"`
	UnitID       string    `json:"unit_id"`
	Stage        string    `json:"stage"`
	Outcome      string    `json:"outcome,omitempty"`
	Currency     string    `json:"currency"`
	Jurisdiction string    `json:"jurisdiction"`
	MovedOutAt   time.Time `json:"moved_out_at,omitzero"`
	ReleaseAt    time.Time `json:"release_at,omitzero"`
	ClosedAt     time.Time `json:"closed_at,omitzero"`
	WorkflowID   string    `json:"workflow_id"`
	StartedAt    time.Time `json:"started_at"`
}

// ChargeCode is a kind of charge and how it counts in the refund maths.
type ChargeCode struct {
	ChargeCodeID string `json:"charge_code_id"`
	Description  string `json:"description"`
	IsDeposit    bool   `json:"is_deposit"`
	Category     string `json:"category"`
}

// Who is the caller as the server knows it.
type Who struct {
	Kind       string     `json:"kind"` // user or key
	Name       string     `json:"name"`
	Roles      []string   `json:"roles"`
	Properties []string   `json:"properties"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
}

// Invoice is money to move for a lease: a refund payout to pay to a
// resident, or a balance the resident owes.
type Invoice struct {
	InvoiceID        string    `json:"invoice_id"`
	LeaseID          string    `json:"lease_id"`
	PropertyID       string    `json:"property_id"`
	Kind             string    `json:"kind"` // refund (pay it to the recipient) or balance_owed (collect it)
	AmountDueInCents int64     `json:"amount_due_in_cents"`
	Currency         string    `json:"currency"`
	Status           string    `json:"status"`
	Recipient        Recipient `json:"recipient"`
	CreatedAt        time.Time `json:"created_at"`
}

// Recipient is who an invoice is for.
type Recipient struct {
	Name    string `json:"name"`
	Email   string `json:"email"`
	Address string `json:"address,omitempty"`
}
