// Package cli is the `deposits` command. People's commands (lease start,
// payments, charges, decisions, status, reports) call a depositflow server
// (`deposits serve`) with the person's own token, kept by `deposits login`:
// the server decides what their role allows, the CLI only asks and prints.
// Admin and infrastructure commands (migrate, setup, worker, serve, dev,
// user, apikey, webhook, rules set/import/delete, reconcile, import) run where the
// database and Temporal are, with direct connections.
//
// Exit codes: 0 done, 1 refused or invalid input (nothing changed), 2 the
// server, the database or Temporal cannot be reached, 3 not allowed (not
// signed in, or the role or property does not allow it).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"

	"github.com/depositflow/depositflow/internal/tracing"
	"github.com/exaring/otelpgx"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/internal/gateway"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitRefused     = 1
	ExitUnavailable = 2
	ExitNotAllowed  = 3
)

// exitError carries the exit code an error should end the program with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// refused is an error in what the user asked: exit 1, nothing changed.
func refused(format string, args ...any) error {
	return &exitError{code: ExitRefused, err: fmt.Errorf(format, args...)}
}

// unavailable is a failure to reach a service: exit 2. The cause is shown:
// these are admin commands, run by the operator where the services are.
func unavailable(what string, err error) error {
	return &exitError{code: ExitUnavailable, err: fmt.Errorf("cannot reach %s: %w", what, err)}
}

// notAllowed is a refusal for who the user is: exit 3.
func notAllowed(format string, args ...any) error {
	return &exitError{code: ExitNotAllowed, err: fmt.Errorf(format, args...)}
}

// app holds the settings every command shares and the connections it opens.
type app struct {
	// The server people's commands call, and their credential (deposits login).
	server string
	token  string
	// Direct connections, for admin and infrastructure commands.
	temporalAddress string
	namespace       string
	databaseURL     string
	smtpURL         string
	mailFrom        string
	output          string

	conn temporalConn

	out, errOut io.Writer
	in          io.Reader
	root        *cobra.Command
	pool        *pgxpool.Pool
	tc          client.Client
}

// Main runs the command line and returns the process's exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	return MainWithInput(args, os.Stdin, stdout, stderr)
}

// MainWithInput is Main reading standard input from in.
func MainWithInput(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{out: stdout, errOut: stderr, in: stdin}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(context.Background())
	a.close()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "error:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Cobra's own errors (unknown flag, missing argument) are input errors.
	return ExitRefused
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "deposits",
		Short: "Run rental security deposits as durable Temporal workflows",
		Long: `deposits runs the whole life of each lease's security deposit as one durable
Temporal workflow: charge, payments, move-out, final charges, notice, and the
refund or the invoice for a balance owed, emailing the tenant at each step.

People sign in once with deposits login (their own token, from an admin's
deposits user add) and act through the server; the server checks what their
role allows on which properties and audits every action under their name.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&a.server, "server", "", "the depositflow server people's commands call (DEPOSITS_SERVER; default: deposits login's)")
	f.StringVar(&a.temporalAddress, "temporal-address", "", "Temporal frontend host:port, for admin commands (TEMPORAL_ADDRESS, or the Temporal client config's profile; default localhost:7233)")
	f.StringVar(&a.namespace, "namespace", "", "Temporal namespace (TEMPORAL_NAMESPACE, or the profile's; default \"default\")")
	f.StringVar(&a.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL connection URL, for admin commands (DATABASE_URL)")
	f.StringVar(&a.smtpURL, "smtp-url", envOr("SMTP_URL", "smtp://localhost:1025"), "SMTP server, smtp://[user:pass@]host:port (SMTP_URL)")
	f.StringVar(&a.mailFrom, "mail-from", envOr("MAIL_FROM", "Deposits <deposits@depositflow.local>"), "sender of tenant emails (MAIL_FROM)")
	f.StringVarP(&a.output, "output", "o", "table", "output format of read commands: table or json")
	a.root = root
	a.conn.addFlags(a)

	root.AddCommand(
		a.loginCommand(),
		a.logoutCommand(),
		a.whoamiCommand(),
		a.leaseCommand(),
		a.listingCommand(),
		a.paymentCommand(),
		a.moveOutCommand(),
		a.chargeCommand(),
		a.statusCommand(),
		a.listCommand(),
		a.workerCommand(),
		a.migrateCommand(),
		a.devCommand(),
		a.propertyCommand(),
		a.auditCommand(),
		a.depositCommand(),
		a.ledgerCommand(),
		a.setupCommand(),
		a.emailCommand(),
		a.rulesCommand(),
		a.forwardingCommand(),
		a.complianceCommand(),
		a.statementCommand(),
		a.serveCommand(),
		a.userCommand(),
		a.apikeyCommand(),
		a.webhookCommand(),
		a.reconcileCommand(),
		a.importCommand(),
		a.booksCommand(),
		a.evidenceCommand(),
		a.disputeCommand(),
		a.certsCommand(),
		a.approvalsCommand(),
	)
	root.AddCommand(a.decisionCommands()...)
	root.AddCommand(a.moveCommands()...)
	return root
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// local is who an admin command acts as: the operating-system user, where
// the database is. Their actions are audited under that name.
func (a *app) local() gateway.Principal {
	return gateway.Principal{Kind: gateway.KindLocal, Name: currentUser(), Roles: []string{"admin"}, Properties: []string{"*"}}
}

// db opens the database pool on first use (admin commands).
func (a *app) db(ctx context.Context) (*pgxpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	if a.databaseURL == "" {
		return nil, refused("no database: this is an admin command, run where the database is; set DATABASE_URL or --database-url (deposits dev prints one)")
	}
	cfg, err := pgxpool.ParseConfig(a.databaseURL)
	if err != nil {
		// pgx's message can quote the URL, password and all: say only what is wrong.
		return nil, refused("DATABASE_URL is not a PostgreSQL URL (postgres://user:password@host:5432/db)")
	}
	if tracing.Enabled() {
		cfg.ConnConfig.Tracer = otelpgx.NewTracer() // each query a span of its caller's trace
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, unavailable("the database", err)
	}
	a.pool = pool
	return pool, nil
}

// temporal dials the Temporal frontend on first use (admin commands).
func (a *app) temporal(ctx context.Context) (client.Client, error) {
	if a.tc != nil {
		return a.tc, nil
	}
	c, err := a.dialTemporal(ctx, slog.New(slog.NewTextHandler(a.errOut, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	if err != nil {
		return nil, err
	}
	a.tc = c
	return c, nil
}

// gateway is the lease gateway over the direct connections, for admin
// commands (import, reconcile, user).
func (a *app) gateway() *gateway.Gateway {
	return &gateway.Gateway{DB: a.db, Temporal: a.temporal}
}

// adminGateway is the gateway of an admin command that needs the database:
// one that cannot reach it (or has none set) stops here, with the reason.
func (a *app) adminGateway(ctx context.Context) (*gateway.Gateway, error) {
	if _, err := a.db(ctx); err != nil {
		return nil, err
	}
	return a.gateway(), nil
}

func (a *app) close() {
	if a.tc != nil {
		a.tc.Close()
	}
	if a.pool != nil {
		a.pool.Close()
	}
}

func (a *app) json() bool { return a.output == "json" }

func (a *app) checkOutput() error {
	if a.output != "table" && a.output != "json" {
		return refused("-o %q: choose table or json", a.output)
	}
	return nil
}

// gatewayErr gives a gateway refusal its exit code, for admin commands.
func gatewayErr(err error) error {
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		return err
	}
	switch ge.Kind {
	case gateway.Unavailable, gateway.NotSignalled:
		if c := ge.Cause(); c != nil {
			return &exitError{code: ExitUnavailable, err: fmt.Errorf("%s: %v", ge.Msg, c)}
		}
		return &exitError{code: ExitUnavailable, err: ge}
	case gateway.Forbidden, gateway.Unauthenticated:
		return &exitError{code: ExitNotAllowed, err: ge}
	}
	return &exitError{code: ExitRefused, err: ge}
}
