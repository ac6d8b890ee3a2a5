package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/rpc/encryption"
	"google.golang.org/protobuf/types/known/durationpb"
	"gopkg.in/yaml.v3"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/devcerts"
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
	topo.refusesWithoutCertificates(t)

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
	env           []string // the admin commands' environment
	servers       []string // the API servers' URLs; "" once killed
	apiMetrics    []string // their Prometheus endpoints
	kills         []func()
	stops         []func()
	workers       []*workerProc
	temporal      client.Client
	db            *pgxpool.Pool
	certs         string // the stack's CA and certificates (devcerts)
	frontend      string // the Temporal frontend's address
	pprof         string // the Temporal server's profiler
	serverPid     int
	serverMetrics string
	token         string
	mu            sync.Mutex
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

	// The server, every service in one process, configured the way the
	// temporalio/server image configures it (docker-compose.yml): its
	// embedded template and environment variables, with mutual TLS on the
	// frontend and between its services, on ports of its own. Below 32768:
	// the server keeps membership ports in a smallint column.
	certs := filepath.Join(tmp, "certs")
	require.NoError(t, devcerts.Write(certs, devcerts.Stack([]string{"temporal"}, []string{"serve"}), 24*time.Hour, 0o600))
	topo.certs = certs
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
	topo.pprof = "127.0.0.1:" + ports[9]
	dyn := filepath.Join(tmp, "dynamicconfig.yaml")
	require.NoError(t, os.WriteFile(dyn, []byte("system.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\n"), 0o644))
	metricsPort, err := freeAddr()
	require.NoError(t, err)
	topo.serverMetrics = "http://" + metricsPort + "/metrics"
	serverEnv := append(temporalTLSEnv(certs),
		"DB=postgres12", "POSTGRES_SEEDS="+cfg.Host, fmt.Sprint("DB_PORT=", cfg.Port), "POSTGRES_USER="+cfg.User, "POSTGRES_PWD="+cfg.Password,
		"BIND_ON_IP=127.0.0.1", "LOG_LEVEL=warn", "NUM_HISTORY_SHARDS=4", "DYNAMIC_CONFIG_FILE_PATH="+dyn,
		"PROMETHEUS_ENDPOINT="+metricsPort, "PPROF_PORT="+ports[9],
		"FRONTEND_GRPC_PORT="+ports[0], "FRONTEND_MEMBERSHIP_PORT="+ports[1], "FRONTEND_HTTP_PORT="+ports[2],
		"HISTORY_GRPC_PORT="+ports[3], "HISTORY_MEMBERSHIP_PORT="+ports[4],
		"MATCHING_GRPC_PORT="+ports[5], "MATCHING_MEMBERSHIP_PORT="+ports[6],
		"WORKER_GRPC_PORT="+ports[7], "WORKER_MEMBERSHIP_PORT="+ports[8])
	logFile, err := os.Create(filepath.Join(tmp, "temporal-server.log"))
	require.NoError(t, err)
	srv := exec.Command(server, "--allow-no-auth", "start")
	srv.Env = append(os.Environ(), serverEnv...)
	srv.Stdout, srv.Stderr = logFile, logFile
	diesWithUs(srv)
	require.NoError(t, srv.Start())
	topo.serverPid = srv.Process.Pid
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
	clientTLS := topo.clientTLS(t, "deposits")
	up := func() bool {
		c, err := client.Dial(client.Options{HostPort: frontend, Namespace: "deposits", ConnectionOptions: client.ConnectionOptions{TLS: clientTLS}})
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
	nsc, err := client.NewNamespaceClient(client.Options{HostPort: frontend, ConnectionOptions: client.ConnectionOptions{TLS: clientTLS}})
	require.NoError(t, err)
	defer nsc.Close()
	require.NoError(t, nsc.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: "deposits", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}))
	topo.frontend = frontend

	// depositflow's own database, migrated and set up by its binary.
	dbURL, err := pgcluster.CreateDatabase(ctx, envOf(t, "DATABASE_URL"), "e2e_topology")
	require.NoError(t, err)
	topo.db, err = pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	topo.env = append(append([]string(nil), cliEnv...), "TEMPORAL_ADDRESS="+frontend, "TEMPORAL_NAMESPACE=deposits", "DATABASE_URL="+dbURL,
		"TEMPORAL_TLS_CLIENT_CERT_PATH="+filepath.Join(certs, "deposits.pem"), "TEMPORAL_TLS_CLIENT_KEY_PATH="+filepath.Join(certs, "deposits-key.pem"),
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH="+filepath.Join(certs, "ca.pem"), "TEMPORAL_TLS_SERVER_NAME=temporal",
		// The CLI trusts the API servers' certificates through the stack's CA.
		"SSL_CERT_FILE="+filepath.Join(certs, "ca.pem"))
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
		url, stop, kill, err := startKillableServer(append(topo.env, "API_METRICS_ADDRESS="+apiMetrics,
			"API_TLS_CERT="+filepath.Join(certs, "api.pem"), "API_TLS_KEY="+filepath.Join(certs, "api-key.pem")), filepath.Join(tmp, fmt.Sprintf("serve-%d.log", i)))
		require.NoError(t, err)
		topo.servers, topo.kills = append(topo.servers, url), append(topo.kills, kill)
		topo.stops = append(topo.stops, stop)
	}
	return topo
}

// refusesWithoutCertificates checks that the stack speaks only TLS: the
// Temporal frontend refuses a client in plaintext and a TLS client without
// a certificate of the stack's CA, and an API server refuses plain HTTP.
func (tp *topology) refusesWithoutCertificates(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for why, conn := range map[string]client.ConnectionOptions{
		"in plaintext":          {},
		"without a certificate": {TLS: tp.clientTLS(t, "")},
	} {
		c, err := client.DialContext(ctx, client.Options{HostPort: tp.frontend, Namespace: "deposits", ConnectionOptions: conn})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
		}
		require.Error(t, err, "a Temporal client %s was let in", why)
	}
	resp, err := http.Get(strings.Replace(tp.servers[0], "https://", "http://", 1) + "/healthz")
	if err == nil {
		resp.Body.Close()
		require.NotEqual(t, http.StatusOK, resp.StatusCode, "the API answered plain HTTP")
	}
	require.True(t, strings.HasPrefix(tp.servers[0], "https://"), tp.servers[0])
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

// temporalTLSEnv is the temporalio/server image's TLS settings for a stack
// whose certificates devcerts wrote to dir (docker-compose.yml sets the same):
// mutual TLS on the frontend and between the server's services, its system
// workers authenticated by the internode certificate.
func temporalTLSEnv(dir string) []string {
	return []string{
		"TEMPORAL_TLS_REQUIRE_CLIENT_AUTH=true",
		"TEMPORAL_TLS_SERVER_CA_CERT=" + filepath.Join(dir, "ca.pem"),
		"TEMPORAL_TLS_SERVER_CERT=" + filepath.Join(dir, "temporal.pem"),
		"TEMPORAL_TLS_SERVER_KEY=" + filepath.Join(dir, "temporal-key.pem"),
		"TEMPORAL_TLS_INTERNODE_SERVER_NAME=temporal",
		"TEMPORAL_TLS_FRONTEND_CERT=" + filepath.Join(dir, "temporal.pem"),
		"TEMPORAL_TLS_FRONTEND_KEY=" + filepath.Join(dir, "temporal-key.pem"),
		"TEMPORAL_TLS_CLIENT1_CA_CERT=" + filepath.Join(dir, "ca.pem"),
		"TEMPORAL_TLS_CLIENT2_CA_CERT=" + filepath.Join(dir, "ca.pem"),
		"TEMPORAL_TLS_FRONTEND_SERVER_NAME=temporal",
	}
}

// clientTLS is the TLS of a Temporal client holding the stack's certificate
// name ("" for none).
func (tp *topology) clientTLS(t *testing.T, name string) *tls.Config {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(tp.certs, "ca.pem"))
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(ca))
	c := &tls.Config{RootCAs: roots, ServerName: "temporal", MinVersion: tls.VersionTLS12}
	if name != "" {
		pair, err := tls.LoadX509KeyPair(filepath.Join(tp.certs, name+".pem"), filepath.Join(tp.certs, name+"-key.pem"))
		require.NoError(t, err)
		c.Certificates = []tls.Certificate{pair}
	}
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// docker-compose.yml's Temporal server is the one TestProductionTopology
// runs: its TLS settings are temporalTLSEnv's, and the server's own loader
// makes mutual TLS of them on the frontend and between its services.
func TestComposeTemporalIsTheTestedTopology(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var f struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(b, &f))
	env := f.Services["temporal"].Environment
	require.NotEmpty(t, env, "docker-compose.yml has no temporal service environment")

	dir := t.TempDir()
	require.NoError(t, devcerts.Write(dir, devcerts.Stack([]string{"temporal"}, nil), time.Hour, 0o600))
	tested := map[string]string{}
	for _, kv := range temporalTLSEnv(dir) {
		k, v, _ := strings.Cut(kv, "=")
		tested[k] = v
	}
	composed := map[string]string{}
	for k, v := range env {
		if strings.HasPrefix(k, "TEMPORAL_TLS_") {
			composed[k] = strings.Replace(v, "/certs", dir, 1)
		}
	}
	require.Equal(t, tested, composed, "the compose file's TLS settings are the tested ones")

	for k, v := range env {
		t.Setenv(k, strings.Replace(v, "/certs", dir, 1))
	}
	cfg, err := config.Load(config.WithEmbedded())
	require.NoError(t, err)
	tl := cfg.Global.TLS
	require.True(t, tl.Frontend.Server.RequireClientAuth, "the frontend requires client certificates")
	require.True(t, tl.Internode.Server.RequireClientAuth, "the server's services require client certificates of each other")
	require.Equal(t, []string{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.pem")}, tl.Frontend.Server.ClientCAFiles)
	require.Equal(t, filepath.Join(dir, "temporal.pem"), tl.Frontend.Server.CertFile)
	require.Equal(t, "temporal", tl.Internode.Client.ServerName)
	require.False(t, tl.Internode.Client.DisableHostVerification)
	require.Equal(t, "postgres12", cfg.Persistence.DataStores["default"].SQL.PluginName)
	// The server's own TLS provider reads the files into mutual TLS.
	p, err := encryption.NewTLSConfigProviderFromConfig(tl, metrics.NoopMetricsHandler, log.NewNoopLogger(), nil)
	require.NoError(t, err)
	for what, get := range map[string]func() (*tls.Config, error){
		"frontend": p.GetFrontendServerConfig, "internode": p.GetInternodeServerConfig,
	} {
		c, err := get()
		require.NoError(t, err, what)
		require.NotNil(t, c, what)
		require.Equal(t, tls.RequireAndVerifyClientCert, c.ClientAuth, what)
	}
	c, err := p.GetFrontendClientConfig()
	require.NoError(t, err)
	require.NotNil(t, c, "the system workers reach the frontend over TLS")
}
