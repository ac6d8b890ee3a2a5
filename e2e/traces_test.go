package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// span is one span a collector received, with its service.
type span struct {
	service, name, trace, id, parent string
	attrs                            string // every attribute, key=value
}

// otlpReceiver is an OTLP/HTTP trace collector (protobuf, as the
// OpenTelemetry SDK exports by default) that keeps what it receives.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	b, err := io.ReadAll(body)
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	if err != nil || r.URL.Path != "/v1/traces" {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				var attrs []string
				for _, a := range s.Attributes {
					attrs = append(attrs, a.Key+"="+a.GetValue().GetStringValue())
				}
				o.spans = append(o.spans, span{service: service, name: s.Name, trace: hex.EncodeToString(s.TraceId),
					id: hex.EncodeToString(s.SpanId), parent: hex.EncodeToString(s.ParentSpanId), attrs: strings.Join(attrs, " ")})
			}
		}
	}
	b, _ = proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// names are the names and services of every span received.
func (o *otlpReceiver) names() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, s := range o.spans {
		out = append(out, s.service+":"+s.name)
	}
	return out
}

// trace is every span received of the trace the named span is in.
func (o *otlpReceiver) trace(name string) []span {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := ""
	for _, s := range o.spans {
		if s.name == name {
			id = s.trace
		}
	}
	var out []span
	for _, s := range o.spans {
		if id != "" && s.trace == id {
			out = append(out, s)
		}
	}
	return out
}

// One trace follows a lease from the API request that starts it, through
// the Temporal client's start, the workflow task, the activities, their SQL
// and the SMTP send, across the API server and the worker, exported over
// OTLP to a real collector endpoint (#20, item 5).
func TestOneTraceFromTheAPIToTheEmail(t *testing.T) {
	collector := &otlpReceiver{}
	srv := httptest.NewServer(collector)
	defer srv.Close()
	st := startIsolated(t, "traced", "OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL, "OTEL_BSP_SCHEDULE_DELAY=200")
	defer st.stop()

	const lease = "L-e2e-traced"
	st.run("lease", "start", lease, "--property", "maple", "--unit", "9T", "--amount", "450", "--tenant-email", "traced@example.com")
	waitMail(t, lease, 1) // the deposit request

	want := map[string]string{
		"POST /v1/leases":               "deposits-serve",  // the API request
		"StartWorkflow:DepositWorkflow": "deposits-serve",  // the Temporal client's start
		"StartActivity:SendEmail":       "deposits-worker", // scheduled by the workflow task
		"RunActivity:SendEmail":         "deposits-worker", // the activity
		"smtp.send":                     "deposits-worker", // the SMTP send
	}
	var got []span
	ok := assert.Eventually(t, func() bool {
		got = collector.trace("POST /v1/leases")
		seen := map[string]string{}
		for _, s := range got {
			seen[s.name] = s.service
		}
		for name, service := range want {
			if seen[name] != service {
				return false
			}
		}
		return true
	}, 20*time.Second, 200*time.Millisecond, "one trace from the request to the email")
	if !ok {
		t.Fatalf("the request's trace: %v\nevery span received: %v", got, collector.names())
	}

	// Every span hangs from the request's: through the trace's own spans,
	// or from the workflow's span (RunWorkflow), which is exported only when
	// the lease's workflow ends, weeks later; it is the start's child.
	ids := map[string]bool{}
	sqlBy := map[string]int{}
	for _, s := range got {
		ids[s.id] = true
	}
	open := map[string]bool{}
	for _, s := range got {
		if s.parent != "" && !ids[s.parent] {
			require.Equal(t, "deposits-worker", s.service, "span %s has a parent outside the trace", s.name)
			require.True(t, strings.HasPrefix(s.name, "StartActivity:"),
				"span %s hangs from %s, which is not the workflow's", s.name, s.parent)
			open[s.parent] = true
		}
		if strings.HasPrefix(s.name, "query") || strings.Contains(strings.ToLower(s.name), "select") || strings.Contains(strings.ToLower(s.name), "insert") {
			sqlBy[s.service]++
		}
	}
	require.Len(t, open, 1, "one workflow span, still open, under the start")
	require.Positive(t, sqlBy["deposits-serve"], "the API's SQL: %v", got)
	require.Positive(t, sqlBy["deposits-worker"], "the worker's SQL: %v", got)
	// A tenant's or a manager's link is a credential: its page is not
	// traced, so no span carries the token of its path.
	const token = "c2VjcmV0LXRlbmFudC1saW5r.bm90LWEtc2lnbmF0dXJl"
	for _, page := range []string{"/t/", "/m/"} { // a tenant's page, a manager's link
		resp, err := http.Get(st.server + page + token)
		require.NoError(t, err)
		resp.Body.Close()
	}
	st.run("status", lease) // a traced request after it, to flush behind
	require.Eventually(t, func() bool { return len(collector.trace("GET /v1/leases/{lease_id}")) > 0 }, 10*time.Second, 100*time.Millisecond)
	collector.mu.Lock()
	received := append([]span(nil), collector.spans...)
	collector.mu.Unlock()
	for _, s := range received {
		require.NotContains(t, s.attrs+s.name, token, "span %s", s.name)
	}

	t.Logf("one trace: %d spans, %d SQL in the API, %d in the worker", len(got), sqlBy["deposits-serve"], sqlBy["deposits-worker"])
}
