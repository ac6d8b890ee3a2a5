package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/workflows"
)

// dialTemporal connects to the configured Temporal frontend (TLS, mTLS and
// API key as configured), reporting to metrics when a handler is given.
func (a *app) dialTemporal(ctx context.Context, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	o, err := a.conn.options(a.temporalAddress, a.namespace, logger)
	if err != nil {
		return nil, err
	}
	o.MetricsHandler = metrics
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, o)
	if err != nil {
		return nil, unavailable(fmt.Sprintf("Temporal at %s (%s)", a.temporalAddress, a.conn.describe(o)), err)
	}
	return c, nil
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkID refuses IDs that would not survive in a workflow ID, a URL or an
// email Message-ID.
func checkID(what, id string) error {
	if !idPattern.MatchString(id) {
		return refused("%s %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", what, id)
	}
	return nil
}

func parseAmount(flag, s string) (int64, error) {
	if strings.TrimSpace(s) == "" {
		return 0, refused("--%s is required, in dollars (e.g. --%s 1500.00)", flag, flag)
	}
	c, err := money.Parse(s)
	if err != nil {
		return 0, refused("--%s %v", flag, err)
	}
	return c, nil
}

func parseEmail(s string) (string, error) {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
		return "", refused("--tenant-email %q is not an email address", s)
	}
	return addr.Address, nil
}

func parseDelay(flag, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, refused("--%s %q: write a Go duration such as 72h, 336h or 30s", flag, s)
	}
	if d <= 0 {
		return 0, refused("--%s must be longer than zero", flag)
	}
	if d%time.Second != 0 {
		return 0, refused("--%s %s: use whole seconds", flag, s)
	}
	if d > deposit.MaxDelay {
		return 0, refused("--%s %s is longer than the 120 days (2880h) allowed after move-out", flag, s)
	}
	return d, nil
}

// parseDay reads a calendar date (00:00 UTC of that day) or an exact RFC 3339
// instant. Dates more than a day ahead are refused: these are facts that
// happened, and a day of slack covers every time zone.
func parseDay(flag, s string, now time.Time) (time.Time, string, error) {
	if s == "" {
		d := now.UTC().Truncate(24 * time.Hour)
		return d, d.Format(time.DateOnly), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return time.Time{}, "", refused("--%s %q: write the date as YYYY-MM-DD", flag, s)
		}
	}
	t = t.UTC()
	if t.After(now.Add(24 * time.Hour)) {
		return time.Time{}, "", refused("--%s %s is in the future", flag, s)
	}
	return t, t.Format(time.DateOnly), nil
}

// leaseState reads a lease's deposit state from its workflow: the live query
// while it runs, the result once it has closed (which needs no worker).
func (a *app) leaseState(ctx context.Context, leaseID string) (deposit.State, error) {
	var s deposit.State
	if err := checkID("lease", leaseID); err != nil {
		return s, err
	}
	c, err := a.temporal(ctx)
	if err != nil {
		return s, err
	}
	wid := workflows.WorkflowID(leaseID)
	desc, err := c.DescribeWorkflowExecution(ctx, wid, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return s, refused("lease %s has no deposit workflow: start it with `deposits lease start %s ...`", leaseID, leaseID)
	}
	if err != nil {
		return s, unavailable("Temporal", err)
	}
	switch desc.GetWorkflowExecutionInfo().GetStatus() {
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return a.queryState(ctx, leaseID)
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		err := c.GetWorkflow(ctx, wid, "").Get(ctx, &s)
		return s, err
	default:
		status := desc.GetWorkflowExecutionInfo().GetStatus().String()
		return s, refused("the deposit workflow of lease %s ended as %s: an operator must look at it in the Temporal UI", leaseID, status)
	}
}

// queryState asks the lease's running workflow for its state (a worker answers).
func (a *app) queryState(ctx context.Context, leaseID string) (deposit.State, error) {
	var s deposit.State
	c, err := a.temporal(ctx)
	if err != nil {
		return s, err
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, workflows.WorkflowID(leaseID), "", workflows.QueryState)
	if err != nil {
		return s, unavailable("a deposits worker (is `deposits worker` running?)", err)
	}
	return s, v.Get(&s)
}

// waitFor polls the state until done accepts it, so a command can print the
// state after its signal was applied. The signal is durable either way; this
// only decides what is printed. ok is false when no worker answered in time
// (it may be restarting): the fact is recorded and will be applied.
func (a *app) waitFor(ctx context.Context, leaseID string, done func(deposit.State) bool) (s deposit.State, ok bool) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		// One query per poll; the lease was just found running. A workflow
		// that closed meanwhile answers through its result.
		s, err := a.queryState(ctx, leaseID)
		if err != nil {
			s, err = a.leaseState(ctx, leaseID)
		}
		if err == nil && done(s) {
			return s, true
		}
		if time.Now().After(deadline) {
			return s, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// notYetApplied is printed when the worker did not show a recorded fact in time.
func (a *app) notYetApplied(leaseID string) {
	a.printf("No deposits worker has applied it yet (one may be restarting); `deposits status %s` shows it once one has.\n", leaseID)
}

// audit records an action in the audit log. A refused action is recorded too
// when the database can be reached; the audit log is the one table a refusal writes.
func (a *app) audit(ctx context.Context, leaseID, action string, request any, err error) {
	if a.pool == nil && a.databaseURL != "" {
		_, _ = a.db(ctx) // input refused before the database was needed is audited too
	}
	if a.pool == nil {
		return
	}
	req, _ := json.Marshal(request)
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	_, _ = db.New(a.pool).InsertAudit(context.WithoutCancel(ctx), db.InsertAuditParams{
		Actor: a.actor, Role: a.role, Principal: "local:" + a.actor, LeaseID: leaseID, Action: action, Request: req,
		Accepted: pgtype.Bool{Bool: err == nil, Valid: true}, Result: result,
	})
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.out, format, args...) }

// leaseQueries opens the database for reading one lease's rows, refusing a
// malformed lease ID or one the database does not know.
func (a *app) leaseQueries(ctx context.Context, leaseID string) (*db.Queries, error) {
	if err := checkID("lease", leaseID); err != nil {
		return nil, err
	}
	pool, err := a.db(ctx)
	if err != nil {
		return nil, err
	}
	q := db.New(pool)
	if _, err := q.GetLease(ctx, leaseID); errors.Is(err, pgx.ErrNoRows) {
		return nil, refused("lease %s is not in the database", leaseID)
	} else if err != nil {
		return nil, unavailable("the database", err)
	}
	return q, nil
}
