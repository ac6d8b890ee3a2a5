package workflows

import (
	"time"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
)

// TaskQueue is where deposit workflows and their activities run.
const TaskQueue = "deposits"

// Names other programs use to talk to a deposit workflow.
const (
	SignalPayment         = "payment"            // a payment toward the deposit was recorded
	SignalPaymentReturned = "payment_returned"   // a payment came back (NSF, invalid account)
	SignalCharge          = "charge"             // a charge was added to the resident ledger
	SignalAmend           = "amend"              // a deposit row was added: raise, lower, new type, new payee
	SignalMoveOut         = "move_out"           // the tenant moved out
	SignalForwarding      = "forwarding_address" // the tenant's written forwarding address arrived
	SignalDispute         = "dispute"            // a disputed item was opened, answered or agreed (disputes.go)
	SignalTransfer        = "transfer"           // a transfer out of or into the lease was recorded (moves.go)
	SignalPartialRefund   = "partial_refund"     // part of the deposit was refunded before the settlement (moves.go)
	QueryState            = "state"              // the whole current State
)

// WorkflowID is the business ID of a lease's deposit workflow: one per lease.
func WorkflowID(leaseID string) string { return "deposit-" + leaseID }

// LeaseInput starts a deposit workflow. The lease, its tenant and its listing
// are already in the database.
type LeaseInput struct {
	LeaseID     string `json:"lease_id"`
	PropertyID  string `json:"property_id"`
	UnitID      string `json:"unit_id"`
	AmountCents int64  `json:"amount_cents,omitempty"` // 0: the listing's deposit
	// Both count from the move-out's instant (a typed day is 00:00 of that
	// day in the lease's time zone). Whole seconds, so that the input reads
	// plainly in the Temporal UI.
	AssessForSeconds    int64 `json:"assess_for_seconds"`
	ReleaseAfterSeconds int64 `json:"release_after_seconds"`
	// Jurisdiction whose deposit law governs the lease (rules.None for a
	// short-term rental); shown to operators from the start. The workflow
	// reads the rule itself at the move-out.
	Jurisdiction string `json:"jurisdiction,omitempty"`
	// CardPaymentMethod is the tenant's card when the property takes its
	// deposits as card holds (cardhold.go); CardHoldRenewSeconds how often
	// the hold is placed again (0: every 7 days).
	CardPaymentMethod    string `json:"card_payment_method,omitempty"`
	CardHoldRenewSeconds int64  `json:"card_hold_renew_seconds,omitempty"`
	// Carried is the workflow's memory when it continued as new: the run
	// resumes the story where the last one stopped. Nil for a new lease.
	Carried *Carried `json:"carried,omitempty"`
}

// Carried is everything a lease's workflow remembers, handed from one run
// to the next at a continue-as-new (see continueAsNew in deposit.go).
type Carried struct {
	State       deposit.State           `json:"state"`
	Step        int                     `json:"step"`
	Expected    bool                    `json:"expected,omitempty"`
	ReleaseNow  bool                    `json:"release_now,omitempty"`
	Receipts    int                     `json:"receipts,omitempty"`
	Law         *CarriedLaw             `json:"law,omitempty"`
	MaxRelease  time.Time               `json:"max_release,omitzero"`
	Shown       string                  `json:"shown,omitempty"`
	Mirrored    string                  `json:"mirrored,omitempty"`
	Reminded    map[string]bool         `json:"reminded,omitempty"`
	Seen        map[string]bool         `json:"seen,omitempty"`
	Requests    []int64                 `json:"requests,omitempty"` // decision requests (audit rows) already used
	Mail        []activities.EmailInput `json:"mail,omitempty"`     // emails queued and not yet sent
	Alerts      int                     `json:"alerts,omitempty"`   // books_disagree alerts sent
	LocalWrites bool                    `json:"local_writes,omitempty"`
	Disputes    bool                    `json:"disputes,omitempty"`     // the lease takes disputes (version disputes)
	RemindAfter time.Duration           `json:"remind_after,omitempty"` // how long a disputed item waits before a reminder
	DisputeSeq  int                     `json:"dispute_seq,omitempty"`
	MoneyMoves  bool                    `json:"money_moves,omitempty"` // the lease takes transfers and partial refunds (version transfers)
	// ManagerAlerts: the lease alerts its managers with one-click links, on
	// the property's reminder schedule (version manager-alerts).
	ManagerAlerts bool `json:"manager_alerts,omitempty"`
	CardHolds     bool `json:"card_holds,omitempty"` // the deposit is a hold on a card (version card-holds)
}

// CarriedLaw is the part of the lease's law the interest needs, and where
// its statute counts days.
type CarriedLaw struct {
	LeaseStart    time.Time `json:"lease_start"`
	BuildingUnits int       `json:"building_units"`
	// Zone is the IANA zone the clock counts days in ("UTC" for a lease
	// that names none); empty: the clock started before the zoned-clock
	// version, and counts as it did then.
	Zone string `json:"zone,omitempty"`
}

// AssessFor is the assessment window after the move-out.
func (in LeaseInput) AssessFor() time.Duration {
	return time.Duration(in.AssessForSeconds) * time.Second
}

// ReleaseAfter is how long after the move-out the deposit is released.
func (in LeaseInput) ReleaseAfter() time.Duration {
	return time.Duration(in.ReleaseAfterSeconds) * time.Second
}

// Signals only wake the workflow (book-of-record version): each names a
// fact already in the database by its ID (payment_id, charge_id,
// deposit_id; the lease itself for a move-out or a forwarding address), and
// the workflow reads the fact from PostgreSQL. Old senders still send the
// full payloads below; nothing in them but the ID is used.

// PaymentReturned is the returned-payment signal: the payment row is marked
// returned and the fee charge (if the property charges one) is written.
type PaymentReturned struct {
	PaymentID int64           `json:"payment_id"`
	Reason    string          `json:"reason"`
	Fee       *deposit.Charge `json:"fee,omitempty"`
}

// MoveOut is the move-out signal. At is the instant the server recorded:
// 00:00 in the lease's time zone of a typed day (00:00 UTC from senders
// older than zones), or an exact instant when one was given.
type MoveOut struct {
	At time.Time `json:"at"`
}

// ForwardingAddress is the forwarding-address signal: the tenant's written
// forwarding address, already in the database, and when it arrived.
type ForwardingAddress struct {
	Address string    `json:"address"`
	At      time.Time `json:"at"`
}

// WorkflowType is the registered name of DepositWorkflow.
const WorkflowType = "DepositWorkflow"
