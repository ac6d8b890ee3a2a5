package cli

import (
	"context"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/depositclient"
	"github.com/depositflow/depositflow/internal/api"
	"github.com/depositflow/depositflow/internal/deposit"
)

// Facts from outside (payments, charges, the move-out) are recorded by the
// server in the database and then told to the lease's workflow, which reads
// each fact from the database and applies it once. Entering the same fact
// again (the same payment reference, the same charge reference, or without
// one the same content) changes nothing and tells the workflow again, so a
// command that failed half-way is finished by running it again.

func (a *app) paymentCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "payment", Short: "Payments toward a deposit"}
	var amount, ref, date, card string
	record := &cobra.Command{
		Use:   "record LEASE --amount 750.00 [--ref REF] [--date YYYY-MM-DD] [--card-payment-intent pi_...]",
		Short: "Record a payment toward the deposit; partial payments add up",
		Long: `Record a payment toward the lease's deposit. Partial payments add up; once the
deposit is paid in full it is held and the tenant gets a receipt. A payment
beyond the deposit is kept as a credit and refunded with it. The reference is
unique per lease: recording the same payment again changes nothing. Without
--ref the reference is made from the amount and the date, so the same
command run twice is one payment (give --ref for a second payment of the
same amount on the same day).`,
		Example: `  deposits payment record L-100 --amount 750.00 --ref CHK-1042 --date 2026-11-02`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.recordPayment(cmd.Context(), args[0], amount, ref, date, card)
		},
	}
	record.Flags().StringVar(&amount, "amount", "", "amount paid")
	record.Flags().StringVar(&ref, "ref", "", "payment reference (cheque or bank reference); made from the amount and date when empty")
	record.Flags().StringVar(&date, "date", "", "transaction date, YYYY-MM-DD (default today)")
	record.Flags().StringVar(&card, "card-payment-intent", "", "paid by card through Stripe: its PaymentIntent (pi_...); the refund goes back to the card")
	cmd.AddCommand(record, a.paymentReturnCommand())
	return cmd
}

func (a *app) recordPayment(ctx context.Context, leaseID, amount, ref, date, card string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	cents, currency, err := parseAmount("amount", amount)
	if err != nil {
		return err
	}
	if err := checkDay("date", date, time.Now()); err != nil {
		return err
	}
	if len(date) > len(time.DateOnly) {
		return refused("--date %q: a payment's date is a day, YYYY-MM-DD", date)
	}
	if err := checkLeaseAndRef(leaseID, ref); err != nil {
		return err
	}
	var out struct {
		Status    string `json:"status"`
		ID        int64  `json:"id"`
		PaymentID string `json:"payment_id"`
	}
	status, err := a.post(ctx, depositclient.LeasePath(leaseID, "payments"), api.Payment{PaymentID: ref, TransactionDate: date, AmountInCents: cents, Currency: currency, CardPaymentIntent: card}, "", &out)
	if err != nil {
		return err
	}
	s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return hasPayment(s, out.ID) })
	if a.json() {
		return a.printWritten(out, s, ok)
	}
	if status == http.StatusOK {
		a.printf("Payment %s of %s was already recorded for lease %s (payment %d); nothing changed.\n", out.PaymentID, cur(s.Currency, cents), leaseID, out.ID)
	} else {
		a.printf("Recorded payment %s of %s for lease %s.\n", out.PaymentID, cur(s.Currency, cents), leaseID)
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

func hasPayment(s deposit.State, id int64) bool {
	for _, p := range s.Payments {
		if p.PaymentID == id {
			return true
		}
	}
	return false
}

func (a *app) moveOutCommand() *cobra.Command {
	var date string
	cmd := &cobra.Command{
		Use:   "moveout LEASE [--date YYYY-MM-DD]",
		Short: "Record the tenant's move-out: starts the assessment window and the release clock",
		Long: `Record that the tenant moved out of this lease (only this one: a tenant's other
leases are not touched). Without --date the move-out is now; a date is 00:00 of
that day in the property's time zone, and an exact RFC 3339 time may be given
instead. The assessment window and the release date count from it.`,
		Example: `  deposits moveout L-100
  deposits moveout L-100 --date 2026-11-30`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.recordMoveOut(cmd.Context(), args[0], date)
		},
	}
	cmd.Flags().StringVar(&date, "date", "", "move-out date, YYYY-MM-DD in the property's time zone (default: now)")
	return cmd
}

func (a *app) recordMoveOut(ctx context.Context, leaseID, date string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	if err := checkDay("date", date, time.Now()); err != nil {
		return err
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	var out struct {
		Status string    `json:"status"`
		At     time.Time `json:"realized_move_out_at"`
	}
	status, err := a.post(ctx, depositclient.LeasePath(leaseID, "move-out"), api.MoveOut{RealizedMoveOutDate: date}, "", &out)
	if err != nil {
		return err
	}
	if a.json() {
		s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return !s.MovedOutAt.IsZero() && !s.ReleaseAt.IsZero() })
		return a.printWritten(out, s, ok)
	}
	if status == http.StatusOK {
		a.printf("The move-out of lease %s was already recorded (%s); nothing changed.\n", leaseID, out.At.Format(time.RFC3339))
	} else {
		a.printf("Recorded move-out of lease %s at %s.\n", leaseID, out.At.Format(time.RFC3339))
	}
	if !a.recorded(status, leaseID) {
		return nil
	}
	if s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return !s.MovedOutAt.IsZero() && !s.ReleaseAt.IsZero() }); ok {
		a.printf("Final charges until %s; release on %s.\n", s.AssessUntil.Format(time.RFC3339), s.ReleaseAt.Format(time.RFC3339))
	} else {
		a.notYetApplied(leaseID)
	}
	return nil
}

func (a *app) chargeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "charge", Short: "Charges on the resident ledger"}
	var code, amount, description, ref string
	add := &cobra.Command{
		Use:   "add LEASE --code CODE --amount 120.00 --description TEXT [--ref REF]",
		Short: "Add a charge (arrears or a move-out deduction) to the lease's ledger",
		Long: `Add a charge to the lease's ledger: arrears (rent, utilities, fees) or a
move-out deduction (cleaning, damage), or a credit to the tenant. The
description is what the tenant reads. The reference makes the charge
idempotent: entering the same charge again changes nothing. Without --ref it
is made from the code, amount and description (give --ref for a second,
identical charge). After the move-out, a deduction or credit that takes what
people moved of the deposit above the property's approval threshold waits
for a books_admin.`,
		Example: `  deposits charge add L-100 --code CLEANING --amount 120.00 --description "Carpet cleaning" --ref INV-77`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.addCharge(cmd.Context(), args[0], code, amount, description, ref)
		},
	}
	add.Flags().StringVar(&code, "code", "", "charge code (see `deposits charge codes`)")
	add.Flags().StringVar(&amount, "amount", "", "amount")
	add.Flags().StringVar(&description, "description", "", "what the charge is for; the tenant reads it")
	add.Flags().StringVar(&ref, "ref", "", "your reference for the charge (e.g. the invoice number): entering it again changes nothing")
	codes := &cobra.Command{
		Use:     "codes",
		Short:   "List the charge codes and how each counts",
		Example: `  deposits charge codes -o json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listChargeCodes(cmd.Context())
		},
	}
	cmd.AddCommand(add, codes)
	return cmd
}

func (a *app) addCharge(ctx context.Context, leaseID, code, amount, description, ref string) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	cents, currency, err := parseAmount("amount", amount)
	if err != nil {
		return err
	}
	if err := checkLeaseAndRef(leaseID, ref); err != nil {
		return err
	}
	var out struct {
		Status   string `json:"status"`
		ID       int64  `json:"id"`
		ChargeID string `json:"charge_id"`
		Category string `json:"category"`
		Pending  bool   `json:"pending_approval"`
	}
	status, err := a.post(ctx, depositclient.LeasePath(leaseID, "charges"),
		api.Charge{ChargeID: ref, ChargeCodeID: code, AmountInCents: cents, Currency: currency, Description: description}, "", &out)
	if err != nil {
		return err
	}
	s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return hasCharge(s, out.ID) })
	if a.json() {
		return a.printWritten(out, s, ok)
	}
	if status == http.StatusOK {
		a.printf("Charge %s was already on lease %s (charge %d); nothing changed.\n", out.ChargeID, leaseID, out.ID)
	} else {
		a.printf("Added %s charge %d of %s to lease %s (%s).\n", upper(code), out.ID, cur(s.Currency, cents), leaseID, out.Category)
	}
	if out.Pending {
		a.printf("It takes what people moved of this deposit since the move-out above the property's approval threshold: it counts once a books_admin runs `deposits approve %s --item charge:%d`.\n", leaseID, out.ID)
	}
	switch {
	case !a.recorded(status, leaseID):
	case ok:
		a.printf("Arrears %s, deductions %s; stage %s.\n", cur(s.Currency, s.ArrearsCents), cur(s.Currency, s.DeductionsCents), s.Stage)
	default:
		a.notYetApplied(leaseID)
	}
	return nil
}

// hasCharge says whether the state shows the charge, applied or pending.
func hasCharge(s deposit.State, id int64) bool {
	for _, c := range s.Charges {
		if c.ChargeID == id {
			return true
		}
	}
	for _, p := range s.Pending {
		if p.Item == "charge:"+itoa(id) {
			return true
		}
	}
	return false
}

func (a *app) listChargeCodes(ctx context.Context) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	var out struct {
		Codes []deposit.ChargeCode `json:"charge_codes"`
	}
	if err := a.get(ctx, "/v1/charge-codes", nil, &out); err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(out.Codes)
	}
	t := newTable(a.out, "CODE", "COUNTS AS", "DESCRIPTION")
	for _, c := range out.Codes {
		t.row(c.ChargeCodeID, c.Category, c.Description)
	}
	return t.flush()
}
