package workflows

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/rules"
)

// The tenant's side in the fake database: the server writes a disputed
// item (or its answer) and signals its ID, as gateway does.

func (f *fakeDB) ReadDisputes(_ context.Context, _ activities.FactInput) (activities.DisputesFact, error) {
	b := f.books()
	return activities.DisputesFact{Disputes: b.Disputes, RemindAfter: activities.DefaultDisputeRemindAfter}, nil
}

func (f *fakeDB) PayDispute(_ context.Context, in activities.PayDisputeInput) (deposit.Dispute, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.Disputes {
		d := &f.Disputes[i]
		if d.DisputeID != in.DisputeID {
			continue
		}
		if !d.Settled() {
			pay := d.Payback()
			d.RefundCents, d.AppliedCents, d.SettledAt = pay, d.HeldCents-pay, time.Unix(1, 0).UTC()
		}
		return *d, nil
	}
	return deposit.Dispute{}, fmt.Errorf("no dispute %d", in.DisputeID)
}

// dispute has the tenant dispute a charge at a moment.
func (h *harness) dispute(after time.Duration, id, chargeID, cents int64, message string) {
	h.after(after, func() {
		h.db.change(func(b *activities.Books) {
			b.Disputes = append(b.Disputes, deposit.Dispute{DisputeID: id, Item: fmt.Sprintf("charge:%d", chargeID), ResidentID: 5,
				Description: fmt.Sprintf("Deduction: charge %d", chargeID), AmountCents: cents, TenantMessage: message,
				Status: deposit.DisputeOpen, OpenedAt: h.env.Now().UTC()})
		})
		h.env.SignalWorkflow(SignalDispute, DisputeSignal{DisputeID: id})
	})
}

// answer changes a disputed item as the manager's answer or the tenant's
// acceptance does.
func (h *harness) answer(after time.Duration, id int64, status string, offer int64) {
	h.after(after, func() {
		h.db.change(func(b *activities.Books) {
			for i := range b.Disputes {
				if d := &b.Disputes[i]; d.DisputeID == id {
					d.Status = status
					if offer > 0 {
						d.OfferCents = offer
					}
					if status != deposit.DisputeAgreed {
						d.AnsweredAt = h.env.Now().UTC()
					}
				}
			}
		})
		h.env.SignalWorkflow(SignalDispute, DisputeSignal{DisputeID: id})
	})
}

// disputedLease is a deposit of $1,500.00 with two deductions after the
// move-out (cleaning $200.00, a door $300.00) and a notice on day 13.
func disputedLease(t *testing.T) *harness {
	h := newHarness(t, 150000)
	h.at(time.Hour, SignalPayment, pay(1, 150000))
	h.at(10*day, SignalMoveOut, moveOutDay(9)) // 2026-11-12: release 2026-11-26
	h.at(11*day, SignalCharge, deposit.Charge{ChargeID: 21, Code: "CLEANING", Category: deposit.CategoryDeduction, AmountCents: 20000, Description: "Cleaning"})
	h.at(11*day+time.Hour, SignalCharge, deposit.Charge{ChargeID: 22, Code: "DAMAGE", Category: deposit.CategoryDeduction, AmountCents: 30000, Description: "Door"})
	return h
}

// release is the lease's release date: 14 days after the move-out.
var release = moveOutDay(9).At.Add(deposit.DefaultReleaseAfter)

// managerKinds lists the dispute emails the manager got (not the release reminders).
func (h *harness) managerKinds() []string {
	var kinds []string
	for _, r := range h.reminders {
		if r.Kind != "reminder" {
			kinds = append(kinds, r.Kind)
		}
	}
	return kinds
}

// conserved checks the workflow's books: everything received is held,
// refunded (with the settlement or a resolution) or applied.
func conserved(t *testing.T, s deposit.State) {
	t.Helper()
	var paidBack int64
	for _, d := range s.Disputes {
		paidBack += d.RefundCents
	}
	require.Equal(t, s.ReceivedCents+s.InterestCents+s.CreditsCents, s.HeldCents+s.RefundCents+paidBack+s.AppliedCents, "conservation")
	require.Equal(t, deposit.DisputedHeld(s.Disputes), s.HeldCents)
}

func TestUndisputedPartIsPaidOnTimeAndTheDisputedHeldThenConceded(t *testing.T) {
	h := disputedLease(t)
	h.dispute(14*day, 31, 22, 30000, "The door was already broken at move-in.")
	h.checkAt(14*day+time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageReleasePending, s.Stage)
		require.Len(t, s.Disputes, 1)
		require.True(t, s.Disputable)
	})
	// On the release date the undisputed part is paid and the door held.
	h.after(release.Sub(t0)+time.Hour, func() {
		v, err := h.env.QueryWorkflow(QueryState)
		require.NoError(t, err)
		var s deposit.State
		require.NoError(t, v.Get(&s))
		require.Equal(t, deposit.StageDisputed, s.Stage)
		require.EqualValues(t, 100000, s.RefundCents, "1,500 - 200 - 300: the undisputed refund")
		require.EqualValues(t, 30000, s.DisputedCents)
		require.EqualValues(t, 30000, s.HeldCents)
		conserved(t, s)
	})
	h.answer(release.Sub(t0)+3*day, 31, deposit.DisputeConceded, 0)
	s := h.run(LeaseInput{})

	require.Equal(t, deposit.StageClosed, s.Stage)
	require.Equal(t, release, s.ClosedAt, "settled on the release date")
	st := h.settlement()
	require.True(t, st.HoldDisputes)
	require.EqualValues(t, 100000, st.RefundCents)
	require.Len(t, h.paid, 1)
	require.Equal(t, "deposit-L1/dispute/31", h.paid[0].Key)
	require.EqualValues(t, 30000, s.Disputes[0].RefundCents, "conceded: paid back at once")
	require.Zero(t, s.DisputedCents)
	conserved(t, s)
	require.Equal(t, []string{"request", "receipt", "notice", "refund", "dispute_paid"}, h.emailKinds())
	require.Equal(t, []string{"dispute_opened", "dispute_reminder"}, h.managerKinds(), "unanswered for 3 days before the release")
	require.Equal(t, []string{deposit.StageHeld, deposit.StageAssessing, deposit.StageReleasePending, deposit.StageDisputed, deposit.StageClosed}, h.stages)
}

func TestMaintainedDisputeIsApplied(t *testing.T) {
	h := disputedLease(t)
	h.dispute(14*day, 31, 22, 30000, "Not my door.")
	h.answer(release.Sub(t0)+time.Hour, 31, deposit.DisputeMaintained, 0)
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.StageClosed, s.Stage)
	require.EqualValues(t, 100000, s.RefundCents)
	require.Zero(t, s.Disputes[0].RefundCents)
	require.EqualValues(t, 30000, s.Disputes[0].AppliedCents)
	require.EqualValues(t, 50000, s.AppliedCents)
	conserved(t, s)
	require.Equal(t, []string{"request", "receipt", "notice", "refund", "dispute_answer"}, h.emailKinds())
}

func TestOfferAcceptedPaysTheOfferAndAppliesTheRest(t *testing.T) {
	h := disputedLease(t)
	h.dispute(14*day, 31, 22, 30000, "Half of it was there before.")
	h.answer(release.Sub(t0)+time.Hour, 31, deposit.DisputeOffered, 15000)
	h.checkAt(release.Sub(t0)+2*time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageDisputed, s.Stage)
		require.Contains(t, h.emailKinds(), "dispute_answer")
	})
	h.answer(release.Sub(t0)+day, 31, deposit.DisputeAgreed, 0)
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.StageClosed, s.Stage)
	require.EqualValues(t, 15000, s.Disputes[0].RefundCents)
	require.EqualValues(t, 15000, s.Disputes[0].AppliedCents)
	conserved(t, s)
	require.Equal(t, []string{"request", "receipt", "notice", "refund", "dispute_answer", "dispute_paid"}, h.emailKinds())
}

func TestUnansweredDisputeAndIgnoredOfferAreReminded(t *testing.T) {
	h := disputedLease(t)
	h.dispute(14*day, 31, 22, 30000, "Not my door.")
	// Unanswered for three days: the manager is reminded, once.
	h.checkAt(17*day+time.Hour, func(deposit.State) {
		require.Equal(t, []string{"dispute_opened", "dispute_reminder"}, h.managerKinds())
	})
	h.answer(20*day, 31, deposit.DisputeOffered, 10000)
	// The tenant ignores the offer for three days: reminded, once.
	h.checkAt(23*day+time.Hour, func(deposit.State) {
		require.Equal(t, 1, countOf(h.emailKinds(), "offer_reminder"))
	})
	h.answer(40*day, 31, deposit.DisputeMaintained, 0)
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.StageClosed, s.Stage)
	require.Equal(t, 1, countOf(h.managerKinds(), "dispute_reminder"))
	require.Equal(t, 1, countOf(h.emailKinds(), "offer_reminder"))
	conserved(t, s)
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

func TestConcededBeforeTheReleaseDateIsPaidWithTheSettlement(t *testing.T) {
	h := disputedLease(t)
	h.dispute(14*day, 31, 22, 30000, "Not my door.")
	h.answer(15*day, 31, deposit.DisputeConceded, 0)
	s := h.run(LeaseInput{})
	require.Equal(t, release, s.ClosedAt)
	require.EqualValues(t, 30000, s.Disputes[0].RefundCents)
	conserved(t, s)
	require.Equal(t, []string{"request", "receipt", "notice", "dispute_answer", "refund", "dispute_paid"}, h.emailKinds())
	require.NotContains(t, h.stages, deposit.StageDisputed, "nothing stayed held")
}

// TestStatutoryDeadlineWithADisputeOpen: a manager's hold cannot pass the
// statutory deadline; the engine settles by it, refunding the undisputed
// part in time, and only the disputed item stays held, shown as such.
func TestStatutoryDeadlineWithADisputeOpen(t *testing.T) {
	h := disputedLease(t)
	h.law.Rule = ruleOf("US-CA") // 21 days from the move-out
	h.dispute(14*day, 31, 22, 30000, "Not my door.")
	h.update(14*day+time.Hour, UpdateHold, HoldRequest{Actor: mgr}, "", nil)
	due := moveOutDay(9).At.AddDate(0, 0, 21)
	h.after(due.Sub(t0), func() {
		v, err := h.env.QueryWorkflow(QueryState)
		require.NoError(t, err)
		var s deposit.State
		require.NoError(t, v.Get(&s))
		require.Equal(t, deposit.StageDisputed, s.Stage)
		require.True(t, s.ClosedAt.Before(due), "settled %s, due %s", s.ClosedAt, due)
		require.Empty(t, s.DeadlineMissed)
		require.EqualValues(t, 100000, s.RefundCents)
		require.EqualValues(t, 30000, s.DisputedCents)
	})
	h.answer(60*day, 31, deposit.DisputeMaintained, 0)
	s := h.run(LeaseInput{Jurisdiction: "US-CA"})
	require.Equal(t, due.Add(-rules.SafetyMargin), s.ClosedAt)
	require.Equal(t, deposit.StageClosed, s.Stage)
	conserved(t, s)
}

// TestDisputeBeyondTheDepositHoldsWhatItCovers: deductions above the
// deposit leave a balance owed; a disputed item holds only what the
// deposit covered of it.
func TestDisputeBeyondTheDepositHoldsWhatItCovers(t *testing.T) {
	h := disputedLease(t)
	h.at(12*day, SignalCharge, deposit.Charge{ChargeID: 23, Code: "DAMAGE", Category: deposit.CategoryDeduction, AmountCents: 120000, Description: "Floor"})
	h.dispute(14*day, 31, 22, 30000, "Not my door.")
	h.dispute(14*day+time.Minute, 32, 23, 120000, "Not my floor either.")
	h.answer(release.Sub(t0)+day, 31, deposit.DisputeConceded, 0)
	h.answer(release.Sub(t0)+day, 32, deposit.DisputeConceded, 0)
	s := h.run(LeaseInput{})
	require.EqualValues(t, 20000, s.BalanceOwedCents)
	i := slices.IndexFunc(s.Disputes, func(d deposit.Dispute) bool { return d.DisputeID == 32 })
	require.EqualValues(t, 30000, s.Disputes[0].HeldCents)
	require.EqualValues(t, 120000, s.Disputes[i].HeldCents, "the deposit covers the door and the floor: 1,500 applied, 200 of cleaning invoiced")
	conserved(t, s)
}
