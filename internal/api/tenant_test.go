package api

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/evidence"
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

// An upload is read part by part: a file larger than evidence.MaxBytes, or
// one that is not an image or a PDF by its content, is refused (413, 415)
// before the gateway sees anything, so nothing is stored.
func TestUploadRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   []byte
		status int
		code   string
	}{
		{"huge.pdf", append([]byte("%PDF-1.4\n"), make([]byte, evidence.MaxBytes)...), http.StatusRequestEntityTooLarge, "file_too_large"},
		{"photo.png", []byte("MZ\x90\x00 an executable, not a photo"), http.StatusUnsupportedMediaType, "unsupported_file"},
	} {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("charge", "INV-1")
		w, _ := mw.CreateFormFile("file", tc.name)
		_, _ = w.Write(tc.data)
		_ = mw.Close()
		req := httptest.NewRequest(http.MethodPost, "/v1/leases/L-1/evidence", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		_, files, err := readUpload(httptest.NewRecorder(), req)
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != tc.status || ae.detail.Code != tc.code || files != nil {
			t.Errorf("%s: %v %+v", tc.name, err, ae)
		}
	}
}
