package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
)

// Emails never hold up the money: steps queue them and a goroutine of the
// workflow sends the queue in order. The workflow only waits for the queue to
// empty before it closes.

// outgoing is a queued email; toManager ones are addressed when sent.
type outgoing struct {
	activities.EmailInput
	toManager bool
}

func (d *flow) mailDone() bool { return len(d.mailq) == 0 && !d.mailBusy }

// email queues an email to the tenants. The suffix tells apart repeats of
// a step (a second receipt, a second request). Where the database is the
// book of record the email names only the lease: what it shows is read from
// the database when it is sent. Before, it showed the state as it was when
// queued.
func (d *flow) email(kind, suffix string) {
	if d.bookOfRecord {
		d.mailq = append(d.mailq, outgoing{EmailInput: activities.EmailInput{Key: d.key("email/" + kind + suffix), Kind: kind, LeaseID: d.in.LeaseID}})
		return
	}
	in := activities.EmailInput{
		Key: d.key("email/" + kind + suffix), Kind: kind, To: d.state.TenantEmail, ToName: d.state.TenantName, Data: d.emailData(),
	}
	for _, t := range d.state.Tenants {
		if t.Email != in.To {
			in.Cc = append(in.Cc, t.Email)
		}
	}
	d.mailq = append(d.mailq, outgoing{EmailInput: in})
}

// alertManagers queues an alert or a reminder to the property's managers:
// under the manager-alerts version each manager gets their own copy with
// links that act as them (SendEmail addresses it); moveOut marks the
// alert sent at the move-out.
func (d *flow) alertManagers(kind, key string, moveOut bool) {
	if !d.managerAlerts {
		d.remind(kind, key)
		return
	}
	d.mailq = append(d.mailq, outgoing{toManager: true, EmailInput: activities.EmailInput{Key: d.key(key), Kind: kind, LeaseID: d.in.LeaseID,
		ToManager: true, Managers: true, MoveOutAlert: moveOut}})
}

// approvalEmail tells the property's managers what a books_admin decided
// on an item awaiting approval: one email per item, whether it was decided
// alone or in a batch (manager-alerts version).
func (d *flow) approvalEmail(p deposit.Pending, decision, by, reason string) {
	if !d.managerAlerts {
		return
	}
	d.mailq = append(d.mailq, outgoing{toManager: true, EmailInput: activities.EmailInput{
		Key: d.key("email/" + decision + "-" + strings.ReplaceAll(p.Item, ":", "-")), Kind: templates.KindApproval, LeaseID: d.in.LeaseID,
		ToManager: true, Managers: true,
		Approval: &templates.Approval{Item: p.Item, Kind: p.Kind, Decision: decision, By: by, RequestedBy: p.RequestedBy,
			Cents: p.AmountCents, What: p.Reason, Reason: reason},
	}})
}

// remind queues an email to the property's manager (a reminder, an alert);
// its address is read when it is sent, so a changed address is used.
func (d *flow) remind(kind, key string) {
	if d.bookOfRecord {
		d.mailq = append(d.mailq, outgoing{toManager: true, EmailInput: activities.EmailInput{Key: d.key(key), Kind: kind, LeaseID: d.in.LeaseID, ToManager: true}})
		return
	}
	data := EmailData(d.state, true)
	d.mailq = append(d.mailq, outgoing{toManager: true, EmailInput: activities.EmailInput{Key: d.key(key), Kind: kind, Data: data}})
}

func (d *flow) startMailer(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			_ = workflow.Await(ctx, func() bool { return len(d.mailq) > 0 && !d.draining })
			d.mailBusy = true
			next := d.mailq[0]
			if skipped, err := d.send(ctx, next); skipped {
				// No one to send it to, and none owed (an alert at the move-out).
			} else if err != nil {
				// Only a message refused for good (or with no one to send it
				// to) ends here; the lease goes on and the failure shows in its state.
				d.state.EmailFailures = append(d.state.EmailFailures, next.Kind+": "+err.Error())
				workflow.GetLogger(ctx).Error("email not sent", "lease_id", d.in.LeaseID, "kind", next.Kind, "error", err)
				workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": next.Kind}).Counter("deposit_email_failures").Inc(1)
			} else {
				d.state.EmailsSent = append(d.state.EmailsSent, next.Kind)
				workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": next.Kind}).Counter("deposit_emails_sent").Inc(1)
			}
			d.mailq = d.mailq[1:]
			d.mailBusy = false
		}
	})
}

func (d *flow) send(ctx workflow.Context, m outgoing) (skipped bool, err error) {
	if d.bookOfRecord {
		// The email is built from the lease's row: mirror what only the
		// workflow knows first.
		if err := d.mirror(ctx, false); err != nil {
			return false, err
		}
		var res activities.EmailResult
		err := workflow.ExecuteActivity(mailCtx(ctx), a.SendEmail, m.EmailInput).Get(ctx, &res)
		return err == nil && res.Skipped, err
	}
	if m.toManager {
		var policy activities.Policy
		if err := workflow.ExecuteActivity(dbCtx(ctx), a.GetPropertyPolicy, d.in.PropertyID).Get(ctx, &policy); err != nil {
			return false, err
		}
		if policy.ManagerEmail == "" {
			return false, fmt.Errorf("property %s has no manager email (deposits property set %s --manager-email ...)", d.in.PropertyID, d.in.PropertyID)
		}
		m.To = policy.ManagerEmail
	}
	return false, workflow.ExecuteActivity(mailCtx(ctx), a.SendEmail, m.EmailInput).Get(ctx, nil)
}

// emailData is what every email may show, from the state as it is now.
func (d *flow) emailData() templates.Data { return EmailData(d.state, false) }

// EmailData is what an email shows for a lease's state: the tenant's view,
// or (forManager) the same figures addressed to the property's manager.
// Workflows from before the database was the book of record send it in each
// email's input; later ones name only the lease, and the email is built from
// the database (activities.Statement) with the same code.
func EmailData(s deposit.State, forManager bool) templates.Data {
	return activities.EmailData(s, activities.ViewOf(s), forManager)
}
