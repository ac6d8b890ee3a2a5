package workflows

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
)

// fakeCards is the card provider as the workflow's card activities see it:
// every call recorded with the moment it was made.
type fakeCards struct {
	calls    []cardCall
	next     int
	failSeqs map[int]bool // the placement of these holds is refused once
}

type cardCall struct {
	At   time.Time
	Op   string // place, renew, capture, release, refund
	Key  string
	ID   string // the hold made (place, renew) or acted on
	Old  string // the hold a renewal cancelled
	Cent int64
}

func (c *fakeCards) ops() []string {
	var out []string
	for _, k := range c.calls {
		out = append(out, k.Op)
	}
	return out
}

// withCards mocks the card activities, for this run and any after a
// continue-as-new.
func (h *harness) withCards() *fakeCards {
	c := &fakeCards{failSeqs: map[int]bool{}}
	h.cards = c
	h.mockCards()
	return c
}

func (h *harness) mockCards() {
	c, acts := h.cards, &activities.Activities{}
	place := func(op string) func(context.Context, activities.CardHoldInput) (activities.CardHoldResult, error) {
		return func(_ context.Context, in activities.CardHoldInput) (activities.CardHoldResult, error) {
			if c.failSeqs[in.Seq] {
				delete(c.failSeqs, in.Seq) // refused once
				c.calls = append(c.calls, cardCall{At: h.env.Now().UTC(), Op: op + "-refused", Key: in.Key})
				return activities.CardHoldResult{}, temporal.NewNonRetryableApplicationError("card provider: place refused (HTTP 402, card_declined): Your card was declined.", activities.ErrCardRefused, nil)
			}
			c.next++
			id := fmt.Sprintf("pi_%d", c.next)
			c.calls = append(c.calls, cardCall{At: h.env.Now().UTC(), Op: op, Key: in.Key, ID: id, Old: in.Replaces, Cent: in.AmountCents})
			return activities.CardHoldResult{PaymentIntentID: id, AmountCents: in.AmountCents, Seq: in.Seq}, nil
		}
	}
	h.env.OnActivity(acts.PlaceCardHold, mock.Anything, mock.Anything).Return(place("place"))
	h.env.OnActivity(acts.RenewCardHold, mock.Anything, mock.Anything).Return(place("renew"))
	h.env.OnActivity(acts.CaptureCardHold, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CardCaptureInput) (deposit.Payment, error) {
			c.calls = append(c.calls, cardCall{At: h.env.Now().UTC(), Op: "capture", Key: in.Key, ID: in.PaymentIntentID, Cent: in.AmountCents})
			p := deposit.Payment{PaymentID: 900, AmountCents: in.AmountCents, Reference: in.PaymentIntentID, Date: in.At.Format(time.DateOnly),
				Method: deposit.MethodCard, PaymentIntent: in.PaymentIntentID}
			h.db.addPayment(p) // the payment row, as the activity writes it
			return p, nil
		})
	h.env.OnActivity(acts.ReleaseCardHold, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CardReleaseInput) error {
			c.calls = append(c.calls, cardCall{At: h.env.Now().UTC(), Op: "release", Key: in.Key, ID: in.PaymentIntentID})
			return nil
		})
	h.env.OnActivity(acts.RefundCardPayment, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CardRefundInput) (activities.CardRefundResult, error) {
			c.calls = append(c.calls, cardCall{At: h.env.Now().UTC(), Op: "refund", Key: in.Key, ID: fmt.Sprint(in.PaymentID), Cent: in.AmountCents})
			return activities.CardRefundResult{ProviderRefundID: "re_1", AmountCents: in.AmountCents}, nil
		})
}

// cardLease: a deposit of 1,000.00 held on pm_card_visa, moved out on day
// 20 (2026-11-23), released 14 days later (2026-12-07).
func cardLease(t *testing.T) (*harness, *fakeCards) {
	h := newHarness(t, 100000)
	c := h.withCards()
	h.at(21*day, SignalMoveOut, moveOutDay(20))
	return h, c
}

var cardIn = LeaseInput{CardPaymentMethod: "pm_card_visa"}

func TestCardHoldRenewsEverySevenDaysUntilTheRelease(t *testing.T) {
	h, c := cardLease(t)
	h.checkAt(time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageHeld, s.Stage, "a hold that stands secures the deposit")
		require.Zero(t, s.ReceivedCents, "a hold is not money received")
		require.Equal(t, deposit.HoldActive, s.CardHold.Status)
		require.Equal(t, "pi_1", s.CardHold.PaymentIntentID)
		require.Equal(t, t0.Add(7*day), s.CardHold.RenewAt)
	})
	s := h.run(cardIn)

	// Placed at the start, then again every 7 days (a new hold, the old one
	// cancelled) until the release took it over on 2026-12-07.
	release := moveOutDay(20).At.Add(deposit.DefaultReleaseAfter)
	var renewals []time.Time
	for i, k := range c.calls {
		switch k.Op {
		case "place":
			require.Equal(t, t0, k.At)
			require.Equal(t, "deposit-L1/card-hold-1", k.Key)
			require.EqualValues(t, 100000, k.Cent)
		case "renew":
			renewals = append(renewals, k.At)
			require.Equal(t, fmt.Sprintf("deposit-L1/card-hold-%d", len(renewals)+1), k.Key)
			require.Equal(t, c.calls[i-1].ID, k.Old, "each renewal cancels the hold it replaces")
		}
	}
	want := []time.Time{}
	for at := t0.Add(7 * day); at.Before(release); at = at.Add(7 * day) {
		want = append(want, at)
	}
	require.Equal(t, want, renewals)
	last := c.calls[len(c.calls)-1]
	require.Equal(t, "release", last.Op, "nothing kept: the hold is cancelled")
	require.Equal(t, release, last.At)
	require.Equal(t, fmt.Sprintf("pi_%d", len(renewals)+1), last.ID)
	require.Equal(t, deposit.OutcomeNothingDue, s.Outcome)
	require.Equal(t, deposit.HoldReleased, s.CardHold.Status)
	require.EqualValues(t, 100000, s.CardHold.ReleasedCents)
	require.Zero(t, s.ReceivedCents)
	require.NotContains(t, h.emailKinds(), templates.KindRequest, "a deposit held on the card is not asked for")
	require.Contains(t, h.emailKinds(), templates.KindReceipt)
	require.Equal(t, templates.KindRefund, h.emailKinds()[len(h.emailKinds())-1], "the tenant is told the hold was released")
}

func TestCardHoldRenewsAtThePropertysInterval(t *testing.T) {
	h, c := cardLease(t)
	in := cardIn
	in.CardHoldRenewSeconds = int64(3 * day / time.Second)
	h.run(in)
	var renewals []time.Duration
	for _, k := range c.calls {
		if k.Op == "renew" {
			renewals = append(renewals, k.At.Sub(t0))
		}
	}
	require.GreaterOrEqual(t, len(renewals), 10)
	for i, at := range renewals {
		require.Equal(t, time.Duration(i+1)*3*day, at)
	}
}

func TestFailedCardHoldRenewalTellsTheManagerAtOnce(t *testing.T) {
	h, c := cardLease(t)
	c.failSeqs[2] = true // the first renewal is declined
	h.checkAt(7*day+time.Minute, func(s deposit.State) {
		require.Contains(t, s.CardHold.Failure, "card_declined")
		require.Equal(t, deposit.HoldActive, s.CardHold.Status, "the old hold stands until it lapses")
		require.Equal(t, "pi_1", s.CardHold.PaymentIntentID)
	})
	h.checkAt(7*day+2*time.Hour, func(s deposit.State) {
		require.Empty(t, s.CardHold.Failure, "failed once: tried again an hour later, placed")
	})
	h.run(cardIn)
	var alerts []sentAt
	for _, r := range h.reminders {
		if r.Kind == templates.KindCardHoldFailed {
			alerts = append(alerts, r)
		}
	}
	require.Len(t, alerts, 1)
	require.Equal(t, t0.Add(7*day), alerts[0].At, "the manager is told at once")
	require.Contains(t, alerts[0].Data.CardHold.Failure, "Your card was declined")
	require.Equal(t, "deposit-L1/email/card-hold-failed-1", alerts[0].Key)
	// Tried again an hour later, under a new key (the provider remembers a refusal by its key).
	require.Equal(t, []string{"place", "renew-refused", "renew"}, c.ops()[:3])
	require.Equal(t, t0.Add(7*day+time.Hour), c.calls[2].At)
	require.Equal(t, "deposit-L1/card-hold-2-retry-1", c.calls[2].Key)
	require.Equal(t, "pi_1", c.calls[2].Old)
}

func TestCardHoldCapturesWhatIsKeptAndReleasesTheRest(t *testing.T) {
	h, c := cardLease(t)
	h.update(22*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 30000, Reason: "Burn mark on the counter"}, "", nil)
	s := h.run(cardIn)
	last := c.calls[len(c.calls)-1]
	require.Equal(t, "capture", last.Op)
	require.EqualValues(t, 30000, last.Cent, "exactly what is kept")
	require.Equal(t, "deposit-L1/card-hold-capture", last.Key)
	require.NotContains(t, c.ops(), "release", "a partial capture releases the rest")
	require.Equal(t, deposit.HoldCaptured, s.CardHold.Status)
	require.EqualValues(t, 30000, s.CardHold.CapturedCents)
	require.EqualValues(t, 70000, s.CardHold.ReleasedCents)
	// The capture is a card payment, kept: the settlement conserves.
	require.EqualValues(t, 30000, s.ReceivedCents)
	require.Equal(t, deposit.OutcomeKept, s.Outcome)
	st := h.settlement()
	require.EqualValues(t, 30000, st.ReceivedCents)
	require.EqualValues(t, 30000, st.KeptCents)
	require.Zero(t, st.RefundCents)
	require.Zero(t, st.BalanceOwedCents)
}

func TestCardHoldKeepAllCapturesAll(t *testing.T) {
	h, c := cardLease(t)
	h.at(21*day+time.Hour, SignalCharge, deposit.Charge{ChargeID: 9, Category: deposit.CategoryDeduction, AmountCents: 10000, Description: "Cleaning"})
	h.update(22*day, UpdateKeep, KeepRequest{Actor: mgr, All: true, Reason: "Extensive water damage"}, "", func(s deposit.State) {
		require.EqualValues(t, 90000, s.KeptCents, "what the hold secures, less the deduction")
	})
	s := h.run(cardIn)
	last := c.calls[len(c.calls)-1]
	require.Equal(t, "capture", last.Op)
	require.EqualValues(t, 100000, last.Cent)
	require.Equal(t, deposit.OutcomeKept, s.Outcome)
	require.EqualValues(t, 100000, s.CardHold.CapturedCents)
	require.Zero(t, s.CardHold.ReleasedCents)
	require.EqualValues(t, 100000, h.settlement().ReceivedCents)
}

func TestCardHoldChargesBeyondTheHoldAreInvoiced(t *testing.T) {
	h, c := cardLease(t)
	h.at(21*day+time.Hour, SignalCharge, deposit.Charge{ChargeID: 9, Category: deposit.CategoryDeduction, AmountCents: 125000, Description: "New carpet"})
	s := h.run(cardIn)
	require.EqualValues(t, 100000, c.calls[len(c.calls)-1].Cent, "the whole hold")
	require.Equal(t, deposit.OutcomeBalanceOwed, s.Outcome)
	require.EqualValues(t, 25000, s.BalanceOwedCents)
}

func TestCardPaymentIsRefundedToTheCard(t *testing.T) {
	h, c := cardLease(t)
	// The tenant paid the deposit by card after all (a PMS recorded it):
	// the hold is cancelled at the release, and the refund goes back to
	// the card through the provider.
	h.at(2*day, SignalPayment, deposit.Payment{PaymentID: 77, AmountCents: 100000, Reference: "pi_paid", Date: "2026-11-04",
		Method: deposit.MethodCard, PaymentIntent: "pi_paid"})
	h.update(22*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 30000, Reason: "Burn mark on the counter"}, "", nil)
	s := h.run(cardIn)
	n := len(c.calls)
	require.Equal(t, "release", c.calls[n-2].Op, "the payment covers the keep: nothing is captured")
	refund := c.calls[n-1]
	require.Equal(t, "refund", refund.Op)
	require.Equal(t, "77", refund.ID)
	require.EqualValues(t, 70000, refund.Cent)
	require.Equal(t, "deposit-L1/card-refund-77", refund.Key)
	require.Equal(t, deposit.OutcomePartiallyRefunded, s.Outcome)
	require.EqualValues(t, 70000, s.RefundCents)
}

func TestLeaseWithoutACardTakesNoHold(t *testing.T) {
	h := newHarness(t, 100000)
	c := h.withCards()
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	s := h.run(LeaseInput{})
	require.Empty(t, c.calls)
	require.Nil(t, s.CardHold)
}

// A lease that continues as new keeps its hold: the next run renews it on
// the same schedule and captures it at the release.
func TestCardHoldContinuesAsNew(t *testing.T) {
	h, c := cardLease(t)
	h.after(3*day, func() { h.env.SetContinueAsNewSuggested(true) })  // held, before the move-out
	h.after(25*day, func() { h.env.SetContinueAsNewSuggested(true) }) // in the release wait
	h.update(26*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 25000, Reason: "Scuffs"}, "", nil)
	s := h.run(cardIn)
	require.Equal(t, 3, h.runs, "two continue-as-new")
	var renewals []time.Duration
	for i, k := range c.calls {
		if k.Op == "renew" {
			renewals = append(renewals, k.At.Sub(t0))
			require.Equal(t, c.calls[i-1].ID, k.Old)
			require.Equal(t, fmt.Sprintf("deposit-L1/card-hold-%d", len(renewals)+1), k.Key)
		}
	}
	require.Equal(t, []time.Duration{7 * day, 14 * day, 21 * day, 28 * day}, renewals)
	last := c.calls[len(c.calls)-1]
	require.Equal(t, "capture", last.Op)
	require.EqualValues(t, 25000, last.Cent)
	require.Equal(t, "pi_5", last.ID)
	require.Equal(t, deposit.OutcomeKept, s.Outcome)
	require.Equal(t, []string{"receipt", "notice", "refund"}, h.emailKinds(), "every email once")
	requireConserved(t, s)
}

// A lease that takes payments, paid by card through the provider (a PMS
// said so): the refund goes back to the card.
func TestCardPaymentOfAPaymentLeaseIsRefundedToTheCard(t *testing.T) {
	h := newHarness(t, 100000)
	c := h.withCards()
	h.at(time.Hour, SignalPayment, deposit.Payment{PaymentID: 5, AmountCents: 100000, Reference: "PMS-5", Date: "2026-11-02",
		Method: deposit.MethodCard, PaymentIntent: "pi_paid"})
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	h.update(3*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 40000, Reason: "Broken blinds"}, "", nil)
	s := h.run(LeaseInput{})
	require.Equal(t, []string{"refund"}, c.ops())
	require.EqualValues(t, 60000, c.calls[0].Cent)
	require.Equal(t, "deposit-L1/card-refund-5", c.calls[0].Key)
	require.Nil(t, s.CardHold)
	require.EqualValues(t, 60000, s.RefundCents)
}
