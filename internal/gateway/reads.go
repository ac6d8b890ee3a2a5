package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
	"github.com/depositflow/depositflow/templates"
	"github.com/depositflow/depositflow/workflows"
)

// Reads: what people look at about leases. Each checks the caller may read
// the lease (or lists only the leases of its properties).

// readLease opens a lease for reading.
func (g *Gateway) readLease(ctx context.Context, who Principal, leaseID string) (*db.Queries, db.GetLeaseRow, error) {
	err := who.may("read")
	if err != nil {
		g.audit(ctx, who, leaseID, "read", nil, err)
		return nil, db.GetLeaseRow{}, err
	}
	q, l, err := g.lease(ctx, who, leaseID)
	if IsKind(err, NotFound) || IsKind(err, Invalid) {
		// Someone asked for a lease they may not see (or that is not there).
		g.audit(ctx, who, leaseID, "read", nil, err)
	}
	return q, l, err
}

// Ledger reads a lease's money rows from the database and checks the
// conservation rules:
//
//	received + interest + credits = held + refunded + transferred + applied
//	arrears + deductions + kept     = applied + invoiced       (once settled)
func (g *Gateway) Ledger(ctx context.Context, who Principal, leaseID string) (deposit.Ledger, error) {
	r := deposit.Ledger{LeaseID: leaseID, Entries: []deposit.LedgerEntry{}}
	q, l, err := g.readLease(ctx, who, leaseID)
	if err != nil {
		return r, err
	}
	r.Currency = l.Lease.Currency
	entry := func(kind, ref, desc string, cents int64) {
		r.Entries = append(r.Entries, deposit.LedgerEntry{Kind: kind, Ref: ref, Description: desc, Cents: cents})
	}
	payments, err := q.ListPayments(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, p := range payments {
		entry("payment", p.Reference, "paid on "+p.TransactionDate.Time.Format(time.DateOnly), p.AmountInCents)
		r.ReceivedCents += p.AmountInCents
		if p.ReturnedAt != nil {
			entry("returned", p.Reference, "returned ("+p.ReturnReason+")", -p.AmountInCents)
			r.ReceivedCents -= p.AmountInCents
		}
	}
	deposits, err := q.ListDeposits(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, d := range deposits {
		if d.Approval == "pending" || d.Approval == "declined" {
			continue
		}
		switch d.DepositType {
		case deposit.DepositPrepaid:
			entry("prepaid", fmt.Sprint(d.DepositID), "prepaid deposit", d.AmountInCents)
			r.ReceivedCents += d.AmountInCents
		case deposit.DepositGuarantee:
			r.GuaranteeCents += d.AmountInCents
		}
	}
	charges, err := q.ListCharges(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, c := range charges {
		if c.Category == deposit.CategoryCredit && c.Approval != "pending" && c.Approval != "declined" {
			entry("credit", fmt.Sprint(c.ChargeID), c.Description, c.AmountInCents)
			r.CreditsCents += c.AmountInCents
		}
	}
	// What left before the settlement (#16): transfers to other leases and
	// partial refunds.
	transfers, err := q.ListTransfersOut(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, t := range transfers {
		entry("transfer", fmt.Sprint(t.TransferID), "transferred to lease "+t.ToLeaseID, -t.AmountInCents)
		r.TransferredCents += t.AmountInCents
	}
	refunds, err := q.ListRefunds(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	var early int64
	for _, f := range refunds {
		if f.PartialRefundID.Valid {
			entry("refund", fmt.Sprint(f.RefundID), "partial refund to "+f.RecipientEmail, -f.AmountInCents)
			r.RefundedCents += f.AmountInCents
			early += f.AmountInCents
		}
	}
	r.EarlierRefundsCents = early + r.TransferredCents
	st, err := q.GetSettlement(ctx, leaseID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return r, unavailable("the database", err)
	}
	r.Settled = err == nil
	if !r.Settled {
		// Nothing has left yet but what was refunded or transferred early:
		// everything else received is held.
		r.HeldCents = r.ReceivedCents + r.CreditsCents - r.RefundedCents - r.TransferredCents
		r.Conserved = true
		return r, nil
	}
	r.InterestCents = st.InterestCents
	// Money that came after the settlement is followed up on its own: a late
	// payment or credit refunded, a late charge invoiced. The settlement's
	// own figures are checked without it.
	var settledRefunds, lateIn, lateClaimed, settledInvoices int64
	for _, f := range refunds {
		if f.PartialRefundID.Valid {
			continue // counted above
		}
		desc := "refund to " + f.RecipientEmail
		if f.Follows.Valid && deposit.IsDisputeKey(f.Follows.String) {
			// A disputed item's resolution paid back part of what the
			// settlement applied.
			desc = "paid back on disputed item " + strings.TrimPrefix(f.Follows.String, "dispute:") + " to " + f.RecipientEmail
			r.ConcededCents += f.AmountInCents
		} else if f.Follows.Valid {
			desc = "follow-up refund of " + f.Follows.String + " to " + f.RecipientEmail
			lateIn += f.AmountInCents
		} else {
			settledRefunds += f.AmountInCents
		}
		entry("refund", fmt.Sprint(f.RefundID), desc, -f.AmountInCents)
		r.RefundedCents += f.AmountInCents
	}
	// What the settlement applied of what it counted to what the tenant owed.
	r.AppliedCents = max(st.ReceivedCents+st.InterestCents+st.CreditsCents-st.RefundCents-st.EarlierRefundsCents, 0)
	// Of it, what disputed items still hold is not applied yet, and what
	// their resolutions paid back never was.
	disputes, err := q.ListDisputes(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, d := range disputes {
		if d.Held && d.SettledAt == nil {
			r.DisputedCents += d.HeldCents
		}
	}
	r.AppliedCents -= r.DisputedCents + r.ConcededCents
	if r.AppliedCents > 0 {
		entry("applied", fmt.Sprint(st.SettlementID),
			fmt.Sprintf("kept for arrears %s, deductions %s, decisions %s", money.FormatIn(r.Currency, st.ArrearsCents), money.FormatIn(r.Currency, st.DeductionsCents), money.FormatIn(r.Currency, st.KeptCents)),
			-r.AppliedCents)
	}
	invoices, err := q.ListInvoices(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, inv := range invoices {
		r.InvoicedCents += inv.AmountDueInCents
		if inv.Follows.Valid {
			entry("invoice", fmt.Sprint(inv.InvoiceID), "follow-up invoice of "+inv.Follows.String+" to "+inv.RecipientEmail, inv.AmountDueInCents)
			lateClaimed += inv.AmountDueInCents
		} else {
			settledInvoices += inv.AmountDueInCents
		}
	}
	r.ClaimedCents = st.ArrearsCents + st.DeductionsCents + st.KeptCents + lateClaimed
	funds := r.ReceivedCents + r.InterestCents + r.CreditsCents
	r.HeldCents = funds - r.RefundedCents - r.TransferredCents - r.AppliedCents
	r.Conserved = r.HeldCents == r.DisputedCents && r.EarlierRefundsCents == st.EarlierRefundsCents &&
		st.ReceivedCents+st.CreditsCents == r.ReceivedCents+r.CreditsCents-lateIn &&
		settledRefunds == st.RefundCents && settledInvoices == st.BalanceOwedCents &&
		r.ClaimedCents == r.AppliedCents+r.InvoicedCents+r.ConcededCents+r.DisputedCents
	return r, nil
}

// FollowUps lists what a settled lease followed up: payments and charges
// that came after its settlement, refunded or invoiced.
func (g *Gateway) followUps(ctx context.Context, q *db.Queries, leaseID string) ([]deposit.FollowUp, error) {
	rows, err := q.ListFollowUps(ctx, leaseID)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	var out []deposit.FollowUp
	for _, r := range rows {
		out = append(out, deposit.FollowUp{Kind: r.Kind, Follows: r.Follows, AmountCents: r.AmountInCents, Recipient: r.RecipientEmail, At: r.CreatedAt})
	}
	return out, nil
}

// Audit lists every action on a lease, accepted, refused or under way.
func (g *Gateway) Audit(ctx context.Context, who Principal, leaseID string) ([]deposit.AuditEntry, error) {
	q, _, err := g.readLease(ctx, who, leaseID)
	if err != nil {
		return nil, err
	}
	rows, err := q.ListAudit(ctx, leaseID)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	out := []deposit.AuditEntry{}
	for _, r := range rows {
		e := deposit.AuditEntry{ID: r.AuditID, At: r.At, Actor: r.Actor, Role: r.Role, Principal: r.Principal, Origin: r.Origin,
			LeaseID: r.LeaseID, Action: r.Action, Request: r.Request, Result: r.Result}
		if r.Accepted.Valid {
			e.Accepted = &r.Accepted.Bool
		}
		out = append(out, e)
	}
	return out, nil
}

// Emails lists a lease's emails from the outbox: it works while Temporal is away.
func (g *Gateway) Emails(ctx context.Context, who Principal, leaseID string) ([]deposit.EmailEntry, error) {
	q, _, err := g.readLease(ctx, who, leaseID)
	if err != nil {
		return nil, err
	}
	rows, err := q.ListLeaseEmails(ctx, leaseID)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	out := []deposit.EmailEntry{}
	for _, r := range rows {
		out = append(out, deposit.EmailEntry{Kind: r.Kind, Recipient: r.Recipient, Subject: r.Subject, MessageID: r.MessageID, SentAt: r.SentAt,
			Attempts: r.Attempts, AttemptsInDoubt: r.AttemptsInDoubt, LastError: r.LastError, CreatedAt: r.CreatedAt})
	}
	return out, nil
}

// StatementData is what the lease's statement and emails show, as the
// lease stands now.
func (g *Gateway) StatementData(ctx context.Context, who Principal, leaseID, kind string) (templates.Data, error) {
	if kind != templates.KindStatement && !slices.Contains(templates.Kinds, kind) {
		return templates.Data{}, fail(Invalid, "invalid", "kind", "no email of kind %q: choose one of %s", kind, strings.Join(templates.Kinds, ", "))
	}
	s, err := g.State(ctx, who, leaseID)
	if err != nil {
		return templates.Data{}, err
	}
	data := workflows.EmailData(s, kind == templates.KindReminder)
	if kind == templates.KindStatement {
		data.RecipientName = ""
	}
	// The manager's newest message to the tenant, as their next email shows it.
	q, err := g.queries(ctx)
	if err != nil {
		return data, err
	}
	switch m, err := q.LatestDecisionMessage(ctx, leaseID); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return data, unavailable("the database", err)
	default:
		data.ManagerMessage = m.Message
	}
	return data, nil
}

// Compliance lists the open leases of the caller's properties against
// their statutory deadlines, nearest first.
func (g *Gateway) Compliance(ctx context.Context, who Principal, property string) ([]deposit.ComplianceRow, error) {
	if err := who.may("read"); err != nil {
		return nil, err
	}
	var p pgtype.Text
	if property != "" {
		if err := who.property(property); err != nil {
			return nil, err
		}
		p = pgtype.Text{String: property, Valid: true}
	}
	q, err := g.queries(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := q.ListCompliance(ctx, p)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	now := g.now()
	out := []deposit.ComplianceRow{}
	for _, r := range rows {
		if !who.Covers(r.PropertyID) {
			continue
		}
		level, left := risk(r, now)
		note := r.DeadlineNote
		if note == "" && r.MovedOutAt == nil {
			note = "the clock starts at the move-out"
		}
		out = append(out, deposit.ComplianceRow{LeaseID: r.LeaseID, PropertyID: r.PropertyID, Jurisdiction: r.Jurisdiction, Stage: r.Stage,
			MovedOutAt: r.MovedOutAt, ReleaseAt: r.ReleaseAt, StatementDue: r.StatementDue, Deadline: r.StatutoryDeadline,
			DaysLeft: left, Risk: level, Note: note})
	}
	return out, nil
}

func risk(r db.ListComplianceRow, now time.Time) (string, *int) {
	switch {
	case strings.HasPrefix(r.DeadlineNote, "MISSED"):
		return deposit.RiskMissed, nil
	case r.StatutoryDeadline == nil && r.Jurisdiction == rules.None:
		return deposit.RiskNone, nil
	case r.StatutoryDeadline == nil:
		return deposit.RiskWaiting, nil
	}
	left := int(r.StatutoryDeadline.Sub(now) / (24 * time.Hour))
	switch {
	case r.StatutoryDeadline.Before(now):
		return deposit.RiskMissed, &left
	case left <= 3:
		return deposit.RiskHigh, &left
	case left <= 7:
		return deposit.RiskMedium, &left
	}
	return deposit.RiskLow, &left
}

// ChargeCodes lists the charge codes and how each counts.
func (g *Gateway) ChargeCodes(ctx context.Context, who Principal) ([]deposit.ChargeCode, error) {
	if err := who.may("read"); err != nil {
		return nil, err
	}
	q, err := g.queries(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := q.ListChargeCodes(ctx)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	out := []deposit.ChargeCode{}
	for _, c := range codes {
		out = append(out, deposit.ChargeCode{ChargeCodeID: c.ChargeCodeID, Description: c.Description, IsDeposit: c.IsDeposit, Category: c.Category})
	}
	return out, nil
}

// RuleBook is the deposit law in force for this operator: the embedded
// rules with the operator's own on top.
func (g *Gateway) RuleBook(ctx context.Context, who Principal) (*rules.Book, error) {
	if err := who.may("read"); err != nil {
		return nil, err
	}
	q, err := g.queries(ctx)
	if err != nil {
		return nil, err
	}
	b, err := activities.RuleBook(ctx, q)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	return b, nil
}

// Invoices lists the money to move for a lease: refund payouts to pay and
// balances to collect, with their recipients.
func (g *Gateway) Invoices(ctx context.Context, who Principal, leaseID string) ([]deposit.Invoice, error) {
	q, l, err := g.readLease(ctx, who, leaseID)
	if err != nil {
		return nil, err
	}
	refunds, err := q.ListLeaseRefunds(ctx, leaseID)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	invoices, err := q.ListInvoices(ctx, leaseID)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	out := []deposit.Invoice{}
	for _, f := range refunds {
		out = append(out, deposit.Invoice{InvoiceID: fmt.Sprintf("refund-%d", f.RefundID), LeaseID: leaseID, PropertyID: l.Lease.PropertyID, Kind: "refund", AmountDueInCents: f.AmountInCents,
			Currency: l.Lease.Currency, Status: f.Status, CreatedAt: f.CreatedAt,
			Recipient: deposit.Recipient{Name: f.RecipientName, Email: f.RecipientEmail, Address: f.RecipientAddress}})
	}
	for _, inv := range invoices {
		out = append(out, deposit.Invoice{InvoiceID: fmt.Sprintf("invoice-%d", inv.InvoiceID), LeaseID: leaseID, PropertyID: l.Lease.PropertyID, Kind: "balance_owed", AmountDueInCents: inv.AmountDueInCents,
			Currency: l.Lease.Currency, Status: inv.Status, CreatedAt: inv.CreatedAt,
			Recipient: deposit.Recipient{Name: inv.RecipientName, Email: inv.RecipientEmail, Address: inv.RecipientAddress}})
	}
	return out, nil
}
