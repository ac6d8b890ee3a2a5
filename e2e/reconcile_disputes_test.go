package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
)

// A tenant's dispute, and the manager's answer to it, are rows first and a
// signal after; when the signal is lost (Temporal away at that moment), the
// reconcile pass wakes the workflow, which reads the rows: the disputed item
// is held at the settlement, and the answer is paid back after it.
func TestReconcileWakesALostDispute(t *testing.T) {
	ctx := context.Background()
	lease := "L-e2e-lost-dispute"
	must(t, "lease", "start", lease, "--property", "quince", "--unit", "9D", "--amount", "500.00",
		"--tenant-email", "lou@example.com", "--tenant-name", "Lou", "--assess-for", "2s", "--release-after", "25s")
	must(t, "payment", "record", lease, "--amount", "500", "--ref", "LOU-1")
	must(t, "moveout", lease, "--date", now())
	must(t, "charge", "add", lease, "--code", "DAMAGE", "--amount", "60.00", "--description", "Broken blind", "--ref", "INV-L1")
	waitMailWith(t, lease, "Your move-out statement")

	// The tenant's dispute is written; its signal never leaves.
	q := db.New(pool)
	var residentID, chargeID int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT resident_id FROM leases WHERE lease_id = $1", lease).Scan(&residentID))
	require.NoError(t, pool.QueryRow(ctx, "SELECT charge_id FROM charges WHERE lease_id = $1 AND charge_code_id = 'DAMAGE'", lease).Scan(&chargeID))
	d, err := q.InsertDispute(ctx, db.InsertDisputeParams{LeaseID: lease, ResidentID: residentID, Subject: "charge", SubjectID: chargeID,
		Description: "Broken blind", AmountCents: 6000, TenantMessage: "It was broken when I moved in."})
	require.NoError(t, err)
	time.Sleep(time.Second)
	require.Empty(t, status(t, lease).Disputes, "the workflow cannot know of it yet")

	require.Contains(t, must(t, "reconcile", "--local"), fmt.Sprintf("disputed item %d", d.DisputeID))
	require.Eventually(t, func() bool { return len(status(t, lease).Disputes) == 1 }, 20*time.Second, 100*time.Millisecond)

	// The settlement refunds the rest and holds the item.
	st := waitStage(t, lease, deposit.StageDisputed, time.Minute)
	require.EqualValues(t, 6000, st.DisputedCents)
	require.EqualValues(t, 44000, st.RefundCents)

	// The manager concedes; that signal is lost too.
	_, err = q.AnswerDispute(ctx, db.AnswerDisputeParams{Status: deposit.DisputeConceded, ManagerMessage: "Fair enough.",
		AnsweredBy: "user:e2e", DisputeID: d.DisputeID, LeaseID: lease})
	require.NoError(t, err)
	time.Sleep(time.Second)
	require.Equal(t, deposit.StageDisputed, status(t, lease).Stage)
	require.Contains(t, must(t, "reconcile", "--local"), fmt.Sprintf("disputed item %d", d.DisputeID))
	st = waitStage(t, lease, deposit.StageClosed, time.Minute)
	require.EqualValues(t, 6000, st.Disputes[0].RefundCents, "the conceded item is paid back")
	require.EqualValues(t, 50000, count(t, "SELECT COALESCE(sum(amount_in_cents), 0) FROM refunds WHERE lease_id = $1", lease))
	// Nothing is left to wake.
	require.NotContains(t, must(t, "reconcile", "--local"), "disputed item")
}
