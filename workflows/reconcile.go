package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Reconcile: a pass that compares the database with the workflows and tells
// each workflow what it has not seen (a payment written straight to the
// database, a signal lost after its commit), and starts the workflows of
// leases that have none. A Temporal Schedule (`deposits setup`, every 15
// minutes by default) runs ReconcileWorkflow; `deposits reconcile` runs one
// pass on demand.
//
// The pass is incremental: every fact table writes a row to lease_changes by
// trigger in the fact's own transaction, and the pass reads only the changes
// since its watermark, so its cost follows what changed, not the portfolio.
const (
	ReconcileWorkflowType = "ReconcileWorkflow"
	ReconcileActivity     = "ReconcilePass" // registered by the worker (internal/reconcile)
	ReconcileScheduleID   = "deposits-reconcile"
	ReconcileEvery        = 15 * time.Minute // the schedule's default interval
)

// ReconcileInput asks for a pass over the changes since the watermark, or
// (Full) over every lease that is not closed.
type ReconcileInput struct {
	Full bool `json:"full,omitempty"`
}

// ReconcileReport is what a pass found and fixed.
type ReconcileReport struct {
	Full     bool  `json:"full"`
	FromTxID int64 `json:"from_txid"` // the watermark before the pass
	ToTxID   int64 `json:"to_txid"`   // every transaction below this one had ended
	Changes  int64 `json:"changes"`   // change-log rows read
	Checked  int   `json:"checked"`   // leases compared with their workflows
	Found    int   `json:"found"`     // facts (or workflows) missing
	Fixed    int   `json:"fixed"`     // signals delivered and workflows started
	Started  int   `json:"started"`   // workflows started for leases that had none
	Late     int   `json:"late"`      // facts of settled leases, reported and not applied
	Errors   int   `json:"errors"`    // leases that could not be checked or fixed
	Advanced bool  `json:"watermark_advanced"`
	// WebhooksWoken counts webhook queues (an endpoint's events of a
	// lease) that nobody was delivering, woken by the pass; WebhookError
	// says why waking them failed (the watermark does not wait for them).
	WebhooksWoken int    `json:"webhooks_woken"`
	WebhookError  string `json:"webhook_error,omitempty"`
	ElapsedMS     int64  `json:"elapsed_ms"`
	// Leases lists the leases where something was found (at most 1000).
	Leases []ReconciledLease `json:"leases"`
}

// ReconciledLease is what a pass did for one lease.
type ReconciledLease struct {
	LeaseID string   `json:"lease_id"`
	Fixed   []string `json:"fixed,omitempty"`
	Late    []string `json:"late,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// ReconcileWorkflow runs one pass. The work is one activity: it reads the
// database, queries and signals workflows through the Temporal client, and
// heartbeats; the workflow only orchestrates (and keeps the report in its
// history for operators).
func ReconcileWorkflow(ctx workflow.Context, in ReconcileInput) (ReconcileReport, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 3},
	})
	var r ReconcileReport
	err := workflow.ExecuteActivity(ctx, ReconcileActivity, in).Get(ctx, &r)
	return r, err
}
