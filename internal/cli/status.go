package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/depositclient"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
)

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status LEASE [-o json]",
		Short: "Show everything known about a lease's deposit",
		Long: `Show the deposit's stage, every amount that goes into the refund, the dates,
the payments and charges and the emails sent. The state comes from the lease's
workflow: live while it runs, its final result once it has closed.`,
		Example: `  deposits status L-100
  deposits status L-100 -o json | jq .refund_cents`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			s, err := a.leaseState(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(s)
			}
			printState(a.out, s)
			return nil
		},
	}
}

func printState(w io.Writer, s deposit.State) {
	m := func(cents int64) string { return cur(s.Currency, cents) }
	t := newTable(w, "", "")
	t.row("Lease", fmt.Sprintf("%s (property %s, unit %s)", s.LeaseID, s.PropertyID, s.UnitID))
	if s.Currency != "" {
		t.row("Currency", s.Currency)
	}
	for i, tn := range s.Tenants {
		label := "Tenant"
		if len(s.Tenants) > 1 {
			label = fmt.Sprintf("Tenant %d", i+1)
		}
		who := strings.TrimSpace(tn.Name + " <" + tn.Email + ">")
		if len(s.Tenants) > 1 {
			who += fmt.Sprintf(", share %d", tn.Share)
		}
		t.row(label, who)
	}
	if len(s.Tenants) == 0 {
		t.row("Tenant", strings.TrimSpace(s.TenantName+" <"+s.TenantEmail+">"))
	}
	if s.PayeeEmail != "" {
		t.row("Payee", strings.TrimSpace(s.PayeeName+" <"+s.PayeeEmail+">")+" (receives the refund)")
	}
	stage := s.Stage
	if s.Outcome != "" {
		stage += " (" + s.Outcome + ")"
	}
	t.row("Stage", stage)
	switch {
	case s.Rule != nil:
		t.row("Jurisdiction", s.Rule.Label())
	case s.Jurisdiction != "":
		t.row("Jurisdiction", s.Jurisdiction+" (its rule is read at the move-out)")
	}
	if s.Rule != nil || !s.MovedOutAt.IsZero() {
		t.row("Statutory clock", clockLine(s))
	}
	if s.ForwardingAddress != "" {
		t.row("Forwarding address", s.ForwardingAddress+" (received "+s.ForwardingAt.Format(time.DateOnly)+")")
	}
	if h := s.CardHold; h != nil {
		line := fmt.Sprintf("%s of %s on card %s", h.Status, cur(s.Currency, h.AmountCents), h.PaymentMethod)
		switch h.Status {
		case deposit.HoldActive:
			line += fmt.Sprintf(" (%s, hold %d), placed again %s", h.PaymentIntentID, h.Seq, h.RenewAt.UTC().Format(time.RFC3339))
		case deposit.HoldCaptured:
			line += fmt.Sprintf(": %s captured, %s released", cur(s.Currency, h.CapturedCents), cur(s.Currency, h.ReleasedCents))
		}
		t.row("Card hold", line)
		if h.Failure != "" {
			t.row("CARD HOLD FAILED", h.Failure+" (the manager was emailed; it is tried again "+h.RenewAt.UTC().Format(time.RFC3339)+")")
		}
	}
	if s.BooksDisagree != "" {
		t.row("BOOKS DISAGREE", s.BooksDisagree+" (nothing is paid until an admin runs deposits books recheck "+s.LeaseID+")")
	}
	if s.DeadlineMissed != "" {
		t.row("DEADLINE MISSED", s.DeadlineMissed)
	}
	if s.Interest.Why != "" && s.Rule != nil && s.Rule.Interest != nil {
		t.row("Interest rule", s.Interest.Why)
	}
	t.row("Cash deposit", m(s.ExpectedCents)+paren(s.ExpectedSource))
	if s.PrepaidCents != 0 {
		t.row("Prepaid", m(s.PrepaidCents))
	}
	if s.GuaranteeCents != 0 {
		t.row("Guarantee", m(s.GuaranteeCents)+paren(strings.Join(s.Guarantors, ", ")+"; no cash"))
	}
	t.row("Paid", m(s.PaidCents))
	t.row("Received", m(s.ReceivedCents)+paren("paid + prepaid"))
	// Every term of the refund maths, even at zero, so the sum can be checked by eye.
	t.row("Interest", "+"+m(s.InterestCents))
	t.row("Credits", "+"+m(s.CreditsCents))
	t.row("Arrears", "-"+m(s.ArrearsCents))
	t.row("Deductions", "-"+m(s.DeductionsCents))
	t.row("Kept", "-"+m(s.KeptCents))
	t.row("Refunded earlier", "-"+m(s.EarlierRefundsCents)+paren("partial refunds and transfers"))
	for _, e := range s.EarlierRefunds {
		what := fmt.Sprintf("partial refund %d", e.ID)
		if e.Kind == deposit.EarlierTransfer {
			what = fmt.Sprintf("transfer %d to lease %s", e.ID, e.ToLease)
		}
		t.row("", fmt.Sprintf("  -%s %s on %s by %s", m(e.AmountCents), what, e.At.UTC().Format(time.DateOnly), e.By))
	}
	for _, p := range s.Pending {
		t.row("Awaiting approval", fmt.Sprintf("%s %s by %s: %s (deposits approve %s --item %s)", p.Kind, m(p.AmountCents), p.RequestedBy, p.Reason, s.LeaseID, p.Item))
	}
	if p := s.PendingKeep; p != nil && len(s.Pending) == 0 {
		t.row("Pending keep", fmt.Sprintf("%s by %s, awaiting approval: %s", m(p.AmountCents), p.RequestedBy, p.Reason))
	}
	terms := s.Terms()
	switch {
	case s.Stage != deposit.StageClosed:
		p := deposit.Settle(terms)
		if p.BalanceOwedCents > 0 {
			t.row("Balance owed", m(p.BalanceOwedCents)+" (if nothing changes)")
		} else {
			t.row("Refund", m(p.RefundCents)+" (if nothing changes)")
		}
	case s.BalanceOwedCents > 0:
		t.row("Balance owed", fmt.Sprintf("%s (invoice %d)", m(s.BalanceOwedCents), s.InvoiceID))
	default:
		t.row("Refund", m(s.RefundCents)+paren(idText("settlement", s.SettlementID)))
	}
	t.row("Held", m(s.HeldCents))
	t.row("Moved out", when(s.MovedOutAt))
	t.row("Assess until", when(s.AssessUntil))
	release := when(s.ReleaseAt)
	if s.OnHold {
		release += " (on hold: released only by hand)"
	}
	t.row("Release at", release)
	t.row("Closed at", when(s.ClosedAt))
	t.row("Emails sent", strings.Join(s.EmailsSent, ", "))
	for _, f := range s.EmailFailures {
		t.row("Email failed", f)
	}
	for _, e := range s.LateEvents {
		t.row("Late event", e)
	}
	for _, e := range s.IgnoredSignals {
		t.row("Ignored signal", e)
	}
	for _, f := range s.FollowUps {
		t.row("Follow-up", fmt.Sprintf("%s of %s to %s, %s: %s came after the settlement", f.Kind, m(f.AmountCents), f.Recipient, f.At.UTC().Format(time.DateOnly), f.Follows))
	}
	_ = t.flush()
	if len(s.Payments) > 0 {
		fmt.Fprintln(w, "\nPayments")
		pt := newTable(w, "ID", "DATE", "REFERENCE", "AMOUNT", "")
		for _, p := range s.Payments {
			note := ""
			if p.Returned {
				note = "returned: " + p.ReturnReason
			}
			pt.row(fmt.Sprint(p.PaymentID), p.Date, p.Reference, m(p.AmountCents), note)
		}
		_ = pt.flush()
	}
	if len(s.Deposits) > 1 {
		fmt.Fprintln(w, "\nDeposit rows")
		dt := newTable(w, "ID", "TYPE", "AMOUNT", "GUARANTOR", "PAYEE")
		for _, d := range s.Deposits {
			dt.row(fmt.Sprint(d.DepositID), d.Type, signed(s.Currency, d.AmountCents), dash(d.Guarantor), dash(d.PayeeEmail))
		}
		_ = dt.flush()
	}
	if len(s.Payouts) > 0 {
		fmt.Fprintln(w, "\nRefund payouts")
		pt := newTable(w, "REFUND", "TO", "AMOUNT")
		for _, p := range s.Payouts {
			pt.row(dash(idText("", p.RefundID)), strings.TrimSpace(p.Name+" <"+p.Email+">"), m(p.AmountCents))
		}
		_ = pt.flush()
	}
	if len(s.Kept) > 0 {
		fmt.Fprintln(w, "\nKept")
		kt := newTable(w, "AMOUNT", "REASON", "BY", "APPROVED BY")
		for _, k := range s.Kept {
			kt.row(m(k.AmountCents), k.Reason, k.RequestedBy, dash(k.ApprovedBy))
		}
		_ = kt.flush()
	}
	if len(s.Decisions) > 0 {
		fmt.Fprintln(w, "\nDecisions")
		dt := newTable(w, "AT", "BY", "DECISION", "DETAIL")
		for _, d := range s.Decisions {
			dt.row(when(d.At), d.Actor+" ("+d.Role+")", d.Kind, d.Detail)
		}
		_ = dt.flush()
	}
	if len(s.Charges) > 0 {
		fmt.Fprintln(w, "\nCharges")
		ct := newTable(w, "ID", "CODE", "COUNTS AS", "DESCRIPTION", "AMOUNT")
		for _, c := range s.Charges {
			ct.row(fmt.Sprint(c.ChargeID), c.Code, c.Category, c.Description, m(c.AmountCents))
		}
		_ = ct.flush()
	}
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func idText(what string, id int64) string {
	if id == 0 {
		return ""
	}
	return strings.TrimSpace(fmt.Sprintf("%s %d", what, id))
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func (a *app) listCommand() *cobra.Command {
	var stage, property, dueBefore string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--stage S] [--property P] [--due-before DATE] [-o json]",
		Short: "List leases by stage, property and release date",
		Long: `List the leases of your properties by lease ID, from the database, where each
lease's workflow mirrors its stage and release date as they change (the server's
GET /v1/leases, page after page). The Temporal Web UI filters the same way on the
workflows' search attributes, e.g.
  DepositStage = 'release_pending' AND DepositReleaseAt < '2026-12-01T00:00:00Z'`,
		Example: `  deposits list --stage release_pending --due-before 7d
  deposits list --stage release_pending --due-before 2026-12-01
  deposits list --property maple -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.list(cmd.Context(), stage, property, dueBefore, limit)
		},
	}
	cmd.Flags().StringVar(&stage, "stage", "", "only leases at this stage: "+strings.Join(gateway.Stages, ", "))
	cmd.Flags().StringVar(&property, "property", "", "only leases of this property")
	cmd.Flags().StringVar(&dueBefore, "due-before", "", "only leases released before this date (YYYY-MM-DD, RFC 3339, or 7d: within 7 days)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many leases")
	return cmd
}

func (a *app) list(ctx context.Context, stage, property, dueBefore string, limit int) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if stage != "" && !slices.Contains(gateway.Stages, stage) {
		return refused("--stage %q: choose one of %s", stage, strings.Join(gateway.Stages, ", "))
	}
	if property != "" {
		if err := checkID("--property", property); err != nil {
			return err
		}
	}
	var due time.Time
	if dueBefore != "" {
		bad := refused("--due-before %q: write a date (YYYY-MM-DD) or a number of days from now (7d)", dueBefore)
		if days, ok := strings.CutSuffix(dueBefore, "d"); ok {
			// Relative: due within so many days from now.
			n, err := strconv.Atoi(days)
			if err != nil || n < 0 || n > 3650 {
				return bad
			}
			due = time.Now().UTC().AddDate(0, 0, n)
		} else if t, err := time.Parse(time.DateOnly, dueBefore); err == nil {
			due = t
		} else if due, err = time.Parse(time.RFC3339, dueBefore); err != nil {
			return bad
		}
	}
	if limit <= 0 {
		return refused("--limit must be positive")
	}
	f := depositclient.LeaseFilter{Stage: stage, PropertyID: property, DueBefore: due, Limit: min(limit, gateway.MaxPageSize)}
	c, err := a.api()
	if err != nil {
		return err
	}
	leases := []depositclient.ListedLease{}
	for l, err := range c.Leases(ctx, f) {
		if err != nil {
			return remoteErr(err)
		}
		if leases = append(leases, l); len(leases) == limit {
			break
		}
	}
	if a.json() {
		return a.printJSON(leases)
	}
	t := newTable(a.out, "LEASE", "PROPERTY", "STAGE", "RELEASE AT", "JURISDICTION", "OUTCOME", "STARTED")
	for _, r := range leases {
		t.row(r.LeaseID, r.PropertyID, r.Stage, when(r.ReleaseAt), dash(r.Jurisdiction), dash(r.Outcome), when(r.StartedAt))
	}
	return t.flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// table aligns columns for people; -o json is for scripts.
type table struct{ w *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	if strings.Join(header, "") != "" {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.w, strings.Join(cells, "\t")) }
func (t *table) flush() error        { return t.w.Flush() }
