package money

// The USD functions as they were before currencies (commit 6aecae5), kept
// here only so FuzzUSDUnchanged can hold the thin wrappers to them.

import (
	"errors"
	"fmt"
	"strings"
)

// legacyParseSigned was ParseSigned: for amounts that may be negative or zero, such as an
// amendment lowering a deposit ("-500.00", "$-500", "(500.00)" is not accepted).
func legacyParseSigned(s string) (int64, error) {
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
	digits, err := legacyWholeDigits(whole)
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
			return 0, fmt.Errorf("%q: the amount is larger than %s", s, legacyFormat(MaxCents))
		}
	}
	if len(frac) == 0 {
		if cents > MaxCents/100 {
			return 0, fmt.Errorf("%q: the amount is larger than %s", s, legacyFormat(MaxCents))
		}
		cents *= 100
	}
	if neg {
		cents = -cents
	}
	return cents, nil
}

// legacyWholeDigits was wholeDigits: it checks the dollars part: plain digits, or digits grouped in
// threes by commas ("1,500" but not "1,50" or "15,00").
func legacyWholeDigits(whole string) (string, error) {
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

// legacyFormat was Format: it writes cents as dollars with thousands separators: 150050 becomes
// "$1,500.50" and -5000 becomes "-$50.00".
func legacyFormat(cents int64) string {
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

// legacyPlain was Plain: it writes cents as a plain decimal ("1500.50", "-50.00") for machine
// output and command examples.
func legacyPlain(cents int64) string {
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign = "-"
		u = uint64(-(cents + 1)) + 1
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}
