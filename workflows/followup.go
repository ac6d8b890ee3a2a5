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

// TenantLinkWorkflowType is the registered name of TenantLinkWorkflow.
const TenantLinkWorkflowType = "TenantLinkWorkflow"

// TenantLinkInput is a tenant who asked for a new link to their lease's
// page; Key makes the email go out once (the server names one per tenant
// and ten minutes, so asking again at once sends nothing more).
type TenantLinkInput struct {
	LeaseID    string `json:"lease_id"`
	ResidentID int64  `json:"resident_id"`
	Key        string `json:"key"`
}

// TenantLinkWorkflowID is the one workflow of a request for a link.
func TenantLinkWorkflowID(in TenantLinkInput) string {
	return "tenant-link-" + strings.ReplaceAll(strings.TrimPrefix(in.Key, WorkflowID(in.LeaseID)+"/"), "/", "-") + "-" + in.LeaseID
}

// TenantLinkWorkflow emails a tenant a new signed link to their lease's page.
func TenantLinkWorkflow(ctx workflow.Context, in TenantLinkInput) error {
	return workflow.ExecuteActivity(mailCtx(ctx), a.SendEmail, activities.EmailInput{
		Key: in.Key, Kind: templates.KindLink, LeaseID: in.LeaseID, Resident: in.ResidentID,
	}).Get(ctx, nil)
}
