package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/depositclient"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
	"github.com/depositflow/depositflow/worker"
)

func (a *app) setupCommand() *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Register depositflow's search attributes in the Temporal namespace (safe to run again)",
		Long: `Register the custom search attributes the deposit workflows set, so operators
can filter leases in the Temporal Web UI and with temporal workflow list --query:
DepositLeaseId, DepositPropertyId, DepositStage, DepositReleaseAt,
DepositJurisdiction, DepositStatutoryDeadline. Attributes already there are left alone.
Creates (or updates) the Temporal Schedules that run the reconcile pass and the
books' daily pass (interest credited at lease anniversaries where the statute
pays it yearly, refunds left unpaid flagged to the manager).`,
		Example: `  deposits setup
  temporal workflow list --query "DepositStage = 'release_pending' AND DepositReleaseAt < '2026-12-01T00:00:00Z'"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			added, err := a.setup(cmd.Context())
			if err != nil {
				return err
			}
			if len(added) == 0 {
				a.printf("Search attributes already registered in namespace %s.\n", a.namespace)
			} else {
				a.printf("Registered search attributes in namespace %s: %s.\n", a.namespace, strings.Join(added, ", "))
			}
			msg, err := a.scheduleReconcile(cmd.Context(), every)
			if err != nil {
				return err
			}
			a.printf("%s\n", msg)
			c, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			if msg, err = worker.ScheduleBooks(cmd.Context(), c); err != nil {
				return unavailable("Temporal", err)
			}
			a.printf("%s\n", msg)
			return nil
		},
	}
	cmd.Flags().DurationVar(&every, "reconcile-every", worker.ReconcileEvery, "how often the reconcile pass runs (0: not scheduled)")
	return cmd
}

// setup registers the search attributes that are missing and returns their names.
func (a *app) setup(ctx context.Context) ([]string, error) {
	c, err := a.temporal(ctx)
	if err != nil {
		return nil, err
	}
	names, err := worker.Setup(ctx, c, a.namespace)
	if err != nil {
		return nil, unavailable("Temporal", err)
	}
	return names, nil
}

func (a *app) emailCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "email", Short: "The emails depositflow sends"}
	var lease, out, message, messageFile string
	var text bool
	preview := &cobra.Command{
		Use:   "preview KIND --lease LEASE [--out file.html] [--text]",
		Short: "Render an email for a lease as it stands, without sending it",
		Long: "Render the email of KIND (" + strings.Join(templates.Kinds, ", ") + `) from the
lease's current state. The HTML goes to --out (or standard output); --text prints
the plain-text part instead. Nothing is sent. The manager's message to the tenant
(given with keep, release or decline) shows above the statement; --message or
--message-file shows a draft in its place.`,
		Example: `  deposits email preview notice --lease L-100 --out notice.html
  deposits email preview refund --lease L-100 --text
  deposits email preview refund --lease L-100 --text --message "Thank you for leaving the flat spotless."`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: templates.Kinds,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(templates.Kinds, args[0]) {
				return refused("no email of kind %q: choose one of %s", args[0], strings.Join(templates.Kinds, ", "))
			}
			if lease == "" {
				return refused("--lease is required")
			}
			if err := checkID("--lease", lease); err != nil {
				return err
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			format := "html"
			if text {
				format = "text"
			}
			query := url.Values{"format": {format}}
			msg, err := a.readMessage(message, messageFile)
			if err != nil {
				return err
			}
			if msg != "" {
				query.Set("message", msg)
			}
			resp, err := c.Do(cmd.Context(), depositclient.Request{Method: http.MethodGet, Path: depositclient.LeasePath(lease, "emails", args[0], "preview"),
				Query: query})
			if err != nil {
				return remoteErr(err)
			}
			if text || out == "" {
				_, err := a.out.Write(resp.Body)
				return err
			}
			if err := os.WriteFile(out, resp.Body, 0o644); err != nil {
				return refused("--out %s: %v", out, err)
			}
			a.printf("Wrote %q (%s) to %s.\n", resp.Header.Get("X-Email-Subject"), args[0], out)
			return nil
		},
	}
	preview.Flags().StringVar(&lease, "lease", "", "the lease whose state the email shows")
	preview.Flags().StringVar(&out, "out", "", "write the HTML part to this file")
	preview.Flags().BoolVar(&text, "text", false, "print the plain-text part instead of the HTML")
	preview.Flags().StringVar(&message, "message", "", "a draft of your message to the tenant, shown above the statement")
	preview.Flags().StringVar(&messageFile, "message-file", "", "the draft message from this file (- for standard input)")
	cmd.AddCommand(preview, a.emailLogCommand())
	return cmd
}

// emailLogCommand answers support's question "did the tenant get it?" from
// the outbox, so it works while Temporal is away.
func (a *app) emailLogCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "log LEASE [-o json]",
		Short: "Show every email of a lease: when it went out, to whom, and what went wrong on the way",
		Long: `Show the lease's emails from the outbox: kind, recipient, Message-ID, when the
mail server accepted it, how many attempts it took and the last error. "sent again"
counts retries after an attempt whose outcome could not be known (the worker died
or the line dropped after the whole message was written): the tenant may have
received the same message twice, under one Message-ID.`,
		Example: `  deposits email log L-100`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if err := checkID("lease", args[0]); err != nil {
				return err
			}
			var resp struct {
				Emails []deposit.EmailEntry `json:"emails"`
			}
			if err := a.get(cmd.Context(), depositclient.LeasePath(args[0], "emails"), nil, &resp); err != nil {
				return err
			}
			rows := resp.Emails
			if a.json() {
				return a.printJSON(rows)
			}
			t := newTable(a.out, "KIND", "TO", "SENT AT", "ATTEMPTS", "SENT AGAIN", "LAST ERROR", "MESSAGE-ID")
			for _, r := range rows {
				sent := "not yet"
				if r.SentAt != nil {
					sent = r.SentAt.UTC().Format(time.RFC3339)
				}
				t.row(r.Kind, r.Recipient, sent, fmt.Sprint(r.Attempts), fmt.Sprint(r.AttemptsInDoubt), dash(r.LastError), "<"+r.MessageID+">")
			}
			return t.flush()
		},
	}
}
