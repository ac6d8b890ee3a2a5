package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/depositflow/depositflow/templates"
	"github.com/depositflow/depositflow/workflows"
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
Creates (or updates) the Temporal Schedule that runs the reconcile pass.`,
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
			return nil
		},
	}
	cmd.Flags().DurationVar(&every, "reconcile-every", workflows.ReconcileEvery, "how often the reconcile pass runs (0: not scheduled)")
	return cmd
}

// setup registers the search attributes that are missing and returns their names.
func (a *app) setup(ctx context.Context) ([]string, error) {
	c, err := a.temporal(ctx)
	if err != nil {
		return nil, err
	}
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: a.namespace})
	if err != nil {
		return nil, unavailable("Temporal (listing search attributes)", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	var names []string
	for _, k := range workflows.SearchAttributeKeys {
		if _, ok := have.GetCustomAttributes()[k.GetName()]; ok {
			continue
		}
		t := enumspb.INDEXED_VALUE_TYPE_KEYWORD
		if k.GetValueType() == enumspb.INDEXED_VALUE_TYPE_DATETIME {
			t = enumspb.INDEXED_VALUE_TYPE_DATETIME
		}
		missing[k.GetName()] = t
		names = append(names, k.GetName())
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: a.namespace, SearchAttributes: missing,
	}); err != nil {
		return nil, unavailable("Temporal (adding search attributes)", err)
	}
	return names, nil
}

// listedLease is one row of `deposits list`, read from Temporal's visibility.
type listedLease struct {
	LeaseID      string    `json:"lease_id"`
	PropertyID   string    `json:"property_id"`
	Stage        string    `json:"stage"`
	ReleaseAt    time.Time `json:"release_at,omitzero"`
	Jurisdiction string    `json:"jurisdiction"`
	Status       string    `json:"workflow_status"`
	WorkflowID   string    `json:"workflow_id"`
	StartedAt    time.Time `json:"started_at"`
}

// listQuery builds the visibility query for the list filters.
func listQuery(stage, property string, dueBefore time.Time) string {
	q := []string{fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowType)}
	if stage != "" {
		q = append(q, fmt.Sprintf("%s = '%s'", workflows.SAStage.GetName(), stage))
	}
	if property != "" {
		q = append(q, fmt.Sprintf("%s = '%s'", workflows.SAPropertyID.GetName(), property))
	}
	if !dueBefore.IsZero() {
		q = append(q, fmt.Sprintf("%s < '%s'", workflows.SAReleaseAt.GetName(), dueBefore.UTC().Format(time.RFC3339)))
	}
	return strings.Join(q, " AND ")
}

func (a *app) listFromVisibility(ctx context.Context, query string, limit int) ([]listedLease, error) {
	c, err := a.temporal(ctx)
	if err != nil {
		return nil, err
	}
	out := []listedLease{}
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: a.namespace, Query: query, NextPageToken: token, PageSize: int32(min(limit, 1000)),
		})
		if err != nil {
			if strings.Contains(err.Error(), "not defined") || strings.Contains(err.Error(), "invalid search attribute") {
				return nil, refused("the namespace lacks depositflow's search attributes: run `deposits setup` (%v)", err)
			}
			return nil, unavailable("Temporal (listing workflows)", err)
		}
		for _, e := range resp.GetExecutions() {
			l := listedLease{WorkflowID: e.GetExecution().GetWorkflowId(), Status: strings.ToLower(strings.TrimPrefix(e.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")),
				StartedAt: e.GetStartTime().AsTime()}
			fields := e.GetSearchAttributes().GetIndexedFields()
			dc := converter.GetDefaultDataConverter()
			for name, into := range map[string]any{
				workflows.SALeaseID.GetName(): &l.LeaseID, workflows.SAPropertyID.GetName(): &l.PropertyID,
				workflows.SAStage.GetName(): &l.Stage, workflows.SAJurisdiction.GetName(): &l.Jurisdiction,
				workflows.SAReleaseAt.GetName(): &l.ReleaseAt,
			} {
				if p, ok := fields[name]; ok {
					_ = dc.FromPayload(p, into)
				}
			}
			out = append(out, l)
			if len(out) >= limit {
				return out, nil
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return out, nil
		}
	}
}

func (a *app) emailCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "email", Short: "The emails depositflow sends"}
	var lease, out string
	var text bool
	preview := &cobra.Command{
		Use:   "preview KIND --lease LEASE [--out file.html] [--text]",
		Short: "Render an email for a lease as it stands, without sending it",
		Long: "Render the email of KIND (" + strings.Join(templates.Kinds, ", ") + `) from the
lease's current state. The HTML goes to --out (or standard output); --text prints
the plain-text part instead. Nothing is sent.`,
		Example: `  deposits email preview notice --lease L-100 --out notice.html
  deposits email preview refund --lease L-100 --text`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: templates.Kinds,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(templates.Kinds, args[0]) {
				return refused("no email of kind %q: choose one of %s", args[0], strings.Join(templates.Kinds, ", "))
			}
			if lease == "" {
				return refused("--lease is required")
			}
			s, err := a.leaseState(cmd.Context(), lease)
			if err != nil {
				return err
			}
			r, err := templates.Render(args[0], workflows.EmailData(s, args[0] == templates.KindReminder))
			if err != nil {
				return err
			}
			if text {
				a.printf("Subject: %s\n\n%s", r.Subject, r.Text)
				return nil
			}
			if out == "" {
				a.printf("%s", r.HTML)
				return nil
			}
			if err := os.WriteFile(out, []byte(r.HTML), 0o644); err != nil {
				return refused("--out %s: %v", out, err)
			}
			a.printf("Wrote %q (%s) to %s.\n", r.Subject, args[0], out)
			return nil
		},
	}
	preview.Flags().StringVar(&lease, "lease", "", "the lease whose state the email shows")
	preview.Flags().StringVar(&out, "out", "", "write the HTML part to this file")
	preview.Flags().BoolVar(&text, "text", false, "print the plain-text part instead of the HTML")
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
			q, err := a.leaseQueries(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			rows, err := q.ListLeaseEmails(cmd.Context(), args[0])
			if err != nil {
				return unavailable("the database", err)
			}
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
