package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdktemporal "go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/workflows"
)

// TestBench measures depositflow against the limit of its own design, in one
// run on the same server (make bench; skipped unless BENCH=1):
//   - lifecycle throughput: BENCH_LEASES leases through start, payment,
//     charge, move-out, release and refund with its emails, against a bare
//     workflow of the same shape (7 no-op activities, 2 signals, a 1 s timer);
//   - event latency: a payment recorded with the CLI, and posted to the HTTP
//     API, until the lease's query shows it, over BENCH_EVENTS payments each;
//   - settlement to webhook delivered: BENCH_WEBHOOKS leases (BENCH_EVENTS,
//     at most 500) settle with a PMS's endpoint subscribed to refund.due, a
//     receiver in this process, timed from the settlement's row to the
//     receiver answering it;
//   - refund computation from the ledger of a lease with 500 rows;
//   - history events of a complete lifecycle;
//   - a reconcile pass over BENCH_RECONCILE leases with 1% changed;
//   - worker memory with BENCH_IDLE leases waiting for their move-out.
//
// It prints a table with PASS/FAIL per target and writes results.json to
// BENCH_OUT (default bench/).
func TestBench(t *testing.T) {
	if os.Getenv("BENCH") == "" {
		t.Skip("make bench runs it (BENCH=1)")
	}
	n := envInt("BENCH_LEASES", 2000)
	events := envInt("BENCH_EVENTS", 1000)
	ctx := context.Background()
	r := map[string]any{"temporal_persistence": temporalPersistence, "leases": n}
	fmt.Printf("%-12s %s\n", "temporal", temporalPersistence)

	// The baseline runs on its own task queue, in this process.
	bw := sdkworker.New(temporal, "bench-baseline", sdkworker.Options{})
	bw.RegisterWorkflowWithOptions(baselineWorkflow, workflow.RegisterOptions{Name: "BaselineWorkflow"})
	bw.RegisterActivityWithOptions(func(context.Context) error { return nil }, activity.RegisterOptions{Name: "Noop"})
	require.NoError(t, bw.Start())
	defer bw.Stop()

	base := throughput(t, n, "baseline", func(i int) error {
		id := fmt.Sprintf("baseline-%d-%d", time.Now().UnixNano(), i)
		run, err := temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "bench-baseline"}, "BaselineWorkflow")
		if err != nil {
			return err
		}
		for _, s := range []string{"a", "b"} {
			if err := temporal.SignalWorkflow(ctx, id, "", s, 1); err != nil {
				return err
			}
		}
		return run.Get(ctx, nil)
	})
	ours := throughput(t, n, "depositflow", func(i int) error { return benchLease(ctx, fmt.Sprintf("L-bench-%d-%d", time.Now().UnixNano(), i)) })
	r["baseline_leases_per_second"], r["leases_per_second"] = base, ours
	r["throughput_ratio"] = ours / base

	lat, apiLat := eventLatency(t, ctx, events)
	r["event_latency_p50_s"], r["event_latency_p95_s"], r["event_latency_p99_s"] = lat[0], lat[1], lat[2]
	r["api_event_latency_p50_s"], r["api_event_latency_p95_s"], r["api_event_latency_p99_s"] = apiLat[0], apiLat[1], apiLat[2]

	hooks := envInt("BENCH_WEBHOOKS", min(events, 500))
	hookLat := webhookLatency(t, ctx, hooks)
	r["webhook_leases"] = hooks
	r["webhook_latency_p50_s"], r["webhook_latency_p95_s"], r["webhook_latency_p99_s"] = hookLat[0], hookLat[1], hookLat[2]

	r["refund_calc_p99_ms"] = refundCalcP99(t, ctx)

	lease := fmt.Sprintf("L-bench-history-%d", time.Now().UnixNano())
	require.NoError(t, benchLease(ctx, lease))
	iter := temporal.GetWorkflowHistory(ctx, workflows.WorkflowID(lease), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := 0
	for iter.HasNext() {
		_, err := iter.Next()
		require.NoError(t, err)
		hist++
	}
	r["history_events_per_lease"] = hist

	recN := envInt("BENCH_RECONCILE", 100000)
	recPass, recSecond, recFixed := reconcileScale(t, ctx, recN)
	r["reconcile_leases"], r["reconcile_changed"], r["reconcile_pass_s"], r["reconcile_second_pass_s"] = recN, max(recN/100, 1), recPass, recSecond

	idle := envInt("BENCH_IDLE", 100000)
	rss, bytesPerLease := idleScale(t, ctx, idle)
	r["idle_leases"], r["idle_worker_rss_mb"], r["postgres_bytes_per_lease"] = idle, rss, bytesPerLease
	if temporalServer != nil {
		var size int64
		for _, f := range []string{temporalDB, temporalDB + "-wal"} {
			if st, err := os.Stat(f); err == nil {
				size += st.Size()
			}
		}
		r["idle_temporal_server_rss_mb"], r["idle_temporal_db_mb"] = rssMB(t, temporalServer.Process.Pid), float64(size)/(1<<20)
		fmt.Printf("%-12s the Temporal dev server holds %.0f MB, its store on disk %.0f MB\n", "idle",
			r["idle_temporal_server_rss_mb"], r["idle_temporal_db_mb"])
	}

	// The topology column: the dev server against the production topology.
	if os.Getenv("BENCH_TOPOLOGY") != "0" {
		writeTopology(r, benchTopologies(t, envInt("BENCH_TOPOLOGY_LEASES", min(n, 300)),
			envInt("BENCH_TOPOLOGY_EVENTS", min(events, 200)), envInt("BENCH_TOPOLOGY_IDLE", min(idle, 1000))))
	}

	type target struct {
		name string
		ok   bool
		show string
	}
	targets := []target{
		{"throughput ratio >= 0.8", ours/base >= 0.8, fmt.Sprintf("%.2f (%.1f vs %.1f leases/s)", ours/base, ours, base)},
		{"event latency p99 < 0.5 s (CLI)", lat[2] < 0.5, fmt.Sprintf("p50 %.3f s, p95 %.3f s, p99 %.3f s", lat[0], lat[1], lat[2])},
		{"event latency p99 < 0.5 s (HTTP API)", apiLat[2] < 0.5, fmt.Sprintf("p50 %.3f s, p95 %.3f s, p99 %.3f s", apiLat[0], apiLat[1], apiLat[2])},
		{"settlement to webhook delivered p99 < 1 s", hookLat[2] < 1, fmt.Sprintf("p50 %.3f s, p95 %.3f s, p99 %.3f s (%d leases)", hookLat[0], hookLat[1], hookLat[2], hooks)},
		{"refund from a 500-row ledger p99 < 2 ms", r["refund_calc_p99_ms"].(float64) < 2, fmt.Sprintf("%.3f ms", r["refund_calc_p99_ms"])},
		{"history events per lifecycle < 150", hist < 150, fmt.Sprint(hist)},
		{fmt.Sprintf("reconcile, %d leases, 1%% changed < 10 s", recN), recPass < 10,
			fmt.Sprintf("%.3f s (%d fixed); a second pass %.3f s", recPass, recFixed, recSecond)},
		{fmt.Sprintf("worker RSS with %d idle leases < 300 MB", idle), rss < 300, fmt.Sprintf("%.0f MB; PostgreSQL %d bytes per lease", rss, bytesPerLease)},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nTemporal: %s\n%-44s %-6s %s\n", temporalPersistence, "TARGET", "RESULT", "MEASURED")
	for _, tg := range targets {
		fmt.Fprintf(&b, "%-44s %-6s %s\n", tg.name, map[bool]string{true: "PASS", false: "FAIL"}[tg.ok], tg.show)
	}
	fmt.Print(b.String())
	dir := os.Getenv("BENCH_OUT")
	if dir == "" {
		dir = filepath.Join("..", "bench")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	js, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644))
}

// baselineWorkflow is the bare shape of a lease: 7 activities doing nothing,
// 2 signals and a 1 s timer.
func baselineWorkflow(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second, RetryPolicy: &sdktemporal.RetryPolicy{}})
	run := func() error { return workflow.ExecuteActivity(ctx, "Noop").Get(ctx, nil) }
	for i := 0; i < 3; i++ {
		if err := run(); err != nil {
			return err
		}
	}
	for _, s := range []string{"a", "b"} {
		workflow.GetSignalChannel(ctx, s).Receive(ctx, nil)
	}
	if err := workflow.Sleep(ctx, time.Second); err != nil {
		return err
	}
	for i := 0; i < 4; i++ {
		if err := run(); err != nil {
			return err
		}
	}
	return nil
}

// benchStack is a deployment the bench drives: its database and its
// Temporal client (the suite's dev server, or TestProductionTopology's
// server on PostgreSQL).
type benchStack struct {
	pool     *pgxpool.Pool
	temporal client.Client
}

// suiteStack is the suite's own deployment.
func suiteStack() benchStack { return benchStack{pool: pool, temporal: temporal} }

// benchLease runs one lease the way the CLI does (rows first, then the
// workflow and its signals), with short durations, until it closes.
func benchLease(ctx context.Context, lease string) error {
	return suiteStack().lease(ctx, "bench", lease)
}

// lease is benchLease on a property of the stack.
func (st benchStack) lease(ctx context.Context, property, lease string) error {
	// A lease that does not close in two minutes fails the run rather than
	// hanging it.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	q := db.New(st.pool)
	run, residentID, err := st.start(ctx, property, lease, 1, 1)
	if err != nil {
		return err
	}
	p, err := q.InsertPayment(ctx, db.InsertPaymentParams{LeaseID: lease, ResidentID: residentID, AmountInCents: 100000,
		TransactionDate: pgtype.Date{Time: time.Now(), Valid: true}, Reference: "B1"})
	if err != nil {
		return err
	}
	if err := st.temporal.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalPayment, deposit.Payment{PaymentID: p.PaymentID, AmountCents: 100000, Reference: "B1"}); err != nil {
		return err
	}
	ch, err := q.InsertChargeWithKey(ctx, db.InsertChargeWithKeyParams{LeaseID: lease, ResidentID: residentID, ChargeCodeID: "CLEANING",
		AmountInCents: 5000, Description: "Cleaning"})
	if err != nil {
		return err
	}
	if err := st.temporal.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalCharge, deposit.Charge{ChargeID: ch.ChargeID, Code: "CLEANING",
		Category: deposit.CategoryDeduction, AmountCents: 5000, Description: "Cleaning"}); err != nil {
		return err
	}
	// The move-out is a fact of the lease's row, as `deposits moveout`
	// commits it; the signal only wakes the workflow to read it.
	movedOut := time.Now().UTC()
	if _, err := q.SetRealizedMoveOut(ctx, db.SetRealizedMoveOutParams{LeaseID: lease, RealizedMoveOutAt: &movedOut}); err != nil {
		return err
	}
	if err := st.temporal.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalMoveOut, workflows.MoveOut{At: movedOut}); err != nil {
		return err
	}
	var s deposit.State
	if err := run.Get(ctx, &s); err != nil {
		return err
	}
	if s.Outcome != deposit.OutcomePartiallyRefunded || s.RefundCents != 95000 {
		return fmt.Errorf("lease %s ended %s with %d", lease, s.Outcome, s.RefundCents)
	}
	return nil
}

// startBenchLease writes a lease of 1,000.00 and its tenant, as `deposits
// lease start` does, and starts its workflow.
func startBenchLease(ctx context.Context, lease string, assess, release int64) (client.WorkflowRun, int64, error) {
	return suiteStack().start(ctx, "bench", lease, assess, release)
}

// start is startBenchLease on a property of the stack.
func (st benchStack) start(ctx context.Context, property, lease string, assess, release int64) (client.WorkflowRun, int64, error) {
	q := db.New(st.pool)
	if err := q.UpsertProperty(ctx, property); err != nil {
		return nil, 0, err
	}
	if err := q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: property, UnitID: "1"}); err != nil {
		return nil, 0, err
	}
	res, err := q.CreateResident(ctx, db.CreateResidentParams{Email: "bench@example.com", Name: "Bench"})
	if err != nil {
		return nil, 0, err
	}
	if _, err := q.CreateLease(ctx, db.CreateLeaseParams{LeaseID: lease, PropertyID: property, UnitID: "1", ResidentID: res.ResidentID,
		RequestedCents: pgtype.Int8{Int64: 100000, Valid: true}, AssessForSeconds: assess, ReleaseAfterSeconds: release}); err != nil {
		return nil, 0, err
	}
	if err := q.AddLeaseResident(ctx, db.AddLeaseResidentParams{LeaseID: lease, ResidentID: res.ResidentID, Position: 1, Share: 1}); err != nil {
		return nil, 0, err
	}
	in := workflows.LeaseInput{LeaseID: lease, PropertyID: property, UnitID: "1", AmountCents: 100000, AssessForSeconds: assess, ReleaseAfterSeconds: release}
	run, err := st.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(lease), TaskQueue: workflows.TaskQueue,
		TypedSearchAttributes: workflows.StartSearchAttributes(in)}, workflows.WorkflowType, in)
	return run, res.ResidentID, err
}

// throughput runs n lifecycles, 64 at a time, and returns lifecycles per second.
func throughput(t *testing.T, n int, what string, one func(int) error) float64 {
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	var done sync.Mutex
	finished := 0
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := one(i); err != nil {
					t.Errorf("%s %d: %v", what, i, err)
				}
				done.Lock()
				finished++
				if finished%max(n/10, 1) == 0 {
					fmt.Printf("%-12s %s %d/%d\n", what, strings.Repeat("#", finished*10/n)+strings.Repeat(".", 10-finished*10/n), finished, n)
				}
				done.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	rate := float64(n) / time.Since(start).Seconds()
	fmt.Printf("%-12s %d lifecycles in %s: %.1f per second\n", what, n, time.Since(start).Round(time.Millisecond), rate)
	return rate
}

// eventLatency records n payments on an open lease the way a manager does
// (the deposits binary: `payment record`, a process started per payment) and
// the way a PMS does (POST /v1/leases/{id}/payments on `deposits serve`), and
// times each until the lease's query shows it. It returns p50, p95 and p99
// in seconds for each path.
func eventLatency(t *testing.T, ctx context.Context, n int) (cli, api [3]float64) {
	url := startServe(t)
	key := strings.TrimSpace(must(t, "apikey", "create", "--name", fmt.Sprint("bench-", time.Now().UnixNano()), "--all-properties"))
	start := func(lease string) {
		must(t, "lease", "start", lease, "--property", "bench", "--unit", "1", "--amount", "1000000", "--tenant-email", "lat@example.com")
	}
	cli = paymentLatency(t, ctx, suiteStack(), "latency cli", n, 500, start, func(lease string, i int) {
		must(t, "payment", "record", lease, "--amount", "0.01", "--ref", fmt.Sprint("E", i))
	})
	api = paymentLatency(t, ctx, suiteStack(), "latency api", n, 500, start, func(lease string, i int) {
		a := call(t, "POST", url+"/v1/leases/"+lease+"/payments", key,
			map[string]any{"payment_id": fmt.Sprint("E", i), "transaction_date": time.Now().Format(time.DateOnly), "amount_in_cents": 1})
		require.Equal(t, 201, a.status, a.raw)
	})
	return cli, api
}

// paymentLatency records n payments with record on leases start made
// (a new one every perLease payments: a lease holds at most
// gateway.MaxFacts facts) and times each until the lease's query on st
// shows it. It returns p50, p95 and p99 in seconds. A query that finds no
// worker for a moment (one just stopped held the lease's sticky queue)
// counts as waiting.
func paymentLatency(t *testing.T, ctx context.Context, st benchStack, what string, n, perLease int, start func(lease string), record func(lease string, i int)) [3]float64 {
	var lease string
	var lat []float64
	for i := 0; i < n; i++ {
		if i%perLease == 0 {
			lease = fmt.Sprintf("L-bench-latency-%d", time.Now().UnixNano())
			start(lease)
		}
		began := time.Now()
		record(lease, i)
		for deadline := time.Now().Add(30 * time.Second); ; {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			v, err := st.temporal.QueryWorkflow(qctx, workflows.WorkflowID(lease), "", workflows.QueryState)
			cancel()
			if err != nil && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			require.NoError(t, err)
			var s deposit.State
			require.NoError(t, v.Get(&s))
			if len(s.Payments) > i%perLease {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(began).Seconds())
		if (i+1)%max(n/10, 1) == 0 {
			fmt.Printf("%-12s %d/%d\n", what, i+1, n)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return lat[min(int(p*float64(len(lat))), len(lat)-1)] }
	return [3]float64{pct(0.50), pct(0.95), pct(0.99)}
}

// webhookLatency settles n leases of a property of their own, 16 at a
// time, with a PMS's endpoint subscribed to their refund.due (a receiver
// in this process that answers 204), and times each from its settlement's
// row (created_at: the start of the transaction that writes the refund and
// its event) to the receiver getting the event. It returns p50, p95 and
// p99 in seconds.
func webhookLatency(t *testing.T, ctx context.Context, n int) [3]float64 {
	property := fmt.Sprintf("bench-hooks-%d", time.Now().UnixNano())
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var ev struct {
			Type string `json:"type"`
			Data struct {
				LeaseID string `json:"lease_id"`
			} `json:"data"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		if _, ok := arrived[ev.Data.LeaseID]; !ok && ev.Type == "refund.due" {
			arrived[ev.Data.LeaseID] = at
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	var ep struct {
		ID int64 `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(must(t, "webhook", "add", srv.URL, "--events", "refund.due", "--property", property, "-o", "json")), &ep))
	defer must(t, "webhook", "remove", fmt.Sprint(ep.ID))

	stamp := time.Now().UnixNano()
	work := make(chan int)
	var wg sync.WaitGroup
	var lat []float64
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				lease := fmt.Sprintf("L-bench-hook-%d-%d", stamp, i)
				if err := suiteStack().lease(ctx, property, lease); err != nil {
					t.Errorf("webhook lease %d: %v", i, err)
					continue
				}
				var settled time.Time
				if err := pool.QueryRow(ctx, "SELECT created_at FROM settlements WHERE lease_id = $1", lease).Scan(&settled); err != nil {
					t.Errorf("webhook lease %d: %v", i, err)
					continue
				}
				deadline := time.Now().Add(30 * time.Second)
				for {
					mu.Lock()
					at, ok := arrived[lease]
					mu.Unlock()
					if ok {
						mu.Lock()
						lat = append(lat, at.Sub(settled).Seconds())
						mu.Unlock()
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("webhook lease %d: refund.due never arrived", i)
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
		if (i+1)%max(n/10, 1) == 0 {
			fmt.Printf("%-12s %d/%d\n", "webhooks", i+1, n)
		}
	}
	close(work)
	wg.Wait()
	require.NotEmpty(t, lat)
	slices.Sort(lat)
	pct := func(p float64) float64 { return lat[min(int(p*float64(len(lat))), len(lat)-1)] }
	fmt.Printf("%-12s settlement to webhook delivered over %d leases: p50 %.3f s, p95 %.3f s, p99 %.3f s, max %.3f s\n",
		"webhooks", len(lat), pct(0.50), pct(0.95), pct(0.99), lat[len(lat)-1])
	return [3]float64{pct(0.50), pct(0.95), pct(0.99)}
}

// refundCalcP99 times computing a refund from a 500-row ledger in
// PostgreSQL (the database sums the rows by category, Settle does the
// maths), 200 times, and returns the p99 in milliseconds.
func refundCalcP99(t *testing.T, ctx context.Context) float64 {
	lease := fmt.Sprintf("L-bench-ledger-%d", time.Now().UnixNano())
	q := db.New(pool)
	require.NoError(t, q.UpsertProperty(ctx, "bench"))
	require.NoError(t, q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: "bench", UnitID: "1"}))
	res, err := q.CreateResident(ctx, db.CreateResidentParams{Email: "ledger@example.com"})
	require.NoError(t, err)
	_, err = q.CreateLease(ctx, db.CreateLeaseParams{LeaseID: lease, PropertyID: "bench", UnitID: "1", ResidentID: res.ResidentID,
		AssessForSeconds: 1, ReleaseAfterSeconds: 1})
	require.NoError(t, err)
	for i := 0; i < 250; i++ {
		_, err := q.InsertPayment(ctx, db.InsertPaymentParams{LeaseID: lease, ResidentID: res.ResidentID, AmountInCents: 1000,
			TransactionDate: pgtype.Date{Time: time.Now(), Valid: true}, Reference: fmt.Sprint("R", i)})
		require.NoError(t, err)
		code := []string{"RENT", "CLEANING"}[i%2]
		_, err = q.InsertChargeWithKey(ctx, db.InsertChargeWithKeyParams{LeaseID: lease, ResidentID: res.ResidentID, ChargeCodeID: code,
			AmountInCents: 300, Description: "row"})
		require.NoError(t, err)
	}
	var times []float64
	for i := 0; i < 200; i++ {
		start := time.Now()
		tot, err := q.LedgerTotals(ctx, lease)
		require.NoError(t, err)
		s := deposit.Settle(deposit.Terms{ReceivedCents: tot.PaidCents + tot.PrepaidCents, CreditsCents: tot.CreditsCents,
			ArrearsCents: tot.ArrearsCents, DeductionsCents: tot.DeductionsCents})
		require.EqualValues(t, 250*1000-250*300, s.RefundCents)
		times = append(times, float64(time.Since(start).Microseconds())/1000)
	}
	slices.Sort(times)
	return times[len(times)*99/100]
}

// reconcileScale writes n leases straight into the database (their
// workflows are not the point: they are the portfolio a pass must not
// touch), starts the workflows of 1% of them, moves the watermark past all
// that as a previous pass would, then posts a partial payment to each of the 1%:
// half signalled (as the API does), half written only to the database. It
// times one reconcile pass (deposits reconcile, on the worker), which must
// fix exactly the unsignalled half, and a second pass, which fixes nothing.
func reconcileScale(t *testing.T, ctx context.Context, n int) (pass, second float64, fixed int) {
	prefix := fmt.Sprintf("L-rec-%d-", time.Now().UnixNano())
	changed := max(n/100, 1)
	start := time.Now()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	for _, sql := range []string{
		`INSERT INTO properties (property_id) VALUES ('bench') ON CONFLICT DO NOTHING`,
		`INSERT INTO units (property_id, unit_id) VALUES ('bench', '1') ON CONFLICT DO NOTHING`,
		`INSERT INTO residents (email, name) SELECT 'r' || g || '@example.com', $1 || g FROM generate_series(1, $2::int) g`,
		`INSERT INTO leases (lease_id, property_id, unit_id, resident_id, requested_cents, assess_for_seconds, release_after_seconds)
		 SELECT name, 'bench', '1', resident_id, 100000, 259200, 1209600 FROM residents WHERE name LIKE $1 || '%' AND $2::int > 0`,
		`INSERT INTO lease_residents (lease_id, resident_id, position)
		 SELECT name, resident_id, 1 FROM residents WHERE name LIKE $1 || '%' AND $2::int > 0`,
	} {
		args := []any{prefix, n}
		if !strings.Contains(sql, "$1") {
			args = nil
		}
		_, err := tx.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
	fmt.Printf("%-12s %d leases written in %s\n", "reconcile", n, time.Since(start).Round(time.Millisecond))

	var ids []string
	for i := 1; i <= changed; i++ {
		ids = append(ids, fmt.Sprintf("%s%d", prefix, i*(n/changed)))
	}
	throughput(t, changed, "rec-start", func(i int) error {
		in := workflows.LeaseInput{LeaseID: ids[i], PropertyID: "bench", UnitID: "1", AmountCents: 100000, AssessForSeconds: 259200, ReleaseAfterSeconds: 1209600}
		_, err := temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(ids[i]), TaskQueue: workflows.TaskQueue,
			TypedSearchAttributes: workflows.StartSearchAttributes(in)}, workflows.WorkflowType, in)
		return err
	})
	// Until each has charged its deposit and sent its request: the idle
	// portfolio of an ordinary day.
	require.Eventually(t, func() bool {
		var sent int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM email_outbox WHERE sent_at IS NOT NULL AND lease_id = ANY($1)", ids).Scan(&sent))
		return sent == changed
	}, 10*time.Minute, time.Second)

	// What a previous pass leaves: the watermark at the horizon, the log pruned.
	q := db.New(pool)
	horizon, err := q.ReconcileHorizon(ctx)
	require.NoError(t, err)
	require.NoError(t, q.SetReconcileWatermark(ctx, db.SetReconcileWatermarkParams{Name: "default", Txid: horizon}))
	require.NoError(t, q.PruneChanges(ctx, horizon))

	rows, err := pool.Query(ctx, `INSERT INTO payments (lease_id, resident_id, amount_in_cents, transaction_date, reference)
		SELECT lease_id, resident_id, 10000, current_date, 'REC-1' FROM leases WHERE lease_id = ANY($1) RETURNING payment_id, lease_id`, ids)
	require.NoError(t, err)
	type paid struct {
		id    int64
		lease string
	}
	var payments []paid
	for rows.Next() {
		var p paid
		require.NoError(t, rows.Scan(&p.id, &p.lease))
		payments = append(payments, p)
	}
	require.NoError(t, rows.Err())
	require.Len(t, payments, changed)
	for _, p := range payments[:changed/2] {
		require.NoError(t, temporal.SignalWorkflow(ctx, workflows.WorkflowID(p.lease), "", workflows.SignalPayment,
			deposit.Payment{PaymentID: p.id, AmountCents: 10000, Reference: "REC-1"}))
	}
	time.Sleep(2 * time.Second) // the signalled half applied, as it would be long before a pass

	run := func() (float64, workflows.ReconcileReport) {
		start := time.Now()
		out := must(t, "reconcile", "-o", "json")
		took := time.Since(start).Seconds()
		var rep workflows.ReconcileReport
		require.NoError(t, json.Unmarshal([]byte(out), &rep))
		require.Zero(t, rep.Errors, out)
		return took, rep
	}
	pass, rep := run()
	fmt.Printf("%-12s pass: %d changes, %d leases checked, %d found, %d fixed in %.3f s (%d ms in the activity)\n",
		"reconcile", rep.Changes, rep.Checked, rep.Found, rep.Fixed, pass, rep.ElapsedMS)
	require.Equal(t, changed-changed/2, rep.Fixed)
	second, rep2 := run()
	fmt.Printf("%-12s second pass: %d leases checked, %d fixed in %.3f s\n", "reconcile", rep2.Checked, rep2.Fixed, second)
	require.Zero(t, rep2.Fixed)
	return pass, second, rep.Fixed
}

// idleScale starts n leases that wait for their move-out and returns the
// worker's resident memory (MB) and the database bytes each lease takes.
func idleScale(t *testing.T, ctx context.Context, n int) (float64, int64) {
	var before int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&before))
	idleStarts(t, suiteStack(), n)
	var after int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&after))
	return rssMB(t, theWorker.cmd.Process.Pid), (after - before) / int64(n)
}

// rssMB is a process's resident memory in MB, as the kernel counts it.
func rssMB(t *testing.T, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	var kb float64
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			_, _ = fmt.Sscan(strings.TrimPrefix(line, "VmRSS:"), &kb)
		}
	}
	return kb / 1024
}
