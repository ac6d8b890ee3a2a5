package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/rules"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const managerEmail = "manager@maple.example"

// harness runs DepositWorkflow in Temporal's test environment (time skipping)
// with the activities replaced by recorders.
type harness struct {
	t          *testing.T
	env        *testsuite.TestWorkflowEnvironment
	settles    []activities.SettleInput
	emails     []activities.EmailInput // to the tenant
	reminders  []sentAt                // to the manager
	stages     []string
	threshold  int64 // the property's approval threshold
	tenants    []activities.Tenant
	unfinished int // updates sent that have neither completed nor been refused
	// The lease's law: the rule LoadLeaseLaw returns (default: no statute),
	// and the deadlines the workflow saved, newest last.
	law       activities.LeaseLaw
	deadlines []activities.DeadlinesInput
}

type sentAt struct {
	activities.EmailInput
	At time.Time
}

func newHarness(t *testing.T, expected int64) *harness {
	var s testsuite.WorkflowTestSuite
	h := &harness{t: t, env: s.NewTestWorkflowEnvironment(),
		tenants: []activities.Tenant{{ResidentID: 5, Email: "ana@example.com", Name: "Ana", Share: 1}}}
	h.env.SetStartTime(t0)
	acts := &activities.Activities{}
	h.env.RegisterActivity(acts)
	h.env.OnActivity(acts.ExpectDeposit, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ExpectDepositInput) (activities.Expectation, error) {
			amount := in.AmountCents
			if amount == 0 {
				amount = expected
			}
			return activities.Expectation{ExpectedCents: amount, Source: "listing LST-1", DepositID: 1, TenantEmail: "ana@example.com", TenantName: "Ana",
				Tenants: h.tenants}, nil
		})
	h.env.OnActivity(acts.ChargeDeposit, mock.Anything, mock.Anything).Return(int64(7), nil)
	h.env.OnActivity(acts.SaveLeaseStage, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.StageInput) error {
			h.stages = append(h.stages, in.Stage)
			return nil
		})
	h.env.OnActivity(acts.SettleDeposit, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SettleInput) (activities.SettleResult, error) {
			h.settles = append(h.settles, in)
			res := activities.SettleResult{SettlementID: 40}
			for i := range in.Payouts {
				res.RefundIDs = append(res.RefundIDs, int64(41+i))
			}
			if in.BalanceOwedCents > 0 {
				res.InvoiceID = 42
			}
			return res, nil
		})
	h.env.OnActivity(acts.SendEmail, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EmailInput) (activities.EmailResult, error) {
			if in.To == managerEmail {
				h.reminders = append(h.reminders, sentAt{in, h.env.Now().UTC()})
			} else {
				require.Equal(t, h.tenants[0].Email, in.To)
				h.emails = append(h.emails, in)
			}
			return activities.EmailResult{MessageID: in.Key}, nil
		})
	h.env.OnActivity(acts.GetPropertyPolicy, mock.Anything, mock.Anything).Return(
		func(context.Context, string) (activities.Policy, error) {
			return activities.Policy{ManagerEmail: managerEmail, ApprovalThresholdCents: h.threshold}, nil
		})
	h.law = activities.LeaseLaw{Rule: ruleOf(rules.None), LeaseStart: t0, BuildingUnits: 1}
	h.env.OnActivity(acts.LoadLeaseLaw, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.LeaseLawInput) (activities.LeaseLaw, error) { return h.law, nil })
	h.env.OnActivity(acts.SaveLeaseDeadlines, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DeadlinesInput) error {
			h.deadlines = append(h.deadlines, in)
			return nil
		})
	return h
}

// embeddedRules are the rules depositflow ships.
var embeddedRules = rules.NewBook(rules.Embedded()...)

// ruleOf is a jurisdiction's embedded rule in force at t0.
func ruleOf(code string) rules.Rule {
	r, err := embeddedRules.For(code, t0)
	if err != nil {
		panic(err)
	}
	return r
}

// mockNoStatute answers LoadLeaseLaw with no statute for tests that build
// their own environment.
func mockNoStatute(env *testsuite.TestWorkflowEnvironment, acts *activities.Activities) {
	env.OnActivity(acts.LoadLeaseLaw, mock.Anything, mock.Anything).Return(activities.LeaseLaw{Rule: ruleOf(rules.None)}, nil)
	env.OnActivity(acts.SaveLeaseDeadlines, mock.Anything, mock.Anything).Return(nil)
}

// at delivers a signal at a moment relative to the workflow's start.
func (h *harness) at(after time.Duration, name string, arg any) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(name, arg) }, after)
}

// checkAt queries the state at a moment and hands it to check.
func (h *harness) checkAt(after time.Duration, check func(deposit.State)) {
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(QueryState)
		require.NoError(h.t, err)
		var s deposit.State
		require.NoError(h.t, v.Get(&s))
		check(s)
	}, after)
}

func (h *harness) run(in LeaseInput) deposit.State {
	if in.LeaseID == "" {
		in.LeaseID = "L1"
	}
	if in.AssessForSeconds == 0 {
		in.AssessForSeconds = int64(deposit.DefaultAssessFor / time.Second)
	}
	if in.ReleaseAfterSeconds == 0 {
		in.ReleaseAfterSeconds = int64(deposit.DefaultReleaseAfter / time.Second)
	}
	h.env.ExecuteWorkflow(DepositWorkflow, in)
	require.True(h.t, h.env.IsWorkflowCompleted())
	require.NoError(h.t, h.env.GetWorkflowError())
	var s deposit.State
	require.NoError(h.t, h.env.GetWorkflowResult(&s))
	require.Zero(h.t, h.unfinished, "updates left unfinished")
	return s
}

// emailKinds lists the kinds of the emails the tenant got.
func (h *harness) settlement() activities.SettleInput {
	require.Len(h.t, h.settles, 1, "one settlement")
	return h.settles[0]
}

func (h *harness) emailKinds() []string {
	var kinds []string
	for _, e := range h.emails {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func pay(id, cents int64) deposit.Payment {
	return deposit.Payment{PaymentID: id, AmountCents: cents, Reference: "ref", Date: "2026-11-02"}
}

// moveOutDay is 00:00 UTC of the day after the start plus days.
func moveOutDay(days int) MoveOut {
	return MoveOut{At: time.Date(2026, 11, 3+days, 0, 0, 0, 0, time.UTC)}
}

func TestFullRefund(t *testing.T) {
	h := newHarness(t, 150000)
	h.at(time.Hour, SignalPayment, pay(1, 150000))
	h.checkAt(2*time.Hour, func(s deposit.State) { require.Equal(t, deposit.StageHeld, s.Stage) })
	h.at(30*24*time.Hour, SignalMoveOut, moveOutDay(29))
	s := h.run(LeaseInput{})

	require.Equal(t, deposit.StageClosed, s.Stage)
	require.Equal(t, deposit.OutcomeRefunded, s.Outcome)
	require.EqualValues(t, 150000, s.RefundCents)
	st := h.settlement()
	require.Equal(t, "deposit-L1/settlement", st.Key)
	require.EqualValues(t, 150000, st.ReceivedCents)
	require.EqualValues(t, 150000, st.RefundCents)
	require.Equal(t, []activities.PayoutPlan{{ResidentID: 5, Email: "ana@example.com", Name: "Ana", AmountCents: 150000}}, st.Payouts)
	require.EqualValues(t, 41, s.RefundID)
	require.Equal(t, []string{"request", "receipt", "notice", "refund"}, h.emailKinds())
	require.Equal(t, []string{deposit.StageHeld, deposit.StageAssessing, deposit.StageReleasePending, deposit.StageClosed}, h.stages)
	// The release date counts from 00:00 UTC of the move-out date.
	require.Equal(t, moveOutDay(29).At.Add(deposit.DefaultReleaseAfter), s.ReleaseAt)
	require.Equal(t, s.ReleaseAt, s.ClosedAt)
	require.Equal(t, moveOutDay(29).At.Add(deposit.DefaultAssessFor), s.AssessUntil)
}

func TestPartialDeductions(t *testing.T) {
	h := newHarness(t, 150000)
	h.at(time.Hour, SignalPayment, pay(1, 150000))
	h.at(10*24*time.Hour, SignalMoveOut, moveOutDay(9))
	// A final charge during the assessment window, and unpaid rent.
	h.at(11*24*time.Hour, SignalCharge, deposit.Charge{ChargeID: 10, Code: "CLEANING", Category: deposit.CategoryDeduction, AmountCents: 12000, Description: "Carpet cleaning"})
	h.at(11*24*time.Hour+time.Minute, SignalCharge, deposit.Charge{ChargeID: 11, Code: "RENT", Category: deposit.CategoryArrears, AmountCents: 20000, Description: "November rent"})
	h.checkAt(12*24*time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageAssessing, s.Stage)
		require.EqualValues(t, 12000, s.DeductionsCents)
		require.EqualValues(t, 20000, s.ArrearsCents)
	})
	s := h.run(LeaseInput{})

	require.Equal(t, deposit.OutcomePartiallyRefunded, s.Outcome)
	require.EqualValues(t, 150000-12000-20000, s.RefundCents)
	st := h.settlement()
	require.Equal(t, [4]int64{150000, 20000, 12000, 118000}, [4]int64{st.ReceivedCents, st.ArrearsCents, st.DeductionsCents, st.RefundCents})
	require.Equal(t, deposit.OutcomePartiallyRefunded, st.Outcome)
	// The notice lists every deduction and the release date.
	notice := h.emails[2]
	require.Equal(t, "notice", notice.Kind)
	require.Equal(t, "Carpet cleaning", notice.Data.Deductions[0].Description)
	require.Equal(t, "November rent", notice.Data.Arrears[0].Description)
	require.EqualValues(t, 118000, notice.Data.RefundCents)
	require.Equal(t, s.ReleaseAt, notice.Data.ReleaseAt)
}

func TestBalanceOwed(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*24*time.Hour, SignalMoveOut, moveOutDay(1))
	h.at(3*24*time.Hour, SignalCharge, deposit.Charge{ChargeID: 10, Code: "DAMAGE", Category: deposit.CategoryDeduction, AmountCents: 130000, Description: "Broken window"})
	s := h.run(LeaseInput{})

	require.Equal(t, deposit.OutcomeBalanceOwed, s.Outcome)
	require.EqualValues(t, 30000, s.BalanceOwedCents)
	require.Zero(t, s.RefundCents)
	st := h.settlement()
	require.Empty(t, st.Payouts)
	require.EqualValues(t, 30000, st.BalanceOwedCents)
	require.EqualValues(t, 5, st.InvoiceResidentID)
	require.Equal(t, []string{"request", "receipt", "notice", "balance_owed"}, h.emailKinds())
	require.EqualValues(t, 42, s.InvoiceID)
}

func TestPartialThenFullPayment(t *testing.T) {
	h := newHarness(t, 150000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.checkAt(2*time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageAwaitingPayment, s.Stage)
		require.EqualValues(t, 100000, s.ReceivedCents)
	})
	h.at(3*time.Hour, SignalPayment, pay(2, 50000))
	h.checkAt(4*time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageHeld, s.Stage)
		require.EqualValues(t, 150000, s.ReceivedCents)
		require.Len(t, s.Payments, 2)
	})
	h.at(5*24*time.Hour, SignalMoveOut, moveOutDay(4))
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.OutcomeRefunded, s.Outcome)
	require.EqualValues(t, 150000, s.RefundCents)
	// The receipt went out once, after the second payment, and lists both.
	require.Equal(t, []string{"request", "receipt", "notice", "refund"}, h.emailKinds())
	require.Len(t, h.emails[1].Data.Payments, 2)
}

func TestOverPaymentIsKeptAndRefunded(t *testing.T) {
	h := newHarness(t, 150000)
	h.at(time.Hour, SignalPayment, pay(1, 160000))
	h.at(2*24*time.Hour, SignalMoveOut, moveOutDay(1))
	h.at(3*24*time.Hour, SignalCharge, deposit.Charge{ChargeID: 10, Category: deposit.CategoryDeduction, AmountCents: 5000, Description: "Cleaning"})
	s := h.run(LeaseInput{})
	require.EqualValues(t, 160000, s.ReceivedCents)
	require.EqualValues(t, 155000, s.RefundCents)
	require.Equal(t, deposit.OutcomePartiallyRefunded, s.Outcome)
	require.EqualValues(t, 10000, h.emails[1].Data.OverpaidCents())
}

func TestMoveOutBeforePaymentInFull(t *testing.T) {
	h := newHarness(t, 150000)
	h.at(time.Hour, SignalPayment, pay(1, 50000))
	h.at(2*24*time.Hour, SignalMoveOut, moveOutDay(1))
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.OutcomeRefunded, s.Outcome)
	require.EqualValues(t, 50000, s.RefundCents)
	// Never held, so no receipt.
	require.Equal(t, []string{"request", "notice", "refund"}, h.emailKinds())
	require.NotContains(t, h.stages, deposit.StageHeld)
}

func TestNothingReceivedNothingOwed(t *testing.T) {
	h := newHarness(t, 150000)
	h.at(24*time.Hour, SignalMoveOut, moveOutDay(0))
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.OutcomeNothingDue, s.Outcome)
	require.Empty(t, h.settlement().Payouts)
	require.Zero(t, h.settlement().BalanceOwedCents)
	require.Equal(t, []string{"request", "notice"}, h.emailKinds())
}

func TestChargesUseUpTheDepositExactly(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*24*time.Hour, SignalMoveOut, moveOutDay(1))
	h.at(3*24*time.Hour, SignalCharge, deposit.Charge{ChargeID: 10, Category: deposit.CategoryDeduction, AmountCents: 100000, Description: "Damage"})
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.OutcomeKept, s.Outcome)
	require.Empty(t, h.settlement().Payouts)
	require.Zero(t, h.settlement().BalanceOwedCents)
	require.Equal(t, "refund", h.emailKinds()[3])
}

func TestGivenAmountOverridesListing(t *testing.T) {
	h := newHarness(t, 150000)
	h.at(time.Hour, SignalPayment, pay(1, 90000))
	h.checkAt(2*time.Hour, func(s deposit.State) {
		require.EqualValues(t, 90000, s.ExpectedCents)
		require.Equal(t, deposit.StageHeld, s.Stage)
	})
	h.at(2*24*time.Hour, SignalMoveOut, moveOutDay(1))
	s := h.run(LeaseInput{AmountCents: 90000})
	require.EqualValues(t, 90000, s.RefundCents)
}

func TestDuplicateSignalsApplyOnce(t *testing.T) {
	h := newHarness(t, 150000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*time.Hour, SignalPayment, pay(1, 100000)) // the same payment row, delivered again
	h.at(2*24*time.Hour, SignalMoveOut, moveOutDay(1))
	h.at(3*24*time.Hour, SignalCharge, deposit.Charge{ChargeID: 10, Category: deposit.CategoryDeduction, AmountCents: 1000, Description: "Keys"})
	h.at(3*24*time.Hour+time.Minute, SignalCharge, deposit.Charge{ChargeID: 10, Category: deposit.CategoryDeduction, AmountCents: 1000, Description: "Keys"})
	s := h.run(LeaseInput{})
	require.EqualValues(t, 100000, s.ReceivedCents)
	require.EqualValues(t, 1000, s.DeductionsCents)
	require.EqualValues(t, 99000, s.RefundCents)
}

func TestLateMoveOutRecordingReleasesAfterTheWindow(t *testing.T) {
	// The move-out is recorded 30 days after it happened: the 14-day release
	// date has passed, and the 3-day window too, so the deposit settles at once.
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(40*24*time.Hour, SignalMoveOut, MoveOut{At: t0.Add(10 * 24 * time.Hour)})
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.OutcomeRefunded, s.Outcome)
	require.Equal(t, t0.Add(40*24*time.Hour), s.ClosedAt)
	require.Equal(t, s.ClosedAt, s.ReleaseAt)
}

func TestReleaseDateInsideTheWindowMovesToItsEnd(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*24*time.Hour, SignalMoveOut, moveOutDay(1))
	s := h.run(LeaseInput{AssessForSeconds: 5 * 24 * 3600, ReleaseAfterSeconds: 2 * 24 * 3600})
	require.Equal(t, moveOutDay(1).At.Add(5*24*time.Hour), s.ReleaseAt)
	require.Equal(t, s.ReleaseAt, s.ClosedAt)
}

func TestSecondMoveOutDoesNotMoveTheClocks(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*24*time.Hour, SignalMoveOut, moveOutDay(1))
	h.at(2*24*time.Hour+time.Hour, SignalMoveOut, moveOutDay(20))
	s := h.run(LeaseInput{})
	require.Equal(t, moveOutDay(1).At, s.MovedOutAt)
	require.Len(t, s.LateEvents, 1)
}

func TestRejectedEmailDoesNotStopTheMoney(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	acts := &activities.Activities{}
	env.RegisterActivity(acts)
	env.OnActivity(acts.ExpectDeposit, mock.Anything, mock.Anything).Return(activities.Expectation{ExpectedCents: 1000, TenantEmail: "bad@"}, nil)
	env.OnActivity(acts.ChargeDeposit, mock.Anything, mock.Anything).Return(int64(1), nil)
	env.OnActivity(acts.SaveLeaseStage, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(acts.GetPropertyPolicy, mock.Anything, mock.Anything).Return(activities.Policy{}, nil)
	env.OnActivity(acts.SettleDeposit, mock.Anything, mock.Anything).Return(activities.SettleResult{SettlementID: 1, RefundIDs: []int64{1}}, nil)
	mockNoStatute(env, acts)
	env.OnActivity(acts.SendEmail, mock.Anything, mock.Anything).Return(activities.EmailResult{},
		temporal.NewNonRetryableApplicationError("550 no such user", "EmailRejected", errors.New("550")))
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPayment, pay(1, 1000)) }, time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalMoveOut, moveOutDay(1)) }, 2*24*time.Hour)
	env.ExecuteWorkflow(DepositWorkflow, LeaseInput{LeaseID: "L1", AssessForSeconds: 3600, ReleaseAfterSeconds: 3600})
	require.NoError(t, env.GetWorkflowError())
	var st deposit.State
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, deposit.OutcomeRefunded, st.Outcome)
	require.Len(t, st.EmailFailures, 4)
	require.Empty(t, st.EmailsSent)
}

func TestMissingLeaseFailsTheWorkflow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	acts := &activities.Activities{}
	env.RegisterActivity(acts)
	env.OnActivity(acts.ExpectDeposit, mock.Anything, mock.Anything).Return(activities.Expectation{},
		temporal.NewNonRetryableApplicationError("lease L1 is not in the database", activities.ErrBadData, nil))
	env.ExecuteWorkflow(DepositWorkflow, LeaseInput{LeaseID: "L1", AssessForSeconds: 3600, ReleaseAfterSeconds: 3600})
	require.ErrorContains(t, env.GetWorkflowError(), "not in the database")
}
