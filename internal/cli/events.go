package cli

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/ingest"
	"github.com/depositflow/depositflow/internal/money"
)

// Facts from outside (payments, charges, the move-out) are committed to the
// database first and then signalled to the lease's workflow, which applies
// each fact once by its database ID. Entering the same fact again (the same
// payment reference, the same charge --ref) changes nothing in the database
// and signals the workflow again, so a command that failed half-way (the
// database committed, Temporal was away) is finished by running it again.

func (a *app) paymentCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "payment", Short: "Payments toward a deposit"}
	var amount, ref, date string
	record := &cobra.Command{
		Use:   "record LEASE --amount 750.00 [--ref REF] [--date YYYY-MM-DD]",
		Short: "Record a payment toward the deposit; partial payments add up",
		Long: `Record a payment toward the lease's deposit. Partial payments add up; once the
deposit is paid in full it is held and the tenant gets a receipt. A payment
beyond the deposit is kept as a credit and refunded with it. The reference is
unique per lease, so recording the same payment twice is refused.`,
		Example: `  deposits payment record L-100 --amount 750.00 --ref CHK-1042 --date 2026-11-02`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.recordPayment(ctx, args[0], amount, ref, date)
			a.audit(ctx, args[0], "payment.record", map[string]string{"amount": amount, "ref": ref, "date": date}, err)
			return err
		},
	}
	record.Flags().StringVar(&amount, "amount", "", "amount paid, in dollars")
	record.Flags().StringVar(&ref, "ref", "", "payment reference (cheque or bank reference); generated when empty")
	record.Flags().StringVar(&date, "date", "", "transaction date, YYYY-MM-DD (default today)")
	cmd.AddCommand(record, a.paymentReturnCommand())
	return cmd
}

func (a *app) recordPayment(ctx context.Context, leaseID, amount, ref, date string) error {
	cents, err := parseAmount("amount", amount)
	if err != nil {
		return err
	}
	day, _, err := parseDay("date", date, time.Now())
	if err != nil {
		return err
	}
	if ref == "" {
		ref = "cli-" + time.Now().UTC().Format("20060102T150405.000000")
	}
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	out, err := a.ingest().RecordPayment(ctx, ingest.PaymentIn{LeaseID: leaseID, Cents: cents, Date: day, Reference: ref, Actor: a.actor})
	if err != nil {
		return cliErr(err)
	}
	p := out.Payment
	if out.Again {
		a.printf("Payment %s of %s was already recorded for lease %s (payment %d); nothing changed.\n", ref, money.Format(cents), leaseID, p.PaymentID)
	} else {
		a.printf("Recorded payment %s of %s for lease %s.\n", ref, money.Format(cents), leaseID)
	}
	if s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return hasPayment(s, p.PaymentID) }); ok {
		a.printf("Paid %s of %s; stage %s.\n", money.Format(s.PaidCents), money.Format(s.ExpectedCents), s.Stage)
	} else {
		a.notYetApplied(leaseID)
	}
	return nil
}

// signal tells the lease's workflow a fact already committed to the
// database, waiting out a Temporal hiccup.
func (a *app) signal(ctx context.Context, leaseID, name string, arg any) error {
	return cliErr(a.ingest().Signal(ctx, leaseID, name, arg))
}

// ingest records facts the way every entry point does: database first, then the signal.
func (a *app) ingest() *ingest.Service {
	return &ingest.Service{DB: a.db, Temporal: a.temporal}
}

// cliErr gives an ingest refusal its exit code: 1 for what the user asked, 2
// for what could not be reached (or not yet told to the workflow).
func cliErr(err error) error {
	var ie *ingest.Error
	if !errors.As(err, &ie) {
		return err
	}
	code := ExitRefused
	if ie.Kind == ingest.Unavailable || ie.Kind == ingest.NotSignalled {
		code = ExitUnavailable
	}
	return &exitError{code: code, err: ie}
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
		Long: `Record the date the tenant moved out (the realized move-out date). The
assessment window and the release date count from 00:00 UTC of that day; an
exact RFC 3339 time may be given instead of a date.`,
		Example: `  deposits moveout L-100 --date 2026-11-30`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.recordMoveOut(ctx, args[0], date)
			a.audit(ctx, args[0], "moveout", map[string]string{"date": date}, err)
			return err
		},
	}
	cmd.Flags().StringVar(&date, "date", "", "move-out date, YYYY-MM-DD (default today)")
	return cmd
}

func (a *app) recordMoveOut(ctx context.Context, leaseID, date string) error {
	at, _, err := parseDay("date", date, time.Now())
	if err != nil {
		return err
	}
	s, err := a.leaseState(ctx, leaseID)
	if err != nil {
		return err
	}
	if !s.MovedOutAt.IsZero() {
		return refused("lease %s already has its move-out recorded (%s, stage %s)", leaseID, s.MovedOutAt.Format(time.DateOnly), s.Stage)
	}
	if _, err := a.ingest().RecordMoveOut(ctx, ingest.MoveOutIn{LeaseID: leaseID, At: at}); err != nil {
		return cliErr(err)
	}
	a.printf("Recorded move-out of lease %s on %s.\n", leaseID, at.Format(time.DateOnly))
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
		Use:   "add LEASE --code CODE --amount 120.00 --description TEXT",
		Short: "Add a charge (arrears or a move-out deduction) to the lease's ledger",
		Long: `Add a charge to the resident ledger. Its code says how it counts: RENT,
UTILITIES and NSF_FEE are arrears; CLEANING, DAMAGE and OTHER are deductions.
Both come off the refund, and the tenant sees each one with its description.`,
		Example: `  deposits charge add L-100 --code CLEANING --amount 120.00 --description "Carpet cleaning, living room"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			err := a.addCharge(ctx, args[0], code, amount, description, ref)
			a.audit(ctx, args[0], "charge.add", map[string]string{"code": code, "amount": amount, "description": description, "ref": ref}, err)
			return err
		},
	}
	add.Flags().StringVar(&code, "code", "", "charge code (see `deposits charge codes`)")
	add.Flags().StringVar(&amount, "amount", "", "amount in dollars")
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
	cents, err := parseAmount("amount", amount)
	if err != nil {
		return err
	}
	description = strings.TrimSpace(description)
	if description == "" {
		return refused("--description is required: the tenant reads it on the statement")
	}
	if len(description) > 200 {
		return refused("--description is longer than 200 characters")
	}
	in := ingest.ChargeIn{LeaseID: leaseID, Code: code, Cents: cents, Description: description, Actor: a.actor}
	if ref != "" {
		in.Key = "cli/" + leaseID + "/" + ref
	}
	ch, err := a.ingest().AddCharge(ctx, in)
	if err != nil {
		return cliErr(err)
	}
	if ch.Again {
		a.printf("Charge %s was already on lease %s (charge %d); nothing changed.\n", ref, leaseID, ch.ChargeID)
	} else {
		a.printf("Added %s charge %d of %s to lease %s (%s).\n", ch.Code, ch.ChargeID, money.Format(cents), leaseID, ch.Category)
	}
	if s, ok := a.waitFor(ctx, leaseID, func(s deposit.State) bool { return hasCharge(s, ch.ChargeID) }); ok {
		a.printf("Arrears %s, deductions %s; stage %s.\n", money.Format(s.ArrearsCents), money.Format(s.DeductionsCents), s.Stage)
	} else {
		a.notYetApplied(leaseID)
	}
	return nil
}

func hasCharge(s deposit.State, id int64) bool {
	for _, c := range s.Charges {
		if c.ChargeID == id {
			return true
		}
	}
	return false
}

func (a *app) listChargeCodes(ctx context.Context) error {
	if err := a.checkOutput(); err != nil {
		return err
	}
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	codes, err := db.New(pool).ListChargeCodes(ctx)
	if err != nil {
		return unavailable("the database", err)
	}
	if a.json() {
		return a.printJSON(codes)
	}
	t := newTable(a.out, "CODE", "COUNTS AS", "DESCRIPTION")
	for _, c := range codes {
		t.row(c.ChargeCodeID, c.Category, c.Description)
	}
	return t.flush()
}
