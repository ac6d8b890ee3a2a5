package workflows

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/rules"
)

// days is a lease input field in seconds.
func days(n int) int64 { return int64(time.Duration(n) * day / time.Second) }

func TestStatuteBoundsTheReleaseDate(t *testing.T) {
	h := newHarness(t, 100000)
	h.law.Rule = ruleOf("US-CA")
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*day, SignalMoveOut, moveOutDay(1)) // 2026-11-04: the refund is due 2026-11-25
	due := moveOutDay(1).At.AddDate(0, 0, 21)
	h.checkAt(2*day+time.Hour, func(s deposit.State) {
		require.True(t, s.Clock.Started)
		require.Equal(t, due, s.Clock.RefundDue)
		// The manager asked for 60 days; the statute allows 21, less a day's margin.
		require.Equal(t, due.Add(-rules.SafetyMargin), s.ReleaseAt)
		require.Contains(t, s.Clock.Why, "Civ. Code 1950.5")
	})
	h.update(5*day, UpdateExtend, ExtendRequest{Actor: mgr, Days: 3}, "requires the refund by 2026-11-25", nil)
	s := h.run(LeaseInput{ReleaseAfterSeconds: days(60), Jurisdiction: "US-CA"})

	require.Equal(t, deposit.OutcomeRefunded, s.Outcome)
	require.True(t, s.ClosedAt.Before(due), "closed %s, due %s", s.ClosedAt, due)
	require.Empty(t, s.DeadlineMissed)
	require.Equal(t, "US-CA", s.Jurisdiction)
	last := h.deadlines[len(h.deadlines)-1]
	require.Equal(t, due, last.RefundDue)
	notice := h.emails[2]
	require.Equal(t, "notice", notice.Kind)
	require.Equal(t, due, notice.Data.RefundDue)
	require.Contains(t, notice.Data.RuleLabel, "US-CA")
}

func TestLateMoveOutForfeitsDeductionsWhereTheRuleSaysSo(t *testing.T) {
	h := newHarness(t, 100000)
	h.law.Rule = ruleOf("US-NY") // 14 days; a late statement forfeits every deduction
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*time.Hour, SignalCharge, deposit.Charge{ChargeID: 10, Code: "RENT", Category: deposit.CategoryArrears, AmountCents: 30000, Description: "October rent"})
	// The manager records, on day 20, a move-out of day 1: the statement
	// deadline (day 15) has passed.
	h.at(20*day, SignalMoveOut, moveOutDay(1))
	h.update(20*day+time.Minute, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 1000, Reason: "Scuffs"}, "nothing may be kept", nil)
	s := h.run(LeaseInput{Jurisdiction: "US-NY"})

	require.True(t, s.Forfeited)
	require.Contains(t, s.DeadlineMissed, "after its deadline")
	require.Contains(t, s.DeadlineMissed, "forfeited")
	require.Equal(t, deposit.OutcomeRefunded, s.Outcome)
	require.EqualValues(t, 100000, s.RefundCents, "everything back")
	require.EqualValues(t, 30000, s.ForfeitedCents)
	st := h.settlement()
	require.EqualValues(t, 0, st.ArrearsCents)
	refund := h.emails[len(h.emails)-1]
	require.Equal(t, "refund", refund.Kind)
	require.EqualValues(t, 30000, refund.Data.ForfeitedCents)
	require.Contains(t, refund.Data.ForfeitedList, "October rent")
	require.Contains(t, h.deadlines[len(h.deadlines)-1].Note, "MISSED")
}

func TestForwardingAddressStartsTheTexasClock(t *testing.T) {
	h := newHarness(t, 100000)
	h.law.Rule = ruleOf("US-TX")
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	h.checkAt(3*day, func(s deposit.State) {
		require.False(t, s.Clock.Started, "no forwarding address, no clock")
		require.Contains(t, s.Clock.Why, "forwarding address")
		require.Equal(t, moveOutDay(1).At.AddDate(0, 0, 60), s.ReleaseAt, "the manager's date stands")
	})
	fwd := moveOutDay(1).At.Add(10 * day)
	h.at(11*day, SignalForwarding, ForwardingAddress{Address: "12 Elm St, Austin TX", At: fwd})
	due := fwd.AddDate(0, 0, 30)
	h.checkAt(11*day+time.Hour, func(s deposit.State) {
		require.True(t, s.Clock.Started)
		require.Equal(t, due, s.Clock.RefundDue)
		require.Equal(t, due.Add(-rules.SafetyMargin), s.ReleaseAt, "pulled in front of the deadline")
		require.Equal(t, "12 Elm St, Austin TX", s.ForwardingAddress)
	})
	// A corrected address keeps the time of the first.
	h.at(12*day, SignalForwarding, ForwardingAddress{Address: "14 Elm St, Austin TX", At: fwd.Add(2 * day)})
	s := h.run(LeaseInput{ReleaseAfterSeconds: days(60), Jurisdiction: "US-TX"})
	require.Equal(t, due, s.Clock.RefundDue)
	require.Equal(t, "14 Elm St, Austin TX", s.ForwardingAddress)
	require.True(t, s.ClosedAt.Before(due))
}

func TestFloridaTwoStages(t *testing.T) {
	t.Run("nothing withheld: 15 days", func(t *testing.T) {
		h := newHarness(t, 100000)
		h.law.Rule = ruleOf("US-FL")
		h.at(time.Hour, SignalPayment, pay(1, 100000))
		h.at(2*day, SignalMoveOut, moveOutDay(1))
		s := h.run(LeaseInput{ReleaseAfterSeconds: days(40), Jurisdiction: "US-FL"})
		due := moveOutDay(1).At.AddDate(0, 0, 15)
		require.Equal(t, due, s.Clock.RefundDue)
		require.Equal(t, due.Add(-rules.SafetyMargin), s.ClosedAt)
	})
	t.Run("a claim: notice, objection window, balance within 30 days of the notice", func(t *testing.T) {
		h := newHarness(t, 100000)
		h.law.Rule = ruleOf("US-FL")
		h.at(time.Hour, SignalPayment, pay(1, 100000))
		h.at(2*day, SignalMoveOut, moveOutDay(1))
		h.at(3*day, SignalCharge, deposit.Charge{ChargeID: 10, Code: "DAMAGE", Category: deposit.CategoryDeduction, AmountCents: 25000, Description: "Door"})
		// The window ends on day 4 (3 days): the notice goes out then.
		notice := moveOutDay(1).At.Add(deposit.DefaultAssessFor)
		s := h.run(LeaseInput{ReleaseAfterSeconds: days(5), Jurisdiction: "US-FL"})
		require.Equal(t, notice, s.StatementAt)
		require.Equal(t, notice.AddDate(0, 0, 15), s.Clock.ObjectionEnds)
		require.Equal(t, notice.AddDate(0, 0, 30), s.Clock.RefundDue)
		require.Equal(t, s.Clock.ObjectionEnds, s.ClosedAt, "nothing deducted before the objection window ends")
		require.EqualValues(t, 75000, s.RefundCents)
		n := h.emails[2]
		require.Equal(t, "notice", n.Kind)
		require.Equal(t, s.Clock.ObjectionEnds, n.Data.ObjectionEnds)
	})
}

func TestStatuteEndsAHoldAndAnUnapprovedKeep(t *testing.T) {
	h := newHarness(t, 100000)
	h.law.Rule = ruleOf("US-CA")
	h.threshold = 10000
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	h.update(5*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 50000, Reason: "Repainting"}, "", nil)
	h.update(5*day+time.Hour, UpdateHold, HoldRequest{Actor: mgr}, "", func(s deposit.State) {
		require.Contains(t, s.Decisions[len(s.Decisions)-1].Detail, "releases it by")
	})
	s := h.run(LeaseInput{Jurisdiction: "US-CA"})
	due := moveOutDay(1).At.AddDate(0, 0, 21)
	require.Equal(t, due.Add(-rules.SafetyMargin), s.ClosedAt)
	require.EqualValues(t, 100000, s.RefundCents, "the keep awaiting approval is not applied")
	require.Nil(t, s.PendingKeep)
	statute := h.decisions(s, "statute")
	require.Len(t, statute, 1)
	require.Contains(t, statute[0].Detail, "not approved in time")
	require.Contains(t, statute[0].Detail, "the hold ended")
	// The manager was warned before the engine acted.
	require.Len(t, h.reminders, 3)
	for _, r := range h.reminders {
		require.True(t, r.At.Before(s.ClosedAt))
	}
}

func TestInterestIsATermOfTheRefund(t *testing.T) {
	h := newHarness(t, 100000)
	h.law = lawOf("US-MA", t0.AddDate(-2, 0, 0), 1)
	h.at(time.Hour, SignalPayment, pay(1, 100000)) // paid 2026-11-02
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	s := h.run(LeaseInput{Jurisdiction: "US-MA"})
	// Settled 2026-11-18: 16 days at 5% on 1,000.00 = 100000 × 0.05 × 16/365 = 219.18 → 219 cents.
	require.Equal(t, time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC), s.ClosedAt)
	require.EqualValues(t, 219, s.InterestCents)
	require.EqualValues(t, 100219, s.RefundCents)
	require.EqualValues(t, 219, h.settlement().InterestCents)
	require.Contains(t, h.emails[len(h.emails)-1].Data.InterestWhy, "simple interest")
	require.EqualValues(t, 100219, s.AppliedCents+s.RefundCents)
}

func lawOf(code string, leaseStart time.Time, units int) activities.LeaseLaw {
	return activities.LeaseLaw{Rule: ruleOf(code), LeaseStart: leaseStart, BuildingUnits: units}
}

// TestThousandLeasesMeetTheirDeadlines simulates 1,000 leases across every
// jurisdiction with random move-outs (some recorded a day or two late),
// charges, forwarding addresses and managers who ask for long delays,
// extend, hold, keep above the approval threshold and never approve. Every
// lease whose statutory clock started must close before its deadline with
// its statement in time.
func TestThousandLeasesMeetTheirDeadlines(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	codes := embeddedRules.Codes()
	var mu sync.Mutex
	var clocks, byStatute, pulledIn, accepted int
	t.Run("leases", func(t *testing.T) {
		for i := range n {
			code := codes[i%len(codes)]
			t.Run(fmt.Sprintf("%04d-%s", i, code), func(t *testing.T) {
				t.Parallel()
				s, askedRelease := simulateLease(t, uint64(i), code)
				mu.Lock()
				defer mu.Unlock()
				if s.Clock.Started {
					clocks++
				}
				if len(decisionsOf(s, "statute")) > 0 {
					byStatute++
				}
				if s.Clock.Started && s.ReleaseAt.Before(askedRelease) {
					pulledIn++
				}
				accepted += len(s.Decisions)
			})
		}
	})
	t.Logf("%d leases: %d with a statutory clock, %d release dates pulled in front of the deadline, %d settled by the engine at the last safe moment (past any hold or unapproved keep), %d decisions accepted",
		n, clocks, pulledIn, byStatute, accepted)
	// The simulation must exercise the deadlines, not dodge them.
	require.Greater(t, clocks, n*3/4)
	require.Greater(t, pulledIn, n/10)
	require.Greater(t, byStatute, n/50)
}

func decisionsOf(s deposit.State, kind string) []deposit.Decision {
	var out []deposit.Decision
	for _, d := range s.Decisions {
		if d.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}

// simulateLease runs one random lease to its end and checks its deadlines;
// it returns the final state and the release date the manager asked for.
func simulateLease(t *testing.T, seed uint64, code string) (deposit.State, time.Time) {
	rng := rand.New(rand.NewPCG(seed, 42))
	h := newHarness(t, 100000)
	h.env.SetTestTimeout(time.Minute)
	h.law = lawOf(code, t0.AddDate(0, -rng.IntN(36), 0), 1+rng.IntN(40))
	h.threshold = int64(rng.IntN(3)) * 20000
	h.at(time.Hour, SignalPayment, pay(1, 50000+int64(rng.IntN(3))*25000))
	moveOut := 1 + rng.IntN(60)
	recorded := time.Duration(moveOut+1)*day + time.Duration(rng.IntN(48))*time.Hour // up to two days late
	h.at(recorded, SignalMoveOut, moveOutDay(moveOut))
	for c := range rng.IntN(4) {
		h.at(recorded+time.Duration(rng.IntN(25*24))*time.Hour, SignalCharge, deposit.Charge{ChargeID: int64(10 + c), Code: "DAMAGE",
			Category: []string{deposit.CategoryDeduction, deposit.CategoryArrears}[rng.IntN(2)], AmountCents: int64(1+rng.IntN(400)) * 100, Description: "item"})
	}
	if rng.IntN(5) > 0 {
		after := time.Duration(rng.IntN(40*24)) * time.Hour
		h.at(recorded+after, SignalForwarding, ForwardingAddress{Address: "somewhere", At: moveOutDay(moveOut).At.Add(after)})
	}
	// Managers: a few decisions at random moments after the move-out; each
	// may be accepted or refused, the simulation does not mind which.
	decide := func(name string, req any) {
		h.after(recorded+time.Duration(rng.IntN(40*24))*time.Hour, func() { h.send(name, req) })
	}
	for range rng.IntN(4) {
		switch rng.IntN(4) {
		case 0:
			decide(UpdateExtend, ExtendRequest{Actor: mgr, Days: 1 + rng.IntN(30)})
		case 1:
			decide(UpdateHold, HoldRequest{Actor: mgr})
		case 2:
			decide(UpdateKeep, KeepRequest{Actor: mgr, AmountCents: int64(1+rng.IntN(300)) * 100, Reason: "wear"})
		case 3:
			decide(UpdateRelease, ReleaseRequest{Actor: mgr})
		}
	}
	// A deposit on hold, or with a keep awaiting approval, and no statute
	// waits for people: at day 150 a books_admin declines the keep and the
	// manager releases.
	h.after(150*day, func() {
		h.send(UpdateDecline, ApprovalRequest{Actor: books})
		h.send(UpdateRelease, ReleaseRequest{Actor: mgr})
	})
	in := LeaseInput{LeaseID: "L1", Jurisdiction: code, AssessForSeconds: days(1 + rng.IntN(20)), ReleaseAfterSeconds: days(1 + rng.IntN(110))}
	s, err := h.runLease(in)
	require.NoError(t, err)
	require.Equal(t, deposit.StageClosed, s.Stage)
	require.Empty(t, s.DeadlineMissed)
	if s.Clock.Started {
		require.False(t, s.ClosedAt.After(s.Clock.RefundDue), "closed %s after the refund deadline %s (%s)", s.ClosedAt, s.Clock.RefundDue, s.Clock.Why)
		require.False(t, s.StatementAt.After(s.Clock.StatementDue), "statement %s after %s", s.StatementAt, s.Clock.StatementDue)
	} else {
		require.Contains(t, []string{rules.None, "US-TX"}, code, "only NONE and a Texas lease without a forwarding address have no clock")
	}
	require.Equal(t, s.ReceivedCents+s.InterestCents+s.CreditsCents, s.AppliedCents+s.RefundCents, "conservation")
	return s, s.MovedOutAt.Add(latestDuration(in.ReleaseAfter(), in.AssessFor()))
}

func latestDuration(a, b time.Duration) time.Duration { return max(a, b) }
