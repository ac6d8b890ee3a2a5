package templates

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depositflow/depositflow/internal/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenData is one lease in every situation an email can show: co-tenants,
// a returned payment, arrears, deductions, a keep, a credit and a split refund.
func goldenData(kind string) Data {
	d := Data{
		LeaseID: "L-100", PropertyID: "maple", UnitID: "4B", Organization: "Maple Homes",
		TenantName: "Ana Lopez", TenantEmail: "ana@example.com", RecipientName: "Ana Lopez",
		ExpectedCents: 150000, PaidCents: 150000, ReceivedCents: 150000,
		Payments:     []Line{{"Payment CHK-1042 on 2026-11-02", 75000}, {"Payment CHK-1043 on 2026-11-03", 75000}},
		Returned:     []Line{{"Payment ACH-9 on 2026-11-04 (returned: nsf)", 20000}},
		Arrears:      []Line{{"Returned payment fee (ACH-9, nsf)", 2500}},
		Deductions:   []Line{{"Carpet cleaning, living room", 12000}},
		Kept:         []Line{{"Burn mark on the kitchen counter", 30000}},
		Credits:      []Line{{"Goodwill for the broken lift", 1000}},
		Payouts:      []Line{{"Ana Lopez <ana@example.com>", 53250}, {"Bo Chen <bo@example.com>", 53250}},
		ArrearsCents: 2500, DeductionsCents: 12000, KeptCents: 30000, CreditsCents: 1000, RefundCents: 106500,
		MovedOutAt: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		ReleaseAt:  time.Date(2026, 12, 14, 0, 0, 0, 0, time.UTC),
	}
	switch kind {
	case KindRequest:
		d.PaidCents, d.ReceivedCents, d.Payments = 75000, 75000, d.Payments[:1]
	case KindReturned:
		d.PaidCents, d.ReceivedCents = 130000, 130000
	case KindBalanceOwed:
		d.Deductions = append(d.Deductions, Line{"Broken window", 140000})
		d.DeductionsCents += 140000
		d.RefundCents, d.BalanceOwedCents, d.Payouts = 0, 33500, nil
	case KindReminder:
		d.RecipientName, d.ForManager = "", true
	case KindFollowUp:
		d.SettledAt = d.ReleaseAt
		d.FollowUp = &FollowUp{Fact: "Unpaid utilities, December (UTILITIES) of $45.50", Cents: 4550}
	}
	// The notice, the refund, the reminder and the downloadable statement
	// show the law: the deadlines, whether they were met, the interest.
	switch kind {
	case KindNotice, KindRefund, KindReminder, KindStatement:
		d.RuleLabel, d.ClockStarted = "US-MA (M.G.L. c.186 s.15B)", true
		d.StatementDue, d.RefundDue = d.MovedOutAt.AddDate(0, 0, 30), d.MovedOutAt.AddDate(0, 0, 30)
		d.InterestCents, d.RefundCents = 219, d.RefundCents+219
		if d.Payouts != nil { // the split is of the refund with its interest
			d.Payouts = []Line{{"Ana Lopez <ana@example.com>", 53360}, {"Bo Chen <bo@example.com>", 53359}}
		}
		d.InterestWhy = "simple interest from 2026-11-02 to 2026-12-14"
		if kind == KindRefund || kind == KindStatement {
			d.SettledAt = d.ReleaseAt
		}
	}
	return d
}

// forfeitedData is a refund after a missed New York deadline: every charge
// listed as not withheld, everything refunded.
func forfeitedData() Data {
	d := goldenData(KindRefund)
	d.RuleLabel, d.InterestCents, d.InterestWhy = "US-NY (N.Y. Gen. Oblig. Law 7-103, 7-108)", 0, ""
	d.StatementDue, d.RefundDue = d.MovedOutAt.AddDate(0, 0, 14), d.MovedOutAt.AddDate(0, 0, 14)
	d.DeadlineMissed = "the itemized statement went out 20 Dec 2026 00:00 UTC, after its deadline 14 Dec 2026 00:00 UTC under US-NY: every deduction is forfeited and the deposit is refunded in full"
	d.ForfeitedCents, d.ForfeitedList = 44500, "Returned payment fee (ACH-9, nsf) $25.00, Carpet cleaning, living room $120.00, kept: Burn mark on the kitchen counter $300.00"
	d.Arrears, d.Deductions, d.Kept = nil, nil, nil
	d.ArrearsCents, d.DeductionsCents, d.KeptCents = 0, 0, 0
	d.RefundCents = 151000
	d.Payouts = []Line{{"Ana Lopez <ana@example.com>", 75500}, {"Bo Chen <bo@example.com>", 75500}}
	return d
}

// gbpData is a lease in England: amounts in pounds, dates on the London
// clock and the 10-day rule. The move-out is in summer time, when 00:00 in
// London is 23:00 UTC the day before: a date shown in UTC would be a day early.
func gbpData(kind string) Data {
	london, err := rules.LoadZone("Europe/London")
	if err != nil {
		panic(err)
	}
	day := func(month time.Month, d int) time.Time { return time.Date(2026, month, d, 0, 0, 0, 0, london) }
	d := Data{
		Currency: "GBP", TimeZone: "Europe/London",
		LeaseID: "L-200", PropertyID: "holloway", UnitID: "Flat 3", Organization: "Thames Lettings",
		TenantName: "Olivia Hughes", TenantEmail: "olivia@example.co.uk", RecipientName: "Olivia Hughes",
		ExpectedCents: 180000, PaidCents: 180000, ReceivedCents: 180000,
		Payments:        []Line{{"Bank transfer FP-2201 on 2025-07-01", 180000}},
		Deductions:      []Line{{"End-of-tenancy clean", 15000}, {"Replacement oven shelf", 4500}},
		Payouts:         []Line{{"Olivia Hughes <olivia@example.co.uk>", 80250}, {"Sam Patel <sam@example.co.uk>", 80250}},
		DeductionsCents: 19500, RefundCents: 160500,
		MovedOutAt: day(6, 30),
	}
	if kind == KindBalanceOwed {
		d.Deductions = append(d.Deductions, Line{"Replacement carpet, bedroom", 210000})
		d.DeductionsCents += 210000
		d.RefundCents, d.BalanceOwedCents, d.Payouts = 0, 49500, nil
	}
	rule, err := rules.NewBook(rules.Embedded()...).For("GB-ENG", d.MovedOutAt)
	if err != nil {
		panic(err)
	}
	clock := rule.Clock(rules.Facts{MovedOut: d.MovedOutAt, Claim: true, Zone: london})
	d.RuleLabel, d.ClockStarted = rule.Label(), clock.Started
	d.StatementDue, d.RefundDue, d.ReleaseAt = clock.StatementDue, clock.RefundDue, rules.ActBy(clock.RefundDue)
	if kind == KindRefund {
		d.SettledAt = d.ReleaseAt
	}
	return d
}

// gbpKinds are the emails golden-tested for a lease in pounds, text and html.
var gbpKinds = []string{KindNotice, KindRefund, KindBalanceOwed}

// booksDisagreeData is the operator's alert: a deduction changed in the
// database behind the workflow's back.
func booksDisagreeData() Data {
	d := goldenData(KindReminder)
	d.BooksDisagree = "the books of lease L-100 disagree with its workflow: deductions: workflow 12000, database 2000; refund: workflow 106500, database 116500; payout to Ana Lopez <ana@example.com> (resident 5): workflow 53250, database 58250"
	return d
}

// goldenCases are every email kind, the downloadable statement, a refund
// after a missed deadline, the operator's alerts when books disagree and
// when a webhook endpoint is disabled, and a lease in pounds (KIND_gbp).
func goldenCases() map[string]struct {
	kind string
	data Data
} {
	cases := map[string]struct {
		kind string
		data Data
	}{}
	for _, kind := range append(Kinds, KindStatement) {
		cases[kind] = struct {
			kind string
			data Data
		}{kind, goldenData(kind)}
	}
	cases["refund_forfeited"] = struct {
		kind string
		data Data
	}{KindRefund, forfeitedData()}
	for _, kind := range gbpKinds {
		cases[kind+"_gbp"] = struct {
			kind string
			data Data
		}{kind, gbpData(kind)}
	}
	cases[KindFollowUp] = struct {
		kind string
		data Data
	}{KindFollowUp, goldenData(KindFollowUp)}
	cases[KindBooksDisagree] = struct {
		kind string
		data Data
	}{KindBooksDisagree, booksDisagreeData()}
	cases[KindInterest] = struct {
		kind string
		data Data
	}{KindInterest, interestData()}
	cases[KindUnclaimedRefund] = struct {
		kind string
		data Data
	}{KindUnclaimedRefund, unclaimedData()}
	cases[KindWebhookDisabled] = struct {
		kind string
		data Data
	}{KindWebhookDisabled, webhookDisabledData()}
	// The tenant's side: the notice with the page's link, the evidence and
	// a dispute; each dispute email; a new link on request.
	cases["notice_tenant_page"] = struct {
		kind string
		data Data
	}{KindNotice, tenantSideData(KindNotice)}
	for _, kind := range append(slices.Clone(DisputeKinds), KindLink) {
		cases[kind] = struct {
			kind string
			data Data
		}{kind, tenantSideData(kind)}
	}
	// Money that left before the settlement (#16): the partial refund's
	// own email, and a refund whose statement lists a transfer and an
	// early refund among the previous refunds/transfers.
	pr := goldenData(KindRefund)
	pr.PartialRefund = &PartialRefund{Cents: 4000, Reason: "Key deposit returned", Payouts: []Line{}, LeftCents: 146000}
	cases[KindPartialRefund] = struct {
		kind string
		data Data
	}{KindPartialRefund, pr}
	moved := goldenData(KindRefund)
	moved.EarlierRefunds = []Line{{"Transferred to lease L-300 on 2026-11-20", 6000}, {"Refunded early on 2026-11-21", 4000}}
	moved.EarlierRefundsCents, moved.RefundCents = 10000, moved.RefundCents-10000
	moved.Payouts = []Line{{"Ana Lopez <ana@example.com>", 48360}, {"Bo Chen <bo@example.com>", 48359}}
	cases["refund_after_transfer"] = struct {
		kind string
		data Data
	}{KindRefund, moved}
	// A deposit held on the tenant's card: the receipt, the refund after
	// part of the hold was captured, the manager's alert of a failed renewal.
	for name, kind := range map[string]string{"receipt_card_hold": KindReceipt, "refund_card_hold": KindRefund, KindCardHoldFailed: KindCardHoldFailed} {
		cases[name] = struct {
			kind string
			data Data
		}{kind, cardHoldData(kind)}
	}
	cases["dispute_answer_maintained"] = struct {
		kind string
		data Data
	}{KindDisputeAnswer, tenantSideData("maintained")}
	return cases
}

// cardHoldData is a deposit of 1,500.00 held on the tenant's card: 300.00
// kept and captured at the release, 1,200.00 released.
func cardHoldData(kind string) Data {
	d := goldenData(kind)
	d.CardHold = &CardHold{AmountCents: 150000, Status: "active", RenewEvery: "7 days"}
	switch kind {
	case KindReceipt:
		d.PaidCents, d.ReceivedCents, d.Payments = 0, 0, nil
	case KindRefund:
		d.Payments = []Line{{"Card payment pi_3Hold on 2026-12-14", 30000}}
		d.PaidCents, d.ReceivedCents, d.Returned, d.Arrears, d.Deductions, d.Credits, d.Payouts = 30000, 30000, nil, nil, nil, nil, nil
		d.ArrearsCents, d.DeductionsCents, d.CreditsCents, d.RefundCents = 0, 0, 0, 0
		d.CardHold.Status, d.CardHold.CapturedCents, d.CardHold.ReleasedCents = "captured", 30000, 120000
	case KindCardHoldFailed:
		d.RecipientName, d.ForManager = "", true
		d.CardHold.Status, d.CardHold.Failure = "failed", "card provider: place refused (HTTP 402, card_declined): Your card was declined."
	}
	return d
}

// interestData is a New York tenant's second year of interest credited.
func interestData() Data {
	d := goldenData(KindInterest)
	d.Interest = &InterestCredit{Year: 2, Anniversary: time.Date(2027, 9, 1, 0, 0, 0, 0, time.UTC), Cents: 2987, TotalCents: 5961,
		HeldCents: 155961, Why: "simple interest from 2025-09-01 to 2027-09-01, less the landlord's fee of 1.00% a year"}
	return d
}

// unclaimedData is the manager's alert about a refund not paid in 90 days.
func unclaimedData() Data {
	d := goldenData(KindReminder)
	d.Unclaimed = &UnclaimedRefund{RefundID: 7, Cents: 53250, Recipient: "Ana Lopez <ana@example.com>",
		IssuedAt: time.Date(2026, 12, 14, 0, 0, 0, 0, time.UTC), Days: 91}
	return d
}

// tenantSideData is the golden lease with its page's link, evidence on the
// deduction and the keep, and the keep disputed: open, then answered.
func tenantSideData(kind string) Data {
	d := goldenData(KindNotice)
	d.PageURL = "https://deposits.example.com/t/eyJsIjoiTC0xMDAifQ.c2lnbmF0dXJl"
	d.Evidence = []Evidence{{Item: "Deduction: Carpet cleaning, living room", Files: []string{"carpet.jpg", "invoice-77.pdf"}},
		{Item: "Kept: Burn mark on the kitchen counter", Files: []string{"counter.jpg"}}}
	item := DisputeLine{ID: 12, Description: "Kept: Burn mark on the kitchen counter", Cents: 30000, Status: "open",
		TenantMessage: "The mark was there when I moved in: see the move-in report, page 3.", Files: 1}
	switch kind {
	case KindDisputeOpened, KindDisputeReminder:
		d.RecipientName, d.ForManager, d.PageURL = "", true, ""
	case KindDisputeAnswer, KindOfferReminder:
		item.Status, item.OfferCents, item.ManagerMessage = "offered", 15000, "We can share the cost: half back."
	case "maintained":
		item.Status, item.ManagerMessage = "maintained", "The move-in report shows no mark."
	case KindDisputePaid:
		item.Status, item.OfferCents, item.HeldCents, item.PaidCents = "agreed", 15000, 30000, 15000
		d.SettledAt = d.ReleaseAt
	}
	d.Dispute = &item
	if kind != KindLink {
		d.Disputes, d.DisputedCents = []DisputeLine{item}, 30000
	}
	return d
}

// webhookDisabledData is the operator's alert when a webhook endpoint's
// retries ran out.
func webhookDisabledData() Data {
	return Data{LeaseID: "L-100", PropertyID: "maple", UnitID: "4B", Organization: "Maple Homes",
		Webhook: &WebhookDown{EndpointID: 3, URL: "https://pms.example/hooks?...", EventID: "evt_0123456789abcdef0123456789abcdef",
			EventType: "refund.due", Attempts: 41, Reason: "webhook endpoint 3 (https://pms.example/hooks?...): answered 503 Service Unavailable",
			DisabledAt: time.Date(2026, 12, 17, 9, 30, 0, 0, time.UTC)}}
}

// golden compares what was rendered with testdata/golden/NAME, or rewrites
// it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./templates -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// TestGoldenText pins the plain-text part of every email: a change to a
// template shows up as a diff of what tenants read. Run with -update after a
// deliberate change and review the diff.
func TestGoldenText(t *testing.T) {
	for name, c := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			// What tenants read must add up: a split refund's parts make the refund.
			if len(c.data.Payouts) > 0 {
				var sum int64
				for _, p := range c.data.Payouts {
					sum += p.Cents
				}
				if sum != c.data.RefundCents {
					t.Fatalf("the fixture's payouts add up to %d cents, its refund is %d", sum, c.data.RefundCents)
				}
			}
			r, err := Render(c.kind, c.data)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".txt", "Subject: "+r.Subject+"\n\n"+r.Text)
		})
	}
}

// TestGoldenHTMLInPounds pins the HTML part of the emails of a lease in
// pounds.
func TestGoldenHTMLInPounds(t *testing.T) {
	for _, kind := range gbpKinds {
		t.Run(kind, func(t *testing.T) {
			r, err := Render(kind, gbpData(kind))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, kind+"_gbp.html", r.HTML)
		})
	}
}

// TestALeaseInPoundsShowsNoDollar: a tenant in England reads pounds only,
// and the deadlines on the London calendar.
func TestALeaseInPoundsShowsNoDollar(t *testing.T) {
	for _, kind := range gbpKinds {
		t.Run(kind, func(t *testing.T) {
			r, err := Render(kind, gbpData(kind))
			if err != nil {
				t.Fatal(err)
			}
			for part, text := range map[string]string{"subject": r.Subject, "text": r.Text, "html": r.HTML} {
				if strings.Contains(text, "$") {
					t.Errorf("the %s of a lease in pounds shows a dollar sign:\n%s", part, text)
				}
			}
			if !strings.Contains(r.Subject+r.Text, "£") || !strings.Contains(r.HTML, "£") {
				t.Errorf("no pound sign in %s", kind)
			}
			// The deadline is 00:00 BST on 10 July, 23:00 UTC on the 9th.
			due := "Friday, 10 July 2026"
			if !strings.Contains(r.Text, due) || !strings.Contains(r.HTML, due) {
				t.Errorf("%s does not show the deadline on the London calendar (%s):\n%s", kind, due, r.Text)
			}
		})
	}
}
