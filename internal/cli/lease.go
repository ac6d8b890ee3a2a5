package cli

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/internal/api"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/rules"
)

func (a *app) leaseCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "lease", Short: "Start the deposit of a lease"}
	var r leaseStart
	start := &cobra.Command{
		Use:   "start LEASE --property P --unit U --tenant-email E [--tenant-email E2 ...] [--listing L | --amount 1500.00]",
		Short: "Start a lease's deposit workflow: charge the deposit and ask the tenant to pay",
		Long: `Start a lease's deposit workflow (ID deposit-LEASE). The deposit expected is the
listing's advertised deposit unless --amount is given, in the property's
currency. The assessment window and the release date both count from the
move-out.

Co-tenants: repeat --tenant-email (and --tenant-name in the same order); the
refund is split among them by --shares (default equal), to the cent.`,
		Example: `  deposits lease start L-100 --property maple --unit 4B --tenant-email ana@example.com --listing LST-4B
  deposits lease start L-101 --property maple --unit 5A --amount 1,500.00 --release-after 336h \
      --tenant-email bo@example.com --tenant-name "Bo Chen" --tenant-email cy@example.com --tenant-name "Cy Park" --shares 2,1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.leaseID = args[0]
			return a.startLease(cmd.Context(), r)
		},
	}
	f := start.Flags()
	f.StringVar(&r.property, "property", "", "property ID (created if new)")
	f.StringVar(&r.unit, "unit", "", "unit ID within the property (created if new)")
	f.StringArrayVar(&r.emails, "tenant-email", nil, "tenant's email address; repeat for co-tenants")
	f.StringArrayVar(&r.names, "tenant-name", nil, "tenant's name, for the emails; repeat in the order of --tenant-email")
	f.StringVar(&r.shares, "shares", "", "co-tenants' shares of the refund, e.g. 2,1 (default equal)")
	f.StringVar(&r.listing, "listing", "", "listing whose advertised deposit is expected")
	f.StringVar(&r.amount, "amount", "", "deposit, instead of the listing's")
	f.StringVar(&r.assessFor, "assess-for", "72h", "assessment window after move-out (Go duration, at most 2880h)")
	f.StringVar(&r.releaseAfter, "release-after", "336h", "release the refund this long after move-out (Go duration, at most 2880h)")
	f.StringVar(&r.jurisdiction, "jurisdiction", "", "the deposit law that governs the lease, e.g. US-CA (default: the property's; see deposits rules list)")
	f.StringVar(&r.starts, "starts", "", "the day the lease began, YYYY-MM-DD (default today): interest and short-stay exemptions count from it")
	f.StringVar(&r.card, "card-payment-method", "", "the tenant's card (a Stripe payment method ID, pm_...) where the property takes deposits as card holds")
	cmd.AddCommand(start)
	return cmd
}

// leaseStart is what `deposits lease start` was asked.
type leaseStart struct {
	leaseID, property, unit, listing, amount, assessFor, releaseAfter, shares string
	jurisdiction, starts, card                                                string
	emails, names                                                             []string
}

// tenants pairs the emails with names and shares.
func (r leaseStart) tenants() ([]api.Tenant, error) {
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
	var out []api.Tenant
	seen := map[string]bool{}
	for i, e := range r.emails {
		addr, err := parseEmail("tenant-email", e)
		if err != nil {
			return nil, err
		}
		if seen[strings.ToLower(addr)] {
			return nil, refused("tenant %s is given twice", addr)
		}
		seen[strings.ToLower(addr)] = true
		t := api.Tenant{Email: addr, Share: 1}
		if i < len(r.names) {
			t.Name = strings.TrimSpace(r.names[i])
		}
		if shares != nil {
			n, err := strconv.Atoi(strings.TrimSpace(shares[i]))
			if err != nil || n < 1 || n > 1000 {
				return nil, refused("--shares %s: each share is a whole number from 1 to 1000", r.shares)
			}
			t.Share = int32(n)
		}
		out = append(out, t)
	}
	return out, nil
}

func (a *app) startLease(ctx context.Context, r leaseStart) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	for _, c := range [][2]string{{"lease", r.leaseID}, {"--property", r.property}, {"--unit", r.unit}} {
		if err := checkID(c[0], c[1]); err != nil {
			return err
		}
	}
	tenants, err := r.tenants()
	if err != nil {
		return err
	}
	in := api.Lease{LeaseID: r.leaseID, PropertyID: r.property, UnitID: r.unit, ListingID: r.listing, Tenants: tenants, Jurisdiction: r.jurisdiction,
		CardPaymentMethod: r.card}
	if r.amount != "" {
		if in.DepositAmountInCents, in.Currency, err = parseAmount("amount", r.amount); err != nil {
			return err
		}
	} else if r.listing == "" {
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
	in.AssessForSeconds, in.ReleaseAfterSeconds = int64(assess/time.Second), int64(release/time.Second)
	if r.starts != "" {
		if _, err := time.Parse(time.DateOnly, r.starts); err != nil {
			return refused("--starts %q: write the date as YYYY-MM-DD", r.starts)
		}
		in.LeaseStartDate = r.starts
	}
	var out api.LeaseStarted
	if _, err := a.post(ctx, "/v1/leases", in, "", &out); err != nil {
		return err
	}
	if out.Status == "unchanged" {
		return refused("lease %s is already started (workflow %s): see `deposits status %s`", r.leaseID, out.WorkflowID, r.leaseID)
	}
	if a.json() {
		return a.printJSON(out)
	}
	what := "the deposit of listing " + r.listing
	if out.DepositAmountInCent > 0 {
		what = cur(out.Currency, out.DepositAmountInCent)
	}
	a.printf("Started lease %s: expecting %s from %s (workflow %s, run %s).\n", r.leaseID, what, strings.Join(r.emails, ", "), out.WorkflowID, out.RunID)
	a.printf("Release: %s after move-out, after an assessment window of %s.\n",
		humanDuration(time.Duration(out.ReleaseAfterSeconds)*time.Second), humanDuration(time.Duration(out.AssessForSeconds)*time.Second))
	if j := out.Jurisdiction; j != "" && j != rules.None {
		a.printf("Jurisdiction %s: the statute's deadline bounds the release (deposits rules show %s).\n", j, j)
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
			for _, c := range [][2]string{{"listing", args[0]}, {"--property", property}, {"--unit", unit}} {
				if err := checkID(c[0], c[1]); err != nil {
					return err
				}
			}
			cents, currency, err := parseAmount("deposit", deposit)
			if err != nil {
				return err
			}
			in := api.Listing{ListingID: args[0], PropertyID: property, UnitID: unit, DepositAmountInCents: cents, Currency: currency}
			var out api.Listing
			if _, err := a.post(cmd.Context(), "/v1/listings", in, "", &out); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			a.printf("Listing %s (property %s, unit %s) advertises a deposit of %s.\n", args[0], property, unit, cur(out.Currency, cents))
			return nil
		},
	}
	add.Flags().StringVar(&property, "property", "", "property ID (created if new)")
	add.Flags().StringVar(&unit, "unit", "", "unit ID (created if new)")
	add.Flags().StringVar(&deposit, "deposit", "", "advertised deposit")
	cmd.AddCommand(add)
	return cmd
}

// humanDuration writes whole days as days ("14 days") and anything else as Go does ("90s").
func humanDuration(d time.Duration) string { return gateway.HumanDuration(d) }
