package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/spf13/cobra"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/workflows"
)

func (a *app) leaseCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "lease", Short: "Start the deposit of a lease"}
	var property, unit, email, name, listing, amount, assessFor, releaseAfter string
	start := &cobra.Command{
		Use:   "start LEASE --property P --unit U --tenant-email E [--listing L | --amount 1500.00]",
		Short: "Start a lease's deposit workflow: charge the deposit and ask the tenant to pay",
		Long: `Start a lease's deposit workflow (ID deposit-LEASE). The deposit expected is the
listing's advertised deposit unless --amount is given. The assessment window and
the release date both count from 00:00 UTC of the move-out date.`,
		Example: `  deposits lease start L-100 --property maple --unit 4B --tenant-email ana@example.com --listing LST-4B
  deposits lease start L-101 --property maple --unit 5A --tenant-email bo@example.com --amount 1,500.00 --release-after 336h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			req := map[string]any{"property": property, "unit": unit, "tenant_email": email, "listing": listing, "amount": amount,
				"assess_for": assessFor, "release_after": releaseAfter}
			err := a.startLease(ctx, args[0], property, unit, email, name, listing, amount, assessFor, releaseAfter)
			a.audit(ctx, args[0], "lease.start", req, err)
			return err
		},
	}
	f := start.Flags()
	f.StringVar(&property, "property", "", "property ID (created if new)")
	f.StringVar(&unit, "unit", "", "unit ID within the property (created if new)")
	f.StringVar(&email, "tenant-email", "", "tenant's email address")
	f.StringVar(&name, "tenant-name", "", "tenant's name, for the emails")
	f.StringVar(&listing, "listing", "", "listing whose advertised deposit is expected")
	f.StringVar(&amount, "amount", "", "deposit in dollars, instead of the listing's")
	f.StringVar(&assessFor, "assess-for", "72h", "assessment window after move-out (Go duration, at most 2880h)")
	f.StringVar(&releaseAfter, "release-after", "336h", "release the refund this long after move-out (Go duration, at most 2880h)")
	cmd.AddCommand(start)
	return cmd
}

func (a *app) startLease(ctx context.Context, leaseID, property, unit, email, name, listing, amount, assessFor, releaseAfter string) error {
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	if err := checkID("--property", property); err != nil {
		return err
	}
	if err := checkID("--unit", unit); err != nil {
		return err
	}
	tenant, err := parseEmail(email)
	if err != nil {
		return err
	}
	var cents int64
	if amount != "" {
		if cents, err = parseAmount("amount", amount); err != nil {
			return err
		}
	} else if listing == "" {
		return refused("give the deposit: --listing L (its advertised deposit) or --amount 1500.00")
	}
	assess, err := parseDelay("assess-for", assessFor)
	if err != nil {
		return err
	}
	release, err := parseDelay("release-after", releaseAfter)
	if err != nil {
		return err
	}
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	c, err := a.temporal(ctx)
	if err != nil {
		return err
	}
	q := db.New(pool)
	var listingID pgtype.Text
	if listing != "" {
		l, err := q.GetListing(ctx, listing)
		if errors.Is(err, pgx.ErrNoRows) {
			return refused("listing %s does not exist: add it with `deposits listing add %s --property %s --unit %s --deposit 1500.00`", listing, listing, property, unit)
		}
		if err != nil {
			return unavailable("the database", err)
		}
		if l.PropertyID != property || l.UnitID != unit {
			return refused("listing %s is for property %s unit %s, not %s %s", listing, l.PropertyID, l.UnitID, property, unit)
		}
		if cents == 0 && l.DepositAmountInCents == 0 {
			return refused("listing %s advertises no deposit: give --amount", listing)
		}
		listingID = pgtype.Text{String: listing, Valid: true}
	}

	// The lease's facts go to the database first; then the workflow starts.
	// If the start fails, running the same command again finds the lease and
	// starts its workflow.
	in := workflows.LeaseInput{LeaseID: leaseID, PropertyID: property, UnitID: unit, AmountCents: cents,
		AssessForSeconds: int64(assess / time.Second), ReleaseAfterSeconds: int64(release / time.Second)}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := q.UpsertProperty(ctx, property); err != nil {
			return err
		}
		if err := q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: property, UnitID: unit}); err != nil {
			return err
		}
		r, err := q.CreateResident(ctx, db.CreateResidentParams{Email: tenant, Name: name})
		if err != nil {
			return err
		}
		requested := pgtype.Int8{Int64: cents, Valid: cents > 0}
		_, err = q.CreateLease(ctx, db.CreateLeaseParams{
			LeaseID: leaseID, PropertyID: property, UnitID: unit, ListingID: listingID, ResidentID: r.ResidentID,
			RequestedCents: requested, AssessForSeconds: in.AssessForSeconds, ReleaseAfterSeconds: in.ReleaseAfterSeconds,
		})
		return err
	})
	if isUniqueViolation(err) {
		existing, err := q.GetLease(ctx, leaseID)
		if err != nil {
			return unavailable("the database", err)
		}
		l := existing.Lease
		if l.PropertyID != property || l.UnitID != unit || existing.Resident.Email != tenant {
			return refused("lease %s already exists for %s at property %s unit %s", leaseID, existing.Resident.Email, l.PropertyID, l.UnitID)
		}
		// Same lease again: start its workflow with the terms stored first.
		in.AmountCents = l.RequestedCents.Int64
		in.AssessForSeconds, in.ReleaseAfterSeconds = l.AssessForSeconds, l.ReleaseAfterSeconds
	} else if err != nil {
		return unavailable("the database", err)
	}

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WorkflowID(leaseID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without this the SDK quietly hands back the running workflow.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("Security deposit of lease %s (property %s, unit %s, tenant %s)", leaseID, property, unit, tenant),
	}, workflows.WorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return refused("lease %s is already started (workflow %s): see `deposits status %s`", leaseID, workflows.WorkflowID(leaseID), leaseID)
	}
	if err != nil {
		return unavailable("Temporal", err)
	}
	what := "the deposit of listing " + listing
	if in.AmountCents > 0 {
		what = money.Format(in.AmountCents)
	}
	a.printf("Started lease %s: expecting %s from %s (workflow %s, run %s).\n", leaseID, what, tenant, run.GetID(), run.GetRunID())
	a.printf("Release: %s after move-out, after an assessment window of %s.\n", in.ReleaseAfter(), in.AssessFor())
	return nil
}

func (a *app) listingCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "listing", Short: "Listings and their advertised deposits"}
	var property, unit, deposit string
	add := &cobra.Command{
		Use:     "add LISTING --property P --unit U --deposit 1500.00",
		Short:   "Add or update a listing's advertised deposit",
		Example: `  deposits listing add LST-4B --property maple --unit 4B --deposit 1,500.00`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.addListing(ctx, args[0], property, unit, deposit)
			a.audit(ctx, "", "listing.add", map[string]string{"listing": args[0], "property": property, "unit": unit, "deposit": deposit}, err)
			return err
		},
	}
	add.Flags().StringVar(&property, "property", "", "property ID (created if new)")
	add.Flags().StringVar(&unit, "unit", "", "unit ID (created if new)")
	add.Flags().StringVar(&deposit, "deposit", "", "advertised deposit in dollars")
	cmd.AddCommand(add)
	return cmd
}

func (a *app) addListing(ctx context.Context, listing, property, unit, deposit string) error {
	for _, c := range [][2]string{{"listing", listing}, {"--property", property}, {"--unit", unit}} {
		if err := checkID(c[0], c[1]); err != nil {
			return err
		}
	}
	cents, err := parseAmount("deposit", deposit)
	if err != nil {
		return err
	}
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := q.UpsertProperty(ctx, property); err != nil {
			return err
		}
		if err := q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: property, UnitID: unit}); err != nil {
			return err
		}
		_, err := q.UpsertListing(ctx, db.UpsertListingParams{ListingID: listing, PropertyID: property, UnitID: unit, DepositAmountInCents: cents})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return refused("listing %s exists for another property or unit", listing)
	}
	if err != nil {
		return unavailable("the database", err)
	}
	a.printf("Listing %s (property %s, unit %s) advertises a deposit of %s.\n", listing, property, unit, money.Format(cents))
	return nil
}
