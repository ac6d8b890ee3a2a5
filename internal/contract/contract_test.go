package contract

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func load(t *testing.T) *Checker {
	t.Helper()
	c, err := Load("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func request(method, target, body, accept string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer dfk_test")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	return r
}

func jsonHeader(ct string) http.Header {
	return http.Header{"Content-Type": {ct}}
}

const who = `{"kind": "key", "name": "PMS-1", "roles": ["integration"], "properties": ["willow"]}`

const payment = `{"status": "recorded", "signalled": true, "lease_id": "L-1", "payment_id": "P-1", "id": 7}`

// The checker passes what the document says and fails each way of breaking
// it: it can fail, so a suite that runs through it clean means something.
func TestCheck(t *testing.T) {
	c := load(t)
	for _, tc := range []struct {
		name         string
		req          *http.Request
		body         string
		status       int
		header       http.Header
		resp         string
		wantProblems []string // each a part of one problem; none: the exchange keeps the contract
	}{
		{"documented", request("GET", "/v1/me", "", ""), "", 200, jsonHeader("application/json"), who, nil},
		{"a write", request("POST", "/v1/leases/L-1/payments", `{"payment_id": "P-1", "amount_in_cents": 100}`, ""), `{"payment_id": "P-1", "amount_in_cents": 100}`,
			201, jsonHeader("application/json"), payment, nil},
		{"an undocumented field", request("GET", "/v1/me", "", ""), "", 200, jsonHeader("application/json"),
			`{"kind": "key", "name": "PMS-1", "roles": ["integration"], "properties": ["willow"], "secret": "x"}`, []string{`"secret" is unsupported`}},
		{"a wrong type", request("GET", "/v1/me", "", ""), "", 200, jsonHeader("application/json"),
			`{"kind": "key", "name": 7, "roles": ["integration"], "properties": ["willow"]}`, []string{"the answer is not what the document says"}},
		{"a value outside the enum", request("GET", "/v1/me", "", ""), "", 200, jsonHeader("application/json"),
			`{"kind": "robot", "name": "PMS-1", "roles": ["integration"], "properties": ["willow"]}`, []string{"the answer is not what the document says"}},
		{"a missing required field", request("GET", "/v1/me", "", ""), "", 200, jsonHeader("application/json"),
			`{"kind": "key", "roles": ["integration"], "properties": ["willow"]}`, []string{`"name"`}},
		{"an undocumented status", request("GET", "/v1/me", "", ""), "", http.StatusTeapot, jsonHeader("application/json"),
			`{"error": {"code": "tea", "message": "no"}}`, []string{"status is not supported"}},
		{"an undocumented content type", request("GET", "/v1/me", "", ""), "", 200, jsonHeader("text/plain"), "me", []string{"Content-Type"}},
		{"a refused request accepted", request("POST", "/v1/leases/L-1/payments", `{"amount_in_cents": 100, "tip": 5}`, ""), `{"amount_in_cents": 100, "tip": 5}`,
			201, jsonHeader("application/json"), payment, []string{"the document refuses the request"}},
		{"a refused request refused", request("POST", "/v1/leases/L-1/payments", `{"amount_in_cents": 100, "tip": 5}`, ""), `{"amount_in_cents": 100, "tip": 5}`,
			400, jsonHeader("application/json"), `{"error": {"code": "unknown_field", "message": "unknown field \"tip\"", "field": "tip"}}`, nil},
		{"an undocumented query parameter", request("GET", "/v1/me?verbose=1", "", ""), "", 200, jsonHeader("application/json"), who, []string{"undocumented query parameters verbose"}},
		{"a documented request refused as malformed", request("POST", "/v1/leases/L-1/payments", `{"amount_in_cents": 100}`, ""), `{"amount_in_cents": 100}`,
			400, jsonHeader("application/json"), `{"error": {"code": "wrong_type", "message": "no"}}`, []string{"refused it as malformed"}},
		{"problem details asked for and given", request("GET", "/v1/me", "", "application/problem+json"), "", 401, jsonHeader(ProblemJSON),
			`{"type": "urn:depositflow:problem:unauthenticated", "title": "Unauthenticated", "status": 401, "detail": "no", "code": "unauthenticated", "request_id": "ab"}`, nil},
		{"problem details asked for, not given", request("GET", "/v1/me", "", "application/problem+json"), "", 401, jsonHeader("application/json"),
			`{"error": {"code": "unauthenticated", "message": "no"}}`, []string{"want application/problem+json"}},
		{"problem details not asked for", request("GET", "/v1/me", "", "application/json"), "", 401, jsonHeader(ProblemJSON),
			`{"type": "urn:depositflow:problem:unauthenticated", "title": "Unauthenticated", "status": 401, "detail": "no", "code": "unauthenticated", "request_id": "ab"}`,
			[]string{"want application/json"}},
		{"an undocumented route refused", request("POST", "/v1/leases/L-1/no-such-thing", "{}", ""), "{}", 404, jsonHeader("application/json"),
			`{"error": {"code": "not_found", "message": "no such route"}}`, nil},
		{"an undocumented route answered", request("POST", "/v1/leases/L-1/no-such-thing", "{}", ""), "{}", 200, jsonHeader("application/json"), `{}`,
			[]string{"the route is not documented"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := c.Check(tc.req, []byte(tc.body), tc.status, tc.header, []byte(tc.resp))
			if len(tc.wantProblems) == 0 && len(problems) > 0 {
				t.Fatalf("want none, got %q", problems)
			}
			for _, want := range tc.wantProblems {
				found := false
				for _, p := range problems {
					found = found || strings.Contains(p, want)
				}
				if !found {
					t.Errorf("want a problem with %q, got %q", want, problems)
				}
			}
		})
	}
}

// The proxy passes an exchange on unchanged and keeps its breaches.
func TestProxyKeepsBreaches(t *testing.T) {
	c := load(t)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/me" {
			_, _ = io.WriteString(w, `{"kind": "key", "name": "PMS-1", "roles": ["integration"], "properties": ["willow"], "extra": true}`)
			return
		}
		_, _ = io.WriteString(w, `{"status": "ok"}`)
	}))
	defer server.Close()
	h, err := c.Proxy(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(h)
	defer proxy.Close()
	for _, path := range []string{"/healthz", "/v1/me"} {
		req, _ := http.NewRequest("GET", proxy.URL+path, nil)
		req.Header.Set("Authorization", "Bearer dfk_test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"`) {
			t.Fatalf("%s through the proxy: %d %s", path, resp.StatusCode, b)
		}
	}
	breaches, n := c.Breaches(0)
	if n != 1 || len(breaches) != 1 || breaches[0].Target != "/v1/me" || !strings.Contains(breaches[0].String(), `"extra" is unsupported`) {
		t.Fatalf("want one breach of /v1/me, got %d: %v", n, breaches)
	}
	if later, _ := c.Breaches(n); len(later) != 0 {
		t.Fatalf("breaches after the last: %v", later)
	}
}

func TestWantsProblem(t *testing.T) {
	for accept, want := range map[string]bool{
		"": false, "application/json": false, "*/*": false, "application/problem+json": true,
		"application/json, application/problem+json": true, "application/problem+json;q=0.5, application/json": false,
		"application/problem+json;q=0": false, "text/html, application/problem+json;q=0.9": true,
	} {
		if got := WantsProblem(accept); got != want {
			t.Errorf("WantsProblem(%q) = %v", accept, got)
		}
	}
}
