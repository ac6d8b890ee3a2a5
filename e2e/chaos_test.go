package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/workflows"
)

// TestChaos runs many leases through whole lifecycles while the worker is
// SIGKILLed and restarted, PostgreSQL restarts and the SMTP server goes away,
// then checks that nothing was lost and nothing happened twice. make test
// runs a short version; make chaos the full one (CHAOS_LEASES=500,
// CHAOS_SMTP_OUTAGE=60s). It ends with one line a script can read:
//
//	chaos: leases=200 kills=10 pg_restarts=1 smtp_outage_s=15 closed=200 lost=0 duplicated=0 redelivered=0 wrong=0 conserved=yes
func TestChaos(t *testing.T) {
	n := envInt("CHAOS_LEASES", 200)
	kills := envInt("CHAOS_KILLS", 10)
	outage := envDuration("CHAOS_SMTP_OUTAGE", 15*time.Second)
	seed := uint64(envInt("CHAOS_SEED", int(time.Now().UnixNano()%1_000_000)))
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("chaos seed %d (CHAOS_SEED=%d repeats it)", seed, seed)

	plans := make([]chaosPlan, n)
	for i := range plans {
		plans[i] = newChaosPlan(rng, i)
	}

	// The chaos: kills at random moments, one PostgreSQL restart, one SMTP outage.
	driving := make(chan struct{})
	var chaosDone sync.WaitGroup
	var killed, pgRestarts atomic.Int64
	span := time.Duration(n) * 150 * time.Millisecond // about how long the driving takes
	chaosDone.Add(1)
	go func() {
		defer chaosDone.Done()
		type event struct {
			at   time.Duration
			kind string
		}
		var events []event
		for i := 0; i < kills; i++ {
			events = append(events, event{time.Duration(rng.Int64N(int64(span))), "kill"})
		}
		if pgCluster != nil {
			events = append(events, event{span / 3, "pg"})
		}
		events = append(events, event{span / 2, "smtp"})
		start := time.Now()
		for len(events) > 0 {
			next := 0
			for i, e := range events {
				if e.at < events[next].at {
					next = i
				}
			}
			e := events[next]
			events = append(events[:next], events[next+1:]...)
			time.Sleep(time.Until(start.Add(e.at)))
			switch e.kind {
			case "kill":
				theWorker.kill()
				killed.Add(1)
				time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
				w, err := startWorker(theWorker.metricsAddr, workerLog)
				if err != nil {
					t.Errorf("restarting the worker: %v", err)
					return
				}
				theWorker = w
			case "pg":
				if err := pgCluster.Restart(context.Background(), 3*time.Second); err != nil {
					t.Errorf("restarting PostgreSQL: %v", err)
				}
				pgRestarts.Add(1)
			case "smtp":
				// The mail server goes away while the others go on.
				go func() {
					_ = sink.Close()
					time.Sleep(outage)
					if err := sink.Restart(); err != nil {
						t.Errorf("restarting the SMTP server: %v", err)
					}
				}()
			}
		}
		<-driving
	}()

	// Drive every lease through the CLI, eight at a time, as managers would:
	// a command that cannot reach Temporal or the database is run again.
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				for _, args := range plans[i].commands() {
					if err := persist(args); err != nil {
						t.Errorf("lease %s: %v", plans[i].lease, err)
						break
					}
				}
			}
		}()
	}
	for i := range plans {
		work <- i
	}
	close(work)
	wg.Wait()
	close(driving)
	chaosDone.Wait()

	// Every lease reaches its end (the SMTP outage and killed attempts delay it).
	deadline := time.Now().Add(10 * time.Minute)
	var closed int64
	for time.Now().Before(deadline) {
		closed = count(t, "SELECT count(*) FROM leases WHERE lease_id LIKE 'L-chaos-%' AND stage = 'closed'")
		mailDone := count(t, "SELECT count(*) FROM email_outbox WHERE lease_id LIKE 'L-chaos-%' AND sent_at IS NOT NULL")
		if closed == int64(n) && mailDone == int64(4*n) {
			break
		}
		time.Sleep(time.Second)
	}

	// What must hold: the right outcome for every lease, one settlement, the
	// payouts adding up, every email exactly once, and every cent conserved.
	lost, wrong := 0, 0
	for _, p := range plans {
		var s deposit.State
		if err := temporal.GetWorkflow(context.Background(), workflows.WorkflowID(p.lease), "").Get(context.Background(), &s); err != nil {
			lost++
			t.Errorf("lease %s did not finish: %v", p.lease, err)
			continue
		}
		if s.Outcome != p.outcome || s.RefundCents != p.refund || s.BalanceOwedCents != p.owed || len(s.EmailFailures) > 0 || len(s.LateEvents) > 0 {
			wrong++
			t.Errorf("lease %s: outcome %s refund %d owed %d (failures %v, late %v); planned %s refund %d owed %d",
				p.lease, s.Outcome, s.RefundCents, s.BalanceOwedCents, s.EmailFailures, s.LateEvents, p.outcome, p.refund, p.owed)
		}
	}
	settlements := count(t, "SELECT count(*) FROM settlements WHERE lease_id LIKE 'L-chaos-%'")
	badPayouts := count(t, `SELECT count(*) FROM settlements s WHERE s.lease_id LIKE 'L-chaos-%' AND s.refund_cents <>
		COALESCE((SELECT sum(amount_in_cents) FROM refunds r WHERE r.lease_id = s.lease_id), 0)`)
	badInvoices := count(t, `SELECT count(*) FROM settlements s WHERE s.lease_id LIKE 'L-chaos-%' AND s.balance_owed_cents <>
		COALESCE((SELECT sum(amount_due_in_cents) FROM invoices i WHERE i.lease_id = s.lease_id), 0)`)
	// Conservation, for every lease and summed: what came in was refunded or applied to what was owed.
	unconserved := count(t, `SELECT count(*) FROM settlements s WHERE s.lease_id LIKE 'L-chaos-%' AND (
		s.received_cents <> (SELECT COALESCE(sum(amount_in_cents), 0) FROM payments p WHERE p.lease_id = s.lease_id AND p.returned_at IS NULL)
		OR s.received_cents + s.interest_cents + s.credits_cents <> s.refund_cents + LEAST(s.arrears_cents + s.deductions_cents + s.kept_cents, s.received_cents + s.interest_cents + s.credits_cents))`)
	var received, refunded, applied, owed int64
	for _, p := range plans {
		received += p.paid
		refunded += p.refund
		applied += p.paid - p.refund
		owed += p.owed
	}
	dbReceived := count(t, "SELECT COALESCE(sum(received_cents), 0) FROM settlements WHERE lease_id LIKE 'L-chaos-%'")
	dbRefunded := count(t, "SELECT COALESCE(sum(amount_in_cents), 0) FROM refunds WHERE lease_id LIKE 'L-chaos-%'")
	dbOwed := count(t, "SELECT COALESCE(sum(amount_due_in_cents), 0) FROM invoices WHERE lease_id LIKE 'L-chaos-%'")
	conserved := unconserved == 0 && badPayouts == 0 && badInvoices == 0 && settlements == int64(n) &&
		dbReceived == received && dbRefunded == refunded && dbOwed == owed && received == refunded+applied

	// Every email exactly once, counted by Message-ID as the SMTP server saw
	// them. SMTP cannot promise that across a crash: an attempt killed after
	// the server took the message but before the outbox recorded it is in
	// doubt, and its retry sends the same bytes again (a mail client shows one
	// message). Such a copy counts as redelivered, and only as many times as the
	// outbox counted retries in doubt for that message; any other copy, or a
	// copy that differs, is a duplicate.
	inDoubt := map[string]int{}
	sentAt := map[string]time.Time{}
	rows, err := pool.Query(context.Background(), "SELECT message_id, attempts_in_doubt, sent_at FROM email_outbox WHERE lease_id LIKE 'L-chaos-%' AND sent_at IS NOT NULL")
	require.NoError(t, err)
	for rows.Next() {
		var id string
		var n int
		var at time.Time
		require.NoError(t, rows.Scan(&id, &n, &at))
		inDoubt["<"+id+">"], sentAt["<"+id+">"] = n, at
	}
	require.NoError(t, rows.Err())
	seen := map[string]int{}
	first := map[string][]byte{}
	lastReceived := map[string]time.Time{}
	duplicated, redelivered := 0, 0
	for _, m := range sink.Messages() {
		h, err := m.Header()
		require.NoError(t, err)
		id := h.Get("Message-Id")
		if !strings.Contains(id, "deposit-L-chaos-") {
			continue
		}
		seen[id]++
		lastReceived[id] = m.Received
		if seen[id] == 1 {
			first[id] = m.Raw
			continue
		}
		if seen[id]-1 <= inDoubt[id] && string(m.Raw) == string(first[id]) {
			redelivered++
			t.Logf("email %s sent again after an attempt in doubt (same bytes)", id)
			continue
		}
		duplicated++
		t.Errorf("email %s received %d times (%d retries in doubt)", id, seen[id], inDoubt[id])
	}
	// The window in doubt: from the server keeping a message to the outbox
	// recording it (a kill inside it makes a redelivery).
	var window []time.Duration
	for id, at := range sentAt {
		if r, ok := lastReceived[id]; ok {
			window = append(window, at.Sub(r))
		}
	}
	if len(window) > 0 {
		slices.Sort(window)
		t.Logf("from the server's 250 to the outbox record: p50 %s, p99 %s, max %s (%d emails)",
			window[len(window)/2], window[len(window)*99/100], window[len(window)-1], len(window))
	}
	if len(seen) != 4*n {
		t.Errorf("%d distinct emails received, want %d (request, receipt, notice, refund or invoice per lease)", len(seen), 4*n)
	}
	if !conserved {
		t.Errorf("not conserved: unconserved=%d bad payouts=%d bad invoices=%d settlements=%d/%d received %d/%d refunded %d/%d owed %d/%d",
			unconserved, badPayouts, badInvoices, settlements, n, dbReceived, received, dbRefunded, refunded, dbOwed, owed)
	}
	yes := map[bool]string{true: "yes", false: "no"}[conserved]
	line := fmt.Sprintf("chaos: leases=%d kills=%d pg_restarts=%d smtp_outage_s=%d closed=%d lost=%d duplicated=%d redelivered=%d wrong=%d conserved=%s",
		n, killed.Load(), pgRestarts.Load(), int(outage.Seconds()), closed, lost+(n-int(closed)), duplicated, redelivered, wrong, yes)
	fmt.Println(line)
	t.Log(line)
	if f := os.Getenv("CHAOS_OUT"); f != "" {
		_ = os.WriteFile(f, []byte(line+"\n"), 0o644)
	}
	require.EqualValues(t, n, closed, "every lease closes")
}

// chaosPlan is one lease's script and the result it must end with.
type chaosPlan struct {
	lease    string
	deposit  int64
	payments []int64
	charge   int64
	paid     int64
	refund   int64
	owed     int64
	outcome  string
}

func newChaosPlan(rng *rand.Rand, i int) chaosPlan {
	p := chaosPlan{lease: fmt.Sprintf("L-chaos-%04d", i), deposit: 50000 + rng.Int64N(250000)}
	if rng.IntN(2) == 0 {
		first := 1 + rng.Int64N(p.deposit-1)
		p.payments = []int64{first, p.deposit - first}
	} else {
		p.payments = []int64{p.deposit}
	}
	p.paid = p.deposit
	switch r := rng.IntN(10); {
	case r < 3: // nothing to deduct
	case r < 8:
		p.charge = 1 + rng.Int64N(p.deposit-1)
	default:
		p.charge = p.deposit + 1 + rng.Int64N(p.deposit/2)
	}
	st := deposit.ComputeRefund(p.paid, 0, p.charge)
	p.refund, p.owed, p.outcome = st.RefundCents, st.BalanceOwedCents, st.Outcome
	return p
}

func dollars(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

// commands are the lease's CLI steps. The charge comes before the move-out
// so that the short assessment window cannot close on it however slow the
// chaos makes the commands.
func (p chaosPlan) commands() [][]string {
	cmds := [][]string{{"lease", "start", p.lease, "--property", "chaos", "--unit", "1", "--amount", dollars(p.deposit),
		"--tenant-email", strings.ToLower(p.lease) + "@example.com", "--assess-for", "2s", "--release-after", "4s"}}
	for j, c := range p.payments {
		cmds = append(cmds, []string{"payment", "record", p.lease, "--amount", dollars(c), "--ref", fmt.Sprintf("P%d", j+1)})
	}
	if p.charge > 0 {
		cmds = append(cmds, []string{"charge", "add", p.lease, "--code", "DAMAGE", "--amount", dollars(p.charge), "--description", "Damage", "--ref", "C1"})
	}
	return append(cmds, []string{"moveout", p.lease, "--date", "now"})
}

// persist runs a command until it is done: again while Temporal, the
// database or the worker cannot be reached, and "already done" counts as done.
func persist(args []string) error {
	return persistWith(args, 120, time.Second, func(int) []string { return cliEnv })
}

// persistWith is persist with the environment of each try (another API
// server after one died, say), tries times, pause apart.
func persistWith(args []string, tries int, pause time.Duration, env func(try int) []string) error {
	var r result
	for try := 0; try < tries; try++ {
		a := args
		if a[0] == "moveout" {
			a = []string{"moveout", args[1], "--date", now()}
		}
		r = depositsWith(env(try), a...)
		switch {
		case r.code == 0:
			return nil
		case r.code == 1 && (strings.Contains(r.stderr, "already started") || strings.Contains(r.stderr, "already has its move-out")):
			return nil
		case r.code == 2:
			time.Sleep(pause)
		default:
			return fmt.Errorf("deposits %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	return fmt.Errorf("deposits %s: still failing: %s", strings.Join(args, " "), r.stderr)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
