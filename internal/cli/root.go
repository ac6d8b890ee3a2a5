// Package cli is the `deposits` command: what managers type, what operators
// run, and what scripts and tests drive. Exit codes: 0 done, 1 refused or
// invalid input (nothing changed), 2 Temporal or the database cannot be reached.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitRefused     = 1
	ExitUnavailable = 2
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

// unavailable is a failure to reach a service: exit 2.
func unavailable(what string, err error) error {
	return &exitError{code: ExitUnavailable, err: fmt.Errorf("cannot reach %s: %w", what, err)}
}

// app holds the settings every command shares and the connections it opens.
type app struct {
	temporalAddress string
	namespace       string
	databaseURL     string
	smtpURL         string
	mailFrom        string
	actor           string
	role            string
	output          string

	conn temporalConn

	out, errOut io.Writer
	root        *cobra.Command
	pool        *pgxpool.Pool
	tc          client.Client
}

// Main runs the command line and returns the process's exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	a := &app{out: stdout, errOut: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
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
refund or the invoice for a balance owed, emailing the tenant at each step.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&a.temporalAddress, "temporal-address", envOr("TEMPORAL_ADDRESS", "localhost:7233"), "Temporal frontend host:port (TEMPORAL_ADDRESS)")
	f.StringVar(&a.namespace, "namespace", envOr("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (TEMPORAL_NAMESPACE)")
	f.StringVar(&a.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL connection URL (DATABASE_URL)")
	f.StringVar(&a.smtpURL, "smtp-url", envOr("SMTP_URL", "smtp://localhost:1025"), "SMTP server, smtp://[user:pass@]host:port (SMTP_URL)")
	f.StringVar(&a.mailFrom, "mail-from", envOr("MAIL_FROM", "Deposits <deposits@depositflow.local>"), "sender of tenant emails (MAIL_FROM)")
	f.StringVar(&a.actor, "actor", envOr("DEPOSITS_ACTOR", currentUser()), "who is acting, for the audit log (DEPOSITS_ACTOR)")
	f.StringVar(&a.role, "role", envOr("DEPOSITS_ROLE", "manager"), "role of the actor: manager or books_admin (DEPOSITS_ROLE)")
	f.StringVarP(&a.output, "output", "o", "table", "output format of read commands: table or json")
	a.root = root
	a.conn.addFlags(a)

	root.AddCommand(
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
		a.apikeyCommand(),
		a.reconcileCommand(),
		a.importCommand(),
	)
	root.AddCommand(a.decisionCommands()...)
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

// db opens the database pool on first use.
func (a *app) db(ctx context.Context) (*pgxpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	if a.databaseURL == "" {
		return nil, refused("no database: set DATABASE_URL or --database-url (deposits dev prints one)")
	}
	pool, err := pgxpool.New(ctx, a.databaseURL)
	if err != nil {
		return nil, refused("DATABASE_URL: %v", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, unavailable("the database", err)
	}
	a.pool = pool
	return pool, nil
}

// temporal dials the Temporal frontend on first use.
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
