package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/webhook"
	"github.com/depositflow/depositflow/templates"
)

// Follow-ups: a fact that reached a lease after its deposit was settled
// (the PMS had booked it; reconcile found it) is not applied to the
// settlement. A late payment or credit is refunded, a late charge is
// invoiced, each once, with its audit row, in the lease's books.

// FollowUpInput names a late fact of a lease: "payment:12" or "charge:34".
type FollowUpInput struct {
	LeaseID string
	Fact    string
}

// FollowUp is what was written for a late fact.
type FollowUp struct {
	Kind        string // refund or invoice
	ID          int64  // the refund's or invoice's row
	AmountCents int64
	Fact        string // what came late, in words
}

// RecordFollowUp writes the refund or invoice of a fact that came after the
// settlement, once per fact. A fact that is no money (a returned payment, an
// amendment), or one the settlement already counted, is bad data.
func (a *Activities) RecordFollowUp(ctx context.Context, in FollowUpInput) (FollowUp, error) {
	kind, idText, _ := strings.Cut(in.Fact, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || (kind != "payment" && kind != "charge") {
		return FollowUp{}, badData("%q is not a late payment or charge", in.Fact)
	}
	b, err := ReadBooks(ctx, a.q(), in.LeaseID)
	if err != nil {
		return FollowUp{}, err
	}
	if b.Settled == nil {
		return FollowUp{}, badData("lease %s is not settled: its workflow applies %s itself", in.LeaseID, in.Fact)
	}
	st, err := a.q().GetSettlement(ctx, in.LeaseID)
	if err != nil {
		return FollowUp{}, leaseErr(in.LeaseID, err)
	}
	var out FollowUp
	var residentID int64
	switch kind {
	case "payment":
		p, err := a.q().GetLeasePayment(ctx, db.GetLeasePaymentParams{PaymentID: id, LeaseID: in.LeaseID})
		if errors.Is(err, pgx.ErrNoRows) || err == nil && p.ReturnedAt != nil {
			return FollowUp{}, badData("lease %s has no payment %d to refund", in.LeaseID, id)
		}
		if err != nil {
			return FollowUp{}, err
		}
		if !p.CreatedAt.After(st.CreatedAt) {
			return FollowUp{}, badData("payment %d of lease %s was settled with the deposit", id, in.LeaseID)
		}
		out = FollowUp{Kind: "refund", AmountCents: p.AmountInCents,
			Fact: fmt.Sprintf("Payment %s of %s on %s", p.Reference, money.FormatIn(b.Currency, p.AmountInCents), p.TransactionDate.Time.Format("2006-01-02"))}
		residentID = p.ResidentID
	case "charge":
		c, err := a.q().GetLeaseCharge(ctx, db.GetLeaseChargeParams{ChargeID: id, LeaseID: in.LeaseID})
		if errors.Is(err, pgx.ErrNoRows) || err == nil && (c.Category == "deposit" || c.Approval == "pending" || c.Approval == "declined") {
			return FollowUp{}, badData("lease %s has no charge %d to follow up", in.LeaseID, id)
		}
		if err != nil {
			return FollowUp{}, err
		}
		if !c.CreatedAt.After(st.CreatedAt) {
			return FollowUp{}, badData("charge %d of lease %s was settled with the deposit", id, in.LeaseID)
		}
		out = FollowUp{Kind: "invoice", AmountCents: c.AmountInCents, Fact: fmt.Sprintf("%s (%s) of %s", c.Description, c.ChargeCodeID, money.FormatIn(b.Currency, c.AmountInCents))}
		if c.Category == deposit.CategoryCredit {
			out.Kind = "refund"
		}
		residentID = c.ResidentID
	}
	r, err := a.q().GetResident(ctx, residentID)
	if err != nil {
		return FollowUp{}, leaseErr(in.LeaseID, err)
	}
	name, email := r.Name, r.Email
	if s := b.State(); out.Kind == "refund" && s.PayeeEmail != "" {
		// The newest payee receives what is refunded, as the settlement's refund.
		name, email = s.PayeeName, s.PayeeEmail
	}
	key := fmt.Sprintf("%s/follow-up/%s", "deposit-"+in.LeaseID, in.Fact)
	follows := pgtype.Text{String: in.Fact, Valid: true}
	var queues []WebhookQueue
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if out.Kind == "refund" {
			row, err := q.InsertFollowUpRefund(ctx, db.InsertFollowUpRefundParams{LeaseID: in.LeaseID, ResidentID: residentID, AmountInCents: out.AmountCents,
				RecipientName: name, RecipientEmail: email, RecipientAddress: r.ForwardingAddress, IdempotencyKey: key, Follows: follows})
			out.ID = row.RefundID
			if err != nil {
				return err
			}
			if queues, err = emitRefund(ctx, q, in.LeaseID, key, webhook.RefundDue{RefundID: row.RefundID, AmountInCents: row.AmountInCents,
				RecipientName: row.RecipientName, RecipientEmail: row.RecipientEmail, RecipientAddress: row.RecipientAddress, Follows: in.Fact}); err != nil {
				return err
			}
		} else {
			row, err := q.InsertFollowUpInvoice(ctx, db.InsertFollowUpInvoiceParams{LeaseID: in.LeaseID, ResidentID: residentID, AmountDueInCents: out.AmountCents,
				RecipientName: name, RecipientEmail: email, RecipientAddress: r.ForwardingAddress, IdempotencyKey: key, Follows: follows})
			out.ID = row.InvoiceID
			if err != nil {
				return err
			}
			if queues, err = emitInvoice(ctx, q, in.LeaseID, key, webhook.InvoiceDue{InvoiceID: row.InvoiceID, AmountDueInCents: row.AmountDueInCents,
				RecipientName: row.RecipientName, RecipientEmail: row.RecipientEmail, RecipientAddress: row.RecipientAddress, Follows: in.Fact}); err != nil {
				return err
			}
		}
		action := "follow-up." + out.Kind
		n, err := q.CountAudit(ctx, db.CountAuditParams{LeaseID: in.LeaseID, Action: action + ":" + in.Fact})
		if err != nil || n > 0 {
			return err
		}
		req, _ := json.Marshal(in)
		return systemAudit(ctx, q, in.LeaseID, action+":"+in.Fact, req,
			fmt.Sprintf("%s %d of %s to %s: %s came after the settlement", out.Kind, out.ID, money.FormatIn(b.Currency, out.AmountCents), email, out.Fact))
	})
	if err != nil {
		return FollowUp{}, err
	}
	a.dispatch(ctx, queues)
	return out, nil
}

// FollowUpEmail is the email of a follow-up: what came late and what it
// became, with the settlement it came after.
func (b Books) FollowUpEmail(f FollowUp) templates.Data {
	d := b.Data(templates.KindFollowUp)
	d.SettledAt = b.ClosedAt
	d.FollowUp = &templates.FollowUp{Refund: f.Kind == "refund", Fact: f.Fact, Cents: f.AmountCents}
	return d
}
