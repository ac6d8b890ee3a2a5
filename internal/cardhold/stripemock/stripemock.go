// Package stripemock runs stripe-mock (Stripe's API as a local server,
// make tools installs it into .tools) for the tests, behind a small
// reverse proxy that records each call: stripe-mock is stateless and
// answers with fixture objects, so a test checks the calls made (amounts,
// the capture's amount, idempotency keys) and what the activities wrote,
// not Stripe's side. The real stripe-mock answers every call.
package stripemock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Call is one request that reached stripe-mock.
type Call struct {
	Method, Path   string
	IdempotencyKey string
	Form           url.Values
	Authorization  string
	Status         int
}

// Mock is a running stripe-mock and its recorder.
type Mock struct {
	URL   string // the proxy's base URL: give it as STRIPE_API_BASE
	mu    sync.Mutex
	calls []Call
	// Fail, when set, answers a call with this status and error instead of
	// passing it on (a declined card, Stripe away).
	Fail func(Call) (status int, body string)
}

// Binary is where make tools puts stripe-mock, given the repository's
// root ("..", from the activities' package or e2e).
func Binary(repoRoot string) string {
	p, _ := filepath.Abs(filepath.Join(repoRoot, ".tools", "stripe-mock"))
	return p
}

// Start runs stripe-mock on a free port and a recording proxy in front of
// it, both stopped when the test ends. Without the binary the test is
// skipped, or fails where E2E_REQUIRE_TEMPORAL_CLI is set (CI, which runs
// make tools).
func Start(t testing.TB, bin string) *Mock {
	t.Helper()
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("E2E_REQUIRE_TEMPORAL_CLI") != "" {
			t.Fatalf("stripe-mock is not at %s: run make tools", bin)
		}
		t.Skipf("stripe-mock is not at %s: run make tools (card holds are tested against it)", bin)
	}
	m, stop, err := Run(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return m
}

// Run is Start for a set-up that outlives one test: stop ends it.
func Run(bin string) (m *Mock, stop func(), err error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	// Its HTTPS listener (on by default, port 12112) takes a free port too,
	// so that several can run at once.
	cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", "127.0.0.1:")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("stripe-mock: %v", err)
	}
	kill := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	if err := waitFor(addr, 60*time.Second); err != nil {
		kill()
		return nil, nil, fmt.Errorf("stripe-mock did not answer on %s: %v\n%s", addr, err, out.String())
	}
	m = &Mock{}
	target, _ := url.Parse("http://" + addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		c := Call{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: form, Authorization: r.Header.Get("Authorization")}
		if fail := m.failer(); fail != nil {
			if status, msg := fail(c); status != 0 {
				c.Status = status
				m.record(c)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = io.WriteString(w, msg)
				return
			}
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		c.Status = rec.status
		m.record(c)
	}))
	m.URL = srv.URL
	return m, func() { srv.Close(); kill() }, nil
}

// SetFail sets (or, nil, clears) Fail while calls may be running.
func (m *Mock) SetFail(f func(Call) (int, string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Fail = f
}

func (m *Mock) failer() func(Call) (int, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Fail
}

func (m *Mock) record(c Call) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, c)
}

// Calls are the calls so far, in order.
func (m *Mock) Calls() []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Call(nil), m.calls...)
}

// Reset forgets the calls so far.
func (m *Mock) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = nil
}

// Declined is Stripe's answer to a declined card, as the proxy gives it.
func Declined() (int, string) {
	return http.StatusPaymentRequired, `{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline","message":"Your card was declined."}}`
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitFor waits until stripe-mock answers a request.
func waitFor(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/payment_intents/pi_ready", nil)
		req.Header.Set("Authorization", "Bearer sk_test_ready")
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return errors.Join(err, fmt.Errorf("gave up after %s", within))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
