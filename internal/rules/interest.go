package rules

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Interest is what a jurisdiction says the tenant earns on the deposit.
// Rates are per calendar year in basis points (1/100 of a percent: 500 is
// 5%, 1 is 0.01%); a year not listed takes the nearest earlier year's rate,
// and one before every listed year takes the first. Where the rate is the
// account's (US-NY, US-NJ), the operator sets the bank's rates with
// `deposits rules set`.
type Interest struct {
	Rates []YearRate `json:"rates"`
	// Compound: interest is credited at each year end and earns interest
	// after; otherwise it is simple interest on what was paid.
	Compound bool `json:"compound,omitempty"`
	// AdminFeeBasisPoints a year of the deposit the landlord may keep out of
	// the interest (US-NY: 100, 1% a year).
	AdminFeeBasisPoints int `json:"admin_fee_basis_points,omitempty"`
	// MinimumPayoutCents: interest below it is not paid (US-IL: $5).
	MinimumPayoutCents int64 `json:"minimum_payout_cents,omitempty"`
	// ExemptLeaseDays: a lease of this many days or fewer earns none (US-MA: 100, US-NJ: 125).
	ExemptLeaseDays int `json:"exempt_lease_days,omitempty"`
	// MinHeldDays: a deposit held fewer days earns none (US-IL: over 6 months).
	MinHeldDays int `json:"min_held_days,omitempty"`
	// MinBuildingUnits: only buildings of this many units or more pay interest (US-NY: 6, US-IL: 25).
	MinBuildingUnits int `json:"min_building_units,omitempty"`
	// Yearly: the statute pays interest while the tenancy runs, at each
	// anniversary of the lease (US-NY, US-MA, US-IL-CHI): depositflow's
	// books schedule credits it to the deposit then and tells the tenant;
	// the settlement pays what is owed to its day, less nothing (the
	// credited interest is part of it).
	Yearly bool `json:"yearly,omitempty"`
}

// YearRate is the annual rate for one calendar year.
type YearRate struct {
	Year        int `json:"year"`
	BasisPoints int `json:"basis_points"`
}

func (i *Interest) validate() error {
	var errs []error
	years := map[int]bool{}
	for _, r := range i.Rates {
		if r.Year < 1900 || r.Year > 2200 {
			errs = append(errs, fmt.Errorf("interest rate year %d: give a calendar year", r.Year))
		}
		if r.BasisPoints < 0 || r.BasisPoints > 2500 {
			errs = append(errs, fmt.Errorf("interest rate %d basis points for %d: give 0 to 2500 (25%%)", r.BasisPoints, r.Year))
		}
		if years[r.Year] {
			errs = append(errs, fmt.Errorf("interest rate for %d is given twice", r.Year))
		}
		years[r.Year] = true
	}
	if i.AdminFeeBasisPoints < 0 || i.AdminFeeBasisPoints > 2500 || i.MinimumPayoutCents < 0 ||
		i.ExemptLeaseDays < 0 || i.MinHeldDays < 0 || i.MinBuildingUnits < 0 {
		errs = append(errs, errors.New("interest: fees, minimums and exemptions cannot be negative"))
	}
	return errors.Join(errs...)
}

// rate is the rate in force in a year.
func (i *Interest) rate(year int) int {
	rs := slices.Clone(i.Rates)
	slices.SortFunc(rs, func(a, b YearRate) int { return a.Year - b.Year })
	if len(rs) == 0 {
		return 0
	}
	r := rs[0].BasisPoints
	for _, x := range rs {
		if x.Year <= year {
			r = x.BasisPoints
		}
	}
	return r
}

// Held is money held as deposit since a day (a payment's transaction date).
type Held struct {
	Cents int64     `json:"cents"`
	Since time.Time `json:"since"`
}

// InterestFacts are what interest depends on.
type InterestFacts struct {
	Held          []Held
	Until         time.Time // the day interest stops: the settlement
	LeaseStart    time.Time // with the move-out, the lease's length for short-stay exemptions
	MovedOut      time.Time
	BuildingUnits int
}

// InterestOwed is the interest the tenant is owed, and how it was reached.
type InterestOwed struct {
	Cents         int64  `json:"cents"`       // owed to the tenant
	GrossCents    int64  `json:"gross_cents"` // earned before the admin fee
	AdminFeeCents int64  `json:"admin_fee_cents"`
	Why           string `json:"why"`
}

// Owed computes the interest owed. Days are counted from each payment's day
// to the settlement day, year by year at that year's rate over its own
// length (365 or 366 days). Simple interest is rounded to the cent once, at
// the end; compound interest is rounded when credited at each year end, as a
// bank credits it.
func (i *Interest) Owed(f InterestFacts) InterestOwed {
	if i == nil {
		return InterestOwed{Why: "no interest is owed on deposits here"}
	}
	units := max(f.BuildingUnits, 1)
	if i.MinBuildingUnits > 0 && units < i.MinBuildingUnits {
		return InterestOwed{Why: fmt.Sprintf("no interest: the building has %d units, interest applies from %d", units, i.MinBuildingUnits)}
	}
	if i.ExemptLeaseDays > 0 && !f.LeaseStart.IsZero() && !f.MovedOut.IsZero() {
		if n := days(f.LeaseStart, f.MovedOut); n <= i.ExemptLeaseDays {
			return InterestOwed{Why: fmt.Sprintf("no interest: a lease of %d days (%d or fewer are exempt)", n, i.ExemptLeaseDays)}
		}
	}
	var first time.Time
	for _, h := range f.Held {
		if h.Cents > 0 && (first.IsZero() || h.Since.Before(first)) {
			first = h.Since
		}
	}
	if first.IsZero() {
		return InterestOwed{Why: "no interest: nothing was held"}
	}
	if n := days(first, f.Until); i.MinHeldDays > 0 && n < i.MinHeldDays {
		return InterestOwed{Why: fmt.Sprintf("no interest: held %d days, interest applies from %d", n, i.MinHeldDays)}
	}
	var gross, fee int64
	exact, feeExact := new(big.Rat), new(big.Rat)
	for _, h := range f.Held {
		if h.Cents <= 0 {
			continue
		}
		principal := h.Cents
		for _, seg := range yearSegments(h.Since, f.Until) {
			perYear := big.NewRat(int64(seg.days), int64(seg.yearDays)*10000)
			earned := new(big.Rat).Mul(perYear, big.NewRat(principal*int64(i.rate(seg.year)), 1))
			if i.Compound {
				c := roundCents(earned)
				gross += c
				if seg.yearEnd {
					principal += c
				}
			} else {
				exact.Add(exact, earned)
			}
			feeExact.Add(feeExact, new(big.Rat).Mul(perYear, big.NewRat(h.Cents*int64(i.AdminFeeBasisPoints), 1)))
		}
	}
	if !i.Compound {
		gross = roundCents(exact)
	}
	fee = min(roundCents(feeExact), gross)
	owed := InterestOwed{Cents: gross - fee, GrossCents: gross, AdminFeeCents: fee}
	kind := "simple"
	if i.Compound {
		kind = "compounded yearly"
	}
	owed.Why = fmt.Sprintf("%s interest from %s to %s", kind, first.UTC().Format(time.DateOnly), f.Until.UTC().Format(time.DateOnly))
	if len(i.Rates) == 0 {
		owed.Why = "no interest: no rate is set (the account's rate: set it with deposits rules set)"
	}
	if fee > 0 {
		owed.Why += fmt.Sprintf(", less the landlord's fee of %d.%02d%% a year", i.AdminFeeBasisPoints/100, i.AdminFeeBasisPoints%100)
	}
	if i.MinimumPayoutCents > 0 && owed.Cents < i.MinimumPayoutCents && owed.Cents > 0 {
		owed.Why = fmt.Sprintf("no interest paid: %d cents is below the minimum payout of %d cents", owed.Cents, i.MinimumPayoutCents)
		owed.Cents = 0
	}
	return owed
}

type segment struct {
	year, days, yearDays int
	yearEnd              bool // the segment runs to the end of its year
}

// yearSegments splits the days from since to until (00:00 UTC of each) by calendar year.
func yearSegments(since, until time.Time) []segment {
	from, to := day(since), day(until)
	var out []segment
	for from.Before(to) {
		y := from.Year()
		next := time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC)
		end := next
		if to.Before(next) {
			end = to
		}
		out = append(out, segment{year: y, days: days(from, end), yearDays: days(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), next), yearEnd: end.Equal(next)})
		from = end
	}
	return out
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// days counts whole days from a to b.
func days(a, b time.Time) int { return int(day(b).Sub(day(a)) / (24 * time.Hour)) }

// roundCents rounds a non-negative number of cents half up.
func roundCents(r *big.Rat) int64 {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if new(big.Int).Mul(m, big.NewInt(2)).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}
