package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/depositflow/depositflow/internal/reconcile"
	"github.com/depositflow/depositflow/worker"
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
			rep, err := a.reconcile(cmd.Context(), reconcile.Input{Full: full}, local)
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

func (a *app) reconcile(ctx context.Context, in reconcile.Input, local bool) (reconcile.Report, error) {
	var rep reconcile.Report
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
	rep, err = reconcile.RunOnWorker(wctx, c, in)
	if errors.Is(err, context.DeadlineExceeded) {
		return rep, unavailable("a deposits worker (is `deposits worker` running? or use --local)", err)
	}
	if err != nil {
		return rep, unavailable("Temporal (the reconcile workflow)", err)
	}
	return rep, nil
}

func printReconcile(a *app, r reconcile.Report) {
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
	if r.WebhooksWoken > 0 || r.WebhookError != "" {
		a.printf("Webhook queues nobody was delivering, woken: %d.\n", r.WebhooksWoken)
	}
	if r.WebhookError != "" {
		a.printf("Waking them failed: %s\n", r.WebhookError)
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
	msg, err := worker.ScheduleReconcile(ctx, c, every)
	if err != nil {
		return "", unavailable("Temporal", err)
	}
	return msg, nil
}
