package rules

import (
	"strings"
	"testing"
	"time"
)

func d(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestEmbeddedRulesAreValidAndComplete(t *testing.T) {
	b := NewBook(Embedded()...)
	for _, code := range []string{"US-CA", "US-NY", "US-TX", "US-MA", "US-FL", "US-WA", "US-IL", "US-IL-CHI", "US-NJ", "US-CO", "GB-ENG", None} {
		if !b.Has(code) {
			t.Errorf("no embedded rule for %s", code)
		}
		for _, r := range b.History(code) {
			if err := r.Validate(); err != nil {
				t.Errorf("%s: %v", code, err)
			}
			if r.Citation == "" || r.EffectiveFrom == "" {
				t.Errorf("%s: every rule needs a citation and an effective date", code)
			}
		}
	}
}

// TestDeadlines computes each jurisdiction's deadlines by hand from the
// reference table (../shared/reference/jurisdictions.md).
func TestDeadlines(t *testing.T) {
	b := NewBook(Embedded()...)
	out := d("2026-03-01") // move-out day
	for _, c := range []struct {
		name            string
		code            string
		facts           Facts
		started         bool
		statement, due  string
		objection, recs string
	}{
		{name: "CA: 21 days after vacating", code: "US-CA", facts: Facts{MovedOut: out, Claim: true}, started: true, statement: "2026-03-22", due: "2026-03-22"},
		{name: "NY: 14 days", code: "US-NY", facts: Facts{MovedOut: out, Claim: true}, started: true, statement: "2026-03-15", due: "2026-03-15"},
		{name: "TX: no forwarding address, no clock", code: "US-TX", facts: Facts{MovedOut: out, Claim: true}},
		{name: "TX: forwarding address after move-out is later", code: "US-TX", facts: Facts{MovedOut: out, ForwardingAt: d("2026-03-10"), Claim: true},
			started: true, statement: "2026-04-09", due: "2026-04-09"},
		{name: "TX: forwarding address before move-out: the move-out is later", code: "US-TX", facts: Facts{MovedOut: out, ForwardingAt: d("2026-02-01")},
			started: true, statement: "2026-03-31", due: "2026-03-31"},
		{name: "MA: 30 days", code: "US-MA", facts: Facts{MovedOut: out}, started: true, statement: "2026-03-31", due: "2026-03-31"},
		{name: "FL: nothing withheld, 15 days", code: "US-FL", facts: Facts{MovedOut: out}, started: true, statement: "2026-03-16", due: "2026-03-16"},
		{name: "FL: a claim, notice by day 30, balance 30 days after the latest notice", code: "US-FL", facts: Facts{MovedOut: out, Claim: true},
			started: true, statement: "2026-03-31", due: "2026-04-30"},
		{name: "FL: notice on day 10: objection window 15 days, balance 30 days after it", code: "US-FL",
			facts: Facts{MovedOut: out, Claim: true, StatementAt: d("2026-03-11")}, started: true, statement: "2026-03-31", due: "2026-04-10", objection: "2026-03-26"},
		{name: "WA after 2023-07-23: 30 days", code: "US-WA", facts: Facts{MovedOut: out}, started: true, statement: "2026-03-31", due: "2026-03-31"},
		{name: "WA before 2023-07-23: 21 days", code: "US-WA", facts: Facts{MovedOut: d("2023-07-01")}, started: true, statement: "2023-07-22", due: "2023-07-22"},
		{name: "IL: statement by 30, refund by 45, receipts 30 after the estimate", code: "US-IL",
			facts: Facts{MovedOut: out, Claim: true, StatementAt: d("2026-03-20")}, started: true, statement: "2026-03-31", due: "2026-04-15", recs: "2026-04-19"},
		{name: "Chicago: 30 and 45", code: "US-IL-CHI", facts: Facts{MovedOut: out, Claim: true}, started: true, statement: "2026-03-31", due: "2026-04-15"},
		{name: "NJ: 30 days", code: "US-NJ", facts: Facts{MovedOut: out}, started: true, statement: "2026-03-31", due: "2026-03-31"},
		{name: "CO: one month, calendar", code: "US-CO", facts: Facts{MovedOut: d("2026-01-31")}, started: true, statement: "2026-03-03", due: "2026-03-03"},
		{name: "CO: one month from 1 March", code: "US-CO", facts: Facts{MovedOut: out}, started: true, statement: "2026-04-01", due: "2026-04-01"},
		{name: "GB-ENG: 10 days", code: "GB-ENG", facts: Facts{MovedOut: out}, started: true, statement: "2026-03-11", due: "2026-03-11"},
		{name: "NONE: no statute", code: None, facts: Facts{MovedOut: out}},
		{name: "no move-out yet", code: "US-CA", facts: Facts{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			on := c.facts.MovedOut
			if on.IsZero() {
				on = out
			}
			r, err := b.For(c.code, on)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Clock(c.facts)
			if got.Started != c.started {
				t.Fatalf("started %v, want %v (%s)", got.Started, c.started, got.Why)
			}
			if !c.started {
				if !got.RefundDue.IsZero() || got.Why == "" {
					t.Fatalf("a clock that has not started has no deadline and says why: %+v", got)
				}
				return
			}
			check := func(what string, got time.Time, want string) {
				t.Helper()
				if want == "" && got.IsZero() {
					return
				}
				if got.Format(time.DateOnly) != want {
					t.Errorf("%s %s, want %s (%s)", what, got.Format(time.DateOnly), want, r.Label())
				}
			}
			check("statement due", got.StatementDue, c.statement)
			check("refund due", got.RefundDue, c.due)
			check("objection ends", got.ObjectionEnds, c.objection)
			check("receipts due", got.ReceiptsDue, c.recs)
			if !strings.Contains(got.Why, r.Citation) {
				t.Errorf("why %q does not cite %q", got.Why, r.Citation)
			}
		})
	}
}

func TestForPicksTheRuleInForce(t *testing.T) {
	b := NewBook(Embedded()...)
	override := Rule{Code: "US-CA", Name: "California", EffectiveFrom: "2027-01-01", Citation: "Civ. Code 1950.5 (hypothetical 2027 amendment)",
		Trigger: TriggerVacate, Return: &Period{Days: 14}, Source: "operator"}
	b.Put(override)
	for day, want := range map[string]int{"2024-01-01": 21, "2026-12-31": 21, "2027-01-01": 14, "2030-06-01": 14} {
		r, err := b.For("US-CA", d(day))
		if err != nil {
			t.Fatal(err)
		}
		if r.Return.Days != want {
			t.Errorf("%s: %d days, want %d", day, r.Return.Days, want)
		}
	}
	if _, err := b.For("US-ZZ", d("2026-01-01")); err == nil || !strings.Contains(err.Error(), "US-CA") {
		t.Errorf("an unknown jurisdiction should be refused naming the known ones: %v", err)
	}
	// The same code and date replaces the rule: an operator's override wins.
	b.Put(Rule{Code: "US-CA", Name: "California", EffectiveFrom: "2027-01-01", Citation: "x", Trigger: TriggerVacate, Return: &Period{Days: 10}})
	if r, _ := b.For("US-CA", d("2027-02-01")); r.Return.Days != 10 || len(b.History("US-CA")) != 3 {
		t.Errorf("override did not replace: %+v, history %d", r, len(b.History("US-CA")))
	}
}

func TestValidateRefusesBadRules(t *testing.T) {
	ok := Rule{Code: "US-XX", EffectiveFrom: "2026-01-01", Citation: "Stat. 1", Trigger: TriggerVacate, Return: &Period{Days: 30}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Rule){
		"lower-case code":            func(r *Rule) { r.Code = "us-ca" },
		"bad date":                   func(r *Rule) { r.EffectiveFrom = "1/1/2026" },
		"no citation":                func(r *Rule) { r.Citation = " " },
		"unknown trigger":            func(r *Rule) { r.Trigger = "whenever" },
		"no return period":           func(r *Rule) { r.Return = nil },
		"zero period":                func(r *Rule) { r.Return = &Period{} },
		"negative period":            func(r *Rule) { r.Return = &Period{Days: -3} },
		"absurd period":              func(r *Rule) { r.Return = &Period{Days: 9000} },
		"statement after the refund": func(r *Rule) { r.Statement = &Period{Days: 45} },
		"negative rate":              func(r *Rule) { r.Interest = &Interest{Rates: []YearRate{{Year: 2026, BasisPoints: -1}}} },
		"rate twice":                 func(r *Rule) { r.Interest = &Interest{Rates: []YearRate{{2026, 5}, {2026, 6}}} },
		"clock on a none trigger":    func(r *Rule) { r.Trigger = TriggerNone },
	} {
		r := ok
		mutate(&r)
		if err := r.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, r)
		}
	}
	if _, err := Parse([]byte(`{"code":"US-XX","effective_from":"2026-01-01","citation":"x","trigger":"vacate","return":{"days":30},"colour":"red"}`)); err == nil {
		t.Error("an unknown field was accepted")
	}
}

// TestInterest checks the interest maths against figures computed by hand.
func TestInterest(t *testing.T) {
	for _, c := range []struct {
		name       string
		i          Interest
		f          InterestFacts
		want, fee  int64
		why        string
		gross      int64
		wantGrossN bool
	}{
		{
			// $1,500.00 at 5% for all of 2025: 150000 × 0.05 = 7500.
			name: "MA 5% one whole year", i: Interest{Rates: []YearRate{{1970, 500}}},
			f:    InterestFacts{Held: []Held{{150000, d("2025-01-01")}}, Until: d("2026-01-01"), LeaseStart: d("2025-01-01"), MovedOut: d("2025-12-31")},
			want: 7500,
		},
		{
			// 184 days of 2025 and 59 of 2026: 7500 × 243/365 = 4993.15 → 4993.
			name: "MA across a year end", i: Interest{Rates: []YearRate{{1970, 500}}},
			f:    InterestFacts{Held: []Held{{150000, d("2025-07-01")}}, Until: d("2026-03-01"), LeaseStart: d("2025-07-01"), MovedOut: d("2026-02-20")},
			want: 4993,
		},
		{
			name: "MA short lease exempt", i: Interest{Rates: []YearRate{{1970, 500}}, ExemptLeaseDays: 100},
			f:    InterestFacts{Held: []Held{{150000, d("2026-01-01")}}, Until: d("2026-04-15"), LeaseStart: d("2026-01-01"), MovedOut: d("2026-04-10")},
			want: 0, why: "lease of 99 days",
		},
		{
			// Two rates: 2024 at 2% over 366 days, half of 2025 (181 days) at 3%:
			// 100000×0.02 = 2000; 100000×0.03×181/365 = 1487.67; total 3487.67 → 3488.
			name: "rates by year, leap year", i: Interest{Rates: []YearRate{{2024, 200}, {2025, 300}}},
			f:    InterestFacts{Held: []Held{{100000, d("2024-01-01")}}, Until: d("2025-07-01")},
			want: 3488,
		},
		{
			// Compound: 2024: 100000×0.10 = 10000 credited; 2025: 110000×0.10 = 11000.
			name: "compound yearly", i: Interest{Rates: []YearRate{{2024, 1000}}, Compound: true},
			f:    InterestFacts{Held: []Held{{100000, d("2024-01-01")}}, Until: d("2026-01-01")},
			want: 21000,
		},
		{
			// NY: the bank pays 1.5%; the landlord keeps 1% a year: 200000 × 0.015 = 3000, fee 2000, tenant 1000.
			name: "NY admin fee of 1% a year", i: Interest{Rates: []YearRate{{2025, 150}}, AdminFeeBasisPoints: 100, MinBuildingUnits: 6},
			f:    InterestFacts{Held: []Held{{200000, d("2025-01-01")}}, Until: d("2026-01-01"), BuildingUnits: 12},
			want: 1000, fee: 2000,
		},
		{
			name: "NY fee larger than the interest leaves nothing", i: Interest{Rates: []YearRate{{2025, 50}}, AdminFeeBasisPoints: 100, MinBuildingUnits: 6},
			f:    InterestFacts{Held: []Held{{200000, d("2025-01-01")}}, Until: d("2026-01-01"), BuildingUnits: 12},
			want: 0, fee: 1000,
		},
		{
			name: "NY small building: none", i: Interest{Rates: []YearRate{{2025, 150}}, AdminFeeBasisPoints: 100, MinBuildingUnits: 6},
			f:    InterestFacts{Held: []Held{{200000, d("2025-01-01")}}, Until: d("2026-01-01"), BuildingUnits: 4},
			want: 0, why: "4 units",
		},
		{
			// IL: 0.5% on $800.00 for a year = 400 cents: below the $5 minimum.
			name: "IL minimum payout", i: Interest{Rates: []YearRate{{2025, 50}}, MinimumPayoutCents: 500, MinBuildingUnits: 25, MinHeldDays: 183},
			f:    InterestFacts{Held: []Held{{80000, d("2025-01-01")}}, Until: d("2026-01-01"), BuildingUnits: 30},
			want: 0, why: "below the minimum",
		},
		{
			name: "IL held under six months", i: Interest{Rates: []YearRate{{2025, 500}}, MinBuildingUnits: 25, MinHeldDays: 183},
			f:    InterestFacts{Held: []Held{{80000, d("2025-01-01")}}, Until: d("2025-06-01"), BuildingUnits: 30},
			want: 0, why: "held 151 days",
		},
		{
			// Chicago 2024: 0.01% on $2,000.00 for 2024 = 20 cents.
			name: "Chicago city rate", i: Interest{Rates: []YearRate{{2024, 1}}},
			f:    InterestFacts{Held: []Held{{200000, d("2024-01-01")}}, Until: d("2025-01-01")},
			want: 20,
		},
		{
			// Two payments: 50000 from 2025-01-01 (365 days) and 50000 from
			// 2025-07-02 (183 days) at 4%: 2000 + 50000×0.04×183/365 = 2000 + 1002.74 = 3002.74 → 3003.
			name: "partial payments accrue from their own day", i: Interest{Rates: []YearRate{{2025, 400}}},
			f:    InterestFacts{Held: []Held{{50000, d("2025-01-01")}, {50000, d("2025-07-02")}}, Until: d("2026-01-01")},
			want: 3003,
		},
		{
			name: "no rate set", i: Interest{},
			f:    InterestFacts{Held: []Held{{50000, d("2025-01-01")}}, Until: d("2026-01-01")},
			want: 0, why: "no rate is set",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.i.Owed(c.f)
			if got.Cents != c.want || got.AdminFeeCents != c.fee {
				t.Errorf("interest %d (fee %d), want %d (fee %d): %s", got.Cents, got.AdminFeeCents, c.want, c.fee, got.Why)
			}
			if c.why != "" && !strings.Contains(got.Why, c.why) {
				t.Errorf("why %q, want it to mention %q", got.Why, c.why)
			}
		})
	}
	var none *Interest
	if got := none.Owed(InterestFacts{}); got.Cents != 0 {
		t.Errorf("no interest rule owes %d", got.Cents)
	}
}
