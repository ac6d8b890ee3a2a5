package e2e

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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"

	"github.com/depositflow/depositflow/internal/mailsink"
)

// Webhooks end to end (issue #18, part 2): a PMS's endpoint, a real HTTP
// server in this process, subscribed with `deposits webhook add`, gets the
// events of leases run by the real worker. The test checks each request's
// signature itself, from the Standard Webhooks specification (not with
// depositflow's signer).

// hookRequest is one request the receiver got.
type hookRequest struct {
	at      time.Time
	url     string // path and query
	id, ts  string
	sigs    []string
	body    []byte
	event   hookEvent
	answer  int
	headers http.Header
}

type hookEvent struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// fact names what an event reports, from its data: the same fact must
// always come with the same webhook-id.
func (e hookEvent) fact() string {
	var d map[string]any
	_ = json.Unmarshal(e.Data, &d)
	switch e.Type {
	case "refund.due":
		return fmt.Sprintf("refund %v", d["refund_id"])
	case "invoice.due":
		return fmt.Sprintf("invoice %v", d["invoice_id"])
	case "stage.changed":
		return fmt.Sprintf("%v %v>%v", d["lease_id"], d["previous_stage"], d["stage"])
	}
	return string(e.Data)
}

// hookReceiver is the PMS: it records every request and answers with the
// status its answer function gives (200 when nil).
type hookReceiver struct {
	mu     sync.Mutex
	got    []hookRequest
	answer func(r hookRequest, n int) int // n: requests of the same webhook-id so far, this one included
	srv    *httptest.Server
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r := hookRequest{at: time.Now(), url: req.URL.RequestURI(), id: req.Header.Get("webhook-id"), ts: req.Header.Get("webhook-timestamp"),
			sigs: strings.Fields(req.Header.Get("webhook-signature")), body: body, headers: req.Header.Clone()}
		_ = json.Unmarshal(body, &r.event)
		h.mu.Lock()
		n := 1
		for _, g := range h.got {
			if g.id == r.id {
				n++
			}
		}
		r.answer = 200
		if h.answer != nil {
			r.answer = h.answer(r, n)
		}
		h.got = append(h.got, r)
		h.mu.Unlock()
		w.WriteHeader(r.answer)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

// delivered is every request answered 2xx, in order.
func (h *hookReceiver) delivered() []hookRequest {
	var out []hookRequest
	for _, r := range h.requests() {
		if r.answer < 300 {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until a request answered 2xx satisfies ok, and returns it.
func (h *hookReceiver) waitFor(t *testing.T, what string, within time.Duration, ok func(hookRequest) bool) hookRequest {
	t.Helper()
	var found hookRequest
	require.Eventually(t, func() bool {
		for _, r := range h.delivered() {
			if ok(r) {
				found = r
				return true
			}
		}
		return false
	}, within, 20*time.Millisecond, "the receiver never got %s", what)
	return found
}

// verifySignatures counts the request's v1 signatures that the secret
// made, as the Standard Webhooks spec says a receiver checks them:
// base64(HMAC-SHA256(base64-decoded key, id + "." + timestamp + "." + body)),
// and refuses a timestamp more than five minutes off.
func verifySignatures(t *testing.T, secret string, r hookRequest) int {
	t.Helper()
	ts, err := strconv.ParseInt(r.ts, 10, 64)
	require.NoError(t, err)
	require.InDelta(t, float64(time.Now().Unix()), float64(ts), 300, "webhook-timestamp is the attempt's time")
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(r.id + "." + r.ts + "." + string(r.body)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	n := 0
	for _, s := range r.sigs {
		if v, sig, ok := strings.Cut(s, ","); ok && v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			n++
		}
	}
	return n
}

// addHook subscribes the receiver and returns the endpoint's ID and secret.
func addHook(t *testing.T, url string, args ...string) (int64, string) {
	t.Helper()
	var out struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	require.NoError(t, json.Unmarshal([]byte(must(t, append([]string{"webhook", "add", url, "-o", "json"}, args...)...)), &out))
	require.True(t, strings.HasPrefix(out.Secret, "whsec_"))
	t.Cleanup(func() { deposits("webhook", "remove", strconv.FormatInt(out.ID, 10)) })
	return out.ID, out.Secret
}

// requireOneIDPerFact: the same fact always came with the same webhook-id,
// and two facts never shared one.
func requireOneIDPerFact(t *testing.T, reqs []hookRequest) {
	t.Helper()
	idOf, factOf := map[string]string{}, map[string]string{}
	for _, r := range reqs {
		f := r.event.Type + " " + r.event.fact()
		if id, ok := idOf[f]; ok {
			require.Equal(t, id, r.id, "%s came with two webhook-ids", f)
		}
		if other, ok := factOf[r.id]; ok {
			require.Equal(t, other, f, "webhook-id %s names two facts", r.id)
		}
		idOf[f], factOf[r.id] = r.id, f
	}
}

type delivery struct {
	ID         int64  `json:"id"`
	LeaseID    string `json:"lease_id"`
	EventID    string `json:"event_id"`
	Type       string `json:"type"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	AttemptLog []struct {
		StatusCode *int   `json:"status_code"`
		Error      string `json:"error"`
	} `json:"attempt_log"`
}

func deliveries(t *testing.T, args ...string) []delivery {
	t.Helper()
	var out []delivery
	require.NoError(t, json.Unmarshal([]byte(must(t, append([]string{"webhook", "deliveries", "-o", "json"}, args...)...)), &out))
	return out
}

// A lease's refund reaches its PMS within a second of the settlement,
// signed with the endpoint's secret; answered 500 twice, it comes again
// after 1 s and 2 s under the same webhook-id with the same body, and the
// lease's next event waits for it. No fact ever comes under two
// webhook-ids. A wake-up that was lost is made up by reconcile.
func TestWebhookRefundDueReachesThePMS(t *testing.T) {
	const property, lease = "hooks-refund", "L-e2e-hook-refund"
	rcv := newHookReceiver(t)
	rcv.answer = func(r hookRequest, n int) int {
		if r.event.Type == "refund.due" && n <= 2 {
			return 500
		}
		return 200
	}
	id, secret := addHook(t, rcv.srv.URL+"/hooks/deposits?token=pms-own-token", "--events", "refund.due,stage.changed",
		"--property", property, "--notify", "ops@pms.example")
	// Refused: a URL with credentials, another scheme, an unknown event type.
	refusedWith(t, "credentials", "webhook", "add", "https://u:pw@pms.example/x", "--events", "refund.due", "--all-properties")
	refusedWith(t, "http:// or https://", "webhook", "add", "ftp://pms.example/x", "--events", "refund.due", "--all-properties")
	refusedWith(t, "unknown event type", "webhook", "add", "https://pms.example/x", "--events", "refund.paid", "--all-properties")
	list := must(t, "webhook", "list")
	require.Contains(t, list, "/hooks/deposits?...")
	require.NotContains(t, list, "pms-own-token")
	require.NotContains(t, list, secret)

	must(t, "lease", "start", lease, "--property", property, "--unit", "1", "--amount", "500",
		"--tenant-email", "hook@example.com", "--assess-for", "1s", "--release-after", "1s")
	must(t, "payment", "record", lease, "--amount", "500", "--ref", "H-1")
	must(t, "moveout", lease, "--date", now())
	waitClosed(t, lease)

	refund := rcv.waitFor(t, "refund.due", 30*time.Second, func(r hookRequest) bool { return r.event.Type == "refund.due" })
	var settledAt time.Time
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT created_at FROM settlements WHERE lease_id = $1", lease).Scan(&settledAt))
	var attempts []hookRequest
	for _, r := range rcv.requests() {
		if r.id == refund.id {
			attempts = append(attempts, r)
		}
	}
	require.Len(t, attempts, 3, "two 500s, then delivered")
	first := attempts[0].at.Sub(settledAt)
	t.Logf("refund.due: first attempt %s after the settlement's commit, delivered %s after", first, attempts[2].at.Sub(settledAt))
	require.Less(t, first, time.Second, "a refund that is due reaches the PMS in under a second")
	for i, r := range attempts {
		require.Equal(t, 1, verifySignatures(t, secret, r), "attempt %d is signed with the endpoint's secret", i+1)
		require.Equal(t, string(attempts[0].body), string(r.body), "a retry sends the same event")
		require.Equal(t, []int{500, 500, 200}[i], r.answer)
		require.Equal(t, "application/json", r.headers.Get("Content-Type"))
	}
	require.GreaterOrEqual(t, attempts[1].at.Sub(attempts[0].at), 900*time.Millisecond, "the first retry after about 1 s")
	require.GreaterOrEqual(t, attempts[2].at.Sub(attempts[1].at), 1800*time.Millisecond, "then about 2 s")
	var data struct {
		LeaseID        string `json:"lease_id"`
		PropertyID     string `json:"property_id"`
		AmountInCents  int64  `json:"amount_in_cents"`
		Currency       string `json:"currency"`
		RecipientEmail string `json:"recipient_email"`
	}
	require.NoError(t, json.Unmarshal(refund.event.Data, &data))
	require.Equal(t, lease, data.LeaseID)
	require.Equal(t, property, data.PropertyID)
	require.EqualValues(t, 50000, data.AmountInCents)
	require.Equal(t, "USD", data.Currency)
	require.Equal(t, "hook@example.com", data.RecipientEmail)

	// The stages, in the lease's order, the closing one after the refund
	// that was retried: a lease's events never overtake each other.
	closed := rcv.waitFor(t, "stage.changed to closed", 20*time.Second, func(r hookRequest) bool {
		return r.event.Type == "stage.changed" && strings.Contains(string(r.event.Data), `"stage":"closed"`)
	})
	require.True(t, closed.at.After(attempts[2].at), "the close waited for the refund")
	var order []string
	for _, r := range rcv.delivered() {
		var d struct{ Stage string }
		_ = json.Unmarshal(r.event.Data, &d)
		order = append(order, strings.TrimSuffix(r.event.Type+":"+d.Stage, ":"))
	}
	require.Equal(t, []string{"stage.changed:held", "stage.changed:assessing", "stage.changed:release_pending", "refund.due", "stage.changed:closed"}, order)
	for _, r := range rcv.delivered() {
		require.Equal(t, 1, verifySignatures(t, secret, r))
		require.Equal(t, "/hooks/deposits?token=pms-own-token", r.url, "the URL as given, query and all")
	}
	requireOneIDPerFact(t, rcv.requests())

	// The log: each delivery, its attempts and answers.
	ds := deliveries(t, "--lease", lease)
	require.Len(t, ds, 5)
	for _, d := range ds {
		require.Equal(t, "delivered", d.Status, "%+v", d)
		if d.Type == "refund.due" {
			require.Equal(t, refund.id, d.EventID)
			require.Equal(t, 3, d.Attempts)
			require.Len(t, d.AttemptLog, 3)
			require.Equal(t, 500, *d.AttemptLog[0].StatusCode)
			require.Equal(t, "answered 500 Internal Server Error", d.AttemptLog[1].Error)
			require.Equal(t, 200, *d.AttemptLog[2].StatusCode)
		}
	}
	out := must(t, "webhook", "deliveries", "--endpoint", strconv.FormatInt(id, 10), "--attempts")
	require.Contains(t, out, "answered 500 Internal Server Error")
	require.Contains(t, out, "attempt 3")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE action = 'webhook.add' AND accepted AND request->>'url' LIKE '%/hooks/deposits?...'"))
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM audit_log WHERE request::text LIKE '%pms-own-token%' OR request::text LIKE '%whsec_%'"))

	// A wake-up lost after the commit (here: an event written by hand, as
	// if the worker died right after its transaction) is delivered by the
	// next reconcile pass.
	_, err := pool.Exec(context.Background(), `
		WITH ev AS (INSERT INTO webhook_events (event_id, type, lease_id, property_id, fact, data, created_at)
		            VALUES ('evt_lost_wakeup', 'stage.changed', $1, $2, 'lost', '{"lease_id":"`+lease+`","stage":"closed","previous_stage":"lost"}', now() - interval '2 minutes')
		            RETURNING event_id)
		INSERT INTO webhook_deliveries (endpoint_id, event_id, lease_id, created_at) SELECT $3, event_id, $1, now() - interval '2 minutes' FROM ev`,
		lease, property, id)
	require.NoError(t, err)
	var rep struct {
		WebhooksWoken int `json:"webhooks_woken"`
	}
	require.NoError(t, json.Unmarshal([]byte(must(t, "reconcile", "-o", "json")), &rep))
	require.GreaterOrEqual(t, rep.WebhooksWoken, 1)
	lost := rcv.waitFor(t, "the event whose wake-up was lost", 20*time.Second, func(r hookRequest) bool { return r.id == "evt_lost_wakeup" })
	require.Equal(t, 1, verifySignatures(t, secret, lost))
	requireOneIDPerFact(t, rcv.requests())
}

// While a rotated secret overlaps, every event carries two signatures, one
// valid with the old secret and one with the new; --overlap 0 leaves only
// the newest.
func TestWebhookSecretRotation(t *testing.T) {
	const property = "hooks-rotate"
	rcv := newHookReceiver(t)
	id, old := addHook(t, rcv.srv.URL, "--events", "stage.changed", "--property", property)
	ids := strconv.FormatInt(id, 10)
	fresh := strings.TrimSpace(must(t, "webhook", "rotate-secret", ids))
	require.True(t, strings.HasPrefix(fresh, "whsec_"))
	require.NotEqual(t, old, fresh)
	require.Contains(t, must(t, "webhook", "list"), "old secret valid until")

	held := func(lease string) hookRequest {
		must(t, "lease", "start", lease, "--property", property, "--unit", "1", "--amount", "100", "--tenant-email", "rot@example.com")
		must(t, "payment", "record", lease, "--amount", "100", "--ref", "R-1")
		return rcv.waitFor(t, lease+" held", 20*time.Second, func(r hookRequest) bool { return strings.Contains(string(r.event.Data), lease) })
	}
	r := held("L-e2e-hook-rotate-1")
	require.Len(t, r.sigs, 2, "signed with both secrets during the overlap")
	require.Equal(t, 1, verifySignatures(t, old, r), "the old secret still verifies")
	require.Equal(t, 1, verifySignatures(t, fresh, r), "the new one too")

	newest := strings.TrimSpace(must(t, "webhook", "rotate-secret", ids, "--overlap", "0s"))
	r = held("L-e2e-hook-rotate-2")
	require.Len(t, r.sigs, 1)
	require.Equal(t, 1, verifySignatures(t, newest, r))
	require.Equal(t, 0, verifySignatures(t, fresh, r), "the secret rotated out with --overlap 0 signs no more")
	require.Equal(t, 0, verifySignatures(t, old, r))
	require.EqualValues(t, 2, count(t, "SELECT count(*) FROM audit_log WHERE action = 'webhook.rotate-secret' AND accepted AND request->>'id' = $1", ids))
}

// An endpoint that keeps failing is disabled when its retries run out (the
// tests' worker gives up after webhookGiveUp, not 3 days), its operator is
// emailed, and the lease's later events are recorded as skipped; enabled
// again with --redeliver, it gets what failed and what was skipped, in
// order, under the same webhook-ids.
func TestWebhookDeadEndpointIsDisabled(t *testing.T) {
	const property, lease = "hooks-dead", "L-e2e-hook-dead"
	rcv := newHookReceiver(t)
	var up sync.Mutex
	alive := false
	rcv.answer = func(hookRequest, int) int {
		up.Lock()
		defer up.Unlock()
		if alive {
			return 204
		}
		return 503
	}
	id, secret := addHook(t, rcv.srv.URL, "--events", "stage.changed,refund.due", "--property", property, "--notify", "ops@pms.example")
	ids := strconv.FormatInt(id, 10)
	must(t, "lease", "start", lease, "--property", property, "--unit", "1", "--amount", "300",
		"--tenant-email", "dead@example.com", "--assess-for", "1s", "--release-after", "1s")
	must(t, "payment", "record", lease, "--amount", "300", "--ref", "D-1")
	must(t, "moveout", lease, "--date", now())
	waitClosed(t, lease) // the money never waits for webhooks

	var list []struct {
		ID             int64  `json:"id"`
		Enabled        bool   `json:"enabled"`
		DisabledReason string `json:"disabled_reason"`
	}
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal([]byte(must(t, "webhook", "list", "-o", "json")), &list))
		for _, e := range list {
			if e.ID == id {
				return !e.Enabled
			}
		}
		return false
	}, webhookGiveUp+30*time.Second, 250*time.Millisecond, "the endpoint was never disabled")
	for _, e := range list {
		if e.ID == id {
			require.Contains(t, e.DisabledReason, "answered 503 Service Unavailable")
		}
	}
	reqs := rcv.requests()
	require.GreaterOrEqual(t, len(reqs), 4, "retried until the give-up time")
	for _, r := range reqs {
		require.Equal(t, reqs[0].id, r.id, "nothing after the first event was sent: the lease's order holds")
		require.Equal(t, 1, verifySignatures(t, secret, r))
	}

	// The operator's email, through the outbox and the SMTP server.
	var mail mailsink.Parsed
	require.Eventually(t, func() bool {
		for _, m := range sink.Messages() {
			p, err := mailsink.Parse(m.Raw)
			require.NoError(t, err)
			if strings.Contains(p.Header.Get("To"), "ops@pms.example") && strings.Contains(p.Subject, fmt.Sprintf("Webhook endpoint %d disabled", id)) {
				mail = p
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "the operator was never emailed")
	// The delivery workflow ended after giving up: its history is replayed
	// by workflows' replay test (make histories records it).
	hookWorkflow := fmt.Sprintf("webhook-%d-%s", id, lease)
	require.Eventually(t, func() bool {
		d, err := temporal.DescribeWorkflowExecution(context.Background(), hookWorkflow, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED
	}, 20*time.Second, 100*time.Millisecond)
	recordWorkflowHistory(t, hookWorkflow, "webhook_retries_give_up_disable_email")
	require.Contains(t, mail.Text, "deposits webhook enable "+ids+" --redeliver")
	require.Contains(t, mail.Text, "answered 503")
	require.NotContains(t, mail.Text, secret)

	ds := deliveries(t, "--endpoint", ids)
	statuses := map[string]int{}
	for _, d := range ds {
		statuses[d.Status]++
	}
	require.Equal(t, 1, statuses["failed"], "%+v", ds)
	require.Equal(t, len(ds)-1, statuses["skipped"], "the rest skipped: %+v", ds)
	require.Len(t, ds, 5) // held, assessing, release_pending, refund.due, closed

	// Back up: enabled with --redeliver, it gets them all, in order.
	up.Lock()
	alive = true
	up.Unlock()
	require.Contains(t, must(t, "webhook", "enable", ids, "--redeliver"), fmt.Sprintf("%d deliveries queued again", len(ds)))
	require.Eventually(t, func() bool { return len(rcv.delivered()) == len(ds) }, 30*time.Second, 100*time.Millisecond)
	got := rcv.delivered()
	require.Equal(t, reqs[0].id, got[0].id, "the event that failed first, under its own webhook-id")
	var order []string
	for _, r := range got {
		var d struct{ Stage string }
		_ = json.Unmarshal(r.event.Data, &d)
		order = append(order, strings.TrimSuffix(r.event.Type+":"+d.Stage, ":"))
	}
	require.Equal(t, []string{"stage.changed:held", "stage.changed:assessing", "stage.changed:release_pending", "refund.due", "stage.changed:closed"}, order)
	requireOneIDPerFact(t, rcv.requests())
	for _, d := range deliveries(t, "--endpoint", ids) {
		require.Equal(t, "delivered", d.Status)
	}
}
