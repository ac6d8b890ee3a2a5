package deposit

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFoldingFacts(t *testing.T) {
	var s State
	s.AddDepositRow(DepositRow{DepositID: 1, Type: DepositCash, AmountCents: 100000})
	s.AddDepositRow(DepositRow{DepositID: 2, Type: DepositPrepaid, AmountCents: 20000})
	s.AddDepositRow(DepositRow{DepositID: 3, Type: DepositGuarantee, AmountCents: 500000, Guarantor: "Bank"})
	s.AddDepositRow(DepositRow{DepositID: 4, Type: DepositCash, PayeeEmail: "pat@example.com", PayeeName: "Pat"})
	s.AddPayment(Payment{PaymentID: 1, AmountCents: 60000})
	s.AddPayment(Payment{PaymentID: 2, AmountCents: 40000})
	require.True(t, s.ReturnPayment(2, "nsf"))
	require.False(t, s.ReturnPayment(2, "nsf"), "returned once")
	require.False(t, s.ReturnPayment(9, "nsf"), "no such payment")
	s.AddCharge(Charge{ChargeID: 5, Category: CategoryArrears, AmountCents: 2500})
	s.AddCharge(Charge{ChargeID: 6, Category: CategoryDeduction, AmountCents: 1000})
	s.AddCharge(Charge{ChargeID: 7, Category: CategoryCredit, AmountCents: 300})
	s.AddKeep(Keep{AmountCents: 700})
	require.Equal(t, Terms{ReceivedCents: 80000, CreditsCents: 300, ArrearsCents: 2500, DeductionsCents: 1000, KeptCents: 700}, s.Terms())
	require.EqualValues(t, 100000, s.ExpectedCents)
	require.EqualValues(t, 60000, s.PaidCents)
	require.EqualValues(t, 80300, s.HeldCents)
	require.Equal(t, "pat@example.com", s.PayeeEmail)
	require.Equal(t, []string{"Bank"}, s.Guarantors)

	s.ClearFacts()
	require.Equal(t, Terms{}, s.Terms())
	require.Empty(t, s.Payments)
	require.Empty(t, s.PayeeEmail)
}

func TestPendingItems(t *testing.T) {
	var s State
	require.False(t, s.AwaitsApproval())
	s.AddPending(Pending{Item: ItemID(PendingCharge, 34), Kind: PendingCharge, ID: 34, Charge: &Charge{ChargeID: 34}})
	require.Nil(t, s.PendingKeep)
	s.AddPending(Pending{Item: ItemID(PendingKeep, 12), Kind: PendingKeep, ID: 12, Keep: &Keep{KeepID: 12, AmountCents: 100}})
	require.Equal(t, "keep:12", s.Pending[1].Item)
	require.EqualValues(t, 12, s.PendingKeep.KeepID, "a pending keep shows as PendingKeep too")
	require.True(t, s.AwaitsApproval())
	require.NotNil(t, s.FindPending("charge:34"))
	s.RemovePending("keep:12")
	require.Nil(t, s.PendingKeep)
	s.RemovePending("charge:34")
	require.False(t, s.AwaitsApproval())
	require.Equal(t, []string{"manager", "books_admin"}, ParseRoles(" manager, books_admin,"))
	require.True(t, HasRole(ParseRoles("manager,books_admin"), RoleBooksAdmin))
	require.True(t, Counts(ApprovalNone) && Counts(ApprovalApproved) && !Counts(ApprovalPending) && !Counts(ApprovalDeclined))
}
