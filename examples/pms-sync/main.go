// Command pms-sync is what a property-management system runs against
// depositflow, written with its Go client (depositflow/depositclient): it
// says who its API key is, then lists, page after page, what the PMS must
// pay out or collect across the key's leases (refunds payable, balances
// owed) and the leases whose deposit is released within a few days.
//
//	DEPOSITS_API=http://localhost:8081 DEPOSITS_API_KEY=dfk_... go run ./examples/pms-sync --property willow
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/depositflow/depositflow/depositclient"
)

func main() {
	property := flag.String("property", "", "only this property's leases (default: every property of the key)")
	within := flag.Duration("release-within", 7*24*time.Hour, "list the leases released within this long")
	flag.Parse()
	if err := run(context.Background(), *property, *within); err != nil {
		fmt.Fprintln(os.Stderr, "pms-sync:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, property string, within time.Duration) error {
	c := depositclient.New(os.Getenv("DEPOSITS_API"), os.Getenv("DEPOSITS_API_KEY"))
	me, err := c.Me(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("Signed in as %s %s (properties %v).\n", me.Kind, me.Name, me.Properties)

	fmt.Println("To pay or collect:")
	for inv, err := range c.Invoices(ctx, depositclient.InvoiceFilter{Status: "open", PropertyID: property}) {
		if err != nil {
			return err
		}
		verb := "pay to"
		if inv.Kind == "balance_owed" {
			verb = "collect from"
		}
		fmt.Printf("  %-12s lease %-8s %s %s %s <%s>\n", inv.InvoiceID, inv.LeaseID, amount(inv.AmountDueInCents, inv.Currency),
			verb, inv.Recipient.Name, inv.Recipient.Email)
	}

	fmt.Printf("Released within %s:\n", span(within))
	due := depositclient.LeaseFilter{Stage: "release_pending", PropertyID: property, DueBefore: time.Now().Add(within)}
	for l, err := range c.Leases(ctx, due) {
		if err != nil {
			return err
		}
		fmt.Printf("  lease %-8s on %s\n", l.LeaseID, l.ReleaseAt.Format(time.RFC3339))
	}
	return nil
}

// span words a duration people read: whole days as days.
func span(d time.Duration) string {
	if day := 24 * time.Hour; d%day == 0 {
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// amount writes integer cents as units of the currency: 88000 USD is 880.00 USD.
func amount(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, cents/100, cents%100, currency)
}
