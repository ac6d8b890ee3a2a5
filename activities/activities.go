// Package activities holds every side effect of the deposit workflow: ledger
// writes through sqlc, refunds and invoices, and email through go-mail.
//
// Each activity that writes money or sends mail takes an idempotency key made
// by the workflow from the lease and the step (never the run ID, which changes
// on continue-as-new). A unique constraint on that key makes a retried
// activity find the row its first attempt wrote instead of writing a second.
//
// Errors: bad data (a lease or listing that does not exist, a refused
// recipient) is returned as a non-retryable ApplicationError, because trying
// again cannot fix it; everything else (the database or the mail server being
// away) is retried by Temporal under the policies set in the workflow.
package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/depositflow/depositflow/internal/cardhold"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/tenantlink"
	"github.com/depositflow/depositflow/internal/webhook"
	"github.com/depositflow/depositflow/templates"
)

// Activities carries what the side effects need. Register a *Activities with
// the worker; the workflow refers to its methods.
type Activities struct {
	Pool         *pgxpool.Pool
	Mailer       *Mailer
	Organization string // signs the emails
	// Webhooks wakes the delivery workflows of the webhook events an
	// activity commits (webhooks.go); nil leaves that to reconcile.
	Webhooks WebhookDispatcher
	// Links signs each tenant email's link to the lease's page, and each
	// manager's one-click links (nil: no DEPOSITS_LINK_SECRET, the emails
	// carry no link).
	Links *tenantlink.Signer
	// DisputeRemindAfter is how long a disputed item waits for an answer
	// before a reminder (DefaultDisputeRemindAfter when zero).
	DisputeRemindAfter time.Duration
	// Cards is the card provider of card-hold deposits (nil: the worker
	// has no STRIPE_SECRET_KEY, and card activities wait for one that has).
	Cards cardhold.Provider
}

// New returns the activities over a database pool and a mailer.
func New(pool *pgxpool.Pool, mailer *Mailer, organization string) *Activities {
	return &Activities{Pool: pool, Mailer: mailer, Organization: organization}
}

func (a *Activities) q() *db.Queries { return db.New(a.Pool) }

// ErrBadData is the ApplicationError type of failures no retry can fix.
const ErrBadData = "BadData"

func badData(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrBadData, nil)
}

// ExpectDepositInput names the lease and, when the manager gave one, the
// amount; otherwise the listing's advertised deposit is expected.
type ExpectDepositInput struct {
	LeaseID     string
	AmountCents int64
	Key         string
}

// Expectation is the deposit the tenant must pay, and who the tenants are.
type Expectation struct {
	ExpectedCents int64
	Source        string // "listing <id>" or "manual"
	DepositID     int64  // the cash row written for it
	TenantEmail   string // the first tenant
	TenantName    string
	Tenants       []Tenant // every resident of the lease, in order, with shares
	// The lease's currency (ISO 4217) and time zone (IANA), which it took
	// from its property at its start. Empty in an expectation recorded
	// before leases had them: USD and UTC.
	Currency string `json:",omitempty"`
	TimeZone string `json:",omitempty"`
}

// Tenant is a resident of a lease and the share of the refund they get.
type Tenant struct {
	ResidentID int64
	Email      string
	Name       string
	Share      int64
}

// ExpectDeposit settles the amount the tenant must pay (from the listing
// unless an amount was given) and writes it as the lease's first cash deposit row.
func (a *Activities) ExpectDeposit(ctx context.Context, in ExpectDepositInput) (Expectation, error) {
	q := a.q()
	l, err := q.GetLease(ctx, in.LeaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Expectation{}, badData("lease %s is not in the database", in.LeaseID)
	}
	if err != nil {
		return Expectation{}, err
	}
	exp := Expectation{ExpectedCents: in.AmountCents, Source: "manual", TenantEmail: l.Resident.Email, TenantName: l.Resident.Name,
		Currency: l.Lease.Currency, TimeZone: l.Lease.TimeZone}
	if exp.ExpectedCents == 0 {
		if !l.Lease.ListingID.Valid {
			return Expectation{}, badData("lease %s has neither a deposit amount nor a listing", in.LeaseID)
		}
		listing, err := q.GetListing(ctx, l.Lease.ListingID.String)
		if errors.Is(err, pgx.ErrNoRows) {
			return Expectation{}, badData("listing %s of lease %s does not exist", l.Lease.ListingID.String, in.LeaseID)
		}
		if err != nil {
			return Expectation{}, err
		}
		if listing.DepositAmountInCents <= 0 {
			return Expectation{}, badData("listing %s advertises no deposit", listing.ListingID)
		}
		exp.ExpectedCents, exp.Source = listing.DepositAmountInCents, "listing "+listing.ListingID
	}
	row, err := q.InsertDepositOnce(ctx, db.InsertDepositOnceParams{
		LeaseID: in.LeaseID, DepositType: "cash", AmountInCents: exp.ExpectedCents, Source: exp.Source, IdempotencyKey: in.Key,
	})
	if err != nil {
		return Expectation{}, err
	}
	// A retry returns what the first attempt decided, even if the listing changed since.
	exp.ExpectedCents, exp.Source, exp.DepositID = row.AmountInCents, row.Source, row.DepositID
	residents, err := q.ListLeaseResidents(ctx, in.LeaseID)
	if err != nil {
		return Expectation{}, err
	}
	for _, r := range residents {
		exp.Tenants = append(exp.Tenants, Tenant{ResidentID: r.ResidentID, Email: r.Email, Name: r.Name, Share: int64(r.Share)})
	}
	return exp, nil
}

// ChargeDepositInput is the deposit charge to put on the resident ledger.
type ChargeDepositInput struct {
	LeaseID     string
	AmountCents int64
	Key         string
}

// ChargeDeposit creates the deposit charge on the resident ledger and returns its ID.
func (a *Activities) ChargeDeposit(ctx context.Context, in ChargeDepositInput) (int64, error) {
	q := a.q()
	l, err := q.GetLease(ctx, in.LeaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, badData("lease %s is not in the database", in.LeaseID)
	}
	if err != nil {
		return 0, err
	}
	c, err := q.InsertChargeOnce(ctx, db.InsertChargeOnceParams{
		LeaseID: in.LeaseID, ResidentID: l.Resident.ResidentID, ChargeCodeID: "DEPOSIT",
		AmountInCents: in.AmountCents, Description: "Security deposit", IdempotencyKey: pgtype.Text{String: in.Key, Valid: true},
	})
	if err != nil {
		return 0, err
	}
	return c.ChargeID, nil
}

// StageInput is the lease's stage as the workflow sees it, mirrored into the
// leases table for SQL reports and `deposits list`.
type StageInput struct {
	LeaseID    string
	Stage      string
	Outcome    string
	MovedOutAt time.Time
	ReleaseAt  time.Time
	ClosedAt   time.Time
	// View is what else only the workflow knows (book-of-record version):
	// written with the stage, so the emails built from the database show it.
	View *LeaseView `json:",omitempty"`
}

// SaveLeaseStage mirrors the workflow's stage into the leases table, with
// its view when given. Setting values is idempotent, so retries need no key.
// A change of stage is reported to the webhooks that subscribe to it
// (stage.changed), in the same transaction: the row is locked while its
// stage is compared, so a retry, which finds the stage written, reports
// nothing twice.
func (a *Activities) SaveLeaseStage(ctx context.Context, in StageInput) error {
	var queues []WebhookQueue
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		before, err := q.LockLeaseStage(ctx, in.LeaseID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // as the update would: no such lease, nothing written
		}
		if err != nil {
			return err
		}
		if err := saveStage(ctx, q, in); err != nil {
			return err
		}
		if before != in.Stage {
			queues, err = emitStage(ctx, q, in, before)
		}
		return err
	})
	if err != nil {
		return err
	}
	a.dispatch(ctx, queues)
	return nil
}

func saveStage(ctx context.Context, q *db.Queries, in StageInput) error {
	if v := in.View; v != nil {
		return q.SetLeaseView(ctx, db.SetLeaseViewParams{
			LeaseID: in.LeaseID, Stage: in.Stage, Outcome: in.Outcome,
			MovedOutAt: timePtr(in.MovedOutAt), ReleaseAt: timePtr(in.ReleaseAt), ClosedAt: timePtr(in.ClosedAt),
			OnHold: v.OnHold, AssessUntil: timePtr(v.AssessUntil), RuleLabel: v.RuleLabel, ClockStarted: v.ClockStarted, ClockWhy: v.ClockWhy,
			StatementDue: timePtr(v.StatementDue), StatutoryDeadline: timePtr(v.RefundDue), ObjectionEnds: timePtr(v.ObjectionEnds),
			InterestCents: v.InterestCents, InterestWhy: v.InterestWhy, Forfeited: v.Forfeited, DeadlineMissed: v.DeadlineMissed,
			StatementSentAt: timePtr(v.StatementSentAt), BooksDisagree: v.BooksDisagree,
		})
	}
	return q.SetLeaseStage(ctx, db.SetLeaseStageParams{
		LeaseID: in.LeaseID, Stage: in.Stage, Outcome: in.Outcome,
		MovedOutAt: timePtr(in.MovedOutAt), ReleaseAt: timePtr(in.ReleaseAt), ClosedAt: timePtr(in.ClosedAt),
	})
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// SettleInput is the settlement the workflow computed: every term of the
// refund maths, the result, and the payouts it splits the refund into.
type SettleInput struct {
	LeaseID             string
	Key                 string
	ReceivedCents       int64
	InterestCents       int64
	CreditsCents        int64
	ArrearsCents        int64
	DeductionsCents     int64
	KeptCents           int64
	EarlierRefundsCents int64
	RefundCents         int64
	BalanceOwedCents    int64
	GuaranteeCents      int64
	Outcome             string
	Kept                []KeptLine
	Payouts             []PayoutPlan // add up to RefundCents
	InvoiceResidentID   int64        // who the invoice for a balance is addressed to
	// Books is what the database's terms are computed with; workflows from
	// before the database was the book of record send none (see Books.Check).
	Books *BooksCheck `json:",omitempty"`
	// HoldDisputes holds what the deposit covers of the disputed items
	// (workflows of the disputes version): SettleResult.Held.
	HoldDisputes bool `json:",omitempty"`
}

// KeptLine is an amount kept by a manager, recorded with the settlement.
type KeptLine struct {
	AmountCents int64  `json:"amount_cents"`
	Reason      string `json:"reason"`
	RequestedBy string `json:"requested_by"`
	ApprovedBy  string `json:"approved_by,omitempty"`
}

// PayoutPlan is one refund payment to make.
type PayoutPlan struct {
	ResidentID  int64 // the resident (for a payee: the lease's first resident)
	Email       string
	Name        string
	AmountCents int64
}

// SettleResult says what was written.
type SettleResult struct {
	SettlementID int64
	RefundIDs    []int64
	InvoiceID    int64
	// Held are the lease's disputed items once the settlement held what the
	// deposit covers of them.
	Held []deposit.Dispute `json:",omitempty"`
}

// SettleDeposit writes the settlement, its refund payouts or its invoice, and
// the audit rows, in one transaction and exactly once per key: a retry finds
// the rows the first attempt wrote (unique keys), so no payout can be made
// twice. Before it writes, in the same transaction (one snapshot), it
// computes the settlement from the lease's books and writes only when every
// term and payout equals the workflow's (Books.Check): otherwise it returns
// a BooksDisagree error naming each difference, and nothing is paid. The
// database checks the maths again (a CHECK constraint on settlements).
func (a *Activities) SettleDeposit(ctx context.Context, in SettleInput) (SettleResult, error) {
	var sum int64
	for _, p := range in.Payouts {
		if p.AmountCents <= 0 {
			return SettleResult{}, badData("payout of %d cents to %s: payouts must be positive", p.AmountCents, p.Email)
		}
		sum += p.AmountCents
	}
	if sum != in.RefundCents {
		return SettleResult{}, badData("payouts add up to %d cents, not the refund of %d", sum, in.RefundCents)
	}
	if in.BalanceOwedCents > 0 && in.InvoiceResidentID == 0 {
		return SettleResult{}, badData("a balance owed needs a resident to invoice")
	}
	kept, err := json.Marshal(in.Kept)
	if err != nil {
		return SettleResult{}, err
	}
	var res SettleResult
	var queues []WebhookQueue
	err = pgx.BeginTxFunc(ctx, a.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		q := db.New(tx)
		queues = nil
		if in.HoldDisputes {
			// First: no dispute slips in between the books and the hold (holdDisputes).
			if _, err := q.LockLease(ctx, in.LeaseID); err != nil {
				return leaseErr(in.LeaseID, err)
			}
		}
		// A settlement written under this key (a retry after success) is
		// found again below, whatever changed since; otherwise the books decide.
		prev, err := q.GetSettlement(ctx, in.LeaseID)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && prev.IdempotencyKey != in.Key) {
			b, err := ReadBooks(ctx, q, in.LeaseID)
			if err != nil {
				return err
			}
			if in.Books != nil {
				if err := b.LoadLaw(ctx, q); err != nil {
					return err
				}
			}
			if err := b.Check(in); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		st, err := q.InsertSettlementOnce(ctx, db.InsertSettlementOnceParams{
			LeaseID: in.LeaseID, ReceivedCents: in.ReceivedCents, InterestCents: in.InterestCents,
			ArrearsCents: in.ArrearsCents, DeductionsCents: in.DeductionsCents, KeptCents: in.KeptCents,
			EarlierRefundsCents: in.EarlierRefundsCents, CreditsCents: in.CreditsCents,
			RefundCents: in.RefundCents, BalanceOwedCents: in.BalanceOwedCents, GuaranteeCents: in.GuaranteeCents,
			Outcome: in.Outcome, Kept: kept, IdempotencyKey: in.Key,
		})
		if err != nil {
			return err
		}
		res.SettlementID = st.SettlementID
		if in.HoldDisputes {
			if res.Held, err = holdDisputes(ctx, q, in, st.SettlementID); err != nil {
				return err
			}
		}
		settlementID := pgtype.Int8{Int64: st.SettlementID, Valid: true}
		for i, p := range in.Payouts {
			r, err := q.GetResident(ctx, p.ResidentID)
			if err != nil {
				return leaseErr(in.LeaseID, err)
			}
			key := fmt.Sprintf("%s/refund/%d", in.Key, i+1)
			row, err := q.InsertPayoutOnce(ctx, db.InsertPayoutOnceParams{
				LeaseID: in.LeaseID, ResidentID: p.ResidentID, AmountInCents: p.AmountCents,
				ReceivedCents: in.ReceivedCents, ArrearsCents: in.ArrearsCents, DeductionsCents: in.DeductionsCents, KeptCents: in.KeptCents,
				RecipientName: p.Name, RecipientEmail: p.Email, RecipientAddress: r.ForwardingAddress,
				IdempotencyKey: key, SettlementID: settlementID,
			})
			if err != nil {
				return err
			}
			res.RefundIDs = append(res.RefundIDs, row.RefundID)
			qs, err := emitRefund(ctx, q, in.LeaseID, key, webhook.RefundDue{RefundID: row.RefundID, SettlementID: st.SettlementID,
				Outcome: in.Outcome, AmountInCents: row.AmountInCents, RecipientName: row.RecipientName,
				RecipientEmail: row.RecipientEmail, RecipientAddress: row.RecipientAddress})
			if err != nil {
				return err
			}
			queues = append(queues, qs...)
		}
		if in.BalanceOwedCents > 0 {
			r, err := q.GetResident(ctx, in.InvoiceResidentID)
			if err != nil {
				return leaseErr(in.LeaseID, err)
			}
			inv, err := q.InsertSettlementInvoiceOnce(ctx, db.InsertSettlementInvoiceOnceParams{
				LeaseID: in.LeaseID, ResidentID: r.ResidentID, AmountDueInCents: in.BalanceOwedCents,
				ReceivedCents: in.ReceivedCents, ArrearsCents: in.ArrearsCents, DeductionsCents: in.DeductionsCents, KeptCents: in.KeptCents,
				RecipientName: r.Name, RecipientEmail: r.Email, RecipientAddress: r.ForwardingAddress,
				IdempotencyKey: in.Key + "/invoice", SettlementID: settlementID,
			})
			if err != nil {
				return err
			}
			res.InvoiceID = inv.InvoiceID
			qs, err := emitInvoice(ctx, q, in.LeaseID, in.Key+"/invoice", webhook.InvoiceDue{InvoiceID: inv.InvoiceID, SettlementID: st.SettlementID,
				AmountDueInCents: inv.AmountDueInCents, RecipientName: inv.RecipientName, RecipientEmail: inv.RecipientEmail, RecipientAddress: inv.RecipientAddress})
			if err != nil {
				return err
			}
			queues = append(queues, qs...)
		}
		n, err := q.CountAudit(ctx, db.CountAuditParams{LeaseID: in.LeaseID, Action: "settle"})
		if err != nil || n > 0 {
			return err
		}
		req, err := json.Marshal(in)
		if err != nil {
			return err
		}
		return systemAudit(ctx, q, in.LeaseID, "settle", req,
			fmt.Sprintf("%s: settlement %d, refund %d cents in %d payout(s), balance owed %d cents", in.Outcome, st.SettlementID, in.RefundCents, len(in.Payouts), in.BalanceOwedCents))
	})
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23514" { // check_violation: the maths do not add up
			return SettleResult{}, badData("settlement refused by the database: %s", pe.Message)
		}
		return SettleResult{}, err
	}
	// The refund is due now: its webhooks leave at once, not at the PMS's next sync.
	a.dispatch(ctx, queues)
	activity.GetLogger(ctx).Info("deposit settled", "lease_id", in.LeaseID, "settlement_id", res.SettlementID,
		"outcome", in.Outcome, "refund_cents", in.RefundCents, "balance_owed_cents", in.BalanceOwedCents)
	return res, nil
}

// SettlementInput is the refund or invoice the workflow computed, with the
// terms it came from. Workflows started before settlements existed still
// issue their refund or invoice through IssueRefund and IssueInvoice.
type SettlementInput struct {
	LeaseID         string
	Key             string
	AmountCents     int64
	ReceivedCents   int64
	ArrearsCents    int64
	DeductionsCents int64
	KeptCents       int64 // kept by manager decisions
}

// Payable is a refund or invoice as written.
type Payable struct {
	ID             int64
	AmountCents    int64
	RecipientEmail string
	RecipientName  string
}

// IssueRefund writes the refund payable to the tenant, with the recipient's
// contact details, exactly once per key, and its audit row in the same
// transaction: no money moves without a row in the audit log.
func (a *Activities) IssueRefund(ctx context.Context, in SettlementInput) (Payable, error) {
	return a.issue(ctx, in, "refund", func(q *db.Queries, r db.Resident) (Payable, error) {
		row, err := q.InsertRefundOnce(ctx, db.InsertRefundOnceParams{
			LeaseID: in.LeaseID, ResidentID: r.ResidentID, AmountInCents: in.AmountCents,
			ReceivedCents: in.ReceivedCents, ArrearsCents: in.ArrearsCents, DeductionsCents: in.DeductionsCents, KeptCents: in.KeptCents,
			RecipientName: r.Name, RecipientEmail: r.Email, RecipientAddress: r.ForwardingAddress, IdempotencyKey: in.Key,
		})
		return Payable{ID: row.RefundID, AmountCents: row.AmountInCents, RecipientEmail: row.RecipientEmail, RecipientName: row.RecipientName}, err
	})
}

// IssueInvoice writes an invoice for the balance the tenant owes beyond the
// deposit, exactly once per key, with its audit row.
func (a *Activities) IssueInvoice(ctx context.Context, in SettlementInput) (Payable, error) {
	return a.issue(ctx, in, "invoice", func(q *db.Queries, r db.Resident) (Payable, error) {
		row, err := q.InsertInvoiceOnce(ctx, db.InsertInvoiceOnceParams{
			LeaseID: in.LeaseID, ResidentID: r.ResidentID, AmountDueInCents: in.AmountCents,
			ReceivedCents: in.ReceivedCents, ArrearsCents: in.ArrearsCents, DeductionsCents: in.DeductionsCents, KeptCents: in.KeptCents,
			RecipientName: r.Name, RecipientEmail: r.Email, RecipientAddress: r.ForwardingAddress, IdempotencyKey: in.Key,
		})
		return Payable{ID: row.InvoiceID, AmountCents: row.AmountDueInCents, RecipientEmail: row.RecipientEmail, RecipientName: row.RecipientName}, err
	})
}

// issue writes one payable (a refund or an invoice) and its audit row in one transaction.
func (a *Activities) issue(ctx context.Context, in SettlementInput, what string, write func(*db.Queries, db.Resident) (Payable, error)) (Payable, error) {
	if in.AmountCents <= 0 {
		return Payable{}, badData("%s of %d cents: it must be positive", what, in.AmountCents)
	}
	var p Payable
	var queues []WebhookQueue
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		l, err := q.GetLease(ctx, in.LeaseID)
		if err != nil {
			return leaseErr(in.LeaseID, err)
		}
		if p, err = write(q, l.Resident); err != nil {
			return err
		}
		if what == "refund" {
			queues, err = emitRefund(ctx, q, in.LeaseID, in.Key, webhook.RefundDue{RefundID: p.ID, AmountInCents: p.AmountCents,
				RecipientName: p.RecipientName, RecipientEmail: p.RecipientEmail})
		} else {
			queues, err = emitInvoice(ctx, q, in.LeaseID, in.Key, webhook.InvoiceDue{InvoiceID: p.ID, AmountDueInCents: p.AmountCents,
				RecipientName: p.RecipientName, RecipientEmail: p.RecipientEmail})
		}
		if err != nil {
			return err
		}
		return auditOnce(ctx, q, in, what+".issue", fmt.Sprintf("%s %d of %d cents to %s", what, p.ID, p.AmountCents, p.RecipientEmail))
	})
	if err != nil {
		return Payable{}, err
	}
	a.dispatch(ctx, queues)
	activity.GetLogger(ctx).Info(what+" issued", "lease_id", in.LeaseID, what+"_id", p.ID, "cents", p.AmountCents)
	return p, nil
}

// auditOnce writes the engine's own audit row for a settlement; a retry of
// the same settlement finds it there and writes none.
func auditOnce(ctx context.Context, q *db.Queries, in SettlementInput, action, result string) error {
	n, err := q.CountAudit(ctx, db.CountAuditParams{LeaseID: in.LeaseID, Action: action})
	if err != nil || n > 0 {
		return err
	}
	req, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return systemAudit(ctx, q, in.LeaseID, action, req, result)
}

// systemAudit writes an audit row of the engine's own (accepted) action.
func systemAudit(ctx context.Context, q *db.Queries, leaseID, action string, req []byte, result string) error {
	_, err := q.InsertAudit(ctx, db.InsertAuditParams{Actor: "depositflow", Role: "system", Principal: "system:depositflow",
		LeaseID: leaseID, Action: action, Request: req, Accepted: pgtype.Bool{Bool: true, Valid: true}, Result: result})
	return err
}

func leaseErr(leaseID string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return badData("lease %s is not in the database", leaseID)
	}
	return err
}

// Policy is what a property decides for its deposits.
type Policy struct {
	ManagerEmail           string // reminders go here; none when empty
	ApprovalThresholdCents int64  // keeping more than this needs a books_admin's approval; 0: never
	// ReminderDays are the days before an automatic release the managers
	// are reminded; nil: the default (10, 5 and 1); empty: none.
	ReminderDays []int
}

// GetPropertyPolicy reads the property's current policy. The workflow asks
// at the moment it needs it, so a changed threshold applies to the next decision.
func (a *Activities) GetPropertyPolicy(ctx context.Context, propertyID string) (Policy, error) {
	p, err := a.q().GetProperty(ctx, propertyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Policy{}, badData("property %s is not in the database", propertyID)
	}
	if err != nil {
		return Policy{}, err
	}
	out := Policy{ManagerEmail: p.ManagerEmail, ApprovalThresholdCents: p.ApprovalThresholdCents.Int64}
	if p.ReminderDays != nil {
		out.ReminderDays = make([]int, 0, len(p.ReminderDays))
		for _, n := range p.ReminderDays {
			out.ReminderDays = append(out.ReminderDays, int(n))
		}
	}
	return out, nil
}

// EmailInput is one email: its kind and the key that makes it go out once.
// A workflow of the book-of-record version names only its lease (and, for
// a reminder, that it goes to the manager): SendEmail builds what it shows
// and addresses it from the database (Books.Envelope). Older workflows give
// the recipient and every line themselves.
type EmailInput struct {
	Key       string
	Kind      string
	LeaseID   string `json:",omitempty"`
	ToManager bool   `json:",omitempty"`
	// Managers sends the email to each of the property's managers (users
	// with the manager role on it and an email), each copy with one-click
	// links that act as them (manager.go); MoveOutAlert marks the alert
	// sent at the move-out.
	Managers     bool `json:",omitempty"`
	MoveOutAlert bool `json:",omitempty"`
	// Approval is the decision an approval email tells the managers.
	Approval *templates.Approval `json:",omitempty"`
	// FollowUp is what a follow_up email tells: a fact that came after the
	// settlement and what it became.
	FollowUp *FollowUp `json:",omitempty"`
	// DisputeID is the disputed item a dispute email is about.
	DisputeID int64 `json:",omitempty"`
	// PartialRefundID is the partial refund a partial_refund email tells.
	PartialRefundID int64 `json:",omitempty"`
	// Resident addresses the email to one tenant of the lease alone (a new
	// link to their page); ToResident is who it went to, for their link.
	Resident   int64 `json:",omitempty"`
	ToResident int64 `json:",omitempty"`
	To         string
	ToName     string
	Cc         []string // co-tenants
	Data       templates.Data
}

// EmailResult says which message went out.
type EmailResult struct {
	MessageID   string
	AlreadySent bool // an earlier attempt had sent it
	// Skipped: there was no one to send it to, and it is not owed (the
	// alert at a move-out to a property with no manager to alert).
	Skipped bool `json:",omitempty"`
}

// SendEmail renders the email and sends it once: the outbox row claimed under
// the key remembers that it was sent, so a retry after success does nothing.
// SMTP cannot promise more than that: when an attempt dies after the server
// may have accepted the message (ErrInDoubt, or the worker killed before it
// recorded the answer), the retry sends it again rather than risk a notice the
// law requires never arriving; the outbox counts such retries
// (attempts_in_doubt), and the Message-ID and Date come from the key and the
// first attempt, so the copy is the same message to the tenant's mail client.
func (a *Activities) SendEmail(ctx context.Context, in EmailInput) (EmailResult, error) {
	if in.LeaseID != "" {
		b, err := ReadBooks(ctx, a.q(), in.LeaseID)
		if err != nil {
			return EmailResult{}, err
		}
		if in.Managers {
			// Each of the property's managers, with links of their own
			// (manager.go); none: the property's manager email, as before.
			if res, sent, err := a.sendToManagers(ctx, b, in); sent || err != nil {
				return res, err
			}
			if in.MoveOutAlert || in.Kind == templates.KindApproval {
				// The alert at the move-out and the approval emails are for
				// the property's managers (people); its manager email gets
				// the reminders, as before.
				return EmailResult{Skipped: true}, nil
			}
		}
		if in, err = b.Envelope(in); err != nil {
			return EmailResult{}, err
		}
		in.Data.MoveOutAlert = in.MoveOutAlert
		if in.Data.CardHold == nil {
			// A deposit held on a card says so, and at the release what
			// the hold became.
			h, err := CardHoldOf(ctx, a.q(), in.LeaseID)
			if err != nil {
				return EmailResult{}, err
			}
			if h != nil {
				in.Data.CardHold = &templates.CardHold{AmountCents: h.AmountCents, Status: h.Status,
					CapturedCents: h.CapturedCents, ReleasedCents: h.ReleasedCents}
			}
		}
	}
	return a.deliver(ctx, in, atRiskFact(in))
}

// atRiskFact is the fact a reminder reports as a deadline.at_risk webhook
// event (once, whoever it went to); "" for any other email.
func atRiskFact(in EmailInput) string {
	if in.Kind != templates.KindReminder || in.MoveOutAlert {
		return ""
	}
	return in.Key
}

// deliver renders an addressed email and sends it once (SendEmail). A
// reminder near a statutory deadline is reported as atRisk.
func (a *Activities) deliver(ctx context.Context, in EmailInput, atRisk string) (EmailResult, error) {
	if in.To == "" {
		return EmailResult{}, badData("%s email for lease %s has no recipient", in.Kind, in.Data.LeaseID)
	}
	in.Data.Organization = a.Organization
	if a.Links != nil && in.ToResident != 0 && !in.ToManager && !ForManager(in.Kind) {
		// The tenant's own link, signed when first rendered: a retry sends
		// the same one (the outbox keeps the first rendering).
		in.Data.PageURL = a.Links.URL(in.Data.LeaseID, in.ToResident)
	}
	r, err := templates.Render(in.Kind, in.Data)
	if err != nil {
		return EmailResult{}, badData("%v", err)
	}
	q := a.q()
	msgID := strings.NewReplacer("/", ".", " ", "_").Replace(in.Key) + "@" + a.Mailer.Domain
	cc := in.Cc
	if cc == nil {
		cc = []string{}
	}
	claim := db.ClaimEmailParams{
		IdempotencyKey: in.Key, LeaseID: in.Data.LeaseID, Kind: in.Kind, MessageID: msgID,
		Recipient: in.To, Subject: r.Subject, RecipientName: in.ToName, Cc: cc,
		BodyText: pgtype.Text{String: r.Text, Valid: true}, BodyHtml: pgtype.Text{String: r.HTML, Valid: true},
	}
	var row db.EmailOutbox
	var queues []WebhookQueue
	if atRisk != "" {
		// A reminder near a statutory deadline is a deadline.at_risk event,
		// written with the email's claim.
		err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
			tq := db.New(tx)
			if row, err = tq.ClaimEmail(ctx, claim); err != nil {
				return err
			}
			queues, err = emitAtRisk(ctx, tq, in.Data.LeaseID, atRisk, time.Now())
			return err
		})
	} else {
		row, err = q.ClaimEmail(ctx, claim)
	}
	if err != nil {
		return EmailResult{}, err
	}
	a.dispatch(ctx, queues)
	if row.SentAt != nil {
		return EmailResult{MessageID: row.MessageID, AlreadySent: true}, nil
	}
	err = a.Mailer.Send(ctx, firstRendered(row, r, in))
	if err != nil {
		// Best effort: the error is also in the activity's failure.
		_ = q.MarkEmailFailed(context.WithoutCancel(ctx), db.MarkEmailFailedParams{
			EmailID: row.EmailID, LastError: err.Error(), InDoubt: errors.Is(err, ErrInDoubt),
		})
		if errors.Is(err, ErrRejected) {
			return EmailResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "EmailRejected", err)
		}
		return EmailResult{}, fmt.Errorf("sending %s email via %s: %w", in.Kind, a.Mailer.Addr(), err)
	}
	// The message is out: failing now would send it again, so a database that
	// is briefly away (a restart, a failover) is waited for.
	if err := retryUntilDone(ctx, func() error { return q.MarkEmailSent(ctx, row.EmailID) }); err != nil {
		return EmailResult{}, fmt.Errorf("recording the %s email sent (it was): %w", in.Kind, err)
	}
	activity.GetLogger(ctx).Info("email sent", "lease_id", in.Data.LeaseID, "kind", in.Kind, "message_id", row.MessageID)
	return EmailResult{MessageID: row.MessageID}, nil
}

// firstRendered is the message as the outbox row's first attempt rendered
// it: a retry sends the same bytes even if the facts it shows have moved
// since. A row from before the outbox kept messages sends this rendering.
func firstRendered(row db.EmailOutbox, r templates.Rendered, in EmailInput) Email {
	e := Email{MessageID: row.MessageID, To: row.Recipient, ToName: in.ToName, Cc: in.Cc,
		Subject: r.Subject, Text: r.Text, HTML: r.HTML, Date: row.CreatedAt}
	if row.BodyText.Valid && row.BodyHtml.Valid {
		e.ToName, e.Cc, e.Subject, e.Text, e.HTML = row.RecipientName, row.Cc, row.Subject, row.BodyText.String, row.BodyHtml.String
	}
	return e
}

// retryUntilDone calls f until it succeeds or ctx ends (the activity's own
// timeout), waiting 100 ms, doubling, at most 2 s between calls.
func retryUntilDone(ctx context.Context, f func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
