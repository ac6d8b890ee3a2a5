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

// TestEveryAmountInTheLeaseCurrency: every kind, subject, text and html,
// shows its amounts in the lease's currency and no dollar sign.
func TestEveryAmountInTheLeaseCurrency(t *testing.T) {
	for _, c := range []struct{ code, symbol, amount, keep string }{
		{"GBP", "£", "£1,600.00", "--amount 100.00"},
		{"eur", "€", "€1,600.00", "--amount 100.00"},
		{"JPY", "¥", "¥160,000", "--amount 10000"}, // yen have no decimals
	} {
		for _, kind := range append(Kinds, KindStatement) {
			d := sample()
			d.Currency = c.code
			d.ForfeitedCents, d.RuleLabel, d.ClockStarted = 100, "GB-ENG", true
			if kind == KindBalanceOwed {
				d.RefundCents, d.BalanceOwedCents = 0, 5000
			}
			r, err := Render(kind, d)
			if err != nil {
				t.Fatal(err)
			}
			all := r.Subject + r.Text + r.HTML
			if strings.Contains(all, "$") || !strings.Contains(r.Text, c.symbol) || !strings.Contains(r.HTML, c.symbol) {
				t.Errorf("%s in %s: not every amount is in %s:\n%s\n%s", kind, c.code, c.symbol, r.Text, r.HTML)
			}
			if kind == KindReceipt && !strings.Contains(r.Text, c.amount) {
				t.Errorf("receipt in %s lacks %s:\n%s", c.code, c.amount, r.Text)
			}
			if kind == KindReminder && (!strings.Contains(r.Text, c.keep) || !strings.Contains(r.HTML, c.keep)) {
				t.Errorf("reminder in %s: the keep example is not %q:\n%s", c.code, c.keep, r.Text)
			}
		}
	}
	// A render binds its own currency: one in pounds leaves dollars to the next.
	if r, _ := Render(KindReceipt, sample()); !strings.Contains(r.Text, "$1,600.00") {
		t.Errorf("a lease without a currency is in dollars:\n%s", r.Text)
	}
}

func TestRenderRefusesAnUnknownCurrencyOrZone(t *testing.T) {
	d := sample()
	d.Currency = "XYZ"
	if _, err := Render(KindNotice, d); err == nil || !strings.Contains(err.Error(), `unknown currency "XYZ"`) {
		t.Errorf("currency XYZ: %v", err)
	}
	d = sample()
	d.TimeZone = "Mars/Olympus_Mons"
	if _, err := Render(KindNotice, d); err == nil || !strings.Contains(err.Error(), "unknown time zone") {
		t.Errorf("zone Mars/Olympus_Mons: %v", err)
	}
}

// TestDatesOnThePropertysCalendar: 00:00 in Los Angeles is 08:00 UTC the
// same day; 00:00 in Tokyo is 15:00 UTC the day before, and shows as the
// Tokyo date.
func TestDatesOnThePropertysCalendar(t *testing.T) {
	d := sample()
	d.TimeZone = "Asia/Tokyo"
	d.ReleaseAt = time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC) // 00:00 on 4 December in Tokyo
	r, err := Render(KindNotice, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "Friday, 4 December 2026") || strings.Contains(r.Text, "3 December") {
		t.Errorf("the release date is not on the Tokyo calendar:\n%s", r.Text)
	}
}
