package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/mailsink"
	"github.com/depositflow/depositflow/templates"
)

// These tests write a lease's rows as the server does and check that the
// workflow's reads, its decisions, its settlement and its emails take them
// from the database, and from this lease's rows only.

var ctx = context.Background()

// expectDeposit writes the lease's first cash row, as the workflow does.
func expectDeposit(t *testing.T, lease string) activities.Expectation {
	t.Helper()
	exp, err := run[activities.Expectation](t, acts.ExpectDeposit, activities.ExpectDepositInput{LeaseID: lease, Key: "deposit-" + lease + "/expect"})
	require.NoError(t, err)
	return exp
}

func addPayment(t *testing.T, lease string, cents int64, ref, day string) db.Payment {
	t.Helper()
	d, err := time.Parse(time.DateOnly, day)
	require.NoError(t, err)
	p, err := db.New(pool).InsertPayment(ctx, db.InsertPaymentParams{LeaseID: lease, ResidentID: leaseResident(t, lease), AmountInCents: cents,
		TransactionDate: pgtype.Date{Time: d, Valid: true}, Reference: ref, CreatedBy: "maria"})
	require.NoError(t, err)
	return p
}

// addCharge writes a charge as a person would (origin user), with an approval.
func addCharge(t *testing.T, lease, code string, cents int64, desc, approval string) int64 {
	t.Helper()
	c, err := db.New(pool).InsertChargeWithKey(ctx, db.InsertChargeWithKeyParams{LeaseID: lease, ResidentID: leaseResident(t, lease),
		ChargeCodeID: code, AmountInCents: cents, Description: desc, CreatedBy: "maria"})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE charges SET origin = 'user', approval = $2 WHERE charge_id = $1", c.ChargeID, approval)
	require.NoError(t, err)
	return c.ChargeID
}

func addAmendment(t *testing.T, lease, typ string, cents int64, payee, payeeName, approval string) int64 {
	t.Helper()
	d, err := db.New(pool).InsertAmendment(ctx, db.InsertAmendmentParams{LeaseID: lease, DepositType: typ, AmountInCents: cents,
		PayeeEmail: payee, PayeeName: payeeName, CreatedBy: "maria", IdempotencyKey: lease + "/amend/" + time.Now().Format(time.RFC3339Nano)})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE deposits SET approval = $2 WHERE deposit_id = $1", d.DepositID, approval)
	require.NoError(t, err)
	return d.DepositID
}

func moveOut(t *testing.T, lease string, at time.Time) {
	t.Helper()
	_, err := db.New(pool).SetRealizedMoveOut(ctx, db.SetRealizedMoveOutParams{LeaseID: lease, RealizedMoveOutAt: &at})
	require.NoError(t, err)
}

func TestReadsRefuseAnotherLeasesFacts(t *testing.T) {
	lease, other := newLease(t, 0), newLease(t, 0)
	expectDeposit(t, lease)
	p := addPayment(t, lease, 100000, "CHK-1", "2026-11-02")
	ch := addCharge(t, lease, "CLEANING", 12000, "Carpet cleaning", "none")
	am := addAmendment(t, lease, "cash", 20000, "", "", "none")

	got, err := acts.ReadPayment(ctx, activities.FactInput{LeaseID: lease, ID: p.PaymentID})
	require.NoError(t, err)
	require.Equal(t, activities.PaymentFact{Found: true, Payment: deposit.Payment{PaymentID: p.PaymentID, AmountCents: 100000, Reference: "CHK-1", Date: "2026-11-02"}}, got)
	c, err := acts.ReadCharge(ctx, activities.FactInput{LeaseID: lease, ID: ch})
	require.NoError(t, err)
	require.True(t, c.Found)
	require.Equal(t, deposit.Charge{ChargeID: ch, Code: "CLEANING", Category: deposit.CategoryDeduction, AmountCents: 12000, Description: "Carpet cleaning"}, c.Charge.Charge)
	require.Equal(t, "none", c.Charge.Approval)
	require.Equal(t, "user", c.Charge.Origin)
	require.Equal(t, "maria", c.Charge.CreatedBy)
	require.False(t, c.Charge.CreatedAt.IsZero())
	d, err := acts.ReadDepositRow(ctx, activities.FactInput{LeaseID: lease, ID: am})
	require.NoError(t, err)
	require.True(t, d.Found)
	require.EqualValues(t, 20000, d.Row.AmountCents)

	// The same IDs read as another lease's: nothing.
	for name, read := range map[string]func() (bool, error){
		"payment": func() (bool, error) {
			f, err := acts.ReadPayment(ctx, activities.FactInput{LeaseID: other, ID: p.PaymentID})
			return f.Found, err
		},
		"returned": func() (bool, error) {
			f, err := acts.ReadReturnedPayment(ctx, activities.FactInput{LeaseID: other, ID: p.PaymentID})
			return f.Found, err
		},
		"charge": func() (bool, error) {
			f, err := acts.ReadCharge(ctx, activities.FactInput{LeaseID: other, ID: ch})
			return f.Found, err
		},
		"deposit": func() (bool, error) {
			f, err := acts.ReadDepositRow(ctx, activities.FactInput{LeaseID: other, ID: am})
			return f.Found, err
		},
		"unknown": func() (bool, error) {
			f, err := acts.ReadCharge(ctx, activities.FactInput{LeaseID: lease, ID: 99999999})
			return f.Found, err
		},
	} {
		found, err := read()
		require.NoError(t, err, name)
		require.False(t, found, "%s of another lease (or none) must not be found", name)
	}
	// The first cash row is the workflow's own, not an amendment.
	first, err := acts.ReadDepositRow(ctx, activities.FactInput{LeaseID: lease, ID: expectDeposit(t, lease).DepositID})
	require.NoError(t, err)
	require.False(t, first.Found)

	// A payment not returned is no returned payment; once returned (with
	// its fee, as ingest writes them) it is, with the fee.
	r, err := acts.ReadReturnedPayment(ctx, activities.FactInput{LeaseID: lease, ID: p.PaymentID})
	require.NoError(t, err)
	require.False(t, r.Found)
	_, err = db.New(pool).ReturnPayment(ctx, db.ReturnPaymentParams{LeaseID: lease, Reference: "CHK-1", ReturnReason: "nsf", ReturnedBy: "bank"})
	require.NoError(t, err)
	_, err = db.New(pool).InsertChargeWithKey(ctx, db.InsertChargeWithKeyParams{LeaseID: lease, ResidentID: leaseResident(t, lease), ChargeCodeID: "NSF_FEE",
		AmountInCents: 2500, Description: "Returned payment fee (CHK-1, nsf)", IdempotencyKey: activities.NSFFeeKey(lease, "CHK-1")})
	require.NoError(t, err)
	r, err = acts.ReadReturnedPayment(ctx, activities.FactInput{LeaseID: lease, ID: p.PaymentID})
	require.NoError(t, err)
	require.True(t, r.Found)
	require.True(t, r.Payment.Returned)
	require.Equal(t, "nsf", r.Payment.ReturnReason)
	require.EqualValues(t, 2500, r.Fee.AmountCents)
	require.Equal(t, deposit.CategoryArrears, r.Fee.Category)

	// The move-out and the forwarding address are the lease's own.
	m, err := acts.ReadMoveOut(ctx, activities.FactInput{LeaseID: lease})
	require.NoError(t, err)
	require.False(t, m.Found)
	out := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	moveOut(t, lease, out)
	m, err = acts.ReadMoveOut(ctx, activities.FactInput{LeaseID: lease})
	require.NoError(t, err)
	require.Equal(t, activities.MoveOutFact{Found: true, At: out}, m)
	m, err = acts.ReadMoveOut(ctx, activities.FactInput{LeaseID: other})
	require.NoError(t, err)
	require.False(t, m.Found, "the other lease has not moved out")
	f, err := acts.ReadForwardingAddress(ctx, activities.FactInput{LeaseID: lease})
	require.NoError(t, err)
	require.False(t, f.Found)
	_, err = db.New(pool).SetForwardingAddress(ctx, db.SetForwardingAddressParams{LeaseID: lease, ForwardingAddress: "12 Elm St", ForwardingAddressAt: &out})
	require.NoError(t, err)
	f, err = acts.ReadForwardingAddress(ctx, activities.FactInput{LeaseID: lease})
	require.NoError(t, err)
	require.Equal(t, activities.ForwardingFact{Found: true, Address: "12 Elm St", At: out}, f)

	facts, err := acts.ReadLeaseFacts(ctx, lease)
	require.NoError(t, err)
	require.Len(t, facts.Payments, 1)
	require.Len(t, facts.Charges, 2, "the cleaning and the fee; not the deposit charge")
	require.Len(t, facts.Deposits, 2)
	require.Equal(t, out, facts.MovedOutAt)
}

// decision writes the audit row the server writes before it sends an Update.
func decision(t *testing.T, lease, actor, roles, action, request string) int64 {
	t.Helper()
	row, err := db.New(pool).InsertAudit(ctx, db.InsertAuditParams{Actor: actor, Role: roles, LeaseID: lease, Action: action,
		Request: []byte(request), Principal: "user:" + actor, Origin: "127.0.0.1"})
	require.NoError(t, err)
	return row.AuditID
}

func requireForged(t *testing.T, err error, contains string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "want an ApplicationError, got %v", err)
	require.Equal(t, activities.ErrForgedRequest, appErr.Type())
	require.True(t, appErr.NonRetryable())
	require.ErrorContains(t, err, contains)
}

func TestClaimDecision(t *testing.T) {
	lease, other := newLease(t, 0), newLease(t, 0)
	id := decision(t, lease, "maria", "manager,books_admin", "keep", `{"amount_cents":30000,"all":false,"reason":"Burn mark"}`)
	content := json.RawMessage(`{"reason":"Burn mark","amount_cents":30000}`) // another key order, a zero field left out

	// Tampered content, another lease, another action: refused, nothing claimed.
	_, err := acts.ClaimDecision(ctx, activities.ClaimInput{LeaseID: lease, RequestID: id, Action: "keep", Content: json.RawMessage(`{"amount_cents":3000000,"reason":"Burn mark"}`)})
	requireForged(t, err, "is not what was recorded")
	require.Equal(t, 0, count(t, "SELECT count(*) FROM audit_log WHERE audit_id = $1 AND claimed_at IS NOT NULL", id), "a refused claim leaves the row unclaimed")
	_, err = acts.ClaimDecision(ctx, activities.ClaimInput{LeaseID: other, RequestID: id, Action: "keep", Content: content})
	requireForged(t, err, "is not a recorded request of lease "+other+" for keep")
	_, err = acts.ClaimDecision(ctx, activities.ClaimInput{LeaseID: lease, RequestID: id, Action: "release", Content: json.RawMessage(`{}`)})
	requireForged(t, err, "for release")
	_, err = acts.ClaimDecision(ctx, activities.ClaimInput{LeaseID: lease, RequestID: 987654321, Action: "keep", Content: content})
	requireForged(t, err, "request 987654321 is not a recorded request")

	// The right claim answers who asked, from the row; its own retry too.
	c, err := acts.ClaimDecision(ctx, activities.ClaimInput{LeaseID: lease, RequestID: id, Action: "keep", Content: content})
	require.NoError(t, err)
	require.Equal(t, activities.Claim{RequestID: id, Actor: "maria", Roles: []string{"manager", "books_admin"}, Principal: "user:maria"}, c)
	again, err := acts.ClaimDecision(ctx, activities.ClaimInput{LeaseID: lease, RequestID: id, Action: "keep", Content: content})
	require.NoError(t, err)
	require.Equal(t, c, again)

	// Once decided it proves nothing any more.
	require.NoError(t, db.New(pool).FinishAudit(ctx, db.FinishAuditParams{AuditID: id, Accepted: pgtype.Bool{Bool: true, Valid: true}, Result: "kept"}))
	_, err = acts.ClaimDecision(ctx, activities.ClaimInput{LeaseID: lease, RequestID: id, Action: "keep", Content: content})
	requireForged(t, err, "was already decided")

	same, err := activities.SameContent([]byte(`{"off": false}`), []byte(`{}`))
	require.NoError(t, err)
	require.True(t, same)
	same, err = activities.SameContent([]byte(`{"item":"keep:1"}`), []byte(`{"item":"keep:2"}`))
	require.NoError(t, err)
	require.False(t, same)
}

func TestKeepsAndApprovalsInTheDatabase(t *testing.T) {
	lease := newLease(t, 0)
	expectDeposit(t, lease)
	_, err := db.New(pool).SetPropertyPolicy(ctx, db.SetPropertyPolicyParams{PropertyID: "maple", ApprovalThresholdCents: pgtype.Int8{Int64: 50000, Valid: true}})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = db.New(pool).SetPropertyPolicy(ctx, db.SetPropertyPolicyParams{PropertyID: "maple", ClearThreshold: true})
	})
	policy := func() activities.ApprovalPolicy {
		p, err := acts.ReadApprovalPolicy(ctx, activities.ApprovalPolicyInput{LeaseID: lease, PropertyID: "maple"})
		require.NoError(t, err)
		return p
	}
	require.Equal(t, activities.ApprovalPolicy{ThresholdCents: 50000}, policy())
	moveOut(t, lease, time.Now().Add(-time.Hour))

	keep := func(request int64, status string) activities.KeepRow {
		k, err := acts.RecordKeep(ctx, activities.RecordKeepInput{LeaseID: lease, RequestID: request, AmountCents: 20000, Reason: "Paint",
			RequestedBy: "maria", Status: status, Key: "deposit-" + lease + "/keep/" + time.Now().Format(time.RFC3339Nano)})
		require.NoError(t, err)
		return k
	}
	k1 := keep(decision(t, lease, "maria", "manager", "keep", "{}"), "applied")
	require.EqualValues(t, 20000, policy().DiscretionaryCents)
	keep(decision(t, lease, "maria", "manager", "keep", "{}"), "applied")
	k3 := keep(decision(t, lease, "maria", "manager", "keep", "{}"), "pending")
	require.EqualValues(t, 60000, policy().DiscretionaryCents, "applied and pending keeps count")
	// A deduction a person added after the move-out counts; one declined does not.
	addCharge(t, lease, "DAMAGE", 1000, "Door", "none")
	declined := addCharge(t, lease, "DAMAGE", 5000, "Window", "pending")
	require.EqualValues(t, 66000, policy().DiscretionaryCents)
	require.NoError(t, acts.DecideApproval(ctx, activities.DecideApprovalInput{LeaseID: lease, Kind: deposit.PendingCharge, ID: declined, Decision: activities.DecisionDeclined, By: "ben"}))
	require.EqualValues(t, 61000, policy().DiscretionaryCents)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM charges WHERE charge_id = $1 AND approval = 'declined' AND decided_by = 'ben' AND decided_at IS NOT NULL", declined))

	// The same key finds the same row.
	again, err := acts.RecordKeep(ctx, activities.RecordKeepInput{LeaseID: lease, RequestID: k1.RequestID, AmountCents: 20000, Reason: "Paint",
		RequestedBy: "maria", Status: "applied", Key: "deposit-" + lease + "/keep/x"})
	require.NoError(t, err)
	again2, err := acts.RecordKeep(ctx, activities.RecordKeepInput{LeaseID: lease, RequestID: k1.RequestID, AmountCents: 20000, Reason: "Paint",
		RequestedBy: "maria", Status: "applied", Key: "deposit-" + lease + "/keep/x"})
	require.NoError(t, err)
	require.Equal(t, again.KeepID, again2.KeepID)

	// Approving the pending keep applies it; deciding it again the same way
	// is a retry; deciding it otherwise is refused.
	approve := activities.DecideApprovalInput{LeaseID: lease, Kind: deposit.PendingKeep, ID: k3.KeepID, Decision: activities.DecisionApproved, By: "ben"}
	require.NoError(t, acts.DecideApproval(ctx, approve))
	require.NoError(t, acts.DecideApproval(ctx, approve))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM keeps WHERE keep_id = $1 AND status = 'applied' AND decided_by = 'ben'", k3.KeepID))
	err = acts.DecideApproval(ctx, activities.DecideApprovalInput{LeaseID: lease, Kind: deposit.PendingKeep, ID: k3.KeepID, Decision: activities.DecisionDeclined, By: "ben"})
	requireNonRetryable(t, err, "not pending approval")
	// Another lease's item is not this lease's to decide.
	err = acts.DecideApproval(ctx, activities.DecideApprovalInput{LeaseID: newLease(t, 0), Kind: deposit.PendingKeep, ID: k3.KeepID, Decision: activities.DecisionApproved, By: "ben"})
	requireNonRetryable(t, err, "not pending approval")

	// The statute lapses what nobody decided: a keep lapses, a row is declined.
	k4 := keep(decision(t, lease, "maria", "manager", "keep", "{}"), "pending")
	row := addAmendment(t, lease, "cash", 0, "pat@example.com", "Pat", "pending")
	require.NoError(t, acts.DecideApproval(ctx, activities.DecideApprovalInput{LeaseID: lease, Kind: deposit.PendingKeep, ID: k4.KeepID, Decision: activities.DecisionLapsed, By: deposit.Statute}))
	require.NoError(t, acts.DecideApproval(ctx, activities.DecideApprovalInput{LeaseID: lease, Kind: deposit.PendingDeposit, ID: row, Decision: activities.DecisionLapsed, By: deposit.Statute}))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM keeps WHERE keep_id = $1 AND status = 'lapsed'", k4.KeepID))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM deposits WHERE deposit_id = $1 AND approval = 'declined' AND decided_by = 'depositflow (statute)'", row))

	// A keep the workflow would apply, read against a total that has passed
	// the threshold since (a charge added meanwhile), is written pending.
	fresh := newLease(t, 0)
	expectDeposit(t, fresh)
	moveOut(t, fresh, time.Now().Add(-time.Hour))
	addCharge(t, fresh, "DAMAGE", 45000, "Floor", "none")
	k, err := acts.RecordKeep(ctx, activities.RecordKeepInput{LeaseID: fresh, RequestID: decision(t, fresh, "maria", "manager", "keep", "{}"), AmountCents: 10000,
		Reason: "Paint", RequestedBy: "maria", Status: "applied", Key: "deposit-" + fresh + "/keep/1"})
	require.NoError(t, err)
	require.Equal(t, "pending", k.Status)

	// Whoever holds the lease's row (the server writing a charge) is waited
	// for: the keep reads the total after that charge is committed.
	raced := newLease(t, 0)
	expectDeposit(t, raced)
	moveOut(t, raced, time.Now().Add(-time.Hour))
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = db.New(tx).LockLeaseThreshold(ctx, raced)
	require.NoError(t, err)
	request := decision(t, raced, "maria", "manager", "keep", "{}")
	done := make(chan activities.KeepRow, 1)
	go func() {
		k, err := acts.RecordKeep(ctx, activities.RecordKeepInput{LeaseID: raced, RequestID: request, AmountCents: 10000,
			Reason: "Paint", RequestedBy: "maria", Status: "applied", Key: "deposit-" + raced + "/keep/1"})
		if err != nil {
			t.Error(err)
		}
		done <- k
	}()
	select {
	case k := <-done:
		t.Fatalf("the keep was written (%s) while another transaction held the lease", k.Status)
	case <-time.After(300 * time.Millisecond):
	}
	c, err := db.New(tx).InsertChargeWithKey(ctx, db.InsertChargeWithKeyParams{LeaseID: raced, ResidentID: leaseResident(t, raced),
		ChargeCodeID: "DAMAGE", AmountInCents: 45000, Description: "Floor", CreatedBy: "maria"})
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "UPDATE charges SET origin = 'user' WHERE charge_id = $1", c.ChargeID)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, "pending", (<-done).Status)
}

// booksLease is a lease with two co-tenants (shares 2 and 1), a payment, a
// deduction, a credit, pending and declined rows that must not count, and
// a keep.
func booksLease(t *testing.T) (lease string, ana, bo int64) {
	t.Helper()
	lease = newLease(t, 100000)
	expectDeposit(t, lease)
	ana = leaseResident(t, lease)
	_, err := pool.Exec(ctx, "UPDATE lease_residents SET share = 2 WHERE lease_id = $1", lease)
	require.NoError(t, err)
	bo = addCoTenant(t, lease, "bo@example.com", "Bo Chen", 2)
	addPayment(t, lease, 100000, "CHK-1", "2026-11-02")
	moveOut(t, lease, time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC))
	addCharge(t, lease, "CLEANING", 12000, "Carpet cleaning", "none")
	addCharge(t, lease, "CREDIT", 1000, "Goodwill", "approved")
	addCharge(t, lease, "DAMAGE", 50000, "Pending damage", "pending")
	addCharge(t, lease, "DAMAGE", 40000, "Declined damage", "declined")
	_, err = acts.RecordKeep(ctx, activities.RecordKeepInput{LeaseID: lease, AmountCents: 3000, Reason: "Paint", RequestedBy: "maria", Status: "applied", Key: lease + "/keep/1"})
	require.NoError(t, err)
	_, err = acts.RecordKeep(ctx, activities.RecordKeepInput{LeaseID: lease, AmountCents: 9000, Reason: "Pending keep", RequestedBy: "maria", Status: "pending", Key: lease + "/keep/2"})
	require.NoError(t, err)
	return lease, ana, bo
}

func TestBooksComputeTheSettlementFromTheRows(t *testing.T) {
	lease, ana, bo := booksLease(t)
	b, err := activities.ReadBooks(ctx, db.New(pool), lease)
	require.NoError(t, err)
	terms, st, payouts := b.Settlement(activities.BooksCheck{At: time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)})
	require.Equal(t, deposit.Terms{ReceivedCents: 100000, CreditsCents: 1000, DeductionsCents: 12000, KeptCents: 3000}, terms)
	require.Equal(t, deposit.Settlement{RefundCents: 86000, Outcome: deposit.OutcomePartiallyRefunded}, st)
	require.Equal(t, []deposit.Payout{
		{ResidentID: ana, Email: "ana@example.com", Name: "Ana Lopez", AmountCents: 57333},
		{ResidentID: bo, Email: "bo@example.com", Name: "Bo Chen", AmountCents: 28667},
	}, payouts, "split 2:1 to the cent")
	s := b.State()
	require.Len(t, s.Pending, 2, "the pending charge and the pending keep wait")
	// Forfeiture zeroes what is withheld.
	terms, _, _ = b.Settlement(activities.BooksCheck{Forfeited: true})
	require.Equal(t, deposit.Terms{ReceivedCents: 100000, CreditsCents: 1000}, terms)

	// The newest approved payee gets the whole refund; a newer pending one does not.
	addAmendment(t, lease, "cash", 0, "old@example.com", "Old", "none")
	addAmendment(t, lease, "cash", 0, "pat@example.com", "Pat Parent", "approved")
	addAmendment(t, lease, "cash", 0, "thief@example.com", "Thief", "pending")
	addAmendment(t, lease, "cash", 0, "declined@example.com", "Declined", "declined")
	b, err = activities.ReadBooks(ctx, db.New(pool), lease)
	require.NoError(t, err)
	_, _, payouts = b.Settlement(activities.BooksCheck{})
	require.Equal(t, []deposit.Payout{{ResidentID: ana, Email: "pat@example.com", Name: "Pat Parent", AmountCents: 86000}}, payouts)
}

func TestBooksRecomputeInterestUnderTheRuleAtTheMoveOut(t *testing.T) {
	lease := newLease(t, 100000)
	expectDeposit(t, lease)
	require.NoError(t, db.New(pool).SetLeaseJurisdiction(ctx, db.SetLeaseJurisdictionParams{LeaseID: lease, Jurisdiction: "US-MA",
		StartsOn: pgtype.Date{Time: time.Date(2024, 11, 2, 0, 0, 0, 0, time.UTC), Valid: true}}))
	addPayment(t, lease, 100000, "CHK-1", "2026-11-02")
	moveOut(t, lease, time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC))
	b, err := activities.ReadBooks(ctx, db.New(pool), lease)
	require.NoError(t, err)
	require.NoError(t, b.LoadLaw(ctx, db.New(pool)))
	terms, st, _ := b.Settlement(activities.BooksCheck{At: time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)})
	// 16 days at 5% on 1,000.00, as the workflow computes it.
	require.EqualValues(t, 219, terms.InterestCents)
	require.EqualValues(t, 100219, st.RefundCents)
}

func settleInputFor(t *testing.T, lease string, ana, bo int64) activities.SettleInput {
	return activities.SettleInput{
		LeaseID: lease, Key: "deposit-" + lease + "/settlement",
		ReceivedCents: 100000, CreditsCents: 1000, DeductionsCents: 12000, KeptCents: 3000,
		RefundCents: 86000, Outcome: deposit.OutcomePartiallyRefunded,
		Kept: []activities.KeptLine{{AmountCents: 3000, Reason: "Paint", RequestedBy: "maria"}},
		Payouts: []activities.PayoutPlan{
			{ResidentID: ana, Email: "ana@example.com", Name: "Ana Lopez", AmountCents: 57333},
			{ResidentID: bo, Email: "bo@example.com", Name: "Bo Chen", AmountCents: 28667},
		},
		Books: &activities.BooksCheck{At: time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)},
	}
}

func TestSettleDepositWritesOnlyWhatTheBooksBearOut(t *testing.T) {
	lease, ana, bo := booksLease(t)
	in := settleInputFor(t, lease, ana, bo)

	// A deduction changed behind the workflow's back: refused, nothing written.
	_, err := pool.Exec(ctx, "UPDATE charges SET amount_in_cents = 2000 WHERE lease_id = $1 AND description = 'Carpet cleaning'", lease)
	require.NoError(t, err)
	_, err = run[activities.SettleResult](t, acts.SettleDeposit, in)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, activities.ErrBooksDisagree, appErr.Type())
	require.True(t, appErr.NonRetryable())
	require.ErrorContains(t, err, "deductions: workflow 12000, database 2000")
	require.ErrorContains(t, err, "refund: workflow 86000, database 96000")
	require.ErrorContains(t, err, "payout to Ana Lopez <ana@example.com> (resident")

	require.Equal(t, 0, count(t, "SELECT count(*) FROM settlements WHERE lease_id = $1", lease))
	require.Equal(t, 0, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1", lease))

	// The same input from a workflow that does not know about the check
	// is refused too, but as a retryable failure: the old lease waits.
	old := in
	old.Books = nil
	_, err = run[activities.SettleResult](t, acts.SettleDeposit, old)
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, activities.ErrBooksDisagree, appErr.Type())
	require.False(t, appErr.NonRetryable())

	// A guarantee the workflow does not know of disagrees too.
	g, err := db.New(pool).InsertAmendment(ctx, db.InsertAmendmentParams{LeaseID: lease, DepositType: "guarantee", AmountInCents: 500000,
		Guarantor: "Bank", CreatedBy: "maria", IdempotencyKey: lease + "/guarantee"})
	require.NoError(t, err)
	_, err = run[activities.SettleResult](t, acts.SettleDeposit, in)
	require.ErrorContains(t, err, "guarantee: workflow 0, database 500000")
	_, err = pool.Exec(ctx, "UPDATE deposits SET approval = 'declined' WHERE deposit_id = $1", g.DepositID)
	require.NoError(t, err)

	// Corrected in the database: written, once.
	_, err = pool.Exec(ctx, "UPDATE charges SET amount_in_cents = 12000 WHERE lease_id = $1 AND description = 'Carpet cleaning'", lease)
	require.NoError(t, err)
	r1, err := run[activities.SettleResult](t, acts.SettleDeposit, in)
	require.NoError(t, err)
	require.Len(t, r1.RefundIDs, 2)
	// A retry after success finds what was written, even if a row changed since.
	addCharge(t, lease, "DAMAGE", 700, "Late", "none")
	r2, err := run[activities.SettleResult](t, acts.SettleDeposit, in)
	require.NoError(t, err)
	require.Equal(t, r1, r2)
	require.Equal(t, 86000, count(t, "SELECT sum(amount_in_cents) FROM refunds WHERE lease_id = $1", lease))
}

func TestSettleDepositOldInputTakesItsInterestAndMirroredForfeiture(t *testing.T) {
	lease := newLease(t, 100000)
	expectDeposit(t, lease)
	ana := leaseResident(t, lease)
	addPayment(t, lease, 100000, "CHK-1", "2026-11-02")
	addCharge(t, lease, "RENT", 30000, "October rent", "none")
	require.NoError(t, acts.SaveLeaseDeadlines(ctx, activities.DeadlinesInput{LeaseID: lease, Note: "MISSED: the statement went late: every deduction is forfeited and the deposit is refunded in full"}))
	in := activities.SettleInput{LeaseID: lease, Key: "deposit-" + lease + "/settlement", ReceivedCents: 100000, InterestCents: 150,
		RefundCents: 100150, Outcome: deposit.OutcomeRefunded, Payouts: []activities.PayoutPlan{{ResidentID: ana, Email: "ana@example.com", Name: "Ana Lopez", AmountCents: 100150}}}
	_, err := run[activities.SettleResult](t, acts.SettleDeposit, in)
	require.NoError(t, err)
}

func TestSaveLeaseStageMirrorsTheView(t *testing.T) {
	lease := newLease(t, 0)
	release := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	v := activities.LeaseView{OnHold: true, RuleLabel: "US-MA (M.G.L.)", ClockStarted: true, ClockWhy: "30 days from the move-out",
		RefundDue: release.AddDate(0, 0, 10), InterestCents: 219, InterestWhy: "simple interest", DeadlineMissed: "late", Forfeited: true,
		StatementSentAt: release.Add(-time.Hour), BooksDisagree: "kept: workflow 1, database 2"}
	_, err := run[struct{}](t, acts.SaveLeaseStage, activities.StageInput{LeaseID: lease, Stage: deposit.StageBooksDisagree, ReleaseAt: release, View: &v})
	require.NoError(t, err)
	b, err := activities.ReadBooks(ctx, db.New(pool), lease)
	require.NoError(t, err)
	require.Equal(t, v, b.View)
	require.Equal(t, deposit.StageBooksDisagree, b.Stage)
	require.Equal(t, release, b.ReleaseAt)
}

// The emails are built from the database: the workflow names the lease,
// the kind and the key.
func TestEmailsAreBuiltFromTheDatabase(t *testing.T) {
	lease, _, _ := booksLease(t)
	_, err := db.New(pool).SetPropertyPolicy(ctx, db.SetPropertyPolicyParams{PropertyID: "maple", ManagerEmail: pgtype.Text{String: "m@maple.example", Valid: true}})
	require.NoError(t, err)
	release := time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)
	_, err = run[struct{}](t, acts.SaveLeaseStage, activities.StageInput{LeaseID: lease, Stage: deposit.StageReleasePending, ReleaseAt: release,
		View: &activities.LeaseView{InterestCents: 0}})
	require.NoError(t, err)

	data, err := activities.Statement(ctx, db.New(pool), lease, templates.KindNotice)
	require.NoError(t, err)
	require.Equal(t, []templates.Line{{Description: "Carpet cleaning", Cents: 12000}}, data.Deductions, "pending and declined rows are not shown")
	require.Equal(t, []templates.Line{{Description: "Paint", Cents: 3000}}, data.Kept)
	require.Equal(t, []templates.Line{{Description: "Goodwill", Cents: 1000}}, data.Credits)
	require.EqualValues(t, 86000, data.RefundCents)
	require.Len(t, data.Payouts, 2)
	require.Equal(t, release, data.ReleaseAt)

	res, err := run[activities.EmailResult](t, acts.SendEmail, activities.EmailInput{Key: "deposit-" + lease + "/email/notice", Kind: templates.KindNotice, LeaseID: lease})
	require.NoError(t, err)
	m, err := sink.WaitFor(5*time.Second, func(m mailsink.Message) bool { return strings.Contains(string(m.Raw), res.MessageID) })
	require.NoError(t, err)
	p, err := mailsink.Parse(m.Raw)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"ana@example.com", "bo@example.com"}, m.To)
	require.Contains(t, p.Text, "Carpet cleaning")
	require.NotContains(t, p.Text, "Pending damage")
	require.Contains(t, p.Text, "$860.00")

	// The operator's alert goes to the manager, with the reason mirrored.
	_, err = run[struct{}](t, acts.SaveLeaseStage, activities.StageInput{LeaseID: lease, Stage: deposit.StageBooksDisagree, ReleaseAt: release,
		View: &activities.LeaseView{BooksDisagree: "the books of lease " + lease + " disagree with its workflow: kept: workflow 9000, database 3000"}})
	require.NoError(t, err)
	res, err = run[activities.EmailResult](t, acts.SendEmail, activities.EmailInput{Key: "deposit-" + lease + "/email/books-disagree", Kind: templates.KindBooksDisagree, LeaseID: lease, ToManager: true})
	require.NoError(t, err)
	m, err = sink.WaitFor(5*time.Second, func(m mailsink.Message) bool { return strings.Contains(string(m.Raw), res.MessageID) })
	require.NoError(t, err)
	require.Equal(t, []string{"m@maple.example"}, m.To)
	p, err = mailsink.Parse(m.Raw)
	require.NoError(t, err)
	require.Contains(t, p.Text, "kept: workflow 9000, database 3000")
	require.Contains(t, p.Subject, "The books disagree")
}

// An email sent again after an attempt in doubt is the message the first
// attempt rendered, even when the books moved in between (another payment):
// the tenant never gets two different messages under one Message-ID.
func TestEmailSentAgainIsTheFirstRendering(t *testing.T) {
	lease := newLease(t, 100000)
	expectDeposit(t, lease)
	addPayment(t, lease, 40000, "P-1", "2026-11-02")
	in := activities.EmailInput{Key: "deposit-" + lease + "/email/receipt", Kind: templates.KindReceipt, LeaseID: lease}
	sink.SetHangUp(mailsink.HangUpBeforeReply)
	_, err := run[activities.EmailResult](t, acts.SendEmail, in)
	sink.SetHangUp(mailsink.HangUpNever)
	require.ErrorContains(t, err, activities.ErrInDoubt.Error())

	addPayment(t, lease, 60000, "P-2", "2026-11-03")
	_, err = run[activities.EmailResult](t, acts.SendEmail, in)
	require.NoError(t, err)
	var copies []string
	for _, m := range sink.Messages() {
		if strings.Contains(string(m.Raw), lease) {
			copies = append(copies, string(m.Raw))
		}
	}
	require.Len(t, copies, 2)
	require.Equal(t, copies[0], copies[1], "the copy sent again is the first attempt's message")
	require.NotContains(t, copies[1], "P-2")

	// A new email renders the books as they are now.
	res, err := run[activities.EmailResult](t, acts.SendEmail, activities.EmailInput{Key: "deposit-" + lease + "/email/receipt-2", Kind: templates.KindReceipt, LeaseID: lease})
	require.NoError(t, err)
	m, err := sink.WaitFor(5*time.Second, func(m mailsink.Message) bool { return strings.Contains(string(m.Raw), res.MessageID) })
	require.NoError(t, err)
	require.Contains(t, string(m.Raw), "P-2")
}
