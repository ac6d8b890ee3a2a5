package statement

import (
	"bytes"
	"compress/zlib"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/depositflow/depositflow/internal/rules"
	"github.com/depositflow/depositflow/templates"
)

// text pulls the text drawn on the PDF's pages out of its compressed streams.
func text(t *testing.T, pdf []byte) string {
	var b strings.Builder
	for _, m := range regexp.MustCompile(`(?s)stream\r?\n(.*?)\r?\nendstream`).FindAllSubmatch(pdf, -1) {
		r, err := zlib.NewReader(bytes.NewReader(m[1]))
		if err != nil {
			continue
		}
		raw, _ := io.ReadAll(r)
		for _, s := range regexp.MustCompile(`\((.*?)\) ?Tj`).FindAllSubmatch(raw, -1) {
			b.Write(s[1])
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestPDFListsEveryItemAndTheDeadline(t *testing.T) {
	due := time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)
	d := templates.Data{
		LeaseID: "L-9", PropertyID: "maple", UnitID: "4B", TenantName: "Ana Lima", TenantEmail: "ana@example.com",
		ReceivedCents: 150000, InterestCents: 219,
		Deductions:  []templates.Line{{Description: "Carpet cleaning", Cents: 12000}},
		Arrears:     []templates.Line{{Description: "November rent", Cents: 20000}},
		RefundCents: 118219, MovedOutAt: due.AddDate(0, 0, -21), SettledAt: due.AddDate(0, 0, -2),
		RuleLabel: "US-CA (Cal. Civ. Code 1950.5)", ClockStarted: true, StatementDue: due, RefundDue: due,
		InterestWhy: "simple interest from 2026-11-02 to 2026-12-13",
	}
	var out bytes.Buffer
	if err := PDF(&out, d, due); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out.Bytes(), []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", out.Bytes()[:20])
	}
	// Lines wrap where the page ends; PDF strings escape parentheses.
	got := strings.NewReplacer("\n", " ", `\(`, "(", `\)`, ")").Replace(text(t, out.Bytes()))
	for _, want := range []string{"Deduction: Carpet cleaning", "-$120.00", "Arrears: November rent", "-$200.00", "Interest", "$2.19",
		"Refund to the tenant", "$1,182.19", "US-CA (Cal. Civ. Code 1950.5) the itemized statement and the refund are due by Tuesday, 15 December 2026", "the statutory deadline was met"} {
		if !strings.Contains(got, want) {
			t.Errorf("the PDF does not show %q; it shows:\n%s", want, got)
		}
	}
}

// TestPDFInPounds: a lease in England shows pounds, in the core fonts' code
// page (cp1252, where £ is the byte 0xA3), and no dollar sign; dates are on
// the London calendar.
func TestPDFInPounds(t *testing.T) {
	london, err := rules.LoadZone("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 7, 10, 0, 0, 0, 0, london) // 23:00 UTC on the 9th
	d := templates.Data{
		Currency: "GBP", TimeZone: "Europe/London",
		LeaseID: "L-200", PropertyID: "holloway", UnitID: "Flat 3", TenantName: "Olivia Hughes", TenantEmail: "olivia@example.co.uk",
		ReceivedCents: 180000, GuaranteeCents: 50000,
		Deductions:  []templates.Line{{Description: "End-of-tenancy clean", Cents: 15000}},
		RefundCents: 165000, MovedOutAt: due.AddDate(0, 0, -10), SettledAt: due.AddDate(0, 0, -1),
		RuleLabel: "GB-ENG (Housing Act 2004 ss.213-214)", ClockStarted: true, StatementDue: due, RefundDue: due,
		ForfeitedCents: 2500, ForfeitedList: "key cutting £25.00",
	}
	var out bytes.Buffer
	if err := PDF(&out, d, due); err != nil {
		t.Fatal(err)
	}
	raw := text(t, out.Bytes())
	if raw == "" {
		t.Fatal("no text found in the PDF's content streams")
	}
	got := strings.NewReplacer("\n", " ", `\(`, "(", `\)`, ")").Replace(raw)
	for _, want := range []string{"\xa31,800.00", "-\xa3150.00", "\xa31,650.00", "guarantee of \xa3500.00", "Not withheld: \xa325.00",
		"Amounts in pounds sterling (GBP)", "due by Friday, 10 July 2026", "Moved out on Tuesday, 30 June 2026"} {
		if !strings.Contains(got, want) {
			t.Errorf("the PDF does not show %q; it shows:\n%s", want, got)
		}
	}
	if strings.Contains(got, "$") {
		t.Errorf("a statement in pounds shows a dollar sign:\n%s", got)
	}
	if strings.Contains(got, "£") { // UTF-8 (0xC2 0xA3): the core fonts would show "Â£"
		t.Errorf("the pound sign is in UTF-8, not cp1252:\n%q", got)
	}
}

// TestPDFOtherCurrencies: the euro is in cp1252 (0x80); a symbol that is
// not (₹) gives way to the code rather than printing as a dot.
func TestPDFOtherCurrencies(t *testing.T) {
	for code, want := range map[string]string{"EUR": "\x801,500.00", "INR": "INR\xa01,500.00", "JPY": "\xa5150,000", "CHF": "CHF\xa01,500.00"} {
		var out bytes.Buffer
		if err := PDF(&out, templates.Data{Currency: code, LeaseID: "L-1", ReceivedCents: 150000, RefundCents: 150000}, time.Now()); err != nil {
			t.Fatal(err)
		}
		got := text(t, out.Bytes())
		if !strings.Contains(got, want) || strings.Contains(got, "$") {
			t.Errorf("%s: want %q and no dollar sign in:\n%q", code, want, got)
		}
	}
	if err := PDF(io.Discard, templates.Data{Currency: "XYZ"}, time.Now()); err == nil || !strings.Contains(err.Error(), "unknown currency") {
		t.Errorf("currency XYZ: %v", err)
	}
}
