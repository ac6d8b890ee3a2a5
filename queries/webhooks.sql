-- Webhooks (migration 012): endpoints, the events outbox, deliveries and
-- their attempts.

-- name: WebhookSubscribers :many
-- The endpoints (not removed) that subscribe to an event type on the
-- lease's property, disabled ones included: their deliveries are recorded
-- as skipped.
SELECT e.endpoint_id, e.enabled
FROM webhook_endpoints e
JOIN leases l ON l.lease_id = sqlc.arg(lease_id)
WHERE e.removed_at IS NULL AND sqlc.arg(type)::text = ANY (e.events)
  AND (e.property_id IS NULL OR e.property_id = l.property_id)
ORDER BY e.endpoint_id;

-- name: LeaseEventScope :one
-- What every event of a lease says about it.
SELECT lease_id, property_id, unit_id, currency, stage, statutory_deadline, release_at, on_hold, rule_label
FROM leases WHERE lease_id = $1;

-- name: LockLeaseStage :one
-- The stage as committed, locked until the transaction that changes it ends.
SELECT stage FROM leases WHERE lease_id = $1 FOR UPDATE;

-- name: InsertWebhookEvent :one
-- The same fact is the same event: a second insert of its ID returns no row.
INSERT INTO webhook_events (event_id, type, lease_id, property_id, fact, data)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (event_id) DO NOTHING
RETURNING seq, event_id;

-- name: InsertWebhookDeliveries :many
-- One delivery per subscribed endpoint, pending, or skipped for a disabled one.
INSERT INTO webhook_deliveries (endpoint_id, event_id, lease_id, status, last_error)
SELECT e.endpoint_id, sqlc.arg(event_id), sqlc.arg(lease_id),
       CASE WHEN e.enabled THEN 'pending' ELSE 'skipped' END,
       CASE WHEN e.enabled THEN '' ELSE 'the endpoint is disabled' END
FROM webhook_endpoints e
WHERE e.endpoint_id = ANY (sqlc.arg(endpoint_ids)::bigint[])
ON CONFLICT (endpoint_id, event_id) DO NOTHING
RETURNING delivery_id, endpoint_id, status;

-- name: CountLeaseStageEvents :one
-- How many times the lease entered a stage before (for the fact's key).
SELECT count(*) FROM webhook_events
WHERE lease_id = $1 AND type = 'stage.changed' AND data ->> 'stage' = sqlc.arg(stage)::text;

-- name: PendingWebhookDeliveries :many
-- The queue of one endpoint for one lease, in the order of the facts.
SELECT d.delivery_id, d.event_id, ev.type
FROM webhook_deliveries d
JOIN webhook_events ev ON ev.event_id = d.event_id
WHERE d.endpoint_id = $1 AND d.lease_id = $2 AND d.status = 'pending'
ORDER BY ev.seq
LIMIT $3;

-- name: GetWebhookEndpoint :one
SELECT * FROM webhook_endpoints WHERE endpoint_id = $1;

-- name: GetWebhookDelivery :one
-- A delivery with its event and its endpoint, as an attempt needs them.
SELECT d.delivery_id, d.status, d.attempts, d.lease_id,
       ev.event_id, ev.type, ev.property_id AS event_property_id, ev.data, ev.created_at AS event_created_at,
       ep.endpoint_id, ep.url, ep.events, ep.property_id AS endpoint_property_id,
       ep.secret, ep.previous_secret, ep.previous_secret_expires_at, ep.enabled, ep.removed_at
FROM webhook_deliveries d
JOIN webhook_events ev ON ev.event_id = d.event_id
JOIN webhook_endpoints ep ON ep.endpoint_id = d.endpoint_id
WHERE d.delivery_id = $1;

-- name: InsertWebhookAttempt :exec
INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, latency_ms)
VALUES ($1, $2, $3, $4, $5);

-- name: RecordWebhookAttempt :one
-- The outcome of an attempt on a pending delivery: delivered on a 2xx.
UPDATE webhook_deliveries
SET attempts = attempts + 1, last_status_code = $2, last_error = $3, last_attempt_at = now(),
    status = CASE WHEN sqlc.arg(delivered)::boolean THEN 'delivered' ELSE status END,
    delivered_at = CASE WHEN sqlc.arg(delivered)::boolean THEN now() ELSE delivered_at END
WHERE delivery_id = $1 AND status = 'pending'
RETURNING status;

-- name: SetWebhookDeliveryStatus :execrows
-- Ends a pending delivery: failed (given up) or skipped, with the reason.
UPDATE webhook_deliveries SET status = sqlc.arg(status), last_error = sqlc.arg(reason)
WHERE delivery_id = $1 AND status = 'pending';

-- name: SkipPendingWebhookDeliveries :execrows
-- Every pending delivery of an endpoint (for one lease, when given) is skipped.
UPDATE webhook_deliveries SET status = 'skipped', last_error = sqlc.arg(reason)
WHERE endpoint_id = $1 AND status = 'pending'
  AND (sqlc.narg(lease_id)::text IS NULL OR lease_id = sqlc.narg(lease_id)::text);

-- name: DisableWebhookEndpoint :one
-- Disables an enabled endpoint; no row when it was disabled already.
UPDATE webhook_endpoints
SET enabled = false, disabled_at = now(), disabled_reason = $2, disabled_count = disabled_count + 1
WHERE endpoint_id = $1 AND enabled
RETURNING *;

-- name: CreateWebhookEndpoint :one
INSERT INTO webhook_endpoints (url, events, property_id, description, notify_email, secret, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: ListWebhookEndpoints :many
SELECT * FROM webhook_endpoints WHERE removed_at IS NULL ORDER BY endpoint_id;

-- name: RemoveWebhookEndpoint :one
UPDATE webhook_endpoints SET removed_at = now(), enabled = false
WHERE endpoint_id = $1 AND removed_at IS NULL
RETURNING *;

-- name: RotateWebhookSecret :one
-- A new secret; the current one keeps signing beside it until expires.
UPDATE webhook_endpoints
SET previous_secret = secret, previous_secret_expires_at = sqlc.arg(expires), secret = sqlc.arg(secret)
WHERE endpoint_id = $1 AND removed_at IS NULL
RETURNING *;

-- name: EnableWebhookEndpoint :one
UPDATE webhook_endpoints SET enabled = true, disabled_at = NULL, disabled_reason = ''
WHERE endpoint_id = $1 AND removed_at IS NULL
RETURNING *;

-- name: RequeueWebhookDeliveries :many
-- Every failed or skipped delivery of an endpoint that its scope and its
-- events still cover goes back in its lease's queue.
UPDATE webhook_deliveries d SET status = 'pending', last_error = ''
FROM webhook_events ev, webhook_endpoints ep
WHERE d.endpoint_id = $1 AND d.status IN ('failed', 'skipped')
  AND ev.event_id = d.event_id AND ep.endpoint_id = d.endpoint_id
  AND ev.type = ANY (ep.events) AND (ep.property_id IS NULL OR ep.property_id = ev.property_id)
RETURNING d.delivery_id, d.lease_id, d.event_id;

-- name: ListWebhookDeliveries :many
-- The delivery log, newest first.
SELECT d.delivery_id, d.endpoint_id, d.event_id, d.lease_id, d.status, d.attempts, d.last_status_code,
       d.last_error, d.last_attempt_at, d.delivered_at, d.created_at, ev.type, ep.url
FROM webhook_deliveries d
JOIN webhook_events ev ON ev.event_id = d.event_id
JOIN webhook_endpoints ep ON ep.endpoint_id = d.endpoint_id
WHERE (sqlc.narg(endpoint_id)::bigint IS NULL OR d.endpoint_id = sqlc.narg(endpoint_id)::bigint)
  AND (sqlc.narg(lease_id)::text IS NULL OR d.lease_id = sqlc.narg(lease_id)::text)
ORDER BY d.delivery_id DESC
LIMIT sqlc.arg(max_rows);

-- name: ListWebhookAttempts :many
SELECT * FROM webhook_attempts WHERE delivery_id = ANY (sqlc.arg(delivery_ids)::bigint[]) ORDER BY delivery_id, attempt_id;

-- name: StalledWebhookQueues :many
-- The queues (endpoint, lease) whose pending deliveries nobody is working
-- on: none attempted a minute after it was written (the signal that
-- should have woken its workflow was lost), or no attempt for longer than
-- the longest wait between retries (its workflow ended without them).
SELECT endpoint_id, lease_id
FROM webhook_deliveries
WHERE status = 'pending'
GROUP BY endpoint_id, lease_id
HAVING min(created_at) < now() - sqlc.arg(unattempted_for)::interval
   AND (max(last_attempt_at) IS NULL OR max(last_attempt_at) < now() - sqlc.arg(silent_for)::interval)
ORDER BY endpoint_id, lease_id
LIMIT 1000;
