package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/webhook"
	"github.com/depositflow/depositflow/templates"
)

// The tenant's side: disputes and evidence, as the database has them. The
// server writes a dispute (and a manager's answer, and a tenant's
// acceptance of an offer) and signals its ID; the lease's workflow reads
// the lease's disputes here, holds what the deposit covers of them when it
// settles (SettleDeposit), and pays each resolution back once
// (PayDispute). Files never pass through a workflow: only their names do,
// in the emails built from the books.

// DefaultDisputeRemindAfter is how long a disputed item may wait for the
// manager's answer (or an offer for the tenant's) before a reminder.
const DefaultDisputeRemindAfter = 72 * time.Hour

// EvidenceFile is a file attached to a lease, an item or a dispute.
type EvidenceFile struct {
	ID         int64     `json:"evidence_id"`
	Subject    string    `json:"subject"` // lease, charge, keep, dispute
	SubjectID  int64     `json:"subject_id,omitempty"`
	Side       string    `json:"side"` // manager, tenant
	Name       string    `json:"filename"`
	Type       string    `json:"content_type"`
	Size       int64     `json:"size_bytes"`
	SHA256     string    `json:"sha256"`
	UploadedBy string    `json:"uploaded_by"`
	At         time.Time `json:"created_at"`
}

// EvidenceOf converts a row.
func EvidenceOf(e db.Evidence) EvidenceFile {
	return EvidenceFile{ID: e.EvidenceID, Subject: e.Subject, SubjectID: e.SubjectID, Side: e.Side, Name: e.Filename, Type: e.ContentType,
		Size: e.SizeBytes, SHA256: e.Sha256, UploadedBy: e.UploadedBy, At: e.CreatedAt.UTC()}
}

// DisputeOf converts a row; refunds are the lease's, to find the one that
// paid the resolution back.
func DisputeOf(r db.Dispute, refunds []db.Refund) deposit.Dispute {
	d := deposit.Dispute{DisputeID: r.DisputeID, Item: fmt.Sprintf("%s:%d", r.Subject, r.SubjectID), ResidentID: r.ResidentID,
		Description: r.Description, AmountCents: r.AmountCents, TenantMessage: r.TenantMessage, Status: r.Status,
		ManagerMessage: r.ManagerMessage, AnsweredBy: r.AnsweredBy, OpenedAt: r.CreatedAt.UTC(), AnsweredAt: timeOf(r.AnsweredAt),
		AgreedAt: timeOf(r.AgreedAt), Held: r.Held, HeldCents: r.HeldCents, RefundCents: r.RefundCents, AppliedCents: r.AppliedCents,
		SettledAt: timeOf(r.SettledAt)}
	if r.OfferCents.Valid {
		d.OfferCents = r.OfferCents.Int64
	}
	for _, f := range refunds {
		if f.Follows.Valid && f.Follows.String == deposit.DisputeKey(r.DisputeID) {
			d.RefundID = f.RefundID
		}
	}
	return d
}

// readDisputes reads a lease's disputes.
func readDisputes(ctx context.Context, q *db.Queries, leaseID string) ([]deposit.Dispute, error) {
	rows, err := q.ListDisputes(ctx, leaseID)
	if err != nil {
		return nil, err
	}
	out := []deposit.Dispute{}
	if len(rows) == 0 {
		return out, nil
	}
	refunds, err := q.ListRefunds(ctx, leaseID)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out = append(out, DisputeOf(r, refunds))
	}
	return out, nil
}

// DisputesFact is a lease's disputes, and how long one may wait for an
// answer before a reminder (the worker's setting, recorded in the history
// with the read).
type DisputesFact struct {
	Disputes    []deposit.Dispute
	RemindAfter time.Duration
}

// ReadDisputes reads every disputed item of a lease (a local activity: a
// dispute signal only names one; the workflow reads them all, so a lost
// signal is made up by the next).
func (a *Activities) ReadDisputes(ctx context.Context, in FactInput) (DisputesFact, error) {
	ds, err := readDisputes(ctx, a.q(), in.LeaseID)
	if err != nil {
		return DisputesFact{}, err
	}
	after := a.DisputeRemindAfter
	if after <= 0 {
		after = DefaultDisputeRemindAfter
	}
	return DisputesFact{Disputes: ds, RemindAfter: after}, nil
}

// holdDisputes holds, in the settlement's transaction, what the deposit
// covers of every disputed item not held yet: in the items' order, each
// item's amount while what the settlement applied (the funds less the
// refund) covers it. The lease's row is locked first, so a dispute the
// server writes meanwhile is either held here or refused there (the lease
// is settled). SettleDeposit locks the row as its transaction's first
// statement; the server's dispute also updates the row, so a dispute
// committed after the settlement's snapshot fails the settlement's
// repeatable-read transaction, which is retried and holds it.
// PlanHolds is what the settlement in holds of each disputed item not held
// yet, by its ID: in the items' order, each item's amount while what the
// settlement applied (the funds less the refund, less what is already
// held) covers it; nothing where a missed deadline forfeited the deductions.
func PlanHolds(in SettleInput, ds []deposit.Dispute) map[int64]int64 {
	applied := in.ReceivedCents + in.InterestCents + in.CreditsCents - in.RefundCents
	if in.Books != nil && in.Books.Forfeited {
		applied = 0
	}
	var amounts []int64
	var todo []int64
	for _, d := range ds {
		if d.Held {
			applied -= d.HeldCents
			continue
		}
		amounts = append(amounts, d.AmountCents)
		todo = append(todo, d.DisputeID)
	}
	out := map[int64]int64{}
	for i, h := range deposit.Holds(applied, amounts) {
		out[todo[i]] = h
	}
	return out
}

func holdDisputes(ctx context.Context, q *db.Queries, in SettleInput, settlementID int64) ([]deposit.Dispute, error) {
	ds, err := readDisputes(ctx, q, in.LeaseID)
	if err != nil {
		return nil, err
	}
	for id, cents := range PlanHolds(in, ds) {
		if _, err := q.HoldDispute(ctx, db.HoldDisputeParams{DisputeID: id, LeaseID: in.LeaseID, HeldCents: cents}); err != nil {
			return nil, err
		}
	}
	if ds, err = readDisputes(ctx, q, in.LeaseID); err != nil {
		return nil, err
	}
	if err := q.SetDisputedCents(ctx, db.SetDisputedCentsParams{SettlementID: settlementID, DisputedCents: deposit.DisputedHeld(ds)}); err != nil {
		return nil, err
	}
	return ds, nil
}

// PayDisputeInput names a resolved item to settle.
type PayDisputeInput struct {
	LeaseID   string
	DisputeID int64
	Key       string // the refund's idempotency key
}

// PayDispute settles a resolved item once: what the resolution pays back
// (conceded: all that was held; agreed: the offer) becomes a refund row of
// its own (follows "dispute:N", with its refund.due webhook), the rest is
// applied to what the tenant owed, the item is marked settled and audited,
// all in one transaction. A retry finds the item settled and returns it.
func (a *Activities) PayDispute(ctx context.Context, in PayDisputeInput) (deposit.Dispute, error) {
	var out deposit.Dispute
	var queues []WebhookQueue
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		queues = nil
		if _, err := q.LockLease(ctx, in.LeaseID); err != nil {
			return leaseErr(in.LeaseID, err)
		}
		r, err := q.GetDispute(ctx, db.GetDisputeParams{DisputeID: in.DisputeID, LeaseID: in.LeaseID})
		if errors.Is(err, pgx.ErrNoRows) {
			return badData("lease %s has no disputed item %d", in.LeaseID, in.DisputeID)
		}
		if err != nil {
			return err
		}
		refunds, err := q.ListRefunds(ctx, in.LeaseID)
		if err != nil {
			return err
		}
		d := DisputeOf(r, refunds)
		switch {
		case d.Settled():
			out = d
			return nil
		case !d.Held:
			return badData("disputed item %d of lease %s is not held by a settlement yet", in.DisputeID, in.LeaseID)
		case !d.Resolved():
			return badData("disputed item %d of lease %s is not resolved (%s)", in.DisputeID, in.LeaseID, d.Status)
		}
		pay := d.Payback()
		b, err := ReadBooks(ctx, q, in.LeaseID)
		if err != nil {
			return err
		}
		if pay > 0 {
			res, err := q.GetResident(ctx, r.ResidentID)
			if err != nil {
				return leaseErr(in.LeaseID, err)
			}
			name, email := res.Name, res.Email
			if s := b.State(); s.PayeeEmail != "" {
				name, email = s.PayeeName, s.PayeeEmail
			}
			follows := deposit.DisputeKey(in.DisputeID)
			row, err := q.InsertDisputeRefund(ctx, db.InsertDisputeRefundParams{LeaseID: in.LeaseID, ResidentID: r.ResidentID, AmountInCents: pay,
				RecipientName: name, RecipientEmail: email, RecipientAddress: res.ForwardingAddress, IdempotencyKey: in.Key,
				Follows: pgText(follows)})
			if err != nil {
				return err
			}
			if queues, err = emitRefund(ctx, q, in.LeaseID, in.Key, webhook.RefundDue{RefundID: row.RefundID, AmountInCents: row.AmountInCents,
				RecipientName: row.RecipientName, RecipientEmail: row.RecipientEmail, RecipientAddress: row.RecipientAddress, Follows: follows}); err != nil {
				return err
			}
		}
		if _, err := q.SettleDispute(ctx, db.SettleDisputeParams{DisputeID: in.DisputeID, LeaseID: in.LeaseID,
			RefundCents: pay, AppliedCents: d.HeldCents - pay}); err != nil {
			return err
		}
		req, _ := json.Marshal(in)
		if err := systemAudit(ctx, q, in.LeaseID, "dispute.settle", req, fmt.Sprintf("item %d (%s) %s: %s paid back, %s applied",
			in.DisputeID, d.Description, d.Status, money.FormatIn(b.Currency, pay), money.FormatIn(b.Currency, d.HeldCents-pay))); err != nil {
			return err
		}
		if refunds, err = q.ListRefunds(ctx, in.LeaseID); err != nil {
			return err
		}
		r, err = q.GetDispute(ctx, db.GetDisputeParams{DisputeID: in.DisputeID, LeaseID: in.LeaseID})
		out = DisputeOf(r, refunds)
		return err
	})
	if err != nil {
		return deposit.Dispute{}, err
	}
	a.dispatch(ctx, queues)
	return out, nil
}

// disputeLines are the disputed items as the emails show them.
func disputeLines(ds []deposit.Dispute, files []EvidenceFile) []templates.DisputeLine {
	var out []templates.DisputeLine
	for _, d := range ds {
		out = append(out, disputeLine(d, files))
	}
	return out
}

func disputeLine(d deposit.Dispute, files []EvidenceFile) templates.DisputeLine {
	l := templates.DisputeLine{ID: d.DisputeID, Description: d.Description, Cents: d.AmountCents, Status: d.Status, OfferCents: d.OfferCents,
		TenantMessage: d.TenantMessage, ManagerMessage: d.ManagerMessage, HeldCents: d.HeldCents, PaidCents: d.RefundCents}
	for _, f := range files {
		if f.Subject == "dispute" && f.SubjectID == d.DisputeID {
			l.Files++
		}
	}
	return l
}

// evidenceLines lists the manager's files of each item of the statement.
func evidenceLines(s deposit.State, files []EvidenceFile) []templates.Evidence {
	by := map[string][]string{}
	for _, f := range files {
		if f.Side != "manager" {
			continue
		}
		k := f.Subject
		if f.SubjectID != 0 {
			k = fmt.Sprintf("%s:%d", f.Subject, f.SubjectID)
		}
		by[k] = append(by[k], f.Name)
	}
	var out []templates.Evidence
	if names := by["lease"]; len(names) > 0 {
		out = append(out, templates.Evidence{Item: "The lease (inspection reports)", Files: names})
	}
	for _, c := range s.Charges {
		if names := by[fmt.Sprintf("charge:%d", c.ChargeID)]; len(names) > 0 {
			what := "Deduction"
			switch c.Category {
			case deposit.CategoryArrears:
				what = "Arrears"
			case deposit.CategoryCredit:
				what = "Credit"
			}
			out = append(out, templates.Evidence{Item: what + ": " + c.Description, Files: names})
		}
	}
	for _, k := range s.Kept {
		if names := by[fmt.Sprintf("keep:%d", k.KeepID)]; len(names) > 0 {
			out = append(out, templates.Evidence{Item: "Kept: " + k.Reason, Files: names})
		}
	}
	return out
}

// ItemDescription is how the statement names a disputable item.
func ItemDescription(category, description string) string {
	switch category {
	case deposit.CategoryArrears:
		return "Arrears: " + description
	case "keep":
		return "Kept: " + description
	}
	return "Deduction: " + strings.TrimSpace(description)
}

func pgText(s string) pgtype.Text { return pgtype.Text{String: s, Valid: true} }
