package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/rules"
	"github.com/depositflow/depositflow/templates"
)

// The database is the book of record (issue #15): what a signal or an
// Update says is not believed; the rows and the audit log are.

// A signal naming a fact the database does not hold moves no money and is
// listed; one naming a real fact applies the row, whatever it claims.
func TestForgedSignalsMoveNoMoney(t *testing.T) {
	h := paidAndMovedOut(t)
	h.at(3*day, SignalCharge, deposit.Charge{ChargeID: 10, Category: deposit.CategoryDeduction, AmountCents: 1000, Description: "Keys"})
	// The million-dollar credit of issue #15, and a payee that is not in the database.
	h.forge(4*day, SignalCharge, deposit.Charge{ChargeID: 9, Category: deposit.CategoryCredit, AmountCents: 100000000})
	h.forge(4*day, SignalAmend, deposit.DepositRow{DepositID: 77, Type: deposit.DepositCash, PayeeEmail: "thief@example.com"})
	h.forge(4*day, SignalPayment, pay(55, 500000))
	h.forge(4*day, SignalPaymentReturned, PaymentReturned{PaymentID: 1, Reason: "nsf"}) // not returned in the database
	// A real charge signalled with a forged amount: the row's amount counts.
	h.forge(4*day+time.Hour, SignalCharge, deposit.Charge{ChargeID: 10, Category: deposit.CategoryCredit, AmountCents: 99999999})
	h.checkAt(5*day, func(s deposit.State) {
		require.ElementsMatch(t, []string{
			"charge 9, which lease L1 does not have",
			"deposit amendment 77, which lease L1 does not have",
			"payment 55, which lease L1 does not have",
			"return of payment 1 (not returned in the database), which lease L1 does not have",
		}, s.IgnoredSignals)
	})
	s := h.run(LeaseInput{})
	require.Zero(t, s.CreditsCents)
	require.EqualValues(t, 1000, s.DeductionsCents)
	require.Empty(t, s.PayeeEmail)
	require.EqualValues(t, 99000, s.RefundCents)
	require.Equal(t, []activities.PayoutPlan{{ResidentID: 5, Email: "ana@example.com", Name: "Ana", AmountCents: 99000}}, h.settlement().Payouts)
	require.Len(t, s.IgnoredSignals, 4)
}

// A forged move-out (the lease has none in the database) starts nothing.
func TestForgedMoveOutIsIgnored(t *testing.T) {
	h := newHarness(t, 100000)
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.forge(2*day, SignalMoveOut, moveOutDay(1))
	h.forge(2*day, SignalForwarding, ForwardingAddress{Address: "nowhere", At: t0})
	h.checkAt(3*day, func(s deposit.State) {
		require.Equal(t, deposit.StageHeld, s.Stage)
		require.True(t, s.MovedOutAt.IsZero())
		require.Empty(t, s.ForwardingAddress)
		require.Len(t, s.IgnoredSignals, 2)
	})
	h.at(10*day, SignalMoveOut, moveOutDay(9))
	s := h.run(LeaseInput{})
	require.Equal(t, moveOutDay(9).At, s.MovedOutAt)
}

func pendingCharge(id, cents int64, desc, by string) activities.ChargeRow {
	return activities.ChargeRow{Charge: deposit.Charge{ChargeID: id, Code: "DAMAGE", Category: deposit.CategoryDeduction, AmountCents: cents, Description: desc},
		Approval: deposit.ApprovalPending, Origin: "user", CreatedBy: by}
}

// A charge and a payee change written pending wait for a books_admin; the
// release waits for them; the approved charge counts, the declined payee not.
func TestPendingChargeAndAmendmentWaitForApproval(t *testing.T) {
	h := paidAndMovedOut(t)
	h.at(3*day, SignalCharge, pendingCharge(20, 60000, "New carpet", "maria"))
	h.at(3*day, SignalAmend, activities.DepositRowFact{DepositRow: deposit.DepositRow{DepositID: 30, Type: deposit.DepositCash, PayeeEmail: "pat@example.com", PayeeName: "Pat"},
		Approval: deposit.ApprovalPending, CreatedBy: "maria"})
	h.checkAt(4*day, func(s deposit.State) {
		require.Zero(t, s.DeductionsCents, "a pending charge does not count")
		require.Empty(t, s.PayeeEmail)
		require.Equal(t, []string{"charge:20", "deposit:30"}, []string{s.Pending[0].Item, s.Pending[1].Item})
		require.Equal(t, "maria", s.Pending[0].RequestedBy)
	})
	h.update(5*day, UpdateRelease, ReleaseRequest{Actor: mgr}, "charge:20, deposit:30 awaits approval", nil)
	h.update(5*day, UpdateApprove, ApprovalRequest{Actor: books}, "2 items await approval: name one of charge:20, deposit:30", nil)
	h.update(5*day, UpdateApprove, ApprovalRequest{Actor: books, Item: "charge:99"}, "charge:99 does not await approval", nil)
	// The release date passes: the lease waits for the decisions.
	h.checkAt(release0.Sub(t0)+day, func(s deposit.State) {
		require.Equal(t, deposit.StageReleasePending, s.Stage)
		require.Len(t, s.Pending, 2)
	})
	h.update(release0.Sub(t0)+2*day, UpdateApprove, ApprovalRequest{Actor: books, Item: "charge:20"}, "", func(s deposit.State) {
		require.EqualValues(t, 60000, s.DeductionsCents)
		require.Len(t, s.Pending, 1)
	})
	h.update(release0.Sub(t0)+2*day+time.Hour, UpdateDecline, ApprovalRequest{Actor: books, Item: "deposit:30", Reason: "not signed by the tenant"}, "", nil)
	s := h.run(LeaseInput{})
	require.Equal(t, release0.Add(2*day+time.Hour), s.ClosedAt)
	require.EqualValues(t, 40000, s.RefundCents)
	require.Equal(t, "ana@example.com", h.settlement().Payouts[0].Email, "the declined payee gets nothing")
	b := h.db.books()
	require.Equal(t, deposit.ApprovalApproved, b.Facts.Charges[0].Approval)
	require.Equal(t, "ben", b.Facts.Charges[0].DecidedBy)
	require.Equal(t, deposit.ApprovalDeclined, b.Facts.Deposits[1].Approval)
	require.Contains(t, h.decisions(s, UpdateDecline)[0].Detail, "not signed by the tenant")
	// Each decision emailed the managers on its own.
	var approvals []string
	for _, r := range h.reminders {
		if r.Kind == "approval" {
			require.True(t, r.Managers)
			approvals = append(approvals, r.Approval.Decision+" "+r.Approval.Item+" by "+r.Approval.By+" for "+r.Approval.RequestedBy+": "+r.Approval.Reason)
		}
	}
	require.Equal(t, []string{"approved charge:20 by ben for maria: ", "declined deposit:30 by ben for maria: not signed by the tenant"}, approvals)
}

// Separation of duties: whoever asked cannot approve, whatever roles they
// hold; and the roles are the database's, not the payload's.
func TestRequesterCannotApproveTheirOwnItem(t *testing.T) {
	h := paidAndMovedOut(t)
	h.threshold = 50000
	both := Actor{Actor: "maria", Role: "manager,books_admin"}
	h.update(5*day, UpdateKeep, KeepRequest{Actor: both, AmountCents: 60000, Reason: "New carpet"}, "", func(s deposit.State) {
		require.Equal(t, "keep:1002", s.Pending[0].Item) // audit row 1001, keep 1002
		require.EqualValues(t, 60000, s.PendingKeep.AmountCents)
	})
	h.update(5*day+time.Hour, UpdateApprove, ApprovalRequest{Actor: both}, "you asked for keep:1002: someone else must approve it", nil)
	// The payload says ben, the audit row says maria: the row wins.
	h.updateWith(5*day+2*time.Hour, UpdateApprove, ApprovalRequest{Actor: books}, func(r *auditRow) bool {
		r.actor, r.roles = "maria", []string{"manager", "books_admin"}
		return true
	}, "you asked for keep:1002", nil)
	// The payload claims books_admin; the row says manager.
	h.updateWith(5*day+3*time.Hour, UpdateApprove, ApprovalRequest{Actor: Actor{Actor: "sam", Role: "books_admin"}}, func(r *auditRow) bool {
		r.roles = []string{"manager"}
		return true
	}, "only a books_admin may approve", nil)
	h.update(6*day, UpdateApprove, ApprovalRequest{Actor: books}, "", func(s deposit.State) {
		require.EqualValues(t, 60000, s.KeptCents)
		require.Equal(t, "ben", s.Kept[0].ApprovedBy)
		require.Nil(t, s.PendingKeep)
	})
	s := h.run(LeaseInput{})
	require.EqualValues(t, 40000, s.RefundCents)
	require.Equal(t, "applied", h.db.books().Facts.Keeps[0].Status)
}

// The threshold applies to the lease's total moved after the move-out, not
// to each keep: three keeps of 200.00 under 500.00 leave the third pending.
func TestThresholdAppliesToTheTotalNotToEachKeep(t *testing.T) {
	h := paidAndMovedOut(t)
	h.threshold = 50000
	for i, reason := range []string{"Paint", "Blinds", "Door"} {
		h.update(5*day+time.Duration(i)*time.Hour, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 20000, Reason: reason}, "", nil)
	}
	h.checkAt(6*day, func(s deposit.State) {
		require.EqualValues(t, 40000, s.KeptCents)
		require.Len(t, s.Pending, 1)
		require.Equal(t, "Door", s.Pending[0].Reason)
		require.Contains(t, s.Decisions[2].Detail, "above the threshold $500.00")
	})
	h.update(7*day, UpdateDecline, ApprovalRequest{Actor: mgr, Reason: "withdrawn"}, "", nil) // who asked may decline
	s := h.run(LeaseInput{})
	require.EqualValues(t, 60000, s.RefundCents)
	var statuses []string
	for _, k := range h.db.books().Facts.Keeps {
		statuses = append(statuses, k.Status)
	}
	require.Equal(t, []string{"applied", "applied", "declined"}, statuses)
}

// An Update the audit log does not prove changes nothing.
func TestForgedUpdatesChangeNothing(t *testing.T) {
	h := paidAndMovedOut(t)
	noRow := func(*auditRow) bool { return false }
	// No request_id at all: refused by the validator.
	h.after(5*day, func() {
		h.rawUpdate(UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 100, Reason: "x"}, "no request_id")
	})
	h.updateWith(5*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 100000, Reason: "All of it"}, noRow, "is not a recorded request of lease L1 for keep", nil)
	h.updateWith(5*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 100000, Reason: "All of it"}, func(r *auditRow) bool {
		r.content = []byte(`{"amount_cents":100,"reason":"All of it"}`) // the server recorded 1.00
		return true
	}, "is not what was recorded", nil)
	h.updateWith(5*day, UpdateExtend, ExtendRequest{Actor: mgr, Days: 7}, func(r *auditRow) bool { r.leaseID = "L2"; return true },
		"not a recorded request of lease L1", nil)
	h.updateWith(5*day, UpdateRelease, ReleaseRequest{Actor: mgr}, func(r *auditRow) bool { r.decided = true; return true }, "already decided", nil)
	// A viewer (as the database says) may not release.
	h.updateWith(5*day, UpdateRelease, ReleaseRequest{Actor: mgr}, func(r *auditRow) bool { r.roles = []string{"viewer"}; return true },
		"it takes the role manager", nil)
	// The same request twice: the second is refused.
	var reused KeepRequest
	h.after(6*day, func() {
		reused = h.recorded(UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 100, Reason: "Key"}, nil).(KeepRequest)
		h.rawUpdate(UpdateKeep, reused, "")
	})
	h.after(6*day+time.Hour, func() { h.rawUpdate(UpdateKeep, reused, "was already used on lease L1") })
	s := h.run(LeaseInput{})
	require.EqualValues(t, 100, s.KeptCents)
	require.EqualValues(t, 99900, s.RefundCents)
	require.Len(t, s.Decisions, 1)
}

// When the books disagree nothing is paid: the lease stops, alerts the
// manager and waits; an admin's recheck settles it once the database is
// right.
func TestBooksDisagreeStopsTheLeaseUntilRecheck(t *testing.T) {
	h := paidAndMovedOut(t)
	h.at(3*day, SignalCharge, deposit.Charge{ChargeID: 10, Code: "CLEANING", Category: deposit.CategoryDeduction, AmountCents: 12000, Description: "Cleaning"})
	// Someone lowers the charge in the database behind the workflow's back.
	h.after(5*day, func() {
		h.db.change(func(b *activities.Books) { b.Facts.Charges[0].AmountCents = 2000 })
	})
	h.checkAt(release0.Sub(t0)+time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageBooksDisagree, s.Stage)
		require.Contains(t, s.BooksDisagree, "deductions: workflow 12000, database 2000")
		require.Contains(t, s.BooksDisagree, "refund: workflow 88000, database 98000")
		require.Contains(t, (&flow{state: s}).plainDetails(), "nothing was paid")
		require.Empty(t, h.settles)
		require.Equal(t, deposit.StageBooksDisagree, h.db.books().Stage, "mirrored into the lease's row")
		require.Equal(t, s.BooksDisagree, h.db.books().View.BooksDisagree)
	})
	h.update(release0.Sub(t0)+2*time.Hour, UpdateRecheckBooks, RecheckRequest{Actor: mgr}, "it takes the role admin", nil)
	h.update(release0.Sub(t0)+2*time.Hour, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 100, Reason: "x"}, "the books of lease L1 disagree", nil)
	// The operator puts the row back and rechecks.
	h.after(release0.Sub(t0)+day, func() {
		h.db.change(func(b *activities.Books) { b.Facts.Charges[0].AmountCents = 12000 })
	})
	admin := Actor{Actor: "ada", Role: deposit.RoleAdmin}
	h.update(release0.Sub(t0)+day+time.Hour, UpdateRecheckBooks, RecheckRequest{Actor: admin}, "", nil)
	s := h.run(LeaseInput{})
	require.Equal(t, deposit.StageClosed, s.Stage)
	require.Equal(t, release0.Add(day+time.Hour), s.ClosedAt)
	require.EqualValues(t, 88000, s.RefundCents)
	require.Empty(t, s.BooksDisagree)
	require.Len(t, h.settleErrs, 1)
	require.Equal(t, []string{deposit.StageHeld, deposit.StageAssessing, deposit.StageReleasePending, deposit.StageBooksDisagree, deposit.StageClosed}, h.stages)
	// The manager was alerted once, with the reason.
	var alerts []sentAt
	for _, r := range h.reminders {
		if r.Kind == templates.KindBooksDisagree {
			alerts = append(alerts, r)
		}
	}
	require.Len(t, alerts, 1)
	require.Contains(t, alerts[0].Data.BooksDisagree, "deductions: workflow 12000, database 2000")
	require.Equal(t, "deposit-L1/email/books-disagree", alerts[0].Key)
	require.Equal(t, UpdateRecheckBooks, s.Decisions[0].Kind)
	require.Equal(t, "ada", s.Decisions[0].Actor)
}

// A fact the workflow never heard of (its signal was lost): the books
// disagree, and a recheck with rebuild re-reads every fact and settles.
func TestRecheckWithRebuildSettlesFromTheDatabase(t *testing.T) {
	h := paidAndMovedOut(t)
	h.after(3*day, func() { // written, never signalled
		h.write(SignalCharge, deposit.Charge{ChargeID: 10, Code: "DAMAGE", Category: deposit.CategoryDeduction, AmountCents: 30000, Description: "Door"})
	})
	h.checkAt(release0.Sub(t0)+time.Hour, func(s deposit.State) {
		require.Equal(t, deposit.StageBooksDisagree, s.Stage)
		require.Contains(t, s.BooksDisagree, "deductions: workflow 0, database 30000")
	})
	h.update(release0.Sub(t0)+2*time.Hour, UpdateRecheckBooks, RecheckRequest{Actor: Actor{Actor: "ada", Role: "admin"}, Rebuild: true}, "", nil)
	s := h.run(LeaseInput{})
	require.Equal(t, release0.Add(2*time.Hour), s.ClosedAt)
	require.EqualValues(t, 30000, s.DeductionsCents)
	require.EqualValues(t, 70000, s.RefundCents)
	require.Equal(t, "Door", s.Charges[0].Description)
	requireConserved(t, s)
}

// A lease that continues as new mid-life (in the payment loop and in the
// release wait) settles to the cent, with every email sent once.
func TestContinueAsNewSettlesToTheCent(t *testing.T) {
	h := newHarness(t, 150000)
	h.threshold = 100000
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.after(2*time.Hour, func() { h.env.SetContinueAsNewSuggested(true) }) // in the payment loop
	h.at(3*time.Hour, SignalPayment, pay(2, 50000))
	h.at(10*day, SignalMoveOut, moveOutDay(9))
	h.at(11*day, SignalCharge, deposit.Charge{ChargeID: 10, Code: "CLEANING", Category: deposit.CategoryDeduction, AmountCents: 12345, Description: "Cleaning"})
	h.update(12*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 1111, Reason: "Scuffs"}, "", nil)
	h.update(12*day+time.Hour, UpdateExtend, ExtendRequest{Actor: mgr, Days: 3}, "", nil)
	h.after(15*day, func() { h.env.SetContinueAsNewSuggested(true) }) // in the release wait
	h.update(16*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 2222, Reason: "Blinds"}, "", nil)
	s := h.run(LeaseInput{})
	require.Equal(t, 3, h.runs, "two continue-as-new")
	require.Equal(t, deposit.OutcomePartiallyRefunded, s.Outcome)
	require.EqualValues(t, 150000-12345-1111-2222, s.RefundCents)
	require.EqualValues(t, 150000-12345-1111-2222, h.settlement().RefundCents)
	require.Equal(t, moveOutDay(9).At.Add(deposit.DefaultReleaseAfter+3*day), s.ClosedAt)
	require.Equal(t, []string{"request", "receipt", "notice", "refund"}, h.emailKinds(), "every email once")
	require.Len(t, h.reminders, 3, "10, 5 and 1 days before the release")
	require.Len(t, h.alerts, 1, "one alert at the move-out, across the runs")
	require.Len(t, s.Decisions, 3)
	requireConserved(t, s)
}

// Near the refund deadline the statute releases the deposit itself: what
// nobody approved lapses, in the database first.
func TestStatuteLapsesPendingItems(t *testing.T) {
	h := newHarness(t, 100000)
	h.law.Rule = ruleOf("US-CA")
	h.threshold = 10000
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*day, SignalMoveOut, moveOutDay(1))
	h.at(3*day, SignalCharge, pendingCharge(20, 25000, "Repainting", "maria"))
	h.update(5*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 50000, Reason: "Carpet"}, "", nil)
	s := h.run(LeaseInput{Jurisdiction: "US-CA"})
	due := moveOutDay(1).At.AddDate(0, 0, 21)
	require.Equal(t, due.Add(-rules.SafetyMargin), s.ClosedAt)
	require.EqualValues(t, 100000, s.RefundCents, "nothing pending is applied")
	require.Empty(t, s.Pending)
	require.Nil(t, s.PendingKeep)
	statute := h.decisions(s, "statute")
	require.Len(t, statute, 1)
	require.Contains(t, statute[0].Detail, "charge:20")
	require.Contains(t, statute[0].Detail, "keep:1002")
	b := h.db.books()
	require.Equal(t, deposit.ApprovalDeclined, b.Facts.Charges[0].Approval)
	require.Equal(t, deposit.Statute, b.Facts.Charges[0].DecidedBy)
	require.Equal(t, "lapsed", b.Facts.Keeps[0].Status)
}

// What the lease mirrors into its row is what its emails show.
func TestTheMirrorFollowsExtendAndHold(t *testing.T) {
	h := paidAndMovedOut(t)
	h.update(5*day, UpdateExtend, ExtendRequest{Actor: mgr, Days: 7}, "", func(deposit.State) {})
	h.checkAt(5*day+time.Minute, func(s deposit.State) {
		require.Equal(t, release0.Add(7*day), h.db.books().ReleaseAt, "leases.release_at follows an extend")
	})
	h.update(6*day, UpdateHold, HoldRequest{Actor: mgr}, "", nil)
	h.checkAt(6*day+time.Minute, func(s deposit.State) { require.True(t, h.db.books().View.OnHold) })
	h.update(7*day, UpdateRelease, ReleaseRequest{Actor: mgr}, "", nil)
	s := h.run(LeaseInput{})
	require.Equal(t, t0.Add(7*day), s.ClosedAt)
	require.Equal(t, deposit.StageClosed, h.db.books().Stage)
	require.True(t, strings.HasPrefix(h.emails[len(h.emails)-1].Key, "deposit-L1/email/refund"))
}

// rawUpdate sends an Update as given, with no audit row written for it, and
// checks how it ends (want: the refusal expected, or none).
func (h *harness) rawUpdate(name string, req any, want string) {
	h.unfinished++
	done := func(err error) {
		h.unfinished--
		if want == "" {
			require.NoError(h.t, err)
			return
		}
		require.ErrorContains(h.t, err, want)
	}
	h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: done, OnComplete: func(_ any, err error) { done(err) }}, req)
}
