package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The worker's metrics count what the deposits did, and its log lines about
// a lease carry the lease ID.
func TestWorkerMetricsAndLogs(t *testing.T) {
	lease := "L-e2e-watch"
	must(t, "lease", "start", lease, "--property", "elm", "--unit", "1", "--amount", "100",
		"--tenant-email", "w@example.com", "--assess-for", "1s", "--release-after", "1s")
	must(t, "payment", "record", lease, "--amount", "100", "--ref", "W")
	refusedWith(t, "no move-out yet", "keep", lease, "--amount", "1", "--reason", "early")
	must(t, "moveout", lease, "--date", now())
	waitClosed(t, lease)
	waitMail(t, lease, 4)

	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get(metricsURL)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return metric(body, "deposit_settled_total", `outcome="refunded"`) >= 1 && metric(body, "deposit_emails_sent_total", `kind="refund"`) >= 1
	}, 10*time.Second, 200*time.Millisecond, "metrics lack the deposit counters")
	require.GreaterOrEqual(t, metric(body, "deposit_held_total", ""), 1.0)
	require.GreaterOrEqual(t, metric(body, "deposit_refunds_issued_total", ""), 1.0)
	require.GreaterOrEqual(t, metric(body, "deposit_refunded_cents_total", ""), 10000.0)
	require.GreaterOrEqual(t, metric(body, "deposit_refusals_total", `decision="keep"`), 1.0)
	require.GreaterOrEqual(t, metric(body, "temporal_workflow_completed_total", ""), 1.0)

	f, err := os.Open(workerLog)
	require.NoError(t, err)
	defer f.Close()
	lines := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m["WorkflowID"] == "deposit-"+lease {
			lines++
			require.Equal(t, lease, m["lease_id"], "line about the lease without lease_id: %s", sc.Text())
		}
	}
	require.Greater(t, lines, 3, "no log lines about the lease")
}

// metric sums the samples of a Prometheus metric whose labels contain label.
func metric(body, name, label string) float64 {
	var sum float64
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, name+"{") || !strings.Contains(l, label) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(l[strings.LastIndex(l, " ")+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}
