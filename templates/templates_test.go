package templates

import (
	"strings"
	"testing"
	"time"
)

func sample() Data {
	return Data{
		LeaseID: "L-100", PropertyID: "maple", UnitID: "4B",
		TenantName: `Ana <b>"Lopez"</b>`, TenantEmail: "ana@example.com",
		RecipientName: `Ana <b>"Lopez"</b>`,
		ExpectedCents: 150000, PaidCents: 160000, ReceivedCents: 160000,
		Payments:     []Line{{"Payment ref-1 on 2026-11-01", 100000}, {"Payment ref-2 on 2026-11-03", 60000}},
		Arrears:      []Line{{"Unpaid rent November", 20000}},
		Deductions:   []Line{{"Carpet cleaning <script>", 12000}},
		ArrearsCents: 20000, DeductionsCents: 12000, RefundCents: 128000,
		MovedOutAt: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
		ReleaseAt:  time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC),
	}
}

func TestEveryKindRenders(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			d := sample()
			if kind == KindBalanceOwed {
				d.RefundCents, d.BalanceOwedCents = 0, 5000
			}
			r, err := Render(kind, d)
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject == "" || strings.Contains(r.Subject, "\n") {
				t.Errorf("subject %q", r.Subject)
			}
			if !strings.Contains(r.Text, "L-100") || !strings.Contains(r.HTML, "L-100") {
				t.Errorf("lease id missing from %s", kind)
			}
			if strings.Contains(r.HTML, "<script>") || strings.Contains(r.HTML, "<b>") {
				t.Errorf("tenant-supplied text not escaped in %s html", kind)
			}
			if strings.Contains(r.Text, "&lt;") || strings.Contains(r.Text, "&#34;") {
				t.Errorf("text part is HTML-escaped in %s", kind)
			}
			if strings.Contains(r.Text, "<no value>") || strings.Contains(r.HTML, "<no value>") {
				t.Errorf("missing value in %s", kind)
			}
		})
	}
}

func TestNoticeItemizesEveryDeduction(t *testing.T) {
	r, err := Render(KindNotice, sample())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Carpet cleaning <script>", "-$120.00", "Unpaid rent November", "-$200.00", "$1,600.00", "$1,280.00", "Friday, 4 December 2026", "Friday, 20 November 2026"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("notice text lacks %q:\n%s", want, r.Text)
		}
	}
	if !strings.Contains(r.HTML, "Carpet cleaning &lt;script&gt;") {
		t.Errorf("notice html lacks the escaped deduction")
	}
}
