package statement

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/rules"
	"github.com/depositflow/depositflow/templates"
)

// Pack is a disputed deposit's case, for a deposit scheme's adjudicator or
// a small-claims court: the statement, the disputed items with both sides'
// messages and files, and the lease's timeline from its audit log.
type Pack struct {
	Statement templates.Data
	Disputes  []deposit.Dispute
	Files     []PackFile
	Timeline  []deposit.AuditEntry
}

// PackFile is one evidence file, with its content.
type PackFile struct {
	ID        int64
	Subject   string // lease, charge, keep, dispute
	SubjectID int64
	Side      string // manager, tenant
	Name      string
	Type      string
	SHA256    string
	At        time.Time
	Data      []byte
}

// EvidencePack writes the case as one PDF: the statement first, then each
// disputed item (what is claimed, the tenant's message, the manager's
// answer, each side's files: images shown, PDFs attached to the document
// and named with their SHA-256), then the lease's other files, then the
// timeline.
func EvidencePack(w io.Writer, p Pack, generated time.Time) error {
	d := p.Statement
	if d.Organization == "" {
		d.Organization = "depositflow"
	}
	pdf := fpdf.New("P", "mm", "Letter", "")
	pdf.SetTitle("Evidence pack of the disputed deposit of lease "+d.LeaseID, true)
	pdf.SetAuthor(d.Organization, true)
	pdf.SetCreationDate(generated)
	pdf.SetModificationDate(generated)
	if err := statementPages(pdf, d, generated); err != nil {
		return err
	}
	zone, err := rules.LoadZone(d.TimeZone)
	if err != nil {
		return err
	}
	when := func(t time.Time) string { return t.In(zone).Format("2 Jan 2006 15:04 MST") }
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	amount := func(c int64) string { return tr(money.FormatIn(d.Currency, c)) }
	heading := func(s string) {
		pdf.SetFont("Helvetica", "B", 14)
		pdf.CellFormat(0, 9, tr(s), "", 1, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 10)
	}
	para := func(s string) { pdf.MultiCell(0, 5, tr(s), "", "L", false) }
	var attachments []fpdf.Attachment
	files := func(subject string, id int64) {
		for _, f := range p.Files {
			if f.Subject != subject || f.SubjectID != id {
				continue
			}
			para(fmt.Sprintf("File %d, %s (%s, by the %s, %s), SHA-256 %s", f.ID, f.Name, f.Type, f.Side, when(f.At), f.SHA256))
			switch f.Type {
			case "image/jpeg", "image/png", "image/gif":
				name := fmt.Sprintf("evidence-%d", f.ID)
				info := pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: strings.TrimPrefix(f.Type, "image/"), ReadDpi: true}, bytes.NewReader(f.Data))
				if pdf.Err() {
					return
				}
				wd, ht := info.Extent()
				scale := min(1.0, 120/wd, 90/ht)
				pdf.ImageOptions(name, pdf.GetX(), pdf.GetY(), wd*scale, ht*scale, true, fpdf.ImageOptions{}, 0, "")
				pdf.Ln(2)
			default:
				attachments = append(attachments, fpdf.Attachment{Content: f.Data, Filename: f.Name, Description: fmt.Sprintf("evidence file %d (%s)", f.ID, f.Side)})
				para("    (attached to this PDF)")
			}
		}
	}

	pdf.AddPage()
	heading("The disputed items")
	if len(p.Disputes) == 0 {
		para("The tenant disputes no item.")
	}
	for _, it := range p.Disputes {
		pdf.SetFont("Helvetica", "B", 11)
		pdf.MultiCell(0, 6, tr(fmt.Sprintf("Item %d: %s, %s (%s)", it.DisputeID, it.Description, amount(it.AmountCents), it.Status)), "", "L", false)
		pdf.SetFont("Helvetica", "", 10)
		para(fmt.Sprintf("Disputed on %s. The tenant writes: \"%s\"", when(it.OpenedAt), it.TenantMessage))
		if it.ManagerMessage != "" {
			answer := fmt.Sprintf("Answered by %s on %s (%s", it.AnsweredBy, when(it.AnsweredAt), it.Status)
			if it.OfferCents > 0 {
				answer += ", offering " + money.FormatIn(d.Currency, it.OfferCents) + " back"
			}
			para(answer + fmt.Sprintf("): \"%s\"", it.ManagerMessage))
		} else {
			para("The manager has not answered.")
		}
		if it.Held {
			para(fmt.Sprintf("Held by the settlement: %s; paid back %s, applied %s.", amount(it.HeldCents), amount(it.RefundCents), amount(it.AppliedCents)))
		}
		subject, idText, _ := strings.Cut(it.Item, ":")
		var id int64
		fmt.Sscan(idText, &id)
		pdf.SetFont("Helvetica", "I", 10)
		para("The manager's evidence of the item:")
		pdf.SetFont("Helvetica", "", 10)
		files(subject, id)
		pdf.SetFont("Helvetica", "I", 10)
		para("The tenant's files:")
		pdf.SetFont("Helvetica", "", 10)
		files("dispute", it.DisputeID)
		pdf.Ln(4)
	}
	heading("The lease's own files (inspection reports)")
	files("lease", 0)
	pdf.Ln(4)

	heading("Timeline")
	pdf.SetFont("Helvetica", "", 8)
	for _, e := range p.Timeline {
		outcome := "recorded"
		if e.Accepted != nil && !*e.Accepted {
			outcome = "refused"
		}
		pdf.MultiCell(0, 4, tr(fmt.Sprintf("%s  %s by %s (%s): %s", when(e.At), e.Action, e.Principal, outcome, e.Result)), "", "L", false)
	}
	pdf.SetAttachments(attachments)
	if pdf.Err() {
		return pdf.Error()
	}
	return pdf.Output(w)
}
