package api

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/templates"
)

// The page renders every part it has: the figures, an item with a photo,
// an item disputed with an offer, the answer forms; and the refused page.
func TestTenantPageRenders(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	photo := activities.EvidenceFile{ID: 7, Subject: "charge", SubjectID: 3, Side: "manager", Name: "carpet.jpg", Type: "image/jpeg"}
	v := pageView{Token: "tok.sig", Forms: map[string]string{"accept": "a", "dispute": "d", "forwarding": "f", "offer-9": "o"},
		TenantView: gateway.TenantView{
			Data: templates.Data{Currency: "GBP", TimeZone: "Europe/London", LeaseID: "L-1", PropertyID: "maple", UnitID: "1A", RecipientName: "Ana",
				ReceivedCents: 120000, InterestCents: 150, DeductionsCents: 30000, RefundCents: 90150, ReleaseAt: now, RefundDue: now.Add(48 * time.Hour),
				RuleLabel: "GB-ENG", Payments: []templates.Line{{Description: "Payment", Cents: 120000}}, DisputedCents: 10000},
			Items: []gateway.TenantItem{
				{Ref: "charge:3", Kind: "Deduction", Description: "Carpet cleaning", Cents: 20000, Files: []activities.EvidenceFile{photo}},
				{Ref: "charge:4", Kind: "Deduction", Description: "Wall paint", Cents: 10000, Files: []activities.EvidenceFile{},
					Dispute: &deposit.Dispute{DisputeID: 9, Status: deposit.DisputeOffered, OfferCents: 5000, AmountCents: 10000, TenantMessage: "It was like that", ManagerMessage: "Half"}},
			},
			AcceptedAt: &now,
		}}
	var b bytes.Buffer
	if err := tenantPage.Execute(&b, v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"£1,200.00", `src="/t/tok.sig/files/7"`, "Accept the offer of £50.00", `action="/t/tok.sig/disputes"`, `value="d"`, "You accepted the statement on", "Release date", "GB-ENG"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	b.Reset()
	if err := tenantPage.Execute(&b, pageView{Refused: true, Error: "no"}); err != nil || !strings.Contains(b.String(), "Ask for a new link") {
		t.Fatal(err, b.String())
	}
}
