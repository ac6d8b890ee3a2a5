package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/spf13/cobra"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
	"github.com/depositflow/depositflow/workflows"
)

func (a *app) leaseCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "lease", Short: "Start the deposit of a lease"}
	var r leaseStart
	start := &cobra.Command{
		Use:   "start LEASE --property P --unit U --tenant-email E [--tenant-email E2 ...] [--listing L | --amount 1500.00]",
		Short: "Start a lease's deposit workflow: charge the deposit and ask the tenant to pay",
		Long: `Start a lease's deposit workflow (ID deposit-LEASE). The deposit expected is the
listing's advertised deposit unless --amount is given. The assessment window and
the release date both count from 00:00 UTC of the move-out date.

Co-tenants: repeat --tenant-email (and --tenant-name in the same order); the
refund is split among them by --shares (default equal), to the cent.`,
		Example: `  deposits lease start L-100 --property maple --unit 4B --tenant-email ana@example.com --listing LST-4B
  deposits lease start L-101 --property maple --unit 5A --amount 1,500.00 --release-after 336h \
      --tenant-email bo@example.com --tenant-name "Bo Chen" --tenant-email cy@example.com --tenant-name "Cy Park" --shares 2,1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r.leaseID = args[0]
			err := a.startLease(ctx, r)
			a.audit(ctx, args[0], "lease.start", r.audited(), err)
			return err
		},
	}
	f := start.Flags()
	f.StringVar(&r.property, "property", "", "property ID (created if new)")
	f.StringVar(&r.unit, "unit", "", "unit ID within the property (created if new)")
	f.StringArrayVar(&r.emails, "tenant-email", nil, "tenant's email address; repeat for co-tenants")
	f.StringArrayVar(&r.names, "tenant-name", nil, "tenant's name, for the emails; repeat in the order of --tenant-email")
	f.StringVar(&r.shares, "shares", "", "co-tenants' shares of the refund, e.g. 2,1 (default equal)")
	f.StringVar(&r.listing, "listing", "", "listing whose advertised deposit is expected")
	f.StringVar(&r.amount, "amount", "", "deposit in dollars, instead of the listing's")
	f.StringVar(&r.assessFor, "assess-for", "72h", "assessment window after move-out (Go duration, at most 2880h)")
	f.StringVar(&r.releaseAfter, "release-after", "336h", "release the refund this long after move-out (Go duration, at most 2880h)")
	f.StringVar(&r.jurisdiction, "jurisdiction", "", "the deposit law that governs the lease, e.g. US-CA (default: the property's; see deposits rules list)")
	f.StringVar(&r.starts, "starts", "", "the day the lease began, YYYY-MM-DD (default today): interest and short-stay exemptions count from it")
	cmd.AddCommand(start)
	return cmd
}

// leaseStart is what `deposits lease start` was asked.
type leaseStart struct {
	leaseID, property, unit, listing, amount, assessFor, releaseAfter, shares string
	jurisdiction, starts                                                      string
	emails, names                                                             []string
}

func (r leaseStart) audited() map[string]any {
	return map[string]any{"property": r.property, "unit": r.unit, "tenant_emails": r.emails, "listing": r.listing,
		"amount": r.amount, "shares": r.shares, "assess_for": r.assessFor, "release_after": r.releaseAfter,
		"jurisdiction": r.jurisdiction, "starts": r.starts}
}

type tenantArg struct {
	email, name string
	share       int32
}

// tenants pairs the emails with names and shares.
func (r leaseStart) tenants() ([]tenantArg, error) {
	if len(r.emails) == 0 {
		return nil, refused("--tenant-email is required")
	}
	if len(r.names) > len(r.emails) {
		return nil, refused("%d --tenant-name for %d --tenant-email: give them in the same order", len(r.names), len(r.emails))
	}
	var shares []string
	if r.shares != "" {
		shares = strings.Split(r.shares, ",")
		if len(shares) != len(r.emails) {
			return nil, refused("--shares %s has %d shares for %d tenants", r.shares, len(shares), len(r.emails))
		}
	}
	var out []tenantArg
	seen := map[string]bool{}
	for i, e := range r.emails {
		addr, err := parseEmail(e)
		if err != nil {
			return nil, err
		}
		if seen[strings.ToLower(addr)] {
			return nil, refused("tenant %s is given twice", addr)
		}
		seen[strings.ToLower(addr)] = true
		t := tenantArg{email: addr, share: 1}
		if i < len(r.names) {
			t.name = strings.TrimSpace(r.names[i])
		}
		if shares != nil {
			n, err := strconv.Atoi(strings.TrimSpace(shares[i]))
			if err != nil || n < 1 || n > 1000 {
				return nil, refused("--shares %s: each share is a whole number from 1 to 1000", r.shares)
			}
			t.share = int32(n)
		}
		out = append(out, t)
	}
	return out, nil
}

func (a *app) startLease(ctx context.Context, r leaseStart) error {
	leaseID, property, unit, listing, amount := r.leaseID, r.property, r.unit, r.listing, r.amount
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	if err := checkID("--property", property); err != nil {
		return err
	}
	if err := checkID("--unit", unit); err != nil {
		return err
	}
	tenants, err := r.tenants()
	if err != nil {
		return err
	}
	tenant := tenants[0].email
	var cents int64
	if amount != "" {
		if cents, err = parseAmount("amount", amount); err != nil {
			return err
		}
	} else if listing == "" {
		return refused("give the deposit: --listing L (its advertised deposit) or --amount 1500.00")
	}
	assess, err := parseDelay("assess-for", r.assessFor)
	if err != nil {
		return err
	}
	release, err := parseDelay("release-after", r.releaseAfter)
	if err != nil {
		return err
	}
	startsOn, _, err := parseDay("starts", r.starts, time.Now())
	if err != nil {
		return err
	}
	jurisdiction := ""
	if r.jurisdiction != "" {
		if jurisdiction, err = a.checkJurisdiction(ctx, r.jurisdiction); err != nil {
			return err
		}
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
		if err := upsertUnit(ctx, q, property, unit); err != nil {
			return err
		}
		var ids []int64
		for _, t := range tenants {
			res, err := q.CreateResident(ctx, db.CreateResidentParams{Email: t.email, Name: t.name})
			if err != nil {
				return err
			}
			ids = append(ids, res.ResidentID)
		}
		requested := pgtype.Int8{Int64: cents, Valid: cents > 0}
		if _, err := q.CreateLease(ctx, db.CreateLeaseParams{
			LeaseID: leaseID, PropertyID: property, UnitID: unit, ListingID: listingID, ResidentID: ids[0],
			RequestedCents: requested, AssessForSeconds: in.AssessForSeconds, ReleaseAfterSeconds: in.ReleaseAfterSeconds,
		}); err != nil {
			return err
		}
		// The lease takes its property's jurisdiction unless told otherwise.
		if jurisdiction == "" {
			p, err := q.GetProperty(ctx, property)
			if err != nil {
				return err
			}
			jurisdiction = p.Jurisdiction
		}
		if err := q.SetLeaseJurisdiction(ctx, db.SetLeaseJurisdictionParams{
			LeaseID: leaseID, Jurisdiction: jurisdiction, StartsOn: pgtype.Date{Time: startsOn, Valid: true},
		}); err != nil {
			return err
		}
		in.Jurisdiction = jurisdiction
		for i, t := range tenants {
			if err := q.AddLeaseResident(ctx, db.AddLeaseResidentParams{LeaseID: leaseID, ResidentID: ids[i], Position: int32(i + 1), Share: t.share}); err != nil {
				return err
			}
		}
		return nil
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
		in.Jurisdiction = l.Jurisdiction
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
		// Operators filter on these in the Web UI from the first moment.
		TypedSearchAttributes: workflows.StartSearchAttributes(in),
		StaticDetails: workflows.Markdown(fmt.Sprintf("Deposit: %s.\n\nAssessment window %s and release %s after the move-out (00:00 UTC of its date).",
			depositText(in.AmountCents, listing), humanDuration(in.AssessFor()), humanDuration(in.ReleaseAfter()))),
		StaticSummary: fmt.Sprintf("Security deposit of lease %s (property %s, unit %s, tenant %s)", leaseID, property, unit, tenant),
	}, workflows.WorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return refused("lease %s is already started (workflow %s): see `deposits status %s`", leaseID, workflows.WorkflowID(leaseID), leaseID)
	}
	if err != nil && strings.Contains(err.Error(), "not defined") {
		return refused("the namespace lacks depositflow's search attributes: run `deposits setup` once, then start the lease again (%v)", err)
	}
	if err != nil {
		return unavailable("Temporal", err)
	}
	what := depositText(in.AmountCents, listing)
	var who []string
	for _, t := range tenants {
		who = append(who, t.email)
	}
	a.printf("Started lease %s: expecting %s from %s (workflow %s, run %s).\n", leaseID, what, strings.Join(who, ", "), run.GetID(), run.GetRunID())
	a.printf("Release: %s after move-out, after an assessment window of %s.\n", humanDuration(in.ReleaseAfter()), humanDuration(in.AssessFor()))
	if in.Jurisdiction != "" && in.Jurisdiction != rules.None {
		a.printf("Jurisdiction %s: the statute's deadline bounds the release (deposits rules show %s).\n", in.Jurisdiction, in.Jurisdiction)
	}
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
		if err := upsertUnit(ctx, q, property, unit); err != nil {
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

func depositText(cents int64, listing string) string {
	if cents > 0 {
		return money.Format(cents)
	}
	return "the deposit of listing " + listing
}

// humanDuration writes whole days as days ("14 days") and anything else as Go does ("90s").
func humanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d > 0 && d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// upsertUnit creates the property and its unit if they are new.
func upsertUnit(ctx context.Context, q *db.Queries, property, unit string) error {
	if err := q.UpsertProperty(ctx, property); err != nil {
		return err
	}
	return q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: property, UnitID: unit})
}
