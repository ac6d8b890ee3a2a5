package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/templates"
)

// currentDetails is what the Temporal UI shows of the lease now (the
// workflow's current details, through the SDK's metadata query).
func (h *harness) currentDetails() string {
	v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
	require.NoError(h.t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(h.t, v.Get(&md))
	return md.GetCurrentDetails()
}

// A lease whose activities name no currency or zone (results recorded
// before leases had them, or a property that names neither) is as it
// was: dollars, UTC, and the same deadlines.
func TestDollarLeaseAsBefore(t *testing.T) {
	h := newHarness(t, 100000)
	h.db.change(func(b *activities.Books) { b.Currency, b.TimeZone = "", "" })
	h.law.Rule = ruleOf("US-CA")
	h.at(time.Hour, SignalPayment, pay(1, 100000))
	h.at(2*day, SignalMoveOut, moveOutDay(1)) // 2026-11-04: the refund is due 2026-11-25
	due := moveOutDay(1).At.AddDate(0, 0, 21)
	h.update(3*day, UpdateKeep, KeepRequest{Actor: mgr, AmountCents: 200000, Reason: "Everything"},
		"cannot keep $2,000.00: only $1,000.00 is held after charges and earlier keeps", nil)
	h.update(3*day+time.Hour, UpdateExtend, ExtendRequest{Actor: mgr, Days: 30},
		"requires the refund by 2026-11-25: the engine releases it by 2026-11-24 at the latest", nil)
	h.update(3*day+2*time.Hour, UpdateExtend, ExtendRequest{Actor: mgr, Days: 1}, "", func(s deposit.State) {
		require.Equal(t, "release date 2026-11-18T00:00:00Z -> 2026-11-19T00:00:00Z", s.Decisions[len(s.Decisions)-1].Detail)
	})
	h.checkAt(3*day+3*time.Hour, func(s deposit.State) {
		require.Empty(t, s.Currency)
		require.Empty(t, s.TimeZone)
		details := h.currentDetails()
		require.Contains(t, details, `release on 19 Nov 2026 00:00 UTC; refund \$1,000.00 if nothing changes`)
		require.Contains(t, details, "Statement due 25 Nov 2026 00:00 UTC, refund due 25 Nov 2026 00:00 UTC")
	})
	s := h.run(LeaseInput{Jurisdiction: "US-CA"})
	require.Equal(t, due, s.Clock.RefundDue)
	require.Equal(t, time.UTC, s.Clock.RefundDue.Location())
	require.Equal(t, moveOutDay(1).At.AddDate(0, 0, 15), s.ClosedAt)
	require.True(t, strings.HasPrefix((&flow{state: s}).plainDetails(), "**closed**: refunded, refund $1,000.00 in 1 payout(s), closed 19 Nov 2026 00:00 UTC."))
	for _, e := range h.emails {
		require.Empty(t, e.Data.Currency)
		r, err := templates.Render(e.Kind, e.Data)
		require.NoError(t, err)
		require.NotContains(t, r.Text, "£")
		require.Contains(t, r.Text, "$1,000.00")
	}
}
