package workflows

import (
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/templates"
)

// Follow-ups. A payment or charge that reaches a lease after its deposit was
// settled (the PMS had booked it; reconcile finds it in the database) is
// never applied to the settlement. It becomes a follow-up the manager sees:
// a late payment or credit is refunded, a late charge invoiced, in the
// books, and the tenant is emailed. One short workflow per late fact, so
// each is done once, durably, whatever fails on the way.

// FollowUpWorkflowType is the registered name of FollowUpWorkflow.
const FollowUpWorkflowType = "FollowUpWorkflow"

// FollowUpInput names a late fact of a lease: "payment:12" or "charge:34".
type FollowUpInput struct {
	LeaseID string `json:"lease_id"`
	Fact    string `json:"fact"`
}

// FollowUpWorkflowID is the one workflow of a late fact.
func FollowUpWorkflowID(leaseID, fact string) string {
	return "follow-up-" + leaseID + "-" + strings.ReplaceAll(fact, ":", "-")
}

// FollowUpWorkflow writes the refund or invoice of a late fact, then tells
// the tenant. An email refused for good leaves the follow-up in the books.
func FollowUpWorkflow(ctx workflow.Context, in FollowUpInput) (activities.FollowUp, error) {
	var f activities.FollowUp
	if err := workflow.ExecuteActivity(dbCtx(ctx), a.RecordFollowUp, activities.FollowUpInput{LeaseID: in.LeaseID, Fact: in.Fact}).Get(ctx, &f); err != nil {
		return f, err
	}
	err := workflow.ExecuteActivity(mailCtx(ctx), a.SendEmail, activities.EmailInput{
		Key: WorkflowID(in.LeaseID) + "/email/follow-up/" + in.Fact, Kind: templates.KindFollowUp, LeaseID: in.LeaseID, FollowUp: &f,
	}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("follow-up email not sent", "lease_id", in.LeaseID, "fact", in.Fact, "error", err)
	}
	return f, nil
}
