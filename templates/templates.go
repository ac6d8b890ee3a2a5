// Package templates renders the emails depositflow sends: every message has a
// plain-text part (text/KIND.txt, whose first line is the subject) and an HTML
// part (html/KIND.html inside html/layout.html). The templates are embedded in
// the binary, and tenant-supplied text is escaped by html/template.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
)

//go:embed html/*.html text/*.txt
var files embed.FS

// The kinds of email, one per step that tells the tenant something.
const (
	KindRequest     = "request"      // deposit charged: please pay
	KindReceipt     = "receipt"      // deposit paid in full: it is held
	KindNotice      = "notice"       // moved out: deductions and release date
	KindRefund      = "refund"       // refund issued (or nothing to refund)
	KindBalanceOwed = "balance_owed" // deductions exceed the deposit: invoice
	KindReminder    = "reminder"     // to the manager: release is near, or on hold past its date
	KindReturned    = "returned"     // a payment came back: it no longer counts, a fee may apply
	// KindBooksDisagree alerts the property's manager (an operator's alert,
	// not in Kinds): the database's books and the workflow computed the
	// settlement differently, and nothing was paid.
	KindBooksDisagree = "books_disagree"
	// KindFollowUp tells the tenant what became of a payment or charge that
	// came after their deposit was settled: refunded, or invoiced (not in
	// Kinds: it is about one fact, Data.FollowUp).
	KindFollowUp = "follow_up"
	// KindWebhookDisabled tells a webhook endpoint's operator that its
	// retries ran out and it was disabled (not in Kinds: an operator's
	// alert, Data.Webhook).
	KindWebhookDisabled = "webhook_disabled"
	// KindInterest tells the tenant the interest credited to their deposit
	// at an anniversary of the lease, where the statute pays interest while
	// the tenancy runs (not in Kinds: Data.Interest).
	KindInterest = "interest"
	// KindUnclaimedRefund tells the property's manager that a refund payout
	// was not marked paid within the property's days (not in Kinds: an
	// operator's alert, Data.Unclaimed).
	KindUnclaimedRefund = "unclaimed_refund"
	// The tenant's side (issue #17): each is about one disputed item
	// (Data.Dispute), except the link, which is about the lease's page.
	KindDisputeOpened   = "dispute_opened"   // to the manager: the tenant disputes an item
	KindDisputeAnswer   = "dispute_answer"   // to the tenant: the manager's answer (offer, maintained, conceded)
	KindDisputePaid     = "dispute_paid"     // to the tenant: what a resolution pays back, paid now
	KindDisputeReminder = "dispute_reminder" // to the manager: a disputed item is still unanswered
	KindOfferReminder   = "offer_reminder"   // to the tenant: an offer still awaits their answer
	KindLink            = "link"             // to a tenant who asked: a new link to their page
	// KindPartialRefund tells the tenants that part of their deposit was
	// refunded before the settlement (#16; not in Kinds: Data.PartialRefund).
	KindPartialRefund = "partial_refund"
	// KindApproval tells the property's managers that a books_admin
	// approved or declined an item awaiting approval (not in Kinds:
	// Data.Approval), one email per item, batch or not.
	KindApproval = "approval"
	// KindCardHoldFailed tells the property's manager at once that the
	// hold on the tenant's card could not be placed or renewed (not in
	// Kinds: Data.CardHold.Failure says why).
	KindCardHoldFailed = "card_hold_failed"
)

// PartialRefund is part of a deposit refunded before the settlement.
type PartialRefund struct {
	Cents   int64  `json:"cents"`
	Reason  string `json:"reason,omitempty"`
	Payouts []Line `json:"payouts"` // to whom, when split
	// LeftCents is what is still held for the tenant after it.
	LeftCents int64 `json:"left_cents"`
}

// Approval is a books_admin's decision on an item awaiting approval.
type Approval struct {
	Item        string `json:"item"`     // keep:12
	Kind        string `json:"kind"`     // keep, charge, deposit
	Decision    string `json:"decision"` // approved, declined
	By          string `json:"by"`
	RequestedBy string `json:"requested_by"`
	Cents       int64  `json:"cents"`
	What        string `json:"what"`             // the keep's reason, the charge's description
	Reason      string `json:"reason,omitempty"` // why it was declined
}

// DisputeKinds are the emails about a disputed item.
var DisputeKinds = []string{KindDisputeOpened, KindDisputeAnswer, KindDisputePaid, KindDisputeReminder, KindOfferReminder}

// DisputeLine is a disputed item as the emails and the page show it.
type DisputeLine struct {
	ID             int64  `json:"id"`
	Description    string `json:"description"`
	Cents          int64  `json:"cents"`
	Status         string `json:"status"` // open, offered, conceded, maintained, agreed
	OfferCents     int64  `json:"offer_cents,omitempty"`
	TenantMessage  string `json:"tenant_message"`
	ManagerMessage string `json:"manager_message,omitempty"`
	HeldCents      int64  `json:"held_cents,omitempty"`
	PaidCents      int64  `json:"paid_cents,omitempty"` // paid back once resolved
	Files          int    `json:"files,omitempty"`      // the tenant's own files
}

// Evidence lists the files attached to one item of the statement.
type Evidence struct {
	Item  string   `json:"item"` // "Deduction: Carpet cleaning", "The lease"
	Files []string `json:"files"`
}

// InterestCredit is interest credited to a deposit at an anniversary.
type InterestCredit struct {
	Year        int       `json:"year"`        // the lease's year that ended (1, 2, ...)
	Anniversary time.Time `json:"anniversary"` // the day it ended
	Cents       int64     `json:"cents"`       // credited now
	TotalCents  int64     `json:"total_cents"` // credited so far, this year's included
	HeldCents   int64     `json:"held_cents"`  // the deposit held now, with the interest
	Why         string    `json:"why"`
}

// UnclaimedRefund is a refund payout not marked paid in time.
type UnclaimedRefund struct {
	RefundID  int64     `json:"refund_id"`
	Cents     int64     `json:"cents"`
	Recipient string    `json:"recipient"`
	IssuedAt  time.Time `json:"issued_at"`
	Days      int       `json:"days"`
}

// CardHold is a deposit taken as a hold on the tenant's card (seed 004):
// what it holds, and at the release what was captured and released.
type CardHold struct {
	AmountCents   int64  `json:"amount_cents"`
	Status        string `json:"status"` // active, captured, released, failed
	CapturedCents int64  `json:"captured_cents,omitempty"`
	ReleasedCents int64  `json:"released_cents,omitempty"`
	RenewEvery    string `json:"renew_every,omitempty"`
	Failure       string `json:"failure,omitempty"` // why it could not be placed (the manager's alert)
}

// KindStatement is not an email: the downloadable itemized statement
// (`deposits statement`), in the emails' layout and with the same figures.
const KindStatement = "itemized"

// Kinds lists every kind, in the order a tenant meets them.
var Kinds = []string{KindRequest, KindReceipt, KindReturned, KindNotice, KindReminder, KindRefund, KindBalanceOwed}

// FollowUp is a fact that came after the settlement and what it became.
type FollowUp struct {
	Refund bool   `json:"refund"` // refunded; otherwise invoiced
	Fact   string `json:"fact"`   // what came late, in words
	Cents  int64  `json:"cents"`
}

// Line is one item of an itemized list: a payment, an arrears charge or a deduction.
type Line struct {
	Description string `json:"description"`
	Cents       int64  `json:"cents"`
}

// Data is everything an email may show. The workflow fills it from its state.
type Data struct {
	// Currency is the ISO 4217 code every amount is in ("GBP"); empty is USD.
	Currency string `json:"currency"`
	// TimeZone is the IANA zone of the property ("Europe/London"), where
	// dates are shown; empty is UTC.
	TimeZone string `json:"time_zone,omitempty"`

	LeaseID      string `json:"lease_id"`
	PropertyID   string `json:"property_id"`
	UnitID       string `json:"unit_id"`
	TenantName   string `json:"tenant_name"`
	TenantEmail  string `json:"tenant_email"`
	Organization string `json:"organization"`
	// RecipientName is who the greeting addresses: the tenant, or nobody
	// in particular for the manager's reminders.
	RecipientName string `json:"recipient_name"`

	ExpectedCents       int64 `json:"expected_cents"` // cash the tenant must pay
	PaidCents           int64 `json:"paid_cents"`     // cash paid, less returned payments
	ReceivedCents       int64 `json:"received_cents"` // paid plus prepaid
	PrepaidCents        int64 `json:"prepaid_cents"`
	GuaranteeCents      int64 `json:"guarantee_cents"`
	InterestCents       int64 `json:"interest_cents"`
	CreditsCents        int64 `json:"credits_cents"`
	EarlierRefundsCents int64 `json:"earlier_refunds_cents"`
	// EarlierRefunds are the transfers to other leases and the partial
	// refunds that make up EarlierRefundsCents (#16).
	EarlierRefunds   []Line `json:"earlier_refunds,omitempty"`
	Payments         []Line `json:"payments"`
	Returned         []Line `json:"returned"` // payments that came back
	Credits          []Line `json:"credits"`
	Payouts          []Line `json:"payouts"` // how the refund is split, when it is
	Arrears          []Line `json:"arrears"`
	Deductions       []Line `json:"deductions"`
	Kept             []Line `json:"kept"` // kept by a manager's decision, with the reason
	KeptCents        int64  `json:"kept_cents"`
	ArrearsCents     int64  `json:"arrears_cents"`
	DeductionsCents  int64  `json:"deductions_cents"`
	RefundCents      int64  `json:"refund_cents"`
	BalanceOwedCents int64  `json:"balance_owed_cents"`

	MovedOutAt time.Time `json:"moved_out_at"`
	ReleaseAt  time.Time `json:"release_at"`
	OnHold     bool      `json:"on_hold"` // never released automatically
	// ForManager words the statement for the property's manager ("the tenant")
	// instead of the tenant ("you").
	ForManager bool `json:"for_manager"`

	// The law: the rule that governs the deposit and its deadlines. Empty
	// RuleLabel: no statute (a short-term rental), nothing is shown.
	RuleLabel      string    `json:"rule_label,omitempty"` // "US-CA (Cal. Civ. Code 1950.5)"
	ClockStarted   bool      `json:"clock_started,omitempty"`
	ClockWhy       string    `json:"clock_why,omitempty"`
	StatementDue   time.Time `json:"statement_due,omitzero"`
	RefundDue      time.Time `json:"refund_due,omitzero"`
	ObjectionEnds  time.Time `json:"objection_ends,omitzero"` // the tenant may object until then (US-FL)
	SettledAt      time.Time `json:"settled_at,omitzero"`
	DeadlineMissed string    `json:"deadline_missed,omitempty"`
	// Charges not withheld because a missed deadline forfeited them.
	ForfeitedCents int64  `json:"forfeited_cents,omitempty"`
	ForfeitedList  string `json:"forfeited_list,omitempty"`
	InterestWhy    string `json:"interest_why,omitempty"`
	// BooksDisagree lists the terms the database and the workflow computed
	// differently (the books_disagree alert).
	BooksDisagree string `json:"books_disagree,omitempty"`
	// Approval is set for an approval email.
	Approval *Approval `json:"approval,omitempty"`
	// FollowUp is set for a follow_up email.
	FollowUp *FollowUp `json:"follow_up,omitempty"`
	// Webhook is set for a webhook_disabled email.
	Webhook *WebhookDown `json:"webhook,omitempty"`
	// Interest is set for an interest email.
	Interest *InterestCredit `json:"interest,omitempty"`
	// Unclaimed is set for an unclaimed_refund email.
	Unclaimed *UnclaimedRefund `json:"unclaimed,omitempty"`
	// PartialRefund is set for a partial_refund email.
	PartialRefund *PartialRefund `json:"partial_refund,omitempty"`
	// CardHold is set when the deposit is a hold on the tenant's card.
	CardHold *CardHold `json:"card_hold,omitempty"`

	// PageURL is the tenant's own signed link to the lease's page (empty
	// for the manager, or where the server has no link secret).
	PageURL string `json:"page_url,omitempty"`
	// Evidence lists the files of each item; Disputes the disputed items
	// and DisputedCents what is held for them; Dispute is the item a
	// dispute email is about.
	Evidence      []Evidence    `json:"evidence,omitempty"`
	Disputes      []DisputeLine `json:"disputes,omitempty"`
	DisputedCents int64         `json:"disputed_cents,omitempty"`
	Dispute       *DisputeLine  `json:"dispute,omitempty"`

	// ManagerMessage is the manager's own words to the tenant, written with
	// their decision (keep, release, decline): shown above the statement in
	// the tenant's emails (escaped in HTML).
	ManagerMessage string `json:"manager_message,omitempty"`
	// Links are a manager's one-click links in their alert or reminder,
	// signed for that manager alone; MoveOutAlert marks the alert sent at
	// the move-out.
	Links        *ManagerLinks `json:"links,omitempty"`
	MoveOutAlert bool          `json:"move_out_alert,omitempty"`
}

// ManagerLinks are a manager's one-click links: each opens a page that asks
// them to confirm; Release and Extend act once.
type ManagerLinks struct {
	Release string    `json:"release"`
	Extend  string    `json:"extend"`
	Open    string    `json:"open"`
	Expires time.Time `json:"expires"`
}

// WebhookDown is a webhook endpoint given up on: the delivery whose retries
// ran out, and how to start again.
type WebhookDown struct {
	EndpointID int64     `json:"endpoint_id"`
	URL        string    `json:"url"` // without its query
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Attempts   int       `json:"attempts"`
	Reason     string    `json:"reason"`
	DisabledAt time.Time `json:"disabled_at"`
}

// OutstandingCents is what the tenant still has to pay toward the deposit.
func (d Data) OutstandingCents() int64 { return max(d.ExpectedCents-d.PaidCents, 0) }

// OverpaidCents is what the tenant paid beyond the deposit; it is kept as a
// credit and comes back with the refund.
func (d Data) OverpaidCents() int64 { return max(d.PaidCents-d.ExpectedCents, 0) }

// Rendered is one email ready to send.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// funcs are the templates' functions that are the same for every lease.
var funcs = map[string]any{
	"line": func(desc string, cents int64) Line { return Line{Description: desc, Cents: cents} },
	"join": strings.Join,
	"neg":  func(cents int64) int64 { return -cents },
	// who and s word a statement for its reader: the tenant ("you owe") or the manager ("the tenant owes").
	"who": func(d Data) string {
		if d.ForManager {
			return "the tenant"
		}
		return "you"
	},
	"s": func(d Data) string {
		if d.ForManager {
			return "s"
		}
		return ""
	},
	"greeting": func(name string) string {
		if strings.TrimSpace(name) == "" {
			return "Hello,"
		}
		return "Dear " + name + ","
	},
}

// leaseFuncs are the functions that show a lease's amounts in its currency
// and its dates in its property's zone. Each render binds them to its lease
// on a clone of the parsed templates; the templates are parsed with them
// bound to US dollars and UTC.
func leaseFuncs(currency string, zone *time.Location) map[string]any {
	return map[string]any{
		"money": func(minor int64) string { return money.FormatIn(currency, minor) },
		// plain is an amount as a command takes it ("100.00").
		"plain": func(minor int64) string { return money.PlainIn(currency, minor) },
		// row lays out one line of a plain-text statement with the amounts in a column.
		"row": func(desc string, minor int64) string {
			return fmt.Sprintf("  %-44s %14s", desc, money.FormatIn(currency, minor))
		},
		"date": func(t time.Time) string { return t.In(zone).Format("Monday, 2 January 2006") },
	}
}

var (
	textT = texttemplate.Must(texttemplate.New("").Funcs(funcs).Funcs(leaseFuncs(money.USD, time.UTC)).ParseFS(files, "text/*.txt"))
	htmlT = htmltemplate.Must(htmltemplate.New("").Funcs(funcs).Funcs(leaseFuncs(money.USD, time.UTC)).ParseFS(files, "html/*.html"))
)

// Render renders the email of the given kind, with amounts in d.Currency
// and dates in d.TimeZone. It refuses a currency or a zone it does not know.
func Render(kind string, d Data) (Rendered, error) {
	if d.Organization == "" {
		d.Organization = "depositflow"
	}
	currency := money.USD
	if d.Currency != "" {
		var err error
		if currency, err = money.CheckCurrency(d.Currency); err != nil {
			return Rendered{}, fmt.Errorf("render %s: %w", kind, err)
		}
	}
	zone, err := rules.LoadZone(d.TimeZone)
	if err != nil {
		return Rendered{}, fmt.Errorf("render %s: %w", kind, err)
	}
	// Clones of the parsed templates, bound to this lease: renders of
	// leases in different currencies can run at once.
	bound := leaseFuncs(currency, zone)

	textLease, err := textT.Clone()
	if err != nil {
		return Rendered{}, err
	}
	var text bytes.Buffer
	if err := textLease.Funcs(bound).ExecuteTemplate(&text, kind+".txt", d); err != nil {
		return Rendered{}, fmt.Errorf("render %s text: %w", kind, err)
	}
	subject, body, ok := strings.Cut(text.String(), "\n")
	if !ok || strings.TrimSpace(subject) == "" {
		return Rendered{}, fmt.Errorf("template text/%s.txt must start with a subject line", kind)
	}
	// The layout renders the kind's "content" block; a clone per kind keeps
	// the blocks of different kinds apart.
	t, err := htmlT.Clone()
	if err != nil {
		return Rendered{}, err
	}
	t.Funcs(bound)
	if _, err := t.New("content").Parse(`{{template "` + kind + `.html" .}}`); err != nil {
		return Rendered{}, err
	}
	var html bytes.Buffer
	if err := t.ExecuteTemplate(&html, "layout.html", struct {
		Subject string
		Data
	}{strings.TrimSpace(subject), d}); err != nil {
		return Rendered{}, fmt.Errorf("render %s html: %w", kind, err)
	}
	return Rendered{
		Subject: strings.TrimSpace(subject),
		Text:    strings.TrimLeft(body, "\n"),
		HTML:    html.String(),
	}, nil
}
