package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBenchTopology is the bench's topology column alone (make
// bench-topology; make bench runs it too): BENCH_TOPOLOGY_LEASES (300),
// BENCH_TOPOLOGY_EVENTS (200), BENCH_TOPOLOGY_IDLE (1000); the figures in
// BENCH_OUT/topology.json.
func TestBenchTopology(t *testing.T) {
	if os.Getenv("BENCH") == "" {
		t.Skip("make bench-topology runs it (BENCH=1)")
	}
	cols := benchTopologies(t, envInt("BENCH_TOPOLOGY_LEASES", 300), envInt("BENCH_TOPOLOGY_EVENTS", 200), envInt("BENCH_TOPOLOGY_IDLE", 1000))
	dir := os.Getenv("BENCH_OUT")
	if dir == "" {
		dir = filepath.Join("..", "bench")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	js, err := json.MarshalIndent(cols, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "topology.json"), js, 0o644))
}

// topologyColumn is one deployment's figures in the bench's topology
// table (make bench; bench/README.md reads them).
type topologyColumn struct {
	Name                string             `json:"name"`
	LeasesPerSecond1W   float64            `json:"leases_per_second_1_worker"`
	LeasesPerSecond2W   float64            `json:"leases_per_second_2_workers"`
	TwoWorkerRatio      float64            `json:"two_worker_ratio"`
	APILatencyP99       float64            `json:"api_event_latency_p99_s"`
	APILatencyP50       float64            `json:"api_event_latency_p50_s"`
	IdleStartsPerSec    float64            `json:"idle_starts_per_second"`
	CoresByProcess      map[string]float64 `json:"cores_by_process_1_worker"`
	CoresByProcess2W    map[string]float64 `json:"cores_by_process_2_workers"`
	ServerProfileTop    []string           `json:"server_profile_top,omitempty"`
	WorkerProfileTop    []string           `json:"worker_profile_top,omitempty"`
	TemporalPersistence string             `json:"temporal_persistence"`
}

// benchTopologies measures the lifecycle throughput with one worker and
// with two, the HTTP API's event latency and idle-lease starts per second
// on the suite's dev server and on the production topology (temporal-server
// on PostgreSQL with mutual TLS, API servers over HTTPS), and what each
// process spends of the two cores meanwhile, with a CPU profile of the
// Temporal server and of a worker where they have one.
func benchTopologies(t *testing.T, n, events, idle int) []topologyColumn {
	var cols []topologyColumn

	// The suite's dev server: its worker, and a second one for the ratio.
	dev := topologyColumn{Name: "dev server", TemporalPersistence: temporalPersistence}
	devProcs := func(workers ...*workerProc) map[string]int {
		m := map[string]int{"test driver": os.Getpid()}
		if temporalServer != nil {
			m["temporal"] = temporalServer.Process.Pid
		}
		for i, w := range workers {
			m[fmt.Sprintf("worker %d", i+1)] = w.cmd.Process.Pid
		}
		return m
	}
	st := suiteStack()
	dev.LeasesPerSecond1W, dev.CoresByProcess = measureLifecycles(t, st, "bench", "dev 1w", n, devProcs(theWorker))
	second, err := startWorker(mustFreeAddr(t), filepath.Join(t.TempDir(), "worker-2.log"))
	require.NoError(t, err)
	dev.LeasesPerSecond2W, dev.CoresByProcess2W = measureLifecycles(t, st, "bench", "dev 2w", n, devProcs(theWorker, second))
	second.stop()
	dev.TwoWorkerRatio = dev.LeasesPerSecond2W / dev.LeasesPerSecond1W
	url := startServe(t)
	key := strings.TrimSpace(must(t, "apikey", "create", "--name", fmt.Sprint("bench-topo-", time.Now().UnixNano()), "--all-properties"))
	dev.APILatencyP50, dev.APILatencyP99 = apiLatency(t, st, url, http.DefaultClient, key, events)
	dev.IdleStartsPerSec = idleStarts(t, st, idle)
	cols = append(cols, dev)

	// The production topology: two workers and two API servers; one
	// worker is stopped for the one-worker figure.
	topo := startTopology(t, t.TempDir())
	defer topo.stop()
	pg := topologyColumn{Name: "temporal-server on PostgreSQL, mTLS", TemporalPersistence: "PostgreSQL (temporal-server " + "v1.32.1, its own process)"}
	tst := benchStack{pool: topo.db, temporal: topo.temporal}
	topo.workers[1].stop()
	pgProcs := func(workers ...*workerProc) map[string]int {
		m := map[string]int{"test driver": os.Getpid(), "temporal": topo.serverPid}
		for i, w := range workers {
			m[fmt.Sprintf("worker %d", i+1)] = w.cmd.Process.Pid
		}
		return m
	}
	pg.LeasesPerSecond1W, pg.CoresByProcess = measureLifecycles(t, tst, "bench", "pg 1w", n, pgProcs(topo.workers[0]))
	again, err := startWorkerWith(append(append([]string(nil), topo.env...), "PPROF_ADDRESS="+mustFreeAddr(t)), mustFreeAddr(t), filepath.Join(t.TempDir(), "worker-again.log"))
	require.NoError(t, err)
	defer again.stop()
	// A CPU profile of the server and of a worker over the two-worker run.
	var profiles sync.WaitGroup
	profiles.Add(2)
	go func() {
		defer profiles.Done()
		pg.ServerProfileTop = profileTop(t, "http://"+topo.pprof, "temporal-server", 10*time.Second)
	}()
	go func() {
		defer profiles.Done()
		pg.WorkerProfileTop = profileTop(t, "http://"+envValue(again.cmd.Env, "PPROF_ADDRESS"), "worker", 10*time.Second)
	}()
	pg.LeasesPerSecond2W, pg.CoresByProcess2W = measureLifecycles(t, tst, "bench", "pg 2w", n, pgProcs(topo.workers[0], again))
	profiles.Wait()
	pg.TwoWorkerRatio = pg.LeasesPerSecond2W / pg.LeasesPerSecond1W
	apiKey := strings.TrimSpace(topo.must(t, "apikey", "create", "--name", "bench-topo", "--all-properties"))
	pg.APILatencyP50, pg.APILatencyP99 = apiLatency(t, tst, topo.servers[0], topo.httpsClient(t), apiKey, events)
	pg.IdleStartsPerSec = idleStarts(t, tst, idle)
	cols = append(cols, pg)

	var b strings.Builder
	fmt.Fprintf(&b, "\n%-34s %-22s %s\n", "TOPOLOGY", cols[0].Name, cols[1].Name)
	row := func(what string, f func(c topologyColumn) string) {
		fmt.Fprintf(&b, "%-34s %-22s %s\n", what, f(cols[0]), f(cols[1]))
	}
	row("lifecycles/s, 1 worker", func(c topologyColumn) string { return fmt.Sprintf("%.1f", c.LeasesPerSecond1W) })
	row("lifecycles/s, 2 workers", func(c topologyColumn) string { return fmt.Sprintf("%.1f", c.LeasesPerSecond2W) })
	row("2 workers / 1", func(c topologyColumn) string { return fmt.Sprintf("%.2f", c.TwoWorkerRatio) })
	row("API event latency p50 / p99 (s)", func(c topologyColumn) string { return fmt.Sprintf("%.3f / %.3f", c.APILatencyP50, c.APILatencyP99) })
	row("idle-lease starts/s", func(c topologyColumn) string { return fmt.Sprintf("%.1f", c.IdleStartsPerSec) })
	row("cores used, 1 worker", func(c topologyColumn) string { return cores(c.CoresByProcess) })
	fmt.Print(b.String())
	for _, c := range cols {
		fmt.Printf("%s cores by process, 1 worker: %v; 2 workers: %v\n", c.Name, c.CoresByProcess, c.CoresByProcess2W)
		if len(c.ServerProfileTop) > 0 {
			fmt.Printf("%s: the Temporal server's CPU profile, top:\n  %s\n", c.Name, strings.Join(c.ServerProfileTop, "\n  "))
			fmt.Printf("%s: a worker's CPU profile, top:\n  %s\n", c.Name, strings.Join(c.WorkerProfileTop, "\n  "))
		}
	}
	return cols
}

// measureLifecycles runs n lifecycles on st and returns lifecycles per
// second and the cores each named process used meanwhile (PostgreSQL's
// processes summed as "postgres").
func measureLifecycles(t *testing.T, st benchStack, property, what string, n int, procs map[string]int) (float64, map[string]float64) {
	ctx := context.Background()
	before, t0 := cpuSeconds(procs), time.Now()
	rate := throughput(t, n, what, func(i int) error {
		return st.lease(ctx, property, fmt.Sprintf("L-%s-%d-%d", strings.ReplaceAll(what, " ", ""), time.Now().UnixNano(), i))
	})
	after, wall := cpuSeconds(procs), time.Since(t0).Seconds()
	used := map[string]float64{}
	for k, v := range after {
		used[k] = float64(int((v-before[k])/wall*100+0.5)) / 100
	}
	return rate, used
}

// cpuSeconds is the CPU time (user and system) each process has used, and
// all of PostgreSQL's processes together.
func cpuSeconds(procs map[string]int) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range procs {
		out[name] = procCPU(pid)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "postgres" {
			out["postgres"] += procCPU(pid)
		}
	}
	return out
}

// procCPU reads utime and stime from /proc/PID/stat, in seconds.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command's closing parenthesis: state is 3rd, utime 14th, stime 15th.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(fields[11], 64)
	s, _ := strconv.ParseFloat(fields[12], 64)
	return (u + s) / 100 // USER_HZ is 100 on Linux
}

func cores(m map[string]float64) string {
	total := 0.0
	for _, v := range m {
		total += v
	}
	return fmt.Sprintf("%.2f", total)
}

// apiLatency posts n payments to leases through an API server and times
// each until the lease's workflow shows it; p50 and p99 in seconds.
func apiLatency(t *testing.T, st benchStack, url string, hc *http.Client, key string, n int) (float64, float64) {
	ctx := context.Background()
	start := func(lease string) {
		_, _, err := st.start(ctx, "bench", lease, 259200, 1209600)
		require.NoError(t, err)
	}
	lat := paymentLatency(t, ctx, st, "latency topo", n, 200, start, func(lease string, i int) {
		body := fmt.Sprintf(`{"payment_id":"E%d","transaction_date":%q,"amount_in_cents":1}`, i, time.Now().Format(time.DateOnly))
		req, err := http.NewRequest("POST", url+"/v1/leases/"+lease+"/payments", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 201, resp.StatusCode, string(answer))
	})
	return lat[0], lat[2]
}

// idleStarts starts n leases that wait for their move-out on st, 32 at a
// time, paced to what the worker gets through: at most 400 started and not
// yet settled into their wait (request email sent; unpaced, 64 starters
// flooded the in-process server and the worker crawled, bench/README.md).
// It returns how many per second reached the wait.
func idleStarts(t *testing.T, st benchStack, n int) float64 {
	ctx := context.Background()
	prefix := fmt.Sprintf("L-idle-%d-", time.Now().UnixNano())
	sent := func() int {
		var c int
		require.NoError(t, st.pool.QueryRow(ctx, "SELECT count(*) FROM email_outbox WHERE lease_id LIKE $1 AND sent_at IS NOT NULL", prefix+"%").Scan(&c))
		return c
	}
	const idleWindow = 400
	start, done := time.Now(), 0
	for i := 0; i < n; {
		if i-done >= idleWindow {
			time.Sleep(100 * time.Millisecond)
			done = sent()
			continue
		}
		var wg sync.WaitGroup
		batch := min(32, n-i)
		for j := range batch {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				if _, _, err := st.start(ctx, "bench", fmt.Sprint(prefix, k), 259200, 1209600); err != nil {
					t.Errorf("idle %d: %v", k, err)
				}
			}(i + j)
		}
		wg.Wait()
		i += batch
		if i%max(n/10, 1) < batch {
			fmt.Printf("%-12s %s %d/%d started, %d waiting, %.0f/s\n", "idle", strings.Repeat("#", i*10/n)+strings.Repeat(".", 10-i*10/n),
				i, n, done, float64(done)/time.Since(start).Seconds())
		}
	}
	// Wait until every idle lease has charged its deposit and sent its request.
	deadline := time.Now().Add(time.Duration(n)*100*time.Millisecond + time.Minute)
	for time.Now().Before(deadline) && sent() < n {
		time.Sleep(200 * time.Millisecond)
	}
	rate := float64(n) / time.Since(start).Seconds()
	fmt.Printf("%-12s %d leases waiting for their move-out in %s: %.1f per second\n", "idle", n, time.Since(start).Round(time.Second), rate)
	return rate
}

// profileTop takes a CPU profile from a Go process's pprof endpoint, keeps
// it as BENCH_OUT/NAME.pprof and returns the top functions by flat CPU, as
// go tool pprof -top prints them.
func profileTop(t *testing.T, base, name string, d time.Duration) []string {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d.Seconds())))
	if err != nil {
		t.Logf("no profile from %s: %v", base, err)
		return nil
	}
	defer resp.Body.Close()
	dir := os.Getenv("BENCH_OUT")
	if dir == "" {
		dir = filepath.Join("..", "bench")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	f := filepath.Join(dir, name+".pprof")
	b, _ := io.ReadAll(resp.Body)
	require.NoError(t, os.WriteFile(f, b, 0o644))
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=12", f).CombinedOutput()
	if err != nil {
		t.Logf("go tool pprof: %v: %s", err, out)
		return nil
	}
	var top []string
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if strings.Contains(l, "flat%") {
			for _, r := range lines[i+1:] {
				if r = strings.TrimSpace(r); r != "" {
					top = append(top, r)
				}
			}
			break
		}
		if strings.HasPrefix(strings.TrimSpace(l), "Showing") || strings.HasPrefix(strings.TrimSpace(l), "Duration") {
			top = append(top, strings.TrimSpace(l))
		}
	}
	return top
}

// httpsClient trusts the topology's CA, as the CLI does through SSL_CERT_FILE.
func (tp *topology) httpsClient(t *testing.T) *http.Client {
	ca, err := os.ReadFile(filepath.Join(tp.certs, "ca.pem"))
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(ca))
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 8}}
}

func mustFreeAddr(t *testing.T) string {
	a, err := freeAddr()
	require.NoError(t, err)
	return a
}

// writeTopology adds the topology table to the bench's results.
func writeTopology(r map[string]any, cols []topologyColumn) {
	b, _ := json.Marshal(cols)
	var v any
	_ = json.Unmarshal(b, &v)
	r["topologies"] = v
}
