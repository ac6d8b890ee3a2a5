package workflows

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/templates"
)

// webhookHarness runs WebhookDeliveryWorkflow in Temporal's test
// environment (time skipping) over an in-memory queue that stands for the
// webhook tables: PendingWebhookDeliveries reads it, DeliverWebhook answers
// as the test's endpoint does.
type webhookHarness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	mu  sync.Mutex
	// The queue: deliveries in the facts' order, with their status.
	queue  []activities.PendingWebhook
	status map[int64]string
	closed bool // the endpoint is disabled or removed
	// answer says what the endpoint does with an attempt (nil: 2xx).
	answer   func(d int64, attempt int32) error
	attempts []attempt
	gaveUp   []activities.WebhookGiveUpInput
	emails   []activities.EmailInput
}

type attempt struct {
	delivery int64
	number   int32
	at       time.Time
}

func newWebhookHarness(t *testing.T) *webhookHarness {
	h := &webhookHarness{t: t, status: map[int64]string{}}
	var s testsuite.WorkflowTestSuite
	h.env = s.NewTestWorkflowEnvironment()
	h.env.SetStartTime(t0)
	acts := &activities.Activities{}
	h.env.RegisterActivity(acts)
	h.env.RegisterWorkflowWithOptions(WebhookDeliveryWorkflow, workflow.RegisterOptions{Name: WebhookWorkflowType})
	h.env.OnActivity(acts.PendingWebhookDeliveries, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.WebhookQueueInput) (activities.PendingWebhooks, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			out := activities.PendingWebhooks{Deliveries: []activities.PendingWebhook{}}
			for _, d := range h.queue {
				if h.status[d.DeliveryID] != activities.WebhookPending {
					continue
				}
				if h.closed {
					h.status[d.DeliveryID] = activities.WebhookSkipped
					continue
				}
				out.Deliveries = append(out.Deliveries, d)
			}
			out.Closed = h.closed
			return out, nil
		})
	h.env.OnActivity(acts.DeliverWebhook, mock.Anything, mock.Anything).Return(
		func(_ context.Context, id int64) (activities.WebhookResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.status[id] != activities.WebhookPending {
				return activities.WebhookResult{Status: h.status[id]}, nil
			}
			if h.closed {
				h.status[id] = activities.WebhookSkipped
				return activities.WebhookResult{Status: activities.WebhookSkipped, EndpointClosed: true}, nil
			}
			n := int32(1)
			for _, a := range h.attempts {
				if a.delivery == id {
					n++
				}
			}
			h.attempts = append(h.attempts, attempt{id, n, h.env.Now()})
			if h.answer != nil {
				if err := h.answer(id, n); err != nil {
					return activities.WebhookResult{}, err
				}
			}
			h.status[id] = activities.WebhookDelivered
			return activities.WebhookResult{Status: activities.WebhookDelivered, StatusCode: 204}, nil
		})
	h.env.OnActivity(acts.GiveUpWebhook, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.WebhookGiveUpInput) (activities.WebhookGiveUp, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.gaveUp = append(h.gaveUp, in)
			h.status[in.DeliveryID] = activities.WebhookFailed
			h.closed = true
			for id, st := range h.status {
				if st == activities.WebhookPending {
					h.status[id] = activities.WebhookSkipped
				}
			}
			return activities.WebhookGiveUp{Email: &activities.EmailInput{Key: "webhook-3/disabled-1", Kind: templates.KindWebhookDisabled,
				To: "ops@pms.example", Data: templates.Data{LeaseID: in.LeaseID}}}, nil
		})
	h.env.OnActivity(acts.SendEmail, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EmailInput) (activities.EmailResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.emails = append(h.emails, in)
			return activities.EmailResult{MessageID: in.Key}, nil
		})
	return h
}

// add queues deliveries (by ID, in order), as an activity's commit does.
func (h *webhookHarness) add(ids ...int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		h.queue = append(h.queue, activities.PendingWebhook{DeliveryID: id, EventID: "evt_" + strconv.FormatInt(id, 10), Type: "refund.due"})
		h.status[id] = activities.WebhookPending
	}
}

func (h *webhookHarness) delivered() []int64 {
	var out []int64
	for _, a := range h.attempts {
		if h.status[a.delivery] == activities.WebhookDelivered && (len(out) == 0 || out[len(out)-1] != a.delivery) {
			out = append(out, a.delivery)
		}
	}
	return out
}

func (h *webhookHarness) run(in WebhookInput) WebhookReport {
	h.env.ExecuteWorkflow(WebhookDeliveryWorkflow, in)
	require.True(h.t, h.env.IsWorkflowCompleted())
	var rep WebhookReport
	if h.env.GetWorkflowError() == nil {
		require.NoError(h.t, h.env.GetWorkflowResult(&rep))
	}
	return rep
}

// The queue goes out in the facts' order; events queued while the workflow
// waits wake it (the signal), events queued while it delivers are read
// with the next batch; a quiet minute ends it.
func TestWebhookDeliversInOrder(t *testing.T) {
	h := newWebhookHarness(t)
	h.add(1, 2, 3)
	h.env.RegisterDelayedCallback(func() {
		h.add(4, 5)
		h.env.SignalWorkflow(SignalWebhookEvent, "evt_4")
	}, 30*time.Second)
	// A wake-up for nothing new (reconcile, a signal sent twice) delivers nothing twice.
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(SignalWebhookEvent, "evt_5") }, 40*time.Second)
	rep := h.run(WebhookInput{EndpointID: 3, LeaseID: "L1"})
	require.NoError(t, h.env.GetWorkflowError())
	require.Equal(t, []int64{1, 2, 3, 4, 5}, h.delivered())
	require.Len(t, h.attempts, 5, "each delivered once")
	require.Equal(t, WebhookReport{Delivered: 5}, rep)
	require.Empty(t, h.gaveUp)
	// It ended a minute after its last wake-up.
	require.WithinDuration(t, t0.Add(40*time.Second+DefaultWebhookIdle), h.env.Now(), time.Second)
}

// A failed attempt (the first one local, the retries regular activities)
// is retried after 1 s, then 2 s, ... and the next event waits for it:
// order holds through retries.
func TestWebhookRetriesWithBackoffInOrder(t *testing.T) {
	h := newWebhookHarness(t)
	h.add(1, 2)
	h.answer = func(d int64, n int32) error {
		if d == 1 && n <= 2 {
			return temporal.NewApplicationError("webhook endpoint 3 (http://pms.example/hooks): answered 500 Internal Server Error", activities.ErrWebhookFailed)
		}
		return nil
	}
	rep := h.run(WebhookInput{EndpointID: 3, LeaseID: "L1"})
	require.NoError(t, h.env.GetWorkflowError())
	require.Equal(t, WebhookReport{Delivered: 2}, rep)
	require.Equal(t, []int64{1, 2}, h.delivered())
	require.Len(t, h.attempts, 4)
	require.Equal(t, []int32{1, 2, 3, 1}, []int32{h.attempts[0].number, h.attempts[1].number, h.attempts[2].number, h.attempts[3].number})
	require.Equal(t, int64(2), h.attempts[3].delivery)
	gap1, gap2 := h.attempts[1].at.Sub(h.attempts[0].at), h.attempts[2].at.Sub(h.attempts[1].at)
	require.InDelta(t, time.Second.Seconds(), gap1.Seconds(), 0.5, "first retry after about 1 s")
	require.InDelta(t, 2*time.Second.Seconds(), gap2.Seconds(), 0.5, "then 2 s")
}

// An endpoint that never answers 2xx is given up on after the give-up
// time: the delivery fails, the endpoint is disabled, its operator emailed
// once, and the rest of the queue is not sent.
func TestWebhookGivesUpDisablesAndEmails(t *testing.T) {
	h := newWebhookHarness(t)
	h.add(1, 2)
	h.answer = func(int64, int32) error {
		return temporal.NewApplicationError("webhook endpoint 3 (http://pms.example/hooks): answered 503 Service Unavailable", activities.ErrWebhookFailed)
	}
	rep := h.run(WebhookInput{EndpointID: 3, LeaseID: "L1", GiveUpAfterSeconds: 3600})
	require.NoError(t, h.env.GetWorkflowError())
	require.Contains(t, rep.GaveUp, "answered 503")
	require.Len(t, h.gaveUp, 1)
	require.Equal(t, activities.WebhookGiveUpInput{DeliveryID: 1, EndpointID: 3, LeaseID: "L1", Reason: rep.GaveUp}, h.gaveUp[0])
	require.Len(t, h.emails, 1)
	require.Equal(t, "ops@pms.example", h.emails[0].To)
	require.Equal(t, templates.KindWebhookDisabled, h.emails[0].Kind)
	for _, a := range h.attempts {
		require.Equal(t, int64(1), a.delivery, "nothing after the event given up on is sent")
	}
	// Retries over the hour: 1 s doubling, at most an hour apart.
	require.Greater(t, len(h.attempts), 8)
	last := h.attempts[len(h.attempts)-1].at
	require.True(t, !last.After(t0.Add(time.Hour)), "no attempt after the give-up time: %s", last)
	require.Equal(t, activities.WebhookSkipped, h.status[2])
}

// A 410 Gone is not retried: the endpoint is given up on at once.
func TestWebhookGoneIsNotRetried(t *testing.T) {
	h := newWebhookHarness(t)
	h.add(1)
	h.answer = func(int64, int32) error {
		return temporal.NewNonRetryableApplicationError("answered 410 Gone", activities.ErrWebhookGone, nil)
	}
	rep := h.run(WebhookInput{EndpointID: 3, LeaseID: "L1"})
	require.NoError(t, h.env.GetWorkflowError())
	require.Len(t, h.attempts, 1)
	require.Equal(t, "answered 410 Gone", rep.GaveUp)
	require.Len(t, h.emails, 1)
}

// A disabled (or removed) endpoint gets nothing: its queue is recorded as
// skipped and the workflow ends; one disabled while its queue is being
// delivered stops there.
func TestWebhookSkipsWhenDisabled(t *testing.T) {
	h := newWebhookHarness(t)
	h.add(1, 2)
	h.closed = true
	rep := h.run(WebhookInput{EndpointID: 3, LeaseID: "L1"})
	require.NoError(t, h.env.GetWorkflowError())
	require.Empty(t, h.attempts)
	require.Equal(t, WebhookReport{}, rep)
	require.Equal(t, activities.WebhookSkipped, h.status[1])
	require.Equal(t, activities.WebhookSkipped, h.status[2])

	h = newWebhookHarness(t)
	h.add(1, 2, 3)
	h.answer = func(d int64, _ int32) error {
		if d == 1 {
			h.closed = true // disabled by an admin (or another lease's delivery giving up) meanwhile
		}
		return nil
	}
	rep = h.run(WebhookInput{EndpointID: 3, LeaseID: "L1"})
	require.NoError(t, h.env.GetWorkflowError())
	require.Equal(t, []int64{1}, h.delivered())
	require.Equal(t, 1, rep.Delivered)
	require.Equal(t, activities.WebhookSkipped, h.status[2])
	require.Equal(t, activities.WebhookSkipped, h.status[3])
	require.Empty(t, h.gaveUp)
}

// A long queue continues as new after PerRun deliveries; the next run
// reads the rest from the database.
func TestWebhookContinuesAsNew(t *testing.T) {
	h := newWebhookHarness(t)
	h.add(1, 2, 3)
	in := WebhookInput{EndpointID: 3, LeaseID: "L1", PerRun: 2}
	h.env.ExecuteWorkflow(WebhookDeliveryWorkflow, in)
	require.True(t, h.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(h.env.GetWorkflowError(), &can), "%v", h.env.GetWorkflowError())
	require.Equal(t, WebhookWorkflowType, can.WorkflowType.Name)
	require.Equal(t, []int64{1, 2, 3}, h.delivered(), "the batch read is finished first")
}
