package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
)

// Webhooks out. Events are written by the activity that commits the fact
// they report, in its transaction (activities/webhooks.go). Each endpoint
// has one delivery workflow per lease, WebhookDeliveryWorkflow, which
// delivers that lease's events to that endpoint strictly in the order of
// the facts: an event is not sent before the one before it was delivered
// (or given up on). Leases are independent of each other, so a slow
// endpoint holds up only the lease whose event it has not taken.
//
// Why a workflow per (endpoint, lease) and not per event or per endpoint:
// per event gives no order; per endpoint serialises every lease behind the
// slowest delivery and grows one history forever. Per lease and endpoint
// the order is the lease's, the history is short (a lease has a dozen
// events), and the workflow ends when its queue is empty for a minute.
//
// The queue is the database's: a signal only wakes the workflow, which
// reads its pending deliveries in the facts' order (a local activity), as
// a new run does first. So a wake-up sent twice (the activity and
// reconcile) delivers nothing twice,
// one that is lost is made up by reconcile, and a restart, a continue-as-new
// or a new run after the last one ended starts from the truth.
//
// The lease's own workflow is not changed by any of this: no history of
// it records webhooks, and every recorded history replays as before.

// Names other programs use to talk to a delivery workflow.
const (
	WebhookWorkflowType = "WebhookDeliveryWorkflow"
	SignalWebhookEvent  = "webhook_event" // an event was queued (its ID): read the queue
)

// WebhookWorkflowID is the one delivery workflow of an endpoint and a lease.
func WebhookWorkflowID(endpointID int64, leaseID string) string {
	return fmt.Sprintf("webhook-%d-%s", endpointID, leaseID)
}

// Delivery defaults: retries from 1 s, doubling, at most an hour apart, for
// at most three days; the workflow ends a minute after its queue emptied,
// and continues as new after 200 deliveries (about 2,000 history events).
const (
	DefaultWebhookGiveUp  = 72 * time.Hour
	DefaultWebhookIdle    = time.Minute
	DefaultWebhookPerRun  = 200
	webhookFirstRetry     = time.Second
	webhookMaxRetryPeriod = time.Hour
)

// WebhookInput starts a delivery workflow. The zero values take the
// defaults; the tests shorten them.
type WebhookInput struct {
	EndpointID int64  `json:"endpoint_id"`
	LeaseID    string `json:"lease_id"`
	// GiveUpAfterSeconds is how long a delivery is retried before the
	// endpoint is given up on (DefaultWebhookGiveUp; the worker's
	// --webhook-give-up-after).
	GiveUpAfterSeconds int64 `json:"give_up_after_seconds,omitempty"`
	IdleSeconds        int64 `json:"idle_seconds,omitempty"`
	PerRun             int   `json:"per_run,omitempty"`
}

func (in WebhookInput) giveUp() time.Duration {
	if in.GiveUpAfterSeconds > 0 {
		return time.Duration(in.GiveUpAfterSeconds) * time.Second
	}
	return DefaultWebhookGiveUp
}

func (in WebhookInput) idle() time.Duration {
	if in.IdleSeconds > 0 {
		return time.Duration(in.IdleSeconds) * time.Second
	}
	return DefaultWebhookIdle
}

func (in WebhookInput) perRun() int {
	if in.PerRun > 0 {
		return in.PerRun
	}
	return DefaultWebhookPerRun
}

// WebhookReport is what a run did.
type WebhookReport struct {
	Delivered int    `json:"delivered"`
	Skipped   int    `json:"skipped"`
	GaveUp    string `json:"gave_up,omitempty"` // why the endpoint was disabled
}

// WebhookDeliveryWorkflow delivers one endpoint's events of one lease, in
// order: read the queue, deliver each (DeliverWebhook, retried with backoff
// until the give-up time), read again, and end after a quiet minute. When
// a delivery's retries run out (or the endpoint answers 410 Gone) the
// endpoint is disabled, its operator emailed, and the workflow ends: the
// endpoint's later events are recorded as skipped until an admin enables
// it again.
func WebhookDeliveryWorkflow(ctx workflow.Context, in WebhookInput) (WebhookReport, error) {
	var rep WebhookReport
	wake := workflow.GetSignalChannel(ctx, SignalWebhookEvent)
	drain := func() bool {
		woke := false
		for wake.ReceiveAsync(nil) {
			woke = true
		}
		return woke
	}
	queue := activities.WebhookQueueInput{EndpointID: in.EndpointID, LeaseID: in.LeaseID}
	delivered := 0
	for {
		// Every signal so far is answered by the read that follows.
		drain()
		var pending activities.PendingWebhooks
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.PendingWebhookDeliveries, queue).Get(ctx, &pending); err != nil {
			return rep, err
		}
		if pending.Closed {
			return rep, nil
		}
		if len(pending.Deliveries) == 0 {
			// Quiet: wait for the next event a while, then end. A signal
			// that arrives as the run completes fails the completion, so
			// the run goes on to read it; a new event after the end starts
			// a new run (WebhookStarter).
			if _, err := workflow.AwaitWithTimeout(ctx, in.idle(), func() bool { return wake.Len() > 0 }); err != nil {
				return rep, err
			}
			if wake.Len() == 0 {
				return rep, nil
			}
			continue
		}
	deliver:
		for _, d := range pending.Deliveries {
			res, err := deliver(ctx, in, d)
			if err != nil {
				if temporal.IsCanceledError(err) {
					return rep, err
				}
				// The retries ran out, or the endpoint said it is gone:
				// the endpoint is disabled and its operator told.
				rep.GaveUp = lastFailure(err)
				return rep, giveUp(ctx, in, d, rep.GaveUp)
			}
			switch res.Status {
			case activities.WebhookDelivered:
				rep.Delivered++
			case activities.WebhookSkipped:
				rep.Skipped++
			}
			delivered++
			if res.EndpointClosed {
				break deliver // the next read skips the rest and ends
			}
		}
		// A long-lived queue (an endpoint that is always a little slow on a
		// busy lease) starts a fresh history now and then; the queue itself
		// is in the database, so nothing needs carrying but the input.
		if delivered >= in.perRun() || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			drain()
			return rep, workflow.NewContinueAsNewError(ctx, WebhookWorkflowType, in)
		}
	}
}

// deliver makes a delivery's first attempt at once, in this worker: a
// local activity, which skips the trip through matching (a few hundred
// milliseconds under load, measured), so a refund that is due reaches the
// PMS in about the time of its POST. Retries are a regular activity, each
// attempt visible in the UI: 1 s after the first attempt, then doubling,
// at most an hour apart, until giveUp (72 hours) after the first attempt.
// Bad data (a delivery that does not exist, a secret that cannot sign) and
// a 410 Gone are not retried.
func deliver(ctx workflow.Context, in WebhookInput, d activities.PendingWebhook) (activities.WebhookResult, error) {
	start := workflow.Now(ctx)
	var res activities.WebhookResult
	first := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	err := workflow.ExecuteLocalActivity(first, a.DeliverWebhook, d.DeliveryID).Get(ctx, &res)
	var appErr *temporal.ApplicationError
	if err == nil || temporal.IsCanceledError(err) || (errors.As(err, &appErr) && appErr.NonRetryable()) {
		return res, err
	}
	if err := workflow.Sleep(ctx, webhookFirstRetry); err != nil {
		return res, err
	}
	left := in.giveUp() - workflow.Now(ctx).Sub(start)
	if left <= 0 {
		return res, err
	}
	retries := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// An attempt has 30 s; the POST itself 10 s.
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: left,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 2 * webhookFirstRetry, BackoffCoefficient: 2, MaximumInterval: webhookMaxRetryPeriod,
			NonRetryableErrorTypes: []string{activities.ErrBadData, activities.ErrWebhookGone},
		},
	})
	err = workflow.ExecuteActivity(retries, a.DeliverWebhook, d.DeliveryID).Get(ctx, &res)
	return res, err
}

// lastFailure words why a delivery was given up on: the endpoint's last
// answer rather than Temporal's timeout around it.
func lastFailure(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "no delivery within the retry period (" + timeout.TimeoutType().String() + ")"
	}
	return err.Error()
}

// giveUp disables the endpoint and emails its operator. The email is sent
// once per disabling, whichever of the endpoint's workflows gave up first;
// one refused for good is only logged.
func giveUp(ctx workflow.Context, in WebhookInput, d activities.PendingWebhook, why string) error {
	var out activities.WebhookGiveUp
	if err := workflow.ExecuteActivity(dbCtx(ctx), a.GiveUpWebhook, activities.WebhookGiveUpInput{
		DeliveryID: d.DeliveryID, EndpointID: in.EndpointID, LeaseID: in.LeaseID, Reason: why,
	}).Get(ctx, &out); err != nil {
		return err
	}
	workflow.GetLogger(ctx).Error("webhook endpoint disabled", "lease_id", in.LeaseID, "endpoint_id", in.EndpointID,
		"event_id", d.EventID, "reason", why)
	if out.Email == nil {
		return nil
	}
	if err := workflow.ExecuteActivity(mailCtx(ctx), a.SendEmail, *out.Email).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("webhook operator email not sent", "endpoint_id", in.EndpointID, "error", err)
	}
	return nil
}

// WebhookStarter wakes delivery workflows: it signals the running workflow
// of the endpoint and lease, or starts one. The activities call it right
// after they commit events; reconcile calls it for queues nobody is
// working on.
//
// Not SignalWithStart, which is one call but sends a new workflow's first
// task through matching: a refund on a lease whose queue was idle would
// wait there (about a second, measured on the dev server under load).
// A signal first (most events find their workflow at work), and when there
// is none, a start with eager execution: the server hands the first task
// back in the answer and this process's worker runs it at once. A new run
// reads its queue first, and it started after the commit, so it needs no
// signal.
type WebhookStarter struct {
	Client client.Client
	// GiveUpAfter is how long deliveries are retried (zero: 72 hours).
	GiveUpAfter time.Duration
}

// DispatchWebhooks wakes each queue once.
func (s WebhookStarter) DispatchWebhooks(ctx context.Context, queues []activities.WebhookQueue) error {
	var errs []error
	seen := map[string]bool{}
	for _, q := range queues {
		id := WebhookWorkflowID(q.EndpointID, q.LeaseID)
		if seen[id] {
			continue
		}
		seen[id] = true
		if err := s.wake(ctx, id, q); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func (s WebhookStarter) wake(ctx context.Context, id string, q activities.WebhookQueue) error {
	err := s.Client.SignalWorkflow(ctx, id, "", SignalWebhookEvent, q.EventID)
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) {
		return err
	}
	in := WebhookInput{EndpointID: q.EndpointID, LeaseID: q.LeaseID, GiveUpAfterSeconds: int64(s.GiveUpAfter / time.Second)}
	_, err = s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: TaskQueue, EnableEagerStart: true,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, WebhookWorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		// Started by another wake-up since the signal found none: after
		// this commit, so it reads this event; a signal costs nothing.
		return s.Client.SignalWorkflow(ctx, id, "", SignalWebhookEvent, q.EventID)
	}
	return err
}
