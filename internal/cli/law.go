package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/depositclient"
	"github.com/depositflow/depositflow/internal/api"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
)

// The legal clock from the CLI: the rules (embedded, overridable per
// operator), the tenant's forwarding address, the compliance report and the
// downloadable itemized statement.

func (a *app) rulesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "Deposit law by jurisdiction: deadlines, interest, forfeiture"}
	list := &cobra.Command{
		Use:     "list [-o json]",
		Short:   "List the rule of every jurisdiction in force today, embedded or set by you",
		Example: `  deposits rules list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listRules(cmd.Context())
		},
	}
	var on string
	show := &cobra.Command{
		Use:   "show CODE [--on YYYY-MM-DD]",
		Short: "Show a jurisdiction's rule in force on a day (default today), with its history",
		Example: `  deposits rules show US-CA
  deposits rules show US-WA --on 2023-01-01 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.showRule(cmd.Context(), args[0], on)
		},
	}
	show.Flags().StringVar(&on, "on", "", "the day the rule must govern, YYYY-MM-DD (default today)")
	var file string
	set := &cobra.Command{
		Use:   "set --file RULE.json",
		Short: "Add or override a jurisdiction's rule from a JSON file (one rule or a list): no release needed",
		Long: `Add a jurisdiction, or override the embedded rule of the same code and
effective date, from a JSON file in the shape 'deposits rules show CODE -o json'
prints. A changed statute is a new rule with a later effective_from: leases
that move out from that day follow it. Every rule is validated first; a file
with one bad rule changes nothing.`,
		Example: `  deposits rules show US-NY -o json > ny.json   # edit: add the bank's interest rates
  deposits rules set --file ny.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			err := a.setRules(ctx, file)
			a.gateway().RecordAction(ctx, a.local(), "", "rules.set", map[string]string{"file": file}, err)
			return err
		},
	}
	set.Flags().StringVar(&file, "file", "", "JSON file holding one rule or a list of rules")
	imp := &cobra.Command{
		Use:     "import FILE.json",
		Short:   "Set every rule in a JSON file (the same as rules set --file)",
		Example: `  deposits rules import our-rules.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.setRules(ctx, args[0])
			a.gateway().RecordAction(ctx, a.local(), "", "rules.import", map[string]string{"file": args[0]}, err)
			return err
		},
	}
	var effective string
	del := &cobra.Command{
		Use:     "delete CODE --effective-from YYYY-MM-DD",
		Short:   "Delete one of your rules (the embedded rule, if any, applies again)",
		Example: `  deposits rules delete US-CA --effective-from 2027-01-01`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.deleteRule(ctx, args[0], effective)
			a.gateway().RecordAction(ctx, a.local(), "", "rules.delete", map[string]string{"code": args[0], "effective_from": effective}, err)
			return err
		},
	}
	del.Flags().StringVar(&effective, "effective-from", "", "the effective date of the rule to delete")
	cmd.AddCommand(list, show, set, imp, del)
	return cmd
}

func (a *app) listRules(ctx context.Context) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	var out struct {
		Rules []rules.Rule `json:"rules"`
	}
	if err := a.get(ctx, "/v1/rules", nil, &out); err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(out.Rules)
	}
	t := newTable(a.out, "CODE", "NAME", "SINCE", "SOURCE", "REFUND DUE", "STATEMENT", "INTEREST", "LATE", "CITATION")
	for _, r := range out.Rules {
		t.row(r.Code, r.Name, r.EffectiveFrom, r.Source, deadlineText(r), statementText(r), interestText(r.Interest), lateText(r), r.Citation)
	}
	return t.flush()
}

func deadlineText(r rules.Rule) string {
	if !r.HasClock() {
		if r.MaxManagerDelay != nil {
			return "manager's date, at most " + r.MaxManagerDelay.String()
		}
		return "manager's date"
	}
	from := map[string]string{rules.TriggerVacate: "move-out", rules.TriggerForwarding: "forwarding address", rules.TriggerLaterOf: "later of move-out and forwarding address"}[r.Trigger]
	s := r.Return.String() + " after " + from
	if r.NoClaimReturn != nil {
		s += fmt.Sprintf(" (%s if nothing is withheld)", r.NoClaimReturn)
	}
	if r.ReturnAfterStatement != nil {
		s += fmt.Sprintf(" (balance %s after the notice)", r.ReturnAfterStatement)
	}
	return s
}

func statementText(r rules.Rule) string {
	switch {
	case r.Statement != nil && r.ObjectionWindow != nil:
		return fmt.Sprintf("notice within %s, %s to object", r.Statement, r.ObjectionWindow)
	case r.Statement != nil:
		return "within " + r.Statement.String()
	case r.HasClock():
		return "with the refund"
	}
	return "-"
}

func interestText(i *rules.Interest) string {
	if i == nil {
		return "none"
	}
	var parts []string
	if n := len(i.Rates); n == 0 {
		parts = append(parts, "account rate (not set)")
	} else {
		r := i.Rates[n-1]
		parts = append(parts, fmt.Sprintf("%d.%02d%% from %d", r.BasisPoints/100, r.BasisPoints%100, r.Year))
	}
	if i.Compound {
		parts = append(parts, "compound")
	}
	if i.AdminFeeBasisPoints > 0 {
		parts = append(parts, fmt.Sprintf("fee %d.%02d%%", i.AdminFeeBasisPoints/100, i.AdminFeeBasisPoints%100))
	}
	if i.MinimumPayoutCents > 0 {
		parts = append(parts, "min "+money.Format(i.MinimumPayoutCents))
	}
	if i.MinBuildingUnits > 0 {
		parts = append(parts, fmt.Sprintf("%d+ units", i.MinBuildingUnits))
	}
	if i.ExemptLeaseDays > 0 {
		parts = append(parts, fmt.Sprintf("leases over %d days", i.ExemptLeaseDays))
	}
	return strings.Join(parts, ", ")
}

func lateText(r rules.Rule) string {
	if r.ForfeitsDeductions {
		return "forfeits deductions"
	}
	if r.HasClock() {
		return "penalty"
	}
	return "-"
}

func (a *app) showRule(ctx context.Context, code, on string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if on != "" {
		if _, err := time.Parse(time.DateOnly, on); err != nil {
			return refused("--on %q: write the date as YYYY-MM-DD", on)
		}
	}
	if err := checkID("jurisdiction", code); err != nil {
		return err
	}
	var out struct {
		Rule    rules.Rule   `json:"rule"`
		History []rules.Rule `json:"history"`
	}
	q := url.Values{}
	if on != "" {
		q.Set("on", on)
	}
	if err := a.get(ctx, "/v1/rules/"+strings.ToUpper(code), q, &out); err != nil {
		return err
	}
	r := out.Rule
	if a.json() {
		r.Source = "" // the output is a valid input of rules set
		return a.printJSON(r)
	}
	a.printf("%s, %s (%s rule, in force from %s)\n", r.Code, r.Name, r.Source, r.EffectiveFrom)
	a.printf("Citation:   %s\n", r.Citation)
	a.printf("Refund due: %s\n", deadlineText(r))
	a.printf("Statement:  %s\n", statementText(r))
	if r.ObjectionWindow != nil {
		a.printf("Objection:  the tenant has %s after the notice; nothing is deducted before\n", r.ObjectionWindow)
	}
	if r.ReceiptsWithin != nil {
		a.printf("Receipts:   within %s of an estimate\n", r.ReceiptsWithin)
	}
	a.printf("Interest:   %s\n", interestText(r.Interest))
	a.printf("Late:       %s\n", dash(r.Penalty))
	if r.ForfeitsDeductions {
		a.printf("            a late statement or refund forfeits every deduction: the engine then refunds in full\n")
	}
	a.printf("Must show:  %s\n", dash(r.StatementRequirements))
	for _, n := range r.Notes {
		a.printf("Note:       %s\n", n)
	}
	if h := out.History; len(h) > 1 {
		a.printf("History:\n")
		for _, old := range h {
			a.printf("  from %s  %-9s %s (%s)\n", old.EffectiveFrom, old.Source, deadlineText(old), old.Citation)
		}
	}
	return nil
}

func (a *app) setRules(ctx context.Context, file string) error {
	if file == "" {
		return refused("give the rule's JSON file: --file RULE.json")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return refused("cannot read %s: %v", file, err)
	}
	rs, err := rules.Parse(raw)
	if err != nil {
		return refused("%s: %v", file, err)
	}
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	// All or nothing: one transaction for the whole file.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		for _, r := range rs {
			r.Source = ""
			body, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := q.PutJurisdictionRule(ctx, db.PutJurisdictionRuleParams{
				Code: r.Code, EffectiveFrom: pgtype.Date{Time: r.Effective(), Valid: true}, Rule: body, UpdatedBy: a.local().ID(),
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return unavailable("the database", err)
	}
	for _, r := range rs {
		a.printf("Rule %s from %s: %s (%s). Leases moving out from %s follow it.\n", r.Code, r.EffectiveFrom, deadlineText(r), r.Citation, r.EffectiveFrom)
	}
	return nil
}

func (a *app) deleteRule(ctx context.Context, code, effective string) error {
	day, err := time.Parse(time.DateOnly, effective)
	if err != nil {
		return refused("--effective-from %q: give the rule's effective date as YYYY-MM-DD", effective)
	}
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	n, err := db.New(pool).DeleteJurisdictionRule(ctx, db.DeleteJurisdictionRuleParams{Code: strings.ToUpper(code), EffectiveFrom: pgtype.Date{Time: day, Valid: true}})
	if err != nil {
		return unavailable("the database", err)
	}
	if n == 0 {
		return refused("you have no rule %s from %s (embedded rules cannot be deleted, only overridden)", code, effective)
	}
	a.printf("Deleted your rule %s from %s.\n", code, effective)
	return nil
}

func (a *app) forwardingCommand() *cobra.Command {
	var address, date string
	cmd := &cobra.Command{
		Use:   "forwarding-address LEASE --address TEXT [--date YYYY-MM-DD]",
		Short: "Record the tenant's written forwarding address: in some states it starts the refund clock",
		Long: `Record the written forwarding address the tenant gave. Where the statute
counts from it (US-TX: 30 days from the later of the move-out and the address)
the lease's deadline starts then. A corrected address keeps the date the first
one arrived.`,
		Example: `  deposits forwarding-address L-100 --address "12 Elm St, Austin TX 78701" --date 2026-12-02`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.recordForwarding(cmd.Context(), args[0], address, date)
		},
	}
	cmd.Flags().StringVar(&address, "address", "", "the forwarding address, as the tenant wrote it")
	cmd.Flags().StringVar(&date, "date", "", "the day it arrived, YYYY-MM-DD (default today)")
	return cmd
}

func (a *app) recordForwarding(ctx context.Context, leaseID, address, date string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if err := checkDay("date", date, time.Now()); err != nil {
		return err
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	if strings.TrimSpace(address) == "" {
		return refused("--address is required: the forwarding address, as the tenant wrote it")
	}
	var out struct {
		Status       string `json:"status"`
		Address      string `json:"forwarding_address"`
		ReceivedDate string `json:"received_date"`
	}
	status, err := a.post(ctx, depositclient.LeasePath(leaseID, "forwarding-address"), api.Forwarding{ForwardingAddress: address, ReceivedDate: date}, "", &out)
	if err != nil {
		return err
	}
	if a.json() {
		s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return s.ForwardingAddress == out.Address })
		return a.printWritten(out, s, ok)
	}
	if status == http.StatusOK {
		a.printf("The forwarding address of lease %s was already recorded; nothing changed.\n", leaseID)
	} else {
		a.printf("Recorded the forwarding address of lease %s (the first arrived %s).\n", leaseID, out.ReceivedDate)
	}
	if !a.recorded(status, leaseID) {
		return nil
	}
	if s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return s.ForwardingAddress == out.Address }); ok {
		a.printf("%s\n", clockLine(s))
	} else {
		a.notYetApplied(leaseID)
	}
	return nil
}

// clockLine says where a lease stands against its statute, in one line.
func clockLine(s deposit.State) string {
	switch {
	case s.Rule == nil && s.MovedOutAt.IsZero():
		return "The statutory clock starts at the move-out."
	case s.Rule == nil:
		return "No statutory clock."
	case !s.Clock.Started:
		return s.Clock.Why + "."
	}
	return fmt.Sprintf("%s. Statement due %s, refund due %s.", s.Clock.Why, s.Clock.StatementDue.Format(time.DateOnly), s.Clock.RefundDue.Format(time.DateOnly))
}

func (a *app) complianceCommand() *cobra.Command {
	var property string
	cmd := &cobra.Command{
		Use:   "compliance [--property P] [-o json]",
		Short: "List open leases with their statutory deadline, days left and risk, nearest first",
		Long: `List every open lease with its jurisdiction, the itemized statement and refund
deadlines its workflow computed, the days left and a risk: missed (a deadline
passed), high (3 days or fewer), medium (a week or less), low, waiting (the
clock has not started: no move-out or no forwarding address yet) or none (no
statute). The engine itself settles a day before each deadline; this is the
report to watch for leases it could not (a worker down, a move-out recorded late).`,
		Example: `  deposits compliance
  deposits compliance --property maple -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.compliance(cmd.Context(), property)
		},
	}
	cmd.Flags().StringVar(&property, "property", "", "only this property's leases")
	return cmd
}

func (a *app) compliance(ctx context.Context, property string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	q := url.Values{}
	if property != "" {
		if err := checkID("--property", property); err != nil {
			return err
		}
		q.Set("property_id", property)
	}
	var resp struct {
		Leases []deposit.ComplianceRow `json:"leases"`
	}
	if err := a.get(ctx, "/v1/compliance", q, &resp); err != nil {
		return err
	}
	out := resp.Leases
	if a.json() {
		return a.printJSON(out)
	}
	t := newTable(a.out, "LEASE", "PROPERTY", "JURISDICTION", "STAGE", "STATEMENT DUE", "DEADLINE", "DAYS LEFT", "RISK", "NOTE")
	for _, r := range out {
		days := "-"
		if r.DaysLeft != nil {
			days = fmt.Sprint(*r.DaysLeft)
		}
		t.row(r.LeaseID, r.PropertyID, r.Jurisdiction, r.Stage, dayOrDash(r.StatementDue), dayOrDash(r.Deadline), days, r.Risk, r.Note)
	}
	return t.flush()
}

func dayOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.DateOnly)
}

func (a *app) statementCommand() *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "statement LEASE [--format html|pdf|text] [--out FILE]",
		Short: "Download the lease's itemized deposit statement: every deduction, interest, the refund or balance, the deadline",
		Example: `  deposits statement L-100 --format pdf --out L-100-statement.pdf
  deposits statement L-100 --format text`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.writeStatement(cmd.Context(), args[0], format, out)
		},
	}
	cmd.Flags().StringVar(&format, "format", "html", "html, pdf or text")
	cmd.Flags().StringVar(&out, "out", "", "write to this file (default standard output; a PDF needs a file)")
	return cmd
}

func (a *app) writeStatement(ctx context.Context, leaseID, format, out string) error {
	if format != "html" && format != "pdf" && format != "text" {
		return refused("--format %q: choose html, pdf or text", format)
	}
	if format == "pdf" && out == "" {
		return refused("a PDF goes to a file: give --out FILE.pdf")
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	resp, err := c.Do(ctx, depositclient.Request{Method: http.MethodGet, Path: depositclient.LeasePath(leaseID, "statement"), Query: url.Values{"format": {format}}})
	if err != nil {
		return remoteErr(err)
	}
	if out == "" {
		_, err = a.out.Write(resp.Body)
		return err
	}
	if err := os.WriteFile(out, resp.Body, 0o644); err != nil {
		return refused("cannot write %s: %v", out, err)
	}
	a.printf("Wrote the %s statement of lease %s to %s.\n", format, leaseID, out)
	return nil
}
