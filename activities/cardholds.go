package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/cardhold"
	"github.com/depositflow/depositflow/internal/deposit"
)

// Card holds (seed 004): each call to the card provider is an activity
// named after what it does, under an idempotency key made from the lease
// and the step, and its outcome is written to PostgreSQL (card_holds,
// payments, card_refunds) under the same key.

// ErrCardRefused is the ApplicationError type of a provider's refusal that
// no retry can change (a declined card, a hold already captured).
const ErrCardRefused = "CardRefused"

// CardHoldInput places a hold (Seq 1) or places it again (a renewal: Seq
// counts on, Replaces is the hold to cancel once the new one stands).
type CardHoldInput struct {
	LeaseID       string
	PaymentMethod string
	AmountCents   int64
	Seq           int
	Replaces      string `json:",omitempty"`
	Key           string // the new hold's step: deposit-L/card-hold-2
}

// CardHoldResult is the hold that stands.
type CardHoldResult struct {
	PaymentIntentID string
	AmountCents     int64
	Seq             int
}

// CardCaptureInput captures AmountCents of a hold and releases the rest.
type CardCaptureInput struct {
	LeaseID         string
	PaymentIntentID string
	AmountCents     int64
	At              time.Time // the payment's day
	Key             string
}

// CardReleaseInput cancels a hold: nothing is kept.
type CardReleaseInput struct {
	LeaseID         string
	PaymentIntentID string
	Key             string
}

// CardRefundInput refunds AmountCents of a card payment to its card.
type CardRefundInput struct {
	LeaseID     string
	PaymentID   int64
	RefundID    int64 `json:",omitempty"` // the refund row it pays, if any
	AmountCents int64
	Key         string
}

// CardRefundResult is the provider's refund.
type CardRefundResult struct {
	ProviderRefundID string
	AmountCents      int64
}

func (a *Activities) cards() (cardhold.Provider, error) {
	if a.Cards == nil {
		// The worker lacks the provider's key: retried until a worker that
		// has it runs.
		return nil, temporal.NewApplicationError("card holds need STRIPE_SECRET_KEY on the worker", "CardProviderMissing")
	}
	return a.Cards, nil
}

// cardErr makes a provider error an activity error: a refusal is final,
// the provider being away is retried.
func cardErr(err error) error {
	var ce *cardhold.Error
	if errors.As(err, &ce) && !ce.Retryable {
		return temporal.NewNonRetryableApplicationError(ce.Error(), ErrCardRefused, nil)
	}
	return err
}

// PlaceCardHold places the lease's deposit as a hold on the tenant's card.
func (a *Activities) PlaceCardHold(ctx context.Context, in CardHoldInput) (CardHoldResult, error) {
	p, err := a.cards()
	if err != nil {
		return CardHoldResult{}, err
	}
	q := a.q()
	terms, err := q.GetLeaseCardTerms(ctx, in.LeaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return CardHoldResult{}, badData("lease %s does not exist", in.LeaseID)
	}
	if err != nil {
		return CardHoldResult{}, err
	}
	if in.AmountCents <= 0 {
		return CardHoldResult{}, badData("lease %s: a hold of %d cents", in.LeaseID, in.AmountCents)
	}
	h, err := p.Place(ctx, cardhold.PlaceIn{
		PaymentMethod: in.PaymentMethod, AmountCents: in.AmountCents, Currency: terms.Currency,
		Description: fmt.Sprintf("Security deposit hold, lease %s", in.LeaseID), LeaseID: in.LeaseID, Key: in.Key,
	})
	if err != nil {
		return CardHoldResult{}, cardErr(err)
	}
	row, err := q.InsertCardHold(ctx, db.InsertCardHoldParams{
		LeaseID: in.LeaseID, Seq: int32(in.Seq), PaymentIntentID: h.ID, PaymentMethod: in.PaymentMethod,
		AmountCents: in.AmountCents, Currency: terms.Currency, IdempotencyKey: in.Key,
	})
	if err != nil {
		return CardHoldResult{}, err
	}
	return CardHoldResult{PaymentIntentID: row.PaymentIntentID, AmountCents: row.AmountCents, Seq: int(row.Seq)}, nil
}

// RenewCardHold places the hold again before the card network lets the
// old one lapse (a hold cannot be extended): the new hold first, then the
// old one cancelled, each under its own key, so a retry repeats neither.
func (a *Activities) RenewCardHold(ctx context.Context, in CardHoldInput) (CardHoldResult, error) {
	res, err := a.PlaceCardHold(ctx, in)
	if err != nil {
		return res, err
	}
	if in.Replaces != "" && in.Replaces != res.PaymentIntentID {
		if err := a.endHold(ctx, in.Replaces, in.Key+"/cancel-previous"); err != nil {
			return res, err
		}
	}
	return res, nil
}

// endHold cancels a hold at the provider and marks it cancelled, unless
// it ended already.
func (a *Activities) endHold(ctx context.Context, id, key string) error {
	q := a.q()
	row, err := q.GetCardHold(ctx, id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if err == nil && row.Status != deposit.HoldActive {
		return nil
	}
	p, err := a.cards()
	if err != nil {
		return err
	}
	if _, err := p.Cancel(ctx, id, key); err != nil {
		return cardErr(err)
	}
	_, err = q.EndCardHold(ctx, db.EndCardHoldParams{PaymentIntentID: id, Status: "canceled", CapturedCents: 0})
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	return err
}

// CaptureCardHold takes what is kept from the hold (the provider releases
// the rest) and records it as a payment by card, with the provider's IDs:
// money received, which the books count like any payment.
func (a *Activities) CaptureCardHold(ctx context.Context, in CardCaptureInput) (deposit.Payment, error) {
	q := a.q()
	lease, err := q.GetLease(ctx, in.LeaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return deposit.Payment{}, badData("lease %s does not exist", in.LeaseID)
	}
	if err != nil {
		return deposit.Payment{}, err
	}
	hold, err := q.GetCardHold(ctx, in.PaymentIntentID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && hold.LeaseID != in.LeaseID) {
		return deposit.Payment{}, badData("lease %s has no card hold %s", in.LeaseID, in.PaymentIntentID)
	}
	if err != nil {
		return deposit.Payment{}, err
	}
	if in.AmountCents <= 0 || in.AmountCents > hold.AmountCents {
		return deposit.Payment{}, badData("lease %s: cannot capture %d cents of a hold of %d", in.LeaseID, in.AmountCents, hold.AmountCents)
	}
	chargeID := ""
	if hold.Status == deposit.HoldActive {
		p, err := a.cards()
		if err != nil {
			return deposit.Payment{}, err
		}
		c, err := p.Capture(ctx, in.PaymentIntentID, in.AmountCents, in.Key)
		if err != nil {
			return deposit.Payment{}, cardErr(err)
		}
		chargeID = c.ChargeID
	}
	var pay db.Payment
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if _, err := q.EndCardHold(ctx, db.EndCardHoldParams{PaymentIntentID: in.PaymentIntentID, Status: "captured", CapturedCents: in.AmountCents}); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		pay, err = q.InsertCardPayment(ctx, db.InsertCardPaymentParams{
			LeaseID: in.LeaseID, ResidentID: lease.Lease.ResidentID, AmountInCents: in.AmountCents,
			TransactionDate: pgtype.Date{Time: in.At.UTC().Truncate(24 * time.Hour), Valid: true}, Reference: in.PaymentIntentID,
			CreatedBy:             "card hold",
			ProviderPaymentIntent: pgtype.Text{String: in.PaymentIntentID, Valid: true},
			ProviderCharge:        pgtype.Text{String: chargeID, Valid: chargeID != ""},
		})
		return err
	})
	if err != nil {
		return deposit.Payment{}, err
	}
	return paymentOf(pay), nil
}

// ReleaseCardHold cancels the hold: nothing was kept.
func (a *Activities) ReleaseCardHold(ctx context.Context, in CardReleaseInput) error {
	return a.endHold(ctx, in.PaymentIntentID, in.Key)
}

// RefundCardPayment sends a refund back to the card a payment came from,
// through the same provider, and records it.
func (a *Activities) RefundCardPayment(ctx context.Context, in CardRefundInput) (CardRefundResult, error) {
	q := a.q()
	pay, err := q.GetLeasePayment(ctx, db.GetLeasePaymentParams{PaymentID: in.PaymentID, LeaseID: in.LeaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		return CardRefundResult{}, badData("lease %s has no payment %d", in.LeaseID, in.PaymentID)
	}
	if err != nil {
		return CardRefundResult{}, err
	}
	if pay.Method != deposit.MethodCard || !pay.ProviderPaymentIntent.Valid {
		return CardRefundResult{}, badData("payment %d of lease %s was not taken by card", in.PaymentID, in.LeaseID)
	}
	if in.AmountCents <= 0 || in.AmountCents > pay.AmountInCents {
		return CardRefundResult{}, badData("cannot refund %d cents of a card payment of %d", in.AmountCents, pay.AmountInCents)
	}
	p, err := a.cards()
	if err != nil {
		return CardRefundResult{}, err
	}
	r, err := p.Refund(ctx, pay.ProviderPaymentIntent.String, in.AmountCents, in.Key)
	if err != nil {
		return CardRefundResult{}, cardErr(err)
	}
	var row db.CardRefund
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if row, err = q.InsertCardRefund(ctx, db.InsertCardRefundParams{
			LeaseID: in.LeaseID, PaymentID: in.PaymentID, RefundID: pgtype.Int8{Int64: in.RefundID, Valid: in.RefundID != 0},
			ProviderRefundID: r.ID, AmountCents: in.AmountCents, IdempotencyKey: in.Key,
		}); err != nil {
			return err
		}
		if in.RefundID == 0 {
			return nil
		}
		// The refund it pays in full is paid: nobody pays it again.
		ref, err := q.GetRefundForBooks(ctx, in.RefundID)
		if err != nil || ref.LeaseID != in.LeaseID || ref.AmountInCents != in.AmountCents {
			return err
		}
		_, err = q.MarkRefundPaid(ctx, db.MarkRefundPaidParams{RefundID: in.RefundID, PaidOn: pgtype.Date{Time: time.Now().UTC().Truncate(24 * time.Hour), Valid: true},
			PaidReference: r.ID, PaidBy: "card provider"})
		if errors.Is(err, pgx.ErrNoRows) { // paid already
			err = nil
		}
		return err
	})
	if err != nil {
		return CardRefundResult{}, err
	}
	return CardRefundResult{ProviderRefundID: row.ProviderRefundID, AmountCents: row.AmountCents}, nil
}

// CardHoldOf is a lease's card hold as the database shows it (the newest
// hold), for the emails; nil when the lease has none.
func CardHoldOf(ctx context.Context, q *db.Queries, leaseID string) (*deposit.CardHold, error) {
	rows, err := q.ListCardHolds(ctx, leaseID)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	r := rows[len(rows)-1]
	h := &deposit.CardHold{PaymentMethod: r.PaymentMethod, PaymentIntentID: r.PaymentIntentID, AmountCents: r.AmountCents,
		Seq: int(r.Seq), PlacedAt: r.PlacedAt, CapturedCents: r.CapturedCents}
	switch r.Status {
	case "active":
		h.Status = deposit.HoldActive
	case "captured":
		h.Status, h.ReleasedCents = deposit.HoldCaptured, r.AmountCents-r.CapturedCents
	default:
		h.Status, h.ReleasedCents = deposit.HoldReleased, r.AmountCents
	}
	return h, nil
}

// RenewEveryText is how often a hold is placed again, as people read it.
func RenewEveryText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	}
	return d.String()
}
