// Package money parses and formats amounts of money. Amounts are int64 cents
// everywhere in depositflow; this package is the only place where text becomes
// cents and cents become text, and it never touches a float.
package money

import (
	"errors"
	"fmt"
	"strings"
)

// MaxCents is the largest amount accepted from a person: one hundred million
// dollars. Anything larger is a typo, not a deposit, and keeping amounts far
// below the int64 limit means sums of many amounts cannot overflow.
const MaxCents int64 = 100_000_000_00

// ErrFormat is returned for text that is not an amount of money.
var ErrFormat = errors.New(`not an amount: write dollars like 1500, 1,500.00 or $1500.50`)

// Parse reads a positive amount written in dollars ("1500", "1,500.00",
// "$1500.50", "0.5") and returns it in cents. It refuses negative amounts,
// zero, more than two decimals, misplaced thousands separators and amounts
// above MaxCents.
func Parse(s string) (int64, error) {
	cents, err := ParseSigned(s)
	if err != nil {
		return 0, err
	}
	if cents < 0 {
		return 0, fmt.Errorf("%q: the amount must be positive", s)
	}
	if cents == 0 {
		return 0, fmt.Errorf("%q: the amount must be more than zero", s)
	}
	return cents, nil
}

// ParseSigned is Parse for amounts that may be negative or zero, such as an
// amendment lowering a deposit ("-500.00", "$-500", "(500.00)" is not accepted).
func ParseSigned(s string) (int64, error) {
	t := strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(t, "-") {
		neg, t = true, t[1:]
	}
	t = strings.TrimPrefix(t, "$")
	if !neg && strings.HasPrefix(t, "-") {
		neg, t = true, t[1:]
	}
	whole, frac, hasDot := strings.Cut(t, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("%q: %w", s, ErrFormat)
	}
	digits, err := wholeDigits(whole)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	for _, r := range frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q: %w", s, ErrFormat)
		}
	}
	if hasDot && (len(frac) == 0 || len(frac) > 2) {
		return 0, fmt.Errorf("%q: cents take one or two digits after the point", s)
	}
	if len(frac) == 1 {
		frac += "0"
	}
	var cents int64
	for _, r := range digits + frac {
		cents = cents*10 + int64(r-'0')
		if cents > MaxCents {
			return 0, fmt.Errorf("%q: the amount is larger than %s", s, Format(MaxCents))
		}
	}
	if len(frac) == 0 {
		if cents > MaxCents/100 {
			return 0, fmt.Errorf("%q: the amount is larger than %s", s, Format(MaxCents))
		}
		cents *= 100
	}
	if neg {
		cents = -cents
	}
	return cents, nil
}

// wholeDigits checks the dollars part: plain digits, or digits grouped in
// threes by commas ("1,500" but not "1,50" or "15,00").
func wholeDigits(whole string) (string, error) {
	if whole == "" {
		return "0", nil
	}
	groups := strings.Split(whole, ",")
	for i, g := range groups {
		if g == "" {
			return "", ErrFormat
		}
		for _, r := range g {
			if r < '0' || r > '9' {
				return "", ErrFormat
			}
		}
		if len(groups) > 1 && ((i == 0 && len(g) > 3) || (i > 0 && len(g) != 3)) {
			return "", errors.New("thousands separators go every three digits (1,500.00)")
		}
	}
	return strings.Join(groups, ""), nil
}

// Format writes cents as dollars with thousands separators: 150050 becomes
// "$1,500.50" and -5000 becomes "-$50.00".
func Format(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign = "-"
		u = uint64(-(cents + 1)) + 1 // safe for math.MinInt64
	}
	dollars, rest := u/100, u%100
	d := fmt.Sprintf("%d", dollars)
	var b strings.Builder
	for i, r := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return fmt.Sprintf("%s$%s.%02d", sign, b.String(), rest)
}

// Plain writes cents as a plain decimal ("1500.50", "-50.00") for machine
// output and command examples.
func Plain(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign = "-"
		u = uint64(-(cents + 1)) + 1
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}
