// Package statement renders a lease's itemized deposit statement as a PDF
// document, from the same figures as the emails (templates.Data), so the
// tenant can keep or print it and a court can read it.
package statement

import (
	"fmt"
	"io"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
	"github.com/depositflow/depositflow/templates"
)

// PDF writes the statement of d to w, with amounts in d.Currency and dates
// on the calendar of d.TimeZone, as the emails show them.
func PDF(w io.Writer, d templates.Data, generated time.Time) error {
	if d.Organization == "" {
		d.Organization = "depositflow"
	}
	pdf := fpdf.New("P", "mm", "Letter", "")
	pdf.SetTitle("Itemized statement of the security deposit of lease "+d.LeaseID, true)
	pdf.SetAuthor(d.Organization, true)
	pdf.SetCreationDate(generated)
	pdf.SetModificationDate(generated)
	if err := statementPages(pdf, d, generated); err != nil {
		return err
	}
	return pdf.Output(w)
}

// statementPages adds the statement to a document.
func statementPages(pdf *fpdf.Fpdf, d templates.Data, generated time.Time) error {
	if d.Organization == "" {
		d.Organization = "depositflow"
	}
	currency := money.USD
	if d.Currency != "" {
		var err error
		if currency, err = money.CheckCurrency(d.Currency); err != nil {
			return fmt.Errorf("statement of lease %s: %w", d.LeaseID, err)
		}
	}
	zone, err := rules.LoadZone(d.TimeZone)
	if err != nil {
		return fmt.Errorf("statement of lease %s: %w", d.LeaseID, err)
	}
	day := func(t time.Time) string { return t.In(zone).Format("Monday, 2 January 2006") }
	// The core fonts are Latin-1 (cp1252): translate names, descriptions
	// and amounts ("£" and "€" are in it).
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	amount := amountWriter(currency, tr)
	pdf.SetMargins(20, 20, 20)
	pdf.AddPage()

	pdf.SetDrawColor(229, 231, 235)
	pdf.SetFillColor(30, 58, 95)
	pdf.SetTextColor(255, 255, 255)
	pdf.SetFont("Helvetica", "B", 11)
	pdf.CellFormat(0, 10, tr(fmt.Sprintf(" %s  -  Security deposit  -  Lease %s", d.Organization, d.LeaseID)), "", 1, "L", true, 0, "")
	pdf.SetTextColor(17, 24, 39)
	pdf.Ln(4)
	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(0, 9, "Itemized statement of the security deposit", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	para := func(s string) { pdf.MultiCell(0, 5, tr(s), "", "L", false) }
	para(fmt.Sprintf("Lease %s, property %s, unit %s. Tenant: %s <%s>.", d.LeaseID, d.PropertyID, d.UnitID, d.TenantName, d.TenantEmail))
	if !d.MovedOutAt.IsZero() {
		para("Moved out on " + day(d.MovedOutAt) + ".")
	}
	switch {
	case !d.SettledAt.IsZero():
		para("Settled on " + day(d.SettledAt) + ".")
	case !d.ReleaseAt.IsZero():
		para("To be released on " + day(d.ReleaseAt) + " if nothing changes.")
	}
	pdf.Ln(3)

	row := func(desc string, cents int64, bold bool) {
		style := ""
		if bold {
			style = "B"
		}
		pdf.SetFont("Helvetica", style, 10)
		pdf.CellFormat(130, 7, tr(desc), "B", 0, "L", false, 0, "")
		pdf.CellFormat(0, 7, tr(amount(cents)), "B", 1, "R", false, 0, "")
	}
	row("Deposit received", d.ReceivedCents, false)
	if d.PrepaidCents != 0 {
		row("  of which prepaid", d.PrepaidCents, false)
	}
	if d.InterestCents != 0 {
		row("Interest", d.InterestCents, false)
	}
	for _, l := range d.Credits {
		row("Credit: "+l.Description, l.Cents, false)
	}
	for _, l := range d.Arrears {
		row("Arrears: "+l.Description, -l.Cents, false)
	}
	for _, l := range d.Deductions {
		row("Deduction: "+l.Description, -l.Cents, false)
	}
	for _, l := range d.Kept {
		row("Kept: "+l.Description, -l.Cents, false)
	}
	if len(d.EarlierRefunds) > 0 {
		for _, l := range d.EarlierRefunds {
			row(l.Description, -l.Cents, false)
		}
	} else if d.EarlierRefundsCents != 0 {
		row("Refunded earlier", -d.EarlierRefundsCents, false)
	}
	if len(d.Arrears)+len(d.Deductions)+len(d.Kept) == 0 {
		pdf.SetFont("Helvetica", "I", 10)
		pdf.CellFormat(0, 7, "No deductions", "B", 1, "L", false, 0, "")
	}
	if d.BalanceOwedCents > 0 {
		row("Balance owed by the tenant", d.BalanceOwedCents, true)
	} else {
		row("Refund to the tenant", d.RefundCents, true)
		for _, p := range d.Payouts {
			row("  paid to "+p.Description, p.Cents, false)
		}
	}
	pdf.Ln(4)
	pdf.SetFont("Helvetica", "", 10)
	if len(d.Evidence) > 0 {
		pdf.SetFont("Helvetica", "B", 10)
		para("Evidence")
		pdf.SetFont("Helvetica", "", 10)
		for _, e := range d.Evidence {
			para("  " + e.Item + ": " + strings.Join(e.Files, ", "))
		}
		pdf.Ln(2)
	}
	if len(d.Disputes) > 0 {
		pdf.SetFont("Helvetica", "B", 10)
		para("Disputed by the tenant")
		pdf.SetFont("Helvetica", "", 10)
		for _, it := range d.Disputes {
			line := fmt.Sprintf("  %s, %s: %s", it.Description, amount(it.Cents), it.Status)
			if it.OfferCents > 0 {
				line += ", offer of " + amount(it.OfferCents) + " back"
			}
			para(line)
		}
		if d.DisputedCents > 0 {
			para(fmt.Sprintf("  %s is held until each is resolved.", amount(d.DisputedCents)))
		}
		pdf.Ln(2)
	}
	if d.GuaranteeCents != 0 {
		para(fmt.Sprintf("The guarantee of %s is not cash: it is released to the guarantor and never refunded in cash.", amount(d.GuaranteeCents)))
	}
	for _, line := range law(d, amount, day) {
		para(line)
	}
	pdf.Ln(6)
	pdf.SetFont("Helvetica", "", 8)
	pdf.SetTextColor(107, 114, 128)
	para(fmt.Sprintf("%s, security deposits. Generated %s. Amounts in %s.", d.Organization, generated.UTC().Format("2 January 2006 15:04 UTC"), currencyName(currency)))
	return nil
}

// law is the deadline paragraph, as the emails word it.
func law(d templates.Data, amount func(int64) string, day func(time.Time) string) []string {
	if d.RuleLabel == "" {
		return nil
	}
	var out []string
	switch {
	case d.ClockStarted && d.StatementDue.Equal(d.RefundDue):
		out = append(out, fmt.Sprintf("Under %s the itemized statement and the refund are due by %s.", d.RuleLabel, day(d.RefundDue)))
	case d.ClockStarted:
		out = append(out, fmt.Sprintf("Under %s the itemized statement is due by %s and the refund by %s.", d.RuleLabel, day(d.StatementDue), day(d.RefundDue)))
	default:
		out = append(out, d.ClockWhy+".")
	}
	if !d.ObjectionEnds.IsZero() {
		out = append(out, "The tenant may object to the deductions until "+day(d.ObjectionEnds)+".")
	}
	if d.ClockStarted && !d.SettledAt.IsZero() && d.DeadlineMissed == "" {
		out = append(out, "Settled on "+day(d.SettledAt)+": the statutory deadline was met.")
	}
	if d.DeadlineMissed != "" {
		out = append(out, "Deadline missed: "+d.DeadlineMissed+".")
	}
	if d.ForfeitedCents != 0 {
		out = append(out, fmt.Sprintf("Not withheld: %s of charges (%s).", amount(d.ForfeitedCents), d.ForfeitedList))
	}
	if d.InterestWhy != "" {
		out = append(out, "Interest: "+strings.TrimSuffix(d.InterestWhy, ".")+".")
	}
	return out
}

// amountWriter writes minor units in the currency as the emails do, where
// the PDF's code page has the symbol ("£1,500.00", "€1,500.00"), and with
// the code instead where it has not ("INR 1,500.00" rather than "₹", which
// would print as a dot).
func amountWriter(currency string, tr func(string) string) func(int64) string {
	symbol := money.Symbol(currency)
	encodable := true
	for _, r := range symbol {
		encodable = encodable && (r < 0x80 || tr(string(r)) != ".")
	}
	return func(minor int64) string {
		written := money.FormatIn(currency, minor)
		if !encodable {
			written = strings.Replace(written, symbol, currency+"\u00a0", 1)
		}
		return written
	}
}

// currencyName names the currency of the amounts in the footer.
func currencyName(currency string) string {
	switch currency {
	case "USD":
		return "US dollars"
	case "GBP":
		return "pounds sterling (GBP)"
	case "EUR":
		return "euros (EUR)"
	default:
		return currency
	}
}
