package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/workflows"
)

// What a namespace needs before deposit workflows run in it: the search
// attributes they set, and the schedule of the reconcile pass. `deposits
// setup` and `deposits dev` run both; both are safe to run again.

// ReconcileEvery is how often the reconcile schedule runs by default.
const ReconcileEvery = workflows.ReconcileEvery

// Setup registers the search attributes the deposit workflows set that the
// namespace lacks, and returns their names.
func Setup(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("listing search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	var names []string
	for _, k := range workflows.SearchAttributeKeys {
		if _, ok := have.GetCustomAttributes()[k.GetName()]; ok {
			continue
		}
		t := enumspb.INDEXED_VALUE_TYPE_KEYWORD
		if k.GetValueType() == enumspb.INDEXED_VALUE_TYPE_DATETIME {
			t = enumspb.INDEXED_VALUE_TYPE_DATETIME
		}
		missing[k.GetName()] = t
		names = append(names, k.GetName())
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	}); err != nil {
		return nil, fmt.Errorf("adding search attributes: %w", err)
	}
	return names, nil
}

// ScheduleReconcile creates the reconcile schedule, or updates its
// interval; every 0 deletes it. It says what it did.
func ScheduleReconcile(ctx context.Context, c client.Client, every time.Duration) (string, error) {
	sc := c.ScheduleClient()
	h := sc.GetHandle(ctx, workflows.ReconcileScheduleID)
	if every == 0 {
		if err := h.Delete(ctx); err != nil && !strings.Contains(err.Error(), "not found") {
			return "", fmt.Errorf("deleting the reconcile schedule: %w", err)
		}
		return "Reconcile is not scheduled (--reconcile-every 0).", nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{
		ID: "reconcile", Workflow: workflows.ReconcileWorkflowType, TaskQueue: workflows.TaskQueue,
		Args: []any{workflows.ReconcileInput{}}, WorkflowExecutionTimeout: 30 * time.Minute,
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{
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
		return "", fmt.Errorf("the reconcile schedule: %w", err)
	}
	return fmt.Sprintf("Reconcile runs every %s (schedule %s).", every, workflows.ReconcileScheduleID), nil
}

// BooksDailyAt is the hour (UTC) the books' daily pass runs: interest at
// the anniversaries of the day, refunds left unpaid flagged.
const BooksDailyAt = 6

// ScheduleBooks creates the books' daily schedule (issue #19), or brings
// an existing one back to this spec; safe to run again.
func ScheduleBooks(ctx context.Context, c client.Client) (string, error) {
	sc := c.ScheduleClient()
	spec := client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{{
		Hour: []client.ScheduleRange{{Start: BooksDailyAt}}, Minute: []client.ScheduleRange{{Start: 0}},
	}}}
	action := &client.ScheduleWorkflowAction{
		ID: "books-daily", Workflow: workflows.BooksDailyWorkflowType, TaskQueue: workflows.TaskQueue,
		Args: []any{workflows.BooksDailyInput{}}, WorkflowExecutionTimeout: 20 * time.Hour,
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID: workflows.BooksScheduleID, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: 24 * time.Hour,
		Note: "depositflow: interest credited at lease anniversaries where the statute pays it yearly; unpaid refunds flagged",
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = sc.GetHandle(ctx, workflows.BooksScheduleID).Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			s.Action = action
			return &client.ScheduleUpdate{Schedule: &s}, nil
		}})
	}
	if err != nil {
		return "", fmt.Errorf("the books schedule: %w", err)
	}
	return fmt.Sprintf("The books' daily pass (interest at anniversaries, unpaid refunds) runs at %02d:00 UTC (schedule %s).", BooksDailyAt, workflows.BooksScheduleID), nil
}
