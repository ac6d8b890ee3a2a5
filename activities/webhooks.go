package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/webhook"
	"github.com/depositflow/depositflow/templates"
)

// Webhooks, the outbox way. The activity that commits a fact writes the
// event reporting it (webhook_events) and one delivery per subscribed
// endpoint (webhook_deliveries) in the same transaction: a refund row
// without its refund.due event cannot exist, nor the other way round. The
// event's ID comes from the fact (webhook.EventID), so a retried activity
// writes no second event and the receiver sees the same webhook-id for the
// same fact forever.
//
// Once committed, the activity wakes each endpoint's delivery workflow for
// the lease (WebhookDispatcher: a signal, or an eager start), which delivers
// the endpoint's queue for that lease in order, one DeliverWebhook activity
// per event. A wake-up that is lost (Temporal away at that moment, the
// worker killed right after the commit) is made up by reconcile, which
// wakes every queue whose deliveries nobody attempted. Waking is never
// allowed to fail the fact's own activity: the money does not wait for
// webhooks.

// WebhookDispatcher wakes the delivery workflows of queues that have new
// events (workflows.WebhookStarter; nil: reconcile does it).
type WebhookDispatcher interface {
	DispatchWebhooks(ctx context.Context, queues []WebhookQueue) error
}

// WebhookQueue is one endpoint's queue of one lease's events.
type WebhookQueue struct {
	EndpointID int64
	LeaseID    string
	EventID    string // the newest event in it, for the logs
}

// emit writes the event reporting a fact, in the fact's transaction (q),
// with a delivery for each endpoint that subscribes to it on the lease's
// property, and returns the queues to wake once committed. No endpoint
// subscribing, no event. build makes the event's data from the lease; it
// may decline (false) when the fact is not worth the event after all.
func emit(ctx context.Context, q *db.Queries, leaseID, typ, fact string, build func(db.LeaseEventScopeRow) (any, bool)) ([]WebhookQueue, error) {
	subs, err := q.WebhookSubscribers(ctx, db.WebhookSubscribersParams{LeaseID: leaseID, Type: typ})
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	scope, err := q.LeaseEventScope(ctx, leaseID)
	if err != nil {
		return nil, leaseErr(leaseID, err)
	}
	data, ok := build(scope)
	if !ok {
		return nil, nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	id := webhook.EventID(typ, fact)
	if _, err := q.InsertWebhookEvent(ctx, db.InsertWebhookEventParams{
		EventID: id, Type: typ, LeaseID: leaseID, PropertyID: scope.PropertyID, Fact: fact, Data: b,
	}); errors.Is(err, pgx.ErrNoRows) {
		return nil, nil // reported before: the same fact is the same event
	} else if err != nil {
		return nil, err
	}
	ids := make([]int64, len(subs))
	for i, s := range subs {
		ids[i] = s.EndpointID
	}
	rows, err := q.InsertWebhookDeliveries(ctx, db.InsertWebhookDeliveriesParams{EventID: id, LeaseID: leaseID, EndpointIds: ids})
	if err != nil {
		return nil, err
	}
	var queues []WebhookQueue
	for _, r := range rows {
		if r.Status == "pending" {
			queues = append(queues, WebhookQueue{EndpointID: r.EndpointID, LeaseID: leaseID, EventID: id})
		}
	}
	return queues, nil
}

// dispatch wakes the queues of events just committed. A failure is only
// logged: the events are in the database, and reconcile wakes their queues.
func (a *Activities) dispatch(ctx context.Context, queues []WebhookQueue) {
	if len(queues) == 0 || a.Webhooks == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.Webhooks.DispatchWebhooks(ctx, queues); err != nil && activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Warn("webhook delivery not started: the next reconcile pass starts it",
			"lease_id", queues[0].LeaseID, "event_id", queues[0].EventID, "error", err)
	}
}

// timeRef is a time for an event's data: nil when unset.
func timeRef(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// emitStage reports a stage change the lease's row is being written with.
// The fact is the lease entering the stage for the nth time.
func emitStage(ctx context.Context, q *db.Queries, in StageInput, previous string) ([]WebhookQueue, error) {
	n, err := q.CountLeaseStageEvents(ctx, db.CountLeaseStageEventsParams{LeaseID: in.LeaseID, Stage: in.Stage})
	if err != nil {
		return nil, err
	}
	fact := fmt.Sprintf("%s/stage/%s/%d", in.LeaseID, in.Stage, n+1)
	return emit(ctx, q, in.LeaseID, webhook.TypeStageChanged, fact, func(s db.LeaseEventScopeRow) (any, bool) {
		return webhook.StageChanged{LeaseID: in.LeaseID, PropertyID: s.PropertyID, UnitID: s.UnitID,
			Stage: in.Stage, PreviousStage: previous, Outcome: in.Outcome,
			MovedOutAt: timeRef(&in.MovedOutAt), ReleaseAt: timeRef(&in.ReleaseAt), ClosedAt: timeRef(&in.ClosedAt)}, true
	})
}

// emitRefund reports a refund row as due; fact is its idempotency key.
func emitRefund(ctx context.Context, q *db.Queries, leaseID, fact string, d webhook.RefundDue) ([]WebhookQueue, error) {
	return emit(ctx, q, leaseID, webhook.TypeRefundDue, fact, func(s db.LeaseEventScopeRow) (any, bool) {
		d.LeaseID, d.PropertyID, d.UnitID, d.Currency = leaseID, s.PropertyID, s.UnitID, s.Currency
		return d, true
	})
}

// EmitRefundDue reports a refund row the server writes itself (a partial
// refund before the settlement, #16) as due, in q's transaction; fact is
// its idempotency key. The caller wakes the queues after the commit.
func EmitRefundDue(ctx context.Context, q *db.Queries, leaseID, fact string, d webhook.RefundDue) ([]WebhookQueue, error) {
	return emitRefund(ctx, q, leaseID, fact, d)
}

// emitInvoice reports an invoice row as due; fact is its idempotency key.
func emitInvoice(ctx context.Context, q *db.Queries, leaseID, fact string, d webhook.InvoiceDue) ([]WebhookQueue, error) {
	return emit(ctx, q, leaseID, webhook.TypeInvoiceDue, fact, func(s db.LeaseEventScopeRow) (any, bool) {
		d.LeaseID, d.PropertyID, d.UnitID, d.Currency = leaseID, s.PropertyID, s.UnitID, s.Currency
		return d, true
	})
}

// emitAtRisk reports a manager's reminder as deadline.at_risk when the
// lease's statutory refund deadline is a week away or less; fact is the
// reminder's idempotency key.
func emitAtRisk(ctx context.Context, q *db.Queries, leaseID, fact string, now time.Time) ([]WebhookQueue, error) {
	return emit(ctx, q, leaseID, webhook.TypeDeadlineAtRisk, fact, func(s db.LeaseEventScopeRow) (any, bool) {
		d := s.StatutoryDeadline
		if d == nil || s.Stage == deposit.StageClosed || !d.After(now) || d.Sub(now) > webhook.AtRiskWithin {
			return nil, false
		}
		return webhook.DeadlineAtRisk{LeaseID: leaseID, PropertyID: s.PropertyID, UnitID: s.UnitID, Rule: s.RuleLabel,
			StatutoryDeadline: d.UTC(), DaysLeft: int(d.Sub(now) / (24 * time.Hour)), ReleaseAt: timeRef(s.ReleaseAt), OnHold: s.OnHold}, true
	})
}

// The delivery side: the activities of workflows.WebhookDeliveryWorkflow.

// WebhookQueueInput names one endpoint's queue for one lease.
type WebhookQueueInput struct {
	EndpointID int64
	LeaseID    string
}

// PendingWebhooks is what a queue holds, in the order of the facts.
type PendingWebhooks struct {
	Deliveries []PendingWebhook
	// Closed: the endpoint is disabled or removed; its pending deliveries
	// were recorded as skipped, and there is nothing to deliver.
	Closed bool
}

// PendingWebhook is one delivery waiting in a queue.
type PendingWebhook struct {
	DeliveryID int64
	EventID    string
	Type       string
}

// webhookBatch is how many deliveries a queue is read by at once.
const webhookBatch = 100

// PendingWebhookDeliveries reads a queue: its pending deliveries in the
// order of their events, or, for an endpoint that was disabled or removed,
// records them skipped and says so. The database is the queue's truth: a
// signal only wakes the workflow, so a wake-up lost or sent twice changes
// nothing, and the order is the facts', whoever woke it.
func (a *Activities) PendingWebhookDeliveries(ctx context.Context, in WebhookQueueInput) (PendingWebhooks, error) {
	q := a.q()
	ep, err := q.GetWebhookEndpoint(ctx, in.EndpointID)
	if errors.Is(err, pgx.ErrNoRows) {
		return PendingWebhooks{}, badData("webhook endpoint %d does not exist", in.EndpointID)
	}
	if err != nil {
		return PendingWebhooks{}, err
	}
	if ep.RemovedAt != nil || !ep.Enabled {
		reason := "the endpoint is disabled"
		if ep.RemovedAt != nil {
			reason = "the endpoint was removed"
		}
		if _, err := q.SkipPendingWebhookDeliveries(ctx, db.SkipPendingWebhookDeliveriesParams{
			EndpointID: in.EndpointID, Reason: reason, LeaseID: pgtype.Text{String: in.LeaseID, Valid: true},
		}); err != nil {
			return PendingWebhooks{}, err
		}
		return PendingWebhooks{Closed: true}, nil
	}
	rows, err := q.PendingWebhookDeliveries(ctx, db.PendingWebhookDeliveriesParams{EndpointID: in.EndpointID, LeaseID: in.LeaseID, Limit: webhookBatch})
	if err != nil {
		return PendingWebhooks{}, err
	}
	out := PendingWebhooks{Deliveries: []PendingWebhook{}}
	for _, r := range rows {
		out.Deliveries = append(out.Deliveries, PendingWebhook{DeliveryID: r.DeliveryID, EventID: r.EventID, Type: r.Type})
	}
	return out, nil
}

// Delivery statuses.
const (
	WebhookPending   = "pending"
	WebhookDelivered = "delivered"
	WebhookFailed    = "failed"
	WebhookSkipped   = "skipped"
)

// ErrWebhookFailed is the (retryable) ApplicationError type of an attempt
// the endpoint did not answer 2xx; ErrWebhookGone the non-retryable one of
// a 410 Gone, which Standard Webhooks reads as "stop sending".
const (
	ErrWebhookFailed = "WebhookFailed"
	ErrWebhookGone   = "WebhookGone"
)

// WebhookResult is what became of a delivery.
type WebhookResult struct {
	Status     string // delivered, or skipped (the endpoint disabled, removed, or not covering the event)
	StatusCode int    `json:",omitempty"`
	Reason     string `json:",omitempty"`
	// EndpointClosed: skipped because the endpoint is disabled or removed,
	// as the rest of its queue will be.
	EndpointClosed bool `json:",omitempty"`
}

// WebhookTimeout is how long an endpoint has to answer an attempt.
const WebhookTimeout = 10 * time.Second

// webhookClient posts with a timeout and never follows a redirect: a
// signed event goes to the URL the admin gave, nowhere else.
var webhookClient = &http.Client{
	Timeout:       WebhookTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// DeliverWebhook makes one attempt at a delivery (the workflow's first as
// a local activity, its retries as a regular one): it reads the event and
// the endpoint, signs the body with the endpoint's secrets (Standard
// Webhooks: the current secret, and the previous one while a rotation
// overlaps), POSTs it, and records the attempt (status code, error,
// latency) with its number (the delivery's attempts so far, plus one). A
// 2xx delivers it; anything else is a retryable error, so Temporal retries
// with backoff, up to the workflow's give-up time; a 410 Gone is not
// retried. An endpoint disabled or removed meanwhile, or one
// whose property scope does not cover the event's lease, gets nothing:
// the delivery is recorded as skipped, and nothing is signed. A delivery
// that is no longer pending (delivered by an attempt whose answer was
// recorded after its timeout) is not sent again.
//
// Errors never carry the secret, and the URL only without its query.
func (a *Activities) DeliverWebhook(ctx context.Context, deliveryID int64) (WebhookResult, error) {
	q := a.q()
	d, err := q.GetWebhookDelivery(ctx, deliveryID)
	if errors.Is(err, pgx.ErrNoRows) {
		return WebhookResult{}, badData("webhook delivery %d does not exist", deliveryID)
	}
	if err != nil {
		return WebhookResult{}, err
	}
	if d.Status != WebhookPending {
		return WebhookResult{Status: d.Status}, nil
	}
	skip, closed := "", d.RemovedAt != nil || !d.Enabled
	switch {
	case d.RemovedAt != nil:
		skip = "the endpoint was removed"
	case !d.Enabled:
		skip = "the endpoint is disabled"
	case d.EndpointPropertyID.Valid && d.EndpointPropertyID.String != d.EventPropertyID:
		skip = fmt.Sprintf("out of scope: the endpoint covers property %s, the event is of property %s", d.EndpointPropertyID.String, d.EventPropertyID)
	case !slices.Contains(d.Events, d.Type):
		skip = "the endpoint no longer subscribes to " + d.Type
	}
	if skip != "" {
		if _, err := q.SetWebhookDeliveryStatus(ctx, db.SetWebhookDeliveryStatusParams{DeliveryID: deliveryID, Status: WebhookSkipped, Reason: skip}); err != nil {
			return WebhookResult{}, err
		}
		return WebhookResult{Status: WebhookSkipped, Reason: skip, EndpointClosed: closed}, nil
	}

	body, err := webhook.Body(d.Type, d.EventCreatedAt, d.Data)
	if err != nil {
		return WebhookResult{}, badData("event %s: %v", d.EventID, err)
	}
	now := time.Now()
	secrets := []string{d.Secret}
	if d.PreviousSecret.Valid && d.PreviousSecretExpiresAt != nil && d.PreviousSecretExpiresAt.After(now) {
		secrets = append(secrets, d.PreviousSecret.String)
	}
	headers, err := webhook.Headers(secrets, d.EventID, now, body)
	if err != nil {
		return WebhookResult{}, badData("webhook endpoint %d: %v", d.EndpointID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Url, bytes.NewReader(body))
	if err != nil {
		return WebhookResult{}, badData("webhook endpoint %d: its URL %s cannot be called", d.EndpointID, webhook.Shown(d.Url))
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "depositflow-webhooks/1")

	resp, err := webhookClient.Do(req)
	latency := time.Since(now)
	code, problem := 0, ""
	if err != nil {
		problem = httpProblem(err)
	} else {
		code = resp.StatusCode
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		switch {
		case code >= 300 && code < 400:
			problem = fmt.Sprintf("answered %d %s (redirects are not followed)", code, http.StatusText(code))
		case code < 200 || code >= 300:
			problem = fmt.Sprintf("answered %d %s", code, http.StatusText(code))
		}
	}
	delivered := err == nil && problem == ""
	record := func() error {
		return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
			q := db.New(tx)
			status := pgtype.Int4{Int32: int32(code), Valid: code != 0}
			if err := q.InsertWebhookAttempt(ctx, db.InsertWebhookAttemptParams{DeliveryID: deliveryID, Attempt: d.Attempts + 1,
				StatusCode: status, Error: problem, LatencyMs: int32(latency.Milliseconds())}); err != nil {
				return err
			}
			_, err := q.RecordWebhookAttempt(ctx, db.RecordWebhookAttemptParams{DeliveryID: deliveryID, LastStatusCode: status,
				LastError: problem, Delivered: delivered})
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // ended meanwhile (skipped by a removal): the attempt is logged all the same
			}
			return err
		})
	}
	if delivered {
		// Delivered: failing now would send it again (the same webhook-id,
		// which a receiver deduplicates, but still), so a database that is
		// briefly away is waited for, as for an email.
		if err := retryUntilDone(ctx, record); err != nil {
			return WebhookResult{}, fmt.Errorf("recording delivery %d delivered (it was): %w", deliveryID, err)
		}
		if activity.IsActivity(ctx) {
			activity.GetLogger(ctx).Info("webhook delivered", "lease_id", d.LeaseID, "endpoint_id", d.EndpointID,
				"event_id", d.EventID, "type", d.Type, "status_code", code, "latency_ms", latency.Milliseconds())
		}
		return WebhookResult{Status: WebhookDelivered, StatusCode: code}, nil
	}
	if err := record(); err != nil {
		return WebhookResult{}, err
	}
	msg := fmt.Sprintf("webhook endpoint %d (%s): %s", d.EndpointID, webhook.Shown(d.Url), problem)
	if code == http.StatusGone {
		return WebhookResult{}, temporal.NewNonRetryableApplicationError(msg, ErrWebhookGone, nil)
	}
	return WebhookResult{}, temporal.NewApplicationError(msg, ErrWebhookFailed)
}

// httpProblem words a failed request without its URL (whose query may
// carry a token): the transport's own error only.
func httpProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("no answer within %s", WebhookTimeout)
		}
		err = ue.Err
	}
	return err.Error()
}

// WebhookGiveUpInput is a delivery whose retries ran out (or which its
// endpoint answered 410 Gone), and why.
type WebhookGiveUpInput struct {
	DeliveryID int64
	EndpointID int64
	LeaseID    string
	Reason     string
}

// WebhookGiveUp is the email to the endpoint's operator, if anyone is to
// be told (nil when no one can be: no --notify address and no manager).
type WebhookGiveUp struct {
	Email *EmailInput `json:",omitempty"`
}

// GiveUpWebhook marks the delivery failed, disables its endpoint and
// records every other pending delivery of that endpoint as skipped, in one
// transaction, and returns the email that tells the endpoint's operator:
// its --notify address, or else the manager of the lease's property. The
// email's key is the endpoint's disabling (its count), so the operator is
// told once whichever delivery gave up first, and a retry of this activity
// sends no second email.
func (a *Activities) GiveUpWebhook(ctx context.Context, in WebhookGiveUpInput) (WebhookGiveUp, error) {
	var out WebhookGiveUp
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if _, err := q.SetWebhookDeliveryStatus(ctx, db.SetWebhookDeliveryStatusParams{DeliveryID: in.DeliveryID, Status: WebhookFailed, Reason: in.Reason}); err != nil {
			return err
		}
		ep, err := q.DisableWebhookEndpoint(ctx, db.DisableWebhookEndpointParams{EndpointID: in.EndpointID,
			DisabledReason: fmt.Sprintf("gave up on delivery %d (lease %s): %s", in.DeliveryID, in.LeaseID, in.Reason)})
		if errors.Is(err, pgx.ErrNoRows) {
			// Disabled already (by an earlier attempt of this activity, or
			// another lease's delivery): tell the same disabling.
			ep, err = q.GetWebhookEndpoint(ctx, in.EndpointID)
		}
		if err != nil {
			return err
		}
		if ep.Enabled || ep.DisabledCount == 0 {
			return nil // enabled again meanwhile: nothing to tell
		}
		if _, err := q.SkipPendingWebhookDeliveries(ctx, db.SkipPendingWebhookDeliveriesParams{EndpointID: in.EndpointID, Reason: "the endpoint is disabled"}); err != nil {
			return err
		}
		to := ep.NotifyEmail
		scope, err := q.LeaseEventScope(ctx, in.LeaseID)
		if err != nil {
			return leaseErr(in.LeaseID, err)
		}
		if to == "" {
			p, err := q.GetProperty(ctx, scope.PropertyID)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			to = p.ManagerEmail
		}
		if to == "" {
			if activity.IsActivity(ctx) {
				activity.GetLogger(ctx).Error("webhook endpoint disabled and no one to tell (no --notify, no manager email)",
					"endpoint_id", in.EndpointID, "lease_id", in.LeaseID)
			}
			return nil
		}
		d := templates.Data{LeaseID: in.LeaseID, PropertyID: scope.PropertyID, UnitID: scope.UnitID, Webhook: &templates.WebhookDown{
			EndpointID: ep.EndpointID, URL: webhook.Shown(ep.Url), Reason: in.Reason, DisabledAt: *ep.DisabledAt,
		}}
		if ev, err := q.GetWebhookDelivery(ctx, in.DeliveryID); err == nil {
			d.Webhook.EventID, d.Webhook.EventType, d.Webhook.Attempts = ev.EventID, ev.Type, int(ev.Attempts)
		}
		out.Email = &EmailInput{Key: fmt.Sprintf("webhook-%d/disabled-%d", ep.EndpointID, ep.DisabledCount),
			Kind: templates.KindWebhookDisabled, To: to, Data: d}
		return nil
	})
	if err != nil {
		return WebhookGiveUp{}, err
	}
	if activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Error("webhook endpoint disabled: its retries ran out", "endpoint_id", in.EndpointID,
			"lease_id", in.LeaseID, "delivery_id", in.DeliveryID, "reason", in.Reason)
	}
	return out, nil
}
