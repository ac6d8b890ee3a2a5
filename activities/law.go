package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/rules"
)

// RuleBook is every rule in force for this operator: the embedded rules with
// the operator's rules from the database on top.
func RuleBook(ctx context.Context, q *db.Queries) (*rules.Book, error) {
	rows, err := q.ListJurisdictionRules(ctx)
	if err != nil {
		return nil, err
	}
	b := rules.NewBook(rules.Embedded()...)
	for _, row := range rows {
		rs, err := rules.Parse(row.Rule)
		if err != nil {
			return nil, fmt.Errorf("the operator's rule %s from %s: %w", row.Code, row.EffectiveFrom.Time.Format(time.DateOnly), err)
		}
		for _, r := range rs {
			r.Source = "operator"
			b.Put(r)
		}
	}
	return b, nil
}

// LeaseLawInput asks for the rule that governs a lease's deposit on a day
// (the move-out: the law in force when the duty to refund arises).
type LeaseLawInput struct {
	LeaseID string
	On      time.Time
}

// LeaseLaw is the lease's rule and the facts its interest depends on, with
// the lease's currency and the time zone where its statute counts days.
type LeaseLaw struct {
	Rule          rules.Rule
	LeaseStart    time.Time
	BuildingUnits int
	// Currency (ISO 4217) and TimeZone (IANA) are the lease's. Empty in a
	// result recorded before leases had them: USD and UTC.
	Currency string `json:",omitempty"`
	TimeZone string `json:",omitempty"`
}

// LoadLeaseLaw reads the lease's jurisdiction and returns its rule. A
// jurisdiction with no rule (an operator's rule deleted after the lease
// started), or a time zone this binary does not know, is retried rather
// than ignored: the lease waits, with the reason in its pending activity,
// until an operator adds the rule or fixes the zone.
func (a *Activities) LoadLeaseLaw(ctx context.Context, in LeaseLawInput) (LeaseLaw, error) {
	q := a.q()
	law, err := q.GetLeaseLaw(ctx, in.LeaseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return LeaseLaw{}, badData("lease %s is not in the database", in.LeaseID)
	}
	if err != nil {
		return LeaseLaw{}, err
	}
	return leaseLaw(ctx, q, in.LeaseID, law, in.On)
}

// leaseLaw is the rule of the lease's jurisdiction in force on a day, with
// the lease's facts.
func leaseLaw(ctx context.Context, q *db.Queries, leaseID string, law db.GetLeaseLawRow, on time.Time) (LeaseLaw, error) {
	if _, err := rules.LoadZone(law.TimeZone); err != nil {
		return LeaseLaw{}, fmt.Errorf("lease %s: %w: set the property's time zone, and the lease's (leases.time_zone)", leaseID, err)
	}
	book, err := RuleBook(ctx, q)
	if err != nil {
		return LeaseLaw{}, err
	}
	r, err := book.For(law.Jurisdiction, on)
	if err != nil {
		return LeaseLaw{}, fmt.Errorf("lease %s: %w: add it with `deposits rules set`", leaseID, err)
	}
	return LeaseLaw{Rule: r, LeaseStart: law.StartsOn.Time, BuildingUnits: int(law.BuildingUnits),
		Currency: law.Currency, TimeZone: law.TimeZone}, nil
}

// DeadlinesInput is a lease's clock as the workflow computed it.
type DeadlinesInput struct {
	LeaseID      string
	StatementDue time.Time
	RefundDue    time.Time
	Note         string
}

// SaveLeaseDeadlines mirrors the lease's statutory deadlines into the
// database for `deposits compliance`; setting them again is harmless.
func (a *Activities) SaveLeaseDeadlines(ctx context.Context, in DeadlinesInput) error {
	return a.q().SetLeaseDeadlines(ctx, db.SetLeaseDeadlinesParams{
		LeaseID: in.LeaseID, StatementDue: timePtr(in.StatementDue), StatutoryDeadline: timePtr(in.RefundDue), DeadlineNote: in.Note,
	})
}
