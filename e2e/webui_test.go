package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
)

// The Temporal Web UI reads sealed payloads through the codec endpoint
// (#20), in a real browser: the temporal CLI's dev server with its UI, a
// sealed deployment (worker and API server) on it, and headless Chromium.
// Before an admin signs the browser in, the lease's page shows no tenant;
// a manager cannot sign in; the admin signs in at /codec/login and the
// page shows the tenant's address, every decode audited under their name;
// the session cookie sent from another origin is refused; after signing
// out the page shows no tenant again.
func TestWebUIOpensSealedPayloads(t *testing.T) {
	ctx := context.Background()
	const ns, lease, email = "sealedui", "L-e2e-webui", "webui.tenant@example.com"
	cli, err := filepath.Abs(filepath.Join("..", ".tools", "temporal"))
	require.NoError(t, err)
	if _, err := os.Stat(cli); err != nil {
		require.Empty(t, os.Getenv("E2E_REQUIRE_TEMPORAL_CLI"), "the temporal CLI is not at %s", cli)
		t.Skipf("no temporal CLI at %s: the Web UI comes with its dev server", cli)
	}
	browser := chromium(t)

	// The dev server with its Web UI, the browser reaching both it and the
	// API as localhost (one site: the UI's cross-origin call carries the cookie).
	address, uiPort := devServerWithUI(t, cli, ns)
	ui := "http://localhost:" + uiPort
	keys := "2026-12:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x7a}, 32))
	st := startIsolated(t, ns, "TEMPORAL_ADDRESS="+address, "DEPOSITS_PAYLOAD_KEYS="+keys, "DEPOSITS_CODEC_ORIGINS="+ui)
	defer st.stop()
	api := strings.Replace(st.server, "127.0.0.1", "localhost", 1)

	st.run("lease", "start", lease, "--property", "maple", "--unit", "7W", "--amount", "650",
		"--tenant-email", email, "--tenant-name", "Wanda Webui")
	c, err := client.Dial(client.Options{HostPort: address, Namespace: ns})
	require.NoError(t, err)
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "deposit-"+lease, "")
	require.NoError(t, err)
	require.NotContains(t, string(historyBytes(t, c, "deposit-"+lease)), email, "the history is sealed")
	page := fmt.Sprintf("%s/namespaces/%s/workflows/deposit-%s/%s/history", ui, ns, lease, desc.WorkflowExecutionInfo.Execution.RunId)

	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		require.NoError(t, chromedp.Do(sctx, steps...))
	}
	// showsAt says whether a page of the UI shows text within wait.
	showsAt := func(url, text string, wait time.Duration) bool {
		t.Helper()
		do(chromedp.Navigate(url))
		pctx, cancel := context.WithTimeout(browser, wait)
		defer cancel()
		_, err := chromedp.Run(pctx, chromedp.Poll[bool](fmt.Sprintf(`document.body.innerText.includes(%q)`, text),
			chromedp.WithPollingInterval(200*time.Millisecond)))
		return err == nil
	}
	shows := func(text string, wait time.Duration) bool { t.Helper(); return showsAt(page, text, wait) }
	signIn := func(token string) string {
		t.Helper()
		do(chromedp.Navigate(api+"/codec/login"), chromedp.WaitVisible(chromedp.CSS(`#token`)),
			chromedp.SendKeys(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`#sign-in`)),
			chromedp.WaitVisible(chromedp.CSS(`#signed-in, #error`)))
		body, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`body`)))
		require.NoError(t, err)
		return body
	}

	// The UI set to use the codec endpoint with the browser's cookies, as
	// an operator does in its Codec Server settings (kept in localStorage).
	settings := fmt.Sprintf(`localStorage.setItem("endpoint", %q); localStorage.setItem("includeCredentials", "true"); localStorage.setItem("overrideRemoteCodecConfiguration", "true"); true`,
		mustJSON(t, api+"/codec"))
	do(chromedp.Navigate(ui+"/namespaces/"+ns+"/workflows"), func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](settings)(ctx, tg)
		return chromedp.Void{}, err
	})
	// Before signing in the UI shows the sealed payload and says the codec refused it.
	require.True(t, shows("Codec Server could not connect", 30*time.Second), "the UI shows the lease, sealed")
	require.False(t, shows(`"amount_cents": 65000`, 3*time.Second), "before signing in, the UI opens nothing")

	// A token nobody has, and a manager, are not let in.
	body := signIn("dfu_" + strings.Repeat("x", 43))
	require.Contains(t, body, "signs no one in")
	body = signIn(st.manager)
	require.Contains(t, body, "Only an admin")
	require.False(t, shows(`"amount_cents": 65000`, 3*time.Second))

	// The admin signs the browser in: the page shows the tenant.
	body = signIn(st.admin)
	require.Contains(t, body, ns+"-admin")
	require.Contains(t, body, api+"/codec")
	require.True(t, shows(`"amount_cents": 65000`, 30*time.Second), "signed in, the UI opens the lease's input")
	// The tenant's address is in the event that loaded the lease: its page in the UI shows it.
	eventPage := fmt.Sprintf("%s/events/%d", page, eventWith(t, c, "deposit-"+lease, email, st.server, st.admin))
	if !showsAt(eventPage, email, 30*time.Second) {
		txt, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("signed in, the UI shows no tenant's address at %s:\n%s", eventPage, txt)
	}
	screenshot(t, browser, "webui-decoded.png")

	// The cookie is for /codec only, HttpOnly, and from another origin refused.
	cookies, err := chromedp.Run(browser, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{api + "/codec/decode"}})
	})
	require.NoError(t, err)
	var session string
	for _, ck := range cookies.Cookies {
		if ck.Name == "deposits_codec" {
			require.True(t, ck.HTTPOnly)
			require.Equal(t, "/codec", ck.Path)
			session = ck.Value
		}
	}
	require.NotEmpty(t, session, "the browser keeps the session")
	sealed := sealedPayloadsJSON(t, historyBytes(t, c, "deposit-"+lease))
	for origin, want := range map[string]int{"http://evil.example": 403, ui: 200} {
		status, out, opened := decodeThrough(t, st.server, sealed, func(req *http.Request) {
			req.Header.Set("Origin", origin)
			req.AddCookie(&http.Cookie{Name: "deposits_codec", Value: session})
		})
		require.Equal(t, want, status, "%s: %s", origin, out)
		if want == 403 {
			require.Contains(t, string(out), "cross_site")
			require.Empty(t, opened)
		} else {
			require.Contains(t, string(opened), email)
		}
	}

	// Every use audited under the admin's name; the manager's refusal too.
	count := func(sql string, args ...any) (n int) {
		require.NoError(t, st.db.QueryRow(ctx, sql, args...).Scan(&n))
		return n
	}
	require.Positive(t, count(`SELECT count(*) FROM audit_log WHERE action = 'payloads.decode' AND actor = $1 AND accepted`, ns+"-admin"))
	require.Equal(t, 1, count(`SELECT count(*) FROM audit_log WHERE action = 'payloads.login' AND actor = $1 AND accepted`, ns+"-admin"))
	require.Equal(t, 1, count(`SELECT count(*) FROM audit_log WHERE action = 'payloads.login' AND actor = $1 AND NOT accepted`, ns+"-manager"))
	require.Equal(t, 1, count(`SELECT count(*) FROM audit_log WHERE action = 'POST /codec/{op}' AND NOT accepted AND actor = $1`, ns+"-admin"))

	// Signed out, the page shows no tenant again, and the old cookie opens nothing.
	do(chromedp.Navigate(api+"/codec/login"), chromedp.Click(chromedp.CSS(`#sign-out`)), chromedp.WaitVisible(chromedp.CSS(`#token`)))
	require.False(t, shows(`"amount_cents": 65000`, 5*time.Second), "signed out, the UI opens nothing")
	require.False(t, showsAt(eventPage, email, 5*time.Second), "signed out, the UI shows no tenant")
	require.Equal(t, 1, count(`SELECT count(*) FROM codec_sessions WHERE ended_at IS NOT NULL`))
}

// devServerWithUI starts the temporal CLI's dev server with its Web UI and
// namespace ns, stopped at the test's end; it returns the frontend's
// address and the UI's port.
func devServerWithUI(t *testing.T, cli, ns string) (address, uiPort string) {
	t.Helper()
	address, err := freeAddr()
	require.NoError(t, err)
	uiAddr, err := freeAddr()
	require.NoError(t, err)
	host, port, _ := net.SplitHostPort(address)
	_, uiPort, _ = net.SplitHostPort(uiAddr)
	tmp := t.TempDir()
	logFile, err := os.Create(filepath.Join(tmp, "temporal.log"))
	require.NoError(t, err)
	cmd := exec.Command(cli, "server", "start-dev", "--ip", host, "--port", port, "--ui-port", uiPort,
		"--namespace", ns, "--db-filename", filepath.Join(tmp, "temporal.db"), "--log-level", "error")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	diesWithUs(cmd)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
	})
	require.Eventually(t, func() bool {
		c, err := client.Dial(client.Options{HostPort: address, Namespace: ns})
		if err != nil {
			return false
		}
		defer c.Close()
		_, err = c.CheckHealth(context.Background(), &client.CheckHealthRequest{})
		if err != nil {
			return false
		}
		resp, err := http.Get("http://" + uiAddr + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, 60*time.Second, 200*time.Millisecond, "the dev server and its UI come up")
	return address, uiPort
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// eventWith is the ID of the first event of a workflow's history whose
// payloads, opened through the codec endpoint as admin, hold text.
func eventWith(t *testing.T, c client.Client, workflowID, text, server, admin string) int64 {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		raw, err := proto.Marshal(&historypb.History{Events: []*historypb.HistoryEvent{e}})
		require.NoError(t, err)
		sealed := sealedPayloadsJSON(t, raw)
		if len(sealed) == 0 {
			continue
		}
		status, out, opened := decodeThrough(t, server, sealed, func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+admin) })
		require.Equal(t, http.StatusOK, status, "%s", out)
		if bytes.Contains(opened, []byte(text)) {
			return e.EventId
		}
	}
	t.Fatalf("no event of %s holds %q", workflowID, text)
	return 0
}

// decodeThrough posts payloads to server's codec endpoint as the Web UI
// does, with the credential set adds, and returns the status, the body and
// the opened payloads' data, one after the other.
func decodeThrough(t *testing.T, server string, payloads []any, set func(*http.Request)) (int, []byte, []byte) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"payloads": payloads})
	require.NoError(t, err)
	req, err := http.NewRequest("POST", server+"/codec/decode", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	set(req)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var opened struct {
		Payloads []struct {
			Data []byte `json:"data"`
		} `json:"payloads"`
	}
	var data []byte
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(out, &opened))
		for _, p := range opened.Payloads {
			data = append(data, p.Data...)
		}
	}
	return resp.StatusCode, out, data
}
