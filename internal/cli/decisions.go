package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/workflows"
)

// Manager decisions are Temporal Updates: the workflow's validator refuses a
// wrong request before anything is written, and the refusal comes back here
// through the update handle. Each command prints the state after the decision.

func (a *app) by() workflows.Actor { return workflows.Actor{Actor: a.actor, Role: a.role} }

func (a *app) decisionCommands() []*cobra.Command {
	var days int
	extend := &cobra.Command{
		Use:   "extend LEASE [--days 7]",
		Short: "Move the release date later (repeatable, up to 120 days after move-out)",
		Example: `  deposits extend L-100
  deposits extend L-100 --days 14`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), args[0], workflows.UpdateExtend, workflows.ExtendRequest{Actor: a.by(), Days: days},
				func(s deposit.State) string {
					return fmt.Sprintf("Release of lease %s moved to %s.", s.LeaseID, s.ReleaseAt.Format(time.RFC3339))
				})
		},
	}
	extend.Flags().IntVar(&days, "days", deposit.DefaultExtendDays, "days to add to the release date")

	var amount, reason string
	var all bool
	keep := &cobra.Command{
		Use:   "keep LEASE (--amount 300.00 | --all) --reason TEXT",
		Short: "Keep part or all of the deposit; the reason is the explanation the tenant reads",
		Long: `Keep part (--amount) or all (--all) of what is still held after charges. The
reason goes into the tenant's email. Above the property's approval threshold the
keep waits as pending until a books_admin approves or declines it.`,
		Example: `  deposits keep L-100 --amount 300.00 --reason "Burn mark on the kitchen counter"
  deposits keep L-100 --all --reason "Water damage beyond the deposit, invoice follows"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := workflows.KeepRequest{Actor: a.by(), All: all, Reason: strings.TrimSpace(reason)}
			if !all {
				c, err := parseAmount("amount", amount)
				if err != nil {
					a.audit(cmd.Context(), args[0], "keep", map[string]any{"amount": amount, "reason": reason}, err)
					return err
				}
				req.AmountCents = c
			} else if amount != "" {
				return refused("give either --amount or --all, not both")
			}
			return a.decide(cmd.Context(), args[0], workflows.UpdateKeep, req, func(s deposit.State) string {
				if p := s.PendingKeep; p != nil {
					return fmt.Sprintf("Keep of %s is above the property's approval threshold: pending until a books_admin runs `deposits approve %s`.",
						money.Format(p.AmountCents), s.LeaseID)
				}
				k := s.Kept[len(s.Kept)-1]
				return fmt.Sprintf("Kept %s of lease %s: %s.", money.Format(k.AmountCents), s.LeaseID, k.Reason)
			})
		},
	}
	keep.Flags().StringVar(&amount, "amount", "", "amount to keep, in dollars")
	keep.Flags().BoolVar(&all, "all", false, "keep everything still held")
	keep.Flags().StringVar(&reason, "reason", "", "why: the tenant reads it (required)")

	release := &cobra.Command{
		Use:     "release LEASE",
		Short:   "Release the deposit now: compute and issue the refund (or invoice) at once",
		Example: `  deposits release L-100`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), args[0], workflows.UpdateRelease, workflows.ReleaseRequest{Actor: a.by()}, nil)
		},
	}

	var off bool
	hold := &cobra.Command{
		Use:   "hold LEASE [--off]",
		Short: "Never release this deposit automatically (or lift the hold with --off)",
		Long: `On hold, the deposit is not released on its release date: it waits for
deposits release, and the property's manager is reminded once when the date has passed.`,
		Example: `  deposits hold L-100
  deposits hold L-100 --off`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), args[0], workflows.UpdateHold, workflows.HoldRequest{Actor: a.by(), Off: off},
				func(s deposit.State) string {
					if s.OnHold {
						return fmt.Sprintf("Lease %s is on hold: it will not be released until `deposits release %s`.", s.LeaseID, s.LeaseID)
					}
					return fmt.Sprintf("Hold lifted: lease %s is released automatically on %s.", s.LeaseID, s.ReleaseAt.Format(time.RFC3339))
				})
		},
	}
	hold.Flags().BoolVar(&off, "off", false, "lift the hold")

	approve := &cobra.Command{
		Use:     "approve LEASE",
		Short:   "Approve the keep awaiting approval (books_admin, not the one who asked)",
		Example: `  DEPOSITS_ROLE=books_admin deposits approve L-100`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), args[0], workflows.UpdateApprove, workflows.ApprovalRequest{Actor: a.by()},
				func(s deposit.State) string {
					k := s.Kept[len(s.Kept)-1]
					return fmt.Sprintf("Approved: %s of lease %s is kept (%s).", money.Format(k.AmountCents), s.LeaseID, k.Reason)
				})
		},
	}
	var declineReason string
	decline := &cobra.Command{
		Use:     "decline LEASE [--reason TEXT]",
		Short:   "Decline the keep awaiting approval (books_admin, or whoever asked)",
		Example: `  DEPOSITS_ROLE=books_admin deposits decline L-100 --reason "No photos of the damage"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd.Context(), args[0], workflows.UpdateDecline, workflows.ApprovalRequest{Actor: a.by(), Reason: declineReason},
				func(s deposit.State) string {
					return fmt.Sprintf("Declined: nothing more is kept of lease %s.", s.LeaseID)
				})
		},
	}
	decline.Flags().StringVar(&declineReason, "reason", "", "why, for the audit log")
	return []*cobra.Command{extend, keep, release, hold, approve, decline}
}

// decide sends one decision to the lease's workflow and prints the state it
// leaves. A refusal by the workflow's validator is exit code 1 with its
// reason; every decision, refused or accepted, is in the audit log.
func (a *app) decide(ctx context.Context, leaseID, name string, req any, done func(deposit.State) string) error {
	// No decision without its row in the audit log: the database comes first.
	if _, err := a.db(ctx); err != nil {
		return err
	}
	s, err := a.sendDecision(ctx, leaseID, name, req)
	a.audit(ctx, leaseID, name, req, err)
	if err != nil {
		return err
	}
	if name == workflows.UpdateRelease {
		// The refund follows at once; show the closed lease.
		if closed, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return s.Stage == deposit.StageClosed }); ok {
			s = closed
		}
	}
	if a.json() {
		return a.printJSON(s)
	}
	if done != nil {
		a.printf("%s\n\n", done(s))
	}
	printState(a.out, s)
	return nil
}

func (a *app) sendDecision(ctx context.Context, leaseID, name string, req any) (deposit.State, error) {
	var s deposit.State
	if err := a.checkOutput(); err != nil {
		return s, err
	}
	cur, err := a.leaseState(ctx, leaseID)
	if err != nil {
		return s, err
	}
	if cur.Stage == deposit.StageClosed {
		return s, refused("lease %s is closed (%s): no decision can change it now", leaseID, cur.Outcome)
	}
	c, err := a.temporal(ctx)
	if err != nil {
		return s, err
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(leaseID),
		UpdateName:   name,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		// A validator's refusal surfaces here, not from UpdateWorkflow.
		err = h.Get(ctx, &s)
	}
	var appErr *temporal.ApplicationError
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return s, nil
	case errors.As(err, &appErr):
		return s, refused("%s", appErr.Message())
	case errors.As(err, &nf):
		return s, refused("lease %s has no running deposit workflow (it may have just closed)", leaseID)
	default:
		return s, unavailable("Temporal", err)
	}
}

func (a *app) propertyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "property", Short: "Property policies: manager email and approval threshold"}
	var threshold, managerEmail, nsfFee, jurisdiction string
	var units int
	set := &cobra.Command{
		Use:   "set PROPERTY [--approval-threshold 500.00|none] [--manager-email E] [--nsf-fee 35.00] [--jurisdiction US-CA] [--building-units N]",
		Short: "Set a property's approval threshold, manager's email, NSF fee, jurisdiction and building size",
		Example: `  deposits property set maple --approval-threshold 500.00 --manager-email manager@maple.example
  deposits property set maple --jurisdiction US-NY --building-units 12
  deposits property set maple --approval-threshold none`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.setProperty(ctx, args[0], threshold, managerEmail, nsfFee, jurisdiction, units)
			a.audit(ctx, "", "property.set", map[string]any{"property": args[0], "approval_threshold": threshold, "manager_email": managerEmail, "nsf_fee": nsfFee,
				"jurisdiction": jurisdiction, "building_units": units}, err)
			return err
		},
	}
	set.Flags().StringVar(&jurisdiction, "jurisdiction", "", "the deposit law of the property's new leases, e.g. US-CA (see deposits rules list)")
	set.Flags().IntVar(&units, "building-units", 0, "units in the building: some states owe interest only in larger buildings")
	set.Flags().StringVar(&threshold, "approval-threshold", "", "keeping more than this needs a books_admin's approval; none to remove")
	set.Flags().StringVar(&managerEmail, "manager-email", "", "where reminders before a release go")
	set.Flags().StringVar(&nsfFee, "nsf-fee", "", "fee charged for a returned payment, in dollars (0 for none; default 25.00)")
	cmd.AddCommand(set)
	return cmd
}

func (a *app) setProperty(ctx context.Context, property, threshold, managerEmail, nsfFee, jurisdiction string, units int) error {
	if err := checkID("property", property); err != nil {
		return err
	}
	if a.role != deposit.RoleManager && a.role != deposit.RoleBooksAdmin {
		return refused("role %q may not change a property's policy", a.role)
	}
	p := db.SetPropertyPolicyParams{PropertyID: property}
	switch threshold {
	case "":
	case "none":
		p.ClearThreshold = true
	default:
		c, err := parseAmount("approval-threshold", threshold)
		if err != nil {
			return err
		}
		p.ApprovalThresholdCents = pgtype.Int8{Int64: c, Valid: true}
	}
	if managerEmail != "" {
		addr, err := parseEmail(managerEmail)
		if err != nil {
			return refused("--manager-email %q is not an email address", managerEmail)
		}
		p.ManagerEmail = pgtype.Text{String: addr, Valid: true}
	}
	if nsfFee != "" {
		c, err := money.ParseSigned(nsfFee)
		if err != nil || c < 0 {
			return refused("--nsf-fee %q: give a fee in dollars, 0 for none", nsfFee)
		}
		p.NsfFeeCents = pgtype.Int8{Int64: c, Valid: true}
	}
	law := db.SetPropertyJurisdictionParams{PropertyID: property}
	if jurisdiction != "" {
		code, err := a.checkJurisdiction(ctx, jurisdiction)
		if err != nil {
			return err
		}
		law.Jurisdiction = pgtype.Text{String: code, Valid: true}
	}
	if units < 0 || units > 100000 {
		return refused("--building-units %d: give the number of units in the building", units)
	}
	if units > 0 {
		law.BuildingUnits = pgtype.Int4{Int32: int32(units), Valid: true}
	}
	if threshold == "" && managerEmail == "" && nsfFee == "" && jurisdiction == "" && units == 0 {
		return refused("nothing to set: give --approval-threshold, --manager-email, --nsf-fee, --jurisdiction or --building-units")
	}
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	var row db.Property
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		var err error
		if row, err = q.SetPropertyPolicy(ctx, p); err != nil {
			return err
		}
		row, err = q.SetPropertyJurisdiction(ctx, law)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return refused("property %s does not exist: it is created by `deposits listing add` or `deposits lease start`", property)
	}
	if err != nil {
		return unavailable("the database", err)
	}
	limit := "none"
	if row.ApprovalThresholdCents.Valid {
		limit = money.Format(row.ApprovalThresholdCents.Int64)
	}
	a.printf("Property %s: approval threshold %s, manager email %s, NSF fee %s, jurisdiction %s, %d unit(s) in the building.\n",
		property, limit, dash(row.ManagerEmail), money.Format(row.NsfFeeCents), row.Jurisdiction, row.BuildingUnits)
	return nil
}

func (a *app) auditCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "audit LEASE [-o json]",
		Short:   "Show every action on a lease, accepted or refused, with who, when and what",
		Example: `  deposits audit L-100`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if err := checkID("lease", args[0]); err != nil {
				return err
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			rows, err := db.New(pool).ListAudit(cmd.Context(), args[0])
			if err != nil {
				return unavailable("the database", err)
			}
			if a.json() {
				return a.printJSON(rows)
			}
			t := newTable(a.out, "AT", "ACTOR", "ROLE", "ACTION", "RESULT", "REQUEST")
			for _, r := range rows {
				result := "refused: " + r.Result
				if !r.Accepted.Valid {
					result = "under way"
				} else if r.Accepted.Bool {
					result = "ok"
					if r.Result != "ok" {
						result = r.Result
					}
				}
				t.row(r.At.UTC().Format(time.RFC3339), r.Actor, r.Role, r.Action, result, string(r.Request))
			}
			return t.flush()
		},
	}
}
