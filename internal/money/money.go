// Package money parses and formats amounts of money. Amounts are int64 minor
// units everywhere in depositflow (cents of a dollar, pence of a pound, whole
// yen); this package is the only place where text becomes minor units and
// minor units become text, and it never touches a float.
//
// Each lease's amounts are in its property's currency, an ISO 4217 code. The
// *In functions take that code; Format, Parse, ParseSigned and Plain are the
// same for US dollars, kept for the callers written before leases had a
// currency. Currencies, their symbols and their digits come from
// github.com/bojanz/currency (CLDR data), always in its "en" locale, since
// depositflow speaks English to every tenant: "$1,200.00", "£1,200.00",
// "€1,200.00", "¥1,200", "CA$1,200.00", "CHF 1,200.00" (with a no-break
// space), and a minus sign before the symbol: "-£50.00".
package money

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/bojanz/currency"
)

// MaxCents is the largest amount accepted from a person, in minor units:
// 100,000,000.00 in a currency of two decimals (one hundred million dollars
// or pounds), ¥10,000,000,000 in yen. Anything larger is a typo, not a
// deposit, and keeping amounts far below the int64 limit means sums of many
// amounts cannot overflow.
const MaxCents int64 = 100_000_000_00

// USD is the currency of a lease that names none: every amount recorded
// before leases had a currency was in US dollars.
const USD = "USD"

// ErrFormat is returned (wrapped) for text that is not an amount of money.
// Its words are for US dollars; for another currency the error says the
// same with that currency's examples, and errors.Is(err, ErrFormat) holds.
var ErrFormat = errors.New(`not an amount: write dollars like 1500, 1,500.00 or $1500.50`)

// english formats every amount: CLDR's "en" patterns and symbols. A
// Formatter is only read after it is made, so one serves every goroutine.
var english = currency.NewFormatter(currency.NewLocale("en"))

// CheckCurrency returns the canonical (upper-case) ISO 4217 code of code
// ("gbp" gives "GBP"), or an error if the code is not a currency.
func CheckCurrency(code string) (string, error) {
	canonical := strings.ToUpper(strings.TrimSpace(code))
	if canonical == "" {
		return "", errors.New("no currency: give an ISO 4217 code such as USD, GBP, EUR, CAD or JPY")
	}
	if len(canonical) != 3 || !isASCIILetters(canonical) || !currency.IsValid(canonical) {
		return "", fmt.Errorf("unknown currency %q: give an ISO 4217 code such as USD, GBP, EUR, CAD or JPY", code)
	}
	return canonical, nil
}

// DefaultCurrency is the currency of a property in a jurisdiction that
// does not say otherwise: pounds sterling in the United Kingdom (GB-ENG and
// any other GB-* rule), US dollars everywhere else.
func DefaultCurrency(jurisdiction string) string {
	j := strings.ToUpper(strings.TrimSpace(jurisdiction))
	if j == "GB" || strings.HasPrefix(j, "GB-") {
		return "GBP"
	}
	return USD
}

// known resolves a lease's currency: the empty code is USD, and ok is false
// for a code CheckCurrency refuses.
func known(code string) (canonical string, ok bool) {
	if strings.TrimSpace(code) == "" {
		return USD, true
	}
	canonical, err := CheckCurrency(code)
	return canonical, err == nil
}

// Digits is how many digits the currency has after the point: 2 for USD,
// GBP and EUR, 0 for JPY, 3 for KWD. The empty code is USD; a code
// CheckCurrency refuses has 2.
func Digits(code string) int {
	canonical, ok := known(code)
	if !ok {
		return 2
	}
	digits, _ := currency.GetDigits(canonical)
	return int(digits)
}

// Symbol is the currency's symbol in English: "$" for USD, "£" for GBP,
// "€" for EUR, "¥" for JPY, "CA$" for CAD; the code itself where English
// has no symbol ("CHF"). The empty code is USD; a code CheckCurrency refuses
// is its own symbol.
func Symbol(code string) string {
	canonical, ok := known(code)
	if !ok {
		return strings.ToUpper(strings.TrimSpace(code))
	}
	symbol, _ := currency.GetSymbol(canonical, english.Locale())
	return symbol
}

// FormatIn writes minor units of a currency for people, grouped in
// thousands: FormatIn("GBP", 150050) is "£1,500.50", FormatIn("GBP", -5000)
// is "-£50.00", FormatIn("JPY", 1500) is "¥1,500". The empty code is USD. A
// code CheckCurrency refuses is written before a plain number ("XYZ 1500.50"),
// so the mistake shows instead of hiding behind a dollar sign.
func FormatIn(code string, minor int64) string {
	canonical, ok := known(code)
	if !ok {
		return strings.ToUpper(strings.TrimSpace(code)) + " " + plain(2, minor)
	}
	amount, err := currency.NewAmountFromInt64(minor, canonical)
	if err != nil { // cannot happen: the code was checked
		return canonical + " " + PlainIn(canonical, minor)
	}
	return english.Format(amount)
}

// PlainIn writes minor units as a plain decimal with the currency's digits
// ("1500.50", "-50.00", "1500" for yen), for machine output and command
// examples. The empty code is USD; a code CheckCurrency refuses has 2 digits.
func PlainIn(code string, minor int64) string { return plain(Digits(code), minor) }

func plain(digits int, minor int64) string {
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign = "-"
		u = uint64(-(minor + 1)) + 1 // safe for math.MinInt64
	}
	if digits == 0 {
		return fmt.Sprintf("%s%d", sign, u)
	}
	unit := pow10(digits)
	return fmt.Sprintf("%s%d.%0*d", sign, u/unit, digits, u%unit)
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// ParseIn reads a positive amount written in a currency and returns it in
// minor units. It accepts "1500", "1,500.00", "1500.5", the currency's own
// symbol before the number ("£1,500.00" for GBP, "$1500" for USD) and its
// code before or after it ("GBP 1500", "1500 GBP"). It refuses negative
// amounts, zero, another currency's symbol or code ("$100" for GBP), more
// decimals than the currency has, misplaced thousands separators and
// amounts above MaxCents. The empty code is USD.
func ParseIn(code, text string) (int64, error) {
	minor, err := ParseSignedIn(code, text)
	if err != nil {
		return 0, err
	}
	if minor < 0 {
		return 0, fmt.Errorf("%q: the amount must be positive", text)
	}
	if minor == 0 {
		return 0, fmt.Errorf("%q: the amount must be more than zero", text)
	}
	return minor, nil
}

// ParseSignedIn is ParseIn for amounts that may be negative or zero, such as
// an amendment lowering a deposit ("-500.00", "-£500", "£-500"; "(500.00)"
// is not accepted).
func ParseSignedIn(code, text string) (int64, error) {
	var cur string
	if strings.TrimSpace(code) == "" {
		cur = USD
	} else {
		var err error
		if cur, err = CheckCurrency(code); err != nil {
			return 0, err
		}
	}
	t := strings.TrimSpace(text)
	neg := false
	if strings.HasPrefix(t, "-") {
		neg, t = true, t[1:]
	}
	t, prefixed, err := trimPrefixMarker(cur, text, t)
	if err != nil {
		return 0, err
	}
	if !neg && strings.HasPrefix(t, "-") {
		neg, t = true, t[1:]
	}
	if t, err = trimSuffixMarker(cur, text, t, prefixed); err != nil {
		return 0, err
	}
	minor, err := parseNumber(cur, text, t)
	if err != nil {
		return 0, err
	}
	if neg {
		minor = -minor
	}
	return minor, nil
}

// trimPrefixMarker removes the currency's symbol or code written before the
// number. A code, or a symbol ending in a letter, may be followed by a space
// ("GBP 100", "CHF 100"); a sign may not ("$ 100" is refused, as it always
// was).
func trimPrefixMarker(cur, text, t string) (rest string, found bool, err error) {
	symbol := Symbol(cur)
	switch {
	case strings.HasPrefix(t, symbol):
		return trimSpaceAfterLetters(symbol, t[len(symbol):]), true, nil
	case len(t) >= len(cur) && strings.EqualFold(t[:len(cur)], cur):
		return trimSpaceAfterLetters(cur, t[len(cur):]), true, nil
	}
	lead := strings.TrimRightFunc(leading(t), isSpace)
	if lead == "" {
		return t, false, nil
	}
	if other, ok := currencyOf(lead); ok && other != cur {
		return "", false, wrongCurrency(cur, other, text, t[len(leading(t)):])
	}
	return "", false, fmt.Errorf("%q: %w", text, errFormat(cur))
}

// trimSuffixMarker removes the currency's code written after the number
// ("1500 GBP") and refuses another currency's; a number with a marker on
// both sides is refused.
func trimSuffixMarker(cur, text, t string, prefixed bool) (string, error) {
	tail := trailing(t)
	if tail == "" {
		return t, nil
	}
	number := t[:len(t)-len(tail)]
	marker := strings.TrimLeftFunc(tail, isSpace)
	if !prefixed && strings.EqualFold(marker, cur) {
		return number, nil
	}
	if other, ok := currencyOf(marker); ok && other != cur {
		return "", wrongCurrency(cur, other, text, number)
	}
	return t, nil // not a marker: the number is refused with the reason it always was
}

func trimSpaceAfterLetters(marker, rest string) string {
	last, _ := utf8.DecodeLastRuneInString(marker)
	if unicode.IsLetter(last) {
		return strings.TrimLeftFunc(rest, isSpace)
	}
	return rest
}

// leading is the text before the number: everything up to the first digit,
// point, comma or minus sign.
func leading(t string) string {
	if i := strings.IndexFunc(t, func(r rune) bool { return isNumberRune(r) || r == '-' }); i >= 0 {
		return t[:i]
	}
	return t
}

// trailing is the text after the number: everything after the last digit,
// point or comma.
func trailing(t string) string {
	return t[len(strings.TrimRightFunc(t, func(r rune) bool { return !isNumberRune(r) })):]
}

func isNumberRune(r rune) bool { return r >= '0' && r <= '9' || r == '.' || r == ',' }

func isSpace(r rune) bool { return r == ' ' || r == '\u00a0' }

func isASCIILetters(s string) bool {
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return true
}

// currencyOf names the currency a marker written next to a number stands
// for: its ISO code in any case ("usd"), or its English symbol ("$", "€",
// "CA$"). English gives each symbol to one currency only.
func currencyOf(marker string) (string, bool) {
	if c, err := CheckCurrency(marker); err == nil {
		return c, true
	}
	c, ok := symbolOwners()[marker]
	return c, ok
}

var symbolOwners = sync.OnceValue(func() map[string]string {
	owners := map[string]string{}
	for _, code := range currency.GetCurrencyCodes() {
		if symbol := Symbol(code); symbol != code {
			owners[symbol] = code
		}
	}
	return owners
})

// wrongCurrency refuses an amount written in another currency than the
// lease's: `"$100" is in USD ($), but this lease is in GBP (£): write £100 or 100`.
func wrongCurrency(cur, other, text, number string) error {
	sign := ""
	if strings.HasPrefix(strings.TrimSpace(text), "-") || strings.HasPrefix(number, "-") {
		sign = "-"
	}
	number = strings.TrimSpace(number[:len(number)-len(trailing(number))])
	number = strings.TrimSpace(strings.TrimPrefix(number, "-"))
	if number == "" {
		number = "100"
	}
	return fmt.Errorf("%q is in %s, but this lease is in %s: write %s%s or %s%s",
		text, named(other), named(cur), sign, withSymbol(cur, number), sign, number)
}

// named is a currency for an error message: "GBP (£)", or "CHF" where the
// symbol is the code.
func named(code string) string {
	if symbol := Symbol(code); symbol != code {
		return code + " (" + symbol + ")"
	}
	return code
}

// withSymbol writes a plain number after the currency's symbol, with a space
// after a symbol of letters: "£100", "CHF 100".
func withSymbol(code, number string) string {
	symbol := Symbol(code)
	if last, _ := utf8.DecodeLastRuneInString(symbol); unicode.IsLetter(last) {
		return symbol + " " + number
	}
	return symbol + number
}

// parseNumber reads a plain number ("1,500.00", "1500.5", ".05") in minor
// units of the currency.
func parseNumber(cur, text, t string) (int64, error) {
	digits := Digits(cur)
	whole, frac, hasDot := strings.Cut(t, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("%q: %w", text, errFormat(cur))
	}
	wholeDigits, err := groupedDigits(cur, whole)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", text, err)
	}
	for _, r := range frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q: %w", text, errFormat(cur))
		}
	}
	if hasDot && (len(frac) == 0 || len(frac) > digits) {
		return 0, fmt.Errorf("%q: %s", text, decimalsRule(cur, digits))
	}
	frac += strings.Repeat("0", digits-len(frac))
	var minor int64
	for _, r := range wholeDigits + frac {
		minor = minor*10 + int64(r-'0')
		if minor > MaxCents {
			return 0, fmt.Errorf("%q: the amount is larger than %s", text, FormatIn(cur, MaxCents))
		}
	}
	return minor, nil
}

// groupedDigits checks the part before the point: plain digits, or digits
// grouped in threes by commas ("1,500" but not "1,50" or "15,00").
func groupedDigits(cur, whole string) (string, error) {
	if whole == "" {
		return "0", nil
	}
	groups := strings.Split(whole, ",")
	for i, g := range groups {
		if g == "" {
			return "", errFormat(cur)
		}
		for _, r := range g {
			if r < '0' || r > '9' {
				return "", errFormat(cur)
			}
		}
		if len(groups) > 1 && ((i == 0 && len(g) > 3) || (i > 0 && len(g) != 3)) {
			return "", fmt.Errorf("thousands separators go every three digits (%s)", example(cur, true))
		}
	}
	return strings.Join(groups, ""), nil
}

// decimalsRule says how many digits may follow the point. The words for a
// currency of two decimals are the ones depositflow always used (tests and
// scripts match on them).
func decimalsRule(cur string, digits int) string {
	switch digits {
	case 0:
		return cur + " has no digits after the point: write whole amounts like " + example(cur, true)
	case 2:
		return "cents take one or two digits after the point"
	default:
		return fmt.Sprintf("%s takes one to %d digits after the point", cur, digits)
	}
}

// example is 1,500 written in the currency, grouped ("1,500.00") or not
// ("1500.00"), for error messages.
func example(cur string, grouped bool) string {
	whole := "1500"
	if grouped {
		whole = "1,500"
	}
	if digits := Digits(cur); digits > 0 {
		return whole + "." + strings.Repeat("0", digits)
	}
	return whole
}

// notAnAmount is ErrFormat in words for a currency other than USD.
type notAnAmount struct{ currency string }

func (e notAnAmount) Error() string {
	withCents := "1500"
	if digits := Digits(e.currency); digits > 0 {
		withCents += ".5" + strings.Repeat("0", digits-1)
	}
	return fmt.Sprintf("not an amount: write amounts in %s like 1500, %s or %s",
		e.currency, example(e.currency, true), withSymbol(e.currency, withCents))
}

func (e notAnAmount) Is(target error) bool { return target == ErrFormat }

func errFormat(cur string) error {
	if cur == USD {
		return ErrFormat
	}
	return notAnAmount{cur}
}

// Format writes cents as US dollars: 150050 becomes "$1,500.50" and -5000
// becomes "-$50.00". USD only; callers move to FormatIn with the lease's
// currency.
func Format(cents int64) string { return FormatIn(USD, cents) }

// Parse reads a positive amount written in US dollars ("1500", "1,500.00",
// "$1500.50", "0.5") and returns it in cents: ParseIn for USD. USD only;
// callers move to ParseIn with the lease's currency.
func Parse(s string) (int64, error) { return ParseIn(USD, s) }

// ParseSigned is Parse for amounts that may be negative or zero
// ("-500.00", "$-500"): ParseSignedIn for USD. USD only; callers move to
// ParseSignedIn with the lease's currency.
func ParseSigned(s string) (int64, error) { return ParseSignedIn(USD, s) }

// Plain writes cents as a plain decimal ("1500.50", "-50.00") for machine
// output and command examples. USD only; callers move to PlainIn.
func Plain(cents int64) string { return PlainIn(USD, cents) }
