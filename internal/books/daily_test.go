package books_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/depositflow/depositflow/internal/gateway"
	"github.com/depositflow/depositflow/internal/mailsink"
	"github.com/depositflow/depositflow/workflows"
)

// The books' daily pass as its schedule runs it, in Temporal's test
// environment (its clock skipped to the day of the pass) against the real
// database and SMTP server: a Massachusetts lease two years and a day old
// is credited the interest of both anniversaries, each once, and its
// tenant emailed each time; a refund left unpaid for 100 days is emailed
// to the manager and flagged, once; the pass run again does nothing.
func TestBooksDailyPass(t *testing.T) {
	w := newWorld(t, "daily", "US-MA")
	passAt := time.Now().UTC().AddDate(0, 0, 100).Truncate(time.Hour)
	start := day(passAt.AddDate(-2, 0, -1).Format(time.DateOnly))
	ana := w.lease("DY-1", start, 120000)
	w.pay("DY-1", ana, 120000, "CHK-1", start)
	bo := w.lease("DY-2", start, 90000)
	w.pay("DY-2", bo, 90000, "CHK-2", start)
	w.moveOutAndSettle("DY-2", start.AddDate(0, 6, 0), start.AddDate(0, 6, 5))

	pass := func() workflows.BooksDailyReport {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetStartTime(passAt)
		env.RegisterWorkflowWithOptions(workflows.BooksDailyWorkflow, workflowName(workflows.BooksDailyWorkflowType))
		env.RegisterActivity(acts)
		env.ExecuteWorkflow(workflows.BooksDailyWorkflowType, workflows.BooksDailyInput{})
		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError())
		var r workflows.BooksDailyReport
		require.NoError(t, env.GetWorkflowResult(&r))
		return r
	}
	r := pass()
	require.Empty(t, r.Errors)
	require.Equal(t, passAt, r.AsOf, "the pass runs for the day the schedule started it")
	require.Equal(t, 2, r.InterestCredited, "%+v", r)
	require.Equal(t, 2, r.InterestEmails)
	require.Equal(t, 1, r.UnclaimedFlagged)
	// 5% a year on 1,200.00: 60.00 a year, the leap day's year a cent or so apart.
	require.InDelta(t, 12000, r.InterestCents, 40)

	var accrued int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT sum(amount_cents) FROM interest_accruals WHERE lease_id = 'DY-1'").Scan(&accrued))
	require.Equal(t, r.InterestCents, accrued)
	interestMail := messages(func(m mailsink.Message) bool {
		return strings.Contains(string(m.Raw), "DY-1") && strings.Contains(string(m.Raw), "credited to your security deposit")
	})
	require.Len(t, interestMail, 2)
	require.Contains(t, string(interestMail[0].Raw), "DY-1@tenants.example")
	unclaimed := messages(func(m mailsink.Message) bool {
		return strings.Contains(string(m.Raw), "manager@daily.example") && strings.Contains(string(m.Raw), "not paid after")
	})
	require.Len(t, unclaimed, 1)

	// The liability report ties with the interest credited, and the
	// interest is in the year-end report of each year it was credited in.
	l, err := gw.Liability(ctx, booksAdmin, "daily", "")
	require.NoError(t, err)
	require.True(t, l.Ties, "%+v", l.Differences)
	require.Equal(t, 120000+accrued, l.TotalHeldCents)
	year := passAt.AddDate(0, 0, -1).Year()
	rep, err := gw.Interest(ctx, booksAdmin, "daily", year, 1)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Tenants)
	un, err := gw.UnclaimedRefunds(ctx, booksAdmin, "daily")
	require.NoError(t, err)
	require.Empty(t, un, "the gateway's clock is today: the refund is not 90 days old yet")
	later := &gateway.Gateway{DB: gw.DB, Temporal: gw.Temporal, Now: func() time.Time { return passAt }}
	un, err = later.UnclaimedRefunds(ctx, booksAdmin, "daily")
	require.NoError(t, err)
	require.Len(t, un, 1)
	require.Equal(t, "DY-2", un[0].LeaseID)
	require.NotNil(t, un[0].FlaggedAt)

	// Again: nothing more is credited, sent or flagged.
	again := pass()
	require.Zero(t, again.InterestCredited)
	require.Zero(t, again.InterestEmails)
	require.Zero(t, again.UnclaimedFlagged)
	require.Len(t, messages(func(m mailsink.Message) bool { return strings.Contains(string(m.Raw), "DY-") }), 3)

	// An interest email a pass could not send (its outbox row unsent) is
	// sent by the next pass, without crediting anything again.
	latest := start.AddDate(2, 0, 0).Format(time.DateOnly)
	tag, err := pool.Exec(ctx, "UPDATE email_outbox SET sent_at = NULL WHERE idempotency_key = $1", "interest/DY-1/"+latest)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	third := pass()
	require.Zero(t, third.InterestCredited)
	require.Equal(t, 1, third.InterestEmails)
	require.Len(t, messages(func(m mailsink.Message) bool { return strings.Contains(string(m.Raw), "DY-") }), 4)
	var after int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT sum(amount_cents) FROM interest_accruals WHERE lease_id = 'DY-1'").Scan(&after))
	require.Equal(t, accrued, after)
}

func messages(match func(mailsink.Message) bool) []mailsink.Message {
	var out []mailsink.Message
	for _, m := range sink.Messages() {
		if match(m) {
			out = append(out, m)
		}
	}
	return out
}
