// Package worker builds the Temporal worker that runs deposit workflows and
// their activities. `deposits worker`, `deposits dev` and the end-to-end tests
// all start it through New, so they run the same registrations and options.
package worker

import (
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/reconcile"
	"github.com/depositflow/depositflow/workflows"
)

// Options are the knobs an operator may turn; zero values take the SDK's
// defaults, except CacheSize (see DefaultCacheSize).
type Options struct {
	MaxConcurrentActivities      int
	MaxConcurrentWorkflows       int
	MaxConcurrentLocalActivities int
	Pollers                      int // pollers of each task queue kind
	// CacheSize is how many workflows the worker keeps in memory between
	// their tasks (the sticky cache): a cached lease's next task replays
	// nothing. It is process-wide and must be set before the first worker
	// starts.
	CacheSize int
	// WebhookGiveUpAfter is how long a webhook delivery is retried before
	// its endpoint is disabled (zero: workflows.DefaultWebhookGiveUp, 72 h).
	WebhookGiveUpAfter time.Duration
}

// DefaultCacheSize bounds the worker's memory whatever the portfolio: each
// cached lease costs about 80 KB here, so the SDK's default of 10,000 let
// 10,000 idle leases grow the worker to 844 MB, and 3,000 to 310 MB
// (bench/README.md); 2,000 keeps it near 230 MB. A lease evicted from the
// cache pays one replay of its short history (60-100 events) at its next
// event, which for an idle lease comes days later; starting leases was as
// fast with 3,000 as with 10,000 (35.6 and 33.6 a second).
const DefaultCacheSize = 2000

// New returns a worker on the deposits task queue with the workflow and all
// activities registered. Start it with Run or Start.
func New(c client.Client, acts *activities.Activities, o Options) sdkworker.Worker {
	cache := o.CacheSize
	if cache == 0 {
		cache = DefaultCacheSize
	}
	sdkworker.SetStickyWorkflowCacheSize(cache)
	w := sdkworker.New(c, workflows.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:      o.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize:  o.MaxConcurrentWorkflows,
		MaxConcurrentLocalActivityExecutionSize: o.MaxConcurrentLocalActivities,
		MaxConcurrentWorkflowTaskPollers:        o.Pollers,
		MaxConcurrentActivityTaskPollers:        o.Pollers,
	})
	// The activities that commit webhook events wake their delivery
	// workflows at once, as reconcile wakes those nobody is delivering.
	hooks := workflows.WebhookStarter{Client: c, GiveUpAfter: o.WebhookGiveUpAfter}
	acts.Webhooks = hooks
	Register(w, acts)
	// The reconcile pass signals and starts workflows: it needs the client.
	rec := reconcile.New(acts.Pool, c)
	rec.Webhooks = hooks
	w.RegisterActivityWithOptions(rec.Pass, activity.RegisterOptions{Name: workflows.ReconcileActivity})
	return w
}

// Register puts the deposit workflow and its activities on a registry.
func Register(r sdkworker.Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.DepositWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowType})
	r.RegisterWorkflowWithOptions(workflows.ReconcileWorkflow, workflow.RegisterOptions{Name: workflows.ReconcileWorkflowType})
	r.RegisterWorkflowWithOptions(workflows.FollowUpWorkflow, workflow.RegisterOptions{Name: workflows.FollowUpWorkflowType})
	r.RegisterWorkflowWithOptions(workflows.TenantLinkWorkflow, workflow.RegisterOptions{Name: workflows.TenantLinkWorkflowType})
	r.RegisterWorkflowWithOptions(workflows.WebhookDeliveryWorkflow, workflow.RegisterOptions{Name: workflows.WebhookWorkflowType})
	r.RegisterWorkflowWithOptions(workflows.BooksDailyWorkflow, workflow.RegisterOptions{Name: workflows.BooksDailyWorkflowType})
	r.RegisterActivity(acts)
}
