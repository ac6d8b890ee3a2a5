package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/books"
	"github.com/depositflow/depositflow/internal/money"
)

// The trust books (issue #19) for a books_admin: reports read from the
// journal the facts post to (migration 015), scoped to the caller's
// properties, and the few facts only the books have: a deposit batch taken
// to the bank, a refund paid, a bank statement reconciled. Each write is
// audited and idempotent by a key the caller can repeat.

// InterestReportThreshold is the least interest a tenant is reported
// for in a year: $10.00, where a 1099-INT is required.
const InterestReportThreshold int64 = 1000

// booksScope checks the principal may do a books action and returns the
// properties it covers (nil: every one), or just the property asked for. A
// read it refuses is audited here (the writes audit every outcome).
func (g *Gateway) booksScope(ctx context.Context, who Principal, action, property string) (props []string, err error) {
	if action == "books.read" {
		defer func() {
			if err != nil {
				g.audit(ctx, who, "", action, map[string]string{"property_id": property}, err)
			}
		}()
	}
	if err := who.may(action); err != nil {
		return nil, err
	}
	if property != "" {
		if err := who.property(property); err != nil {
			return nil, err
		}
		return []string{property}, nil
	}
	if slices.Contains(who.Properties, "*") {
		return nil, nil
	}
	return slices.Clone(who.Properties), nil
}

// cutoff is the instant an as-of day ends (00:00 UTC of the next day);
// no day: everything posted.
func cutoff(asOf string) (time.Time, string, error) {
	if asOf == "" {
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), "", nil
	}
	d, err := time.Parse(time.DateOnly, asOf)
	if err != nil {
		return time.Time{}, "", fail(Invalid, "invalid_date", "as_of", "as_of %q: write the date as YYYY-MM-DD", asOf)
	}
	return d.AddDate(0, 0, 1), d.Format(time.DateOnly), nil
}

// Liability is the liability report: per property and per lease, the
// deposits held according to the deposit records, beside the Security
// Deposit Liability the journal holds, as they stood at the end of asOf
// (empty: now). The total must equal the account's balance; every lease
// where it does not is listed.
func (g *Gateway) Liability(ctx context.Context, who Principal, property, asOf string) (books.Liability, error) {
	props, err := g.booksScope(ctx, who, "books.read", property)
	if err != nil {
		return books.Liability{}, err
	}
	cut, day, err := cutoff(asOf)
	if err != nil {
		return books.Liability{}, err
	}
	q, err := g.queries(ctx)
	if err != nil {
		return books.Liability{}, err
	}
	rows, err := q.LeaseLiabilities(ctx, db.LeaseLiabilitiesParams{Properties: props, Cutoff: cut})
	if err != nil {
		return books.Liability{}, unavailable("the database", err)
	}
	leases := make([]books.LeaseHeld, 0, len(rows))
	for _, r := range rows {
		t := books.HeldTerms{ReceivedCents: r.ReceivedCents, CreditsCents: r.CreditsCents, InterestCreditedCents: r.InterestCreditedCents,
			OtherRefundsCents: r.OtherRefundsCents, TransfersOutCents: r.TransfersOutCents, Settled: r.Settled, SettledReceivedCents: r.SettledReceivedCents,
			SettledCreditsCents: r.SettledCreditsCents, SettledEarlierRefunds: r.SettledEarlierRefundsCents, DisputesHeldCents: r.DisputesHeldCents}
		leases = append(leases, books.LeaseHeld{LeaseID: r.LeaseID, PropertyID: r.PropertyID, Currency: r.Currency, Stage: r.Stage,
			TenantName: r.TenantName, HeldCents: t.Held(), LiabilityCents: r.LiabilityCents})
	}
	return books.BuildLiability(day, leases), nil
}

// TrialBalance lists every account of the caller's properties with its
// balance as posted by the end of asOf (empty: now).
func (g *Gateway) TrialBalance(ctx context.Context, who Principal, property, asOf string) (books.TrialBalance, error) {
	props, err := g.booksScope(ctx, who, "books.read", property)
	if err != nil {
		return books.TrialBalance{}, err
	}
	cut, day, err := cutoff(asOf)
	if err != nil {
		return books.TrialBalance{}, err
	}
	q, err := g.queries(ctx)
	if err != nil {
		return books.TrialBalance{}, err
	}
	rows, err := q.TrialBalance(ctx, db.TrialBalanceParams{Properties: props, Cutoff: cut})
	if err != nil {
		return books.TrialBalance{}, unavailable("the database", err)
	}
	accounts := make([]books.AccountBalance, 0, len(rows))
	for _, r := range rows {
		accounts = append(accounts, books.AccountBalance{PropertyID: r.PropertyID, Currency: r.Currency, Account: r.Account, Number: r.Number,
			Name: r.Name, Type: r.Type, PostedDebit: r.DebitCents, PostedCredit: r.CreditCents})
	}
	return books.BuildTrialBalance(day, accounts), nil
}

// Journal lists the journal's lines dated from..to (accounting dates,
// YYYY-MM-DD, both included).
func (g *Gateway) Journal(ctx context.Context, who Principal, property, from, to string) ([]books.JournalLine, error) {
	props, err := g.booksScope(ctx, who, "books.read", property)
	if err != nil {
		return nil, err
	}
	f, err := parseDay("from", from, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, err
	}
	t, err := parseDay("to", to, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, err
	}
	q, err := g.queries(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := q.JournalLines(ctx, db.JournalLinesParams{Properties: props, FromDate: pgDate(f), ToDate: pgDate(t)})
	if err != nil {
		return nil, unavailable("the database", err)
	}
	out := make([]books.JournalLine, 0, len(rows))
	for _, r := range rows {
		out = append(out, books.JournalLine{EntryID: r.EntryID, Date: r.EntryDate.Time.Format(time.DateOnly), PostedAt: r.PostedAt.UTC(),
			PropertyID: r.PropertyID, Currency: r.Currency, Event: r.Event, Source: r.Source, Memo: r.Memo, LeaseID: r.LeaseID,
			Account: r.Account, AccountNumber: r.AccountNumber, AccountName: r.AccountName, DebitCents: r.DebitCents, CreditCents: r.CreditCents})
	}
	return out, nil
}

// Aging ages what former tenants (moved out, or settled) owe, as of the
// end of asOf (empty: today).
func (g *Gateway) Aging(ctx context.Context, who Principal, property, asOf string) (books.Aging, error) {
	props, err := g.booksScope(ctx, who, "books.read", property)
	if err != nil {
		return books.Aging{}, err
	}
	cut, _, err := cutoff(asOf)
	if err != nil {
		return books.Aging{}, err
	}
	day := g.now().UTC().Truncate(24 * time.Hour)
	if asOf != "" {
		day = cut.AddDate(0, 0, -1)
	}
	q, err := g.queries(ctx)
	if err != nil {
		return books.Aging{}, err
	}
	rows, err := q.ReceivableLines(ctx, db.ReceivableLinesParams{Properties: props, Cutoff: cut})
	if err != nil {
		return books.Aging{}, unavailable("the database", err)
	}
	lines := make([]books.ReceivableLine, 0, len(rows))
	for _, r := range rows {
		lines = append(lines, books.ReceivableLine{LeaseID: r.LeaseID, PropertyID: r.PropertyID, Currency: r.Currency, TenantName: r.TenantName,
			TenantEmail: r.TenantEmail, Date: r.EntryDate.Time, DebitCents: r.DebitCents, CreditCents: r.CreditCents})
	}
	return books.BuildAging(day, lines), nil
}

// InterestRow is one tenant's interest in a year.
type InterestRow struct {
	ResidentID    int64    `json:"resident_id"`
	Name          string   `json:"name"`
	Email         string   `json:"email"`
	Address       string   `json:"address"`
	PropertyID    string   `json:"property_id"`
	Currency      string   `json:"currency"`
	InterestCents int64    `json:"interest_cents"`
	Leases        []string `json:"leases"`
}

// InterestReport is the year-end export: the interest credited or paid to
// each tenant in a calendar year, for those at or above the threshold.
type InterestReport struct {
	Year           int           `json:"year"`
	ThresholdCents int64         `json:"threshold_cents"`
	Tenants        []InterestRow `json:"tenants"`
}

// Interest lists the interest each tenant was credited or paid in a year
// (threshold 0: InterestReportThreshold).
func (g *Gateway) Interest(ctx context.Context, who Principal, property string, year int, threshold int64) (InterestReport, error) {
	props, err := g.booksScope(ctx, who, "books.read", property)
	if err != nil {
		return InterestReport{}, err
	}
	if year < 1990 || year > 9998 {
		return InterestReport{}, fail(Invalid, "invalid", "year", "year %d: give a calendar year", year)
	}
	if threshold <= 0 {
		threshold = InterestReportThreshold
	}
	q, err := g.queries(ctx)
	if err != nil {
		return InterestReport{}, err
	}
	rows, err := q.InterestByTenant(ctx, db.InterestByTenantParams{Year: int32(year), Properties: props, ThresholdCents: threshold})
	if err != nil {
		return InterestReport{}, unavailable("the database", err)
	}
	r := InterestReport{Year: year, ThresholdCents: threshold, Tenants: []InterestRow{}}
	for _, row := range rows {
		r.Tenants = append(r.Tenants, InterestRow{ResidentID: row.ResidentID, Name: row.Name, Email: row.Email, Address: row.ForwardingAddress,
			PropertyID: row.PropertyID, Currency: row.Currency, InterestCents: row.InterestCents, Leases: row.Leases})
	}
	return r, nil
}

// UnclaimedRefund is a refund payout not marked paid within its
// property's days: to chase, and perhaps to escheat.
type UnclaimedRefund struct {
	RefundID       int64      `json:"refund_id"`
	LeaseID        string     `json:"lease_id"`
	PropertyID     string     `json:"property_id"`
	Currency       string     `json:"currency"`
	AmountCents    int64      `json:"amount_cents"`
	RecipientName  string     `json:"recipient_name"`
	RecipientEmail string     `json:"recipient_email"`
	Address        string     `json:"recipient_address"`
	IssuedAt       time.Time  `json:"issued_at"`
	DaysUnpaid     int        `json:"days_unpaid"`
	AfterDays      int        `json:"after_days"`
	FlaggedAt      *time.Time `json:"flagged_at,omitempty"`
}

// UnclaimedRefunds lists the refund payouts of the caller's properties
// not marked paid within their property's days (default 90).
func (g *Gateway) UnclaimedRefunds(ctx context.Context, who Principal, property string) ([]UnclaimedRefund, error) {
	props, err := g.booksScope(ctx, who, "books.read", property)
	if err != nil {
		return nil, err
	}
	q, err := g.queries(ctx)
	if err != nil {
		return nil, err
	}
	now := g.now()
	rows, err := q.ListUnclaimedRefunds(ctx, db.ListUnclaimedRefundsParams{Now: now, Properties: props})
	if err != nil {
		return nil, unavailable("the database", err)
	}
	out := []UnclaimedRefund{}
	for _, r := range rows {
		out = append(out, UnclaimedRefund{RefundID: r.RefundID, LeaseID: r.LeaseID, PropertyID: r.PropertyID, Currency: r.Currency,
			AmountCents: r.AmountInCents, RecipientName: r.RecipientName, RecipientEmail: r.RecipientEmail, Address: r.RecipientAddress,
			IssuedAt: r.CreatedAt.UTC(), DaysUnpaid: int(now.Sub(r.CreatedAt).Hours() / 24), AfterDays: int(r.UnclaimedAfterDays), FlaggedAt: r.UnclaimedFlaggedAt})
	}
	return out, nil
}

// BatchIn asks for a deposit batch: a property's receipts received on or
// before a day and not yet banked, taken to the bank that day.
type BatchIn struct {
	PropertyID string `json:"property_id"`
	Date       string `json:"deposited_on,omitempty"` // YYYY-MM-DD; empty: today (UTC)
	// Reference is the deposit slip's (what the bank statement shows);
	// empty: DEP-<date>. With the day it names the batch: the same again
	// is the same batch.
	Reference string `json:"reference,omitempty"`
}

// Batch is a deposit batch written (or found again).
type Batch struct {
	BatchID     int64  `json:"batch_id"`
	PropertyID  string `json:"property_id"`
	Currency    string `json:"currency"`
	DepositedOn string `json:"deposited_on"`
	Reference   string `json:"reference"`
	TotalCents  int64  `json:"total_cents"`
	Receipts    int64  `json:"receipts"`
	Again       bool   `json:"again"`
}

// BatchOut is every batch a request wrote, one per currency with receipts.
type BatchOut struct {
	Batches []Batch `json:"batches"`
}

// DepositBatch moves a property's undeposited receipts to the trust bank
// as one batch per currency, posted in the batch's transaction.
func (g *Gateway) DepositBatch(ctx context.Context, who Principal, in BatchIn) (out BatchOut, err error) {
	defer func() { g.audit(ctx, who, "", "books.deposit_batch", in, err) }()
	out.Batches = []Batch{}
	if _, err := g.booksScope(ctx, who, "books.deposit", in.PropertyID); err != nil {
		return out, err
	}
	day, err := g.pastDay("deposited_on", in.Date, time.UTC)
	if err != nil {
		return out, err
	}
	date := day.Format(time.DateOnly)
	in.Reference = strings.TrimSpace(in.Reference)
	if in.Reference == "" {
		in.Reference = "DEP-" + date
	}
	if len(in.Reference) > MaxDescription {
		return out, fail(Invalid, "too_long", "reference", "reference is longer than %d characters", MaxDescription)
	}
	// The batch is its day and deposit slip: the same again is the same
	// batch whatever request carries it (clients send a fresh
	// Idempotency-Key with every request).
	key := date + "/" + in.Reference
	q, err := g.queries(ctx)
	if err != nil {
		return out, err
	}
	currencies, err := q.ListPropertyCurrencies(ctx, in.PropertyID)
	if err != nil {
		return out, unavailable("the database", err)
	}
	for _, cur := range currencies {
		k := "deposit-batch/" + in.PropertyID + "/" + cur + "/" + key
		var prev bool
		if _, err := q.GetDepositBatchByKey(ctx, k); err == nil {
			prev = true
		}
		id, err := q.CreateDepositBatch(ctx, db.CreateDepositBatchParams{PropertyID: in.PropertyID, Currency: cur,
			DepositedOn: pgDate(day), IdempotencyKey: k, CreatedBy: who.ID(), Reference: in.Reference})
		if err != nil {
			return out, unavailable("the database", err)
		}
		if id == 0 {
			continue
		}
		b, err := q.GetDepositBatch(ctx, id)
		if err != nil {
			return out, unavailable("the database", err)
		}
		out.Batches = append(out.Batches, Batch{BatchID: b.BatchID, PropertyID: b.PropertyID, Currency: b.Currency, DepositedOn: b.DepositedOn.Time.Format(time.DateOnly),
			Reference: b.Reference, TotalCents: b.TotalCents, Receipts: b.Items, Again: prev})
	}
	return out, nil
}

// RefundPaidIn marks a refund payout paid from the trust account.
type RefundPaidIn struct {
	RefundID  int64  `json:"-"`
	PaidOn    string `json:"paid_on,omitempty"` // YYYY-MM-DD; empty: today (UTC)
	Reference string `json:"reference"`         // the cheque number or transfer reference the bank statement shows
}

// RefundPaid is the refund as marked.
type RefundPaid struct {
	RefundID    int64  `json:"refund_id"`
	LeaseID     string `json:"lease_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	PaidOn      string `json:"paid_on"`
	Reference   string `json:"reference"`
	Again       bool   `json:"again"`
}

// MarkRefundPaid records a refund paid: it leaves Refunds Payable and the
// trust bank in the same transaction. The same reference again changes
// nothing; another one for a refund already paid is refused.
func (g *Gateway) MarkRefundPaid(ctx context.Context, who Principal, in RefundPaidIn) (out RefundPaid, err error) {
	var leaseID string
	defer func() { g.audit(ctx, who, leaseID, "books.refund_paid", in, err) }()
	if err := who.may("books.refund_paid"); err != nil {
		return out, err
	}
	in.Reference = strings.TrimSpace(in.Reference)
	if in.Reference == "" {
		return out, fail(Invalid, "missing_field", "reference", "the reference is required: the cheque number or transfer reference the bank statement will show")
	}
	if len(in.Reference) > MaxDescription {
		return out, fail(Invalid, "too_long", "reference", "reference is longer than %d characters", MaxDescription)
	}
	day, err := g.pastDay("paid_on", in.PaidOn, time.UTC)
	if err != nil {
		return out, err
	}
	q, err := g.queries(ctx)
	if err != nil {
		return out, err
	}
	r, err := q.GetRefundForBooks(ctx, in.RefundID)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && !who.Covers(r.PropertyID) {
		return out, fail(NotFound, "refund_not_found", "refund_id", "there is no refund %d", in.RefundID)
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	leaseID = r.LeaseID
	out = RefundPaid{RefundID: r.RefundID, LeaseID: r.LeaseID, AmountCents: r.AmountInCents, Currency: r.Currency, Reference: in.Reference}
	if r.Status == "paid" {
		out.Again, out.PaidOn = true, r.PaidOn.Time.Format(time.DateOnly)
		if r.PaidReference != in.Reference {
			return out, fail(Conflict, "already_paid", "reference", "refund %d was paid on %s under %s", r.RefundID, out.PaidOn, r.PaidReference)
		}
		return out, nil
	}
	row, err := q.MarkRefundPaid(ctx, db.MarkRefundPaidParams{RefundID: r.RefundID, PaidOn: pgDate(day), PaidReference: in.Reference, PaidBy: who.ID()})
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(Conflict, "already_paid", "refund_id", "refund %d was marked paid meanwhile", r.RefundID)
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	out.PaidOn = row.PaidOn.Time.Format(time.DateOnly)
	return out, nil
}

// ReconcileIn is a bank statement of a property's trust account.
type ReconcileIn struct {
	PropertyID string                `json:"property_id"`
	Currency   string                `json:"currency,omitempty"` // empty: the property's
	Lines      []books.StatementLine `json:"lines"`
}

// MaxStatementLines bounds one statement.
const MaxStatementLines = 20000

// ReconcileStatement matches a bank statement's lines to the trust bank's
// movements in the journal and records the result under the statement's
// digest: sent again, the same reconciliation.
func (g *Gateway) ReconcileStatement(ctx context.Context, who Principal, in ReconcileIn) (out books.Reconciliation, err error) {
	defer func() {
		g.audit(ctx, who, "", "books.reconcile", map[string]any{"property_id": in.PropertyID, "lines": len(in.Lines), "reconciliation_id": out.ID}, err)
	}()
	if _, err := g.booksScope(ctx, who, "books.reconcile", in.PropertyID); err != nil {
		return out, err
	}
	if len(in.Lines) == 0 {
		return out, fail(Invalid, "missing_field", "lines", "the statement has no lines")
	}
	if len(in.Lines) > MaxStatementLines {
		return out, fail(Invalid, "too_many", "lines", "a statement of more than %d lines: reconcile it a month at a time", MaxStatementLines)
	}
	q, err := g.queries(ctx)
	if err != nil {
		return out, err
	}
	p, err := q.GetProperty(ctx, in.PropertyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(NotFound, "property_not_found", "property_id", "there is no property %s", in.PropertyID)
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	if in.Currency == "" {
		in.Currency = p.Currency
	}
	if in.Currency, err = money.CheckCurrency(in.Currency); err != nil {
		return out, fail(Invalid, "invalid", "currency", "%v", err)
	}
	from, to := "9999-12-31", "0000-01-01"
	for i, l := range in.Lines {
		d, err := time.Parse(time.DateOnly, l.Date)
		if err != nil {
			return out, fail(Invalid, "invalid_date", "lines", "line %d: date %q: write it as YYYY-MM-DD", i+1, l.Date)
		}
		if l.AmountCents == 0 || l.AmountCents > money.MaxCents || l.AmountCents < -money.MaxCents {
			return out, fail(Invalid, "invalid", "lines", "line %d: amount %d: give a non-zero amount in cents", i+1, l.AmountCents)
		}
		from, to = min(from, d.Format(time.DateOnly)), max(to, d.Format(time.DateOnly))
	}
	raw, _ := json.Marshal(in)
	sum := sha256.Sum256(raw)
	digest := hex.EncodeToString(sum[:])
	// The statement is its content: the same lines again are the same
	// reconciliation.
	key := "sha256:" + digest
	if prev, err := q.GetReconciliation(ctx, db.GetReconciliationParams{PropertyID: in.PropertyID, IdempotencyKey: key}); err == nil {
		if err := json.Unmarshal(prev.Result, &out); err != nil {
			return out, unavailable("the database", err)
		}
		out.ID = prev.ReconciliationID
		return out, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return out, unavailable("the database", err)
	}
	f, _ := time.Parse(time.DateOnly, from)
	t, _ := time.Parse(time.DateOnly, to)
	rows, err := q.TrustBankMovements(ctx, db.TrustBankMovementsParams{PropertyID: in.PropertyID, Currency: in.Currency,
		FromDate: pgDate(f.AddDate(0, 0, -books.MatchWindow)), ToDate: pgDate(t)})
	if err != nil {
		return out, unavailable("the database", err)
	}
	movements := make([]books.Movement, 0, len(rows))
	for _, r := range rows {
		movements = append(movements, books.Movement{EntryID: r.EntryID, Date: r.EntryDate.Time.Format(time.DateOnly), AmountCents: r.AmountCents,
			Reference: r.Reference, Event: r.Event, Source: r.Source})
	}
	out = books.Reconcile(in.Lines, movements, from, to)
	out.PropertyID, out.Currency = in.PropertyID, in.Currency
	result, _ := json.Marshal(out)
	row, err := q.InsertReconciliation(ctx, db.InsertReconciliationParams{PropertyID: in.PropertyID, Currency: in.Currency,
		StatementFrom: pgDate(f), StatementTo: pgDate(t), StatementSha256: digest, Matched: int32(len(out.Matched)),
		Result: result, CreatedBy: who.ID(), IdempotencyKey: key})
	if err != nil {
		return out, unavailable("the database", err)
	}
	out.ID = row.ReconciliationID
	return out, nil
}

func parseDay(field, s string, otherwise time.Time) (time.Time, error) {
	if s == "" {
		return otherwise, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fail(Invalid, "invalid_date", field, "%s %q: write the date as YYYY-MM-DD", field, s)
	}
	return d, nil
}

func pgDate(t time.Time) pgtype.Date { return pgtype.Date{Time: t, Valid: true} }
