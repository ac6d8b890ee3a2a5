package cli

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/depositflow/depositflow/internal/tracing"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/internal/api"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/observe"
)

func (a *app) serveCommand() *cobra.Command {
	var listen, metrics string
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDRESS]",
		Short: "Serve the HTTP JSON API for property-management systems (api/openapi.yaml)",
		Long: `Serve the HTTP API (api/openapi.yaml) that people's deposits CLI and
property-management systems call: every fact, decision and report of a lease.
Every write is stored in PostgreSQL first, then signalled to the lease's
workflow. Requests need a person's token (deposits user add, then deposits
login) or an integration's API key (deposits apikey create); the server checks
what each may do. Stops cleanly on SIGINT or SIGTERM.

With a payload key ring (DEPOSITS_PAYLOAD_KEYS or DEPOSITS_PAYLOAD_KEYS_FILE,
the worker's), /codec is the codec server of the Temporal Web UI and the
temporal CLI: admins open tenants' sealed data there, each request audited.
DEPOSITS_CODEC_ORIGINS lists the Web UI origins browsers may call it from.`,
		Example: `  deposits serve --listen :8081`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return refused("--listen %s: %v", listen, err)
			}
			return a.serve(ctx, l, metrics)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", envOr("API_ADDRESS", "localhost:8081"), "address to serve the API on (API_ADDRESS)")
	cmd.Flags().StringVar(&metrics, "metrics-address", os.Getenv("API_METRICS_ADDRESS"), "serve Prometheus metrics (requests by route and status, their latency, the Temporal client's calls) at http://ADDRESS/metrics; empty: off (API_METRICS_ADDRESS)")
	return cmd
}

// serve runs the API on l until ctx ends, with its metrics on
// metricsAddress unless it is empty.
func (a *app) serve(ctx context.Context, l net.Listener, metricsAddress string) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	stopTracing, err := tracing.Setup(ctx, "deposits-serve")
	if err != nil {
		return refused("%v", err)
	}
	defer stopTracing(context.WithoutCancel(ctx))
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	var metrics client.MetricsHandler
	if metricsAddress != "" {
		h, closer, err := observe.Metrics(metricsAddress)
		if err != nil {
			return refused("--metrics-address %s: %v", metricsAddress, err)
		}
		defer closer.Close()
		metrics = h
		if a.tc, err = a.dialTemporal(ctx, logger, metrics); err != nil {
			return err
		}
		logger.Info("metrics serving", "url", "http://"+metricsAddress+"/metrics")
	}
	c, err := a.temporal(ctx)
	if err != nil {
		return err
	}
	links, err := tenantLinks()
	if err != nil {
		return err
	}
	blobs, err := evidenceStore(ctx)
	if err != nil {
		return err
	}
	defer blobs.Close()
	exportAfter, err := time.ParseDuration(envOr("DISPUTE_EXPORT_AFTER", gateway.DefaultDisputeExportAfter.String()))
	if err != nil || exportAfter < 0 {
		return refused("DISPUTE_EXPORT_AFTER %q: write a Go duration, such as 336h", os.Getenv("DISPUTE_EXPORT_AFTER"))
	}
	gw := &gateway.Gateway{
		DB:       func(context.Context) (*pgxpool.Pool, error) { return pool, nil },
		Temporal: func(context.Context) (client.Client, error) { return c, nil },
		// People and PMSs wait on the answer: a Temporal hiccup longer than
		// this is answered 202 and left to the reconcile pass.
		SignalWait: 5 * time.Second,
		Logger:     logger,
		Links:      links,
		Blobs:      blobs,
		// How long a disputed item waits unanswered before its case can be
		// exported (deposits dispute export).
		DisputeExportAfter: exportAfter,
	}
	handler := api.New(gw, logger)
	if metrics != nil {
		handler.WithMetrics(metrics)
	}
	codec, err := payloadCodec()
	if err != nil {
		return err
	}
	if codec != nil {
		origins := strings.FieldsFunc(os.Getenv("DEPOSITS_CODEC_ORIGINS"), func(r rune) bool { return r == ',' || r == ' ' })
		handler.WithCodec(codec, a.namespace, origins)
		logger.Info("codec endpoint serving", "path", "/codec", "namespace", a.namespace, "key", codec.CurrentKeyID(), "origins", origins)
	}
	var h http.Handler = handler.Handler()
	if tracing.Enabled() {
		// A tenant's page and a manager's link are not traced: their path is
		// a signed link, a credential no tracing backend should keep.
		h = otelhttp.NewHandler(h, "deposits serve", otelhttp.WithFilter(func(r *http.Request) bool {
			return !strings.HasPrefix(r.URL.Path, "/t/") && !strings.HasPrefix(r.URL.Path, "/m/")
		}))
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	logger.Info("API serving", "url", "http://"+l.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			return unavailable("the API listener", err)
		}
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		logger.Info("API stopped")
	}
	return nil
}
