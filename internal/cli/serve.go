package cli

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/internal/api"
)

func (a *app) serveCommand() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDRESS]",
		Short: "Serve the HTTP JSON API for property-management systems (api/openapi.yaml)",
		Long: `Serve the API a property-management system posts to: properties, units,
listings, residents, leases, charges, payments, returned payments and move-out
dates; and the lease's deposit and the invoices to pay. Every write is stored
in PostgreSQL first, then signalled to the lease's workflow. Requests need an
API key (deposits apikey create). Stops cleanly on SIGINT or SIGTERM.`,
		Example: `  deposits serve --listen :8081`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return refused("--listen %s: %v", listen, err)
			}
			return a.serve(ctx, l)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", envOr("API_ADDRESS", "localhost:8081"), "address to serve the API on (API_ADDRESS)")
	return cmd
}

// serve runs the API on l until ctx ends.
func (a *app) serve(ctx context.Context, l net.Listener) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	c, err := a.temporal(ctx)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api.New(pool, c, logger).Handler(), ReadHeaderTimeout: 5 * time.Second,
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
