package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/mailsink"
	"github.com/depositflow/depositflow/internal/pgcluster"
	"github.com/depositflow/depositflow/worker"
)

type devOptions struct {
	workerFlags
	dataDir      string
	temporalBin  string
	temporalPort int
	uiPort       int
	pgPort       int
	smtpPort     int
	mailWebPort  int
	apiPort      int
}

func (a *app) devCommand() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole product on this machine: Temporal with its Web UI, PostgreSQL, an SMTP sink and the worker",
		Long: `Run everything in the foreground until Ctrl-C:
  - a Temporal dev server with its Web UI (the temporal CLI: PATH, .tools/ or --temporal-bin),
  - a PostgreSQL cluster from the installed server binaries (unless DATABASE_URL is set),
  - an SMTP sink that keeps every email, with a web page to read them,
  - the deposits worker,
  - the HTTP API for property-management systems (deposits serve), with a dev API key,
  - the reconcile schedule (every 15 minutes).
Data stays under --data-dir between runs. The addresses are printed, with the
environment to paste into another shell for the other deposits commands.`,
		Example: `  deposits dev
  deposits dev --data-dir /tmp/deposits-demo --ui-port 8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.dev(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", ".data", "where PostgreSQL, Temporal and the received mail keep their data")
	f.StringVar(&o.temporalBin, "temporal-bin", "", "the temporal CLI binary (default: PATH, then .tools/temporal)")
	f.IntVar(&o.temporalPort, "temporal-port", 7233, "Temporal frontend port")
	f.IntVar(&o.uiPort, "ui-port", 8233, "Temporal Web UI port")
	f.IntVar(&o.pgPort, "pg-port", 54329, "PostgreSQL port (when deposits dev runs it)")
	f.IntVar(&o.smtpPort, "smtp-port", 1025, "SMTP sink port")
	f.IntVar(&o.mailWebPort, "mail-web-port", 1080, "port of the web page that shows received mail")
	f.IntVar(&o.apiPort, "api-port", 8081, "port of the HTTP API (deposits serve)")
	o.workerFlags.addFlags(cmd)
	return cmd
}

func (a *app) dev(ctx context.Context, o devOptions) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return err
	}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}

	// PostgreSQL.
	if a.databaseURL == "" {
		logger.Info("starting PostgreSQL", "dir", filepath.Join(dataDir, "pg"), "port", o.pgPort)
		pg, err := pgcluster.Start(ctx, filepath.Join(dataDir, "pg"), o.pgPort)
		if err != nil {
			return unavailable("PostgreSQL", err)
		}
		defer func() { _ = pg.Stop() }()
		if a.databaseURL, err = pg.CreateDatabase(ctx, "depositflow"); err != nil {
			return unavailable("PostgreSQL", err)
		}
	}
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	if _, _, err := db.Migrate(ctx, pool); err != nil {
		return unavailable("the database (migrating)", err)
	}

	// SMTP sink and its web page.
	sink, err := mailsink.Start(net.JoinHostPort("127.0.0.1", strconv.Itoa(o.smtpPort)), filepath.Join(dataDir, "mail"))
	if err != nil {
		return unavailable("a free SMTP port", err)
	}
	defer sink.Close()
	a.smtpURL = "smtp://" + sink.Addr
	mailWeb := &http.Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.mailWebPort)), Handler: sink.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := mailWeb.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("mail web page", "error", err)
		}
	}()
	defer mailWeb.Close()

	// Temporal dev server with its Web UI.
	bin, err := findTemporal(o.temporalBin)
	if err != nil {
		return err
	}
	a.temporalAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(o.temporalPort))
	if a.namespace == "" {
		a.namespace = "default"
	}
	server := exec.Command(bin, "server", "start-dev",
		"--ip", "127.0.0.1", "--port", strconv.Itoa(o.temporalPort), "--ui-port", strconv.Itoa(o.uiPort),
		"--db-filename", filepath.Join(dataDir, "temporal.db"), "--namespace", a.namespace, "--log-level", "error")
	server.Stdout, server.Stderr = os.Stderr, os.Stderr
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // we stop it ourselves after the worker
	logger.Info("starting Temporal dev server", "bin", bin, "address", a.temporalAddress)
	if err := server.Start(); err != nil {
		return unavailable("Temporal (starting "+bin+")", err)
	}
	defer func() {
		_ = server.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = server.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = server.Process.Kill()
		}
	}()
	if err := waitForTemporal(ctx, a.temporalAddress, a.namespace); err != nil {
		return unavailable("Temporal at "+a.temporalAddress, err)
	}
	if _, err := a.setup(ctx); err != nil {
		return err
	}
	if _, err := a.scheduleReconcile(ctx, worker.ReconcileEvery); err != nil {
		return err
	}

	// The tenant's side: a link secret kept in the data folder, evidence
	// files in it, and links to this API.
	if err := devTenantSide(dataDir, o.apiPort); err != nil {
		return err
	}

	// The API, with a dev key kept in the data folder.
	apiKey, err := a.devAPIKey(ctx, filepath.Join(dataDir, "api-key"))
	if err != nil {
		return err
	}
	apiListener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.apiPort)))
	if err != nil {
		return unavailable("a free API port", err)
	}
	go func() {
		if err := a.serve(ctx, apiListener, ""); err != nil {
			logger.Error("API", "error", err)
		}
	}()

	apiURL := "http://" + apiListener.Addr().String()
	admin, err := a.devLogin(ctx, filepath.Join(dataDir, "dev-token"), apiURL)
	if err != nil {
		return err
	}
	env := fmt.Sprintf("export TEMPORAL_ADDRESS=%s TEMPORAL_NAMESPACE=%s DATABASE_URL='%s' SMTP_URL=%s DEPOSITS_SERVER=%s DEPOSITS_API=%s DEPOSITS_API_KEY=%s",
		a.temporalAddress, a.namespace, a.databaseURL, a.smtpURL, apiURL, apiURL, apiKey)
	fmt.Fprintf(a.out, `
depositflow is running. Ctrl-C stops everything.

  Temporal Web UI   http://localhost:%d/namespaces/%s/workflows
  Temporal          %s (namespace %s)
  PostgreSQL        %s
  SMTP sink         %s, received mail at http://localhost:%d/
  Worker metrics    http://%s/metrics
  API               %s (api/openapi.yaml), dev key in %s
  Signed in as      %s (every role, every property: deposits whoami); add your team with deposits user add
  Data              %s

In another shell:
  %s
  export PATH=$PWD/bin:$PATH
  deposits whoami
  curl -H "Authorization: Bearer $DEPOSITS_API_KEY" $DEPOSITS_API/v1/me
then README.md's "A manager's day", as written.

`, o.uiPort, a.namespace, a.temporalAddress, a.namespace, a.databaseURL, a.smtpURL, o.mailWebPort, o.metricsAddress, apiURL, filepath.Join(dataDir, "env"), admin, dataDir, "source "+filepath.Join(dataDir, "env"))
	// It holds the dev API key: readable by its owner only.
	if err := os.WriteFile(filepath.Join(dataDir, "env"), []byte(env+"\n"), 0o600); err != nil {
		return err
	}
	_ = os.Chmod(filepath.Join(dataDir, "env"), 0o600)

	return a.runWorker(ctx, o.workerFlags)
}

// devAPIKey returns the dev API key (every property) kept in file, creating
// it on the first run; the database keeps only its hash.
func (a *app) devAPIKey(ctx context.Context, file string) (string, error) {
	pool, err := a.db(ctx)
	if err != nil {
		return "", err
	}
	q := db.New(pool)
	if b, err := os.ReadFile(file); err == nil {
		key := strings.TrimSpace(string(b))
		if _, err := q.GetAPIKeyByHash(ctx, gateway.Hash(key)); err == nil {
			return key, nil
		}
	}
	key, hash, err := gateway.NewSecret(gateway.KeyPrefix)
	if err != nil {
		return "", err
	}
	name := "dev-" + time.Now().UTC().Format("20060102T150405")
	if _, err := q.CreateAPIKey(ctx, db.CreateAPIKeyParams{Name: name, KeyHash: hash, KeyPrefix: gateway.Shown(key),
		Properties: []string{"*"}, CreatedBy: "deposits dev"}); err != nil {
		return "", unavailable("the database", err)
	}
	return key, os.WriteFile(file, []byte(key+"\n"), 0o600)
}

// devLogin makes sure there is a first admin (every role, every property)
// and signs this machine's CLI in as them, so a newcomer's first commands
// just work. Their token is kept in file (mode 0600) and reused while it works.
func (a *app) devLogin(ctx context.Context, file, server string) (string, error) {
	g := a.gateway()
	token := ""
	if b, err := os.ReadFile(file); err == nil {
		if who, err := g.Authenticate(ctx, strings.TrimSpace(string(b)), "dev"); err == nil && who.Kind == gateway.KindUser {
			token = strings.TrimSpace(string(b))
		}
	}
	const name = "dev"
	if token == "" {
		u, err := g.AddUser(ctx, a.local(), gateway.UserIn{Name: name, Roles: deposit.Roles, Properties: []string{"*"}, TokenLife: 400 * 24 * time.Hour})
		if gateway.IsKind(err, gateway.Conflict) {
			u, err = g.RotateUser(ctx, a.local(), name, 400*24*time.Hour)
		}
		if err != nil {
			return "", gatewayErr(err)
		}
		token = u.Token
		if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	if _, err := writeConfig(config{Server: server, Token: token}); err != nil {
		return "", refused("signing the CLI in: %v", err)
	}
	return name, nil
}

// findTemporal finds the temporal CLI: the flag, then PATH, then the
// project's .tools folder where `make tools` installs it.
func findTemporal(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	if p, err := filepath.Abs(filepath.Join(".tools", "temporal")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", refused("the temporal CLI is not installed: run `make tools` (or go install github.com/temporalio/cli/cmd/temporal@v1.5.1) or pass --temporal-bin")
}

func waitForTemporal(ctx context.Context, address, namespace string) error {
	deadline := time.Now().Add(60 * time.Second)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Logger: sdklog.NewStructuredLogger(quiet)})
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}
