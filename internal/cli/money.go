package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/ingest"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/workflows"
)

func (a *app) depositCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "deposit", Short: "The deposit's rows: amendments by type, payee changes"}
	var typ, amount, guarantor, payee, payeeName string
	amend := &cobra.Command{
		Use:   "amend LEASE --type cash|guarantee|prepaid --amount -500.00 [--guarantor NAME] [--payee EMAIL]",
		Short: "Raise or lower a deposit, add a guarantee or a prepaid part, or change the payee",
		Long: `Add an amendment row to the lease's deposit (rows are never edited): a positive
amount raises it, a negative one lowers it. cash is what the tenant pays (a raise
sends the lease back to awaiting payment and asks for the difference); prepaid
was paid ahead and is refunded as cash; a guarantee (bank guarantee or letter of
credit) needs its guarantor and is never refunded in cash. --payee names who
receives the refund from now on (the newest payee wins).`,
		Example: `  deposits deposit amend L-100 --type cash --amount -500.00
  deposits deposit amend L-100 --type guarantee --amount 5,000 --guarantor "Bank of America"
  deposits deposit amend L-100 --type cash --amount 0 --payee parent@example.com --payee-name "Pat Parent"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.amend(ctx, args[0], typ, amount, guarantor, payee, payeeName)
			a.audit(ctx, args[0], "deposit.amend", map[string]string{"type": typ, "amount": amount, "guarantor": guarantor, "payee": payee}, err)
			return err
		},
	}
	f := amend.Flags()
	f.StringVar(&typ, "type", "cash", "cash, guarantee or prepaid")
	f.StringVar(&amount, "amount", "", "change in dollars, negative to lower (0 with --payee to change only the payee)")
	f.StringVar(&guarantor, "guarantor", "", "the bank or guarantor of a guarantee (required for --type guarantee)")
	f.StringVar(&payee, "payee", "", "email of who receives the refund from now on")
	f.StringVar(&payeeName, "payee-name", "", "name of the payee")
	cmd.AddCommand(amend)
	return cmd
}

func (a *app) amend(ctx context.Context, leaseID, typ, amount, guarantor, payee, payeeName string) error {
	if typ != deposit.DepositCash && typ != deposit.DepositGuarantee && typ != deposit.DepositPrepaid {
		return refused("--type %q: choose cash, guarantee or prepaid", typ)
	}
	if strings.TrimSpace(amount) == "" {
		return refused("--amount is required (negative to lower, 0 with --payee to change only the payee)")
	}
	cents, err := money.ParseSigned(amount)
	if err != nil {
		return refused("--amount %v", err)
	}
	if payee != "" {
		if payee, err = parseEmail(payee); err != nil {
			return refused("--payee is not an email address")
		}
	}
	if cents == 0 && payee == "" {
		return refused("--amount 0 changes nothing: give an amount, or --payee to change the payee")
	}
	guarantor = strings.TrimSpace(guarantor)
	if typ == deposit.DepositGuarantee && guarantor == "" {
		return refused("a guarantee needs its guarantor: --guarantor \"Bank of America\"")
	}
	s, err := a.leaseState(ctx, leaseID)
	if err != nil {
		return err
	}
	if !s.MovedOutAt.IsZero() {
		return refused("lease %s has ended (moved out %s): amend a deposit while the lease is active", leaseID, s.MovedOutAt.Format(time.DateOnly))
	}
	total := map[string]int64{deposit.DepositCash: s.ExpectedCents, deposit.DepositGuarantee: s.GuaranteeCents, deposit.DepositPrepaid: s.PrepaidCents}[typ]
	if total+cents < 0 {
		return refused("lowering the %s deposit by %s would leave %s: it is %s", typ, money.Format(-cents), money.Format(total+cents), money.Format(total))
	}
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	row, err := db.New(pool).InsertAmendment(ctx, db.InsertAmendmentParams{
		LeaseID: leaseID, DepositType: typ, AmountInCents: cents, Guarantor: guarantor,
		PayeeEmail: payee, PayeeName: payeeName, CreatedBy: a.actor,
		IdempotencyKey: fmt.Sprintf("%s/amend/%d", workflows.WorkflowID(leaseID), time.Now().UnixNano()),
	})
	if err != nil {
		return unavailable("the database", err)
	}
	if err := a.signal(ctx, leaseID, workflows.SignalAmend, deposit.DepositRow{
		DepositID: row.DepositID, Type: typ, AmountCents: cents, Guarantor: guarantor, PayeeEmail: payee, PayeeName: payeeName,
	}); err != nil {
		return err
	}
	a.printf("Amended the deposit of lease %s: %s %s.\n", leaseID, typ, signed(cents))
	s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return hasDeposit(s, row.DepositID) })
	if !ok {
		a.notYetApplied(leaseID)
		return nil
	}
	a.printf("Cash %s (paid %s), prepaid %s, guarantee %s; stage %s.\n", money.Format(s.ExpectedCents), money.Format(s.PaidCents),
		money.Format(s.PrepaidCents), money.Format(s.GuaranteeCents), s.Stage)
	if s.PayeeEmail != "" {
		a.printf("The refund goes to %s.\n", strings.TrimSpace(s.PayeeName+" <"+s.PayeeEmail+">"))
	}
	return nil
}

func signed(cents int64) string {
	if cents > 0 {
		return "+" + money.Format(cents)
	}
	return money.Format(cents)
}

func hasDeposit(s deposit.State, id int64) bool {
	for _, d := range s.Deposits {
		if d.DepositID == id {
			return true
		}
	}
	return false
}

var returnReasons = ingest.ReturnReasons

func (a *app) paymentReturnCommand() *cobra.Command {
	var ref, reason string
	cmd := &cobra.Command{
		Use:   "return LEASE --ref REF --reason nsf",
		Short: "Record that a payment came back: it is reversed and the property's NSF fee charged",
		Long: `Record a returned payment (seed 003: "returned as NSF or invalid by the payee's
bank"). The payment no longer counts, the property's NSF fee is added as a
charge, the lease goes back to awaiting payment if the deposit is no longer
covered, and the tenant is emailed.`,
		Example: `  deposits payment return L-100 --ref CHK-1042 --reason nsf`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.returnPayment(ctx, args[0], ref, reason)
			a.audit(ctx, args[0], "payment.return", map[string]string{"ref": ref, "reason": reason}, err)
			return err
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "reference of the payment that came back")
	cmd.Flags().StringVar(&reason, "reason", "nsf", "why: "+strings.Join(returnReasons, ", "))
	return cmd
}

func (a *app) returnPayment(ctx context.Context, leaseID, ref, reason string) error {
	if ref == "" {
		return refused("--ref is required: the reference the payment was recorded with (see deposits status)")
	}
	if !slices.Contains(returnReasons, reason) {
		return refused("--reason %q: choose one of %s", reason, strings.Join(returnReasons, ", "))
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	out, err := a.ingest().ReturnPayment(ctx, ingest.ReturnIn{LeaseID: leaseID, Reference: ref, Reason: reason, Actor: a.actor})
	if err != nil {
		return cliErr(err)
	}
	p, fee, again := out.Payment, out.Fee, out.Again
	if again {
		a.printf("Payment %s of lease %s was already returned on %s (%s); nothing changed.\n", ref, leaseID, p.ReturnedAt.UTC().Format(time.DateOnly), p.ReturnReason)
		return nil
	}
	a.printf("Payment %s of %s for lease %s was returned (%s).\n", ref, money.Format(p.AmountInCents), leaseID, reason)
	if fee != nil {
		a.printf("NSF fee of %s charged.\n", money.Format(fee.AmountCents))
	}
	if s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return paymentReturned(s, p.PaymentID) }); ok {
		a.printf("Paid %s of %s; stage %s.\n", money.Format(s.PaidCents), money.Format(s.ExpectedCents), s.Stage)
	} else {
		a.notYetApplied(leaseID)
	}
	return nil
}

func paymentReturned(s deposit.State, id int64) bool {
	for _, p := range s.Payments {
		if p.PaymentID == id {
			return p.Returned
		}
	}
	return false
}

// ledgerEntry is one row of `deposits ledger`: money in (positive) or out (negative).
type ledgerEntry struct {
	Kind        string `json:"kind"`
	Ref         string `json:"ref"`
	Description string `json:"description"`
	Cents       int64  `json:"cents"`
}

// ledgerReport proves conservation from the database rows:
// received + interest + credits = held + refunded + applied, and what was
// claimed from the tenant = applied + invoiced.
type ledgerReport struct {
	LeaseID        string        `json:"lease_id"`
	Entries        []ledgerEntry `json:"entries"`
	ReceivedCents  int64         `json:"received_cents"`
	InterestCents  int64         `json:"interest_cents"`
	CreditsCents   int64         `json:"credits_cents"`
	HeldCents      int64         `json:"held_cents"`
	RefundedCents  int64         `json:"refunded_cents"`
	AppliedCents   int64         `json:"applied_cents"`
	ClaimedCents   int64         `json:"claimed_cents"`
	InvoicedCents  int64         `json:"invoiced_cents"`
	GuaranteeCents int64         `json:"guarantee_cents"`
	Settled        bool          `json:"settled"`
	Conserved      bool          `json:"conserved"`
}

func (a *app) ledgerCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "ledger LEASE [-o json]",
		Short: "Print the rows that prove every cent of the deposit is accounted for",
		Long: `Print the lease's money rows from the database (payments in, returned
payments, prepaid rows, credits, refund payouts, invoices) and check the
conservation rules:
  received + interest + credits = held + refunded + applied
  arrears + deductions + kept     = applied + invoiced       (once settled)
It exits 1 if they do not hold.`,
		Example: `  deposits ledger L-100
  deposits ledger L-100 -o json | jq .conserved`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			r, err := a.ledger(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json() {
				if err := a.printJSON(r); err != nil {
					return err
				}
			} else {
				printLedger(a, r)
			}
			if !r.Conserved {
				return refused("lease %s does not balance: see the rows above", args[0])
			}
			return nil
		},
	}
}

func (a *app) ledger(ctx context.Context, leaseID string) (ledgerReport, error) {
	r := ledgerReport{LeaseID: leaseID, Entries: []ledgerEntry{}}
	q, err := a.leaseQueries(ctx, leaseID)
	if err != nil {
		return r, err
	}
	payments, err := q.ListPayments(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, p := range payments {
		r.Entries = append(r.Entries, ledgerEntry{"payment", p.Reference, "paid on " + p.TransactionDate.Time.Format(time.DateOnly), p.AmountInCents})
		r.ReceivedCents += p.AmountInCents
		if p.ReturnedAt != nil {
			r.Entries = append(r.Entries, ledgerEntry{"returned", p.Reference, "returned (" + p.ReturnReason + ")", -p.AmountInCents})
			r.ReceivedCents -= p.AmountInCents
		}
	}
	deposits, err := q.ListDeposits(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, d := range deposits {
		switch d.DepositType {
		case deposit.DepositPrepaid:
			r.Entries = append(r.Entries, ledgerEntry{"prepaid", fmt.Sprint(d.DepositID), "prepaid deposit", d.AmountInCents})
			r.ReceivedCents += d.AmountInCents
		case deposit.DepositGuarantee:
			r.GuaranteeCents += d.AmountInCents
		}
	}
	charges, err := q.ListCharges(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, c := range charges {
		if c.Category == deposit.CategoryCredit {
			r.Entries = append(r.Entries, ledgerEntry{"credit", fmt.Sprint(c.ChargeID), c.Description, c.AmountInCents})
			r.CreditsCents += c.AmountInCents
		}
	}
	// The same totals summed by the database must agree with the rows.
	totals, err := q.LedgerTotals(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	rowsAgree := totals.PaidCents+totals.PrepaidCents == r.ReceivedCents && totals.CreditsCents == r.CreditsCents
	st, err := q.GetSettlement(ctx, leaseID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return r, unavailable("the database", err)
	}
	r.Settled = err == nil
	if !r.Settled {
		// Nothing has left yet: everything received is held.
		r.HeldCents = r.ReceivedCents + r.CreditsCents
		r.Conserved = rowsAgree
		return r, nil
	}
	r.InterestCents = st.InterestCents
	refunds, err := q.ListRefunds(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, f := range refunds {
		r.Entries = append(r.Entries, ledgerEntry{"refund", fmt.Sprint(f.RefundID), "refund to " + f.RecipientEmail, -f.AmountInCents})
		r.RefundedCents += f.AmountInCents
	}
	r.ClaimedCents = st.ArrearsCents + st.DeductionsCents + st.KeptCents + st.EarlierRefundsCents
	funds := r.ReceivedCents + r.InterestCents + r.CreditsCents
	r.AppliedCents = min(r.ClaimedCents, funds)
	if r.AppliedCents > 0 {
		r.Entries = append(r.Entries, ledgerEntry{"applied", fmt.Sprint(st.SettlementID),
			fmt.Sprintf("kept for arrears %s, deductions %s, decisions %s", money.Format(st.ArrearsCents), money.Format(st.DeductionsCents), money.Format(st.KeptCents)),
			-r.AppliedCents})
	}
	invoices, err := q.ListInvoices(ctx, leaseID)
	if err != nil {
		return r, unavailable("the database", err)
	}
	for _, inv := range invoices {
		r.InvoicedCents += inv.AmountDueInCents
	}
	r.HeldCents = funds - r.RefundedCents - r.AppliedCents
	r.Conserved = rowsAgree && r.HeldCents == 0 &&
		st.ReceivedCents == r.ReceivedCents && st.CreditsCents == r.CreditsCents &&
		r.RefundedCents == st.RefundCents && r.InvoicedCents == st.BalanceOwedCents &&
		r.ClaimedCents == r.AppliedCents+r.InvoicedCents
	return r, nil
}

func printLedger(a *app, r ledgerReport) {
	t := newTable(a.out, "KIND", "REF", "DESCRIPTION", "AMOUNT")
	for _, e := range r.Entries {
		t.row(e.Kind, e.Ref, e.Description, signed(e.Cents))
	}
	_ = t.flush()
	a.printf("\n")
	s := newTable(a.out, "", "")
	s.row("Received", money.Format(r.ReceivedCents))
	s.row("Interest", money.Format(r.InterestCents))
	s.row("Credits", money.Format(r.CreditsCents))
	s.row("Held", money.Format(r.HeldCents))
	s.row("Refunded", money.Format(r.RefundedCents))
	s.row("Applied", money.Format(r.AppliedCents))
	if r.Settled {
		s.row("Claimed", money.Format(r.ClaimedCents))
		s.row("Invoiced", money.Format(r.InvoicedCents))
	}
	if r.GuaranteeCents != 0 {
		s.row("Guarantee", money.Format(r.GuaranteeCents)+" (no cash)")
	}
	verdict := "yes"
	if !r.Conserved {
		verdict = "NO"
	}
	s.row("Conserved", verdict+": received + interest + credits = held + refunded + applied")
	_ = s.flush()
}
