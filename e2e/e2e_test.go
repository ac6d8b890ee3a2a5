// Package e2e runs depositflow end to end on real components: the Temporal
// server in-process (temporaltest), a real PostgreSQL and a real SMTP server,
// driving the deposits binary as a user would. Every test that links the
// Temporal server lives here, because each such test binary takes minutes to
// build on a small machine.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/dynamicconfig"
	temporalserver "go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/depositflow/depositflow/internal/cardhold/stripemock"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/mailsink"
	"github.com/depositflow/depositflow/internal/pgcluster"
	"github.com/depositflow/depositflow/workflows"
)

var (
	metricsURL string // the worker's Prometheus metrics
	workerLog  string // the worker's log file
	bin        string // the deposits binary under test
	cliEnv     []string
	pool       *pgxpool.Pool
	sink       *mailsink.Sink
	temporal   client.Client
	// Where the tests' Temporal server listens, for the temporal CLI.
	temporalAddress, temporalNamespace string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		code, err := setUp(m)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e set-up:", err)
			return 1
		}
		return code
	}())
}

// setUp starts every real component, runs the tests and tears down.
func setUp(m *testing.M) (int, error) {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "depositflow-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)

	bin = filepath.Join(tmp, "deposits")
	// Built as users build it: in the product's module, with its go.mod.
	build := exec.Command("go", "build", "-o", bin, "./cmd/deposits")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building deposits: %v\n%s", err, out)
	}

	dbURL, cluster, stopPG, err := pgcluster.ForTestsCluster(ctx, "e2e")
	pgCluster = cluster
	if err != nil {
		return 0, err
	}
	defer stopPG()
	if pool, err = pgxpool.New(ctx, dbURL); err != nil {
		return 0, err
	}
	defer pool.Close()

	if sink, err = mailsink.Start("127.0.0.1:0", ""); err != nil {
		return 0, err
	}
	defer sink.Close()

	address, namespace, stopTemporal, err := startTemporal(ctx, tmp)
	if err != nil {
		return 0, err
	}
	defer stopTemporal()
	temporalAddress, temporalNamespace = address, namespace

	cliEnv = append(os.Environ(),
		"TEMPORAL_ADDRESS="+address,
		"TEMPORAL_NAMESPACE="+namespace,
		"DATABASE_URL="+dbURL,
		"SMTP_URL=smtp://"+sink.Addr,
		"MAIL_FROM=Maple Homes <deposits@maple.example>",
		// The worker gives up on a webhook endpoint after seconds, not 3 days.
		"WEBHOOK_GIVE_UP_AFTER="+webhookGiveUp.String(),
		// Never this machine's own sign-in.
		"DEPOSITS_CONFIG="+filepath.Join(tmp, "deposits-config.json"),
	)
	// The schema comes from the binary's own migrate command.
	if r := deposits("migrate"); r.code != 0 {
		return 0, fmt.Errorf("deposits migrate: %s", r.stderr)
	}
	// The search attributes come from the binary's setup command, twice to show it is idempotent.
	for i := 0; i < 2; i++ {
		if r := deposits("setup"); r.code != 0 {
			return 0, fmt.Errorf("deposits setup: %s", r.stderr)
		}
	}

	// The tenant's side: links to the tenants' pages are signed with a
	// secret the worker (which writes the emails) and the servers share,
	// and lead to a validator of api/openapi.yaml in front of the shared
	// server (its address is known before the worker starts); evidence
	// files are kept in the test's folder.
	if pageListener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return 0, err
	}
	publicURL = "http://" + pageListener.Addr().String()
	cliEnv = append(cliEnv, "DEPOSITS_LINK_SECRET=e2e-link-secret-of-at-least-32-characters",
		"DEPOSITS_PUBLIC_URL="+publicURL, "DEPOSITS_DATA_DIR="+tmp)
	blobDir = filepath.Join(tmp, "blobs")

	// Card holds go to stripe-mock (make tools puts it in .tools), behind
	// a proxy that records the calls; the worker's key comes from the
	// environment as in production. Without it, the card-hold test skips
	// (or, where E2E_REQUIRE_TEMPORAL_CLI is set, as in CI, fails).
	if _, err := os.Stat(stripemock.Binary("..")); err == nil {
		m, stop, err := stripemock.Run(stripemock.Binary(".."))
		if err != nil {
			return 0, err
		}
		defer stop()
		stripe = m
		cliEnv = append(cliEnv, "STRIPE_SECRET_KEY="+stripeKey, "STRIPE_API_BASE="+m.URL)
	}

	// The worker is the real `deposits worker`, watched the way an operator
	// would: Prometheus metrics and JSON logs.
	metricsAddr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	metricsURL = "http://" + metricsAddr + "/metrics"
	workerLog = filepath.Join(tmp, "worker.log")
	if theWorker, err = startWorker(metricsAddr, workerLog); err != nil {
		return 0, err
	}
	defer func() { theWorker.stop() }()

	// People's commands go through a real `deposits serve`, signed in as a
	// manager who is also a books_admin (other people: asUser), and through
	// the validator of api/openapi.yaml in front of it.
	if err := loadContract(); err != nil {
		return 0, err
	}
	stopServer, err := startServer(filepath.Join(tmp, "serve.log"))
	if err != nil {
		return 0, err
	}
	defer stopServer()
	url, stopChecking, err := checked(serverURL)
	if err != nil {
		return 0, err
	}
	defer stopChecking()
	stopPages, err := checkedOn(pageListener, serverURL)
	if err != nil {
		return 0, err
	}
	defer stopPages()
	serverURL = url
	token, err := addUser("e2e-manager", "manager", "books_admin")
	if err != nil {
		return 0, err
	}
	cliEnv = append(cliEnv, "DEPOSITS_SERVER="+serverURL, "DEPOSITS_TOKEN="+token)
	code := m.Run()
	if !unclaimedBreaches() && code == 0 {
		code = 1
	}
	return code, nil
}

// serverURL is the shared `deposits serve` people's commands call (through
// the validator of api/openapi.yaml).
var serverURL string

// publicURL is where tenants' links lead: the shared server, through a
// validator of its own; blobDir is where it keeps evidence files.
var (
	publicURL    string
	pageListener net.Listener
	blobDir      string
)

// startServer runs the `deposits serve` the CLI calls, until stop.
func startServer(logFile string) (stop func(), err error) {
	serverURL, stop, err = startServerWith(cliEnv, logFile)
	return stop, err
}

// startServerWith runs a `deposits serve` with env, until stop.
func startServerWith(env []string, logFile string) (url string, stop func(), err error) {
	return startServerWithCmd(env, logFile, nil)
}

// startServerWithCmd is startServerWith, handing the process to started.
func startServerWithCmd(env []string, logFile string, started func(*exec.Cmd)) (url string, stop func(), err error) {
	addr, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	f, err := os.Create(logFile)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "serve", "--listen", addr)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	diesWithUs(cmd)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	if started != nil {
		started(cmd)
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		f.Close()
	}
	url, hc := "http://"+addr, http.DefaultClient
	if cert, ca := envValue(env, "API_TLS_CERT"), envValue(env, "SSL_CERT_FILE"); cert != "" {
		// Served over TLS: checked as the CLI checks it, through the CA.
		pem, err := os.ReadFile(ca)
		if err != nil {
			stop()
			return "", nil, err
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		url, hc = "https://"+addr, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	}
	for i := 0; i < 200; i++ {
		if resp, err := hc.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url, stop, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	log, _ := os.ReadFile(logFile)
	return "", nil, fmt.Errorf("deposits serve did not come up:\n%s", log)
}

// envValue is the last value of key in env, or "".
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// users are the tokens of the people the tests made, by name.
var users = map[string]string{}

// addUser adds a person with roles on every property (an admin command,
// run where the database is) and returns their token.
func addUser(name string, roles ...string) (string, error) {
	args := []string{"user", "add", name, "--all-properties"}
	for _, r := range roles {
		args = append(args, "--role", r)
	}
	r := deposits(args...)
	if r.code != 0 {
		return "", fmt.Errorf("deposits %s: %s", strings.Join(args, " "), r.stderr)
	}
	users[name] = strings.TrimSpace(r.stdout)
	return users[name], nil
}

// addUserScoped adds a person with roles on some properties and returns their token.
func addUserScoped(name string, roles []string, properties ...string) (string, error) {
	args := []string{"user", "add", name}
	for _, r := range roles {
		args = append(args, "--role", r)
	}
	for _, p := range properties {
		args = append(args, "--property", p)
	}
	r := deposits(args...)
	if r.code != 0 {
		return "", fmt.Errorf("deposits %s: %s", strings.Join(args, " "), r.stderr)
	}
	users[name] = strings.TrimSpace(r.stdout)
	return users[name], nil
}

// asUser runs the CLI as another person, made on first use with the roles given.
func asUser(t *testing.T, name string, roles []string, args ...string) result {
	t.Helper()
	watchContract(t)
	token, ok := users[name]
	if !ok {
		var err error
		token, err = addUser(name, roles...)
		require.NoError(t, err)
	}
	return withEnv([]string{"DEPOSITS_TOKEN=" + token}, args...)
}

// withEnv runs the CLI with extra environment.
func withEnv(env []string, args ...string) result {
	saved := cliEnv
	cliEnv = append(append([]string(nil), saved...), env...)
	defer func() { cliEnv = saved }()
	return deposits(args...)
}

// startTemporal starts the Temporal server the tests run on and dials the
// package's client. By default it is the in-process temporaltest server,
// whose SQLite store lives in this process's memory: fine for the tests, but
// the bench's 100,000 idle leases outgrow it. E2E_TEMPORAL_CLI names a
// temporal CLI binary instead (make bench passes .tools/temporal): its dev
// server runs as its own process with its store in a SQLite file on disk
// (E2E_TEMPORAL_DB, or one in the test's folder), and temporalServer
// remembers the process so the bench can report its memory.
func startTemporal(ctx context.Context, tmp string) (address, namespace string, stop func(), err error) {
	cli := os.Getenv("E2E_TEMPORAL_CLI")
	if cli == "" {
		// A lease suggests continuing as new far sooner than Temporal's
		// default (4 Ki events), so that a test lease with many facts does
		// (TestLongLeaseContinuesAsNew). The first setting is the one
		// temporaltest sets itself.
		ts := temporaltest.NewServer(temporaltest.WithBaseServerOptions(temporalserver.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
			dynamicconfig.HistoryCountSuggestContinueAsNew.Key():        []dynamicconfig.ConstrainedValue{{Value: suggestContinueAsNewAt}},
		})))
		temporal = ts.GetDefaultClient()
		temporalPersistence = "sqlite in memory (in-process temporaltest server)"
		return ts.GetFrontendHostPort(), ts.GetDefaultNamespace(), ts.Stop, nil
	}
	if address, err = freeAddr(); err != nil {
		return "", "", nil, err
	}
	host, port, _ := net.SplitHostPort(address)
	dbFile := os.Getenv("E2E_TEMPORAL_DB")
	if dbFile == "" {
		dbFile = filepath.Join(tmp, "temporal.db")
	}
	temporalDB = dbFile
	logFile, err := os.Create(filepath.Join(tmp, "temporal.log"))
	if err != nil {
		return "", "", nil, err
	}
	// WAL with synchronous=NORMAL: the usual SQLite setting for a busy
	// writer; a crash can lose the last commits, which a bench can afford.
	temporalServer = exec.Command(cli, "server", "start-dev", "--headless", "--ip", host, "--port", port,
		"--db-filename", dbFile, "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
		"--log-level", "error")
	temporalServer.Stdout, temporalServer.Stderr = logFile, logFile
	diesWithUs(temporalServer)
	if err := temporalServer.Start(); err != nil {
		return "", "", nil, err
	}
	stopServer := func() { // SIGTERM: the dev server shuts down cleanly in a few seconds
		_ = temporalServer.Process.Signal(syscall.SIGTERM)
		_ = temporalServer.Wait()
		logFile.Close()
	}
	for i := 0; ; i++ {
		if temporal, err = client.Dial(client.Options{HostPort: address, Namespace: "default"}); err == nil {
			if _, err = temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err == nil {
				break
			}
			temporal.Close()
		}
		if i == 300 {
			stopServer()
			log, _ := os.ReadFile(logFile.Name())
			return "", "", nil, fmt.Errorf("temporal dev server on %s did not come up: %v\n%s", address, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	temporalPersistence = "sqlite file " + dbFile + " (temporal CLI dev server, its own process)"
	return address, "default", func() { temporal.Close(); stopServer() }, nil
}

// webhookGiveUp is how long the tests' worker retries a webhook delivery
// before it disables the endpoint (TestWebhookDeadEndpointIsDisabled):
// long enough for the retries the other tests make (1 s, then 2 s).
const webhookGiveUp = 15 * time.Second

// suggestContinueAsNewAt is the history length at which the tests' server
// suggests continuing as new: above every other test's lease, below a lease
// of sixty payments.
const suggestContinueAsNewAt = 250

// workerProc is a running `deposits worker` process.
type workerProc struct {
	cmd         *exec.Cmd
	log         *os.File
	metricsAddr string
}

var (
	theWorker *workerProc
	pgCluster *pgcluster.Cluster // nil when the tests run on DATABASE_URL

	temporalServer      *exec.Cmd // the dev server process; nil for the in-process server
	temporalDB          string    // the dev server's SQLite file
	temporalPersistence string    // where the server keeps its store, for the bench's results
)

// startWorker runs `deposits worker` and waits until it serves its metrics.
func startWorker(metricsAddr, logFile string) (*workerProc, error) {
	return startWorkerWith(cliEnv, metricsAddr, logFile)
}

// startWorkerWith runs `deposits worker` with env.
func startWorkerWith(env []string, metricsAddr, logFile string) (*workerProc, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	// BENCH_WORKER_ARGS tries worker options (make bench BENCH_WORKER_ARGS="--cache-size 10000").
	cmd := exec.Command(bin, append([]string{"worker", "--metrics-address", metricsAddr, "--log-format", "json"}, strings.Fields(os.Getenv("BENCH_WORKER_ARGS"))...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	diesWithUs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &workerProc{cmd: cmd, log: f, metricsAddr: metricsAddr}
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
			resp.Body.Close()
			return w, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.stop()
	log, _ := os.ReadFile(logFile)
	return nil, fmt.Errorf("deposits worker did not come up:\n%s", log)
}

// stop ends the worker the way an operator does: SIGTERM, then wait.
func (w *workerProc) stop() {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	_ = w.cmd.Wait()
	w.log.Close()
}

// kill ends the worker the way a crash does: SIGKILL, mid-whatever.
func (w *workerProc) kill() {
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	w.log.Close()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type result struct {
	stdout, stderr string
	code           int
}

// deposits runs the CLI binary with the test stack's environment.
func deposits(args ...string) result { return depositsWith(cliEnv, args...) }

// depositsWith runs the CLI binary with env.
func depositsWith(env []string, args ...string) result {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		r.code = -1
		r.stderr += err.Error()
	}
	return r
}

func must(t *testing.T, args ...string) string {
	t.Helper()
	watchContract(t)
	r := deposits(args...)
	require.Equal(t, 0, r.code, "deposits %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

func refusedWith(t *testing.T, want string, args ...string) {
	t.Helper()
	watchContract(t)
	r := deposits(args...)
	require.Equal(t, 1, r.code, "deposits %s should be refused\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	require.Contains(t, r.stderr, want)
}

func status(t *testing.T, lease string) deposit.State {
	t.Helper()
	var s deposit.State
	require.NoError(t, json.Unmarshal([]byte(must(t, "status", lease, "-o", "json")), &s))
	return s
}

func waitClosed(t *testing.T, lease string) deposit.State {
	t.Helper()
	var s deposit.State
	require.Eventually(t, func() bool {
		s = status(t, lease)
		return s.Stage == deposit.StageClosed
	}, 60*time.Second, 250*time.Millisecond, "lease %s did not close", lease)
	return s
}

func count(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// mailTo returns the parsed messages received for a lease, in order.
func mailFor(t *testing.T, lease string) []mailsink.Parsed {
	t.Helper()
	var out []mailsink.Parsed
	for _, m := range sink.Messages() {
		p, err := mailsink.Parse(m.Raw)
		require.NoError(t, err)
		if strings.Contains(p.Header.Get("Message-Id"), "deposit-"+lease+".") {
			out = append(out, p)
		}
	}
	return out
}

func waitMail(t *testing.T, lease string, n int) []mailsink.Parsed {
	t.Helper()
	require.Eventually(t, func() bool { return len(mailFor(t, lease)) >= n }, 30*time.Second, 100*time.Millisecond,
		"lease %s: want %d emails", lease, n)
	return mailFor(t, lease)
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

// requireListed waits until `deposits list` (the database's lease rows,
// which the workflow mirrors) and Temporal's visibility (the search
// attributes the Web UI filters on) both show the lease at a stage.
func requireListed(t *testing.T, lease, stage string, extra ...string) listed {
	t.Helper()
	watchContract(t)
	var found listed
	require.Eventually(t, func() bool {
		var rows []listed
		r := deposits(append([]string{"list", "--stage", stage, "-o", "json"}, extra...)...)
		require.Equal(t, 0, r.code, r.stderr)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
		for _, row := range rows {
			if row.LeaseID == lease {
				found = row
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond, "lease %s never listed at stage %s", lease, stage)
	require.Eventually(t, func() bool {
		resp, err := temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("%s = '%s' AND %s = '%s'", workflows.SALeaseID.GetName(), lease, workflows.SAStage.GetName(), stage),
		})
		return err == nil && len(resp.GetExecutions()) == 1
	}, 20*time.Second, 100*time.Millisecond, "lease %s never at stage %s in Temporal's visibility", lease, stage)
	return found
}

type listed struct {
	LeaseID    string    `json:"lease_id"`
	PropertyID string    `json:"property_id"`
	Stage      string    `json:"stage"`
	Outcome    string    `json:"outcome"`
	ReleaseAt  time.Time `json:"release_at"`
}

// recordHistory saves a closed lease's workflow history as JSON test data for
// the replay test in workflows/, when RECORD_HISTORIES=1 (make histories).
// Replaying them in every test run makes a non-deterministic change to the
// workflow fail CI instead of failing leases in production.
func recordHistory(t *testing.T, lease, name string) {
	t.Helper()
	recordWorkflowHistory(t, workflows.WorkflowID(lease), name)
}

// recordWorkflowHistory is recordHistory for any workflow (the last run of its ID).
func recordWorkflowHistory(t *testing.T, workflowID, name string) {
	t.Helper()
	if os.Getenv("RECORD_HISTORIES") == "" {
		return
	}
	iter := temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, e)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&h)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join("..", "workflows", "testdata", "histories", name+".json"), b, 0o644))
}

// A whole lease through the CLI: listing, start, two partial payments, a
// move-out, a final charge in the assessment window, the notice, the refund.
func TestLifecycleWithDeductions(t *testing.T) {
	lease := "L-e2e-refund"
	must(t, "listing", "add", "LST-4B", "--property", "maple", "--unit", "4B", "--deposit", "1,500.00")
	out := must(t, "lease", "start", lease, "--property", "maple", "--unit", "4B", "--listing", "LST-4B",
		"--tenant-email", "ana@example.com", "--tenant-name", "Ana Lopez", "--assess-for", "4s", "--release-after", "8s")
	require.Contains(t, out, "Started lease "+lease)

	// Starting the same lease again is a clear error, not a second workflow;
	// with other terms it is refused as such.
	refusedWith(t, "already started", "lease", "start", lease, "--property", "maple", "--unit", "4B", "--listing", "LST-4B",
		"--tenant-email", "ana@example.com", "--tenant-name", "Ana Lopez", "--assess-for", "4s", "--release-after", "8s")
	refusedWith(t, "already exists with other terms", "lease", "start", lease, "--property", "maple", "--unit", "4B", "--listing", "LST-4B",
		"--tenant-email", "ana@example.com")

	requireListed(t, lease, "awaiting_payment", "--property", "maple")
	out = must(t, "payment", "record", lease, "--amount", "750", "--ref", "CHK-1", "--date", time.Now().UTC().Format(time.DateOnly))
	require.Contains(t, out, "Paid $750.00 of $1,500.00; stage awaiting_payment")
	// The same payment entered twice is recorded once; another amount under the same reference is refused.
	require.Contains(t, must(t, "payment", "record", lease, "--amount", "750", "--ref", "CHK-1"), "already recorded")
	refusedWith(t, "already recorded for lease "+lease+" with $750.00", "payment", "record", lease, "--amount", "75", "--ref", "CHK-1")
	require.EqualValues(t, 75000, status(t, lease).PaidCents)
	out = must(t, "payment", "record", lease, "--amount", "$750.00", "--ref", "CHK-2")
	require.Contains(t, out, "stage held")

	requireListed(t, lease, "held")
	s := status(t, lease)
	require.Equal(t, deposit.StageHeld, s.Stage)
	require.EqualValues(t, 150000, s.ExpectedCents)
	require.EqualValues(t, 150000, s.ReceivedCents)
	waitMail(t, lease, 2) // request, receipt

	refusedWith(t, "unknown charge code", "charge", "add", lease, "--code", "PIZZA", "--amount", "10", "--description", "x")
	must(t, "moveout", lease, "--date", now())
	// The same move-out again changes nothing; another day is refused.
	require.Contains(t, must(t, "moveout", lease), "was already recorded")
	refusedWith(t, "already has its move-out", "moveout", lease, "--date", "2025-01-01")
	out = must(t, "charge", "add", lease, "--code", "CLEANING", "--amount", "120.00", "--description", "Carpet cleaning, living room", "--ref", "INV-77")
	require.Contains(t, out, "Added CLEANING charge")
	require.Contains(t, must(t, "charge", "add", lease, "--code", "CLEANING", "--amount", "120.00", "--description", "Carpet cleaning, living room", "--ref", "INV-77"), "already on lease")
	must(t, "charge", "add", lease, "--code", "rent", "--amount", "45.50", "--description", "Water bill share")

	// Operators see it by stage and release date, as in the Web UI.
	pending := requireListed(t, lease, "release_pending", "--due-before", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	require.False(t, pending.ReleaseAt.IsZero())
	s = waitClosed(t, lease)
	require.Equal(t, deposit.OutcomePartiallyRefunded, s.Outcome)
	closed := requireListed(t, lease, "closed")
	require.Equal(t, deposit.OutcomePartiallyRefunded, closed.Outcome)
	require.True(t, s.ReleaseAt.Equal(closed.ReleaseAt))
	require.EqualValues(t, 12000, s.DeductionsCents)
	require.EqualValues(t, 4550, s.ArrearsCents)
	require.EqualValues(t, 150000-12000-4550, s.RefundCents)
	require.Zero(t, s.BalanceOwedCents)
	require.False(t, s.ReleaseAt.IsZero())

	// The ledger rows in PostgreSQL.
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM charges WHERE lease_id = $1 AND charge_code_id = 'DEPOSIT' AND amount_in_cents = 150000", lease))
	require.EqualValues(t, 16550, count(t, "SELECT sum(amount_in_cents) FROM charges WHERE lease_id = $1 AND charge_code_id <> 'DEPOSIT'", lease))
	require.EqualValues(t, 150000, count(t, "SELECT sum(amount_in_cents) FROM payments WHERE lease_id = $1", lease))
	require.EqualValues(t, 1, count(t, `SELECT count(*) FROM refunds WHERE lease_id = $1 AND amount_in_cents = 133450
		AND received_cents = 150000 AND deductions_cents = 12000 AND arrears_cents = 4550
		AND recipient_email = 'ana@example.com' AND recipient_name = 'Ana Lopez'`, lease))
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM invoices WHERE lease_id = $1", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM leases WHERE lease_id = $1 AND stage = 'closed' AND outcome = 'partially_refunded' AND closed_at IS NOT NULL", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM leases WHERE lease_id = $1 AND realized_move_out_at IS NOT NULL", lease))
	require.EqualValues(t, 4, count(t, "SELECT count(*) FROM email_outbox WHERE lease_id = $1 AND sent_at IS NOT NULL", lease))
	// Every action is in the audit log, refusals included.
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'lease.start' AND accepted AND actor = 'e2e-manager'", lease))
	require.EqualValues(t, 2, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'lease.start' AND NOT accepted", lease))
	require.EqualValues(t, 3, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'payment.record' AND accepted", lease))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'payment.record' AND NOT accepted", lease))

	// The emails as the SMTP server received them.
	mails := waitMail(t, lease, 4)
	require.Len(t, mails, 4)
	subjects := []string{mails[0].Subject, mails[1].Subject, mails[2].Subject, mails[3].Subject}
	require.Equal(t, "Your security deposit of $1,500.00 for lease "+lease, subjects[0])
	require.Equal(t, "Receipt: your security deposit of $1,500.00 is held", subjects[1])
	require.True(t, strings.HasPrefix(subjects[2], "Your move-out statement: refund of $1,334.50 on "), subjects[2])
	require.Equal(t, "Your deposit refund of $1,334.50 has been issued", subjects[3])
	ids := map[string]bool{}
	for _, m := range mails {
		require.Contains(t, m.Header.Get("Content-Type"), "multipart/alternative")
		require.Equal(t, "ana@example.com", strings.Trim(addrOf(m.Header.Get("To")), "<>"))
		require.NotEmpty(t, m.Text)
		require.Contains(t, m.HTML, "<html")
		ids[m.Header.Get("Message-Id")] = true
	}
	require.Len(t, ids, 4, "every email has its own Message-ID")
	notice := mails[2]
	require.Contains(t, notice.Text, "Deduction: Carpet cleaning, living room")
	require.Contains(t, notice.Text, "-$120.00")
	require.Contains(t, notice.Text, "Arrears: Water bill share")
	require.Contains(t, notice.Text, "Your refund will be released on")
	require.Contains(t, notice.HTML, "Carpet cleaning, living room")
	require.Contains(t, mails[1].Text, "Payment CHK-1")
	require.Contains(t, mails[1].Text, "Payment CHK-2")

	// A closed lease refuses new money, and its status no longer needs the workflow to run.
	refusedWith(t, "is closed", "payment", "record", lease, "--amount", "10", "--ref", "LATE")
	refusedWith(t, "is closed", "charge", "add", lease, "--code", "DAMAGE", "--amount", "10", "--description", "late")
	out = must(t, "status", lease)
	require.Contains(t, out, "closed (partially_refunded)")
	require.Contains(t, out, "$1,334.50")
	out = must(t, "list", "--stage", "closed")
	require.Contains(t, out, lease)
	require.Contains(t, must(t, "list", "--stage", "release_pending", "--due-before", "2000-01-01"), "LEASE") // header only
	require.NotContains(t, must(t, "list", "--stage", "release_pending", "--due-before", "2000-01-01"), lease)
	recordHistory(t, lease, "partial_payments_deductions_refund")
}

// Charges beyond the deposit: the tenant gets an invoice for the balance.
func TestBalanceOwedIssuesAnInvoice(t *testing.T) {
	lease := "L-e2e-owed"
	must(t, "lease", "start", lease, "--property", "maple", "--unit", "7C", "--amount", "500",
		"--tenant-email", "bo@example.com", "--assess-for", "3s", "--release-after", "3s")
	must(t, "payment", "record", lease, "--amount", "500", "--ref", "ACH-9")
	must(t, "moveout", lease, "--date", now())
	must(t, "charge", "add", lease, "--code", "DAMAGE", "--amount", "800", "--description", "Broken window")
	s := waitClosed(t, lease)
	require.Equal(t, deposit.OutcomeBalanceOwed, s.Outcome)
	require.EqualValues(t, 30000, s.BalanceOwedCents)
	require.Zero(t, s.RefundCents)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM invoices WHERE lease_id = $1 AND amount_due_in_cents = 30000 AND recipient_email = 'bo@example.com'", lease))
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM refunds WHERE lease_id = $1", lease))
	mails := waitMail(t, lease, 4)
	require.Equal(t, "Invoice: you owe $300.00 after your security deposit", mails[3].Subject)
	require.Contains(t, mails[3].Text, "Deduction: Broken window")
	require.Contains(t, mails[3].Text, "$300.00")
	recordHistory(t, lease, "balance_owed_invoice")
}

// Bad input is refused with exit code 1 and a message that says what to do;
// an unreachable Temporal is exit code 2.
func TestRefusalsAndExitCodes(t *testing.T) {
	refusedWith(t, "cents take one or two digits", "payment", "record", "L-x", "--amount", "1.234")
	refusedWith(t, "must be positive", "payment", "record", "L-x", "--amount", "-5")
	refusedWith(t, "lease L-does-not-exist does not exist", "status", "L-does-not-exist")
	refusedWith(t, "not an email address", "lease", "start", "L-y", "--property", "p", "--unit", "u", "--tenant-email", "nope", "--amount", "5")
	refusedWith(t, "give the deposit", "lease", "start", "L-y", "--property", "p", "--unit", "u", "--tenant-email", "y@example.com")
	refusedWith(t, "longer than the 120 days", "lease", "start", "L-y", "--property", "p", "--unit", "u", "--tenant-email", "y@example.com", "--amount", "5", "--release-after", "3000h")
	refusedWith(t, "listing NOPE does not exist", "lease", "start", "L-y", "--property", "p", "--unit", "u", "--tenant-email", "y@example.com", "--listing", "NOPE")
	refusedWith(t, "-o \"yaml\"", "status", "L-y", "-o", "yaml")
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM leases WHERE lease_id = 'L-y'"))

	// TLS to a server that speaks plaintext fails clearly, naming how it
	// tried (an admin command: people's commands go through deposits serve).
	cmd := exec.Command(bin, "setup", "--temporal-tls")
	cmd.Env = cliEnv
	tlsOut, err := cmd.CombinedOutput()
	var tlsErr *exec.ExitError
	require.ErrorAs(t, err, &tlsErr)
	require.Equal(t, 2, tlsErr.ExitCode(), "%s", tlsOut)
	require.Contains(t, string(tlsOut), "(tls)")

	cmd = exec.Command(bin, "setup")
	cmd.Env = append(cliEnv, "TEMPORAL_ADDRESS=127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode(), "%s", out)
	require.Contains(t, string(out), "cannot reach Temporal")
}

func addrOf(h string) string {
	if i := strings.LastIndex(h, "<"); i >= 0 {
		return h[i:]
	}
	return h
}
