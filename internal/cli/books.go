package cli

import (
	"encoding/csv"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/internal/api"
	"github.com/depositflow/depositflow/internal/books"
	"github.com/depositflow/depositflow/internal/gateway"
)

// The trust books' commands (issue #19): each asks the server, which
// decides (the caller's role and properties) and reads or writes the
// journal the facts post to.

// checkOutputCSV is checkOutput for the reports that also write CSV.
func (a *app) checkOutputCSV() error {
	if a.output != "table" && a.output != "json" && a.output != "csv" {
		return refused("-o %q: choose table, json or csv", a.output)
	}
	return nil
}

// booksQuery is the property and day every report may be narrowed to.
func booksQuery(property, asOf string) (url.Values, error) {
	q := url.Values{}
	if property != "" {
		if err := checkID("--property", property); err != nil {
			return nil, err
		}
		q.Set("property_id", property)
	}
	if asOf != "" {
		if _, err := time.Parse(time.DateOnly, asOf); err != nil {
			return nil, refused("--as-of %q: write the date as YYYY-MM-DD", asOf)
		}
		q.Set("as_of", asOf)
	}
	return q, nil
}

func (a *app) booksReportCommands() []*cobra.Command {
	var property, asOf, from, to, date, reference, statement, currency, paidOn string
	var year int
	var threshold string
	propertyFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&property, "property", "", "only this property (default: every property you may read)")
	}
	asOfFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&asOf, "as-of", "", "as the books stood at the end of this day, YYYY-MM-DD (default: now)")
	}

	liability := &cobra.Command{
		Use:   "liability [--property P] [--as-of DATE] [-o json|csv]",
		Short: "Deposits held per property and lease, against the Security Deposit Liability account: ties, or the difference line by line",
		Long: `The liability report: per property and per lease, the deposits held according
to the deposit records (received, credited and interest credited, less what was
settled or refunded), beside the Security Deposit Liability the journal holds
for each lease. The total must equal the account's balance; the report says it
ties, or lists every lease where it does not. Exit 1 when it does not tie.`,
		Example: `  deposits books liability
  deposits books liability --property maple --as-of 2026-11-30 -o json
  deposits books liability -o csv > liability.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutputCSV(); err != nil {
				return err
			}
			q, err := booksQuery(property, asOf)
			if err != nil {
				return err
			}
			var r books.Liability
			if err := a.get(cmd.Context(), "/v1/books/liability", q, &r); err != nil {
				return err
			}
			switch a.output {
			case "json":
				if err := a.printJSON(r); err != nil {
					return err
				}
			case "csv":
				w := csv.NewWriter(a.out)
				_ = w.Write([]string{"property_id", "currency", "lease_id", "tenant_name", "stage", "held", "liability", "difference"})
				for _, l := range r.Leases {
					_ = w.Write([]string{l.PropertyID, l.Currency, l.LeaseID, l.TenantName, l.Stage, plain(l.Currency, l.HeldCents),
						plain(l.Currency, l.LiabilityCents), plain(l.Currency, l.DifferenceCents)})
				}
				w.Flush()
				if err := w.Error(); err != nil {
					return err
				}
			default:
				t := newTable(a.out, "PROPERTY", "CURRENCY", "LEASES", "HELD", "LIABILITY ACCOUNT", "TIES")
				for _, p := range r.Properties {
					t.row(p.PropertyID, p.Currency, strconv.Itoa(p.Leases), cur(p.Currency, p.TotalHeldCents), cur(p.Currency, p.LiabilityBalanceCents), yesNo(p.Ties))
				}
				if err := t.flush(); err != nil {
					return err
				}
				if r.Ties {
					a.printf("\nTies: the deposits held equal the Security Deposit Liability balance (%d lease(s)).\n", len(r.Leases))
				} else {
					a.printf("\nDOES NOT TIE. The leases whose deposit records and liability account differ:\n")
					t := newTable(a.out, "LEASE", "PROPERTY", "TENANT", "HELD", "LIABILITY", "DIFFERENCE")
					for _, l := range r.Differences {
						t.row(l.LeaseID, l.PropertyID, l.TenantName, cur(l.Currency, l.HeldCents), cur(l.Currency, l.LiabilityCents), cur(l.Currency, l.DifferenceCents))
					}
					if err := t.flush(); err != nil {
						return err
					}
				}
			}
			if !r.Ties {
				return &exitError{code: ExitRefused, err: fmt.Errorf("the liability report does not tie: %d lease(s) differ", len(r.Differences))}
			}
			return nil
		},
	}
	propertyFlag(liability)
	asOfFlag(liability)

	trial := &cobra.Command{
		Use:   "trial-balance [--property P] [--as-of DATE] [-o json|csv]",
		Short: "Every account's balance, debits beside credits; they must be equal",
		Example: `  deposits books trial-balance
  deposits books trial-balance --property maple --as-of 2026-11-30 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutputCSV(); err != nil {
				return err
			}
			q, err := booksQuery(property, asOf)
			if err != nil {
				return err
			}
			var r books.TrialBalance
			if err := a.get(cmd.Context(), "/v1/books/trial-balance", q, &r); err != nil {
				return err
			}
			switch a.output {
			case "json":
				return a.printJSON(r)
			case "csv":
				w := csv.NewWriter(a.out)
				_ = w.Write([]string{"property_id", "currency", "account_number", "account_name", "account", "debit", "credit"})
				for _, ac := range r.Accounts {
					_ = w.Write([]string{ac.PropertyID, ac.Currency, ac.Number, ac.Name, ac.Account, books.Decimal(ac.Currency, ac.DebitCents), books.Decimal(ac.Currency, ac.CreditCents)})
				}
				w.Flush()
				return w.Error()
			}
			t := newTable(a.out, "PROPERTY", "NUMBER", "ACCOUNT", "DEBIT", "CREDIT")
			for _, ac := range r.Accounts {
				t.row(ac.PropertyID, ac.Number, ac.Name, blankZero(ac.Currency, ac.DebitCents), blankZero(ac.Currency, ac.CreditCents))
			}
			currency := ""
			for _, ac := range r.Accounts {
				if currency != "" && ac.Currency != currency {
					currency = "mixed"
					break
				}
				currency = ac.Currency
			}
			if currency != "mixed" && currency != "" {
				t.row("", "", "TOTAL", cur(currency, r.TotalDebitCents), cur(currency, r.TotalCreditCents))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if r.Balanced {
				a.printf("\nBalanced: debits equal credits in every property and currency.\n")
				return nil
			}
			return &exitError{code: ExitRefused, err: fmt.Errorf("the trial balance does not balance")}
		},
	}
	propertyFlag(trial)
	asOfFlag(trial)

	journal := &cobra.Command{
		Use:   "journal [--property P] [--from DATE] [--to DATE] [-o csv|json]",
		Short: "The journal's lines by accounting date: the export an accountant imports (-o csv; columns in docs/books.md)",
		Long: `The journal's lines dated from..to (both included), entry by entry. -o csv
writes the export an accountant imports, one line a row with the columns
entry_id, date, property_id, currency, account_number, account_name, debit,
credit, lease_id, event, source, memo, posted_at (docs/books.md describes them).`,
		Example: `  deposits books journal --from 2026-11-01 --to 2026-11-30 -o csv > journal-2026-11.csv
  deposits books journal --property maple -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutputCSV(); err != nil {
				return err
			}
			q, err := booksQuery(property, "")
			if err != nil {
				return err
			}
			for name, v := range map[string]string{"from": from, "to": to} {
				if v == "" {
					continue
				}
				if _, err := time.Parse(time.DateOnly, v); err != nil {
					return refused("--%s %q: write the date as YYYY-MM-DD", name, v)
				}
				q.Set(name, v)
			}
			var r api.JournalPage
			if err := a.get(cmd.Context(), "/v1/books/journal", q, &r); err != nil {
				return err
			}
			switch a.output {
			case "json":
				return a.printJSON(r)
			case "csv":
				return books.WriteJournalCSV(a.out, r.Lines)
			}
			t := newTable(a.out, "ENTRY", "DATE", "PROPERTY", "EVENT", "LEASE", "ACCOUNT", "DEBIT", "CREDIT")
			for _, l := range r.Lines {
				t.row(strconv.FormatInt(l.EntryID, 10), l.Date, l.PropertyID, l.Event, l.LeaseID, l.AccountNumber+" "+l.AccountName,
					blankZero(l.Currency, l.DebitCents), blankZero(l.Currency, l.CreditCents))
			}
			return t.flush()
		},
	}
	propertyFlag(journal)
	journal.Flags().StringVar(&from, "from", "", "the first accounting date, YYYY-MM-DD")
	journal.Flags().StringVar(&to, "to", "", "the last accounting date, YYYY-MM-DD")

	aging := &cobra.Command{
		Use:   "aging [--property P] [--as-of DATE] [-o json]",
		Short: "What former tenants owe, by age (0-30, 31-60, 61-90, over 90 days)",
		Example: `  deposits books aging
  deposits books aging --property maple -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			q, err := booksQuery(property, asOf)
			if err != nil {
				return err
			}
			var r books.Aging
			if err := a.get(cmd.Context(), "/v1/books/aging", q, &r); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(r)
			}
			t := newTable(a.out, "LEASE", "PROPERTY", "TENANT", "OLDEST", "0-30", "31-60", "61-90", "OVER 90", "TOTAL")
			for _, row := range r.Rows {
				c := row.Currency
				t.row(row.LeaseID, row.PropertyID, row.TenantName, row.OldestDate, blankZero(c, row.CurrentCents), blankZero(c, row.Days31Cents),
					blankZero(c, row.Days61Cents), blankZero(c, row.Over90Cents), cur(c, row.TotalCents))
			}
			return t.flush()
		},
	}
	propertyFlag(aging)
	asOfFlag(aging)

	batch := &cobra.Command{
		Use:   "deposit-batch --property P [--date DATE] [--reference SLIP]",
		Short: "Take a property's undeposited receipts to the trust bank as one deposit (books_admin); the same again is the same batch",
		Long: `Moves every receipt of the property received on or before the date and not yet
banked from Undeposited Funds to the Trust Bank, as one deposit batch per
currency (one line on the bank statement). Run again with the same date and
reference it finds the same batch and moves nothing.`,
		Example: `  deposits books deposit-batch --property maple --date 2026-11-30
  deposits books deposit-batch --property maple --date 2026-11-30 --reference SLIP-0042`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if err := checkID("--property", property); err != nil {
				return err
			}
			var out gateway.BatchOut
			if _, err := a.post(cmd.Context(), "/v1/properties/"+property+"/deposit-batches", api.DepositBatchRequest{DepositedOn: date, Reference: reference}, "", &out); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			if len(out.Batches) == 0 {
				a.printf("Nothing to deposit: property %s has no receipts on or before that day that are not banked.\n", property)
				return nil
			}
			for _, b := range out.Batches {
				again := ""
				if b.Again {
					again = " (already recorded: nothing moved again)"
				}
				a.printf("Deposit batch %d of %s: %d receipt(s), %s, deposited %s under %s%s.\n", b.BatchID, b.PropertyID, b.Receipts,
					cur(b.Currency, b.TotalCents), b.DepositedOn, b.Reference, again)
			}
			return nil
		},
	}
	batch.Flags().StringVar(&property, "property", "", "the property whose receipts go to the bank (required)")
	batch.Flags().StringVar(&date, "date", "", "the day of the deposit, YYYY-MM-DD (default today); receipts of that day or before")
	batch.Flags().StringVar(&reference, "reference", "", "the deposit slip's reference the bank statement shows (default DEP-<date>)")

	paid := &cobra.Command{
		Use:     "refund-paid REFUND --reference REF [--paid-on DATE]",
		Short:   "Mark a refund paid from the trust account (books_admin): it leaves Refunds Payable and the Trust Bank",
		Example: `  deposits books refund-paid 7 --reference CHK-1042 --paid-on 2026-11-30`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return refused("refund %q: give the refund's number", args[0])
			}
			var out gateway.RefundPaid
			if _, err := a.post(cmd.Context(), "/v1/refunds/"+args[0]+"/paid", api.RefundPaidRequest{PaidOn: paidOn, Reference: reference}, "", &out); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			a.printf("Refund %d of lease %s, %s, paid on %s under %s.\n", out.RefundID, out.LeaseID, cur(out.Currency, out.AmountCents), out.PaidOn, out.Reference)
			return nil
		},
	}
	paid.Flags().StringVar(&reference, "reference", "", "the cheque number or transfer reference the bank statement shows (required)")
	paid.Flags().StringVar(&paidOn, "paid-on", "", "the day it was paid, YYYY-MM-DD (default today)")

	reconcile := &cobra.Command{
		Use:   "reconcile --property P --statement FILE.csv [--currency USD] [-o json]",
		Short: "Match a bank statement of the trust account to the journal; list what does not match, both ways",
		Long: `Reads a bank statement of the property's trust account (CSV with a header row:
date as YYYY-MM-DD, amount signed in the currency's major unit, or debit and
credit columns; reference and description when the bank gives them) and
matches each line to the journal's movements of the Trust Bank (deposit
batches in, refunds paid and returned payments out): the same amount, the
bank's day on or up to 5 days after the books'. It lists what the bank shows
that the books do not, and what the books show in the statement's period that
the bank does not. Exit 1 when anything is unmatched.`,
		Example: `  deposits books reconcile --property maple --statement november.csv`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			if err := checkID("--property", property); err != nil {
				return err
			}
			if statement == "" {
				return refused("--statement FILE.csv is required")
			}
			f, err := os.Open(statement)
			if err != nil {
				return refused("--statement: %v", err)
			}
			defer f.Close()
			c := currency
			if c == "" {
				c = "USD"
			}
			lines, err := books.ParseStatement(f, upper(c))
			if err != nil {
				return refused("%s: %v", statement, err)
			}
			var out books.Reconciliation
			if _, err := a.post(cmd.Context(), "/v1/properties/"+property+"/bank-reconciliations", api.StatementRequest{Currency: upper(currency), Lines: lines}, "", &out); err != nil {
				return err
			}
			if a.json() {
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				a.printReconciliation(out)
			}
			if !out.Reconciled {
				return &exitError{code: ExitRefused, err: fmt.Errorf("not reconciled: %d statement line(s) not in the books, %d movement(s) not on the statement",
					len(out.NotInBooks), len(out.NotOnStatement))}
			}
			return nil
		},
	}
	reconcile.Flags().StringVar(&property, "property", "", "the property whose trust account the statement is of (required)")
	reconcile.Flags().StringVar(&statement, "statement", "", "the bank statement, CSV (required)")
	reconcile.Flags().StringVar(&currency, "currency", "", "the statement's currency (default the property's)")

	interest := &cobra.Command{
		Use:   "interest-report --year Y [--property P] [--threshold 10.00] [-o json|csv]",
		Short: "Interest credited or paid per tenant in a year, for those at or over the threshold (the figures a 1099-INT needs)",
		Example: `  deposits books interest-report --year 2026
  deposits books interest-report --year 2026 -o csv > interest-2026.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutputCSV(); err != nil {
				return err
			}
			q, err := booksQuery(property, "")
			if err != nil {
				return err
			}
			if year == 0 {
				return refused("--year is required")
			}
			q.Set("year", strconv.Itoa(year))
			if threshold != "" {
				c, _, err := parseAmount("threshold", threshold)
				if err != nil {
					return err
				}
				q.Set("threshold_cents", strconv.FormatInt(c, 10))
			}
			var r gateway.InterestReport
			if err := a.get(cmd.Context(), "/v1/books/interest", q, &r); err != nil {
				return err
			}
			switch a.output {
			case "json":
				return a.printJSON(r)
			case "csv":
				w := csv.NewWriter(a.out)
				_ = w.Write([]string{"year", "property_id", "resident_id", "name", "email", "address", "currency", "interest"})
				for _, t := range r.Tenants {
					_ = w.Write([]string{strconv.Itoa(r.Year), t.PropertyID, strconv.FormatInt(t.ResidentID, 10), t.Name, t.Email, t.Address, t.Currency, plain(t.Currency, t.InterestCents)})
				}
				w.Flush()
				return w.Error()
			}
			t := newTable(a.out, "PROPERTY", "TENANT", "EMAIL", "INTEREST", "LEASES")
			for _, row := range r.Tenants {
				t.row(row.PropertyID, row.Name, row.Email, cur(row.Currency, row.InterestCents), fmt.Sprint(row.Leases))
			}
			return t.flush()
		},
	}
	interest.Flags().IntVar(&year, "year", 0, "the calendar year (required)")
	interest.Flags().StringVar(&threshold, "threshold", "", "the least interest reported (default 10.00)")
	propertyFlag(interest)

	unclaimed := &cobra.Command{
		Use:   "unclaimed [--property P] [-o json]",
		Short: "Refund payouts not marked paid within their property's days (default 90): to chase, and perhaps to escheat",
		Example: `  deposits books unclaimed
  deposits books unclaimed --property maple -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			q, err := booksQuery(property, "")
			if err != nil {
				return err
			}
			var r struct {
				Refunds []gateway.UnclaimedRefund `json:"refunds"`
			}
			if err := a.get(cmd.Context(), "/v1/books/unclaimed-refunds", q, &r); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(r.Refunds)
			}
			t := newTable(a.out, "REFUND", "LEASE", "PROPERTY", "AMOUNT", "RECIPIENT", "ISSUED", "DAYS UNPAID")
			for _, f := range r.Refunds {
				t.row(strconv.FormatInt(f.RefundID, 10), f.LeaseID, f.PropertyID, cur(f.Currency, f.AmountCents), f.RecipientName+" <"+f.RecipientEmail+">",
					f.IssuedAt.UTC().Format(time.DateOnly), strconv.Itoa(f.DaysUnpaid))
			}
			return t.flush()
		},
	}
	propertyFlag(unclaimed)

	return []*cobra.Command{liability, trial, journal, aging, batch, paid, reconcile, interest, unclaimed}
}

func (a *app) printReconciliation(r books.Reconciliation) {
	a.printf("Statement %s to %s of %s (%s): %d line(s) matched.\n", r.From, r.To, r.PropertyID, r.Currency, len(r.Matched))
	if len(r.NotInBooks) > 0 {
		a.printf("\nOn the statement, not in the books (post them, or ask the bank):\n")
		t := newTable(a.out, "LINE", "DATE", "AMOUNT", "REFERENCE", "DESCRIPTION")
		for _, l := range r.NotInBooks {
			t.row(strconv.Itoa(l.Line), l.Date, cur(r.Currency, l.AmountCents), dash(l.Reference), dash(l.Description))
		}
		_ = t.flush()
	}
	if len(r.NotOnStatement) > 0 {
		a.printf("\nIn the books, not on the statement (in transit, or an error):\n")
		t := newTable(a.out, "ENTRY", "DATE", "AMOUNT", "EVENT", "REFERENCE")
		for _, m := range r.NotOnStatement {
			t.row(strconv.FormatInt(m.EntryID, 10), m.Date, cur(r.Currency, m.AmountCents), m.Event, dash(m.Reference))
		}
		_ = t.flush()
	}
	if r.Reconciled {
		a.printf("Reconciled: every line matched.\n")
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// plain is an amount in major units without a symbol, for CSV.
func plain(currency string, cents int64) string {
	if currency == "" {
		currency = "USD"
	}
	if cents == 0 {
		return "0.00"
	}
	return books.Decimal(currency, cents)
}

func blankZero(currency string, cents int64) string {
	if cents == 0 {
		return ""
	}
	return cur(currency, cents)
}
