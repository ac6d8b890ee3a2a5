package activities_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/mailsink"
	"github.com/depositflow/depositflow/internal/tenantlink"
	"github.com/depositflow/depositflow/templates"
)

// The manager's alert goes to each of the property's managers (the manager
// role on the property, an email, not revoked), once each, with links that
// act as that person alone; with no one to alert, it is skipped.
func TestAlertGoesToEachManagerWithTheirOwnLinks(t *testing.T) {
	ctx := context.Background()
	q := db.New(pool)
	links, err := tenantlink.New("a-test-secret-of-at-least-32-characters!", "https://deposits.example")
	require.NoError(t, err)
	saved := acts.Links
	acts.Links = links
	t.Cleanup(func() { acts.Links = saved })

	suffix := fmt.Sprint(time.Now().UnixNano())
	add := func(name string, roles, properties []string, email string) db.User {
		u, err := q.CreateUser(ctx, db.CreateUserParams{Name: name + "-" + suffix, Roles: roles, Properties: properties, CreatedBy: "test"})
		require.NoError(t, err)
		if email != "" {
			u, err = q.SetUserEmail(ctx, db.SetUserEmailParams{Name: u.Name, Email: email})
			require.NoError(t, err)
		}
		t.Cleanup(func() { _, _ = q.RevokeUser(context.Background(), u.Name) })
		return u
	}
	ava := add("ava", []string{"manager"}, []string{"maple"}, "ava-"+suffix+"@maple.example")
	dee := add("dee", []string{"manager", "books_admin"}, []string{"*"}, "dee-"+suffix+"@maple.example")
	add("bob", []string{"manager"}, []string{"birch"}, "bob-"+suffix+"@maple.example") // another property
	add("cy", []string{"viewer"}, []string{"maple"}, "cy-"+suffix+"@maple.example")    // not a manager
	add("noemail", []string{"manager"}, []string{"maple"}, "")                         // nowhere to send it
	eve := add("eve", []string{"manager"}, []string{"maple"}, "eve-"+suffix+"@maple.example")
	_, err = q.RevokeUser(ctx, eve.Name)
	require.NoError(t, err)

	lease := newLease(t, 0)
	in := activities.EmailInput{Key: "deposit-" + lease + "/email/manager-alert", Kind: templates.KindReminder, LeaseID: lease,
		ToManager: true, Managers: true, MoveOutAlert: true}
	_, err = run[activities.EmailResult](t, acts.SendEmail, in)
	require.NoError(t, err)
	_, err = run[activities.EmailResult](t, acts.SendEmail, in) // a retry sends nothing again
	require.NoError(t, err)
	got := map[string]mailsink.Parsed{}
	for _, m := range sink.Messages() {
		if strings.Contains(string(m.Raw), lease) {
			p, err := mailsink.Parse(m.Raw)
			require.NoError(t, err)
			require.Len(t, m.To, 1)
			require.NotContains(t, got, m.To[0], "one copy each")
			got[m.To[0]] = p
		}
	}
	require.Len(t, got, 2, "ava and dee: %v", got)
	for _, u := range []db.User{ava, dee} {
		p, ok := got[u.Email]
		require.True(t, ok, u.Email)
		require.Contains(t, p.Text, "moved out")
		found := regexp.MustCompile(`https://deposits\.example/m/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)`).FindAllStringSubmatch(p.Text, -1)
		require.Len(t, found, 3, p.Text)
		for i, action := range []string{tenantlink.ManagerRelease, tenantlink.ManagerExtend, tenantlink.ManagerOpen} {
			c, why, err := links.InspectManager(found[i][1])
			require.NoError(t, err, why)
			require.Equal(t, action, c.Action)
			require.Equal(t, u.Name, c.User, "the link acts as the person it was sent to")
			require.Equal(t, u.UserID, c.UserID)
			require.Equal(t, lease, c.LeaseID)
			_, _, err = links.Inspect(found[i][1], tenantlink.PurposePage)
			require.Error(t, err, "a manager's link is no tenant's")
		}
	}
	require.Equal(t, 2, count(t, "SELECT count(*) FROM email_outbox WHERE lease_id = $1 AND sent_at IS NOT NULL", lease))

	// No one to alert: the alert at the move-out is skipped, not failed.
	for _, u := range []db.User{ava, dee} {
		_, err := q.RevokeUser(ctx, u.Name)
		require.NoError(t, err)
	}
	other := newLease(t, 0)
	in.Key, in.LeaseID = "deposit-"+other+"/email/manager-alert", other
	r, err := run[activities.EmailResult](t, acts.SendEmail, in)
	require.NoError(t, err)
	require.True(t, r.Skipped)
	require.Zero(t, messagesTo(other))
}
