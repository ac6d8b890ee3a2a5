package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/depositclient"
	"github.com/depositflow/depositflow/internal/api"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
)

// Money moved before the settlement and open invoices (#16, seed 002's
// "Add refund/transfer"): transfer, refund, invoice add|list, apply-invoice.

// moveKey is the idempotency key of a transfer, a partial refund or an
// invoice applied: --key, or one made from what the command says, so the
// same command run twice moves the money once (give --key for a second,
// identical one).
func moveKey(key string, parts ...any) string {
	if strings.TrimSpace(key) != "" {
		return key
	}
	b, _ := json.Marshal(parts)
	h := sha256.Sum256(b)
	return "auto-" + hex.EncodeToString(h[:6])
}

// optionalAmount parses --amount when given: 0 is "all of it".
func optionalAmount(s string) (int64, string, error) {
	if strings.TrimSpace(s) == "" {
		return 0, "", nil
	}
	return parseAmount("amount", s)
}

func (a *app) moveCommands() []*cobra.Command {
	var to, amount, reason, key string
	transfer := &cobra.Command{
		Use:   "transfer LEASE --to LEASE2 [--amount X] [--reason TEXT] [--key KEY]",
		Short: "Move refundable money to another lease (a renewal, another unit)",
		Long: `Move all (without --amount) or part of the lease's refundable amount to another
lease of a property you manage, in the same currency: the tenant renews or
moves to another unit. The refundable amount is seed 002's: received − (arrears
+ deductions + kept + previous refunds/transfers), less what waits for
approval. The source counts the transfer as a previous refund/transfer; the
target receives it as a payment (its tenant gets a receipt). The same --key
again changes nothing (without one it is made from the leases and amount,
so the same command run twice is one transfer).
Transfers count toward the property's approval threshold: one that would take
the money moved by hand above it is refused.`,
		Example: `  deposits transfer L-100 --to L-200 --amount 300.00 --key RENEW-2027`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.transfer(cmd.Context(), args[0], to, amount, reason, key)
		},
	}
	transfer.Flags().StringVar(&to, "to", "", "the lease the money goes to")
	transfer.Flags().StringVar(&amount, "amount", "", "amount (default: all of the refundable amount)")
	transfer.Flags().StringVar(&reason, "reason", "", "why (kept with the transfer)")
	transfer.Flags().StringVar(&key, "key", "", "idempotency key: the same key again is the same transfer")

	var ramount, rreason, rkey string
	refund := &cobra.Command{
		Use:   "refund LEASE [--amount X] [--reason TEXT] [--key KEY]",
		Short: "Refund part of the deposit now, before the settlement",
		Long: `Pay out all (without --amount) or part of the lease's refundable amount now:
refund rows split among the payees as the settlement's, marked paid the same
way (deposits books refund-paid), and an email to the tenants. The settlement
later counts it as a previous refund. The same --key again changes nothing.`,
		Example: `  deposits refund L-100 --amount 100.00 --reason "Early return of the pet deposit" --key PR-1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.partialRefund(cmd.Context(), args[0], ramount, rreason, rkey)
		},
	}
	refund.Flags().StringVar(&ramount, "amount", "", "amount (default: all of the refundable amount)")
	refund.Flags().StringVar(&rreason, "reason", "", "why (the tenant reads it)")
	refund.Flags().StringVar(&rkey, "key", "", "idempotency key: the same key again is the same refund")

	invoice := &cobra.Command{Use: "invoice", Short: "Invoices held open against the tenant (arrears billed outside the deposit)"}
	var iamount, iref, idesc string
	add := &cobra.Command{
		Use:     "add LEASE --amount X --ref INV-1 --description TEXT",
		Short:   "Record an open invoice: nothing is taken from the deposit until a manager applies it",
		Example: `  deposits invoice add L-100 --amount 200.00 --ref INV-1 --description "March rent"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.addOpenInvoice(cmd.Context(), args[0], iamount, iref, idesc)
		},
	}
	add.Flags().StringVar(&iamount, "amount", "", "amount of the invoice")
	add.Flags().StringVar(&iref, "ref", "", "the invoice's number, unique per lease")
	add.Flags().StringVar(&idesc, "description", "", "what it is for; the tenant reads it on the statement")
	list := &cobra.Command{
		Use:     "list LEASE",
		Short:   "List the lease's open invoices and what the deposit paid of them",
		Example: `  deposits invoice list L-100 -o json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.listOpenInvoices(cmd.Context(), args[0])
		},
	}
	invoice.AddCommand(add, list)

	var aref, aamount, akey string
	apply := &cobra.Command{
		Use:   "apply-invoice LEASE --invoice INV-1 [--amount X] [--key KEY]",
		Short: "Pay an open invoice from the deposit, before anything is refunded",
		Long: `Apply the lease's refundable amount to an open invoice (seed 002's "Search for
existing invoice"): an arrears charge (code INVOICE) naming the invoice, which
the settlement takes from the deposit before anything is paid out, and which
the statement shows. Without --amount, what is open of the invoice, up to the
refundable amount. After the move-out it waits for a books_admin above the
property's approval threshold, as any charge a person adds.`,
		Example: `  deposits apply-invoice L-100 --invoice INV-1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.applyInvoice(cmd.Context(), args[0], aref, aamount, akey)
		},
	}
	apply.Flags().StringVar(&aref, "invoice", "", "the open invoice's reference")
	apply.Flags().StringVar(&aamount, "amount", "", "amount (default: what is open, up to the refundable amount)")
	apply.Flags().StringVar(&akey, "key", "", "idempotency key: the same key again applies it once")
	return []*cobra.Command{transfer, refund, invoice, apply}
}

func (a *app) transfer(ctx context.Context, leaseID, to, amount, reason, key string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	if strings.TrimSpace(to) == "" {
		return refused("--to is required: the lease the money goes to")
	}
	cents, currency, err := optionalAmount(amount)
	if err != nil {
		return err
	}
	var out struct {
		Status     string `json:"status"`
		TransferID int64  `json:"transfer_id"`
		PaymentID  int64  `json:"payment_id"`
		Cents      int64  `json:"amount_in_cents"`
		Key        string `json:"key"`
	}
	status, err := a.post(ctx, depositclient.LeasePath(leaseID, "transfers"),
		api.Transfer{ToLeaseID: to, AmountInCents: cents, Currency: currency, Reason: reason}, moveKey(key, "transfer", leaseID, to, cents), &out)
	if err != nil {
		return err
	}
	s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return hasEarlier(s, deposit.EarlierTransfer, out.TransferID) })
	if a.json() {
		return a.printWritten(out, s, ok)
	}
	if status == http.StatusOK {
		a.printf("Transfer %d of %s from lease %s to lease %s was made before under key %s; nothing changed.\n", out.TransferID, cur(s.Currency, out.Cents), leaseID, to, out.Key)
	} else {
		a.printf("Transferred %s from lease %s to lease %s (transfer %d, key %s).\n", cur(s.Currency, out.Cents), leaseID, to, out.TransferID, out.Key)
	}
	switch {
	case !a.recorded(status, leaseID):
	case ok:
		a.printf("Lease %s: previous refunds/transfers %s, refundable now %s.\n", leaseID, cur(s.Currency, s.EarlierRefundsCents), cur(s.Currency, s.Terms().Refundable()))
	default:
		a.notYetApplied(leaseID)
	}
	return nil
}

func hasEarlier(s deposit.State, kind string, id int64) bool {
	for _, e := range s.EarlierRefunds {
		if e.Kind == kind && e.ID == id {
			return true
		}
	}
	return false
}

func (a *app) partialRefund(ctx context.Context, leaseID, amount, reason, key string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	cents, currency, err := optionalAmount(amount)
	if err != nil {
		return err
	}
	var out struct {
		Status          string           `json:"status"`
		PartialRefundID int64            `json:"partial_refund_id"`
		Cents           int64            `json:"amount_in_cents"`
		Key             string           `json:"key"`
		Payouts         []deposit.Payout `json:"payouts"`
	}
	status, err := a.post(ctx, depositclient.LeasePath(leaseID, "refunds"), api.PartialRefund{AmountInCents: cents, Currency: currency, Reason: reason}, moveKey(key, "refund", leaseID, cents), &out)
	if err != nil {
		return err
	}
	s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return hasEarlier(s, deposit.EarlierPartialRefund, out.PartialRefundID) })
	if a.json() {
		return a.printWritten(out, s, ok)
	}
	if status == http.StatusOK {
		a.printf("Partial refund %d of %s of lease %s was made before under key %s; nothing changed.\n", out.PartialRefundID, cur(s.Currency, out.Cents), leaseID, out.Key)
	} else {
		a.printf("Refunded %s of lease %s's deposit now (partial refund %d, key %s).\n", cur(s.Currency, out.Cents), leaseID, out.PartialRefundID, out.Key)
	}
	for _, p := range out.Payouts {
		a.printf("  refund %d: %s to %s <%s>\n", p.RefundID, cur(s.Currency, p.AmountCents), p.Name, p.Email)
	}
	switch {
	case !a.recorded(status, leaseID):
	case ok:
		a.printf("Previous refunds/transfers %s, refundable now %s.\n", cur(s.Currency, s.EarlierRefundsCents), cur(s.Currency, s.Terms().Refundable()))
	default:
		a.notYetApplied(leaseID)
	}
	return nil
}

func (a *app) addOpenInvoice(ctx context.Context, leaseID, amount, ref, description string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	cents, currency, err := parseAmount("amount", amount)
	if err != nil {
		return err
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	if strings.TrimSpace(ref) == "" {
		return refused("--ref is required: the invoice's number")
	}
	var out gateway.OpenInvoice
	status, err := a.post(ctx, depositclient.LeasePath(leaseID, "open-invoices"),
		api.OpenInvoiceRequest{Reference: ref, AmountInCents: cents, Currency: currency, Description: description}, "", &out)
	if err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(out)
	}
	if status == http.StatusOK {
		a.printf("Invoice %s was already open on lease %s; nothing changed.\n", ref, leaseID)
	} else {
		a.printf("Invoice %s of %s is open on lease %s: `deposits apply-invoice %s --invoice %s` pays it from the deposit.\n", ref, cur(currency, cents), leaseID, leaseID, ref)
	}
	return nil
}

func (a *app) listOpenInvoices(ctx context.Context, leaseID string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	var out []gateway.OpenInvoice
	if err := a.get(ctx, depositclient.LeasePath(leaseID, "open-invoices"), url.Values{}, &out); err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(out)
	}
	if len(out) == 0 {
		a.printf("Lease %s has no open invoices.\n", leaseID)
	}
	for _, o := range out {
		a.printf("%s  %s  paid from the deposit %s  open %s  %s\n", o.Reference, cur("", o.Cents), cur("", o.AppliedCents), cur("", o.OpenCents), o.Description)
	}
	return nil
}

func (a *app) applyInvoice(ctx context.Context, leaseID, ref, amount, key string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	if err := checkID("invoice", ref); err != nil {
		return err
	}
	cents, _, err := optionalAmount(amount)
	if err != nil {
		return err
	}
	var out struct {
		Status  string `json:"status"`
		ID      int64  `json:"id"`
		Invoice string `json:"invoice"`
		Pending bool   `json:"pending_approval"`
	}
	status, err := a.post(ctx, depositclient.LeasePath(leaseID, "open-invoices", ref, "apply"), api.ApplyInvoice{AmountInCents: cents}, moveKey(key, "apply", leaseID, ref, cents), &out)
	if err != nil {
		return err
	}
	s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return hasCharge(s, out.ID) })
	if a.json() {
		return a.printWritten(out, s, ok)
	}
	if status == http.StatusOK {
		a.printf("Invoice %s was applied before (charge %d); nothing changed.\n", ref, out.ID)
	} else {
		a.printf("Applied lease %s's deposit to invoice %s (charge %d).\n", leaseID, ref, out.ID)
	}
	if out.Pending {
		a.printf("It takes what people moved of this deposit above the property's approval threshold: it counts once a books_admin runs `deposits approve %s --item charge:%d`.\n", leaseID, out.ID)
	}
	switch {
	case !a.recorded(status, leaseID):
	case ok:
		a.printf("Arrears %s; refundable now %s.\n", cur(s.Currency, s.ArrearsCents), cur(s.Currency, s.Terms().Refundable()))
	default:
		a.notYetApplied(leaseID)
	}
	return nil
}
