package cli

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/depositclient"
	"github.com/depositflow/depositflow/internal/api"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
)

func (a *app) depositCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "deposit", Short: "The deposit's rows: amendments by type, payee changes"}
	var typ, amount, guarantor, payee, payeeName, ref string
	amend := &cobra.Command{
		Use:   "amend LEASE --type cash|guarantee|prepaid --amount -500.00 [--guarantor NAME] [--payee EMAIL] [--ref REF]",
		Short: "Raise or lower a deposit, add a guarantee or a prepaid part, or change the payee",
		Long: `Add an amendment row to the lease's deposit (rows are never edited): a positive
amount raises it, a negative one lowers it. cash is what the tenant pays (a raise
sends the lease back to awaiting payment and asks for the difference); prepaid
was paid ahead and is refunded as cash; a guarantee (bank guarantee or letter of
credit) needs its guarantor and is never refunded in cash. --payee names who
receives the refund from now on (the newest payee wins).

A payee change, and a cash or prepaid amendment once a payment was made, wait
for a books_admin who is not you (deposits approve LEASE --item deposit:N).
The reference makes the amendment idempotent: running the same command again
changes nothing (without --ref it is made from the amendment's content).`,
		Example: `  deposits deposit amend L-100 --type cash --amount -500.00 --ref AMD-1
  deposits deposit amend L-100 --type guarantee --amount 5,000 --guarantor "Bank of America"
  deposits deposit amend L-100 --type cash --amount 0 --payee parent@example.com --payee-name "Pat Parent"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.amend(cmd.Context(), args[0], api.Amendment{AmendmentID: ref, Type: typ, Guarantor: guarantor, PayeeEmail: payee, PayeeName: payeeName}, amount)
		},
	}
	f := amend.Flags()
	f.StringVar(&typ, "type", "cash", "cash, guarantee or prepaid")
	f.StringVar(&amount, "amount", "", "change, negative to lower (0 with --payee to change only the payee)")
	f.StringVar(&guarantor, "guarantor", "", "the bank or guarantor of a guarantee (required for --type guarantee)")
	f.StringVar(&payee, "payee", "", "email of who receives the refund from now on")
	f.StringVar(&payeeName, "payee-name", "", "name of the payee")
	f.StringVar(&ref, "ref", "", "your reference for the amendment: running it again changes nothing")
	cmd.AddCommand(amend)
	return cmd
}

func (a *app) amend(ctx context.Context, leaseID string, in api.Amendment, amount string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if in.Type != deposit.DepositCash && in.Type != deposit.DepositGuarantee && in.Type != deposit.DepositPrepaid {
		return refused("--type %q: choose cash, guarantee or prepaid", in.Type)
	}
	if strings.TrimSpace(amount) == "" {
		return refused("--amount is required (negative to lower, 0 with --payee to change only the payee)")
	}
	var err error
	if in.AmountInCents, in.Currency, err = parseSignedAmount("amount", amount); err != nil {
		return err
	}
	if in.PayeeEmail != "" {
		if in.PayeeEmail, err = parseEmail("payee", in.PayeeEmail); err != nil {
			return err
		}
	}
	if in.AmountInCents == 0 && in.PayeeEmail == "" {
		return refused("--amount 0 changes nothing: give an amount, or --payee to change the payee")
	}
	if in.Type == deposit.DepositGuarantee && strings.TrimSpace(in.Guarantor) == "" {
		return refused("a guarantee needs its guarantor: --guarantor \"Bank of America\"")
	}
	if err := checkLeaseAndRef(leaseID, in.AmendmentID); err != nil {
		return err
	}
	var out struct {
		Status  string `json:"status"`
		ID      int64  `json:"id"`
		Ref     string `json:"amendment_id"`
		Pending bool   `json:"pending_approval"`
	}
	status, err := a.post(ctx, depositclient.LeasePath(leaseID, "deposit-amendments"), in, "", &out)
	if err != nil {
		return err
	}
	s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return hasDeposit(s, out.ID) })
	if a.json() {
		return a.printWritten(out, s, ok)
	}
	if status == http.StatusOK {
		a.printf("Amendment %s of lease %s was already recorded (deposit row %d); nothing changed.\n", out.Ref, leaseID, out.ID)
	} else {
		a.printf("Amended the deposit of lease %s: %s %s.\n", leaseID, in.Type, signed(s.Currency, in.AmountInCents))
	}
	if out.Pending {
		a.printf("It waits for a books_admin who is not you: `deposits approve %s --item deposit:%d`.\n", leaseID, out.ID)
	}
	switch {
	case !a.recorded(status, leaseID):
	case !ok:
		a.notYetApplied(leaseID)
	default:
		a.printf("Cash %s (paid %s), prepaid %s, guarantee %s; stage %s.\n", cur(s.Currency, s.ExpectedCents), cur(s.Currency, s.PaidCents),
			cur(s.Currency, s.PrepaidCents), cur(s.Currency, s.GuaranteeCents), s.Stage)
		if s.PayeeEmail != "" {
			a.printf("The refund goes to %s.\n", strings.TrimSpace(s.PayeeName+" <"+s.PayeeEmail+">"))
		}
	}
	return nil
}

func signed(currency string, cents int64) string {
	if cents > 0 {
		return "+" + cur(currency, cents)
	}
	return cur(currency, cents)
}

// hasDeposit says whether the state shows the deposit row, applied or pending.
func hasDeposit(s deposit.State, id int64) bool {
	for _, d := range s.Deposits {
		if d.DepositID == id {
			return true
		}
	}
	for _, p := range s.Pending {
		if p.Item == "deposit:"+itoa(id) {
			return true
		}
	}
	return false
}

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
			return a.returnPayment(cmd.Context(), args[0], ref, reason)
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "reference of the payment that came back")
	cmd.Flags().StringVar(&reason, "reason", "nsf", "why: "+strings.Join(gateway.ReturnReasons, ", "))
	return cmd
}

func (a *app) returnPayment(ctx context.Context, leaseID, ref, reason string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if ref == "" {
		return refused("--ref is required: the reference the payment was recorded with (see deposits status)")
	}
	if !slices.Contains(gateway.ReturnReasons, reason) {
		return refused("--reason %q: choose one of %s", reason, strings.Join(gateway.ReturnReasons, ", "))
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	if err := checkID("--ref", ref); err != nil {
		return err
	}
	var out struct {
		Status     string    `json:"status"`
		Amount     int64     `json:"amount_in_cents"`
		ReturnedAt time.Time `json:"returned_at"`
		Reason     string    `json:"reason"`
		Fee        int64     `json:"nsf_fee_in_cents"`
	}
	status, err := a.post(ctx, depositclient.LeasePath(leaseID, "payments", ref, "return"), api.ReturnedPayment{Reason: reason}, "", &out)
	if err != nil {
		return err
	}
	s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return paymentReturned(s, ref) })
	if a.json() {
		return a.printWritten(out, s, ok)
	}
	if status == http.StatusOK {
		a.printf("Payment %s of lease %s was already returned on %s (%s); nothing changed.\n", ref, leaseID, out.ReturnedAt.UTC().Format(time.DateOnly), out.Reason)
		return nil
	}
	a.printf("Payment %s of %s for lease %s was returned (%s).\n", ref, cur(s.Currency, out.Amount), leaseID, reason)
	if out.Fee > 0 {
		a.printf("NSF fee of %s charged.\n", cur(s.Currency, out.Fee))
	}
	switch {
	case !a.recorded(status, leaseID):
	case ok:
		a.printf("Paid %s of %s; stage %s.\n", cur(s.Currency, s.PaidCents), cur(s.Currency, s.ExpectedCents), s.Stage)
	default:
		a.notYetApplied(leaseID)
	}
	return nil
}

func paymentReturned(s deposit.State, ref string) bool {
	for _, p := range s.Payments {
		if p.Reference == ref {
			return p.Returned
		}
	}
	return false
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
			if err := checkID("lease", args[0]); err != nil {
				return err
			}
			var r deposit.Ledger
			if err := a.get(cmd.Context(), depositclient.LeasePath(args[0], "ledger"), nil, &r); err != nil {
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

func printLedger(a *app, r deposit.Ledger) {
	c := r.Currency
	t := newTable(a.out, "KIND", "REF", "DESCRIPTION", "AMOUNT")
	for _, e := range r.Entries {
		t.row(e.Kind, e.Ref, e.Description, signed(c, e.Cents))
	}
	_ = t.flush()
	a.printf("\n")
	s := newTable(a.out, "", "")
	s.row("Received", cur(c, r.ReceivedCents))
	s.row("Interest", cur(c, r.InterestCents))
	s.row("Credits", cur(c, r.CreditsCents))
	s.row("Held", cur(c, r.HeldCents))
	s.row("Refunded", cur(c, r.RefundedCents))
	if r.TransferredCents != 0 {
		s.row("Transferred", cur(c, r.TransferredCents)+" (to other leases)")
	}
	s.row("Applied", cur(c, r.AppliedCents))
	if r.Settled {
		s.row("Claimed", cur(c, r.ClaimedCents))
		s.row("Invoiced", cur(c, r.InvoicedCents))
	}
	if r.GuaranteeCents != 0 {
		s.row("Guarantee", cur(c, r.GuaranteeCents)+" (no cash)")
	}
	verdict := "yes"
	if !r.Conserved {
		verdict = "NO"
	}
	if r.TransferredCents != 0 {
		s.row("Conserved", verdict+": received + interest + credits = held + refunded + transferred + applied")
	} else {
		s.row("Conserved", verdict+": received + interest + credits = held + refunded + applied")
	}
	_ = s.flush()
}
