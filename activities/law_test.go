package activities_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/rules"
)

func TestLoadLeaseLawReadsTheOperatorsRulesFirst(t *testing.T) {
	ctx := context.Background()
	q := db.New(pool)
	lease := newLease(t, 0)
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, q.SetLeaseJurisdiction(ctx, db.SetLeaseJurisdictionParams{LeaseID: lease, Jurisdiction: "US-CA", StartsOn: pgtype.Date{Time: start, Valid: true}}))
	_, err := q.SetPropertyJurisdiction(ctx, db.SetPropertyJurisdictionParams{PropertyID: "maple", BuildingUnits: pgtype.Int4{Int32: 30, Valid: true}})
	require.NoError(t, err)

	law, err := acts.LoadLeaseLaw(ctx, activities.LeaseLawInput{LeaseID: lease, On: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Equal(t, "US-CA", law.Rule.Code)
	require.Equal(t, 21, law.Rule.Return.Days)
	require.Equal(t, "embedded", law.Rule.Source)
	require.Equal(t, start, law.LeaseStart)
	require.Equal(t, 30, law.BuildingUnits)

	// An operator's rule from 2027 governs move-outs from then on, and
	// only those.
	r := rules.Rule{Code: "US-CA", Name: "California", EffectiveFrom: "2027-01-01", Citation: "Civ. Code 1950.5 (2027)", Trigger: rules.TriggerVacate, Return: &rules.Period{Days: 14}}
	body, _ := json.Marshal(r)
	_, err = q.PutJurisdictionRule(ctx, db.PutJurisdictionRuleParams{Code: r.Code, EffectiveFrom: pgtype.Date{Time: r.Effective(), Valid: true}, Rule: body, UpdatedBy: "test"})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = q.DeleteJurisdictionRule(ctx, db.DeleteJurisdictionRuleParams{Code: r.Code, EffectiveFrom: pgtype.Date{Time: r.Effective(), Valid: true}})
	})
	law, err = acts.LoadLeaseLaw(ctx, activities.LeaseLawInput{LeaseID: lease, On: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Equal(t, 14, law.Rule.Return.Days)
	require.Equal(t, "operator", law.Rule.Source)
	law, err = acts.LoadLeaseLaw(ctx, activities.LeaseLawInput{LeaseID: lease, On: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Equal(t, 21, law.Rule.Return.Days)

	// A jurisdiction with no rule is an error the worker retries (the lease
	// waits for an operator to add it), not a silent "no statute".
	require.NoError(t, q.SetLeaseJurisdiction(ctx, db.SetLeaseJurisdictionParams{LeaseID: lease, Jurisdiction: "US-ZZ", StartsOn: pgtype.Date{Time: start, Valid: true}}))
	_, err = acts.LoadLeaseLaw(ctx, activities.LeaseLawInput{LeaseID: lease, On: time.Now()})
	require.ErrorContains(t, err, `no rules for jurisdiction "US-ZZ"`)
	require.ErrorContains(t, err, "deposits rules set")

	// The deadlines are mirrored for the compliance report.
	due := time.Date(2026, 12, 22, 0, 0, 0, 0, time.UTC)
	require.NoError(t, acts.SaveLeaseDeadlines(ctx, activities.DeadlinesInput{LeaseID: lease, StatementDue: due, RefundDue: due, Note: "US-CA: refund within 21 days"}))
	rows, err := q.ListCompliance(ctx, pgtype.Text{String: "maple", Valid: true})
	require.NoError(t, err)
	found := false
	for _, row := range rows {
		if row.LeaseID == lease {
			found = true
			require.True(t, row.StatutoryDeadline.Equal(due))
			require.Equal(t, "US-CA: refund within 21 days", row.DeadlineNote)
		}
	}
	require.True(t, found)
}
