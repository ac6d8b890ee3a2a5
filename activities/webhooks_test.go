package activities_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/webhook"
	"github.com/depositflow/depositflow/templates"
)

// dispatcher records the queues the activities wake after their commits.
type dispatcher struct {
	mu     sync.Mutex
	queues []activities.WebhookQueue
}

func (d *dispatcher) DispatchWebhooks(_ context.Context, qs []activities.WebhookQueue) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queues = append(d.queues, qs...)
	return nil
}

// hooked is the activities with a recording dispatcher.
func hooked(t *testing.T) (*activities.Activities, *dispatcher) {
	d := &dispatcher{}
	return &activities.Activities{Pool: pool, Mailer: acts.Mailer, Organization: "Maple Homes", Webhooks: d}, d
}

// runOn executes one activity of a given Activities.
func runOn[T any](t *testing.T, on *activities.Activities, fn any, in any) (T, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(on)
	var out T
	v, err := env.ExecuteActivity(fn, in)
	if err != nil {
		return out, err
	}
	if v.HasValue() {
		require.NoError(t, v.Get(&out))
	}
	return out, nil
}

// hookProperty is a property of the test's own, so that its endpoints see
// no other test's leases.
func hookProperty(t *testing.T) string {
	p := fmt.Sprintf("hooks-%d", time.Now().UnixNano())
	require.NoError(t, db.New(pool).UpsertProperty(ctx, p))
	require.NoError(t, db.New(pool).UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: p, UnitID: "4B"}))
	return p
}

// leaseAt is a lease (as newLease) of a property.
func leaseAt(t *testing.T, property string) string {
	lease := newLease(t, 0)
	_, err := pool.Exec(ctx, "UPDATE leases SET property_id = $2 WHERE lease_id = $1", lease, property)
	require.NoError(t, err)
	return lease
}

// endpoint adds an endpoint and removes it when the test ends.
func endpoint(t *testing.T, url, property string, events ...string) db.WebhookEndpoint {
	secret, err := webhook.NewSecret()
	require.NoError(t, err)
	ep, err := db.New(pool).CreateWebhookEndpoint(ctx, db.CreateWebhookEndpointParams{Url: url, Events: events,
		PropertyID: pgtype.Text{String: property, Valid: property != ""}, Secret: secret, CreatedBy: "local:test"})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.New(pool).RemoveWebhookEndpoint(context.Background(), ep.EndpointID) })
	return ep
}

type stored struct {
	EventID, Type, Fact string
	Data                json.RawMessage
}

func events(t *testing.T, lease string) []stored {
	rows, err := pool.Query(ctx, "SELECT event_id, type, fact, data FROM webhook_events WHERE lease_id = $1 ORDER BY seq", lease)
	require.NoError(t, err)
	defer rows.Close()
	var out []stored
	for rows.Next() {
		var s stored
		require.NoError(t, rows.Scan(&s.EventID, &s.Type, &s.Fact, &s.Data))
		out = append(out, s)
	}
	return out
}

// A settlement's refunds are refund.due events written with them, one per
// payout, each with the ID of its fact; a retry writes none, and wakes
// nothing new.
func TestSettlementWritesRefundDueOnce(t *testing.T) {
	p := hookProperty(t)
	lease := leaseAt(t, p)
	ana := leaseResident(t, lease)
	bo := addCoTenant(t, lease, "bo@example.com", "Bo Chen", 2)
	addPayment(t, lease, 100000, "CHK-1", "2026-11-02")
	ep := endpoint(t, "https://pms.example/hooks", p, webhook.TypeRefundDue)
	other := endpoint(t, "https://other.example/hooks", "", webhook.TypeInvoiceDue) // every property, another type
	a, d := hooked(t)
	in := activities.SettleInput{LeaseID: lease, Key: "deposit-" + lease + "/settlement", ReceivedCents: 100000, RefundCents: 100000, Outcome: "refunded",
		Payouts: []activities.PayoutPlan{{ResidentID: ana, Email: "ana@example.com", Name: "Ana Lopez", AmountCents: 50000}, {ResidentID: bo, Email: "bo@example.com", Name: "Bo Chen", AmountCents: 50000}}}
	r, err := runOn[activities.SettleResult](t, a, a.SettleDeposit, in)
	require.NoError(t, err)
	_, err = runOn[activities.SettleResult](t, a, a.SettleDeposit, in)
	require.NoError(t, err)

	evs := events(t, lease)
	require.Len(t, evs, 2)
	for i, e := range evs {
		key := fmt.Sprintf("deposit-%s/settlement/refund/%d", lease, i+1)
		require.Equal(t, webhook.TypeRefundDue, e.Type)
		require.Equal(t, key, e.Fact)
		require.Equal(t, webhook.EventID(webhook.TypeRefundDue, key), e.EventID)
		var data webhook.RefundDue
		require.NoError(t, json.Unmarshal(e.Data, &data))
		require.Equal(t, webhook.RefundDue{LeaseID: lease, PropertyID: p, UnitID: "4B", RefundID: r.RefundIDs[i], SettlementID: r.SettlementID,
			Outcome: "refunded", AmountInCents: 50000, Currency: "USD", RecipientName: []string{"Ana Lopez", "Bo Chen"}[i],
			RecipientEmail: []string{"ana@example.com", "bo@example.com"}[i]}, data)
	}
	require.Equal(t, 2, count(t, "SELECT count(*) FROM webhook_deliveries WHERE lease_id = $1 AND endpoint_id = $2 AND status = 'pending'", lease, ep.EndpointID))
	require.Equal(t, 0, count(t, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1", other.EndpointID))
	require.Len(t, d.queues, 2, "woken after the first commit only")
	require.Equal(t, activities.WebhookQueue{EndpointID: ep.EndpointID, LeaseID: lease, EventID: evs[0].EventID}, d.queues[0])
}

// A lease no endpoint listens to writes no event at all.
func TestNoSubscriberNoEvent(t *testing.T) {
	lease := leaseAt(t, hookProperty(t))
	a, d := hooked(t)
	_, err := runOn[activities.Payable](t, a, a.IssueInvoice, activities.SettlementInput{LeaseID: lease, Key: "deposit-" + lease + "/invoice", AmountCents: 100})
	require.NoError(t, err)
	require.Empty(t, events(t, lease))
	require.Empty(t, d.queues)
}

// A stage change is a stage.changed event, once: writing the same stage
// again (a retry, the mirror before an email) reports nothing, and
// entering a stage a second time is another fact. A disabled endpoint's
// delivery is recorded as skipped and not woken.
func TestStageChangeWritesStageChangedOnce(t *testing.T) {
	p := hookProperty(t)
	lease := leaseAt(t, p)
	ep := endpoint(t, "https://pms.example/hooks", p, webhook.TypeStageChanged)
	off := endpoint(t, "https://off.example/hooks", p, webhook.TypeStageChanged)
	_, err := db.New(pool).DisableWebhookEndpoint(ctx, db.DisableWebhookEndpointParams{EndpointID: off.EndpointID, DisabledReason: "test"})
	require.NoError(t, err)
	a, d := hooked(t)
	for _, stage := range []string{"held", "held", "awaiting_payment", "held", "held"} {
		_, err := runOn[struct{}](t, a, a.SaveLeaseStage, activities.StageInput{LeaseID: lease, Stage: stage})
		require.NoError(t, err)
	}
	evs := events(t, lease)
	require.Len(t, evs, 3)
	var stages []string
	for _, e := range evs {
		var data webhook.StageChanged
		require.NoError(t, json.Unmarshal(e.Data, &data))
		stages = append(stages, data.PreviousStage+">"+data.Stage)
	}
	require.Equal(t, []string{"awaiting_payment>held", "held>awaiting_payment", "awaiting_payment>held"}, stages)
	require.Equal(t, lease+"/stage/held/2", evs[2].Fact)
	require.NotEqual(t, evs[0].EventID, evs[2].EventID)
	require.Equal(t, 3, count(t, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'", ep.EndpointID))
	require.Equal(t, 3, count(t, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'skipped'", off.EndpointID))
	require.Len(t, d.queues, 3)
	for _, q := range d.queues {
		require.Equal(t, ep.EndpointID, q.EndpointID)
	}
}

// A reminder a few days before the statutory deadline is deadline.at_risk;
// one weeks before it is not.
func TestReminderNearTheDeadlineIsAtRisk(t *testing.T) {
	p := hookProperty(t)
	near, far := leaseAt(t, p), leaseAt(t, p)
	endpoint(t, "https://pms.example/hooks", p, webhook.TypeDeadlineAtRisk)
	for lease, days := range map[string]int{near: 3, far: 20} {
		_, err := pool.Exec(ctx, "UPDATE leases SET statutory_deadline = now() + make_interval(days => $2), rule_label = 'US-CA' WHERE lease_id = $1", lease, days)
		require.NoError(t, err)
	}
	a, _ := hooked(t)
	for _, lease := range []string{near, far} {
		in := emailInput(lease, templates.KindReminder)
		in.Key = "deposit-" + lease + "/email/reminder-x-72h0m0s"
		_, err := runOn[activities.EmailResult](t, a, a.SendEmail, in)
		require.NoError(t, err)
	}
	require.Empty(t, events(t, far))
	evs := events(t, near)
	require.Len(t, evs, 1)
	var data webhook.DeadlineAtRisk
	require.NoError(t, json.Unmarshal(evs[0].Data, &data))
	require.Equal(t, 2, data.DaysLeft) // 3 days less the moments since
	require.Equal(t, "US-CA", data.Rule)
	require.Equal(t, "deposit-"+near+"/email/reminder-x-72h0m0s", evs[0].Fact)
}

// receiver is an endpoint for the tests: it checks each request's
// signature with the secrets it knows, written here from the Standard
// Webhooks spec (not with the package's signer), and answers as told.
type receiver struct {
	mu       sync.Mutex
	secrets  []string
	answers  []int // status codes to answer, in turn; then 200
	got      []*http.Request
	bodies   [][]byte
	verified []int // how many signatures verified, per request
	srv      *httptest.Server
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	r := &receiver{answers: answers}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, req)
		r.bodies = append(r.bodies, body)
		r.verified = append(r.verified, verify(r.secrets, req.Header, body))
		code := 200
		if len(r.answers) > 0 {
			code, r.answers = r.answers[0], r.answers[1:]
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// verify counts the v1 signatures of a request that one of the secrets made.
func verify(secrets []string, h http.Header, body []byte) int {
	n := 0
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		for _, s := range secrets {
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
			if err != nil {
				continue
			}
			mac := hmac.New(sha256.New, key)
			mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
			if hmac.Equal([]byte(b64), []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))) {
				n++
			}
		}
	}
	return n
}

// queueOne writes an invoice (an invoice.due event) for a lease with an
// endpoint and returns the delivery.
func queueOne(t *testing.T, a *activities.Activities, lease string, amount int64) int64 {
	_, err := runOn[activities.Payable](t, a, a.IssueInvoice, activities.SettlementInput{LeaseID: lease, Key: fmt.Sprintf("deposit-%s/invoice-%d", lease, amount), AmountCents: amount})
	require.NoError(t, err)
	var id int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT max(delivery_id) FROM webhook_deliveries WHERE lease_id = $1", lease).Scan(&id))
	return id
}

// An attempt signs with the endpoint's secret, posts the event, and logs
// what came back: a 500 is a retryable failure, a 2xx delivers it, and a
// delivered event is not sent again.
func TestDeliverWebhookSignsPostsAndLogs(t *testing.T) {
	p := hookProperty(t)
	lease := leaseAt(t, p)
	rcv := newReceiver(t, 500)
	ep := endpoint(t, rcv.srv.URL+"/hooks?token=s3cret", p, webhook.TypeInvoiceDue)
	rcv.secrets = []string{ep.Secret}
	a, _ := hooked(t)
	id := queueOne(t, a, lease, 4200)

	_, err := runOn[activities.WebhookResult](t, a, a.DeliverWebhook, id)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.False(t, appErr.NonRetryable())
	require.Contains(t, err.Error(), "answered 500 Internal Server Error")
	require.NotContains(t, err.Error(), "s3cret", "the URL's query is never shown")
	require.NotContains(t, err.Error(), ep.Secret)

	res, err := runOn[activities.WebhookResult](t, a, a.DeliverWebhook, id)
	require.NoError(t, err)
	require.Equal(t, activities.WebhookResult{Status: activities.WebhookDelivered, StatusCode: 200}, res)
	res, err = runOn[activities.WebhookResult](t, a, a.DeliverWebhook, id)
	require.NoError(t, err)
	require.Equal(t, activities.WebhookDelivered, res.Status)

	require.Len(t, rcv.got, 2, "delivered once, after one failure")
	for i, req := range rcv.got {
		require.Equal(t, 1, rcv.verified[i], "signed with the endpoint's secret")
		require.Equal(t, "/hooks", req.URL.Path)
		require.Equal(t, "s3cret", req.URL.Query().Get("token"))
		require.Equal(t, "application/json", req.Header.Get("Content-Type"))
		require.Equal(t, rcv.got[0].Header.Get("webhook-id"), req.Header.Get("webhook-id"), "a retry is the same event")
		require.Equal(t, string(rcv.bodies[0]), string(rcv.bodies[i]), "and the same bytes")
	}
	var body struct {
		Type      string             `json:"type"`
		Timestamp time.Time          `json:"timestamp"`
		Data      webhook.InvoiceDue `json:"data"`
	}
	require.NoError(t, json.Unmarshal(rcv.bodies[0], &body))
	require.Equal(t, webhook.TypeInvoiceDue, body.Type)
	require.EqualValues(t, 4200, body.Data.AmountDueInCents)
	require.Equal(t, lease, body.Data.LeaseID)

	require.Equal(t, 2, count(t, "SELECT count(*) FROM webhook_attempts WHERE delivery_id = $1", id))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM webhook_attempts WHERE delivery_id = $1 AND status_code = 500 AND error = 'answered 500 Internal Server Error'", id))
	require.Equal(t, 1, count(t, `SELECT count(*) FROM webhook_deliveries WHERE delivery_id = $1 AND status = 'delivered'
		AND attempts = 2 AND last_status_code = 200 AND delivered_at IS NOT NULL`, id))
}

// While a rotation overlaps, every attempt carries two signatures: the new
// secret's and the old one's, each valid on its own; after it, one.
func TestDeliverWebhookSignsWithBothSecretsDuringARotation(t *testing.T) {
	p := hookProperty(t)
	lease := leaseAt(t, p)
	rcv := newReceiver(t)
	ep := endpoint(t, rcv.srv.URL, p, webhook.TypeInvoiceDue)
	old := ep.Secret
	fresh, err := webhook.NewSecret()
	require.NoError(t, err)
	expires := time.Now().Add(24 * time.Hour)
	_, err = db.New(pool).RotateWebhookSecret(ctx, db.RotateWebhookSecretParams{EndpointID: ep.EndpointID, Secret: fresh, Expires: &expires})
	require.NoError(t, err)
	a, _ := hooked(t)
	_, err = runOn[activities.WebhookResult](t, a, a.DeliverWebhook, queueOne(t, a, lease, 1))
	require.NoError(t, err)
	require.Len(t, strings.Fields(rcv.got[0].Header.Get("webhook-signature")), 2)
	require.Equal(t, 1, verify([]string{old}, rcv.got[0].Header, rcv.bodies[0]), "the old secret still verifies")
	require.Equal(t, 1, verify([]string{fresh}, rcv.got[0].Header, rcv.bodies[0]), "and the new one")

	past := time.Now().Add(-time.Second)
	_, err = pool.Exec(ctx, "UPDATE webhook_endpoints SET previous_secret_expires_at = $2 WHERE endpoint_id = $1", ep.EndpointID, past)
	require.NoError(t, err)
	_, err = runOn[activities.WebhookResult](t, a, a.DeliverWebhook, queueOne(t, a, lease, 2))
	require.NoError(t, err)
	require.Len(t, strings.Fields(rcv.got[1].Header.Get("webhook-signature")), 1)
	require.Equal(t, 0, verify([]string{old}, rcv.got[1].Header, rcv.bodies[1]))
	require.Equal(t, 1, verify([]string{fresh}, rcv.got[1].Header, rcv.bodies[1]))
}

// An endpoint never gets, and nothing is signed for, an event of a
// property outside its scope, nor one after it was disabled.
func TestDeliverWebhookNeverLeavesTheScope(t *testing.T) {
	p := hookProperty(t)
	lease := leaseAt(t, p)
	rcv := newReceiver(t)
	mine := endpoint(t, rcv.srv.URL, p, webhook.TypeInvoiceDue)
	elsewhere := endpoint(t, rcv.srv.URL, hookProperty(t), webhook.TypeInvoiceDue)
	a, _ := hooked(t)
	id := queueOne(t, a, lease, 7)
	require.Equal(t, 0, count(t, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1", elsewhere.EndpointID))
	// A delivery to an endpoint of another property (written by hand: no
	// activity would) is skipped, unsent.
	var stray int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, lease_id)
		SELECT $1, event_id, lease_id FROM webhook_deliveries WHERE delivery_id = $2 RETURNING delivery_id`, elsewhere.EndpointID, id).Scan(&stray))
	res, err := runOn[activities.WebhookResult](t, a, a.DeliverWebhook, stray)
	require.NoError(t, err)
	require.Equal(t, activities.WebhookSkipped, res.Status)
	require.Contains(t, res.Reason, "out of scope")
	require.False(t, res.EndpointClosed)

	_, err = db.New(pool).DisableWebhookEndpoint(ctx, db.DisableWebhookEndpointParams{EndpointID: mine.EndpointID, DisabledReason: "test"})
	require.NoError(t, err)
	res, err = runOn[activities.WebhookResult](t, a, a.DeliverWebhook, id)
	require.NoError(t, err)
	require.Equal(t, activities.WebhookResult{Status: activities.WebhookSkipped, Reason: "the endpoint is disabled", EndpointClosed: true}, res)
	require.Empty(t, rcv.got)
	require.Equal(t, 0, count(t, "SELECT count(*) FROM webhook_attempts WHERE delivery_id IN ($1, $2)", id, stray))
}

// Giving up on a delivery fails it, disables its endpoint, skips the rest
// of the endpoint's queue, and returns one email per disabling, to the
// endpoint's --notify address or else the property's manager.
func TestGiveUpWebhookDisablesAndTellsTheOperator(t *testing.T) {
	p := hookProperty(t)
	_, err := pool.Exec(ctx, "UPDATE properties SET manager_email = 'manager@maple.example' WHERE property_id = $1", p)
	require.NoError(t, err)
	lease, other := leaseAt(t, p), leaseAt(t, p)
	ep := endpoint(t, "http://127.0.0.1:1/hooks", p, webhook.TypeInvoiceDue)
	a, _ := hooked(t)
	id := queueOne(t, a, lease, 1)
	later := queueOne(t, a, other, 2)
	in := activities.WebhookGiveUpInput{DeliveryID: id, EndpointID: ep.EndpointID, LeaseID: lease, Reason: "webhook endpoint: connection refused"}
	out, err := runOn[activities.WebhookGiveUp](t, a, a.GiveUpWebhook, in)
	require.NoError(t, err)
	require.NotNil(t, out.Email)
	require.Equal(t, "manager@maple.example", out.Email.To)
	require.Equal(t, fmt.Sprintf("webhook-%d/disabled-1", ep.EndpointID), out.Email.Key)
	require.Equal(t, templates.KindWebhookDisabled, out.Email.Kind)
	require.Equal(t, "connection refused", out.Email.Data.Webhook.Reason[len(out.Email.Data.Webhook.Reason)-18:])
	again, err := runOn[activities.WebhookGiveUp](t, a, a.GiveUpWebhook, in)
	require.NoError(t, err)
	require.Equal(t, out.Email.Key, again.Email.Key, "a retry tells the same disabling")
	require.Equal(t, 1, count(t, "SELECT count(*) FROM webhook_deliveries WHERE delivery_id = $1 AND status = 'failed'", id))
	require.Equal(t, 1, count(t, "SELECT count(*) FROM webhook_deliveries WHERE delivery_id = $1 AND status = 'skipped'", later))
	require.Equal(t, 1, count(t, `SELECT count(*) FROM webhook_endpoints WHERE endpoint_id = $1 AND NOT enabled
		AND disabled_at IS NOT NULL AND disabled_count = 1 AND disabled_reason LIKE '%connection refused'`, ep.EndpointID))
	// Events that follow are recorded, skipped, and wake nothing.
	a2, d := hooked(t)
	skipped := queueOne(t, a2, lease, 3)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM webhook_deliveries WHERE delivery_id = $1 AND status = 'skipped'", skipped))
	require.Empty(t, d.queues)
	// The email goes out through the outbox.
	_, err = runOn[activities.EmailResult](t, a, a.SendEmail, *out.Email)
	require.NoError(t, err)
	require.Equal(t, 1, count(t, "SELECT count(*) FROM email_outbox WHERE idempotency_key = $1 AND sent_at IS NOT NULL AND kind = 'webhook_disabled'", out.Email.Key))

	// With a --notify address, it goes there.
	ep2 := endpoint(t, "http://127.0.0.1:1/hooks", p, webhook.TypeInvoiceDue)
	_, err = pool.Exec(ctx, "UPDATE webhook_endpoints SET notify_email = 'ops@pms.example' WHERE endpoint_id = $1", ep2.EndpointID)
	require.NoError(t, err)
	third := leaseAt(t, p)
	queueOne(t, a, third, 4)
	var d2 int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT delivery_id FROM webhook_deliveries WHERE endpoint_id = $1", ep2.EndpointID).Scan(&d2))
	out, err = runOn[activities.WebhookGiveUp](t, a, a.GiveUpWebhook, activities.WebhookGiveUpInput{DeliveryID: d2, EndpointID: ep2.EndpointID, LeaseID: third, Reason: "gone"})
	require.NoError(t, err)
	require.Equal(t, "ops@pms.example", out.Email.To)
}

// The queue is read in the facts' order; a disabled endpoint's queue is
// skipped and closed.
func TestPendingWebhookDeliveriesInOrder(t *testing.T) {
	p := hookProperty(t)
	lease := leaseAt(t, p)
	ep := endpoint(t, "https://pms.example/hooks", p, webhook.TypeInvoiceDue, webhook.TypeStageChanged)
	a, _ := hooked(t)
	first := queueOne(t, a, lease, 1)
	_, err := runOn[struct{}](t, a, a.SaveLeaseStage, activities.StageInput{LeaseID: lease, Stage: "held"})
	require.NoError(t, err)
	third := queueOne(t, a, lease, 3)
	q, err := runOn[activities.PendingWebhooks](t, a, a.PendingWebhookDeliveries, activities.WebhookQueueInput{EndpointID: ep.EndpointID, LeaseID: lease})
	require.NoError(t, err)
	require.Len(t, q.Deliveries, 3)
	require.Equal(t, first, q.Deliveries[0].DeliveryID)
	require.Equal(t, webhook.TypeStageChanged, q.Deliveries[1].Type)
	require.Equal(t, third, q.Deliveries[2].DeliveryID)
	require.False(t, q.Closed)

	_, err = db.New(pool).RemoveWebhookEndpoint(ctx, ep.EndpointID)
	require.NoError(t, err)
	q, err = runOn[activities.PendingWebhooks](t, a, a.PendingWebhookDeliveries, activities.WebhookQueueInput{EndpointID: ep.EndpointID, LeaseID: lease})
	require.NoError(t, err)
	require.True(t, q.Closed)
	require.Equal(t, 3, count(t, "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'skipped' AND last_error = 'the endpoint was removed'", ep.EndpointID))
}
