// Package observe is how the worker is watched: Prometheus metrics (the
// Temporal SDK's own and the deposit workflow's counters) and structured logs
// that carry the lease ID on every line about a lease.
package observe

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	"github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Metrics serves Prometheus metrics at http://addr/metrics and returns the
// handler to give the Temporal client. The SDK reports its own metrics
// (temporal_workflow_task_*, temporal_activity_*, ...) through it, and the
// deposit workflow adds deposit_held, deposit_settled,
// deposit_refunds_issued, deposit_refunded_cents, deposit_emails_sent,
// deposit_email_failures and deposit_refusals.
func Metrics(addr string) (client.MetricsHandler, io.Closer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	reg := prom.NewRegistry()
	reporter := prometheus.NewReporter(prometheus.Options{Registerer: reg, DefaultTimerType: prometheus.HistogramTimerType})
	scope, scopeCloser := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       prometheus.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	mux := http.NewServeMux()
	mux.Handle("/metrics", reporter.HTTPHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closers{scopeCloser, srv}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Logger returns a structured logger (format "json" or "text") whose lines
// about a deposit workflow carry lease_id, taken from the workflow ID
// (deposit-<lease id>) the Temporal SDK adds to its workflow and activity logs.
func Logger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(leaseHandler{Handler: h})
}

// leaseHandler adds lease_id next to a deposit workflow's WorkflowID.
type leaseHandler struct {
	slog.Handler
	hasLease bool
}

func leaseOf(a slog.Attr) (string, bool) {
	if a.Key != "WorkflowID" {
		return "", false
	}
	return strings.CutPrefix(a.Value.String(), "deposit-")
}

func (h leaseHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.hasLease
	for _, a := range attrs {
		if a.Key == "lease_id" {
			has = true
		}
	}
	if !has {
		for _, a := range attrs {
			if lease, ok := leaseOf(a); ok {
				attrs = append(attrs, slog.String("lease_id", lease))
				has = true
				break
			}
		}
	}
	return leaseHandler{Handler: h.Handler.WithAttrs(attrs), hasLease: has}
}

func (h leaseHandler) WithGroup(name string) slog.Handler {
	return leaseHandler{Handler: h.Handler.WithGroup(name), hasLease: h.hasLease}
}

func (h leaseHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.hasLease {
		var lease string
		has := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "lease_id" {
				has = true
				return false
			}
			if l, ok := leaseOf(a); ok {
				lease = l
			}
			return true
		})
		if !has && lease != "" {
			r.AddAttrs(slog.String("lease_id", lease))
		}
	}
	return h.Handler.Handle(ctx, r)
}
