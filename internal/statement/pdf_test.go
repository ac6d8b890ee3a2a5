package statement

import (
	"bytes"
	"compress/zlib"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

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
