package observe

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestMetricsAreServed(t *testing.T) {
	addr := freeAddr(t)
	h, closer, err := Metrics(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	h.WithTags(map[string]string{"outcome": "refunded"}).Counter("deposit_settled").Inc(2)
	const want = `deposit_settled_total{outcome="refunded"} 2`
	var body string
	for i := 0; i < 50 && !strings.Contains(body, want); i++ {
		time.Sleep(100 * time.Millisecond) // the scope reports every second
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
	}
	if !strings.Contains(body, want) {
		t.Fatalf("metrics page lacks the counter:\n%s", body)
	}
}

func TestLeaseIDOnEveryLineAboutALease(t *testing.T) {
	var buf bytes.Buffer
	l := Logger(&buf, "json", slog.LevelInfo)
	l.With("WorkflowID", "deposit-L-100").Info("from a workflow logger")
	l.Info("from an activity", "WorkflowID", "deposit-L-7", "ActivityType", "SendEmail")
	l.Info("already has it", "lease_id", "L-9", "WorkflowID", "deposit-L-9")
	l.Info("not about a lease")
	var leases []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		lease, _ := m["lease_id"].(string)
		leases = append(leases, lease)
	}
	if strings.Join(leases, ",") != "L-100,L-7,L-9," {
		t.Fatalf("lease_id per line = %q\n%s", leases, buf.String())
	}
	if strings.Count(buf.String(), `"lease_id"`) != 3 {
		t.Fatalf("lease_id written twice somewhere:\n%s", buf.String())
	}
}
