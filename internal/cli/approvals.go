package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/internal/api"
	"github.com/depositflow/depositflow/internal/gateway"
)

// Batch approvals (issue #16): a books_admin sees what waits across their
// properties and decides several items at once; the server decides each on
// its own (roles, scope, never their own request, audited, emailed).

func (a *app) approvalsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "approvals", Short: "What waits for a books_admin's approval, across properties; approve or decline several at once"}
	list := &cobra.Command{
		Use:   "list [-o json]",
		Short: "List every keep, charge and amendment awaiting approval on your properties",
		Example: `  deposits approvals list
  deposits approvals list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			var out api.Approvals
			if err := a.get(cmd.Context(), "/v1/approvals", nil, &out); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			if len(out.Approvals) == 0 {
				a.printf("Nothing awaits approval.\n")
				return nil
			}
			t := newTable(a.out, "PROPERTY", "LEASE", "ITEM", "AMOUNT", "WHAT", "ASKED BY", "ASKED")
			for _, w := range out.Approvals {
				p := w.Pending
				t.row(w.PropertyID, w.LeaseID, p.Item, cur(w.Currency, p.AmountCents), p.Reason, p.RequestedBy, p.RequestedAt.UTC().Format("2006-01-02 15:04"))
			}
			return t.flush()
		},
	}
	var all bool
	var key, reason, message, messageFile string
	batch := func(approve bool) *cobra.Command {
		verb := "decline"
		if approve {
			verb = "approve"
		}
		c := &cobra.Command{
			Use:   verb + " (--all | LEASE[:ITEM] ...)",
			Short: strings.ToUpper(verb[:1]) + verb[1:] + " several items at once (books_admin): each on its own, never your own request",
			Long: `Decide every item awaiting approval on your properties (--all), every item of
some leases (LEASE), or one item of a lease (LEASE:keep:12). Each item is its own
decision, checked, audited and emailed as deposits ` + verb + ` would: one refused
(your own request, a lease outside your properties) does not stop the others.
Each outcome is printed; the exit code is 1 if any item was refused.`,
			Example: "  deposits approvals " + verb + " --all\n  deposits approvals " + verb + " L-100 L-200 L-300:keep:12" +
				map[bool]string{true: "", false: "\n  deposits approvals decline L-100 --reason \"No photos\" --message \"We will not keep anything for the wall.\""}[approve],
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := a.checkOutput(); err != nil {
					return err
				}
				if all == (len(args) > 0) {
					return refused("give --all or the leases, not both and not neither")
				}
				req := api.BatchRequest{All: all, Reason: strings.TrimSpace(reason)}
				for _, arg := range args {
					lease, item, ok := strings.Cut(arg, ":")
					if err := checkID("lease", lease); err != nil {
						return err
					}
					if ok {
						req.Items = append(req.Items, gateway.ApprovalItem{LeaseID: lease, Item: item})
					} else {
						req.Leases = append(req.Leases, lease)
					}
				}
				if !approve {
					msg, err := a.readMessage(message, messageFile)
					if err != nil {
						return err
					}
					req.Message = msg
				}
				var out api.BatchDecided
				if _, err := a.post(cmd.Context(), "/v1/approvals/"+verb, req, key, &out); err != nil {
					return err
				}
				if a.json() {
					if err := a.printJSON(out); err != nil {
						return err
					}
				} else {
					t := newTable(a.out, "LEASE", "ITEM", "OUTCOME")
					for _, o := range out.Outcomes {
						what := verb + "d"
						if !o.OK {
							what = "refused: " + o.Error
						}
						t.row(o.LeaseID, dash(o.Item), what)
					}
					if err := t.flush(); err != nil {
						return err
					}
					a.printf("%d %sd, %d refused.\n", out.Decided, verb, out.Refused)
				}
				if out.Refused > 0 {
					return &exitError{code: ExitRefused, err: fmt.Errorf("%d of %d refused", out.Refused, len(out.Outcomes))}
				}
				return nil
			},
		}
		c.Flags().BoolVar(&all, "all", false, "every item awaiting approval on your properties")
		c.Flags().StringVar(&key, "idempotency-key", "", "the same batch sent again under the key decides nothing twice")
		c.Flags().StringVar(&reason, "reason", "", "why, recorded with each decision")
		if !approve {
			c.Flags().StringVar(&message, "message", "", "your own words to the tenant, with each decline")
			c.Flags().StringVar(&messageFile, "message-file", "", "read the message to the tenant from this file (- for standard input)")
		}
		return c
	}
	cmd.AddCommand(list, batch(true), batch(false))
	return cmd
}
