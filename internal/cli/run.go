package cli

import (
	"context"
	"github.com/depositflow/depositflow/internal/cardhold"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/depositflow/depositflow/internal/tracing"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/observe"
	"github.com/depositflow/depositflow/worker"
)

func (a *app) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "migrate",
		Short:   "Apply the database migrations embedded in this binary",
		Example: `  DATABASE_URL=postgres://localhost/depositflow deposits migrate`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			from, to, err := db.Migrate(cmd.Context(), pool)
			if err != nil {
				return unavailable("the database (migrating)", err)
			}
			if from == to {
				a.printf("Schema is up to date (version %d).\n", to)
			} else {
				a.printf("Migrated schema from version %d to %d.\n", from, to)
			}
			return nil
		},
	}
}

// workerFlags are how the worker is run and watched.
type workerFlags struct {
	worker.Options
	metricsAddress string
	logFormat      string
	pprofAddress   string
	webhookGiveUp  string
	disputeRemind  string
}

func (a *app) workerCommand() *cobra.Command {
	var o workerFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the worker that executes deposit workflows and their activities",
		Long: `Run a worker on the "deposits" task queue of the Temporal namespace, with the
database and SMTP server given by flags or the environment. Run as many as you
like, on as many machines: Temporal spreads the work. Stops cleanly on SIGINT or SIGTERM.`,
		Example: `  TEMPORAL_ADDRESS=temporal:7233 DATABASE_URL=postgres://... SMTP_URL=smtp://mail:25 deposits worker`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.runWorker(ctx, o)
		},
	}
	o.addFlags(cmd)
	return cmd
}

func (o *workerFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().IntVar(&o.MaxConcurrentActivities, "max-activities", 0, "activities run at once (0: the SDK default)")
	cmd.Flags().IntVar(&o.MaxConcurrentWorkflows, "max-workflow-tasks", 0, "workflow tasks run at once (0: the SDK default)")
	cmd.Flags().IntVar(&o.MaxConcurrentLocalActivities, "max-local-activities", 0, "local activities (short database writes) run at once (0: the SDK default)")
	cmd.Flags().IntVar(&o.Pollers, "pollers", 0, "pollers per task kind (0: the SDK default)")
	cmd.Flags().IntVar(&o.CacheSize, "cache-size", worker.DefaultCacheSize, "leases kept in memory between their events; bounds the worker's memory (about 80 KB each)")
	cmd.Flags().StringVar(&o.pprofAddress, "pprof-address", envOr("PPROF_ADDRESS", ""), "serve Go's profiler at http://ADDRESS/debug/pprof/ (PPROF_ADDRESS; off when empty)")
	cmd.Flags().StringVar(&o.metricsAddress, "metrics-address", envOr("METRICS_ADDRESS", "localhost:9464"), "serve Prometheus metrics at http://ADDRESS/metrics; off to disable (METRICS_ADDRESS)")
	cmd.Flags().StringVar(&o.logFormat, "log-format", envOr("LOG_FORMAT", "text"), "log lines as text or json (LOG_FORMAT)")
	cmd.Flags().StringVar(&o.webhookGiveUp, "webhook-give-up-after", envOr("WEBHOOK_GIVE_UP_AFTER", "72h"),
		"how long a webhook delivery is retried before its endpoint is disabled and its operator emailed (WEBHOOK_GIVE_UP_AFTER)")
	cmd.Flags().StringVar(&o.disputeRemind, "dispute-remind-after", envOr("DISPUTE_REMIND_AFTER", "72h"),
		"how long a disputed item waits for the manager's answer (or an offer for the tenant's) before a reminder (DISPUTE_REMIND_AFTER)")
}

// runWorker runs a worker until ctx ends.
func (a *app) runWorker(ctx context.Context, o workerFlags) error {
	if o.logFormat != "text" && o.logFormat != "json" {
		return refused("--log-format %q: choose text or json", o.logFormat)
	}
	giveUp, err := time.ParseDuration(o.webhookGiveUp)
	if err != nil || giveUp < time.Second {
		return refused("--webhook-give-up-after %q: write a Go duration of a second or more, such as 72h", o.webhookGiveUp)
	}
	o.WebhookGiveUpAfter = giveUp
	remind, err := time.ParseDuration(o.disputeRemind)
	if err != nil || remind < time.Second {
		return refused("--dispute-remind-after %q: write a Go duration of a second or more, such as 72h", o.disputeRemind)
	}
	links, err := tenantLinks()
	if err != nil {
		return err
	}
	logger := observe.Logger(os.Stderr, o.logFormat, slog.LevelInfo)
	stopTracing, err := tracing.Setup(ctx, "deposits-worker")
	if err != nil {
		return refused("%v", err)
	}
	defer stopTracing(context.WithoutCancel(ctx))
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	mailer, err := activities.NewMailer(a.smtpURL, a.mailFrom)
	if err != nil {
		return refused("%v", err)
	}
	var metrics client.MetricsHandler
	if o.metricsAddress != "off" {
		handler, closer, err := observe.Metrics(o.metricsAddress)
		if err != nil {
			return refused("--metrics-address %s: %v", o.metricsAddress, err)
		}
		defer closer.Close()
		metrics = handler
	}
	if o.pprofAddress != "" {
		// Profiling is opt-in and bound to the address given (localhost by habit).
		ln, err := net.Listen("tcp", o.pprofAddress)
		if err != nil {
			return refused("--pprof-address %s: %v", o.pprofAddress, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	c, err := a.dialTemporal(ctx, logger, metrics)
	if err != nil {
		return err
	}
	defer c.Close()
	acts := activities.New(pool, mailer, mailer.From.Name)
	acts.Links, acts.DisputeRemindAfter = links, remind
	// Card holds go through Stripe with the secret key from the
	// environment (STRIPE_SECRET_KEY; STRIPE_API_BASE for stripe-mock),
	// never a flag and never logged.
	if cfg, ok := cardhold.ConfigFromEnv(); ok {
		cards, err := cardhold.NewStripe(cfg)
		if err != nil {
			return refused("%v", err)
		}
		acts.Cards = cards
	}
	w := worker.New(c, acts, o.Options)
	if err := w.Start(); err != nil {
		return unavailable("Temporal (starting the worker)", err)
	}
	logger.Info("worker running", "temporal", a.temporalAddress, "namespace", a.namespace, "smtp", mailer.Addr(),
		"metrics", "http://"+o.metricsAddress+"/metrics")
	<-ctx.Done()
	w.Stop()
	logger.Info("worker stopped")
	return nil
}
