package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/webhook"
)

// Webhooks: endpoints a PMS or an accounting system subscribes, an admin
// command run where the database is (like apikey). Every change is audited;
// a signing secret is printed once, when it is made, and never listed.

func (a *app) webhookCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "webhook", Short: "Webhooks: events signed and sent to a PMS or an accounting system (admin, where the database is)"}
	var property, notify, description, eventsFlag string
	var all bool
	add := &cobra.Command{
		Use:   "add URL --events TYPE[,TYPE...] (--property P | --all-properties) [--notify EMAIL]",
		Short: "Subscribe an endpoint to events; its signing secret is printed once",
		Long: `Subscribe an http(s) endpoint to events of one property, or of every one.
Events: ` + strings.Join(webhook.Types, ", ") + ` (or all). dispute.opened is
accepted, but nothing emits it yet: depositflow has no disputes.

Each event is POSTed as JSON, signed the Standard Webhooks way (webhook-id,
webhook-timestamp, webhook-signature) with the endpoint's secret, printed once
on standard output (whsec_...): keep it where the endpoint checks signatures.
A URL with credentials (user:password@) is refused.

Deliveries are retried for 3 days (1 s, doubling, at most an hour apart); then
the endpoint is disabled and --notify is emailed (default: the manager of the
property whose event could not be delivered).`,
		Example: `  deposits webhook add https://pms.example.com/hooks/deposits --events refund.due,invoice.due --property willow --notify ops@pms.example.com
  deposits webhook add https://books.example.com/in --events all --all-properties --notify books@example.com -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			req := map[string]any{"url": webhook.Shown(args[0]), "events": eventsFlag, "property": property, "all": all, "notify": notify}
			ep, err := a.addWebhook(cmd.Context(), args[0], eventsFlag, property, all, notify, description)
			a.gateway().RecordAction(cmd.Context(), a.local(), "", "webhook.add", req, err)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(map[string]any{"id": ep.EndpointID, "secret": ep.Secret})
			}
			a.printf("%s\n", ep.Secret)
			a.notef("Added webhook endpoint %d: %s (%s; %s). Its signing secret is shown once above.\n",
				ep.EndpointID, webhook.Shown(ep.Url), strings.Join(ep.Events, ", "), scopeText(ep.PropertyID))
			return nil
		},
	}
	add.Flags().StringVar(&eventsFlag, "events", "", "event types, comma-separated, or all")
	add.Flags().StringVar(&property, "property", "", "the property whose events it gets")
	add.Flags().BoolVar(&all, "all-properties", false, "it gets the events of every property")
	add.Flags().StringVar(&notify, "notify", "", "who is emailed if the endpoint is disabled (default: the property's manager)")
	add.Flags().StringVar(&description, "description", "", "what it is, for the list")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List webhook endpoints: URL, events, scope, status (never the secrets)",
		Example: `  deposits webhook list -o json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			eps, err := db.New(pool).ListWebhookEndpoints(cmd.Context())
			if err != nil {
				return unavailable("the database", err)
			}
			type row struct {
				ID             int64      `json:"id"`
				URL            string     `json:"url"`
				Events         []string   `json:"events"`
				Property       string     `json:"property"` // "*": every property
				Notify         string     `json:"notify,omitempty"`
				Description    string     `json:"description,omitempty"`
				Enabled        bool       `json:"enabled"`
				DisabledAt     *time.Time `json:"disabled_at,omitempty"`
				DisabledReason string     `json:"disabled_reason,omitempty"`
				OldSecretUntil *time.Time `json:"old_secret_valid_until,omitempty"`
				CreatedBy      string     `json:"created_by"`
				CreatedAt      time.Time  `json:"created_at"`
			}
			rows := []row{}
			now := time.Now()
			for _, e := range eps {
				r := row{ID: e.EndpointID, URL: webhook.Shown(e.Url), Events: e.Events, Property: "*", Notify: e.NotifyEmail, Description: e.Description,
					Enabled: e.Enabled, DisabledAt: e.DisabledAt, DisabledReason: e.DisabledReason, CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt}
				if e.PropertyID.Valid {
					r.Property = e.PropertyID.String
				}
				if e.PreviousSecretExpiresAt != nil && e.PreviousSecretExpiresAt.After(now) {
					r.OldSecretUntil = e.PreviousSecretExpiresAt
				}
				rows = append(rows, r)
			}
			if a.json() {
				return a.printJSON(rows)
			}
			t := newTable(a.out, "ID", "URL", "EVENTS", "PROPERTY", "NOTIFY", "STATUS", "CREATED BY")
			for _, r := range rows {
				st := "enabled"
				if !r.Enabled {
					st = "disabled " + r.DisabledAt.UTC().Format(time.RFC3339) + ": " + r.DisabledReason
				}
				if r.OldSecretUntil != nil {
					st += "; old secret valid until " + r.OldSecretUntil.UTC().Format(time.RFC3339)
				}
				notify := r.Notify
				if notify == "" {
					notify = "(manager)"
				}
				t.row(itoa(r.ID), r.URL, strings.Join(r.Events, ","), r.Property, notify, st, r.CreatedBy)
			}
			return t.flush()
		},
	}

	remove := &cobra.Command{
		Use:     "remove ID",
		Short:   "Remove a webhook endpoint: nothing more is sent to it (its deliveries stay in the log)",
		Example: `  deposits webhook remove 3`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := endpointID(args[0])
			if err == nil {
				err = a.onEndpoint(cmd.Context(), id, func(q *db.Queries) (db.WebhookEndpoint, error) {
					ep, err := q.RemoveWebhookEndpoint(cmd.Context(), id)
					if err == nil {
						_, err = q.SkipPendingWebhookDeliveries(cmd.Context(), db.SkipPendingWebhookDeliveriesParams{EndpointID: id, Reason: "the endpoint was removed"})
					}
					return ep, err
				})
			}
			a.gateway().RecordAction(cmd.Context(), a.local(), "", "webhook.remove", map[string]string{"id": args[0]}, err)
			if err != nil {
				return err
			}
			a.printf("Removed webhook endpoint %d: nothing more is sent to it.\n", id)
			return nil
		},
	}

	var overlap time.Duration
	rotate := &cobra.Command{
		Use:   "rotate-secret ID [--overlap 24h]",
		Short: "Give a webhook endpoint a new signing secret, printed once; the old one keeps signing for 24 h",
		Long: `Make a new signing secret for an endpoint and print it once. For --overlap
(24 h) every event carries two signatures, the new secret's and the old
one's, so the endpoint can switch to the new secret at any moment in that
time; after it, only the new secret signs. --overlap 0 drops the old secret
at once (a leaked one).`,
		Example: `  deposits webhook rotate-secret 3 > new.secret
  deposits webhook rotate-secret 3 --overlap 0   # the old secret leaked`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := endpointID(args[0])
			if err == nil && (overlap < 0 || overlap > 30*24*time.Hour) {
				err = refused("--overlap %s: between 0 and 720h", overlap)
			}
			var ep db.WebhookEndpoint
			if err == nil {
				ep, err = a.rotateWebhook(cmd.Context(), id, overlap)
			}
			a.gateway().RecordAction(cmd.Context(), a.local(), "", "webhook.rotate-secret", map[string]string{"id": args[0], "overlap": overlap.String()}, err)
			if err != nil {
				return err
			}
			a.printf("%s\n", ep.Secret)
			if overlap > 0 {
				a.notef("New signing secret for webhook endpoint %d (shown once above). The old one signs beside it until %s.\n", id, ep.PreviousSecretExpiresAt.UTC().Format(time.RFC3339))
			} else {
				a.notef("New signing secret for webhook endpoint %d (shown once above). The old one no longer signs.\n", id)
			}
			return nil
		},
	}
	rotate.Flags().DurationVar(&overlap, "overlap", 24*time.Hour, "how long the old secret keeps signing beside the new one")

	var redeliver bool
	enable := &cobra.Command{
		Use:   "enable ID [--redeliver]",
		Short: "Enable a webhook endpoint that was disabled; --redeliver sends what failed or was skipped",
		Long: `Enable an endpoint disabled after its retries ran out: the events that follow
are delivered again. With --redeliver, every delivery of the endpoint that
failed or was skipped (and that its events and scope still cover) goes back
in its lease's queue and is delivered in the order of the facts, under its
own webhook-id.`,
		Example: `  deposits webhook enable 3 --redeliver`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := endpointID(args[0])
			var requeued []db.RequeueWebhookDeliveriesRow
			if err == nil {
				err = a.onEndpoint(cmd.Context(), id, func(q *db.Queries) (db.WebhookEndpoint, error) {
					ep, err := q.EnableWebhookEndpoint(cmd.Context(), id)
					if err == nil && redeliver {
						requeued, err = q.RequeueWebhookDeliveries(cmd.Context(), id)
					}
					return ep, err
				})
			}
			a.gateway().RecordAction(cmd.Context(), a.local(), "", "webhook.enable", map[string]any{"id": args[0], "redeliver": redeliver, "requeued": len(requeued)}, err)
			if err != nil {
				return err
			}
			a.printf("Enabled webhook endpoint %d.\n", id)
			if !redeliver {
				return nil
			}
			queues := make([]activities.WebhookQueue, len(requeued))
			for i, r := range requeued {
				queues[i] = activities.WebhookQueue{EndpointID: id, LeaseID: r.LeaseID, EventID: r.EventID}
			}
			if err := a.gateway().WakeWebhooks(cmd.Context(), queues); err != nil {
				a.notef("%d deliveries are queued again; Temporal could not be told (%v): the next reconcile pass sends them.\n", len(requeued), gatewayErr(err))
				return nil
			}
			a.printf("%d deliveries queued again, in order.\n", len(requeued))
			return nil
		},
	}
	enable.Flags().BoolVar(&redeliver, "redeliver", false, "queue again what failed or was skipped")

	var epFilter int64
	var leaseFilter string
	var limit int
	var withAttempts bool
	deliveries := &cobra.Command{
		Use:   "deliveries [--endpoint ID] [--lease L] [--attempts]",
		Short: "The delivery log: each event to each endpoint, its status, attempts and last answer",
		Long: `The delivery log, newest first: for each event sent (or skipped) to each
endpoint, its status (pending, delivered, failed, skipped), its attempts and the
last answer (HTTP status, or the error). --attempts lists every attempt with
its status, error and latency; -o json always includes them.`,
		Example: `  deposits webhook deliveries --lease L-100
  deposits webhook deliveries --endpoint 3 --attempts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if leaseFilter != "" {
				if err := checkID("--lease", leaseFilter); err != nil {
					return err
				}
			}
			return a.printDeliveries(cmd.Context(), epFilter, leaseFilter, limit, withAttempts)
		},
	}
	deliveries.Flags().Int64Var(&epFilter, "endpoint", 0, "only this endpoint's")
	deliveries.Flags().StringVar(&leaseFilter, "lease", "", "only this lease's")
	deliveries.Flags().IntVar(&limit, "limit", 100, "at most this many deliveries")
	deliveries.Flags().BoolVar(&withAttempts, "attempts", false, "list every attempt")

	cmd.AddCommand(add, list, remove, rotate, enable, deliveries)
	return cmd
}

func scopeText(p pgtype.Text) string {
	if p.Valid {
		return "property " + p.String
	}
	return "every property"
}

func endpointID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, refused("%q is not a webhook endpoint ID (deposits webhook list)", s)
	}
	return id, nil
}

func (a *app) addWebhook(ctx context.Context, rawURL, eventsFlag, property string, all bool, notify, description string) (db.WebhookEndpoint, error) {
	u, err := webhook.CheckURL(rawURL)
	if err != nil {
		return db.WebhookEndpoint{}, refused("%s: %v", webhook.Shown(rawURL), err)
	}
	types, err := webhook.ParseTypes(eventsFlag)
	if err != nil {
		return db.WebhookEndpoint{}, refused("--events: %v", err)
	}
	if all == (property != "") {
		return db.WebhookEndpoint{}, refused("give the endpoint's scope: --property P or --all-properties")
	}
	if property != "" {
		if err := checkID("--property", property); err != nil {
			return db.WebhookEndpoint{}, err
		}
	}
	if notify != "" {
		if notify, err = parseEmail("notify", notify); err != nil {
			return db.WebhookEndpoint{}, err
		}
	}
	pool, err := a.db(ctx)
	if err != nil {
		return db.WebhookEndpoint{}, err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return db.WebhookEndpoint{}, err
	}
	ep, err := db.New(pool).CreateWebhookEndpoint(ctx, db.CreateWebhookEndpointParams{Url: u, Events: types,
		PropertyID: pgtype.Text{String: property, Valid: property != ""}, Description: strings.TrimSpace(description),
		NotifyEmail: notify, Secret: secret, CreatedBy: a.local().ID()})
	if err != nil {
		return db.WebhookEndpoint{}, unavailable("the database", err)
	}
	return ep, nil
}

// onEndpoint changes an endpoint in one transaction; one that does not
// exist (or was removed) is refused.
func (a *app) onEndpoint(ctx context.Context, id int64, change func(*db.Queries) (db.WebhookEndpoint, error)) error {
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := change(db.New(tx))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return refused("no webhook endpoint %d (deposits webhook list)", id)
	}
	if err != nil {
		return unavailable("the database", err)
	}
	return nil
}

func (a *app) rotateWebhook(ctx context.Context, id int64, overlap time.Duration) (db.WebhookEndpoint, error) {
	secret, err := webhook.NewSecret()
	if err != nil {
		return db.WebhookEndpoint{}, err
	}
	expires := time.Now().Add(overlap)
	var ep db.WebhookEndpoint
	err = a.onEndpoint(ctx, id, func(q *db.Queries) (db.WebhookEndpoint, error) {
		ep, err = q.RotateWebhookSecret(ctx, db.RotateWebhookSecretParams{EndpointID: id, Secret: secret, Expires: &expires})
		return ep, err
	})
	return ep, err
}

func (a *app) printDeliveries(ctx context.Context, endpoint int64, lease string, limit int, withAttempts bool) error {
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	q := db.New(pool)
	p := db.ListWebhookDeliveriesParams{MaxRows: int32(max(min(limit, 10000), 1))}
	if endpoint != 0 {
		p.EndpointID = pgtype.Int8{Int64: endpoint, Valid: true}
	}
	if lease != "" {
		p.LeaseID = pgtype.Text{String: lease, Valid: true}
	}
	rows, err := q.ListWebhookDeliveries(ctx, p)
	if err != nil {
		return unavailable("the database", err)
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.DeliveryID
	}
	atts, err := q.ListWebhookAttempts(ctx, ids)
	if err != nil {
		return unavailable("the database", err)
	}
	type attemptRow struct {
		Attempt    int32     `json:"attempt"`
		At         time.Time `json:"at"`
		StatusCode *int32    `json:"status_code"`
		Error      string    `json:"error,omitempty"`
		LatencyMS  int32     `json:"latency_ms"`
	}
	type row struct {
		ID            int64        `json:"id"`
		Endpoint      int64        `json:"endpoint"`
		URL           string       `json:"url"`
		LeaseID       string       `json:"lease_id"`
		EventID       string       `json:"event_id"`
		Type          string       `json:"type"`
		Status        string       `json:"status"`
		Attempts      int32        `json:"attempts"`
		LastStatus    *int32       `json:"last_status_code,omitempty"`
		LastError     string       `json:"last_error,omitempty"`
		LastAttemptAt *time.Time   `json:"last_attempt_at,omitempty"`
		DeliveredAt   *time.Time   `json:"delivered_at,omitempty"`
		CreatedAt     time.Time    `json:"created_at"`
		AttemptLog    []attemptRow `json:"attempt_log"`
	}
	byID := map[int64][]attemptRow{}
	for _, at := range atts {
		r := attemptRow{Attempt: at.Attempt, At: at.At, Error: at.Error, LatencyMS: at.LatencyMs}
		if at.StatusCode.Valid {
			r.StatusCode = &at.StatusCode.Int32
		}
		byID[at.DeliveryID] = append(byID[at.DeliveryID], r)
	}
	out := []row{}
	for _, d := range rows {
		r := row{ID: d.DeliveryID, Endpoint: d.EndpointID, URL: webhook.Shown(d.Url), LeaseID: d.LeaseID, EventID: d.EventID, Type: d.Type,
			Status: d.Status, Attempts: d.Attempts, LastError: d.LastError, LastAttemptAt: d.LastAttemptAt, DeliveredAt: d.DeliveredAt,
			CreatedAt: d.CreatedAt, AttemptLog: byID[d.DeliveryID]}
		if d.LastStatusCode.Valid {
			r.LastStatus = &d.LastStatusCode.Int32
		}
		if r.AttemptLog == nil {
			r.AttemptLog = []attemptRow{}
		}
		out = append(out, r)
	}
	if a.json() {
		return a.printJSON(out)
	}
	t := newTable(a.out, "ID", "ENDPOINT", "LEASE", "TYPE", "EVENT", "STATUS", "ATTEMPTS", "LAST", "AT")
	for _, r := range out {
		// An error says the status itself ("answered 500 ..."); a skip says why.
		last, at := "-", r.CreatedAt
		switch {
		case r.LastError != "":
			last = r.LastError
		case r.LastStatus != nil:
			last = strconv.Itoa(int(*r.LastStatus))
		}
		if r.LastAttemptAt != nil {
			at = *r.LastAttemptAt
		}
		t.row(itoa(r.ID), itoa(r.Endpoint), r.LeaseID, r.Type, r.EventID, r.Status, strconv.Itoa(int(r.Attempts)), last, at.UTC().Format(time.RFC3339))
		if withAttempts {
			for _, x := range r.AttemptLog {
				answer := "no answer"
				switch {
				case x.Error != "":
					answer = x.Error
				case x.StatusCode != nil:
					answer = strconv.Itoa(int(*x.StatusCode))
				}
				t.row("", "", "", fmt.Sprintf("  attempt %d", x.Attempt), "", "", "", fmt.Sprintf("%s (%d ms)", answer, x.LatencyMS), x.At.UTC().Format(time.RFC3339))
			}
		}
	}
	return t.flush()
}
