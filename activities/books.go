package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/templates"
)

// A lease's books: its rows in PostgreSQL, the only book of record. The
// settlement checks the workflow's terms against them, and every email and
// statement is built from them, with the same code: the rows fold into a
// deposit.State exactly as the workflow folds its signals
// (LeaseFacts.Fold), and the refund maths are internal/deposit's.

// LeaseView is what only a lease's workflow knows, mirrored into its row
// (migration 010) whenever it changes, so that what is built from the
// database shows it: the release date and hold, the clock and its reasons,
// the interest owed and why, a missed deadline, the statement's date, and
// why the books disagreed.
type LeaseView struct {
	AssessUntil     time.Time
	OnHold          bool
	RuleLabel       string // empty: no statute governs the lease
	ClockStarted    bool
	ClockWhy        string
	StatementDue    time.Time
	RefundDue       time.Time
	ObjectionEnds   time.Time
	InterestCents   int64
	InterestWhy     string // shown only where the rule has interest or some is owed
	Forfeited       bool
	DeadlineMissed  string
	StatementSentAt time.Time
	BooksDisagree   string
}

// Books are one lease's rows and what its workflow mirrored.
type Books struct {
	LeaseID, PropertyID, UnitID string
	Currency                    string // ISO 4217: every amount of the lease
	TimeZone                    string // IANA: where the lease's dates are days
	Jurisdiction                string
	ManagerEmail                string
	Stage, Outcome              string
	ReleaseAt, ClosedAt         time.Time
	DeadlineNote                string // the clock's note as the workflow mirrored it ("MISSED: ...")
	View                        LeaseView
	Facts                       LeaseFacts
	// Law is the rule in force at the move-out, loaded for the settlement's
	// interest (LoadLaw); nil otherwise.
	Law *LeaseLaw
	// Settled is the settlement once written: its figures are what the
	// refund and balance emails show, whatever arrived after.
	Settled *SettledBooks
	// The tenant's side: the files attached to the lease and its items,
	// and the disputed items.
	Evidence []EvidenceFile
	Disputes []deposit.Dispute
	// Message is the manager's newest message to the tenant, written with a
	// decision the lease's workflow took (keep, release, decline).
	Message string
}

// SettledBooks is a written settlement.
type SettledBooks struct {
	SettlementID     int64
	RefundCents      int64
	BalanceOwedCents int64
	Outcome          string
	Payouts          []deposit.Payout
}

// ReadBooks reads a lease's books.
func ReadBooks(ctx context.Context, q *db.Queries, leaseID string) (Books, error) {
	l, err := q.GetLease(ctx, leaseID)
	if err != nil {
		return Books{}, leaseErr(leaseID, err)
	}
	p, err := q.GetProperty(ctx, l.Lease.PropertyID)
	if err != nil {
		return Books{}, fmt.Errorf("property %s of lease %s: %w", l.Lease.PropertyID, leaseID, err)
	}
	b := Books{
		LeaseID: leaseID, PropertyID: l.Lease.PropertyID, UnitID: l.Lease.UnitID, Currency: l.Lease.Currency, TimeZone: l.Lease.TimeZone,
		Jurisdiction: l.Lease.Jurisdiction, ManagerEmail: p.ManagerEmail, Stage: l.Lease.Stage, Outcome: l.Lease.Outcome,
		ReleaseAt: timeOf(l.Lease.ReleaseAt), ClosedAt: timeOf(l.Lease.ClosedAt), DeadlineNote: l.Lease.DeadlineNote, View: viewOf(l.Lease),
	}
	if b.Facts, err = readFacts(ctx, q, l.Lease); err != nil {
		return Books{}, err
	}
	if b.Disputes, err = readDisputes(ctx, q, leaseID); err != nil {
		return Books{}, err
	}
	files, err := q.ListEvidence(ctx, leaseID)
	if err != nil {
		return Books{}, err
	}
	switch m, err := q.LatestDecisionMessage(ctx, leaseID); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return Books{}, err
	default:
		b.Message = m.Message
	}
	for _, f := range files {
		b.Evidence = append(b.Evidence, EvidenceOf(f))
	}
	st, err := q.GetSettlement(ctx, leaseID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return Books{}, err
	default:
		b.Settled = &SettledBooks{SettlementID: st.SettlementID, RefundCents: st.RefundCents, BalanceOwedCents: st.BalanceOwedCents,
			Outcome: st.Outcome, Payouts: []deposit.Payout{}}
		refunds, err := q.ListRefunds(ctx, leaseID)
		if err != nil {
			return Books{}, err
		}
		for _, r := range refunds {
			if r.SettlementID.Valid && r.SettlementID.Int64 == st.SettlementID {
				b.Settled.Payouts = append(b.Settled.Payouts, deposit.Payout{RefundID: r.RefundID, ResidentID: r.ResidentID,
					Email: r.RecipientEmail, Name: r.RecipientName, AmountCents: r.AmountInCents})
			}
		}
	}
	return b, nil
}

// LoadLaw reads the rule the lease had at its move-out (as LoadLeaseLaw),
// for the interest of its settlement.
func (b *Books) LoadLaw(ctx context.Context, q *db.Queries) error {
	if b.Facts.MovedOutAt.IsZero() {
		return nil
	}
	row, err := q.GetLeaseLaw(ctx, b.LeaseID)
	if err != nil {
		return leaseErr(b.LeaseID, err)
	}
	law, err := leaseLaw(ctx, q, b.LeaseID, row, b.Facts.MovedOutAt)
	if err != nil {
		return err
	}
	b.Law = &law
	return nil
}

// State is the lease as its books show it: the facts folded from the rows
// with what the workflow mirrored (interest, forfeiture, dates, hold).
func (b Books) State() deposit.State {
	s := deposit.State{LeaseID: b.LeaseID, PropertyID: b.PropertyID, UnitID: b.UnitID, Stage: b.Stage, Outcome: b.Outcome,
		Currency: b.Currency, TimeZone: b.TimeZone, Jurisdiction: b.Jurisdiction, MovedOutAt: b.Facts.MovedOutAt, ReleaseAt: b.ReleaseAt, ClosedAt: b.ClosedAt,
		OnHold: b.View.OnHold, InterestCents: b.View.InterestCents, Forfeited: b.View.Forfeited, DeadlineMissed: b.View.DeadlineMissed,
		AssessUntil: b.View.AssessUntil, StatementAt: b.View.StatementSentAt, BooksDisagree: b.View.BooksDisagree,
		ForwardingAddress: b.Facts.ForwardingAddress, ForwardingAt: b.Facts.ForwardingAt, Payouts: []deposit.Payout{},
	}
	b.Facts.Fold(&s)
	if len(b.Disputes) > 0 {
		s.Disputes, s.DisputedCents = b.Disputes, deposit.DisputedHeld(b.Disputes)
	}
	if st := b.Settled; st != nil {
		s.SettlementID, s.RefundCents, s.BalanceOwedCents, s.Outcome, s.Payouts = st.SettlementID, st.RefundCents, st.BalanceOwedCents, st.Outcome, st.Payouts
	}
	return s
}

// BooksCheck is what only the workflow determines about its settlement,
// passed to SettleDeposit so the database's terms can be computed.
type BooksCheck struct {
	At        time.Time // the instant the workflow settles: interest runs to it
	Forfeited bool      // a missed deadline forfeited every deduction, keep and arrears
}

// Settlement computes the terms, the result and the payouts from the
// books, the same way the workflow does: interest under the rule the lease
// had at its move-out (Law) up to c.At, forfeiture as the workflow found it.
func (b Books) Settlement(c BooksCheck) (deposit.Terms, deposit.Settlement, []deposit.Payout) {
	s := b.State()
	s.InterestCents, s.Forfeited = 0, c.Forfeited
	if b.Law != nil {
		s.Rule = &b.Law.Rule
		s.InterestCents = s.InterestOwed(c.At, b.Law.LeaseStart, b.Law.BuildingUnits).Cents
	}
	t := s.Terms()
	st := deposit.Settle(t)
	return t, st, deposit.PlannedPayouts(s, st.RefundCents)
}

// ErrBooksDisagree is the ApplicationError type of a settlement the
// database's books do not bear out.
const ErrBooksDisagree = "BooksDisagree"

// Check computes the settlement from the books and compares it with the
// workflow's, term by term and payout by payout. A difference is a
// non-retryable BooksDisagree error listing every one; for an input from
// workflow code that does not know about the check (no in.Books) it is
// retryable instead, so such a lease waits visibly on a failing activity
// rather than failing. Such an input's interest is taken as given (its
// instant is unknown), and its forfeiture from the deadline note the
// workflow mirrored.
func (b Books) Check(in SettleInput) error {
	c := BooksCheck{}
	if in.Books != nil {
		c = *in.Books
	} else {
		c.Forfeited = strings.HasPrefix(b.DeadlineNote, "MISSED:") && strings.Contains(b.DeadlineNote, "forfeited")
	}
	t, st, payouts := b.Settlement(c)
	if in.Books == nil {
		t.InterestCents = in.InterestCents
		st = deposit.Settle(t)
		payouts = deposit.PlannedPayouts(b.State(), st.RefundCents)
	}
	diffs := Disagreements(in, t, st, payouts)
	s := b.State()
	if in.GuaranteeCents != s.GuaranteeCents {
		diffs = append(diffs, fmt.Sprintf("guarantee: workflow %d, database %d", in.GuaranteeCents, s.GuaranteeCents))
	}
	if st.BalanceOwedCents > 0 && len(s.Tenants) > 0 && in.InvoiceResidentID != s.Tenants[0].ResidentID {
		diffs = append(diffs, fmt.Sprintf("invoice to resident: workflow %d, database %d", in.InvoiceResidentID, s.Tenants[0].ResidentID))
	}
	if len(diffs) == 0 {
		return nil
	}
	msg := fmt.Sprintf("the books of lease %s disagree with its workflow: %s", b.LeaseID, strings.Join(diffs, "; "))
	if in.Books == nil {
		return temporal.NewApplicationError(msg, ErrBooksDisagree)
	}
	return temporal.NewNonRetryableApplicationError(msg, ErrBooksDisagree, nil)
}

// Disagreements lists every term, result and payout in which the
// workflow's settlement differs from the database's.
func Disagreements(in SettleInput, t deposit.Terms, st deposit.Settlement, payouts []deposit.Payout) []string {
	var out []string
	term := func(name string, wf, books int64) {
		if wf != books {
			out = append(out, fmt.Sprintf("%s: workflow %d, database %d", name, wf, books))
		}
	}
	term("received", in.ReceivedCents, t.ReceivedCents)
	term("interest", in.InterestCents, t.InterestCents)
	term("credits", in.CreditsCents, t.CreditsCents)
	term("arrears", in.ArrearsCents, t.ArrearsCents)
	term("deductions", in.DeductionsCents, t.DeductionsCents)
	term("kept", in.KeptCents, t.KeptCents)
	term("earlier refunds", in.EarlierRefundsCents, t.EarlierRefundsCents)
	term("refund", in.RefundCents, st.RefundCents)
	term("balance owed", in.BalanceOwedCents, st.BalanceOwedCents)
	if in.Outcome != st.Outcome {
		out = append(out, fmt.Sprintf("outcome: workflow %s, database %s", in.Outcome, st.Outcome))
	}
	for i := range max(len(in.Payouts), len(payouts)) {
		var wf, books string
		var wfCents, booksCents int64 = -1, -1
		if i < len(in.Payouts) {
			p := in.Payouts[i]
			wf, wfCents = payeeText(p.ResidentID, p.Name, p.Email), p.AmountCents
		}
		if i < len(payouts) {
			p := payouts[i]
			books, booksCents = payeeText(p.ResidentID, p.Name, p.Email), p.AmountCents
		}
		switch {
		case wf == books && wfCents == booksCents:
		case wf == books:
			out = append(out, fmt.Sprintf("payout to %s: workflow %d, database %d", wf, wfCents, booksCents))
		case wf == "":
			out = append(out, fmt.Sprintf("payout to %s: workflow none, database %d", books, booksCents))
		case books == "":
			out = append(out, fmt.Sprintf("payout to %s: workflow %d, database none", wf, wfCents))
		default:
			out = append(out, fmt.Sprintf("payout %d: workflow %d to %s, database %d to %s", i+1, wfCents, wf, booksCents, books))
		}
	}
	return out
}

func payeeText(residentID int64, name, email string) string {
	return fmt.Sprintf("%s <%s> (resident %d)", name, email, residentID)
}

// Statement is what an email of this kind, or the downloadable statement,
// shows for a lease, built from the database: `deposits email preview` and
// `deposits statement` call it, and so does SendEmail.
func Statement(ctx context.Context, q *db.Queries, leaseID, kind string) (templates.Data, error) {
	b, err := ReadBooks(ctx, q, leaseID)
	if err != nil {
		return templates.Data{}, err
	}
	return b.Data(kind), nil
}

// ForManager says whether an email of this kind goes to the property's
// manager rather than the tenants.
func ForManager(kind string) bool {
	return kind == templates.KindReminder || kind == templates.KindBooksDisagree || kind == templates.KindUnclaimedRefund || kind == templates.KindApproval ||
		kind == templates.KindDisputeOpened || kind == templates.KindDisputeReminder || kind == templates.KindCardHoldFailed
}

// Data is what an email of this kind shows, from the books.
func (b Books) Data(kind string) templates.Data {
	s := b.State()
	data := EmailData(s, b.View, ForManager(kind))
	data.BooksDisagree = b.View.BooksDisagree
	data.Evidence = evidenceLines(s, b.Evidence)
	data.Disputes, data.DisputedCents = disputeLines(b.Disputes, b.Evidence), deposit.DisputedHeld(b.Disputes)
	data.ManagerMessage = b.Message
	return data
}

// Envelope addresses an email named only by its lease, kind and key: to
// the lease's tenants (the first, the others in copy), or to the property's
// manager, with what it shows from the books.
func (b Books) Envelope(in EmailInput) (EmailInput, error) {
	// What only the books' daily pass knows (the interest credited at an
	// anniversary, the refund left unpaid) comes with the input.
	interest, unclaimed, card := in.Data.Interest, in.Data.Unclaimed, in.Data.CardHold
	in.Data = b.Data(in.Kind)
	in.Data.Interest, in.Data.Unclaimed, in.Data.CardHold = interest, unclaimed, card
	in.Data.Approval = in.Approval
	if in.FollowUp != nil {
		in.Data = b.FollowUpEmail(*in.FollowUp)
	}
	if in.PartialRefundID != 0 {
		for _, e := range b.Facts.EarlierRefunds {
			if e.Kind != deposit.EarlierPartialRefund || e.ID != in.PartialRefundID {
				continue
			}
			pr := &templates.PartialRefund{Cents: e.AmountCents, Reason: e.Reason, Payouts: []templates.Line{}, LeftCents: b.State().HeldCents}
			if len(e.Payouts) > 1 || (len(e.Payouts) == 1 && len(b.Facts.Tenants) > 0 && e.Payouts[0].Email != b.Facts.Tenants[0].Email) {
				for _, p := range e.Payouts {
					pr.Payouts = append(pr.Payouts, templates.Line{Description: fmt.Sprintf("%s <%s>", p.Name, p.Email), Cents: p.AmountCents})
				}
			}
			in.Data.PartialRefund = pr
		}
		if in.Data.PartialRefund == nil {
			return in, badData("lease %s has no partial refund %d", b.LeaseID, in.PartialRefundID)
		}
	}
	if in.DisputeID != 0 {
		for _, d := range b.Disputes {
			if d.DisputeID == in.DisputeID {
				l := disputeLine(d, b.Evidence)
				in.Data.Dispute = &l
			}
		}
		if in.Data.Dispute == nil {
			return in, badData("lease %s has no disputed item %d", b.LeaseID, in.DisputeID)
		}
	}
	if in.ToManager || ForManager(in.Kind) {
		if b.ManagerEmail == "" {
			return in, badData("property %s has no manager email (deposits property set %s --manager-email ...)", b.PropertyID, b.PropertyID)
		}
		in.To, in.ToName, in.Cc = b.ManagerEmail, "", nil
		return in, nil
	}
	if len(b.Facts.Tenants) == 0 {
		return in, badData("lease %s has no tenant to write to", b.LeaseID)
	}
	if in.Resident != 0 {
		for _, t := range b.Facts.Tenants {
			if t.ResidentID == in.Resident {
				in.To, in.ToName, in.Cc, in.ToResident = t.Email, t.Name, nil, t.ResidentID
				in.Data.RecipientName = t.Name
				return in, nil
			}
		}
		return in, badData("resident %d is not a tenant of lease %s", in.Resident, b.LeaseID)
	}
	in.To, in.ToName, in.Cc, in.ToResident = b.Facts.Tenants[0].Email, b.Facts.Tenants[0].Name, nil, b.Facts.Tenants[0].ResidentID
	for _, t := range b.Facts.Tenants[1:] {
		if t.Email != in.To {
			in.Cc = append(in.Cc, t.Email)
		}
	}
	return in, nil
}

// EmailData is what an email shows for a lease's state and the law as the
// workflow saw it: the tenant's view, or (forManager) the same figures
// addressed to the property's manager. Every amount is in the state's
// currency and every date on its time zone's calendar (USD and UTC for a
// state that names none).
func EmailData(s deposit.State, v LeaseView, forManager bool) templates.Data {
	data := templates.Data{
		Currency: s.Currency, TimeZone: s.TimeZone,
		LeaseID: s.LeaseID, PropertyID: s.PropertyID, UnitID: s.UnitID,
		TenantName: s.TenantName, TenantEmail: s.TenantEmail, RecipientName: s.TenantName,
		ExpectedCents: s.ExpectedCents, PaidCents: s.PaidCents, ReceivedCents: s.ReceivedCents,
		PrepaidCents: s.PrepaidCents, GuaranteeCents: s.GuaranteeCents,
		InterestCents: s.InterestCents, CreditsCents: s.CreditsCents, EarlierRefundsCents: s.EarlierRefundsCents,
		ArrearsCents: s.ArrearsCents, DeductionsCents: s.DeductionsCents, KeptCents: s.KeptCents,
		MovedOutAt: s.MovedOutAt, ReleaseAt: s.ReleaseAt, OnHold: s.OnHold,
		Payments: []templates.Line{}, Returned: []templates.Line{}, Arrears: []templates.Line{}, Deductions: []templates.Line{},
		Credits: []templates.Line{}, Kept: []templates.Line{}, Payouts: []templates.Line{},
	}
	if len(s.Tenants) > 1 || forManager {
		data.RecipientName = ""
	}
	data.ForManager = forManager
	for _, p := range s.Payments {
		desc := "Payment " + p.Reference
		if p.Date != "" {
			desc += " on " + p.Date
		}
		if p.TransferFrom != "" {
			desc = "Transfer from lease " + p.TransferFrom
			if p.Date != "" {
				desc += " on " + p.Date
			}
		}
		if p.Returned {
			data.Returned = append(data.Returned, templates.Line{Description: desc + " (returned: " + p.ReturnReason + ")", Cents: p.AmountCents})
			continue
		}
		data.Payments = append(data.Payments, templates.Line{Description: desc, Cents: p.AmountCents})
	}
	for _, e := range s.EarlierRefunds {
		data.EarlierRefunds = append(data.EarlierRefunds, templates.Line{Description: EarlierRefundText(e), Cents: e.AmountCents})
	}
	if v.RuleLabel != "" {
		data.RuleLabel, data.ClockStarted, data.ClockWhy = v.RuleLabel, v.ClockStarted, v.ClockWhy
		data.StatementDue, data.RefundDue, data.ObjectionEnds = v.StatementDue, v.RefundDue, v.ObjectionEnds
		data.SettledAt, data.DeadlineMissed, data.InterestWhy = s.ClosedAt, v.DeadlineMissed, v.InterestWhy
	}
	var forfeited []string
	for _, c := range s.Charges {
		if s.Forfeited && c.Category != deposit.CategoryCredit {
			// A missed deadline forfeited the right to withhold: listed, not taken.
			forfeited = append(forfeited, c.Description+" "+money.FormatIn(s.Currency, c.AmountCents))
			data.ForfeitedCents += c.AmountCents
			continue
		}
		l := templates.Line{Description: c.Description, Cents: c.AmountCents}
		switch c.Category {
		case deposit.CategoryArrears:
			data.Arrears = append(data.Arrears, l)
		case deposit.CategoryCredit:
			data.Credits = append(data.Credits, l)
		default:
			data.Deductions = append(data.Deductions, l)
		}
	}
	for _, k := range s.Kept {
		if s.Forfeited {
			forfeited = append(forfeited, "kept: "+k.Reason+" "+money.FormatIn(s.Currency, k.AmountCents))
			data.ForfeitedCents += k.AmountCents
			continue
		}
		data.Kept = append(data.Kept, templates.Line{Description: k.Reason, Cents: k.AmountCents})
	}
	if s.Forfeited {
		data.ArrearsCents, data.DeductionsCents, data.KeptCents = 0, 0, 0
		data.ForfeitedList = strings.Join(forfeited, ", ")
	}
	// Before settlement the emails show what would be refunded if nothing
	// else changes; after it, what was settled.
	st := deposit.Settle(s.Terms())
	payouts := deposit.PlannedPayouts(s, st.RefundCents)
	if s.Stage == deposit.StageClosed {
		payouts = s.Payouts
		if s.SettlementID != 0 {
			st.RefundCents, st.BalanceOwedCents = s.RefundCents, s.BalanceOwedCents
		}
	}
	data.RefundCents, data.BalanceOwedCents = st.RefundCents, st.BalanceOwedCents
	if len(payouts) > 1 || s.PayeeEmail != "" {
		for _, p := range payouts {
			data.Payouts = append(data.Payouts, templates.Line{Description: fmt.Sprintf("%s <%s>", p.Name, p.Email), Cents: p.AmountCents})
		}
	}
	return data
}

// EarlierRefundText names money that left a deposit before its settlement,
// as the statement shows it.
func EarlierRefundText(e deposit.EarlierRefund) string {
	if e.Kind == deposit.EarlierTransfer {
		return "Transferred to lease " + e.ToLease + " on " + e.At.Format(time.DateOnly)
	}
	return "Refunded early on " + e.At.Format(time.DateOnly)
}

// ViewOf is what a workflow's state mirrors into its lease's row.
func ViewOf(s deposit.State) LeaseView {
	v := LeaseView{AssessUntil: s.AssessUntil, OnHold: s.OnHold, InterestCents: s.InterestCents, Forfeited: s.Forfeited,
		DeadlineMissed: s.DeadlineMissed, StatementSentAt: s.StatementAt, BooksDisagree: s.BooksDisagree}
	if s.Rule != nil {
		v.RuleLabel, v.ClockStarted, v.ClockWhy = s.Rule.Label(), s.Clock.Started, s.Clock.Why
		v.StatementDue, v.RefundDue, v.ObjectionEnds = s.Clock.StatementDue, s.Clock.RefundDue, s.Clock.ObjectionEnds
		if s.Interest.Why != "" && (s.Interest.Cents > 0 || s.Rule.Interest != nil) {
			v.InterestWhy = s.Interest.Why
		}
	}
	return v
}

func viewOf(l db.Lease) LeaseView {
	return LeaseView{
		AssessUntil: timeOf(l.AssessUntil), OnHold: l.OnHold, RuleLabel: l.RuleLabel, ClockStarted: l.ClockStarted, ClockWhy: l.ClockWhy,
		StatementDue: timeOf(l.StatementDue), RefundDue: timeOf(l.StatutoryDeadline), ObjectionEnds: timeOf(l.ObjectionEnds),
		InterestCents: l.InterestCents, InterestWhy: l.InterestWhy, Forfeited: l.Forfeited, DeadlineMissed: l.DeadlineMissed,
		StatementSentAt: timeOf(l.StatementSentAt), BooksDisagree: l.BooksDisagree,
	}
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
