package money

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestFormatIn(t *testing.T) {
	for _, tc := range []struct {
		code  string
		minor int64
		want  string
	}{
		{"USD", 120000, "$1,200.00"},
		{"USD", -5000, "-$50.00"},
		{"", 150050, "$1,500.50"}, // no currency: US dollars
		{"GBP", 120000, "£1,200.00"},
		{"GBP", -5000, "-£50.00"},
		{"GBP", 5, "£0.05"},
		{"gbp", 0, "£0.00"},
		{"EUR", 120000, "€1,200.00"},
		{"EUR", -123456789, "-€1,234,567.89"},
		{"JPY", 1200, "¥1,200"},
		{"JPY", -50, "-¥50"},
		{"CAD", 120000, "CA$1,200.00"},
		{"AUD", 120000, "A$1,200.00"},
		{"CHF", 120000, "CHF\u00a01,200.00"},
		{"KWD", 1200500, "KWD\u00a01,200.500"},
		{"GBP", math.MinInt64, "-£92,233,720,368,547,758.08"},
		{"XYZ", 150050, "XYZ 1500.50"}, // not a currency: the code shows
	} {
		if got := FormatIn(tc.code, tc.minor); got != tc.want {
			t.Errorf("FormatIn(%q, %d) = %q; want %q", tc.code, tc.minor, got, tc.want)
		}
	}
}

func TestPlainIn(t *testing.T) {
	for _, tc := range []struct {
		code  string
		minor int64
		want  string
	}{
		{"USD", -150050, "-1500.50"},
		{"GBP", 5, "0.05"},
		{"JPY", 1500, "1500"},
		{"KWD", -1, "-0.001"},
		{"JPY", math.MinInt64, "-9223372036854775808"},
	} {
		if got := PlainIn(tc.code, tc.minor); got != tc.want {
			t.Errorf("PlainIn(%q, %d) = %q; want %q", tc.code, tc.minor, got, tc.want)
		}
	}
}

func TestCurrencyFacts(t *testing.T) {
	for _, tc := range []struct {
		code, canonical, symbol string
		digits                  int
	}{
		{"USD", "USD", "$", 2},
		{" gbp ", "GBP", "£", 2},
		{"EUR", "EUR", "€", 2},
		{"JPY", "JPY", "¥", 0},
		{"CAD", "CAD", "CA$", 2},
		{"CHF", "CHF", "CHF", 2},
		{"KWD", "KWD", "KWD", 3},
	} {
		got, err := CheckCurrency(tc.code)
		if err != nil || got != tc.canonical {
			t.Errorf("CheckCurrency(%q) = %q, %v; want %q", tc.code, got, err, tc.canonical)
		}
		if got := Symbol(tc.code); got != tc.symbol {
			t.Errorf("Symbol(%q) = %q; want %q", tc.code, got, tc.symbol)
		}
		if got := Digits(tc.code); got != tc.digits {
			t.Errorf("Digits(%q) = %d; want %d", tc.code, got, tc.digits)
		}
	}
	for _, bad := range []string{"", "XYZ", "US", "USDX", "U$D", "12€", "XXX"} {
		if got, err := CheckCurrency(bad); err == nil || !strings.Contains(err.Error(), "USD, GBP, EUR") {
			t.Errorf("CheckCurrency(%q) = %q, %v; want an error giving examples", bad, got, err)
		}
	}
	if Symbol("") != "$" || Digits("") != 2 {
		t.Errorf("no currency is US dollars: %q, %d", Symbol(""), Digits(""))
	}
}

func TestDefaultCurrency(t *testing.T) {
	for jurisdiction, want := range map[string]string{
		"GB-ENG": "GBP", "GB-WLS": "GBP", "GB-SCT": "GBP", "gb-eng": "GBP", "GB": "GBP",
		"US-CA": "USD", "US-IL-CHI": "USD", "NONE": "USD", "": "USD", "GBX": "USD",
	} {
		if got := DefaultCurrency(jurisdiction); got != want {
			t.Errorf("DefaultCurrency(%q) = %q; want %q", jurisdiction, got, want)
		}
	}
}

func TestParseIn(t *testing.T) {
	for _, tc := range []struct {
		code, in string
		want     int64
	}{
		{"GBP", "1500", 150000},
		{"GBP", "1,500.00", 150000},
		{"GBP", "1500.5", 150050},
		{"GBP", "£1,500.00", 150000},
		{"GBP", "£0.05", 5},
		{"GBP", " £750 ", 75000},
		{"GBP", "GBP 1500", 150000},
		{"GBP", "gbp1500", 150000},
		{"GBP", "1,500.00 GBP", 150000},
		{"GBP", "1500GBP", 150000},
		{"USD", "$1500", 150000},
		{"USD", "USD 1,500.50", 150050},
		{"USD", "1500 USD", 150000},
		{"", "$1500", 150000},
		{"EUR", "€1,234.56", 123456},
		{"JPY", "¥1,500", 1500},
		{"JPY", "1500", 1500},
		{"JPY", "JPY 10,000,000,000", MaxCents},
		{"CAD", "CA$1500", 150000},
		{"CHF", "CHF\u00a01,200.00", 120000},
		{"CHF", "CHF 1200", 120000},
		{"KWD", "1.5", 1500},
		{"KWD", "KWD 1,200.505", 1200505},
		{"GBP", "100000000", MaxCents},
	} {
		got, err := ParseIn(tc.code, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseIn(%q, %q) = %d, %v; want %d", tc.code, tc.in, got, err, tc.want)
		}
	}
}

func TestParseSignedIn(t *testing.T) {
	for _, tc := range []struct {
		code, in string
		want     int64
	}{
		{"GBP", "-£50.00", -5000},
		{"GBP", "£-50", -5000},
		{"GBP", "-50", -5000},
		{"GBP", "-GBP 50", -5000},
		{"GBP", "0", 0},
		{"JPY", "-¥1,500", -1500},
		{"USD", "-$1,000", -100000},
	} {
		got, err := ParseSignedIn(tc.code, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSignedIn(%q, %q) = %d, %v; want %d", tc.code, tc.in, got, err, tc.want)
		}
	}
}

func TestParseInRefuses(t *testing.T) {
	for _, tc := range []struct{ code, in, why string }{
		// Another currency's symbol or code: both currencies are named.
		{"GBP", "$100", `"$100" is in USD ($), but this lease is in GBP (£): write £100 or 100`},
		{"GBP", "-$50.00", `"-$50.00" is in USD ($), but this lease is in GBP (£): write -£50.00 or -50.00`},
		{"GBP", "100 USD", `"100 USD" is in USD ($), but this lease is in GBP (£): write £100 or 100`},
		{"GBP", "€100", "is in EUR (€), but this lease is in GBP (£)"},
		{"GBP", "100$", "is in USD ($), but this lease is in GBP (£)"},
		{"USD", "£100", `"£100" is in GBP (£), but this lease is in USD ($): write $100 or 100`},
		{"USD", "EUR 5", "is in EUR (€), but this lease is in USD ($): write $5 or 5"},
		{"CAD", "$100", "is in USD ($), but this lease is in CAD (CA$): write CA$100 or 100"},
		{"CHF", "€100", "is in EUR (€), but this lease is in CHF: write CHF 100 or 100"},
		{"JPY", "CN¥100", "is in CNY (CN¥), but this lease is in JPY (¥)"},
		// Decimals: as many as the currency has, no more.
		{"GBP", "1.234", "cents take one or two digits after the point"},
		{"GBP", "1.", "cents take one or two digits after the point"},
		{"JPY", "1500.00", "JPY has no digits after the point: write whole amounts like 1,500"},
		{"JPY", "¥1.5", "JPY has no digits after the point"},
		{"KWD", "1.2345", "KWD takes one to 3 digits after the point"},
		// Separators, bounds and words.
		{"GBP", "£1,50", "thousands separators go every three digits (1,500.00)"},
		{"JPY", "15,00", "thousands separators go every three digits (1,500)"},
		{"GBP", "100000000.01", "larger than £100,000,000.00"},
		{"JPY", "10000000001", "larger than ¥10,000,000,000"},
		{"GBP", "99999999999999999999999", "larger than"},
		{"GBP", "", "not an amount: write amounts in GBP like 1500, 1,500.00 or £1500.50"},
		{"GBP", "£", "not an amount"},
		{"GBP", "£ 100", "not an amount"},
		{"GBP", "£100 GBP", "not an amount"},
		{"GBP", "100£", "not an amount"},
		{"GBP", "ten pounds", "not an amount"},
		{"JPY", "abc", "not an amount: write amounts in JPY like 1500, 1,500 or ¥1500"},
		{"CHF", "x", "or CHF 1500.50"},
		{"GBP", "-5", "must be positive"},
		{"GBP", "£0.00", "more than zero"},
		// The lease's currency must be one.
		{"XYZ", "100", `unknown currency "XYZ"`},
		{"US", "100", `unknown currency "US"`},
	} {
		got, err := ParseIn(tc.code, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseIn(%q, %q) = %d, %v; want an error saying %q", tc.code, tc.in, got, err, tc.why)
		}
	}
	// Errors for words that are no amount are ErrFormat in any currency.
	for _, code := range []string{"USD", "GBP", "JPY"} {
		if _, err := ParseIn(code, "ten"); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseIn(%q, ten): %v is not ErrFormat", code, err)
		}
	}
}

// TestUSDWrappers: the old functions are the *In functions for USD, with
// the old words.
func TestUSDWrappers(t *testing.T) {
	if _, err := Parse("ten dollars"); err == nil || err.Error() != `"ten dollars": not an amount: write dollars like 1500, 1,500.00 or $1500.50` {
		t.Errorf("Parse(ten dollars): %v", err)
	}
	if got, err := ParseSigned("USD -5"); err != nil || got != -500 {
		t.Errorf("ParseSigned(USD -5) = %d, %v", got, err)
	}
}

// roundTripCodes are the currencies the round trips are fuzzed in: two
// decimals with a sign ($, £, €) and none (¥).
var roundTripCodes = []string{"USD", "GBP", "EUR", "JPY"}

// FuzzFormatInRoundTrip: what FormatIn and PlainIn write, ParseSignedIn
// reads back to the same minor units, in every currency.
func FuzzFormatInRoundTrip(f *testing.F) {
	for _, minor := range []int64{0, 1, -1, 5, 99, 100, 150050, -5000, 123456789, MaxCents, -MaxCents, MaxCents - 1} {
		f.Add(minor)
	}
	f.Fuzz(func(t *testing.T, minor int64) {
		minor %= MaxCents + 1 // the range a person may write
		for _, code := range roundTripCodes {
			for _, written := range []string{FormatIn(code, minor), PlainIn(code, minor)} {
				back, err := ParseSignedIn(code, written)
				if err != nil || back != minor {
					t.Fatalf("%s: %d -> %q -> %d, %v", code, minor, written, back, err)
				}
			}
			if strings.ContainsAny(FormatIn(code, minor), "$£€¥") && !strings.Contains(FormatIn(code, minor), Symbol(code)) {
				t.Fatalf("%s: %q shows another currency's symbol", code, FormatIn(code, minor))
			}
		}
	})
}

// FuzzParseIn: ParseIn never panics, never returns a value out of range,
// and what it accepts survives a round trip through FormatIn and PlainIn.
func FuzzParseIn(f *testing.F) {
	for _, s := range []string{"1500", "1,500.00", "£1500.50", "$1500.50", "-5", "0.5", "1.234", "¥1,500", "€-.5",
		"99999999999999999999", ",", "GBP 1", "1 JPY", "CA$1", "CHF\u00a01.00", "-£", "£-", "1,000,000.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, code := range roundTripCodes {
			minor, err := ParseIn(code, s)
			if err != nil {
				continue
			}
			if minor <= 0 || minor > MaxCents {
				t.Fatalf("ParseIn(%s, %q) = %d out of range", code, s, minor)
			}
			for _, written := range []string{FormatIn(code, minor), PlainIn(code, minor)} {
				if back, err := ParseIn(code, written); err != nil || back != minor {
					t.Fatalf("round trip of %q in %s: %d -> %q -> %d, %v", s, code, minor, written, back, err)
				}
			}
		}
	})
}

// FuzzUSDUnchanged holds Format, Plain and ParseSigned to what they did
// before currencies (legacy_test.go). The only differences allowed: the
// code written with the amount ("USD 100", "100 usd") is now accepted, and
// another currency's symbol or code is refused in words naming it.
func FuzzUSDUnchanged(f *testing.F) {
	for _, s := range []string{"1500", "1,500.00", "$1500.50", "$1,500.5", "0.5", ".05", " 750.00 ", "1,234,567.89", "-500.00",
		"$-500", "-$1,000", "--5", "$", "-", "1e3", "1 500", "12.3.4", "１２", "$ 1", "USD 5", "5usd", "£5", "€", "ten dollars", "$-.5"} {
		f.Add(s, int64(len(s))*1000003-7)
	}
	f.Fuzz(func(t *testing.T, s string, cents int64) {
		if got, want := Format(cents), legacyFormat(cents); got != want {
			t.Fatalf("Format(%d) = %q; before currencies %q", cents, got, want)
		}
		if got, want := Plain(cents), legacyPlain(cents); got != want {
			t.Fatalf("Plain(%d) = %q; before currencies %q", cents, got, want)
		}
		got, err := ParseSigned(s)
		want, wantErr := legacyParseSigned(s)
		switch {
		case wantErr == nil:
			if err != nil || got != want {
				t.Fatalf("ParseSigned(%q) = %d, %v; before currencies %d", s, got, err, want)
			}
		case strings.Contains(strings.ToUpper(s), "USD"):
			// The code with the amount is new: TestParseIn and TestParseInRefuses.
		case err == nil:
			t.Fatalf("ParseSigned(%q) = %d; before currencies it was refused: %v", s, got, wantErr)
		case err.Error() != wantErr.Error():
			if !strings.Contains(err.Error(), "but this lease is in USD ($)") {
				t.Fatalf("ParseSigned(%q): %v; before currencies: %v", s, err, wantErr)
			}
		}
	})
}
