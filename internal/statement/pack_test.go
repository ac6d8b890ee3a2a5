package statement

import (
	"bytes"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
)

// The evidence pack holds the statement, each disputed item with both
// sides' messages, the photos (drawn), the PDFs (attached), and the
// timeline.
func TestEvidencePack(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var photo bytes.Buffer
	if err := png.Encode(&photo, image.NewRGBA(image.Rect(0, 0, 40, 30))); err != nil {
		t.Fatal(err)
	}
	yes := true
	p := Pack{
		Statement: templates.Data{LeaseID: "L-9", PropertyID: "maple", UnitID: "4B", TenantName: "Ana Lima", TenantEmail: "ana@example.com",
			ReceivedCents: 100000, Deductions: []templates.Line{{Description: "Wall repainting", Cents: 8000}}, RefundCents: 92000,
			Evidence: []templates.Evidence{{Item: "Deduction: Wall repainting", Files: []string{"wall.png"}}},
			Disputes: []templates.DisputeLine{{ID: 3, Description: "Deduction: Wall repainting", Cents: 8000, Status: "maintained"}}, DisputedCents: 8000},
		Disputes: []deposit.Dispute{{DisputeID: 3, Item: "charge:7", Description: "Deduction: Wall repainting", AmountCents: 8000,
			TenantMessage: "It was scuffed when I moved in", Status: deposit.DisputeMaintained, ManagerMessage: "Fresh paint at move-in",
			AnsweredBy: "ma", OpenedAt: at, AnsweredAt: at.Add(time.Hour), Held: true, HeldCents: 8000}},
		Files: []PackFile{
			{ID: 1, Subject: "charge", SubjectID: 7, Side: "manager", Name: "wall.png", Type: "image/png", SHA256: strings.Repeat("a", 64), At: at, Data: photo.Bytes()},
			{ID: 2, Subject: "dispute", SubjectID: 3, Side: "tenant", Name: "move-in.pdf", Type: "application/pdf", SHA256: strings.Repeat("b", 64), At: at, Data: []byte("%PDF-1.4 the move-in report")},
		},
		Timeline: []deposit.AuditEntry{{At: at, Action: "dispute.open", Principal: "tenant:resident-1", Accepted: &yes, Result: "ok"}},
	}
	var b bytes.Buffer
	if err := EvidencePack(&b, p, at); err != nil {
		t.Fatal(err)
	}
	got := text(t, b.Bytes())
	for _, want := range []string{"Itemized statement", "Deduction: Wall repainting: wall.png", "Disputed by the tenant", "is held until each is resolved", "Item 3: Deduction: Wall repainting", "It was scuffed when I moved in", "Fresh paint at move-in",
		"wall.png", "move-in.pdf", "attached to this PDF", "dispute.open by tenant:resident-1"} {
		if !strings.Contains(got, want) {
			t.Errorf("the pack lacks %q:\n%s", want, got)
		}
	}
	if !bytes.Contains(b.Bytes(), []byte("/EmbeddedFiles")) || !bytes.Contains(b.Bytes(), []byte("/Subtype /Image")) {
		t.Error("the PDF neither embeds the tenant's PDF nor draws the photo")
	}
}
