package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/pgcluster"
	"github.com/depositflow/depositflow/workflows"
)

// The production topology (#20): the real Temporal server
// (go.temporal.io/server's own temporal-server binary, every service in one
// process) with its persistence and visibility in PostgreSQL, its schemas
// set up by the server's own temporal-sql-tool; two `deposits worker` and
// two `deposits serve` processes in front of it. Leases are driven through
// both servers while one worker and one server are SIGKILLed: every lease
// closes as planned, once, with every email once and every cent conserved.
func TestProductionTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the Temporal server")
	}
	ctx := context.Background()
	tmp := t.TempDir()
	began := time.Now()
	topo := startTopology(t, tmp)
	defer topo.stop()
	t.Logf("topology up in %s", time.Since(began).Round(time.Second))

	n := envInt("TOPOLOGY_LEASES", 24)
	rng := rand.New(rand.NewPCG(20, 26))
	plans := make([]chaosPlan, n)
	for i := range plans {
		plans[i] = newChaosPlan(rng, i)
		plans[i].lease = fmt.Sprintf("L-topo-%03d", i)
	}

	// Half-way through the driving, one worker and one server die.
	var driven sync.WaitGroup
	driven.Add(n / 2)
	killed := make(chan struct{})
	go func() {
		driven.Wait()
		topo.workers[0].kill()
		topo.killServer(0)
		close(killed)
	}()
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				for _, args := range plans[i].commands() {
					if err := topo.persist(i, args); err != nil {
						t.Errorf("lease %s: %v", plans[i].lease, err)
						break
					}
				}
				if i < n/2 {
					driven.Done()
				}
			}
		}()
	}
	for i := range plans {
		work <- i
	}
	close(work)
	wg.Wait()
	<-killed
	t.Logf("%d leases driven, one worker and one server killed, at %s", n, time.Since(began).Round(time.Second))

	// Every lease closes on the surviving worker, as planned.
	require.Eventually(t, func() bool {
		var closed, mailed int64
		require.NoError(t, topo.db.QueryRow(ctx, "SELECT count(*) FILTER (WHERE stage = 'closed') FROM leases WHERE lease_id LIKE 'L-topo-%'").Scan(&closed))
		require.NoError(t, topo.db.QueryRow(ctx, "SELECT count(*) FROM email_outbox WHERE lease_id LIKE 'L-topo-%' AND sent_at IS NOT NULL").Scan(&mailed))
		return closed == int64(n) && mailed == int64(4*n)
	}, 5*time.Minute, time.Second, "every lease closes and sends its four emails")
	wrong := 0
	var received, refunded, owed int64
	for _, p := range plans {
		var s deposit.State
		require.NoError(t, topo.temporal.GetWorkflow(ctx, workflows.WorkflowID(p.lease), "").Get(ctx, &s), p.lease)
		if s.Outcome != p.outcome || s.RefundCents != p.refund || s.BalanceOwedCents != p.owed {
			wrong++
			t.Errorf("lease %s: outcome %s refund %d owed %d; planned %s refund %d owed %d", p.lease, s.Outcome, s.RefundCents, s.BalanceOwedCents, p.outcome, p.refund, p.owed)
		}
		received, refunded, owed = received+p.paid, refunded+p.refund, owed+p.owed
	}
	var settlements, dbReceived, dbRefunded, dbOwed int64
	require.NoError(t, topo.db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM settlements WHERE lease_id LIKE 'L-topo-%'),
		(SELECT COALESCE(sum(received_cents), 0) FROM settlements WHERE lease_id LIKE 'L-topo-%'),
		(SELECT COALESCE(sum(amount_in_cents), 0) FROM refunds WHERE lease_id LIKE 'L-topo-%'),
		(SELECT COALESCE(sum(amount_due_in_cents), 0) FROM invoices WHERE lease_id LIKE 'L-topo-%')`).Scan(&settlements, &dbReceived, &dbRefunded, &dbOwed))
	require.EqualValues(t, n, settlements, "one settlement per lease")
	require.Equal(t, received, dbReceived)
	require.Equal(t, refunded, dbRefunded)
	require.Equal(t, owed, dbOwed)

	// Every email once by Message-ID; a copy only where the outbox counted an attempt in doubt.
	inDoubt := map[string]int{}
	rows, err := topo.db.Query(ctx, "SELECT '<' || message_id || '>', attempts_in_doubt FROM email_outbox WHERE lease_id LIKE 'L-topo-%'")
	require.NoError(t, err)
	for rows.Next() {
		var id string
		var d int
		require.NoError(t, rows.Scan(&id, &d))
		inDoubt[id] = d
	}
	require.NoError(t, rows.Err())
	seen := map[string]int{}
	duplicated, redelivered := 0, 0
	for _, m := range sink.Messages() {
		h, err := m.Header()
		require.NoError(t, err)
		id := h.Get("Message-Id")
		if !strings.Contains(id, "deposit-L-topo-") {
			continue
		}
		if seen[id]++; seen[id] > 1 {
			if seen[id]-1 <= inDoubt[id] {
				redelivered++
			} else {
				duplicated++
			}
		}
	}
	require.Len(t, seen, 4*n)

	// The surviving server counted what it answered, by route and status.
	resp, err := http.Get(topo.apiMetrics[1])
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), `deposits_api_requests_total{route="POST__v1_leases__lease_id__payments",status="201"}`)
	require.Contains(t, string(body), "deposits_api_request_latency_seconds_bucket")
	require.Zero(t, duplicated)
	require.Zero(t, wrong)
	t.Logf("topology: temporal-server on PostgreSQL, 2 workers, 2 servers, 1 worker and 1 server SIGKILLed: leases=%d closed=%d duplicated=%d redelivered=%d wrong=%d conserved=yes",
		n, n, duplicated, redelivered, wrong)
}

// topology is a Temporal server on PostgreSQL with two workers and two
// API servers of depositflow, on a database of their own.
type topology struct {
	env        []string // the admin commands' environment
	servers    []string // the API servers' URLs; "" once killed
	apiMetrics []string // their Prometheus endpoints
	kills      []func()
	stops      []func()
	workers    []*workerProc
	temporal   client.Client
	db         *pgxpool.Pool
	token      string
	mu         sync.Mutex
}

func startTopology(t *testing.T, tmp string) *topology {
	t.Helper()
	ctx := context.Background()
	topo := &topology{}
	defer func() {
		if t.Failed() {
			topo.stop()
		}
	}()

	// The server's own binaries, built from the module the tests pin.
	server, sqlTool := filepath.Join(tmp, "temporal-server"), filepath.Join(tmp, "temporal-sql-tool")
	for pkg, out := range map[string]string{"go.temporal.io/server/cmd/server": server, "go.temporal.io/server/cmd/tools/sql": sqlTool} {
		b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput()
		require.NoError(t, err, "go build %s: %s", pkg, b)
	}

	// Its two databases, their schemas from its own tool.
	cfg, err := pgx.ParseConfig(envOf(t, "DATABASE_URL"))
	require.NoError(t, err)
	for _, db := range []struct{ name, schema string }{{"temporal", "postgresql/v12/temporal"}, {"temporal_visibility", "postgresql/v12/visibility"}} {
		base := []string{"--plugin", "postgres12", "--ep", cfg.Host, "-p", fmt.Sprint(cfg.Port), "-u", cfg.User, "--pw", cfg.Password, "--db", db.name}
		for _, args := range [][]string{{"create-database"}, {"setup-schema", "-v", "0.0"}, {"update-schema", "--schema-name", db.schema}} {
			b, err := exec.Command(sqlTool, append(base, args...)...).CombinedOutput()
			require.NoError(t, err, "temporal-sql-tool %s: %s", strings.Join(args, " "), b)
		}
	}

	// The server, every service in one process, on ports of its own.
	// Below 32768: the server keeps membership ports in a smallint column.
	ports := make([]string, 10)
	for i := range ports {
		for {
			p := 20000 + rand.IntN(12000)
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err == nil {
				l.Close()
				ports[i] = fmt.Sprint(p)
				break
			}
		}
	}
	frontend := "127.0.0.1:" + ports[0]
	dyn := filepath.Join(tmp, "dynamicconfig.yaml")
	require.NoError(t, os.WriteFile(dyn, []byte("system.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\n"), 0o644))
	conf := filepath.Join(tmp, "temporal.yaml")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(temporalConfig,
		cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Host, cfg.Port, cfg.User, cfg.Password,
		ports[9], ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6], ports[7], ports[8], frontend, dyn)), 0o644))
	logFile, err := os.Create(filepath.Join(tmp, "temporal-server.log"))
	require.NoError(t, err)
	srv := exec.Command(server, "--config-file", conf, "--allow-no-auth", "start")
	srv.Stdout, srv.Stderr = logFile, logFile
	diesWithUs(srv)
	require.NoError(t, srv.Start())
	exited := make(chan struct{})
	go func() { _ = srv.Wait(); close(exited) }()
	topo.stops = append(topo.stops, func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = srv.Process.Kill()
			<-exited
		}
		logFile.Close()
	})
	up := func() bool {
		c, err := client.Dial(client.Options{HostPort: frontend, Namespace: "deposits"})
		if err != nil {
			return false
		}
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			c.Close()
			return false
		}
		topo.temporal = c
		return true
	}
	for deadline := time.Now().Add(2 * time.Minute); !up(); time.Sleep(500 * time.Millisecond) {
		select {
		case <-exited:
			deadline = time.Now()
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("temporal-server on PostgreSQL did not come up:\n%s", tail(string(log), 4000))
		}
	}
	nsc, err := client.NewNamespaceClient(client.Options{HostPort: frontend})
	require.NoError(t, err)
	defer nsc.Close()
	require.NoError(t, nsc.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: "deposits", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}))

	// depositflow's own database, migrated and set up by its binary.
	dbURL, err := pgcluster.CreateDatabase(ctx, envOf(t, "DATABASE_URL"), "e2e_topology")
	require.NoError(t, err)
	topo.db, err = pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	topo.env = append(append([]string(nil), cliEnv...), "TEMPORAL_ADDRESS="+frontend, "TEMPORAL_NAMESPACE=deposits", "DATABASE_URL="+dbURL)
	topo.must(t, "migrate")
	// The new namespace reaches every service of the server within seconds.
	require.Eventually(t, func() bool { return topo.run("setup").code == 0 }, time.Minute, time.Second, "deposits setup on the new namespace")
	topo.token = strings.TrimSpace(topo.must(t, "user", "add", "topo-manager", "--role", "manager", "--all-properties"))

	for i := 0; i < 2; i++ {
		metrics, err := freeAddr()
		require.NoError(t, err)
		w, err := startWorkerWith(topo.env, metrics, filepath.Join(tmp, fmt.Sprintf("worker-%d.log", i)))
		require.NoError(t, err)
		topo.workers = append(topo.workers, w)
		apiMetrics, err := freeAddr()
		require.NoError(t, err)
		topo.apiMetrics = append(topo.apiMetrics, "http://"+apiMetrics+"/metrics")
		url, stop, kill, err := startKillableServer(append(topo.env, "API_METRICS_ADDRESS="+apiMetrics), filepath.Join(tmp, fmt.Sprintf("serve-%d.log", i)))
		require.NoError(t, err)
		topo.servers, topo.kills = append(topo.servers, url), append(topo.kills, kill)
		topo.stops = append(topo.stops, stop)
	}
	return topo
}

// killServer SIGKILLs an API server; requests go to the others.
func (tp *topology) killServer(i int) {
	tp.mu.Lock()
	tp.servers[i] = ""
	tp.mu.Unlock()
	tp.kills[i]()
}

func (tp *topology) stop() {
	for _, w := range tp.workers {
		if w.cmd.ProcessState == nil {
			w.stop()
		}
	}
	for i := len(tp.stops) - 1; i >= 0; i-- {
		tp.stops[i]()
	}
	tp.stops = nil
	if tp.temporal != nil {
		tp.temporal.Close()
	}
	if tp.db != nil {
		tp.db.Close()
	}
}

func (tp *topology) run(args ...string) result { return depositsWith(tp.env, args...) }

func (tp *topology) must(t *testing.T, args ...string) string {
	t.Helper()
	r := tp.run(args...)
	require.Zero(t, r.code, "deposits %s: %s", strings.Join(args, " "), r.stderr)
	return r.stdout
}

// persist runs a person's command through an API server, as a load
// balancer would: lease i's own first, another when it cannot be reached,
// again until done ("already done" counts as done).
func (tp *topology) persist(i int, args []string) error {
	return persistWith(args, 60, 500*time.Millisecond, func(try int) []string {
		tp.mu.Lock()
		defer tp.mu.Unlock()
		var url string
		for j := range tp.servers {
			if u := tp.servers[(i+try+j)%len(tp.servers)]; u != "" {
				url = u
				break
			}
		}
		return append(append([]string(nil), tp.env...), "DEPOSITS_SERVER="+url, "DEPOSITS_TOKEN="+tp.token)
	})
}

// startKillableServer is startServerWith that can also be SIGKILLed.
func startKillableServer(env []string, logFile string) (url string, stop, kill func(), err error) {
	var cmd *exec.Cmd
	url, term, err := startServerWithCmd(env, logFile, func(c *exec.Cmd) { cmd = c })
	if err != nil {
		return "", nil, nil, err
	}
	// Whichever comes first, SIGKILL or SIGTERM, ends it; the other does nothing.
	var once sync.Once
	kill = func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	return url, func() { once.Do(term) }, kill, nil
}

// temporalConfig is the server's configuration (config/development-postgres12.yaml
// of go.temporal.io/server, on free ports): PostgreSQL host, port, user and
// password for each store, the metrics port, then each service's gRPC and
// membership ports (frontend, history, matching, worker), the frontend's
// HTTP port, its address, and the dynamic config file.
const temporalConfig = `log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
      sql:
        pluginName: "postgres12"
        databaseName: "temporal"
        connectAddr: "%s:%d"
        connectProtocol: "tcp"
        user: "%s"
        password: "%s"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: "1h"
    postgres-visibility:
      sql:
        pluginName: "postgres12"
        databaseName: "temporal_visibility"
        connectAddr: "%s:%d"
        connectProtocol: "tcp"
        user: "%s"
        password: "%s"
        maxConns: 4
        maxIdleConns: 4
        maxConnLifetime: "1h"
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
  metrics:
    prometheus:
      framework: "tally"
      timerType: "histogram"
      listenAddress: "127.0.0.1:%s"
services:
  frontend:
    rpc:
      grpcPort: %s
      membershipPort: %s
      bindOnLocalHost: true
      httpPort: %s
  history:
    rpc:
      grpcPort: %s
      membershipPort: %s
      bindOnLocalHost: true
  matching:
    rpc:
      grpcPort: %s
      membershipPort: %s
      bindOnLocalHost: true
  worker:
    rpc:
      grpcPort: %s
      membershipPort: %s
      bindOnLocalHost: true
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "%s"
dcRedirectionPolicy:
  policy: "noop"
dynamicConfigClient:
  filepath: "%s"
  pollInterval: "10s"
`

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
