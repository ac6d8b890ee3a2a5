package money

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1500", 150000},
		{"1,500.00", 150000},
		{"$1500.50", 150050},
		{"$1,500.5", 150050},
		{"0.5", 50},
		{".05", 5},
		{" 750.00 ", 75000},
		{"1,234,567.89", 123456789},
		{"100000000", MaxCents},
		{"0.01", 1},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ in, why string }{
		{"", "not an amount"},
		{"abc", "not an amount"},
		{"$", "not an amount"},
		{"-5", "must be positive"},
		{"0", "more than zero"},
		{"0.00", "more than zero"},
		{"1.234", "one or two digits"},
		{"1.", "one or two digits"},
		{"1,50", "every three digits"},
		{"15,00.00", "every three digits"},
		{"1,,500", "not an amount"},
		{"1e3", "not an amount"},
		{"1 500", "not an amount"},
		{"100000000.01", "larger than"},
		{"99999999999999999999999", "larger than"},
		{"12.3.4", "not an amount"},
		{"１２", "not an amount"},
	} {
		got, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("Parse(%q) = %d, %v; want an error saying %q", tc.in, got, err, tc.why)
		}
	}
}

func TestParseSigned(t *testing.T) {
	for in, want := range map[string]int64{"-500.00": -50000, "$-500": -50000, "-$1,000": -100000, "0": 0, "250": 25000} {
		got, err := ParseSigned(in)
		if err != nil || got != want {
			t.Errorf("ParseSigned(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseSigned("--5"); err == nil {
		t.Error("ParseSigned(--5) accepted")
	}
}

func TestFormat(t *testing.T) {
	for cents, want := range map[int64]string{
		0: "$0.00", 5: "$0.05", 150050: "$1,500.50", -5000: "-$50.00", 123456789: "$1,234,567.89",
		-9223372036854775808: "-$92,233,720,368,547,758.08",
	} {
		if got := Format(cents); got != want {
			t.Errorf("Format(%d) = %q; want %q", cents, got, want)
		}
	}
	if got := Plain(-150050); got != "-1500.50" {
		t.Errorf("Plain = %q", got)
	}
}

// FuzzParse: Parse never panics, never returns a value out of range, and
// what it accepts survives a round trip through Format.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1500", "1,500.00", "$1500.50", "-5", "0.5", "1.234", "99999999999999999999", ",", "$-.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		if c <= 0 || c > MaxCents {
			t.Fatalf("Parse(%q) = %d out of range", s, c)
		}
		back, err := Parse(Format(c))
		if err != nil || back != c {
			t.Fatalf("round trip of %q: %d -> %q -> %d, %v", s, c, Format(c), back, err)
		}
		if back, err := Parse(Plain(c)); err != nil || back != c {
			t.Fatalf("plain round trip of %q: %d -> %q -> %d, %v", s, c, Plain(c), back, err)
		}
	})
}

// TestNoFloatAnywhere keeps money exact: no Go file of the project, generated
// code included, declares or converts to a floating-point type.
func TestNoFloatAnywhere(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			code, _, _ := strings.Cut(line, "//")
			if strings.Contains(code, "float32") || strings.Contains(code, "float64") {
				t.Errorf("%s:%d uses a float: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
