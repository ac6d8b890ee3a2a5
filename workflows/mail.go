package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
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

// email queues an email to the tenants showing the state as it is now. The
// suffix tells apart repeats of a step (a second receipt, a second request).
func (d *flow) email(kind, suffix string) {
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

// remindManager queues a reminder to the property's manager; the mailer
// reads the manager's address when it sends, so a changed address is used.
func (d *flow) remindManager(key string) {
	data := EmailData(d.state, true)
	d.mailq = append(d.mailq, outgoing{toManager: true, EmailInput: activities.EmailInput{Key: d.key(key), Kind: templates.KindReminder, Data: data}})
}

func (d *flow) startMailer(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			_ = workflow.Await(ctx, func() bool { return len(d.mailq) > 0 })
			d.mailBusy = true
			next := d.mailq[0]
			if err := d.send(ctx, next); err != nil {
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

func (d *flow) send(ctx workflow.Context, m outgoing) error {
	if m.toManager {
		var policy activities.Policy
		if err := workflow.ExecuteActivity(dbCtx(ctx), a.GetPropertyPolicy, d.in.PropertyID).Get(ctx, &policy); err != nil {
			return err
		}
		if policy.ManagerEmail == "" {
			return fmt.Errorf("property %s has no manager email (deposits property set %s --manager-email ...)", d.in.PropertyID, d.in.PropertyID)
		}
		m.To = policy.ManagerEmail
	}
	return workflow.ExecuteActivity(mailCtx(ctx), a.SendEmail, m.EmailInput).Get(ctx, nil)
}

// emailData is what every email may show, from the state as it is now.
func (d *flow) emailData() templates.Data { return EmailData(d.state, false) }

// EmailData is what an email shows for a lease's state: the tenant's view,
// or (forManager) the same figures addressed to the property's manager.
// `deposits email preview` renders from it too.
func EmailData(s deposit.State, forManager bool) templates.Data {
	data := templates.Data{
		LeaseID: s.LeaseID, PropertyID: s.PropertyID, UnitID: s.UnitID,
		TenantName: s.TenantName, TenantEmail: s.TenantEmail, RecipientName: s.TenantName,
		ExpectedCents: s.ExpectedCents, PaidCents: s.PaidCents, ReceivedCents: s.ReceivedCents,
		PrepaidCents: s.PrepaidCents, GuaranteeCents: s.GuaranteeCents,
		InterestCents: s.InterestCents, CreditsCents: s.CreditsCents, EarlierRefundsCents: s.EarlierRefundsCents,
		ArrearsCents: s.ArrearsCents, DeductionsCents: s.DeductionsCents, KeptCents: s.KeptCents,
		MovedOutAt: s.MovedOutAt, ReleaseAt: s.ReleaseAt, OnHold: s.OnHold,
		Payments: []templates.Line{}, Returned: []templates.Line{}, Arrears: []templates.Line{}, Deductions: []templates.Line{},
		Credits: []templates.Line{}, Kept: []templates.Line{}, Payouts: []templates.Line{},
	}
	if len(s.Tenants) > 1 || forManager {
		data.RecipientName = ""
	}
	data.ForManager = forManager
	for _, p := range s.Payments {
		desc := "Payment " + p.Reference
		if p.Date != "" {
			desc += " on " + p.Date
		}
		if p.Returned {
			data.Returned = append(data.Returned, templates.Line{Description: desc + " (returned: " + p.ReturnReason + ")", Cents: p.AmountCents})
			continue
		}
		data.Payments = append(data.Payments, templates.Line{Description: desc, Cents: p.AmountCents})
	}
	if s.Rule != nil {
		data.RuleLabel, data.ClockStarted, data.ClockWhy = s.Rule.Label(), s.Clock.Started, s.Clock.Why
		data.StatementDue, data.RefundDue, data.ObjectionEnds = s.Clock.StatementDue, s.Clock.RefundDue, s.Clock.ObjectionEnds
		data.SettledAt, data.DeadlineMissed = s.ClosedAt, s.DeadlineMissed
		if s.Interest.Why != "" && (s.Interest.Cents > 0 || s.Rule.Interest != nil) {
			data.InterestWhy = s.Interest.Why
		}
	}
	var forfeited []string
	for _, c := range s.Charges {
		if s.Forfeited && c.Category != deposit.CategoryCredit {
			// A missed deadline forfeited the right to withhold: listed, not taken.
			forfeited = append(forfeited, c.Description+" "+money.Format(c.AmountCents))
			data.ForfeitedCents += c.AmountCents
			continue
		}
		l := templates.Line{Description: c.Description, Cents: c.AmountCents}
		switch c.Category {
		case deposit.CategoryArrears:
			data.Arrears = append(data.Arrears, l)
		case deposit.CategoryCredit:
			data.Credits = append(data.Credits, l)
		default:
			data.Deductions = append(data.Deductions, l)
		}
	}
	for _, k := range s.Kept {
		if s.Forfeited {
			forfeited = append(forfeited, "kept: "+k.Reason+" "+money.Format(k.AmountCents))
			data.ForfeitedCents += k.AmountCents
			continue
		}
		data.Kept = append(data.Kept, templates.Line{Description: k.Reason, Cents: k.AmountCents})
	}
	if s.Forfeited {
		data.ArrearsCents, data.DeductionsCents, data.KeptCents = 0, 0, 0
		data.ForfeitedList = strings.Join(forfeited, ", ")
	}
	// Before settlement the emails show what would be refunded if nothing else changes.
	st := deposit.Settle(s.Terms())
	data.RefundCents, data.BalanceOwedCents = st.RefundCents, st.BalanceOwedCents
	payouts := s.Payouts
	if s.Stage != deposit.StageClosed {
		payouts = deposit.PlannedPayouts(s, st.RefundCents)
	}
	if len(payouts) > 1 || s.PayeeEmail != "" {
		for _, p := range payouts {
			data.Payouts = append(data.Payouts, templates.Line{Description: fmt.Sprintf("%s <%s>", p.Name, p.Email), Cents: p.AmountCents})
		}
	}
	return data
}
