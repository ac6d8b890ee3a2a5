package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/internal/reconcile"
	"github.com/depositflow/depositflow/workflows"
)

func (a *app) reconcileCommand() *cobra.Command {
	var full, local bool
	cmd := &cobra.Command{
		Use:   "reconcile [--full] [--local]",
		Short: "Run one reconcile pass now: tell each workflow the facts it has not seen",
		Long: `Compare the database with the lease workflows and fix what differs: a payment,
charge, returned payment, amendment or move-out written to the database that a
workflow has not seen is signalled to it, and a lease without a workflow gets
one. Only leases changed since the last pass are checked (--full: every lease
not closed). Running it again finds nothing more to fix. The same pass runs
every 15 minutes from a Temporal Schedule (deposits setup --reconcile-every).

The pass runs as ReconcileWorkflow on a deposits worker; --local runs it in
this process instead. Prints what it found and fixed, per lease; exits 2 if a
lease could not be fixed (the next pass tries again).`,
		Example: `  deposits reconcile
  deposits reconcile --full -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			rep, err := a.reconcile(cmd.Context(), workflows.ReconcileInput{Full: full}, local)
			if err != nil {
				return err
			}
			if a.json() {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else {
				printReconcile(a, rep)
			}
			if rep.Errors > 0 {
				return &exitError{code: ExitUnavailable, err: fmt.Errorf("%d lease(s) could not be reconciled; the watermark stays, the next pass tries again", rep.Errors)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "check every lease that is not closed, not only those changed since the last pass")
	cmd.Flags().BoolVar(&local, "local", false, "run the pass in this process instead of on a worker")
	return cmd
}

func (a *app) reconcile(ctx context.Context, in workflows.ReconcileInput, local bool) (workflows.ReconcileReport, error) {
	var rep workflows.ReconcileReport
	pool, err := a.db(ctx)
	if err != nil {
		return rep, err
	}
	c, err := a.temporal(ctx)
	if err != nil {
		return rep, err
	}
	if local {
		rep, err = reconcile.New(pool, c).Pass(ctx, in)
		if err != nil {
			return rep, unavailable("the database", err)
		}
		return rep, nil
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(wctx, client.StartWorkflowOptions{
		ID:        "reconcile-now-" + time.Now().UTC().Format("20060102T150405.000000000"),
		TaskQueue: workflows.TaskQueue,
	}, workflows.ReconcileWorkflowType, in)
	if err != nil {
		return rep, unavailable("Temporal", err)
	}
	if err := run.Get(wctx, &rep); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return rep, unavailable("a deposits worker (is `deposits worker` running? or use --local)", err)
		}
		return rep, unavailable("the reconcile workflow "+run.GetID(), err)
	}
	return rep, nil
}

func printReconcile(a *app, r workflows.ReconcileReport) {
	scope := fmt.Sprintf("changes in transactions %d..%d: %d", r.FromTxID, r.ToTxID, r.Changes)
	if r.Full {
		scope = "every lease not closed"
	}
	a.printf("Reconcile pass (%s): checked %d lease(s), found %d, fixed %d (started %d workflows), late %d, errors %d, in %d ms.\n",
		scope, r.Checked, r.Found, r.Fixed, r.Started, r.Late, r.Errors, r.ElapsedMS)
	if len(r.Leases) > 0 {
		t := newTable(a.out, "LEASE", "FIXED", "LATE (SETTLED, NOT APPLIED)", "ERROR")
		for _, l := range r.Leases {
			t.row(l.LeaseID, strings.Join(l.Fixed, "; "), strings.Join(l.Late, "; "), l.Error)
		}
		_ = t.flush()
	}
	if r.Advanced {
		a.printf("Watermark at transaction %d.\n", r.ToTxID)
	} else {
		a.printf("Watermark left at transaction %d: the next pass checks these leases again.\n", r.FromTxID)
	}
}

// scheduleReconcile creates the reconcile schedule, or updates its interval;
// every 0 deletes it.
func (a *app) scheduleReconcile(ctx context.Context, every time.Duration) (string, error) {
	c, err := a.temporal(ctx)
	if err != nil {
		return "", err
	}
	sc := c.ScheduleClient()
	h := sc.GetHandle(ctx, workflows.ReconcileScheduleID)
	if every == 0 {
		if err := h.Delete(ctx); err != nil && !strings.Contains(err.Error(), "not found") {
			return "", unavailable("Temporal (deleting the reconcile schedule)", err)
		}
		return "Reconcile is not scheduled (--reconcile-every 0).", nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{
		ID: "reconcile", Workflow: workflows.ReconcileWorkflowType, TaskQueue: workflows.TaskQueue,
		Args: []any{workflows.ReconcileInput{}}, WorkflowExecutionTimeout: 30 * time.Minute,
	}
	_, err = sc.Create(ctx, client.ScheduleOptions{
		ID: workflows.ReconcileScheduleID, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: time.Minute,
		Note: "depositflow: compare the database with the lease workflows (deposits reconcile)",
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			s.Action = action
			return &client.ScheduleUpdate{Schedule: &s}, nil
		}})
	}
	if err != nil {
		return "", unavailable("Temporal (the reconcile schedule)", err)
	}
	return fmt.Sprintf("Reconcile runs every %s (schedule %s).", every, workflows.ReconcileScheduleID), nil
}
