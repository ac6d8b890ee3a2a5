// Package reconcile is the pass that catches what the workflows were not
// told: it compares the facts in PostgreSQL with each lease's workflow state
// and signals what is missing, and starts the workflows of leases that have
// none. The worker runs it as the ReconcilePass activity of
// workflows.ReconcileWorkflow; `deposits reconcile --local` runs it in-process.
//
// Incremental, by a watermark. Each fact (lease, payment and its return,
// charge, deposit amendment, move-out date) adds a row to lease_changes by
// trigger, in the fact's own transaction, with that transaction's ID. A pass
// reads the rows with watermark <= txid < horizon, where horizon is the
// oldest transaction still running (pg_snapshot_xmin): every transaction
// below it has ended, so no row can still appear below it, and a transaction
// that commits late is read by the next pass instead of being skipped, as a
// plain "id > last id" would. Only the leases named there are compared with
// their workflows; the watermark moves to the horizon only after every one of
// them was fixed, so a failed pass is simply done again.
//
// What a workflow has seen is read from its "state" query (its payments,
// charges, deposit rows and move-out, each by database ID), for the changed
// leases only. The workflow applies each fact once by its ID, so a signal
// sent twice (a pass racing the CLI's own signal) changes nothing: the pass
// is idempotent, and a second pass finds nothing to do.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/workflows"
)

// Watermark is the name of the pass's watermark row.
const Watermark = "default"

// Input and Report are a pass's request and what it found and fixed.
type (
	Input  = workflows.ReconcileInput
	Report = workflows.ReconcileReport
)

// Reconciler runs passes. It talks to the leases' workflows only through
// the gateway, as every other front end does.
type Reconciler struct {
	Pool        *pgxpool.Pool
	Gateway     *gateway.Gateway
	Concurrency int // leases checked at once (32 when zero)
	// Webhooks wakes webhook queues nobody is delivering.
	Webhooks activities.WebhookDispatcher
}

// New returns a reconciler over a database and a Temporal client.
func New(pool *pgxpool.Pool, c client.Client) *Reconciler {
	return &Reconciler{Pool: pool, Gateway: &gateway.Gateway{
		DB:       func(context.Context) (*pgxpool.Pool, error) { return pool, nil },
		Temporal: func(context.Context) (client.Client, error) { return c, nil },
	}, Webhooks: workflows.WebhookStarter{Client: c}}
}

// RunOnWorker runs one pass as a ReconcileWorkflow on a deposits worker and
// waits for its report.
func RunOnWorker(ctx context.Context, c client.Client, in Input) (Report, error) {
	var rep Report
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        "reconcile-now-" + time.Now().UTC().Format("20060102T150405.000000000"),
		TaskQueue: workflows.TaskQueue,
	}, workflows.ReconcileWorkflowType, in)
	if err != nil {
		return rep, err
	}
	return rep, run.Get(ctx, &rep)
}

const maxListed = 1000

// Pass runs one pass (registered as the ReconcilePass activity).
func (r *Reconciler) Pass(ctx context.Context, in workflows.ReconcileInput) (workflows.ReconcileReport, error) {
	start := time.Now()
	rep := workflows.ReconcileReport{Full: in.Full, Leases: []workflows.ReconciledLease{}}
	q := db.New(r.Pool)
	var err error
	if rep.FromTxID, err = q.GetReconcileWatermark(ctx, Watermark); err != nil {
		return rep, err
	}
	if rep.ToTxID, err = q.ReconcileHorizon(ctx); err != nil {
		return rep, err
	}
	var leases []string
	if in.Full {
		leases, err = q.OpenLeases(ctx)
	} else {
		if rep.Changes, err = q.CountChanges(ctx, db.CountChangesParams{FromTxid: rep.FromTxID, ToTxid: rep.ToTxID}); err != nil {
			return rep, err
		}
		leases, err = q.ChangedLeases(ctx, db.ChangedLeasesParams{FromTxid: rep.FromTxID, ToTxid: rep.ToTxID})
	}
	if err != nil {
		return rep, err
	}
	rep.Checked = len(leases)

	results := make([]result, len(leases))
	n := r.Concurrency
	if n <= 0 {
		n = 32
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = r.lease(ctx, leases[i])
			}
		}()
	}
	beat := time.Now()
	for i := range leases {
		next <- i
		if activity.IsActivity(ctx) && time.Since(beat) > 5*time.Second {
			activity.RecordHeartbeat(ctx, i)
			beat = time.Now()
		}
	}
	close(next)
	wg.Wait()

	for i, res := range results {
		rep.Found += res.found
		rep.Fixed += len(res.fixed)
		rep.Late += len(res.late)
		if res.started {
			rep.Started++
		}
		if res.err != nil {
			rep.Errors++
		}
		if (res.found > 0 || res.err != nil) && len(rep.Leases) < maxListed {
			l := workflows.ReconciledLease{LeaseID: leases[i], Fixed: res.fixed, Late: res.late}
			if res.err != nil {
				l.Error = res.err.Error()
			}
			rep.Leases = append(rep.Leases, l)
		}
	}
	// Webhook queues are the database's, apart from the watermark.
	if rep.WebhooksWoken, err = r.wakeWebhooks(ctx); err != nil {
		rep.WebhookError = err.Error()
	}
	// The watermark moves only once everything below the horizon is fixed.
	if rep.Errors == 0 {
		if err := q.SetReconcileWatermark(ctx, db.SetReconcileWatermarkParams{Name: Watermark, Txid: rep.ToTxID}); err != nil {
			return rep, err
		}
		if err := q.PruneChanges(ctx, rep.ToTxID); err != nil {
			return rep, err
		}
		rep.Advanced = true
	}
	rep.ElapsedMS = time.Since(start).Milliseconds()
	return rep, nil
}

type result struct {
	found   int
	fixed   []string
	late    []string
	started bool
	err     error
}

// lease compares one lease's facts with its workflow and signals the missing ones.
func (r *Reconciler) lease(ctx context.Context, leaseID string) (res result) {
	q := db.New(r.Pool)
	facts, err := q.LeaseFacts(ctx, leaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return res // a change of a lease since removed
	}
	if err != nil {
		res.err = err
		return res
	}
	st, found, err := r.Gateway.SystemState(ctx, leaseID)
	if err != nil {
		res.err = err
		return res
	}
	if !found {
		res.found++
		started, err := r.Gateway.StartStored(ctx, leaseID)
		if err != nil {
			res.err = err
			return res
		}
		if started {
			res.started = true
			res.fixed = append(res.fixed, "started workflow "+workflows.WorkflowID(leaseID))
		}
		// Compare with the workflow, whoever started it.
		if st, _, err = r.Gateway.SystemState(ctx, leaseID); err != nil {
			res.err = err
			return res
		}
	}
	missing, err := r.missing(ctx, q, leaseID, facts, st)
	if err != nil {
		res.err = err
		return res
	}
	res.found += len(missing)
	if settled(st) {
		// A tenant's disputed item stays open past the settlement: the
		// workflow still pays back its resolution, so it is woken until the
		// lease closes.
		if st.Stage != deposit.StageClosed {
			for _, m := range missing {
				if m.signal != workflows.SignalDispute {
					continue
				}
				if err := r.Gateway.Signal(ctx, leaseID, m.signal, m.arg); err != nil {
					res.err = fmt.Errorf("signal %s: %w", m.what, err)
					return res
				}
				res.fixed = append(res.fixed, m.what)
			}
		}
		// A settled deposit applies nothing more. A payment or charge the
		// PMS booked after the settlement becomes a follow-up (refunded or
		// invoiced, the tenant emailed); anything else is reported for an
		// operator to look at.
		for _, m := range missing {
			if m.signal == workflows.SignalDispute {
				continue
			}
			if m.fact == "" {
				res.late = append(res.late, m.what)
				continue
			}
			if _, err := r.Gateway.FollowUp(ctx, leaseID, m.fact); err != nil {
				res.err = fmt.Errorf("follow-up of %s: %w", m.what, err)
				return res
			}
			res.late = append(res.late, m.what+": followed up")
		}
		return res
	}
	for _, m := range missing {
		if err := r.Gateway.Signal(ctx, leaseID, m.signal, m.arg); err != nil {
			res.err = fmt.Errorf("signal %s: %w", m.what, err)
			return res
		}
		res.fixed = append(res.fixed, m.what)
	}
	return res
}

// Webhook queues nobody works on: a minute after an event was written,
// its delivery not attempted (the activity's wake-up was lost), or no
// attempt for longer than the longest wait between retries (the delivery
// workflow ended without them, say terminated by hand).
const (
	webhookUnattemptedFor = time.Minute
	webhookSilentFor      = 2 * time.Hour
)

// wakeWebhooks wakes the delivery workflow of every webhook queue nobody is
// working on; it says how many it woke. Waking one that is working changes
// nothing: the workflow reads its queue from the database.
func (r *Reconciler) wakeWebhooks(ctx context.Context) (int, error) {
	if r.Webhooks == nil {
		return 0, nil
	}
	rows, err := db.New(r.Pool).StalledWebhookQueues(ctx, db.StalledWebhookQueuesParams{
		UnattemptedFor: pgtype.Interval{Microseconds: webhookUnattemptedFor.Microseconds(), Valid: true},
		SilentFor:      pgtype.Interval{Microseconds: webhookSilentFor.Microseconds(), Valid: true},
	})
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	queues := make([]activities.WebhookQueue, len(rows))
	for i, row := range rows {
		queues[i] = activities.WebhookQueue{EndpointID: row.EndpointID, LeaseID: row.LeaseID, EventID: "reconcile"}
	}
	return len(queues), r.Webhooks.DispatchWebhooks(ctx, queues)
}

func hasEarlier(st deposit.State, kind string, id int64) bool {
	return slices.ContainsFunc(st.EarlierRefunds, func(e deposit.EarlierRefund) bool { return e.Kind == kind && e.ID == id })
}

func settled(st deposit.State) bool {
	return st.Stage == deposit.StageClosed || st.Outcome != ""
}

// pending says whether the workflow holds an item for approval: it has
// seen the fact.
func pending(st deposit.State, item string) bool {
	return slices.ContainsFunc(st.Pending, func(p deposit.Pending) bool { return p.Item == item })
}

type signal struct {
	what   string
	signal string
	arg    any
	fact   string // "payment:12", "charge:34": money a settled lease follows up
}

// missing lists the facts in the database the workflow state does not show,
// in the order they must be signalled: a payment before its return.
func (r *Reconciler) missing(ctx context.Context, q *db.Queries, leaseID string, facts db.LeaseFactsRow, st deposit.State) ([]signal, error) {
	var out []signal
	payments, err := q.ListPayments(ctx, leaseID)
	if err != nil {
		return nil, err
	}
	fees := map[int64]bool{}
	for _, p := range payments {
		i := slices.IndexFunc(st.Payments, func(s deposit.Payment) bool { return s.PaymentID == p.PaymentID })
		if i < 0 {
			if p.ReturnedAt == nil {
				out = append(out, signal{"payment " + p.Reference, workflows.SignalPayment, gateway.PaymentSignal(p), fmt.Sprintf("payment:%d", p.PaymentID)})
			} else {
				out = append(out, signal{"payment " + p.Reference, workflows.SignalPayment, gateway.PaymentSignal(p), ""})
			}
		}
		if p.ReturnedAt != nil && (i < 0 || !st.Payments[i].Returned) {
			fee, err := gateway.ExistingNSFFee(ctx, q, leaseID, p.Reference)
			if err != nil {
				return nil, err
			}
			if fee != nil {
				fees[fee.ChargeID] = true
			}
			out = append(out, signal{"return of payment " + p.Reference, workflows.SignalPaymentReturned,
				workflows.PaymentReturned{PaymentID: p.PaymentID, Reason: p.ReturnReason, Fee: fee}, ""})
		}
	}
	charges, err := q.ListCharges(ctx, leaseID)
	if err != nil {
		return nil, err
	}
	for _, c := range charges {
		if c.Category == "deposit" || fees[c.ChargeID] || c.Approval == "declined" || pending(st, fmt.Sprintf("charge:%d", c.ChargeID)) ||
			slices.ContainsFunc(st.Charges, func(s deposit.Charge) bool { return s.ChargeID == c.ChargeID }) {
			continue
		}
		out = append(out, signal{fmt.Sprintf("charge %d (%s)", c.ChargeID, c.ChargeCodeID), workflows.SignalCharge, deposit.Charge{
			ChargeID: c.ChargeID, Code: c.ChargeCodeID, Category: c.Category, AmountCents: c.AmountInCents, Description: c.Description},
			fmt.Sprintf("charge:%d", c.ChargeID)})
	}
	amendments, err := q.ListAmendments(ctx, leaseID)
	if err != nil {
		return nil, err
	}
	for _, d := range amendments {
		if d.Approval == "declined" || pending(st, fmt.Sprintf("deposit:%d", d.DepositID)) ||
			slices.ContainsFunc(st.Deposits, func(s deposit.DepositRow) bool { return s.DepositID == d.DepositID }) {
			continue
		}
		out = append(out, signal{fmt.Sprintf("deposit amendment %d", d.DepositID), workflows.SignalAmend, deposit.DepositRow{
			DepositID: d.DepositID, Type: d.DepositType, AmountCents: d.AmountInCents, Guarantor: d.Guarantor, PayeeEmail: d.PayeeEmail, PayeeName: d.PayeeName}, ""})
	}
	if st.Disputable {
		// A tenant's disputed item, or an answer to one, whose wake-up was
		// lost: the workflow reads the rows when woken.
		disputes, err := q.ListDisputes(ctx, leaseID)
		if err != nil {
			return nil, err
		}
		for _, row := range disputes {
			i := slices.IndexFunc(st.Disputes, func(s deposit.Dispute) bool { return s.DisputeID == row.DisputeID })
			if i >= 0 && st.Disputes[i].Status == row.Status && st.Disputes[i].OfferCents == row.OfferCents.Int64 {
				continue
			}
			out = append(out, signal{fmt.Sprintf("disputed item %d (%s)", row.DisputeID, row.Status), workflows.SignalDispute,
				workflows.DisputeSignal{DisputeID: row.DisputeID}, ""})
		}
	}
	// Transfers out and partial refunds (#16), where the workflow takes them.
	if st.MoneyMoves {
		transfers, err := q.ListTransfersOut(ctx, leaseID)
		if err != nil {
			return nil, err
		}
		for _, t := range transfers {
			if !hasEarlier(st, deposit.EarlierTransfer, t.TransferID) {
				out = append(out, signal{fmt.Sprintf("transfer %d to lease %s", t.TransferID, t.ToLeaseID), workflows.SignalTransfer, workflows.MoveSignal{ID: t.TransferID}, ""})
			}
		}
		partials, err := q.ListPartialRefunds(ctx, leaseID)
		if err != nil {
			return nil, err
		}
		for _, p := range partials {
			if !hasEarlier(st, deposit.EarlierPartialRefund, p.PartialRefundID) {
				out = append(out, signal{fmt.Sprintf("partial refund %d", p.PartialRefundID), workflows.SignalPartialRefund, workflows.MoveSignal{ID: p.PartialRefundID}, ""})
			}
		}
	}
	if facts.RealizedMoveOutAt != nil && st.MovedOutAt.IsZero() {
		at := facts.RealizedMoveOutAt.UTC()
		out = append(out, signal{"move-out " + at.Format(time.DateOnly), workflows.SignalMoveOut, workflows.MoveOut{At: at}, ""})
	}
	if facts.ForwardingAddressAt != nil && st.ForwardingAddress != facts.ForwardingAddress {
		out = append(out, signal{"forwarding address", workflows.SignalForwarding,
			workflows.ForwardingAddress{Address: facts.ForwardingAddress, At: *facts.ForwardingAddressAt}, ""})
	}
	return out, nil
}
