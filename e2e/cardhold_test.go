package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/internal/books"
	"github.com/depositflow/depositflow/internal/cardhold/stripemock"
	"github.com/depositflow/depositflow/internal/deposit"
)

// stripe is the tests' stripe-mock behind its recording proxy (nil when
// .tools/stripe-mock is missing); stripeKey the worker's secret key.
var stripe *stripemock.Mock

const stripeKey = "sk_test_e2eSECRETdoNotLog0123456789"

// needStripe skips a card-hold test without stripe-mock, or fails it where
// E2E_REQUIRE_TEMPORAL_CLI is set (CI runs make tools, which installs it).
func needStripe(t *testing.T) {
	t.Helper()
	if stripe != nil {
		return
	}
	require.Empty(t, os.Getenv("E2E_REQUIRE_TEMPORAL_CLI"), "stripe-mock is not at %s: run make tools", stripemock.Binary(".."))
	t.Skipf("stripe-mock is not at %s: run make tools to test card holds", stripemock.Binary(".."))
}

// callsFor are the calls made to Stripe for a lease (by their idempotency keys).
func callsFor(lease string) []stripemock.Call {
	var out []stripemock.Call
	for _, c := range stripe.Calls() {
		if strings.HasPrefix(c.IdempotencyKey, "deposit-"+lease+"/") {
			out = append(out, c)
		}
	}
	return out
}

// TestCardHoldLeaseEndToEnd: a property that takes deposits as card holds,
// renewed every 3 seconds; a lease starts on the tenant's card, the hold is
// placed and placed again (the old one cancelled), the tenant moves out, a
// manager keeps part, and the release captures exactly the kept amount and
// lets the rest go. The tenant's email says so, the capture is a card
// payment in the books, the books tie, and the key is in no log.
func TestCardHoldLeaseEndToEnd(t *testing.T) {
	needStripe(t)
	lease := "L-e2e-card"
	out := must(t, "property", "set", "card-elm", "--deposit-method", "card_hold", "--card-hold-renew-every", "3s",
		"--manager-email", "mgr@card-elm.example")
	require.Contains(t, out, "Deposits are taken as holds on the tenant's card, placed again every 3s")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM properties WHERE property_id = 'card-elm' AND deposit_method = 'card_hold' AND card_hold_renew_seconds = 3"))
	refusedWith(t, `deposit method "cash": give payment or card_hold`, "property", "set", "card-elm", "--deposit-method", "cash")
	refusedWith(t, "--card-hold-renew-every \"200h\"", "property", "set", "card-elm", "--card-hold-renew-every", "200h")
	r := asUser(t, "cara", []string{"manager"}, "property", "set", "card-elm", "--deposit-method", "payment")
	require.Equal(t, 3, r.code, "a manager does not set a property's policy: %s", r.stderr)
	refusedWith(t, "takes deposits as payments, not card holds", "lease", "start", "L-e2e-card-pay", "--property", "card-pay", "--unit", "1A",
		"--amount", "1,000", "--tenant-email", "eve@example.com", "--card-payment-method", "pm_card_visa")
	refusedWith(t, "takes deposits as card holds: give the tenant's card", "lease", "start", "L-e2e-card-none", "--property", "card-elm", "--unit", "1A",
		"--amount", "1,000", "--tenant-email", "eve@example.com")
	refusedWith(t, "is not a payment method ID", "lease", "start", "L-e2e-card-bad", "--property", "card-elm", "--unit", "1A",
		"--amount", "1,000", "--tenant-email", "eve@example.com", "--card-payment-method", "4242424242424242")
	must(t, "lease", "start", lease, "--property", "card-elm", "--unit", "1A", "--amount", "1,000",
		"--tenant-email", "eve@example.com", "--tenant-name", "Eve Stone", "--assess-for", "2s", "--release-after", "1h",
		"--card-payment-method", "pm_card_visa")

	// Placed at once: held, with a receipt that says it is on the card.
	var s deposit.State
	require.Eventually(t, func() bool {
		s = status(t, lease)
		return s.Stage == deposit.StageHeld && s.CardHold != nil && s.CardHold.Status == deposit.HoldActive
	}, 30*time.Second, 200*time.Millisecond)
	require.Zero(t, s.ReceivedCents, "a hold is not money received")
	first := s.CardHold.PaymentIntentID
	receipt := waitMail(t, lease, 1)[0]
	require.Contains(t, receipt.Subject, "is held on your card")
	require.Contains(t, receipt.Text, "nothing has been taken from it")
	place := callsFor(lease)[0]
	require.Equal(t, "POST /v1/payment_intents", place.Method+" "+place.Path)
	require.Equal(t, "deposit-"+lease+"/card-hold-1", place.IdempotencyKey)
	require.Equal(t, "100000", place.Form.Get("amount"))
	require.Equal(t, "manual", place.Form.Get("capture_method"))
	require.Equal(t, "pm_card_visa", place.Form.Get("payment_method"))

	// Placed again after 3 seconds: a new hold, then the first cancelled.
	require.Eventually(t, func() bool { s = status(t, lease); return s.CardHold.Seq >= 2 }, 30*time.Second, 200*time.Millisecond)
	require.NotEqual(t, first, s.CardHold.PaymentIntentID)
	calls := callsFor(lease)
	require.Equal(t, "deposit-"+lease+"/card-hold-2", calls[1].IdempotencyKey)
	require.Equal(t, "POST /v1/payment_intents/"+first+"/cancel", calls[2].Method+" "+calls[2].Path)
	require.Equal(t, "deposit-"+lease+"/card-hold-2/cancel-previous", calls[2].IdempotencyKey)
	require.Contains(t, must(t, "status", lease), "Card hold")

	// Moved out; a manager keeps part; released now.
	must(t, "moveout", lease, "--date", now())
	require.Eventually(t, func() bool { return status(t, lease).Stage == deposit.StageReleasePending }, 30*time.Second, 200*time.Millisecond)
	must(t, "keep", lease, "--amount", "300", "--reason", "Burn mark on the counter")
	must(t, "release", lease)
	s = waitClosed(t, lease)

	// Exactly the kept amount captured from the hold that stood; the rest released.
	held := s.CardHold.PaymentIntentID
	var captures []stripemock.Call
	for _, c := range callsFor(lease) {
		if strings.HasSuffix(c.Path, "/capture") {
			captures = append(captures, c)
		}
		require.NotEqual(t, "/v1/payment_intents/"+held+"/cancel", c.Path, "the hold captured in part is not cancelled")
	}
	require.Len(t, captures, 1)
	require.Equal(t, "/v1/payment_intents/"+held+"/capture", captures[0].Path)
	require.Equal(t, "30000", captures[0].Form.Get("amount_to_capture"))
	require.Equal(t, "deposit-"+lease+"/card-hold-capture", captures[0].IdempotencyKey)
	require.Equal(t, deposit.HoldCaptured, s.CardHold.Status)
	require.EqualValues(t, 30000, s.CardHold.CapturedCents)
	require.EqualValues(t, 70000, s.CardHold.ReleasedCents)
	require.Equal(t, deposit.OutcomeKept, s.Outcome)
	require.EqualValues(t, 30000, s.ReceivedCents)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM payments WHERE lease_id = $1 AND method = 'card' AND amount_in_cents = 30000 AND provider_payment_intent = $2", lease, held))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM card_holds WHERE lease_id = $1 AND status = 'captured' AND captured_cents = 30000", lease))
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM card_holds WHERE lease_id = $1 AND status = 'active'", lease))

	// The tenant's email says what was taken and what was released.
	msgs := mailFor(t, lease)
	last := msgs[len(msgs)-1]
	require.Contains(t, last.Text, "From the hold of $1,000.00 on your card we took $300.00")
	require.Contains(t, last.Text, "the other $700.00 was released and was never taken")
	require.Contains(t, last.Text, "Burn mark on the counter")
	var notice bool
	for _, m := range msgs {
		notice = notice || strings.Contains(m.Text, "Your deposit is a hold of $1,000.00 on your card: on the release date")
	}
	require.True(t, notice, "the move-out statement says the deposit is a hold on the card")

	// The books tie: the capture came in as a payment and went out as the keep.
	var l books.Liability
	require.NoError(t, json.Unmarshal([]byte(must(t, "books", "liability", "--property", "card-elm", "-o", "json")), &l))
	require.True(t, l.Ties, "%+v", l)
	require.Zero(t, l.TotalHeldCents)
	var tb books.TrialBalance
	require.NoError(t, json.Unmarshal([]byte(must(t, "books", "trial-balance", "--property", "card-elm", "-o", "json")), &tb))
	require.True(t, tb.Balanced, "%+v", tb)
	must(t, "ledger", lease) // exits 1 unless the lease's ledger conserves

	// A PMS starts a lease on the card too; released with nothing kept,
	// its hold is cancelled and nothing is taken.
	pmsLease := "L-e2e-card-pms"
	key := newKey(t, "card-pms", "card-elm")
	expect(t, call(t, "POST", serverURL+"/v1/leases", key, map[string]any{"lease_id": pmsLease, "property_id": "card-elm", "unit_id": "2B",
		"deposit_amount_in_cents": 50000, "tenants": []map[string]any{{"email": "fay@example.com", "name": "Fay Lin"}},
		"assess_for_seconds": 1, "release_after_seconds": 3600, "card_payment_method": "pm_card_mastercard"}), 201)
	require.Eventually(t, func() bool {
		h := status(t, pmsLease).CardHold
		return h != nil && h.Status == deposit.HoldActive
	}, 30*time.Second, 200*time.Millisecond)
	must(t, "moveout", pmsLease, "--date", now())
	require.Eventually(t, func() bool { return status(t, pmsLease).Stage == deposit.StageReleasePending }, 30*time.Second, 200*time.Millisecond)
	must(t, "release", pmsLease)
	ps := waitClosed(t, pmsLease)
	require.Equal(t, deposit.OutcomeNothingDue, ps.Outcome)
	require.Equal(t, deposit.HoldReleased, ps.CardHold.Status)
	pcalls := callsFor(pmsLease)
	require.Equal(t, "pm_card_mastercard", pcalls[0].Form.Get("payment_method"))
	lastCall := pcalls[len(pcalls)-1]
	require.Equal(t, "/v1/payment_intents/"+ps.CardHold.PaymentIntentID+"/cancel", lastCall.Path)
	require.Equal(t, "deposit-"+pmsLease+"/card-hold-release", lastCall.IdempotencyKey)
	for _, c := range pcalls {
		require.NotContains(t, c.Path, "/capture")
	}
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM payments WHERE lease_id = $1", pmsLease))
	require.Eventually(t, func() bool {
		for _, m := range mailFor(t, pmsLease) {
			if strings.Contains(m.Text, "The hold of $500.00 on your card was released in full") {
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "the tenant is told the hold was released")

	// The provider's secret key is in no log.
	log, err := os.ReadFile(workerLog)
	require.NoError(t, err)
	require.NotContains(t, string(log), stripeKey)
	require.NotContains(t, string(log), "SECRETdoNotLog")
}

// TestFailedCardHoldRenewalEmailsTheManager: Stripe declines a renewal; the
// property's manager is emailed at once, the lease's status shows it, and
// the next attempt (a new idempotency key) places the hold again.
func TestFailedCardHoldRenewalEmailsTheManager(t *testing.T) {
	needStripe(t)
	lease := "L-e2e-card-fail"
	must(t, "property", "set", "card-oak", "--deposit-method", "card_hold", "--card-hold-renew-every", "2s",
		"--manager-email", "mgr@card-oak.example")
	declined := "deposit-" + lease + "/card-hold-2"
	stripe.SetFail(func(c stripemock.Call) (int, string) {
		if c.IdempotencyKey == declined {
			return stripemock.Declined()
		}
		return 0, ""
	})
	defer stripe.SetFail(nil)
	must(t, "lease", "start", lease, "--property", "card-oak", "--unit", "3C", "--amount", "800",
		"--tenant-email", "gil@example.com", "--assess-for", "1s", "--release-after", "1h", "--card-payment-method", "pm_card_visa")

	var alert time.Time
	defer func() {
		if t.Failed() {
			for _, m := range mailFor(t, lease) {
				t.Logf("mail to %s: %s", m.Header.Get("To"), m.Subject)
			}
			for _, c := range callsFor(lease) {
				t.Logf("stripe %s %s %s %d", c.Method, c.Path, c.IdempotencyKey, c.Status)
			}
			st, _ := json.Marshal(status(t, lease))
			t.Logf("status %s", st)
		}
	}()
	require.Eventually(t, func() bool {
		for _, m := range mailFor(t, lease) {
			if strings.Contains(m.Header.Get("To"), "mgr@card-oak.example") && strings.Contains(m.Subject, "The hold on the card for lease "+lease+" failed") {
				require.Contains(t, m.Text, "card_declined")
				alert, _ = m.Header.Date()
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "the manager is emailed when the renewal is declined")
	var declinedAt time.Time
	for _, c := range callsFor(lease) {
		if c.IdempotencyKey == declined {
			require.Equal(t, 402, c.Status)
			declinedAt = time.Now()
		}
	}
	require.False(t, declinedAt.IsZero())
	require.WithinDuration(t, time.Now(), alert, 30*time.Second)
	s := status(t, lease)
	require.Equal(t, deposit.StageHeld, s.Stage, "the first hold still stands")
	require.Contains(t, must(t, "status", lease), "CARD HOLD FAILED")

	// Tried again 2 s later under a new key: placed, the failure cleared.
	require.Eventually(t, func() bool {
		h := status(t, lease).CardHold
		return h.Seq >= 2 && h.Failure == ""
	}, 30*time.Second, 200*time.Millisecond)
	var retried bool
	for _, c := range callsFor(lease) {
		retried = retried || (c.IdempotencyKey == declined+"-retry-1" && c.Status == 200)
	}
	require.True(t, retried, "the retry is a new request to Stripe")

	must(t, "moveout", lease, "--date", now())
	require.Eventually(t, func() bool { return status(t, lease).Stage == deposit.StageReleasePending }, 30*time.Second, 200*time.Millisecond)
	must(t, "release", lease)
	require.Equal(t, deposit.HoldReleased, waitClosed(t, lease).CardHold.Status)
}

// TestCardPaymentIsRefundedToTheCard: a payment the tenant made by card
// through Stripe (recorded with its PaymentIntent) is refunded to the card
// through Stripe at the release, exactly the refund, under the step's key.
func TestCardPaymentIsRefundedToTheCard(t *testing.T) {
	needStripe(t)
	lease := "L-e2e-card-refund"
	must(t, "lease", "start", lease, "--property", "card-plain", "--unit", "4D", "--amount", "1,000",
		"--tenant-email", "hal@example.com", "--assess-for", "1s", "--release-after", "1h")
	refusedWith(t, "is not a PaymentIntent ID", "payment", "record", lease, "--amount", "1000", "--ref", "ST-1", "--card-payment-intent", "ch_123")
	must(t, "payment", "record", lease, "--amount", "1000", "--ref", "ST-1", "--card-payment-intent", "pi_e2eTenantPaid")
	require.Eventually(t, func() bool { return status(t, lease).Stage == deposit.StageHeld }, 30*time.Second, 200*time.Millisecond)
	must(t, "moveout", lease, "--date", now())
	require.Eventually(t, func() bool { return status(t, lease).Stage == deposit.StageReleasePending }, 30*time.Second, 200*time.Millisecond)
	must(t, "keep", lease, "--amount", "250", "--reason", "Cracked tiles")
	must(t, "release", lease)
	s := waitClosed(t, lease)
	require.EqualValues(t, 75000, s.RefundCents)
	require.Eventually(t, func() bool { return len(callsFor(lease)) == 1 }, 30*time.Second, 100*time.Millisecond)
	c := callsFor(lease)[0]
	require.Equal(t, "POST /v1/refunds", c.Method+" "+c.Path)
	require.Equal(t, "pi_e2eTenantPaid", c.Form.Get("payment_intent"))
	require.Equal(t, "75000", c.Form.Get("amount"))
	require.Regexp(t, `^deposit-`+lease+`/card-refund-[0-9]+$`, c.IdempotencyKey)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM card_refunds WHERE lease_id = $1 AND amount_cents = 75000", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1 AND status = 'paid' AND paid_by = 'card provider' AND paid_reference LIKE 're_%'", lease),
		"the refund paid to the card is paid: nobody pays it again")
	var tb books.TrialBalance
	require.NoError(t, json.Unmarshal([]byte(must(t, "books", "trial-balance", "--property", "card-plain", "-o", "json")), &tb))
	require.True(t, tb.Balanced, "%+v", tb)
	var l books.Liability
	require.NoError(t, json.Unmarshal([]byte(must(t, "books", "liability", "--property", "card-plain", "-o", "json")), &l))
	require.True(t, l.Ties, "%+v", l)
}
