package deposit

import (
	"strconv"
	"strings"
	"time"
)

// The tenant's side (issue #17): the tenant disputes items of the itemized
// statement (a deduction, an arrears charge, a keep), each with a message;
// the manager answers each (concede, maintain, or offer an amount back);
// the tenant may accept an offer. The undisputed part of the deposit is
// refunded on the release date as always; what the deposit still covers of
// each disputed item is held (stage disputed) until the item is resolved,
// then what was conceded or agreed is paid back at once and the rest is
// applied.

// StageDisputed: the deposit was settled (the undisputed part refunded) and
// what is disputed stays held until every disputed item is resolved.
const StageDisputed = "disputed"

// Statuses of a disputed item.
const (
	DisputeOpen       = "open"       // the tenant disputes it; the manager has not answered
	DisputeOffered    = "offered"    // the manager offers part back; the tenant has not accepted
	DisputeConceded   = "conceded"   // the manager gives it all back
	DisputeMaintained = "maintained" // the manager keeps it (the tenant may take it further)
	DisputeAgreed     = "agreed"     // the tenant accepted the manager's offer
)

// Dispute is one disputed item, as the database has it.
type Dispute struct {
	DisputeID      int64     `json:"dispute_id"`
	Item           string    `json:"item"` // what is disputed: "charge:12", "keep:3"
	ResidentID     int64     `json:"resident_id"`
	Description    string    `json:"description"`
	AmountCents    int64     `json:"amount_cents"`
	TenantMessage  string    `json:"tenant_message"`
	Status         string    `json:"status"`
	OfferCents     int64     `json:"offer_cents,omitempty"`
	ManagerMessage string    `json:"manager_message,omitempty"`
	AnsweredBy     string    `json:"answered_by,omitempty"`
	OpenedAt       time.Time `json:"opened_at"`
	AnsweredAt     time.Time `json:"answered_at,omitzero"`
	AgreedAt       time.Time `json:"agreed_at,omitzero"`
	// Held is set once the settlement held what the deposit covers of the
	// item (HeldCents, at most its amount; zero where nothing of it was
	// taken from the deposit).
	Held      bool  `json:"held"`
	HeldCents int64 `json:"held_cents"`
	// Once resolved and settled: paid back to the tenant, and applied to
	// what the tenant owed; the two add up to HeldCents.
	RefundCents  int64     `json:"refund_cents"`
	AppliedCents int64     `json:"applied_cents"`
	RefundID     int64     `json:"refund_id,omitempty"`
	SettledAt    time.Time `json:"settled_at,omitzero"`
}

// Resolved says whether the item's answer is final.
func (d Dispute) Resolved() bool {
	return d.Status == DisputeConceded || d.Status == DisputeMaintained || d.Status == DisputeAgreed
}

// Settled says whether its held money was paid back and applied.
func (d Dispute) Settled() bool { return !d.SettledAt.IsZero() }

// Payback is what a resolved item pays back of what was held: all of it
// when conceded, the offer (at most what was held) when agreed, nothing
// when maintained.
func (d Dispute) Payback() int64 {
	switch d.Status {
	case DisputeConceded:
		return d.HeldCents
	case DisputeAgreed:
		return min(d.OfferCents, d.HeldCents)
	}
	return 0
}

// DisputeKey is the follows of a resolution's refund row, and part of its
// idempotency key: "dispute:12".
func DisputeKey(id int64) string { return "dispute:" + strconv.FormatInt(id, 10) }

// IsDisputeKey says whether a refund's follows names a disputed item.
func IsDisputeKey(follows string) bool { return strings.HasPrefix(follows, "dispute:") }

// Holds splits what a settlement holds for disputed items: each item's
// amount in turn, while the part of the funds the settlement applied to
// what the tenant owed covers it. What the deposit never covered (a
// balance owed beyond it) is not held: there is no money to hold.
func Holds(applied int64, amounts []int64) []int64 {
	out := make([]int64, len(amounts))
	left := max(applied, 0)
	for i, a := range amounts {
		out[i] = min(max(a, 0), left)
		left -= out[i]
	}
	return out
}

// DisputedHeld is what is held now for items not yet settled.
func DisputedHeld(ds []Dispute) int64 {
	var n int64
	for _, d := range ds {
		if d.Held && !d.Settled() {
			n += d.HeldCents
		}
	}
	return n
}

// OpenDisputes counts the items not yet resolved.
func OpenDisputes(ds []Dispute) int {
	n := 0
	for _, d := range ds {
		if !d.Resolved() {
			n++
		}
	}
	return n
}
