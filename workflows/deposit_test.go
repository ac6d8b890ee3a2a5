package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/rules"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const managerEmail = "manager@maple.example"

// harness runs DepositWorkflow in Temporal's test environment (time skipping)
// with the activities replaced by recorders over an in-memory database
// (fakedb_test.go): a test writes a fact there and signals its ID, as the
// server does, and the workflow reads it back.
type harness struct {
	t          *testing.T
	env        *testsuite.TestWorkflowEnvironment
	db         *fakeDB
	settles    []activities.SettleInput
	settleErrs []error                 // settlements refused by the books
	emails     []activities.EmailInput // to the tenant, as sent (addressed and filled from the database)
	reminders  []sentAt                // to the manager
	alerts     []sentAt                // to the manager, at the move-out
	// reminderDays is the property's reminder schedule (nil: the default).
	reminderDays []int
	stages       []string
	threshold    int64 // the property's approval threshold
	tenants      []activities.Tenant
	emailErr     error // every email fails with it
	unfinished   int   // updates sent that have neither completed nor been refused
	// The lease's law: the rule LoadLeaseLaw returns (default: no statute),
	// and the deadlines the workflow saved, newest last.
	law       activities.LeaseLaw
	deadlines []activities.DeadlinesInput
	// What happens when, for every run of a lease that continues as new.
	events []*event
	runs   int                          // runs of the workflow (more than one after a continue-as-new)
	paid   []activities.PayDisputeInput // disputed items settled, as PayDispute was called
	cards  *fakeCards                   // the card provider's calls (cardhold_test.go)
}

// event is something a test makes happen at a moment after the start.
type event struct {
	at    time.Time
	do    func()
	fired bool
}

type sentAt struct {
	activities.EmailInput
	At time.Time
}

func newHarness(t *testing.T, expected int64) *harness {
	h := &harness{t: t, db: newFakeDB("L1"), tenants: []activities.Tenant{{ResidentID: 5, Email: "ana@example.com", Name: "Ana", Share: 1}}}
	h.law = activities.LeaseLaw{Rule: ruleOf(rules.None), LeaseStart: t0, BuildingUnits: 1}
	h.newEnv(t0, expected)
	return h
}

// newEnv is a test environment starting at start, with every activity mocked.
func (h *harness) newEnv(start time.Time, expected int64) {
	var s testsuite.WorkflowTestSuite
	h.env = s.NewTestWorkflowEnvironment()
	// The 1,000-lease test keeps both cores busy: give a workflow task time.
	h.env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	h.env.SetStartTime(start)
	acts := &activities.Activities{}
	h.env.RegisterActivity(acts)
	t := h.t
	h.env.OnActivity(acts.ExpectDeposit, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ExpectDepositInput) (activities.Expectation, error) {
			amount := in.AmountCents
			if amount == 0 {
				amount = expected
			}
			h.db.change(func(b *activities.Books) {
				b.Facts.Tenants = h.tenants
				if len(b.Facts.Deposits) == 0 {
					b.Facts.Deposits = append(b.Facts.Deposits, activities.DepositRowFact{Source: "listing LST-1", Approval: deposit.ApprovalNone,
						DepositRow: deposit.DepositRow{DepositID: 1, Type: deposit.DepositCash, AmountCents: amount}})
				}
			})
			b := h.db.books()
			return activities.Expectation{ExpectedCents: amount, Source: "listing LST-1", DepositID: 1, TenantEmail: h.tenants[0].Email, TenantName: h.tenants[0].Name,
				Tenants: h.tenants, Currency: b.Currency, TimeZone: b.TimeZone}, nil
		})
	h.env.OnActivity(acts.ChargeDeposit, mock.Anything, mock.Anything).Return(int64(7), nil)
	h.env.OnActivity(acts.SaveLeaseStage, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.StageInput) error {
			// A lease starts awaiting payment; the emails mirror the stage again.
			if in.Stage != h.db.books().Stage {
				h.stages = append(h.stages, in.Stage)
			}
			h.db.saveStage(in)
			return nil
		})
	h.env.OnActivity(acts.SettleDeposit, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SettleInput) (activities.SettleResult, error) {
			res, err := h.db.settle(in, h.law)
			if err != nil {
				h.settleErrs = append(h.settleErrs, err)
				return res, err
			}
			h.settles = append(h.settles, in)
			return res, nil
		})
	h.env.OnActivity(acts.SendEmail, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EmailInput) (activities.EmailResult, error) {
			if h.emailErr != nil {
				return activities.EmailResult{}, h.emailErr
			}
			if in.LeaseID != "" { // named by its lease: built from the database
				var err error
				if in, err = h.db.books().Envelope(in); err != nil {
					return activities.EmailResult{}, err
				}
			}
			if in.To == managerEmail && in.MoveOutAlert {
				h.alerts = append(h.alerts, sentAt{in, h.env.Now().UTC()})
			} else if in.To == managerEmail {
				h.reminders = append(h.reminders, sentAt{in, h.env.Now().UTC()})
			} else {
				require.Equal(t, h.tenants[0].Email, in.To)
				h.emails = append(h.emails, in)
			}
			return activities.EmailResult{MessageID: in.Key}, nil
		})
	h.env.OnActivity(acts.GetPropertyPolicy, mock.Anything, mock.Anything).Return(
		func(context.Context, string) (activities.Policy, error) {
			return activities.Policy{ManagerEmail: managerEmail, ApprovalThresholdCents: h.threshold, ReminderDays: h.reminderDays}, nil
		})
	h.env.OnActivity(acts.LoadLeaseLaw, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.LeaseLawInput) (activities.LeaseLaw, error) {
			// The lease's currency and zone, as the database has them.
			l, b := h.law, h.db.books()
			l.Currency, l.TimeZone = b.Currency, b.TimeZone
			return l, nil
		})
	h.env.OnActivity(acts.SaveLeaseDeadlines, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DeadlinesInput) error {
			h.deadlines = append(h.deadlines, in)
			return nil
		})
	// The database's facts, decisions and keeps.
	h.env.OnActivity(acts.ReadPayment, mock.Anything, mock.Anything).Return(h.db.ReadPayment)
	h.env.OnActivity(acts.ReadReturnedPayment, mock.Anything, mock.Anything).Return(h.db.ReadReturnedPayment)
	h.env.OnActivity(acts.ReadCharge, mock.Anything, mock.Anything).Return(h.db.ReadCharge)
	h.env.OnActivity(acts.ReadDepositRow, mock.Anything, mock.Anything).Return(h.db.ReadDepositRow)
	h.env.OnActivity(acts.ReadMoveOut, mock.Anything, mock.Anything).Return(h.db.ReadMoveOut)
	h.env.OnActivity(acts.ReadForwardingAddress, mock.Anything, mock.Anything).Return(h.db.ReadForwardingAddress)
	h.env.OnActivity(acts.ReadLeaseFacts, mock.Anything, mock.Anything).Return(h.db.ReadLeaseFacts)
	h.env.OnActivity(acts.ReadTransfer, mock.Anything, mock.Anything).Return(h.db.ReadTransfer)
	h.env.OnActivity(acts.ReadPartialRefund, mock.Anything, mock.Anything).Return(h.db.ReadPartialRefund)
	h.env.OnActivity(acts.ClaimDecision, mock.Anything, mock.Anything).Return(h.db.ClaimDecision)
	h.env.OnActivity(acts.ReadApprovalPolicy, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.ApprovalPolicyInput) (activities.ApprovalPolicy, error) {
			h.db.threshold = h.threshold
			return h.db.ReadApprovalPolicy(ctx, in)
		})
	h.env.OnActivity(acts.RecordKeep, mock.Anything, mock.Anything).Return(h.db.RecordKeep)
	h.env.OnActivity(acts.DecideApproval, mock.Anything, mock.Anything).Return(h.db.DecideApproval)
	// The tenant's side (disputes_test.go).
	if h.cards != nil {
		h.mockCards()
	}
	h.env.OnActivity(acts.ReadDisputes, mock.Anything, mock.Anything).Return(h.db.ReadDisputes)
	h.env.OnActivity(acts.PayDispute, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.PayDisputeInput) (deposit.Dispute, error) {
			out, err := h.db.PayDispute(ctx, in)
			if err == nil {
				h.paid = append(h.paid, in)
			}
			return out, err
		})
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

// after runs do at a moment after the workflow's start (in whichever run
// of the lease is running then).
func (h *harness) after(d time.Duration, do func()) {
	e := &event{at: t0.Add(d), do: do}
	h.events = append(h.events, e)
	if h.runs == 0 {
		return // registered when the first run starts
	}
	h.env.RegisterDelayedCallback(func() { e.fired = true; e.do() }, e.at.Sub(h.env.Now()))
}

// at writes a fact into the database at a moment after the start and
// signals it, as the server does: the signal carries the fact (old senders
// did), of which the workflow uses only the ID.
func (h *harness) at(after time.Duration, name string, arg any) {
	h.after(after, func() {
		h.write(name, arg)
		h.env.SignalWorkflow(name, arg)
	})
}

// forge sends a signal without writing anything to the database first.
func (h *harness) forge(after time.Duration, name string, arg any) {
	h.after(after, func() { h.env.SignalWorkflow(name, arg) })
}

// write puts the fact a signal names into the database.
func (h *harness) write(name string, arg any) {
	now := h.env.Now().UTC()
	switch v := arg.(type) {
	case deposit.Payment:
		h.db.addPayment(v)
	case PaymentReturned:
		h.db.returnPayment(v)
	case deposit.Charge:
		h.db.addCharge(activities.ChargeRow{Charge: v, Approval: deposit.ApprovalNone, Origin: "user", CreatedBy: "maria", CreatedAt: now})
	case activities.ChargeRow:
		if v.CreatedAt.IsZero() {
			v.CreatedAt = now
		}
		h.db.addCharge(v)
	case deposit.DepositRow:
		h.db.addDeposit(activities.DepositRowFact{DepositRow: v, Source: "amendment", Approval: deposit.ApprovalNone, CreatedBy: "maria", CreatedAt: now})
	case activities.DepositRowFact:
		if v.CreatedAt.IsZero() {
			v.CreatedAt = now
		}
		v.Source = "amendment"
		h.db.addDeposit(v)
	case MoveOut:
		h.db.moveOut(v.At)
	case ForwardingAddress:
		h.db.forward(v.Address, v.At)
	case transferOut:
		row := activities.EarlierRefundRow{EarlierRefund: deposit.EarlierRefund{Kind: deposit.EarlierTransfer, ID: v.ID, AmountCents: v.Cents, ToLease: v.To, By: "maria", At: now}}
		h.db.addEarlier(row)
		h.db.mu.Lock()
		h.db.transfers[v.ID] = activities.TransferFact{Found: true, Out: true, Row: row, FromLease: "L1"}
		h.db.mu.Unlock()
	case transferIn:
		p := deposit.Payment{PaymentID: v.PaymentID, AmountCents: v.Cents, Reference: fmt.Sprintf("transfer-%d", v.ID), Date: now.Format(time.DateOnly), TransferFrom: v.From}
		h.db.addPayment(p)
		h.db.mu.Lock()
		h.db.transfers[v.ID] = activities.TransferFact{Found: true, FromLease: v.From, PaymentID: v.PaymentID,
			Row: activities.EarlierRefundRow{EarlierRefund: deposit.EarlierRefund{Kind: deposit.EarlierTransfer, ID: v.ID, AmountCents: v.Cents, ToLease: "L1", At: now}}}
		h.db.mu.Unlock()
	case partialRefund:
		row := activities.EarlierRefundRow{EarlierRefund: deposit.EarlierRefund{Kind: deposit.EarlierPartialRefund, ID: v.ID, AmountCents: v.Cents, By: "maria", At: now},
			Payouts: []deposit.Payout{{RefundID: 900 + v.ID, ResidentID: 5, Email: "ana@example.com", Name: "Ana", AmountCents: v.Cents}}}
		h.db.addEarlier(row)
	default:
		h.t.Fatalf("no database row for a %s signal of %T", name, arg)
	}
}

// checkAt queries the state at a moment and hands it to check.
func (h *harness) checkAt(after time.Duration, check func(deposit.State)) {
	h.after(after, func() {
		v, err := h.env.QueryWorkflow(QueryState)
		require.NoError(h.t, err)
		var s deposit.State
		require.NoError(h.t, v.Get(&s))
		check(s)
	})
}

// run runs the lease to its end, through every continue-as-new, and
// returns its final state.
func (h *harness) run(in LeaseInput) deposit.State {
	s, err := h.runLease(in)
	require.NoError(h.t, err)
	require.Zero(h.t, h.unfinished, "updates left unfinished")
	return s
}

func (h *harness) runLease(in LeaseInput) (deposit.State, error) {
	if in.LeaseID == "" {
		in.LeaseID = "L1"
	}
	if in.AssessForSeconds == 0 {
		in.AssessForSeconds = int64(deposit.DefaultAssessFor / time.Second)
	}
	if in.ReleaseAfterSeconds == 0 {
		in.ReleaseAfterSeconds = int64(deposit.DefaultReleaseAfter / time.Second)
	}
	start := t0
	for {
		h.runs++
		if h.runs > 1 {
			h.newEnv(start, 0)
		}
		for _, e := range h.events {
			if !e.fired && !e.at.Before(start) {
				h.env.RegisterDelayedCallback(func() { e.fired = true; e.do() }, e.at.Sub(start))
			}
		}
		h.env.ExecuteWorkflow(DepositWorkflow, in)
		require.True(h.t, h.env.IsWorkflowCompleted())
		err := h.env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			// The next run starts where this one stopped, with its memory.
			require.NoError(h.t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
			require.NotNil(h.t, in.Carried)
			start = h.env.Now()
			continue
		}
		if err != nil {
			return deposit.State{}, err
		}
		var s deposit.State
		require.NoError(h.t, h.env.GetWorkflowResult(&s))
		return s, nil
	}
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
	// Another date is refused by the database (the lease's move-out is
	// written once): the workflow reads the same date again.
	h.at(2*24*time.Hour+time.Hour, SignalMoveOut, moveOutDay(20))
	h.checkAt(2*24*time.Hour+2*time.Hour, func(s deposit.State) { require.Empty(t, s.LateEvents) })
	// A date changed in the database behind the workflow's back is
	// recorded, not applied: the first move-out started the clocks.
	h.after(2*24*time.Hour+3*time.Hour, func() {
		h.db.change(func(b *activities.Books) { b.Facts.MovedOutAt = moveOutDay(25).At })
	})
	h.forge(2*24*time.Hour+4*time.Hour, SignalMoveOut, MoveOut{})
	s := h.run(LeaseInput{})
	require.Equal(t, moveOutDay(1).At, s.MovedOutAt)
	require.Len(t, s.LateEvents, 1)
	require.Contains(t, s.LateEvents[0], "2026-11-28")
}

func TestRejectedEmailDoesNotStopTheMoney(t *testing.T) {
	h := newHarness(t, 1000)
	h.tenants = []activities.Tenant{{ResidentID: 5, Email: "bad@", Name: "Bad"}}
	h.emailErr = temporal.NewNonRetryableApplicationError("550 no such user", "EmailRejected", errors.New("550"))
	h.at(time.Hour, SignalPayment, pay(1, 1000))
	h.at(2*24*time.Hour, SignalMoveOut, moveOutDay(1))
	st := h.run(LeaseInput{AssessForSeconds: 3600, ReleaseAfterSeconds: 3600})
	require.Equal(t, deposit.OutcomeRefunded, st.Outcome)
	require.Len(t, st.EmailFailures, 5, "request, receipt, the manager's alert, notice, refund")
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
