// Package worker builds the Temporal worker that runs deposit workflows and
// their activities. `deposits worker`, `deposits dev` and the end-to-end tests
// all start it through New, so they run the same registrations and options.
package worker

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/reconcile"
	"github.com/depositflow/depositflow/workflows"
)

// Options are the knobs an operator may turn; zero values take the SDK's defaults.
type Options struct {
	MaxConcurrentActivities int
	MaxConcurrentWorkflows  int
}

// New returns a worker on the deposits task queue with the workflow and all
// activities registered. Start it with Run or Start.
func New(c client.Client, acts *activities.Activities, o Options) sdkworker.Worker {
	w := sdkworker.New(c, workflows.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     o.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: o.MaxConcurrentWorkflows,
	})
	Register(w, acts)
	// The reconcile pass signals and starts workflows: it needs the client.
	w.RegisterActivityWithOptions(reconcile.New(acts.Pool, c).Pass, activity.RegisterOptions{Name: workflows.ReconcileActivity})
	return w
}

// Register puts the deposit workflow and its activities on a registry.
func Register(r sdkworker.Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.DepositWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowType})
	r.RegisterWorkflowWithOptions(workflows.ReconcileWorkflow, workflow.RegisterOptions{Name: workflows.ReconcileWorkflowType})
	r.RegisterActivity(acts)
}
