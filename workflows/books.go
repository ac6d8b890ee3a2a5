package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/templates"
)

// The trust books' daily pass (issue #19): a Temporal Schedule (`deposits
// setup`, and the worker at its start) runs BooksDailyWorkflow once a day.
// It credits the interest owed at each lease's anniversary where the
// statute pays it while the tenancy runs (US-NY, US-MA, Chicago: the rule
// data's interest.yearly) and emails the tenant; and it flags to the
// property's manager every refund payout left unpaid past the property's
// days (default 90). Every side effect is an activity, idempotent by its
// lease and anniversary or its refund, so a pass run twice, or retried,
// credits and tells once. It is a workflow of its own: the lease's deposit
// workflow is unchanged (the settlement pays what is owed to its day, the
// credited interest included).
const (
	BooksDailyWorkflowType = "BooksDailyWorkflow"
	BooksScheduleID        = "deposits-books-daily"
)

// BooksDailyInput: AsOf is the day to run for; zero, the workflow's now.
type BooksDailyInput struct {
	AsOf time.Time `json:"as_of,omitempty"`
}

// BooksDailyReport is what a pass did.
type BooksDailyReport struct {
	AsOf             time.Time `json:"as_of"`
	InterestCredited int       `json:"interest_credited"` // anniversaries credited now
	InterestCents    int64     `json:"interest_cents"`
	InterestEmails   int       `json:"interest_emails"`
	UnclaimedFlagged int       `json:"unclaimed_flagged"`
	Errors           []string  `json:"errors,omitempty"`
}

// BooksDailyWorkflow runs one daily pass.
func BooksDailyWorkflow(ctx workflow.Context, in BooksDailyInput) (BooksDailyReport, error) {
	r := BooksDailyReport{AsOf: in.AsOf}
	if r.AsOf.IsZero() {
		r.AsOf = workflow.Now(ctx).UTC()
	}
	db := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 10, NonRetryableErrorTypes: []string{activities.ErrBadData}},
	})
	mail := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute,
			MaximumAttempts: 12, NonRetryableErrorTypes: []string{activities.ErrBadData, "EmailRejected"}},
	})
	logger := workflow.GetLogger(ctx)
	failed := func(what string, err error) {
		logger.Error("books daily pass", "what", what, "error", err)
		if len(r.Errors) < 100 {
			r.Errors = append(r.Errors, what+": "+err.Error())
		}
	}

	var due []activities.InterestDue
	if err := workflow.ExecuteActivity(db, a.ListInterestDue, activities.InterestDueInput{AsOf: r.AsOf}).Get(ctx, &due); err != nil {
		return r, err
	}
	for _, d := range due {
		var c activities.InterestCredited
		if err := workflow.ExecuteActivity(db, a.CreditYearlyInterest, d).Get(ctx, &c); err != nil {
			failed(fmt.Sprintf("interest of lease %s at %s", d.LeaseID, d.Anniversary.Format(time.DateOnly)), err)
			continue
		}
		if c.Settled || (c.Again && !d.Unsent) {
			continue
		}
		if !c.Again {
			r.InterestCredited++
			r.InterestCents += c.Cents
		}
		if c.Cents == 0 {
			continue
		}
		email := activities.EmailInput{Key: fmt.Sprintf("interest/%s/%s", c.LeaseID, c.Anniversary.Format(time.DateOnly)), Kind: templates.KindInterest,
			LeaseID: c.LeaseID, Data: templates.Data{Interest: &templates.InterestCredit{Year: c.Year, Anniversary: c.Anniversary,
				Cents: c.Cents, TotalCents: c.TotalCents, HeldCents: c.HeldCents, Why: c.Why}}}
		if err := workflow.ExecuteActivity(mail, a.SendEmail, email).Get(ctx, nil); err != nil {
			failed("interest email of lease "+c.LeaseID, err)
			continue
		}
		r.InterestEmails++
	}

	var unclaimed []activities.Unclaimed
	if err := workflow.ExecuteActivity(db, a.ListUnclaimedRefunds, activities.UnclaimedInput{Now: r.AsOf}).Get(ctx, &unclaimed); err != nil {
		return r, err
	}
	for _, u := range unclaimed {
		if u.Flagged {
			continue
		}
		email := activities.EmailInput{Key: fmt.Sprintf("unclaimed/%d", u.RefundID), Kind: templates.KindUnclaimedRefund, LeaseID: u.LeaseID, ToManager: true,
			Data: templates.Data{Unclaimed: &templates.UnclaimedRefund{RefundID: u.RefundID, Cents: u.AmountCents,
				Recipient: u.RecipientName + " <" + u.RecipientEmail + ">", IssuedAt: u.IssuedAt, Days: u.Days}}}
		if err := workflow.ExecuteActivity(mail, a.SendEmail, email).Get(ctx, nil); err != nil {
			failed(fmt.Sprintf("unclaimed refund %d", u.RefundID), err)
			continue
		}
		if err := workflow.ExecuteActivity(db, a.FlagUnclaimedRefund, u.RefundID).Get(ctx, nil); err != nil {
			failed(fmt.Sprintf("flagging refund %d", u.RefundID), err)
			continue
		}
		r.UnclaimedFlagged++
	}
	return r, nil
}
