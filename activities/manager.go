package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/depositflow/depositflow/internal/tenantlink"
	"github.com/depositflow/depositflow/templates"
)

// The manager's alerts (issue #16): the alert at the move-out and the
// reminders before an automatic release go to each of the property's
// managers (people with the manager role on the property and an email
// address, `deposits user add --email`), each copy under a key of its own
// and with one-click links signed for that person alone: a link acts as the
// person it was sent to. A property with no such person gets the alert at
// its manager email, without links, as before.

// sendToManagers sends an alert to each of the property's managers, and
// says whether there was anyone to send it to. Every copy is sent once (its
// own outbox key); a copy refused for good does not stop the others.
func (a *Activities) sendToManagers(ctx context.Context, b Books, in EmailInput) (EmailResult, bool, error) {
	managers, err := a.q().PropertyManagers(ctx, b.PropertyID)
	if err != nil {
		return EmailResult{}, false, err
	}
	if len(managers) == 0 {
		return EmailResult{}, false, nil
	}
	data := b.Data(in.Kind)
	data.MoveOutAlert, data.Approval = in.MoveOutAlert, in.Approval
	var res EmailResult
	var refused error
	for _, m := range managers {
		one := in
		one.Key = in.Key + "/" + m.Name
		one.To, one.ToName, one.Cc = m.Email, m.Name, nil
		one.Data = data
		one.Data.RecipientName = m.Name
		if a.Links != nil && in.Kind == templates.KindReminder {
			claims := func(action string) tenantlink.ManagerClaims {
				return tenantlink.ManagerClaims{LeaseID: b.LeaseID, User: m.Name, UserID: m.UserID, Action: action}
			}
			exp := a.Links.Now
			if exp == nil {
				exp = time.Now
			}
			c := claims(tenantlink.ManagerRelease)
			c.Expires = exp().Add(tenantlink.ManagerTTL)
			release := a.Links.ManagerURL(c)
			c = claims(tenantlink.ManagerExtend)
			c.Expires = exp().Add(tenantlink.ManagerTTL)
			extend := a.Links.ManagerURL(c)
			c = claims(tenantlink.ManagerOpen)
			c.Expires = exp().Add(tenantlink.ManagerTTL)
			one.Data.Links = &templates.ManagerLinks{Release: release, Extend: extend, Open: a.Links.ManagerURL(c), Expires: c.Expires}
		}
		r, err := a.deliver(ctx, one, atRiskFact(in))
		var rejected *temporal.ApplicationError
		switch {
		case err == nil:
			res = r
		case errors.As(err, &rejected) && rejected.NonRetryable():
			refused = err
		default:
			return res, true, err
		}
	}
	return res, true, refused
}
