package templates

import (
	"strings"
	"testing"
)

func TestApprovalEmail(t *testing.T) {
	d := goldenData(KindApproval)
	d.ForManager, d.RecipientName = true, "kim"
	d.Approval = &Approval{Item: "keep:12", Kind: "keep", Decision: "declined", By: "bea", RequestedBy: "kim", Cents: 30000, What: "Burn mark", Reason: "No photos"}
	r, err := Render(KindApproval, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Declined: keep:12 of lease L-100 ($300.00)", "bea declined keep:12", "It does not count.", "Why: No photos"} {
		if !strings.Contains(r.Subject+"\n"+r.Text, want) || !strings.Contains(r.Subject+r.HTML, strings.TrimPrefix(want, "Declined: ")) {
			t.Errorf("no %q in\n%s\n%s\n%s", want, r.Subject, r.Text, r.HTML)
		}
	}
	d.Approval.Decision, d.Approval.Reason = "approved", ""
	r, err = Render(KindApproval, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Subject, "Approved: keep:12") || !strings.Contains(r.Text, "It counts from now on.") || strings.Contains(r.HTML, "false") {
		t.Errorf("%s\n%s\n%s", r.Subject, r.Text, r.HTML)
	}
}

// The manager's message to the tenant shows above the statement, escaped
// in HTML, and never in the manager's own emails.
func TestManagerMessageAboveTheStatement(t *testing.T) {
	d := goldenData(KindRefund)
	d.ManagerMessage = "Thank you <b>Ana</b> & goodbye.\nSecond line"
	r, err := Render(KindRefund, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "Thank you <b>Ana</b> & goodbye.\nSecond line") || strings.Index(r.Text, "Thank you") > strings.Index(r.Text, "Deposit received") {
		t.Errorf("text:\n%s", r.Text)
	}
	if !strings.Contains(r.HTML, "Thank you &lt;b&gt;Ana&lt;/b&gt; &amp; goodbye.") || strings.Contains(r.HTML, "<b>Ana</b>") {
		t.Errorf("html:\n%s", r.HTML)
	}
	m := goldenData(KindReminder)
	m.ManagerMessage = "Thank you"
	r, err = Render(KindReminder, m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Text, "Thank you") {
		t.Errorf("the manager's reminder shows the tenant's message:\n%s", r.Text)
	}
}
