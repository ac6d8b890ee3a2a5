package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/sdk/activity"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/rules"
)

// The trust books' daily pass (issue #19), run by the books schedule's
// workflow: interest credited at each anniversary of a lease where the
// statute pays it while the tenancy runs (the rule's interest.yearly), and
// refund payouts left unpaid too long flagged to the property's manager.
// Each side effect is an activity, idempotent by what it is about (a lease
// and an anniversary; a refund).

// InterestDueInput asks which anniversaries up to a day have no interest
// credited yet.
type InterestDueInput struct {
	AsOf time.Time
}

// InterestDue is one lease's anniversary to credit.
type InterestDue struct {
	LeaseID     string
	Anniversary time.Time // the day the lease's year ended (UTC midnight of that calendar day)
	Year        int       // 1 for the first anniversary
	// Unsent: credited by an earlier pass that could not email the tenant;
	// this pass sends the email.
	Unsent bool `json:",omitempty"`
}

// InterestEmailDays is how long after an anniversary a pass still sends
// the interest email an earlier pass could not.
const InterestEmailDays = 30

// ListInterestDue lists the anniversaries, up to AsOf (and up to the
// move-out: after it the settlement pays what is owed), of open leases
// under a rule that pays interest yearly, with no interest credited yet.
func (a *Activities) ListInterestDue(ctx context.Context, in InterestDueInput) ([]InterestDue, error) {
	q := a.q()
	book, err := RuleBook(ctx, q)
	if err != nil {
		return nil, err
	}
	var codes []string
	for _, code := range book.Codes() {
		if r, err := book.For(code, in.AsOf); err == nil && r.Interest != nil && r.Interest.Yearly {
			codes = append(codes, code)
		}
	}
	out := []InterestDue{}
	if len(codes) == 0 {
		return out, nil
	}
	asOf := day(in.AsOf)
	unsent, err := q.ListInterestUnsent(ctx, pgtype.Date{Time: asOf.AddDate(0, 0, -InterestEmailDays), Valid: true})
	if err != nil {
		return nil, err
	}
	for _, u := range unsent {
		out = append(out, InterestDue{LeaseID: u.LeaseID, Anniversary: day(u.Anniversary.Time), Year: int(u.YearNumber), Unsent: true})
	}
	leases, err := q.ListYearlyInterestLeases(ctx, db.ListYearlyInterestLeasesParams{Jurisdictions: codes, AsOf: pgtype.Date{Time: asOf, Valid: true}})
	if err != nil {
		return nil, err
	}
	for _, l := range leases {
		if !l.StartsOn.Valid {
			continue
		}
		done, err := q.ListInterestAccruals(ctx, l.LeaseID)
		if err != nil {
			return nil, err
		}
		credited := map[time.Time]bool{}
		for _, d := range done {
			credited[day(d.Anniversary.Time)] = true
		}
		start := day(l.StartsOn.Time)
		for y := 1; ; y++ {
			ann := start.AddDate(y, 0, 0)
			if ann.After(asOf) || (l.RealizedMoveOutAt != nil && ann.After(*l.RealizedMoveOutAt)) {
				break
			}
			if !credited[ann] {
				out = append(out, InterestDue{LeaseID: l.LeaseID, Anniversary: ann, Year: y})
			}
		}
	}
	return out, nil
}

// InterestCredited is the interest credited at one anniversary.
type InterestCredited struct {
	LeaseID     string
	AccrualID   int64
	Anniversary time.Time
	Year        int
	Cents       int64 // credited at this anniversary
	TotalCents  int64 // credited so far, this one included
	HeldCents   int64 // the deposit held for the tenant now, the interest credited included
	Why         string
	Again       bool // credited before (a retry, or the pass run twice)
	Settled     bool // the lease was settled meanwhile: its settlement pays the interest
}

// CreditYearlyInterest credits a lease the interest owed from each
// payment's day to an anniversary, less what earlier anniversaries
// credited, under the rule in force that day; posted to the journal by the
// accrual's own trigger (Interest Expense to Security Deposit Liability).
// Once per lease and anniversary.
func (a *Activities) CreditYearlyInterest(ctx context.Context, in InterestDue) (InterestCredited, error) {
	out := InterestCredited{LeaseID: in.LeaseID, Anniversary: day(in.Anniversary), Year: in.Year}
	err := pgx.BeginTxFunc(ctx, a.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		q := db.New(tx)
		prior, err := q.ListInterestAccruals(ctx, in.LeaseID)
		if err != nil {
			return err
		}
		var before int64
		for _, p := range prior {
			if day(p.Anniversary.Time).Equal(out.Anniversary) {
				out.AccrualID, out.Cents, out.TotalCents, out.Why, out.Again = p.AccrualID, p.AmountCents, p.OwedToDateCents, p.Why, true
				b, err := ReadBooks(ctx, q, in.LeaseID)
				if err != nil {
					return err
				}
				out.HeldCents = b.State().HeldCents + sumAccrued(prior)
				return nil
			}
			if p.Anniversary.Time.Before(out.Anniversary) {
				before += p.AmountCents
			}
		}
		b, err := ReadBooks(ctx, q, in.LeaseID)
		if err != nil {
			return err
		}
		row, err := q.GetLeaseLaw(ctx, in.LeaseID)
		if err != nil {
			return leaseErr(in.LeaseID, err)
		}
		law, err := leaseLaw(ctx, q, in.LeaseID, row, out.Anniversary)
		if err != nil {
			return err
		}
		s := b.State()
		s.Rule = &law.Rule
		owed := rules.InterestOwed{Why: "no interest is owed on deposits here"}
		if law.Rule.Interest != nil && law.Rule.Interest.Yearly {
			owed = s.InterestOwed(out.Anniversary, law.LeaseStart, law.BuildingUnits)
		}
		out.Cents = max(owed.Cents-before, 0)
		out.TotalCents = before + out.Cents
		out.Why = owed.Why
		out.HeldCents = s.HeldCents + out.TotalCents
		acc, err := q.InsertInterestAccrual(ctx, db.InsertInterestAccrualParams{LeaseID: in.LeaseID, Anniversary: pgtype.Date{Time: out.Anniversary, Valid: true},
			YearNumber: int32(in.Year), AmountCents: out.Cents, OwedToDateCents: out.TotalCents, Rule: law.Rule.Code, Why: owed.Why})
		if errors.Is(err, pgx.ErrNoRows) {
			// Settled meanwhile (or credited by a concurrent pass: found next time).
			out.Settled, out.Cents = true, 0
			return nil
		}
		if err != nil {
			return err
		}
		out.AccrualID = acc.AccrualID
		return nil
	})
	if err != nil {
		return InterestCredited{}, err
	}
	activity.GetLogger(ctx).Info("interest credited", "lease_id", in.LeaseID, "anniversary", out.Anniversary.Format(time.DateOnly),
		"cents", out.Cents, "again", out.Again)
	return out, nil
}

// UnclaimedInput asks for the refunds unpaid past their property's days
// at an instant.
type UnclaimedInput struct {
	Now time.Time
}

// Unclaimed is a refund payout unpaid past its property's days.
type Unclaimed struct {
	RefundID       int64
	LeaseID        string
	Currency       string
	AmountCents    int64
	RecipientName  string
	RecipientEmail string
	IssuedAt       time.Time
	Days           int
	Flagged        bool // the manager was told before
}

// ListUnclaimedRefunds lists the refund payouts not marked paid within
// their property's days (default 90), oldest first.
func (a *Activities) ListUnclaimedRefunds(ctx context.Context, in UnclaimedInput) ([]Unclaimed, error) {
	rows, err := a.q().ListUnclaimedRefunds(ctx, db.ListUnclaimedRefundsParams{Now: in.Now})
	if err != nil {
		return nil, err
	}
	out := []Unclaimed{}
	for _, r := range rows {
		out = append(out, Unclaimed{RefundID: r.RefundID, LeaseID: r.LeaseID, Currency: r.Currency, AmountCents: r.AmountInCents,
			RecipientName: r.RecipientName, RecipientEmail: r.RecipientEmail, IssuedAt: r.CreatedAt,
			Days: int(in.Now.Sub(r.CreatedAt).Hours() / 24), Flagged: r.UnclaimedFlaggedAt != nil})
	}
	return out, nil
}

// FlagUnclaimedRefund records that the manager was told about a refund
// left unpaid (after the email went out); flagged before, nothing changes.
func (a *Activities) FlagUnclaimedRefund(ctx context.Context, refundID int64) error {
	_, err := a.q().FlagUnclaimedRefund(ctx, refundID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("flagging refund %d: %w", refundID, err)
	}
	return nil
}

// day is the calendar day of t as a UTC midnight.
func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func sumAccrued(rows []db.InterestAccrual) int64 {
	var n int64
	for _, r := range rows {
		n += r.AmountCents
	}
	return n
}
