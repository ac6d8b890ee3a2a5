package activities_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/cardhold"
	"github.com/depositflow/depositflow/internal/cardhold/stripemock"
	"github.com/depositflow/depositflow/internal/deposit"
)

// The card-hold activities against stripe-mock (through a recording proxy)
// and a real PostgreSQL: each call to Stripe is the one expected, under the
// step's idempotency key, and what it did is in the database.

func cardActs(t *testing.T, m *stripemock.Mock, key string) *activities.Activities {
	t.Helper()
	p, err := cardhold.NewStripe(cardhold.Config{SecretKey: key, APIBase: m.URL})
	require.NoError(t, err)
	on := *acts
	on.Cards = p
	return &on
}

func TestCardHoldActivitiesOnStripeMock(t *testing.T) {
	m := stripemock.Start(t, stripemock.Binary(".."))
	on := cardActs(t, m, "sk_test_depositflow")
	lease := newLease(t, 100000)
	ctx := context.Background()
	q := db.New(pool)

	// Placed: a PaymentIntent of the deposit, manual capture, confirmed on the card.
	in := activities.CardHoldInput{LeaseID: lease, PaymentMethod: "pm_card_visa", AmountCents: 100000, Seq: 1, Key: "deposit-" + lease + "/card-hold-1"}
	first, err := runOn[activities.CardHoldResult](t, on, on.PlaceCardHold, in)
	require.NoError(t, err)
	calls := m.Calls()
	require.Len(t, calls, 1)
	c := calls[0]
	require.Equal(t, "POST /v1/payment_intents", c.Method+" "+c.Path)
	require.Equal(t, in.Key, c.IdempotencyKey)
	require.Equal(t, "100000", c.Form.Get("amount"))
	require.Equal(t, "usd", c.Form.Get("currency"))
	require.Equal(t, "manual", c.Form.Get("capture_method"))
	require.Equal(t, "true", c.Form.Get("confirm"))
	require.Equal(t, "pm_card_visa", c.Form.Get("payment_method"))
	require.Equal(t, lease, c.Form.Get("metadata[lease_id]"))
	require.Equal(t, "Bearer sk_test_depositflow", c.Authorization)
	require.Regexp(t, `^pi_`, first.PaymentIntentID)

	// The same step again (a retried activity): the same key to Stripe, the same hold.
	again, err := runOn[activities.CardHoldResult](t, on, on.PlaceCardHold, in)
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.Equal(t, in.Key, m.Calls()[1].IdempotencyKey)

	// Renewed: a new hold first, then the old one cancelled.
	m.Reset()
	renew := activities.CardHoldInput{LeaseID: lease, PaymentMethod: "pm_card_visa", AmountCents: 100000, Seq: 2, Replaces: first.PaymentIntentID, Key: "deposit-" + lease + "/card-hold-2"}
	second, err := runOn[activities.CardHoldResult](t, on, on.RenewCardHold, renew)
	require.NoError(t, err)
	require.NotEqual(t, first.PaymentIntentID, second.PaymentIntentID)
	calls = m.Calls()
	require.Len(t, calls, 2)
	require.Equal(t, "POST /v1/payment_intents", calls[0].Method+" "+calls[0].Path)
	require.Equal(t, renew.Key, calls[0].IdempotencyKey)
	require.Equal(t, "POST /v1/payment_intents/"+first.PaymentIntentID+"/cancel", calls[1].Method+" "+calls[1].Path)
	require.Equal(t, renew.Key+"/cancel-previous", calls[1].IdempotencyKey)
	holds, err := q.ListCardHolds(ctx, lease)
	require.NoError(t, err)
	require.Len(t, holds, 2)
	require.Equal(t, "canceled", holds[0].Status)
	require.Equal(t, "active", holds[1].Status)

	// A renewal retried after it finished cancels nothing twice.
	m.Reset()
	_, err = runOn[activities.CardHoldResult](t, on, on.RenewCardHold, renew)
	require.NoError(t, err)
	require.Len(t, m.Calls(), 1, "the old hold ended already: no second cancel")

	// Captured in part: exactly what is kept, recorded as a card payment.
	m.Reset()
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	capture := activities.CardCaptureInput{LeaseID: lease, PaymentIntentID: second.PaymentIntentID, AmountCents: 30000, At: at, Key: "deposit-" + lease + "/card-hold-capture"}
	p, err := runOn[deposit.Payment](t, on, on.CaptureCardHold, capture)
	require.NoError(t, err)
	calls = m.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, "POST /v1/payment_intents/"+second.PaymentIntentID+"/capture", calls[0].Method+" "+calls[0].Path)
	require.Equal(t, "30000", calls[0].Form.Get("amount_to_capture"))
	require.Equal(t, capture.Key, calls[0].IdempotencyKey)
	require.Equal(t, deposit.Payment{PaymentID: p.PaymentID, AmountCents: 30000, Reference: second.PaymentIntentID, Date: "2026-12-07",
		Method: deposit.MethodCard, PaymentIntent: second.PaymentIntentID}, p)
	row, err := q.GetLeasePayment(ctx, db.GetLeasePaymentParams{PaymentID: p.PaymentID, LeaseID: lease})
	require.NoError(t, err)
	require.Equal(t, "card", row.Method)
	require.Equal(t, second.PaymentIntentID, row.ProviderPaymentIntent.String)
	hold, err := q.GetCardHold(ctx, second.PaymentIntentID)
	require.NoError(t, err)
	require.Equal(t, "captured", hold.Status)
	require.EqualValues(t, 30000, hold.CapturedCents)
	// Again: the same payment, and Stripe is not asked to capture twice.
	m.Reset()
	p2, err := runOn[deposit.Payment](t, on, on.CaptureCardHold, capture)
	require.NoError(t, err)
	require.Equal(t, p, p2)
	require.Empty(t, m.Calls())

	// Refunded to the card: a Refund of the PaymentIntent, recorded.
	m.Reset()
	refund := activities.CardRefundInput{LeaseID: lease, PaymentID: p.PaymentID, AmountCents: 10000, Key: fmt.Sprintf("deposit-%s/card-refund-%d", lease, p.PaymentID)}
	r, err := runOn[activities.CardRefundResult](t, on, on.RefundCardPayment, refund)
	require.NoError(t, err)
	calls = m.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, "POST /v1/refunds", calls[0].Method+" "+calls[0].Path)
	require.Equal(t, second.PaymentIntentID, calls[0].Form.Get("payment_intent"))
	require.Equal(t, "10000", calls[0].Form.Get("amount"))
	require.Equal(t, refund.Key, calls[0].IdempotencyKey)
	refunds, err := q.ListCardRefunds(ctx, lease)
	require.NoError(t, err)
	require.Len(t, refunds, 1)
	require.Equal(t, r.ProviderRefundID, refunds[0].ProviderRefundID)
	require.EqualValues(t, 10000, refunds[0].AmountCents)

	// A payment not taken by card is never sent to the provider.
	manual, err := q.InsertPayment(ctx, db.InsertPaymentParams{LeaseID: lease, ResidentID: row.ResidentID, AmountInCents: 500, TransactionDate: row.TransactionDate, Reference: "CHK-1"})
	require.NoError(t, err)
	_, err = runOn[activities.CardRefundResult](t, on, on.RefundCardPayment, activities.CardRefundInput{LeaseID: lease, PaymentID: manual.PaymentID, AmountCents: 500, Key: "x"})
	require.ErrorContains(t, err, "was not taken by card")
}

func TestReleaseCardHoldCancelsIt(t *testing.T) {
	m := stripemock.Start(t, stripemock.Binary(".."))
	on := cardActs(t, m, "sk_test_depositflow")
	lease := newLease(t, 100000)
	h, err := runOn[activities.CardHoldResult](t, on, on.PlaceCardHold, activities.CardHoldInput{LeaseID: lease, PaymentMethod: "pm_card_visa", AmountCents: 100000, Seq: 1, Key: "deposit-" + lease + "/card-hold-1"})
	require.NoError(t, err)
	m.Reset()
	release := activities.CardReleaseInput{LeaseID: lease, PaymentIntentID: h.PaymentIntentID, Key: "deposit-" + lease + "/card-hold-release"}
	_, err = runOn[any](t, on, on.ReleaseCardHold, release)
	require.NoError(t, err)
	calls := m.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, "POST /v1/payment_intents/"+h.PaymentIntentID+"/cancel", calls[0].Method+" "+calls[0].Path)
	require.Equal(t, release.Key, calls[0].IdempotencyKey)
	row, err := db.New(pool).GetCardHold(context.Background(), h.PaymentIntentID)
	require.NoError(t, err)
	require.Equal(t, "canceled", row.Status)
	require.NotNil(t, row.EndedAt)
}

func TestDeclinedCardIsRefusedForGood(t *testing.T) {
	m := stripemock.Start(t, stripemock.Binary(".."))
	m.Fail = func(stripemock.Call) (int, string) { return stripemock.Declined() }
	on := cardActs(t, m, "sk_test_depositflow")
	lease := newLease(t, 100000)
	_, err := runOn[activities.CardHoldResult](t, on, on.PlaceCardHold, activities.CardHoldInput{LeaseID: lease, PaymentMethod: "pm_card_chargeDeclined", AmountCents: 100000, Seq: 1, Key: "deposit-" + lease + "/card-hold-1"})
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, activities.ErrCardRefused, ae.Type())
	require.True(t, ae.NonRetryable())
	require.Contains(t, ae.Message(), "card_declined")
	holds, err := db.New(pool).ListCardHolds(context.Background(), lease)
	require.NoError(t, err)
	require.Empty(t, holds, "no hold stands")
}

// TestProviderErrorsNeverShowTheSecretKey: stripe-mock answers a key that
// does not look like one with an error that quotes the Authorization
// header; neither the activity's error nor what the worker logs has it.
func TestProviderErrorsNeverShowTheSecretKey(t *testing.T) {
	m := stripemock.Start(t, stripemock.Binary(".."))
	const secret = "rk_live_TOPSECRET0123456789abcdef"
	on := cardActs(t, m, secret)
	lease := newLease(t, 100000)
	var logs bytes.Buffer
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(on)
	_, err := env.ExecuteActivity(on.PlaceCardHold, activities.CardHoldInput{LeaseID: lease, PaymentMethod: "pm_card_visa", AmountCents: 100000, Seq: 1, Key: "deposit-" + lease + "/card-hold-1"})
	require.Error(t, err)
	calls := m.Calls()
	require.Len(t, calls, 1)
	require.Equal(t, 401, calls[0].Status, "stripe-mock refused the key")
	require.Contains(t, err.Error(), "HTTP 401")
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), logs.String()} {
		require.NotContains(t, text, secret)
		require.NotContains(t, text, "TOPSECRET")
		require.NotContains(t, text, secret[len(secret)-8:])
	}
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	require.True(t, ae.NonRetryable(), "a key that is refused is not retried")
}
