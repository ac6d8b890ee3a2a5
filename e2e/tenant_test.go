package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
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

// The tenant's side, end to end and in a real browser (headless Chromium
// driven by chromedp): the tenant opens the link from the real email in
// the SMTP sink, sees the manager's photo of a deduction, and disputes the
// other deduction with a message; the undisputed part is refunded by the
// release date while the disputed one is held; the manager offers half
// back (deposits dispute resolve); the tenant accepts the offer on the
// page; the half is paid at once; the ledger conserves to the cent. The
// page is screenshotted into docs/ (TENANT_SCREENSHOTS=1, make screenshots).
func TestTenantDisputesOnThePage(t *testing.T) {
	watchContract(t)
	browser := chromium(t)
	lease := "L-e2e-tenant"
	must(t, "listing", "add", "LST-9C", "--property", "quince", "--unit", "9C", "--deposit", "1,000.00")
	must(t, "property", "set", "quince", "--manager-email", "pm@quince.example")
	must(t, "lease", "start", lease, "--property", "quince", "--unit", "9C", "--listing", "LST-9C",
		"--tenant-email", "tess@example.com", "--tenant-name", "Tess Ng", "--assess-for", "3s", "--release-after", "30s")
	must(t, "payment", "record", lease, "--amount", "1000", "--ref", "TESS-1")
	must(t, "moveout", lease, "--date", now())
	must(t, "charge", "add", lease, "--code", "CLEANING", "--amount", "120.00", "--description", "Carpet cleaning", "--ref", "INV-T1")
	must(t, "charge", "add", lease, "--code", "DAMAGE", "--amount", "80.00", "--description", "Wall repainting", "--ref", "INV-T2")
	moved := time.Now()

	// The manager's photo of the carpet, attached to its deduction; a file
	// that is not an image or a PDF, and one too large, are refused and
	// store nothing.
	dir := t.TempDir()
	photo := filepath.Join(dir, "carpet.png")
	require.NoError(t, os.WriteFile(photo, testPNG(t), 0o644))
	out := must(t, "evidence", "add", lease, "--charge", "INV-T1", photo)
	require.Contains(t, out, "attached to charge")
	before := files(t)
	notImage := filepath.Join(dir, "notes.png")
	require.NoError(t, os.WriteFile(notImage, []byte("just words, whatever the name says"), 0o644))
	refusedWith(t, "not an image", "evidence", "add", lease, "--charge", "INV-T2", notImage)
	huge := filepath.Join(dir, "huge.pdf")
	require.NoError(t, os.WriteFile(huge, append([]byte("%PDF-1.4\n"), make([]byte, 10<<20)...), 0o644))
	refusedWith(t, "larger than", "evidence", "add", lease, "--charge", "INV-T2", huge)
	require.Equal(t, before, files(t), "a refused upload stores nothing")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM evidence WHERE lease_id = $1", lease))

	// The move-out statement, with the link to the tenant's page.
	notice := waitMailWith(t, lease, "Your move-out statement")
	link := regexp.MustCompile(`https?://[^\s"<>]+/t/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`).FindString(notice.Text)
	require.NotEmpty(t, link, "the statement links to the tenant's page:\n%s", notice.Text)
	require.True(t, strings.HasPrefix(link, publicURL), link)
	require.Contains(t, notice.Text, "carpet.png", "the statement lists the item's evidence")

	// A tampered link, and one of another lease's page, answer alike.
	for _, bad := range []string{link[:len(link)-3] + "abc", strings.Replace(link, "/t/", "/t/x", 1)} {
		resp, err := http.Get(bad)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		require.Contains(t, string(body), "This link does not open a page")
	}

	s := status(t, lease)
	var cleaning, damage int64
	for _, c := range s.Charges {
		switch c.Description {
		case "Carpet cleaning":
			cleaning = c.ChargeID
		case "Wall repainting":
			damage = c.ChargeID
		}
	}
	require.NotZero(t, cleaning)
	require.NotZero(t, damage)
	damageItem := fmt.Sprintf("#item-charge-%d", damage)

	// The page and its photo, as any client gets them.
	html := get(t, link, "text/html")
	src := regexp.MustCompile(`<img src="([^"]+)"`).FindStringSubmatch(html)
	require.Len(t, src, 2, html)
	require.Equal(t, testPNG(t), []byte(get(t, publicURL+src[1], "image/png")))

	ctx := browser
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	// do runs browser steps, each batch within 20 seconds.
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		require.NoError(t, chromedp.Do(sctx, steps...))
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		require.NoError(t, err)
		return v
	}
	// The page: the deposit, each deduction, the photo (loaded, full size
	// on a click), the release date.
	do(chromedp.Navigate(link), chromedp.WaitVisible(css(`#items-h`)))
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	photoWidth, err := chromedp.Run(pctx, chromedp.Poll[int](`document.querySelector('.thumbs img') && document.querySelector('.thumbs img').complete && document.querySelector('.thumbs img').naturalWidth`,
		chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err)
	require.Equal(t, 64, photoWidth, "the photo is shown")
	page := text(`main`)
	for _, want := range []string{"$1,000.00", "Carpet cleaning", "Wall repainting", "$120.00", "$80.00", "Release date"} {
		require.Contains(t, page, want)
	}
	screenshot(t, ctx, "tenant-page.png")
	do(chromedp.Click(css(`.thumbs a`)), chromedp.Sleep(300*time.Millisecond))
	fullURL, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, fullURL, "/files/", "a thumbnail opens the photo full size")
	do(chromedp.Navigate(link), chromedp.WaitVisible(css(`#items-h`)))

	// The tenant disputes the repainting, with a message.
	do(
		chromedp.Click(css(damageItem+` summary`)),
		chromedp.SendKeys(css(damageItem+` textarea`), "The wall was already scuffed when I moved in: see the move-in report."),
		chromedp.Click(css(damageItem+` button[type=submit]`)),
		chromedp.WaitVisible(css(`.notice`)),
	)
	notice2 := text(`.notice`)
	require.Contains(t, notice2, "Your dispute was sent")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM disputes WHERE lease_id = $1 AND status = 'open' AND amount_cents = 8000", lease))
	var disputeID int64
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT dispute_id FROM disputes WHERE lease_id = $1", lease).Scan(&disputeID))
	opened := waitMailWith(t, lease, "the tenant disputes")
	require.Contains(t, opened.Text, "already scuffed")
	screenshot(t, ctx, "tenant-page-disputed.png")
	// Their forwarding address, from the page.
	do(chromedp.SendKeys(css(`#forwarding_address`), "12 Elm St, Austin TX 78701"), chromedp.Click(css(`#forwarding button`)), chromedp.Sleep(700*time.Millisecond), noticeSays("forwarding address was recorded"))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM leases WHERE lease_id = $1 AND forwarding_address = '12 Elm St, Austin TX 78701'", lease))

	// The release date: the undisputed part is refunded on time, the
	// disputed item's amount is held.
	s = waitStage(t, lease, deposit.StageDisputed, 60*time.Second)
	require.EqualValues(t, 8000, s.DisputedCents)
	var refunded int64
	var refundedAt time.Time
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT amount_in_cents, created_at FROM refunds WHERE lease_id = $1 AND follows IS NULL", lease).Scan(&refunded, &refundedAt))
	require.EqualValues(t, 100000-12000-8000, refunded)
	require.True(t, refundedAt.Before(moved.Add(30*time.Second+15*time.Second)), "refunded by the release date: %s after the move-out", refundedAt.Sub(moved))
	ledger := ledgerOf(t, lease)
	require.True(t, ledger.Conserved, "%+v", ledger)
	require.EqualValues(t, 8000, ledger.HeldCents)

	// The manager offers half back.
	out = must(t, "dispute", "resolve", lease, "--item", fmt.Sprint(disputeID), "--offer", "40.00", "--message", "Half: the wall needed a coat anyway.")
	require.Contains(t, out, "offer")
	require.Contains(t, must(t, "dispute", "list", lease), "offered")
	waitMailWith(t, lease, "an offer of $40.00 back")

	// The tenant accepts the offer on the page; it is paid at once.
	accept := damageItem + ` form[action$="/accept"] button`
	do(chromedp.Navigate(link), chromedp.WaitVisible(css(accept)))
	screenshot(t, ctx, "tenant-page-offer.png")
	do(chromedp.Click(css(accept)), chromedp.WaitVisible(css(`.notice`)))
	notice3 := text(`.notice`)
	require.Contains(t, notice3, "You accepted the offer")
	do(chromedp.Click(css(`#answer-h + p + form button`)), chromedp.Sleep(700*time.Millisecond), noticeSays("you accepted the statement"))
	s = waitClosed(t, lease)
	require.EqualValues(t, 0, s.DisputedCents)
	require.EqualValues(t, 4000, count(t, "SELECT amount_in_cents FROM refunds WHERE lease_id = $1 AND follows = $2", lease, deposit.DisputeKey(disputeID)))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM disputes WHERE lease_id = $1 AND status = 'agreed' AND refund_cents = 4000 AND applied_cents = 4000 AND settled_at IS NOT NULL", lease))
	ledger = ledgerOf(t, lease)
	require.True(t, ledger.Conserved, "%+v", ledger)
	require.Zero(t, ledger.HeldCents)
	require.EqualValues(t, 100000-12000-4000, ledger.RefundedCents)
	require.EqualValues(t, 4000, ledger.ConcededCents)
	// Every step is audited, the tenant's under their link.
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'dispute.open' AND accepted AND principal LIKE 'tenant:%'", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'offer.accept' AND accepted", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'dispute.resolve' AND accepted", lease))
	paid := waitMailWith(t, lease, "of your deposit is refunded")
	require.Contains(t, paid.Subject, "$40.00")
	recordHistory(t, lease, "tenant_dispute_offer_agreed")
	// Nothing maintained, nothing waiting: no case to export yet.
	refusedWith(t, "answer it first", "dispute", "export", lease, "--out", filepath.Join(dir, "pack.pdf"))

	// A form posted without the token the page gave it (from another site,
	// say) is refused, audited, and changes nothing.
	resp, err := http.PostForm(link+"/accept", map[string][]string{"form_token": {"forged"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM leases WHERE lease_id = $1 AND statement_accepted_by = 'tenant:resident-' || resident_id", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'POST /t/{token}/accept' AND NOT accepted", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'statement.accept' AND accepted", lease), "the forged form accepted nothing")

	// A tenant who lost their link asks for a new one by email; an address
	// that is not a tenant's gets the same answer and no email.
	for _, email := range []string{"nobody@example.com", "TESS@example.com"} {
		resp, err := http.PostForm(publicURL+"/t/link", map[string][]string{"lease_id": {lease}, "email": {email}})
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, string(body), "Check your email")
	}
	fresh := waitMailWith(t, lease, "Your link to the page")
	require.Equal(t, "tess@example.com", strings.Trim(addrOf(fresh.Header.Get("To")), "<>"))
	newLink := regexp.MustCompile(`https?://[^\s"<>]+/t/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`).FindString(fresh.Text)
	require.Contains(t, get(t, newLink, "text/html"), "Wall repainting")
}

// chromium is a headless browser for the test, closed at its end; the
// test is skipped where no Chromium is installed (.ci/run installs it).
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Skip("no Chromium installed (apt-get install -y chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(412, 915)) // a phone's screen
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx), "starting %s", path)
	return ctx
}

// screenshot saves the page, whole, into docs/ when TENANT_SCREENSHOTS is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("TENANT_SCREENSHOTS") == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join("..", "docs", name), buf, 0o644))
}

// testPNG is a small photo: 64 by 48 pixels of a beige carpet with a stain.
func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			c := color.RGBA{R: 222, G: 204, B: 170, A: 255}
			if (x-40)*(x-40)+(y-20)*(y-20) < 80 {
				c = color.RGBA{R: 110, G: 70, B: 40, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

// files counts the files in the evidence store.
func files(t *testing.T) int {
	n := 0
	_ = filepath.Walk(blobDir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// waitMailWith waits for the lease's newest email whose subject contains
// subject, received after those seen so far (every new one for "").
func waitMailWith(t *testing.T, lease, subject string) mailsink.Parsed {
	t.Helper()
	seen := seenMail[lease]
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mails := mailFor(t, lease)
		for i := seen; i < len(mails); i++ {
			if strings.Contains(mails[i].Subject, subject) {
				seenMail[lease] = i + 1
				return mails[i]
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	var subjects []string
	for _, m := range mailFor(t, lease) {
		subjects = append(subjects, m.Subject)
	}
	t.Fatalf("no email %q for lease %s; received: %q", subject, lease, subjects)
	return mailsink.Parsed{}
}

var seenMail = map[string]int{}

// waitStage waits for a lease's stage.
func waitStage(t *testing.T, lease, stage string, within time.Duration) deposit.State {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := status(t, lease)
		if s.Stage == stage || time.Now().After(deadline) {
			require.Equal(t, stage, s.Stage)
			return s
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func ledgerOf(t *testing.T, lease string) deposit.Ledger {
	t.Helper()
	var l deposit.Ledger
	require.NoError(t, json.Unmarshal([]byte(must(t, "ledger", lease, "-o", "json")), &l))
	return l
}

// get reads a URL that must answer 200 with a content type.
func get(t *testing.T, u, contentType string) string {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", u, b)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), contentType), resp.Header.Get("Content-Type"))
	return string(b)
}

// noticeSays waits for the page's notice to say something.
func noticeSays(words string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(document.querySelector('.notice') || {textContent: ''}).textContent.includes(%q)`, words))
}
