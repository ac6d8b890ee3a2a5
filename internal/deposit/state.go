package deposit

import (
	"slices"
	"strings"
	"time"

	"github.com/depositflow/depositflow/internal/rules"
)

// Stages of a deposit, in order. A tenant who moves out before paying in full
// goes from awaiting_payment straight to assessing.
const (
	StageAwaitingPayment = "awaiting_payment"
	StageHeld            = "held"
	StageAssessing       = "assessing"
	StageReleasePending  = "release_pending"
	StageClosed          = "closed"
	// StageBooksDisagree: at the settlement the database's books and the
	// workflow's view differed; nothing was paid, and the lease waits for an
	// admin's recheck_books (or a new fact) before it settles.
	StageBooksDisagree = "books_disagree"
)

// Limits on the durations a lease may set.
const (
	DefaultAssessFor    = 3 * 24 * time.Hour
	DefaultReleaseAfter = 14 * 24 * time.Hour
	MaxDelay            = 120 * 24 * time.Hour // as OwnerRez: at most 120 days after departure
)

// Payment is the payment signal: a payment row already in the database.
type Payment struct {
	PaymentID   int64  `json:"payment_id"`
	AmountCents int64  `json:"amount_cents"`
	Reference   string `json:"reference"`
	Date        string `json:"date"` // YYYY-MM-DD, the transaction date
	// Set when the payment came back; it then no longer counts as received.
	Returned     bool   `json:"returned,omitempty"`
	ReturnReason string `json:"return_reason,omitempty"`
	// TransferFrom names the lease a transfer came from (#16): the payment
	// is that lease's refundable money, moved here.
	TransferFrom string `json:"transfer_from,omitempty"`
	// Method is "card" for a payment taken by the card provider (what a
	// card hold captured), with its PaymentIntent; empty for one recorded
	// by hand.
	Method        string `json:"method,omitempty"`
	PaymentIntent string `json:"payment_intent,omitempty"`
}

// Kinds of money that left a deposit before its settlement (#16): the
// "previous refunds/transfers" of seed 002's refundable formula.
const (
	EarlierTransfer      = "transfer"       // moved to another lease
	EarlierPartialRefund = "partial_refund" // paid out to the tenants
)

// EarlierRefund is money that left the deposit before its settlement: a
// transfer to another lease, or a partial refund.
type EarlierRefund struct {
	Kind        string    `json:"kind"`
	ID          int64     `json:"id"` // the transfer's or the partial refund's row
	AmountCents int64     `json:"amount_cents"`
	ToLease     string    `json:"to_lease,omitempty"` // a transfer's target
	Reason      string    `json:"reason,omitempty"`
	By          string    `json:"by,omitempty"`
	At          time.Time `json:"at,omitzero"`
}

// MethodCard is a payment taken through the card provider.
const MethodCard = "card"

// CardHold is the deposit taken as an authorization hold on the tenant's
// card (seed 004): not money received. What it captures at the release is
// a card payment; the rest is released.
type CardHold struct {
	PaymentMethod   string    `json:"payment_method"`              // pm_..., the card
	PaymentIntentID string    `json:"payment_intent_id,omitempty"` // the current hold
	AmountCents     int64     `json:"amount_cents"`
	Status          string    `json:"status"` // pending, active, captured, released, failed
	Seq             int       `json:"seq"`    // holds placed so far (1: the first; each renewal adds one)
	PlacedAt        time.Time `json:"placed_at,omitzero"`
	RenewAt         time.Time `json:"renew_at,omitzero"` // when it is placed again
	RenewEvery      string    `json:"renew_every"`
	CapturedCents   int64     `json:"captured_cents,omitempty"`
	ReleasedCents   int64     `json:"released_cents,omitempty"`
	// Failure is the last placement or renewal that failed (the manager
	// was told at once); empty once a hold is placed again.
	Failure   string `json:"failure,omitempty"`
	Failures  int    `json:"failures,omitempty"`
	FailedSeq int    `json:"failed_seq,omitempty"` // the hold whose placement failed last
}

// Card hold statuses.
const (
	HoldPending  = "pending"  // not placed yet
	HoldActive   = "active"   // the card holds the amount
	HoldCaptured = "captured" // what was kept was taken, the rest released
	HoldReleased = "released" // nothing kept: the hold was cancelled
	HoldFailed   = "failed"   // no hold stands: placing it (again) failed
)

// Active says whether a hold stands on the card.
func (h *CardHold) Active() bool { return h != nil && h.Status == HoldActive }

// Deposit types (seed 001).
const (
	DepositCash      = "cash"      // charged and collected; refunded in cash
	DepositGuarantee = "guarantee" // bank guarantee or letter of credit: no cash, never refunded in cash
	DepositPrepaid   = "prepaid"   // paid ahead of time: nothing charged, refunded as cash
)

// DepositRow is one row of the lease's deposit: the first one, or an
// amendment (an increment, a negative decrement, or a new payee).
type DepositRow struct {
	DepositID   int64  `json:"deposit_id"`
	Type        string `json:"type"`
	AmountCents int64  `json:"amount_cents"`
	Guarantor   string `json:"guarantor,omitempty"`
	PayeeEmail  string `json:"payee_email,omitempty"`
	PayeeName   string `json:"payee_name,omitempty"`
}

// Tenant is one resident of the lease, with a share of the refund.
type Tenant struct {
	ResidentID int64  `json:"resident_id"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	Share      int64  `json:"share"`
}

// Payout is one part of a refund: to a co-tenant, or to the payee.
type Payout struct {
	RefundID    int64  `json:"refund_id,omitempty"`
	ResidentID  int64  `json:"resident_id"`
	Email       string `json:"email"`
	Name        string `json:"name"`
	AmountCents int64  `json:"amount_cents"`
}

// Charge is the charge signal: a ledger row already in the database.
// Category is "arrears" (rent, fees) or "deduction" (move-out charges).
type Charge struct {
	ChargeID    int64  `json:"charge_id"`
	Code        string `json:"code"`
	Category    string `json:"category"`
	AmountCents int64  `json:"amount_cents"`
	Description string `json:"description"`
}

// Charge categories: how a charge counts in the refund maths.
const (
	CategoryArrears   = "arrears"   // owed on the ledger: rent, fees
	CategoryDeduction = "deduction" // move-out charges: cleaning, damage
	CategoryCredit    = "credit"    // a credit to the tenant: adds to the refund
)

// State is everything known about the deposit, as the state query returns it
// and as `deposits status -o json` prints it.
type State struct {
	LeaseID     string   `json:"lease_id"`
	PropertyID  string   `json:"property_id"`
	UnitID      string   `json:"unit_id"`
	TenantEmail string   `json:"tenant_email"` // the first tenant
	TenantName  string   `json:"tenant_name"`
	Tenants     []Tenant `json:"tenants"`
	Stage       string   `json:"stage"`
	Outcome     string   `json:"outcome,omitempty"`
	// Currency is the ISO 4217 code of every amount of the lease (its
	// property's when the lease started); empty is USD.
	Currency string `json:"currency,omitempty"`
	// TimeZone is the IANA zone of the lease (its property's when the lease
	// started), where its dates are days; empty is UTC.
	TimeZone string `json:"time_zone,omitempty"`

	// The deposit's rows and their totals per type. ExpectedCents is the
	// cash the tenant must pay; prepaid counts as received; a guarantee is
	// never cash.
	Deposits       []DepositRow `json:"deposits"`
	ExpectedCents  int64        `json:"expected_cents"`
	PrepaidCents   int64        `json:"prepaid_cents"`
	GuaranteeCents int64        `json:"guarantee_cents"`
	Guarantors     []string     `json:"guarantors,omitempty"`
	ExpectedSource string       `json:"expected_source,omitempty"`
	PayeeEmail     string       `json:"payee_email,omitempty"` // the newest payee: the refund goes there
	PayeeName      string       `json:"payee_name,omitempty"`

	// The terms of the refund maths.
	PaidCents           int64 `json:"paid_cents"`     // cash payments, less returned ones
	ReceivedCents       int64 `json:"received_cents"` // paid + prepaid
	InterestCents       int64 `json:"interest_cents"`
	CreditsCents        int64 `json:"credits_cents"`
	ArrearsCents        int64 `json:"arrears_cents"`
	DeductionsCents     int64 `json:"deductions_cents"`
	KeptCents           int64 `json:"kept_cents"`
	EarlierRefundsCents int64 `json:"earlier_refunds_cents"`
	// EarlierRefunds are the transfers and partial refunds that make up
	// EarlierRefundsCents.
	EarlierRefunds []EarlierRefund `json:"earlier_refunds,omitempty"`
	// MoneyMoves says the lease's workflow takes transfers and partial
	// refunds (it started after they existed).
	MoneyMoves bool `json:"money_moves,omitempty"`

	// Conservation: ReceivedCents = HeldCents + refunded (earlier refunds and
	// transfers included) + applied, at every moment.
	HeldCents    int64 `json:"held_cents"`
	AppliedCents int64 `json:"applied_cents"` // received money used for arrears, deductions and keeps

	RefundCents      int64     `json:"refund_cents"`
	Payouts          []Payout  `json:"payouts"`
	SettlementID     int64     `json:"settlement_id,omitempty"`
	BalanceOwedCents int64     `json:"balance_owed_cents"`
	DepositChargeID  int64     `json:"deposit_charge_id,omitempty"`
	RefundID         int64     `json:"refund_id,omitempty"`
	InvoiceID        int64     `json:"invoice_id,omitempty"`
	Payments         []Payment `json:"payments"`
	Charges          []Charge  `json:"charges"`

	Kept []Keep `json:"kept"`
	// Pending lists what waits for a books_admin's approval: keeps, and
	// charges and deposit rows written 'pending'. PendingKeep is the first
	// pending keep, as readers from before Pending know it.
	Pending     []Pending  `json:"pending,omitempty"`
	PendingKeep *Keep      `json:"pending_keep,omitempty"`
	OnHold      bool       `json:"on_hold"`
	Decisions   []Decision `json:"decisions"`

	MovedOutAt  time.Time `json:"moved_out_at,omitzero"`
	AssessUntil time.Time `json:"assess_until,omitzero"`
	ReleaseAt   time.Time `json:"release_at,omitzero"`
	ClosedAt    time.Time `json:"closed_at,omitzero"`

	// The legal clock: the lease's jurisdiction, the rule in force at the
	// move-out, and its deadlines as they stand.
	Jurisdiction      string      `json:"jurisdiction,omitempty"`
	Rule              *rules.Rule `json:"rule,omitempty"`
	Clock             rules.Clock `json:"clock,omitzero"`
	ForwardingAddress string      `json:"forwarding_address,omitempty"`
	ForwardingAt      time.Time   `json:"forwarding_at,omitzero"`
	StatementAt       time.Time   `json:"statement_at,omitzero"` // the itemized statement went out
	// DeadlineMissed says which deadline passed and why; Forfeited that the
	// rule then forfeits every deduction, worth ForfeitedCents.
	DeadlineMissed string             `json:"deadline_missed,omitempty"`
	Forfeited      bool               `json:"forfeited,omitempty"`
	ForfeitedCents int64              `json:"forfeited_cents,omitempty"`
	Interest       rules.InterestOwed `json:"interest,omitzero"`

	EmailsSent    []string `json:"emails_sent"`
	EmailFailures []string `json:"email_failures,omitempty"`
	// CardHold is set when the deposit is taken as a hold on a card.
	CardHold *CardHold `json:"card_hold,omitempty"`
	// Events that came after the deposit was settled: recorded, not applied.
	LateEvents []string `json:"late_events,omitempty"`
	// IgnoredSignals lists signals naming a fact the database does not hold
	// for this lease ("charge 9, which lease L-100 does not have"): nothing
	// was applied, and an operator should find out who sent them.
	IgnoredSignals []string `json:"ignored_signals,omitempty"`
	// BooksDisagree says, while the stage is books_disagree, which terms of
	// the settlement the database and the workflow computed differently.
	BooksDisagree string `json:"books_disagree,omitempty"`
	// FollowUps are payments and charges that came after the settlement,
	// refunded or invoiced on their own (the server adds them from the
	// books: the workflow has closed by then).
	FollowUps []FollowUp `json:"follow_ups,omitempty"`
	// Disputes are the items the tenant disputes (dispute.go), and
	// DisputedCents what the settlement holds for those not yet settled.
	Disputes      []Dispute `json:"disputes,omitempty"`
	DisputedCents int64     `json:"disputed_cents,omitempty"`
	// Disputable says the lease's workflow takes disputes (it started
	// after the tenant's side existed).
	Disputable bool `json:"disputable,omitempty"`
}

// FollowUp is a payment or charge that came after the settlement, and what
// became of it: a refund or an invoice.
type FollowUp struct {
	Kind        string    `json:"kind"`    // refund or invoice
	Follows     string    `json:"follows"` // "payment:12", "charge:34"
	AmountCents int64     `json:"amount_cents"`
	Recipient   string    `json:"recipient"`
	At          time.Time `json:"at"`
}

// Roles of the people who act on deposits.
const (
	RoleViewer     = "viewer"      // reads the leases of their properties
	RoleManager    = "manager"     // records facts and decides on the leases of their properties
	RoleBooksAdmin = "books_admin" // approves or declines what managers ask; sets a property's money policy
	RoleAdmin      = "admin"       // manages users, API keys and rules
	RoleSystem     = "system"      // depositflow itself (the statute, reconcile)
)

// Roles lists the roles a person may hold.
var Roles = []string{RoleViewer, RoleManager, RoleBooksAdmin, RoleAdmin}

// ParseRoles splits roles as an audit row stores them ("manager,books_admin").
func ParseRoles(joined string) []string {
	var out []string
	for _, r := range strings.Split(joined, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// HasRole says whether role is among roles.
func HasRole(roles []string, role string) bool { return slices.Contains(roles, role) }

// Statute is who acts when the engine itself decides to meet a deadline.
const Statute = "depositflow (statute)"

// DefaultExtendDays is how far one extend moves the release date, as OwnerRez does.
const DefaultExtendDays = 7

// Keep is an amount kept from the deposit by a manager's decision.
type Keep struct {
	KeepID      int64     `json:"keep_id,omitempty"`    // its row in keeps
	RequestID   int64     `json:"request_id,omitempty"` // the audit row of the request
	AmountCents int64     `json:"amount_cents"`
	Reason      string    `json:"reason"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	ApprovedBy  string    `json:"approved_by,omitempty"`
}

// Decision is one accepted decision, in the order they were made.
type Decision struct {
	Kind   string    `json:"kind"`
	Actor  string    `json:"actor"`
	Role   string    `json:"role"`
	At     time.Time `json:"at"`
	Detail string    `json:"detail"`
}
