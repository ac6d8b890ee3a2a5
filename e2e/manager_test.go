package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/mailsink"
)

// managerLinks are the one-click links of a manager's alert, in the order
// the email gives them: release now, extend a week, open.
var managerLinkRE = regexp.MustCompile(`https?://[^\s"<>]+/m/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

func managerLinks(t *testing.T, m mailsink.Parsed) (release, extend, open string) {
	t.Helper()
	links := managerLinkRE.FindAllString(m.Text, -1)
	require.Len(t, links, 3, "release now, extend a week, open:\n%s", m.Text)
	for _, l := range links {
		require.True(t, strings.HasPrefix(l, publicURL), l)
		require.Contains(t, m.HTML, l, "the HTML part has the same links")
	}
	return links[0], links[1], links[2]
}

// The manager's alert at the move-out (OwnerRez, seed 004), from the real
// email to a real browser: each of the property's managers gets their own
// links; "Release now" shows the amount and the tenant and acts only when
// confirmed, as that manager, and the tenant gets their refund email; the
// same link again changes nothing and says it was used; "Extend a week"
// moves the release date 7 days; "Open this security deposit" only reads.
func TestManagerLinksFromTheAlert(t *testing.T) {
	watchContract(t)
	browser := chromium(t)
	must(t, "user", "add", "mia", "--role", "manager", "--property", "medlar", "--email", "mia@medlar.example")
	must(t, "user", "add", "max", "--role", "manager", "--property", "medlar", "--email", "max@medlar.example")
	must(t, "listing", "add", "LST-M1", "--property", "medlar", "--unit", "M1", "--deposit", "900.00")
	lease, later := "L-e2e-mlink", "L-e2e-mlink-2"
	for _, l := range []string{lease, later} {
		must(t, "lease", "start", l, "--property", "medlar", "--unit", "M1", "--listing", "LST-M1",
			"--tenant-email", "tom@example.com", "--tenant-name", "Tom Reyes", "--assess-for", "1h", "--release-after", "336h")
		must(t, "payment", "record", l, "--amount", "900", "--ref", "TOM-"+l)
	}
	must(t, "charge", "add", lease, "--code", "CLEANING", "--amount", "150.00", "--description", "Oven cleaning", "--ref", "INV-M1")
	must(t, "moveout", lease)

	// Each manager gets the alert, with links of their own.
	var alert mailsink.Parsed
	require.Eventually(t, func() bool {
		n := 0
		for _, m := range mailFor(t, lease) {
			if strings.Contains(m.Subject, "Release on") {
				n++
				if strings.Contains(m.Header.Get("To"), "mia@medlar.example") {
					alert = m
				}
			}
		}
		return n == 2 && alert.Subject != ""
	}, 30*time.Second, 200*time.Millisecond, "an alert to each of medlar's managers")
	require.Contains(t, alert.Text, "moved out on")
	release, extend, open := managerLinks(t, alert)

	// A GET never acts (mail scanners open links).
	page := get(t, release, "text/html")
	require.Contains(t, page, "Release the deposit now?")
	require.Equal(t, deposit.StageAssessing, status(t, lease).Stage)

	ctx := browser
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		require.NoError(t, chromedp.Do(sctx, steps...))
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return v
	}
	do(chromedp.Navigate(release), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	require.Contains(t, text(`#tenant`), "Tom Reyes")
	require.Equal(t, "$750.00", text(`#amount`), "the refund: $900.00 less $150.00")
	require.Contains(t, text(`#what`), "$750.00 is refunded to the tenant")
	require.Contains(t, text(`#what`), "as mia")
	formToken, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`input[name=form_token]`)))
	require.NoError(t, err)
	clicked := time.Now()
	do(chromedp.Click(chromedp.CSS(`#confirm`)), chromedp.WaitVisible(chromedp.CSS(`#done`)))
	confirmed := time.Since(clicked)
	require.Contains(t, text(`#done`), "Released")
	s := waitClosed(t, lease)
	require.EqualValues(t, 75000, s.RefundCents)
	refund := waitMailWith(t, lease, "Your deposit refund of $750.00")
	t.Logf("Release now: confirmed and settled in %s (click to the page saying so); the tenant's refund email %s after the click",
		confirmed.Round(time.Millisecond), time.Since(clicked).Round(time.Millisecond))
	require.Contains(t, refund.Header.Get("To"), "tom@example.com")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'release' AND accepted AND principal = 'user:mia'", lease),
		"the release is mia's, audited as from her CLI")

	// The same link again: the page says it was used; a POST changes nothing.
	audits := count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'release'", lease)
	do(chromedp.Navigate(release), chromedp.WaitVisible(chromedp.CSS(`#used`)))
	require.Contains(t, text(`#used`), "already used")
	resp, err := http.PostForm(release, url.Values{"form_token": {formToken}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Equal(t, audits, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'release'", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'manager.link' AND NOT accepted AND result LIKE '%already used%'", lease))
	// Its extend link: the lease moved on.
	resp, err = http.Get(extend)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	// The open link reads the settled lease.
	require.Contains(t, get(t, open, "text/html"), "Tom Reyes")

	// "Extend a week" on the other lease, from its own alert.
	must(t, "moveout", later)
	var alert2 mailsink.Parsed
	require.Eventually(t, func() bool {
		for _, m := range mailFor(t, later) {
			if strings.Contains(m.Subject, "Release on") && strings.Contains(m.Header.Get("To"), "max@medlar.example") {
				alert2 = m
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond)
	_, extend2, _ := managerLinks(t, alert2)
	before := status(t, later).ReleaseAt
	do(chromedp.Navigate(extend2), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	require.Contains(t, text(`#what`), "7 days later")
	do(chromedp.Click(chromedp.CSS(`#confirm`)), chromedp.WaitVisible(chromedp.CSS(`#done`)))
	require.Contains(t, text(`#done`), "Extended")
	require.Equal(t, before.Add(7*24*time.Hour), status(t, later).ReleaseAt)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'extend' AND accepted AND principal = 'user:max'", later))

	// A revoked manager's link is refused, clearly, and audited.
	must(t, "user", "revoke", "mia")
	_, _, open2 := managerLinks(t, func() mailsink.Parsed {
		for _, m := range mailFor(t, later) {
			if strings.Contains(m.Subject, "Release on") && strings.Contains(m.Header.Get("To"), "mia@medlar.example") {
				return m
			}
		}
		t.Fatal("no alert to mia")
		return mailsink.Parsed{}
	}())
	resp, err = http.Get(open2)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'manager.link' AND NOT accepted AND principal = 'user:mia'", later))
	must(t, "release", later)
	waitClosed(t, later)
}

// The message to the tenant is the manager's to write (seed 004): given
// with the decision, previewed, and shown above the statement in the
// tenant's real email, in both parts, escaped in HTML.
func TestManagersMessageInTheTenantsEmail(t *testing.T) {
	watchContract(t)
	lease := "L-e2e-message"
	must(t, "listing", "add", "LST-N1", "--property", "nectar", "--unit", "N1", "--deposit", "500.00")
	must(t, "lease", "start", lease, "--property", "nectar", "--unit", "N1", "--listing", "LST-N1",
		"--tenant-email", "nia@example.com", "--tenant-name", "Nia Park", "--assess-for", "1h", "--release-after", "336h")
	must(t, "payment", "record", lease, "--amount", "500", "--ref", "NIA-1")
	must(t, "moveout", lease)

	// Refused: a control character; too long. Nothing changes.
	refusedWith(t, "control character", "keep", lease, "--amount", "50", "--reason", "Broken blind", "--message", "bell\a")
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM keeps WHERE lease_id = $1", lease))
	must(t, "keep", lease, "--amount", "50", "--reason", "Broken blind", "--message", "We kept $50.00 for the blind.")
	require.Contains(t, must(t, "email", "preview", "refund", "--lease", lease, "--text"), "We kept $50.00 for the blind.")
	require.Contains(t, must(t, "email", "preview", "refund", "--lease", lease, "--text", "--message", "A draft"), "A draft")

	note := filepath.Join(t.TempDir(), "note.txt")
	msg := "Thank you <b>Nia</b> & good luck in the new flat.\nThe blind was the only thing."
	require.NoError(t, os.WriteFile(note, []byte(msg+"\n"), 0o644))
	must(t, "release", lease, "--message-file", note)
	waitClosed(t, lease)
	refund := waitMailWith(t, lease, "Your deposit refund of $450.00")
	require.Contains(t, strings.ReplaceAll(refund.Text, "\r\n", "\n"), msg)
	require.Less(t, strings.Index(refund.Text, "Thank you"), strings.Index(refund.Text, "Deposit received"), "above the statement")
	require.Contains(t, refund.HTML, "Thank you &lt;b&gt;Nia&lt;/b&gt; &amp; good luck in the new flat.")
	require.NotContains(t, refund.HTML, "<b>Nia</b>")
	require.EqualValues(t, 2, count(t, "SELECT count(*) FROM decision_messages WHERE lease_id = $1", lease))
	recordHistory(t, lease, "manager_message_keep_release")
}

// Batch approvals (Propra, seed 003): a books_admin approves several
// leases' keeps at once; the one they asked for themselves is refused; each
// is audited and emailed on its own.
func TestBatchApprovals(t *testing.T) {
	watchContract(t)
	opal := strings.TrimSpace(must(t, "user", "add", "opal", "--role", "manager", "--property", "olive", "--email", "opal@olive.example"))
	otto := strings.TrimSpace(must(t, "user", "add", "otto", "--role", "manager", "--role", "books_admin", "--property", "olive"))
	must(t, "property", "set", "olive", "--approval-threshold", "100.00")
	must(t, "listing", "add", "LST-O1", "--property", "olive", "--unit", "O1", "--deposit", "800.00")
	leases := []string{"L-e2e-batch-1", "L-e2e-batch-2", "L-e2e-batch-3"}
	for i, l := range leases {
		must(t, "lease", "start", l, "--property", "olive", "--unit", "O1", "--listing", "LST-O1",
			"--tenant-email", "oli@example.com", "--tenant-name", "Oli Ames", "--assess-for", "1h", "--release-after", "336h")
		must(t, "payment", "record", l, "--amount", "800", "--ref", "OLI-"+l)
		must(t, "moveout", l)
		who := opal
		if i == 2 {
			who = otto // the books_admin's own request
		}
		r := withEnv([]string{"DEPOSITS_TOKEN=" + who}, "keep", l, "--amount", "200", "--reason", "Stained carpet")
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, "pending")
	}
	r := withEnv([]string{"DEPOSITS_TOKEN=" + otto}, "approvals", "list")
	require.Equal(t, 0, r.code, r.stderr)
	for _, l := range leases {
		require.Contains(t, r.stdout, l)
	}
	start := time.Now()
	r = withEnv([]string{"DEPOSITS_TOKEN=" + otto}, "approvals", "approve", "--all")
	t.Logf("approvals approve --all: %s", time.Since(start))
	require.Equal(t, 1, r.code, "one refused: %s %s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "2 approved, 1 refused")
	require.Regexp(t, `L-e2e-batch-3\s+keep:\d+\s+refused: .*`, r.stdout)
	for _, l := range leases[:2] {
		s := status(t, l)
		require.Empty(t, s.Pending, l)
		require.EqualValues(t, 20000, s.KeptCents, l)
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'approve' AND accepted AND principal = 'user:otto'", l))
		approved := waitMailWith(t, l, "Approved: keep:")
		require.Contains(t, approved.Header.Get("To"), "opal@olive.example")
		require.Contains(t, approved.Text, "otto approved keep:")
	}
	s := status(t, leases[2])
	require.Len(t, s.Pending, 1, "their own request still waits")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'approve' AND accepted = false AND principal = 'user:otto'", leases[2]))
	// Another books_admin declines it, with a word to the tenant.
	r = asUser(t, "e2e-olive-admin", []string{"books_admin"}, "approvals", "decline", leases[2], "--reason", "No photos", "--message", "We keep nothing for the carpet.")
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "1 declined, 0 refused")
	waitMailWith(t, leases[2], "Declined: keep:")
	for _, l := range leases {
		must(t, "release", l)
		waitClosed(t, l)
	}
	refund := waitMailWith(t, leases[2], "Your deposit refund of $800.00")
	require.Contains(t, refund.Text, "We keep nothing for the carpet.")
	recordHistory(t, leases[0], "manager_alert_batch_approved_release")
}
