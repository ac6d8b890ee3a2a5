// Package rules holds the security-deposit law of each jurisdiction as data:
// when the refund and the itemized statement are due and what starts the
// clock, whether a late statement forfeits the deductions, and the interest
// owed on the deposit. The rules ship embedded (embedded/*.json, one file per
// rule, from ../shared/reference/jurisdictions.md) and an operator may add or
// override any of them in the database (`deposits rules set`), so a changed
// statute or a new city needs no release.
//
// Everything here is pure: the workflow computes deadlines and interest with
// the same code as `deposits compliance` and the tests.
package rules

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// None is the jurisdiction of a lease no statute governs (a short-term
// rental): the manager's release delay applies, up to 120 days.
const None = "NONE"

// Triggers: what starts a statutory clock.
const (
	TriggerNone       = "none"               // no statutory clock
	TriggerVacate     = "vacate"             // the tenant moved out
	TriggerForwarding = "forwarding_address" // a written forwarding address arrived (the clock waits for it)
	TriggerLaterOf    = "later_of"           // the later of the move-out and the forwarding address
)

// Rule is one jurisdiction's deposit law from a date on.
type Rule struct {
	Code string `json:"code"` // US-CA, US-IL-CHI, GB-ENG, NONE
	Name string `json:"name"`
	// EffectiveFrom (YYYY-MM-DD): the rule governs move-outs on or after it,
	// until the next rule of the same code.
	EffectiveFrom string `json:"effective_from"`
	Citation      string `json:"citation"`

	Trigger string `json:"trigger"`
	// Return: the refund, with the itemized statement, is due this long after the trigger.
	Return *Period `json:"return,omitempty"`
	// Statement: the itemized statement is due sooner than the refund (US-IL: 30 of 45 days).
	Statement *Period `json:"statement,omitempty"`
	// NoClaimReturn: when nothing is withheld the refund is due this soon (US-FL: 15 days).
	NoClaimReturn *Period `json:"no_claim_return,omitempty"`
	// ObjectionWindow: after the notice of a claim the tenant may object for
	// this long; nothing is deducted before it ends (US-FL: 15 days).
	ObjectionWindow *Period `json:"objection_window,omitempty"`
	// ReturnAfterStatement: with a claim, the balance is due this long after
	// the notice (US-FL: 30 days), and no later than Return when both are set.
	ReturnAfterStatement *Period `json:"return_after_statement,omitempty"`
	// ReceiptsWithin: receipts for estimated deductions follow the statement within this (US-IL).
	ReceiptsWithin *Period `json:"receipts_within,omitempty"`
	// ForfeitsDeductions: a statement or refund after its deadline forfeits
	// the right to withhold anything; the tenant gets everything back.
	ForfeitsDeductions bool `json:"forfeits_deductions,omitempty"`
	// MaxManagerDelay bounds the manager's release delay where no statute does (NONE: 120 days).
	MaxManagerDelay *Period `json:"max_manager_delay,omitempty"`

	Interest *Interest `json:"interest,omitempty"`

	// In words, for managers: what the statement must hold, the penalty, caveats.
	StatementRequirements string   `json:"statement_requirements,omitempty"`
	Penalty               string   `json:"penalty,omitempty"`
	Notes                 []string `json:"notes,omitempty"`

	// Source is where the rule came from: "embedded" or "operator" (set on load, never stored).
	Source string `json:"source,omitempty"`
}

// Period is a length of time in calendar terms: "1 month" ends on the same
// day of the next month, as a statute reads it.
type Period struct {
	Days   int `json:"days,omitempty"`
	Months int `json:"months,omitempty"`
}

// From is the end of the period that starts at t, at the same time of day
// in t's location.
func (p Period) From(t time.Time) time.Time { return t.AddDate(0, p.Months, p.Days) }

// FromDayIn is the first instant, in zone, of the day the period reaches
// counting from the calendar day of t in zone: 21 days from any time of 1
// March is 00:00 on 22 March, whatever the clocks did in between.
func (p Period) FromDayIn(t time.Time, zone *time.Location) time.Time {
	y, m, d := t.In(zone).Date()
	return startOfDay(y, m+time.Month(p.Months), d+p.Days, zone)
}

func (p Period) String() string {
	var parts []string
	if p.Months != 0 {
		parts = append(parts, plural(p.Months, "month"))
	}
	if p.Days != 0 || p.Months == 0 {
		parts = append(parts, plural(p.Days, "day"))
	}
	return strings.Join(parts, " ")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// Effective is the date the rule takes effect.
func (r Rule) Effective() time.Time {
	t, _ := time.Parse(time.DateOnly, r.EffectiveFrom)
	return t
}

// HasClock says whether a statute sets a deadline for this rule.
func (r Rule) HasClock() bool { return r.Trigger != TriggerNone && r.Return != nil }

// Label names the rule for people: "US-CA (Civ. Code 1950.5)".
func (r Rule) Label() string {
	if r.Citation == "" {
		return r.Code
	}
	return r.Code + " (" + r.Citation + ")"
}

var codeRE = regexp.MustCompile(`^[A-Z]{2,4}(-[A-Z0-9]{1,8}){0,3}$`)

// Validate says what is wrong with a rule, so that a bad override is refused
// before it reaches a lease.
func (r Rule) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !codeRE.MatchString(r.Code) {
		bad("code %q: use a country code and optional regions in capitals, e.g. US-CA or US-IL-CHI", r.Code)
	}
	if _, err := time.Parse(time.DateOnly, r.EffectiveFrom); err != nil {
		bad("effective_from %q: give a date as YYYY-MM-DD", r.EffectiveFrom)
	}
	if strings.TrimSpace(r.Citation) == "" {
		bad("citation: say which statute or source the rule comes from")
	}
	switch r.Trigger {
	case TriggerNone:
		if r.Return != nil || r.Statement != nil || r.NoClaimReturn != nil {
			bad("trigger none: a rule without a statutory clock has no return or statement period")
		}
	case TriggerVacate, TriggerForwarding, TriggerLaterOf:
		if r.Return == nil {
			bad("return: a rule with trigger %s needs the return period", r.Trigger)
		}
	default:
		bad("trigger %q: use none, vacate, forwarding_address or later_of", r.Trigger)
	}
	for name, p := range map[string]*Period{"return": r.Return, "statement": r.Statement, "no_claim_return": r.NoClaimReturn,
		"objection_window": r.ObjectionWindow, "return_after_statement": r.ReturnAfterStatement, "receipts_within": r.ReceiptsWithin,
		"max_manager_delay": r.MaxManagerDelay} {
		if p == nil {
			continue
		}
		if p.Days < 0 || p.Months < 0 || p.Days+31*p.Months == 0 || p.Days+31*p.Months > 400 {
			bad("%s: a period of %s is not a statutory deadline (1 to 400 days)", name, p)
		}
	}
	if r.Return != nil && r.Statement != nil && r.Statement.From(time.Time{}).After(r.Return.From(time.Time{})) {
		bad("statement: due after the refund (%s > %s); the statement comes with the refund at the latest", r.Statement, r.Return)
	}
	if r.ObjectionWindow != nil && r.ReturnAfterStatement != nil &&
		r.ObjectionWindow.From(time.Time{}).After(r.ReturnAfterStatement.From(time.Time{})) {
		bad("objection_window ends after return_after_statement: the refund could never be on time")
	}
	if r.Interest != nil {
		if err := r.Interest.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Book is every rule known: the embedded ones with the operator's overrides
// on top. A rule is found by its code and the date it must govern.
type Book struct {
	rules map[string][]Rule // by code, oldest first
}

// NewBook makes a book of rules; a later rule with the same code and
// effective date replaces an earlier one (an operator's override replaces
// the embedded rule).
func NewBook(rs ...Rule) *Book {
	b := &Book{rules: map[string][]Rule{}}
	for _, r := range rs {
		b.Put(r)
	}
	return b
}

// Put adds a rule, replacing one of the same code and effective date.
func (b *Book) Put(r Rule) {
	list := b.rules[r.Code]
	i := slices.IndexFunc(list, func(o Rule) bool { return o.EffectiveFrom == r.EffectiveFrom })
	if i >= 0 {
		list[i] = r
	} else {
		list = append(list, r)
	}
	slices.SortFunc(list, func(x, y Rule) int { return strings.Compare(x.EffectiveFrom, y.EffectiveFrom) })
	b.rules[r.Code] = list
}

// Codes lists the jurisdictions, sorted.
func (b *Book) Codes() []string {
	var out []string
	//workflowcheck:ignore the map's order is lost to the sort below
	for c := range b.rules {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Has says whether the book knows the jurisdiction.
func (b *Book) Has(code string) bool { return len(b.rules[code]) > 0 }

// History is every rule of one jurisdiction, oldest first.
func (b *Book) History(code string) []Rule { return slices.Clone(b.rules[code]) }

// For is the rule of a jurisdiction in force on a day: the newest whose
// effective date is not after it.
func (b *Book) For(code string, on time.Time) (Rule, error) {
	list := b.rules[code]
	if len(list) == 0 {
		return Rule{}, fmt.Errorf("no rules for jurisdiction %q (known: %s)", code, strings.Join(b.Codes(), ", "))
	}
	day := on.UTC().Format(time.DateOnly)
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].EffectiveFrom <= day {
			return list[i], nil
		}
	}
	return Rule{}, fmt.Errorf("no rule for %s was in force on %s: the oldest takes effect %s", code, day, list[0].EffectiveFrom)
}

//go:embed embedded/*.json
var embedded embed.FS

// Embedded returns the rules shipped with depositflow (parsed once; the
// caller gets its own copy of the list).
func Embedded() []Rule { return slices.Clone(embeddedOnce()) }

var embeddedOnce = sync.OnceValue(func() []Rule {
	entries, err := embedded.ReadDir("embedded")
	if err != nil {
		panic(err)
	}
	var out []Rule
	for _, e := range entries {
		raw, err := embedded.ReadFile("embedded/" + e.Name())
		if err != nil {
			panic(err)
		}
		rs, err := Parse(raw)
		if err != nil {
			panic(fmt.Sprintf("embedded rules %s: %v", e.Name(), err))
		}
		for i := range rs {
			rs[i].Source = "embedded"
		}
		out = append(out, rs...)
	}
	return out
})

// Parse reads one rule or a list of rules from JSON, refusing unknown fields
// and invalid rules.
func Parse(raw []byte) ([]Rule, error) {
	trimmed := strings.TrimSpace(string(raw))
	var rs []Rule
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if strings.HasPrefix(trimmed, "[") {
		if err := dec.Decode(&rs); err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
	} else {
		var r Rule
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("read rule: %w", err)
		}
		rs = []Rule{r}
	}
	if len(rs) == 0 {
		return nil, errors.New("no rules in the file")
	}
	for _, r := range rs {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("rule %s from %s: %w", r.Code, r.EffectiveFrom, err)
		}
	}
	return rs, nil
}
