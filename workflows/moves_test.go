package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
)

// Facts a test writes as the server does before it signals their ID (#16).
type (
	transferOut struct {
		ID    int64  `json:"id"`
		Cents int64  `json:"-"`
		To    string `json:"-"`
	}
	transferIn struct {
		ID        int64  `json:"id"`
		PaymentID int64  `json:"-"`
		Cents     int64  `json:"-"`
		From      string `json:"-"`
	}
	partialRefund struct {
		ID    int64 `json:"id"`
		Cents int64 `json:"-"`
	}
)

func TestTransferOutBeforeSettlementReducesTheRefund(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(24*time.Hour, SignalTransfer, transferOut{ID: 3, Cents: 30000, To: "L2"})
	h.at(24*time.Hour+time.Minute, SignalTransfer, transferOut{ID: 3, Cents: 30000, To: "L2"}) // again: applied once
	h.checkAt(2*24*time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageHeld, s.Stage)
		require.EqualValues(t, 30000, s.EarlierRefundsCents)
		require.EqualValues(t, 70000, s.HeldCents)
		require.Len(t, s.EarlierRefunds, 1)
		require.Equal(t, "L2", s.EarlierRefunds[0].ToLease)
		require.True(t, s.MoneyMoves)
		requireConserved(t, s)
	})
	h.at(10*24*time.Hour, SignalMoveOut, moveOutDay(9))
	s := h.run(LeaseInput{})
	requireConserved(t, s)

	require.EqualValues(t, 70000, s.RefundCents)
	require.Equal(t, deposit.OutcomeRefunded, s.Outcome)
	st := h.settlement()
	require.EqualValues(t, 30000, st.EarlierRefundsCents)
	require.EqualValues(t, 100000, st.ReceivedCents)
	require.EqualValues(t, 70000, st.RefundCents)
	// Conservation: received = refunded + transferred + applied.
	require.EqualValues(t, 0, s.AppliedCents)
	require.Equal(t, []string{"request", "receipt", "notice", "refund"}, h.emailKinds())
	refund := h.emails[len(h.emails)-1]
	require.Len(t, refund.Data.EarlierRefunds, 1)
	require.Contains(t, refund.Data.EarlierRefunds[0].Description, "Transferred to lease L2")
}

func TestTransferInCoversTheTargetsDeposit(t *testing.T) {
	h := newHarness(t, 50000)
	h.at(time.Hour, SignalTransfer, transferIn{ID: 4, PaymentID: 9, Cents: 50000, From: "L0"})
	h.at(time.Hour+time.Minute, SignalTransfer, transferIn{ID: 4, PaymentID: 9, Cents: 50000, From: "L0"})
	h.checkAt(2*time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageHeld, s.Stage)
		require.EqualValues(t, 50000, s.ReceivedCents)
		require.Len(t, s.Payments, 1)
		require.Equal(t, "L0", s.Payments[0].TransferFrom)
	})
	h.at(5*24*time.Hour, SignalMoveOut, moveOutDay(4))
	s := h.run(LeaseInput{})
	requireConserved(t, s)

	require.EqualValues(t, 50000, s.RefundCents)
	// One receipt: the deposit became held by the transfer.
	require.Equal(t, []string{"request", "receipt", "notice", "refund"}, h.emailKinds())
	require.Equal(t, "Transfer from lease L0 on 2026-11-02", h.emails[1].Data.Payments[0].Description)
}

func TestTransferIntoAHeldDepositSendsItsOwnReceipt(t *testing.T) {
	h := newHarness(t, 50000)
	h.at(time.Hour, SignalPayment, pay(1, 50000))
	h.at(2*time.Hour, SignalTransfer, transferIn{ID: 4, PaymentID: 9, Cents: 20000, From: "L0"})
	h.at(5*24*time.Hour, SignalMoveOut, moveOutDay(4))
	s := h.run(LeaseInput{})
	requireConserved(t, s)
	require.EqualValues(t, 70000, s.RefundCents)
	require.Equal(t, []string{"request", "receipt", "receipt", "notice", "refund"}, h.emailKinds())
	require.Equal(t, "deposit-L1/email/receipt-transfer-4", h.emails[2].Key)
}

func TestPartialRefundBeforeSettlement(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(24*time.Hour, SignalPartialRefund, partialRefund{ID: 2, Cents: 25000})
	h.at(24*time.Hour+time.Minute, SignalPartialRefund, partialRefund{ID: 2, Cents: 25000})
	h.at(10*24*time.Hour, SignalMoveOut, moveOutDay(9))
	s := h.run(LeaseInput{})
	requireConserved(t, s)

	require.EqualValues(t, 75000, s.RefundCents)
	require.EqualValues(t, 25000, h.settlement().EarlierRefundsCents)
	require.Equal(t, []string{"request", "receipt", templates.KindPartialRefund, "notice", "refund"}, h.emailKinds())
	pr := h.emails[2]
	require.Equal(t, "deposit-L1/email/partial_refund-2", pr.Key)
	require.EqualValues(t, 25000, pr.Data.PartialRefund.Cents)
	require.EqualValues(t, 75000, pr.Data.PartialRefund.LeftCents)
}

func TestRefundThenSettlementWithNothingLeft(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(24*time.Hour, SignalPartialRefund, partialRefund{ID: 2, Cents: 100000})
	h.at(10*24*time.Hour, SignalMoveOut, moveOutDay(9))
	s := h.run(LeaseInput{})
	requireConserved(t, s)

	require.Zero(t, s.RefundCents)
	require.Zero(t, s.BalanceOwedCents)
	require.Equal(t, deposit.OutcomeRefunded, s.Outcome) // all of it went back, early
	require.Empty(t, s.Payouts)
	st := h.settlement()
	require.EqualValues(t, 100000, st.EarlierRefundsCents)
	require.Empty(t, st.Payouts)
	require.Zero(t, s.AppliedCents)
}

func TestAppliedInvoiceIsTakenFromTheDeposit(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(10*24*time.Hour, SignalMoveOut, moveOutDay(9))
	// At the settlement the manager applies the deposit to an open invoice:
	// an INVOICE arrears charge naming it, signalled by its ID.
	h.at(11*24*time.Hour, SignalCharge, activities.ChargeRow{Charge: deposit.Charge{ChargeID: 20, Code: "INVOICE", Category: deposit.CategoryArrears,
		AmountCents: 20000, Description: "Invoice INV-1: March rent"}, Approval: deposit.ApprovalNone, Origin: "user", CreatedBy: "maria"})
	s := h.run(LeaseInput{})
	requireConserved(t, s)

	require.EqualValues(t, 80000, s.RefundCents)
	require.EqualValues(t, 20000, h.settlement().ArrearsCents)
	notice := h.emails[2]
	require.Equal(t, "notice", notice.Kind)
	require.Equal(t, []templates.Line{{Description: "Invoice INV-1: March rent", Cents: 20000}}, notice.Data.Arrears)
}

// TestSeed002FigureInTheWorkflow drives seed 002's figures through the
// workflow: received 1,000.00; arrears 200.00; deductibles 150.00; a
// transfer of 60.00 and a partial refund of 40.00 gives 550.00.
func TestSeed002FigureInTheWorkflow(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(24*time.Hour, SignalTransfer, transferOut{ID: 3, Cents: 6000, To: "L2"})
	h.at(25*time.Hour, SignalPartialRefund, partialRefund{ID: 2, Cents: 4000})
	h.at(10*24*time.Hour, SignalMoveOut, moveOutDay(9))
	h.at(11*24*time.Hour, SignalCharge, deposit.Charge{ChargeID: 10, Code: "RENT", Category: deposit.CategoryArrears, AmountCents: 20000, Description: "Rent"})
	h.at(11*24*time.Hour+time.Minute, SignalCharge, deposit.Charge{ChargeID: 11, Code: "CLEANING", Category: deposit.CategoryDeduction, AmountCents: 15000, Description: "Cleaning"})
	s := h.run(LeaseInput{})
	requireConserved(t, s)
	require.EqualValues(t, 55000, s.RefundCents)
	st := h.settlement()
	require.Equal(t, [5]int64{100000, 20000, 15000, 10000, 55000}, [5]int64{st.ReceivedCents, st.ArrearsCents, st.DeductionsCents, st.EarlierRefundsCents, st.RefundCents})
}

// A lease started before the transfers version takes none: the signal is
// ignored (and shown), and the refund is the whole deposit.
func TestLeaseBeforeTransfersIgnoresThem(t *testing.T) {
	h := newHarness(t, 100000)
	h.env.OnGetVersion("transfers", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	// The server refuses them for such a lease; a signal sent anyway moves nothing.
	h.forge(24*time.Hour, SignalTransfer, MoveSignal{ID: 3})
	h.forge(25*time.Hour, SignalPartialRefund, MoveSignal{ID: 2})
	h.checkAt(2*24*time.Hour, func(s deposit.State) {
		require.False(t, s.MoneyMoves)
		require.Len(t, s.IgnoredSignals, 2)
		require.Contains(t, s.IgnoredSignals[0], "started before transfers")
	})
	h.at(10*24*time.Hour, SignalMoveOut, moveOutDay(9))
	s := h.run(LeaseInput{})
	requireConserved(t, s)
	require.EqualValues(t, 100000, s.RefundCents)
}

// Across a continue-as-new the lease still takes transfers and partial
// refunds, applies each once, and settles to the cent.
func TestMovesAcrossContinueAsNew(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*time.Hour, SignalTransfer, transferOut{ID: 3, Cents: 10000, To: "L2"})
	h.after(3*time.Hour, func() { h.env.SetContinueAsNewSuggested(true) })
	h.at(4*time.Hour, SignalTransfer, transferOut{ID: 3, Cents: 10000, To: "L2"}) // again, in the next run
	h.at(5*time.Hour, SignalPartialRefund, partialRefund{ID: 4, Cents: 5000})
	h.at(10*24*time.Hour, SignalMoveOut, moveOutDay(9))
	s := h.run(LeaseInput{})
	requireConserved(t, s)
	require.Equal(t, 2, h.runs)
	require.True(t, s.MoneyMoves)
	require.EqualValues(t, 85000, s.RefundCents)
	require.EqualValues(t, 15000, h.settlement().EarlierRefundsCents)
	require.Equal(t, []string{"request", "receipt", templates.KindPartialRefund, "notice", "refund"}, h.emailKinds())
}
