package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
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
	var listen, metrics, tlsCert, tlsKey string
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
DEPOSITS_CODEC_ORIGINS lists the Web UI origins browsers may call it from.

With --tls-cert and --tls-key it serves HTTPS only (TLS 1.2 or later), and
reads the pair again when the files change (a renewed certificate needs no
restart). The CLI trusts a private CA through SSL_CERT_FILE.`,
		Example: `  deposits serve --listen :8081
  deposits serve --listen :8443 --tls-cert /certs/api.pem --tls-key /certs/api-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return refused("--listen %s: %v", listen, err)
			}
			if (tlsCert == "") != (tlsKey == "") {
				return refused("--tls-cert and --tls-key go together")
			}
			if tlsCert != "" {
				certs, err := newCertReloader(tlsCert, tlsKey)
				if err != nil {
					l.Close()
					return refused("--tls-cert %s, --tls-key %s: %v", tlsCert, tlsKey, err)
				}
				l = httpsListener{tls.NewListener(l, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get, NextProtos: []string{"h2", "http/1.1"}})}
			}
			return a.serve(ctx, l, metrics)
		},
	}
	cmd.Flags().StringVar(&tlsCert, "tls-cert", os.Getenv("API_TLS_CERT"), "serve HTTPS with this PEM certificate (chain) file (API_TLS_CERT)")
	cmd.Flags().StringVar(&tlsKey, "tls-key", os.Getenv("API_TLS_KEY"), "the PEM private key of --tls-cert (API_TLS_KEY)")
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
	scheme := "http"
	if _, ok := l.(httpsListener); ok {
		scheme = "https"
	}
	logger.Info("API serving", "url", scheme+"://"+l.Addr().String())
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

// httpsListener is the listener of an API served over TLS.
type httpsListener struct{ net.Listener }

// certReloader hands out the certificate of a file pair, read again when
// either file's modification time changes.
type certReloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	stamp             string
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.get(nil); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	stamp := ""
	for _, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		stamp += st.ModTime().String() + fmt.Sprint(st.Size())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && stamp == r.stamp {
		return r.cert, nil
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			// A pair caught half-written: keep serving the last good one.
			return r.cert, nil
		}
		return nil, err
	}
	r.cert, r.stamp = &c, stamp
	return r.cert, nil
}
