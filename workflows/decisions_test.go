package workflows

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
)

const day = 24 * time.Hour

var (
	mgr   = Actor{Actor: "maria", Role: deposit.RoleManager}
	books = Actor{Actor: "ben", Role: deposit.RoleBooksAdmin}
)

// update sends an Update at a moment, as the server does: it records the
// request in the audit log first, and the Update carries the row's ID. It
// checks how the Update ended: refused (wantErr not empty: by its validator,
// or by its handler once the database was asked; the state must be exactly
// as before), or completed with the state it returns.
func (h *harness) update(after time.Duration, name string, req any, wantErr string, check func(deposit.State)) {
	h.updateWith(after, name, req, nil, wantErr, check)
}

// updateWith is update with the audit row as the test makes it: tamper
// gets the row the server would write and may change it, or (returning
// false) write none.
func (h *harness) updateWith(after time.Duration, name string, req any, tamper func(*auditRow) bool, wantErr string, check func(deposit.State)) {
	h.after(after, func() {
		req := h.recorded(name, req, tamper)
		before := h.query()
		h.unfinished++
		refused := func(err error) {
			h.unfinished--
			require.NotEmpty(h.t, wantErr, "%s was refused: %v", name, err)
			require.ErrorContains(h.t, err, wantErr)
			require.Equal(h.t, before, h.query(), "a refused %s changed the state", name)
		}
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: refused,
			OnComplete: func(v any, err error) {
				if err != nil {
					refused(err)
					return
				}
				h.unfinished--
				require.Empty(h.t, wantErr, "%s completed, want it refused with %q", name, wantErr)
				if check != nil {
					check(v.(deposit.State))
				}
			},
		}, req)
	})
}

// send is a decision whose outcome the test does not check.
func (h *harness) send(name string, req any) {
	ignore := &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(error) {}, OnComplete: func(any, error) {}}
	h.env.UpdateWorkflow(name, "", ignore, h.recorded(name, req, nil))
}

// recorded writes the request's audit row as the server does (the actor,
// their roles, the action and the business content) and returns the
// request carrying the row's ID.
func (h *harness) recorded(name string, req any, tamper func(*auditRow) bool) any {
	switch r := req.(type) {
	case ExtendRequest:
		h.audit(name, &r.Actor, extendContent{Days: r.Days}, tamper)
		return r
	case KeepRequest:
		h.audit(name, &r.Actor, keepContent{AmountCents: r.AmountCents, All: r.All, Reason: r.Reason}, tamper)
		return r
	case ReleaseRequest:
		h.audit(name, &r.Actor, struct{}{}, tamper)
		return r
	case HoldRequest:
		h.audit(name, &r.Actor, holdContent{Off: r.Off}, tamper)
		return r
	case ApprovalRequest:
		h.audit(name, &r.Actor, approvalContent{Item: r.Item, Reason: r.Reason}, tamper)
		return r
	case RecheckRequest:
		h.audit(name, &r.Actor, recheckContent{Rebuild: r.Rebuild}, tamper)
		return r
	}
	h.t.Fatalf("no audit row for a %T", req)
	return nil
}

func (h *harness) audit(name string, by *Actor, content any, tamper func(*auditRow) bool) {
	body, err := json.Marshal(content)
	require.NoError(h.t, err)
	row := auditRow{leaseID: "L1", action: name, actor: by.Actor, roles: deposit.ParseRoles(by.Role), content: body}
	if tamper == nil || tamper(&row) {
		by.RequestID = h.db.record(row)
	} else if by.RequestID == 0 {
		by.RequestID = 987654 // no such row
	}
}

func (h *harness) query() deposit.State {
	v, err := h.env.QueryWorkflow(QueryState)
	require.NoError(h.t, err)
	var s deposit.State
	require.NoError(h.t, v.Get(&s))
	return s
}

// paidAndMovedOut: 1,000.00 paid at 1h, moved out on day 1 (00:00 UTC of
// 2026-11-04), so with the defaults the window ends on day 4 and the release
// is on 2026-11-18.
func paidAndMovedOut(t *testing.T) *harness {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	return h
}

var release0 = moveOutDay(1).At.Add(deposit.DefaultReleaseAfter)

func TestExtendMovesTheReleaseAndItsReminders(t *testing.T) {
	h := paidAndMovedOut(t)
	h.update(5*day, UpdateExtend, ExtendRequest{Actor: mgr, Days: 7}, "", func(s deposit.State) {
		require.Equal(t, release0.Add(7*day), s.ReleaseAt)
		require.Equal(t, UpdateExtend, s.Decisions[0].Kind)
		require.Equal(t, "maria", s.Decisions[0].Actor)
	})
	h.update(6*day, UpdateExtend, ExtendRequest{Actor: mgr, Days: 7}, "", nil) // repeatable
	s := h.run(LeaseInput{})
	require.Equal(t, release0.Add(14*day), s.ClosedAt)
	require.Len(t, h.decisions(s, UpdateExtend), 2)
	// Reminders went out 10, 5 and 1 days before the release date in force.
	require.Len(t, h.reminders, 3)
	require.Equal(t, release0.Add(14*day-10*day), h.reminders[0].At)
	require.Equal(t, release0.Add(14*day-5*day), h.reminders[1].At)
	require.Equal(t, release0.Add(14*day-day), h.reminders[2].At)
	require.Equal(t, "reminder", h.reminders[0].Kind)
	require.Equal(t, release0.Add(14*day), h.reminders[0].Data.ReleaseAt)
}

func (h *harness) decisions(s deposit.State, kind string) []deposit.Decision {
	var out []deposit.Decision
	for _, d := range s.Decisions {
		if d.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}

func TestRemindersBeforeAutomaticRelease(t *testing.T) {
	h := paidAndMovedOut(t)
	s := h.run(LeaseInput{})
	// The manager's alert at the move-out, then 10, 5 and 1 days before.
	require.Len(t, h.alerts, 1)
	require.Equal(t, moveOutDay(1).At, h.alerts[0].At.Truncate(day))
	require.True(t, h.alerts[0].MoveOutAlert)
	require.True(t, h.alerts[0].Managers, "each of the property's managers, with links")
	require.Len(t, h.reminders, 3)
	require.Equal(t, release0.Add(-10*day), h.reminders[0].At)
	require.Equal(t, release0.Add(-5*day), h.reminders[1].At)
	require.Equal(t, release0.Add(-day), h.reminders[2].At)
	require.Equal(t, managerEmail, h.reminders[0].To)
	require.True(t, h.reminders[0].Managers)
	require.False(t, h.reminders[0].MoveOutAlert)
	require.EqualValues(t, 100000, h.reminders[0].Data.RefundCents)
	require.NotEqual(t, h.reminders[0].Key, h.reminders[1].Key)
	require.Equal(t, release0, s.ClosedAt)
}

// A property sets its own schedule: the lease follows it.
func TestRemindersOnThePropertysSchedule(t *testing.T) {
	h := paidAndMovedOut(t)
	h.reminderDays = []int{2, 7, 7} // any order, repeats once
	s := h.run(LeaseInput{})
	require.Len(t, h.reminders, 2)
	require.Equal(t, release0.Add(-7*day), h.reminders[0].At)
	require.Equal(t, release0.Add(-2*day), h.reminders[1].At)
	require.Equal(t, release0, s.ClosedAt)

	h = paidAndMovedOut(t)
	h.reminderDays = []int{} // none: only the alert at the move-out
	h.run(LeaseInput{})
	require.Empty(t, h.reminders)
	require.Len(t, h.alerts, 1)
}

// "Extend a week" from a manager's link is the extend decision of 7 days:
// the release moves a week and the reminders follow the new date.
func TestExtendAWeekMovesTheReminders(t *testing.T) {
	h := paidAndMovedOut(t)
	// After the 10-day reminder, before the 5-day one.
	h.update(release0.Sub(t0)-8*day, UpdateExtend, ExtendRequest{Actor: mgr, Days: 7}, "", func(s deposit.State) {
		require.Equal(t, release0.Add(7*day), s.ReleaseAt)
	})
	s := h.run(LeaseInput{})
	require.Equal(t, release0.Add(7*day), s.ClosedAt)
	at := []time.Time{}
	for _, r := range h.reminders {
		at = append(at, r.At)
	}
	// 10 days before the first date; then 10 (already past? no: 9 days
	// ahead of the new date's 10-day mark), 5 and 1 days before the new one.
	require.Equal(t, []time.Time{release0.Add(-10 * day), release0.Add(7*day - 10*day), release0.Add(7*day - 5*day), release0.Add(7*day - day)}, at)
}

func TestExtendRefusals(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.update(2*time.Hour, UpdateExtend, ExtendRequest{Actor: mgr, Days: 7}, "no move-out yet", nil)
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	h.update(3*day, UpdateExtend, ExtendRequest{Actor: mgr, Days: 7}, "past the limit of 120 days", nil)
	h.update(3*day, UpdateExtend, ExtendRequest{Actor: mgr, Days: 0}, "at least one day", nil)
	h.update(3*day, UpdateExtend, ExtendRequest{Actor: Actor{Actor: "x", Role: "tenant"}, Days: 1}, "may not decide", nil)
	h.update(3*day, UpdateExtend, ExtendRequest{Actor: Actor{Role: deposit.RoleManager}, Days: 1}, "who is acting", nil)
	s := h.run(LeaseInput{ReleaseAfterSeconds: int64(115 * day / time.Second)})
	require.Empty(t, s.Decisions)
	require.Equal(t, moveOutDay(1).At.Add(115*day), s.ClosedAt)
}

func TestKeepPartGoesToTheTenantWithTheReason(t *testing.T) {
	h := paidAndMovedOut(t)
	h.update(5*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 30000, Reason: "Burn mark on the counter"}, "", func(s deposit.State) {
		require.EqualValues(t, 30000, s.KeptCents)
		require.Equal(t, "Burn mark on the counter", s.Kept[0].Reason)
	})
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.OutcomePartiallyRefunded, s.Outcome)
	require.EqualValues(t, 70000, s.RefundCents)
	require.EqualValues(t, 30000, h.settlement().KeptCents)
	require.Equal(t, []activities.KeptLine{{AmountCents: 30000, Reason: "Burn mark on the counter", RequestedBy: "maria"}}, h.settlement().Kept)
	refund := h.emails[len(h.emails)-1]
	require.Equal(t, "refund", refund.Kind)
	require.Equal(t, "Burn mark on the counter", refund.Data.Kept[0].Description)
	require.EqualValues(t, 30000, refund.Data.Kept[0].Cents)
}

func TestKeepAll(t *testing.T) {
	h := paidAndMovedOut(t)
	h.at(3*day, SignalCharge, deposit.Charge{ChargeID: 9, Category: deposit.CategoryDeduction, AmountCents: 10000, Description: "Cleaning"})
	h.update(5*day, UpdateKeep, KeepRequest{Actor: mgr, All: true, Reason: "Extensive water damage"}, "", func(s deposit.State) {
		require.EqualValues(t, 90000, s.KeptCents)
	})
	h.update(5*day+time.Hour, UpdateKeep, KeepRequest{Actor: mgr, All: true, Reason: "again"}, "nothing left to keep", nil)
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.OutcomeKept, s.Outcome)
	require.Zero(t, s.RefundCents)
	require.Empty(t, h.settlement().Payouts)
	require.Zero(t, h.settlement().BalanceOwedCents)
}

func TestKeepRefusals(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.update(2*time.Hour, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 100, Reason: "early"}, "no move-out yet", nil)
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	h.at(2*day+time.Hour, SignalCharge, deposit.Charge{ChargeID: 9, Category: deposit.CategoryArrears, AmountCents: 20000, Description: "Rent"})
	h.update(3*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 80001, Reason: "too much"}, "only $800.00 is held", nil)
	h.update(3*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 100}, "give a reason", nil)
	h.update(3*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 0, Reason: "zero"}, "more than zero", nil)
	h.update(3*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 5, All: true, Reason: "both"}, "not both", nil)
	s := h.run(LeaseInput{})
	require.Zero(t, s.KeptCents)
	require.EqualValues(t, 80000, s.RefundCents)
}

func TestReleaseNowDuringAssessment(t *testing.T) {
	h := paidAndMovedOut(t)
	h.update(2*day+time.Hour, UpdateRelease, ReleaseRequest{Actor: mgr}, "", nil)
	h.update(2*day+2*time.Hour, UpdateRelease, ReleaseRequest{Actor: mgr}, "", nil) // too late: the workflow has closed by then
	s := h.run(LeaseInput{})
	require.Equal(t, t0.Add(2*day+time.Hour), s.ClosedAt)
	require.Equal(t, deposit.OutcomeRefunded, s.Outcome)
	// The refund email carries the statement; no separate notice.
	require.Equal(t, []string{"request", "receipt", "refund"}, h.emailKinds())
	require.Empty(t, h.reminders)
}

func TestReleaseNowWhilePending(t *testing.T) {
	h := paidAndMovedOut(t)
	h.update(5*day, UpdateRelease, ReleaseRequest{Actor: mgr}, "", func(s deposit.State) {
		require.Equal(t, UpdateRelease, s.Decisions[0].Kind)
	})
	s := h.run(LeaseInput{})
	require.Equal(t, t0.Add(5*day), s.ClosedAt)
	require.Equal(t, []string{"request", "receipt", "notice", "refund"}, h.emailKinds())
}

func TestHoldWaitsForAManualRelease(t *testing.T) {
	h := paidAndMovedOut(t)
	h.update(3*time.Hour, UpdateHold, HoldRequest{Actor: mgr}, "", func(s deposit.State) { require.True(t, s.OnHold) })
	h.update(4*time.Hour, UpdateHold, HoldRequest{Actor: mgr}, "already on hold", nil)
	h.checkAt(release0.Sub(t0)+10*day, func(s deposit.State) {
		require.Equal(t, deposit.StageReleasePending, s.Stage)
	})
	h.update(release0.Sub(t0)+30*day, UpdateRelease, ReleaseRequest{Actor: mgr}, "", nil)
	s := h.run(LeaseInput{})
	require.Equal(t, release0.Add(30*day), s.ClosedAt)
	// No reminders before a release that will not happen by itself; one when its date has passed.
	require.Len(t, h.reminders, 1)
	require.Equal(t, "email/hold-reminder", h.reminders[0].Key[len("deposit-L1/"):])
	require.True(t, h.reminders[0].Managers, "with the links (release now) for each manager")
	require.Equal(t, release0, h.reminders[0].At)
	require.True(t, h.reminders[0].Data.OnHold)
}

func TestLiftingTheHoldAfterTheDateReleasesAtOnce(t *testing.T) {
	h := paidAndMovedOut(t)
	h.update(3*time.Hour, UpdateHold, HoldRequest{Actor: mgr}, "", nil)
	h.update(release0.Sub(t0)+2*day, UpdateHold, HoldRequest{Actor: mgr, Off: true}, "", nil)
	s := h.run(LeaseInput{})
	require.Equal(t, release0.Add(2*day), s.ClosedAt)
}

func TestKeepAboveTheThresholdNeedsApproval(t *testing.T) {
	h := paidAndMovedOut(t)
	h.threshold = 50000
	h.update(5*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 60000, Reason: "New carpet"}, "", func(s deposit.State) {
		require.Zero(t, s.KeptCents)
		require.EqualValues(t, 60000, s.PendingKeep.AmountCents)
		require.Equal(t, "maria", s.PendingKeep.RequestedBy)
	})
	h.update(5*day+time.Minute, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 100, Reason: "more"}, "awaits approval", nil)
	h.update(5*day+time.Minute, UpdateRelease, ReleaseRequest{Actor: mgr}, "awaits approval", nil)
	h.update(5*day+time.Minute, UpdateApprove, ApprovalRequest{Actor: Actor{Actor: "maria", Role: deposit.RoleBooksAdmin}}, "someone else must approve", nil)
	h.update(5*day+time.Minute, UpdateApprove, ApprovalRequest{Actor: Actor{Actor: "sam", Role: deposit.RoleManager}}, "only a books_admin", nil)
	// The release date passes while the keep is pending: the release waits for the decision.
	h.checkAt(release0.Sub(t0)+day, func(s deposit.State) {
		require.Equal(t, deposit.StageReleasePending, s.Stage)
		require.NotNil(t, s.PendingKeep)
	})
	h.update(release0.Sub(t0)+2*day, UpdateApprove, ApprovalRequest{Actor: books}, "", func(s deposit.State) {
		require.Nil(t, s.PendingKeep)
		require.EqualValues(t, 60000, s.KeptCents)
		require.Equal(t, "ben", s.Kept[0].ApprovedBy)
	})
	s := h.run(LeaseInput{})
	require.Equal(t, release0.Add(2*day), s.ClosedAt)
	require.EqualValues(t, 40000, s.RefundCents)
	require.Equal(t, []string{"keep_requested", UpdateApprove}, []string{s.Decisions[0].Kind, s.Decisions[1].Kind})
}

func TestKeepAtTheThresholdIsApplied(t *testing.T) {
	h := paidAndMovedOut(t)
	h.threshold = 50000
	h.update(5*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 50000, Reason: "Paint"}, "", func(s deposit.State) {
		require.Nil(t, s.PendingKeep)
		require.EqualValues(t, 50000, s.KeptCents)
	})
	s := h.run(LeaseInput{})
	require.EqualValues(t, 50000, s.RefundCents)
}

func TestDeclinedKeepIsNotKept(t *testing.T) {
	h := paidAndMovedOut(t)
	h.threshold = 50000
	h.update(5*day, UpdateKeep, KeepRequest{Actor: mgr, All: true, Reason: "Everything"}, "", nil)
	h.update(5*day+time.Hour, UpdateDecline, ApprovalRequest{Actor: Actor{Actor: "sam", Role: deposit.RoleManager}}, "only a books_admin", nil)
	h.update(5*day+time.Hour, UpdateDecline, ApprovalRequest{Actor: books, Reason: "No evidence"}, "", func(s deposit.State) {
		require.Nil(t, s.PendingKeep)
		require.Zero(t, s.KeptCents)
	})
	h.update(5*day+2*time.Hour, UpdateApprove, ApprovalRequest{Actor: books}, "nothing awaiting approval", nil)
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.OutcomeRefunded, s.Outcome)
	require.EqualValues(t, 100000, s.RefundCents)
}
