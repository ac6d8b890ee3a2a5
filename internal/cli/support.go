package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/money"
)

// dialTemporal connects to the configured Temporal frontend (TLS, mTLS, API
// key and payload encryption as configured: temporalConn), reporting to metrics when a handler is given.
func (a *app) dialTemporal(ctx context.Context, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	o, err := a.conn.options(a.temporalAddress, a.namespace, logger)
	if err != nil {
		return nil, err
	}
	o.MetricsHandler = metrics
	// What the flags, the profile and the environment came to, for the
	// logs and for the commands that name the namespace.
	a.temporalAddress, a.namespace = o.HostPort, o.Namespace
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, o)
	if err != nil {
		return nil, unavailable(fmt.Sprintf("Temporal at %s (%s)", a.temporalAddress, a.conn.describe(o)), err)
	}
	return c, nil
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkID refuses IDs that would not survive in a workflow ID, a URL or an
// email Message-ID.
func checkID(what, id string) error {
	if !idPattern.MatchString(id) {
		return refused("%s %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", what, id)
	}
	return nil
}

// checkLeaseAndRef checks a lease ID and the caller's optional reference
// for a fact (--ref), which the server otherwise derives from the content.
func checkLeaseAndRef(leaseID, ref string) error {
	if err := checkID("lease", leaseID); err != nil {
		return err
	}
	if ref == "" {
		return nil
	}
	return checkID("--ref", ref)
}

// symbols are the currency signs a person may type before an amount; the
// server refuses one that is not the lease's currency.
var symbols = map[string]string{"$": "USD", "£": "GBP", "€": "EUR"}

// parseAmount reads a positive amount as people type it ("1500",
// "1,500.00", "$1500.50", "£1,200"): its minor units and, when a currency
// sign or code was typed, that currency, for the server to check against
// the lease's.
func parseAmount(flag, s string) (int64, string, error) {
	if strings.TrimSpace(s) == "" {
		return 0, "", refused("--%s is required (e.g. --%s 1500.00)", flag, flag)
	}
	c, currency, err := parseSignedAmount(flag, s)
	if err != nil {
		return 0, "", err
	}
	if c < 0 {
		return 0, "", refused("--%s %q: the amount must be positive", flag, s)
	}
	if c == 0 {
		return 0, "", refused("--%s %q: the amount must be more than zero", flag, s)
	}
	return c, currency, nil
}

// parseSignedAmount is parseAmount for amounts that may be negative or
// zero, such as an amendment lowering a deposit ("-500.00").
func parseSignedAmount(flag, s string) (int64, string, error) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	currency := ""
	for sym, code := range symbols {
		if rest, ok := strings.CutPrefix(t, sym); ok {
			t, currency = rest, code
		}
	}
	if code, rest, ok := strings.Cut(t, " "); ok && len(code) == 3 && strings.ToUpper(code) == code {
		t, currency = rest, code
	}
	if neg {
		t = "-" + t
	}
	code := currency
	if code == "" {
		code = "USD"
	}
	c, err := money.ParseSignedIn(code, t)
	if err != nil {
		return 0, "", refused("--%s %v", flag, err)
	}
	return c, currency, nil
}

func parseEmail(flag, s string) (string, error) {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
		return "", refused("--%s %q is not an email address", flag, s)
	}
	return addr.Address, nil
}

func parseDelay(flag, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, refused("--%s %q: write a Go duration such as 72h, 336h or 30s", flag, s)
	}
	if d <= 0 {
		return 0, refused("--%s must be longer than zero", flag)
	}
	if d%time.Second != 0 {
		return 0, refused("--%s %s: use whole seconds", flag, s)
	}
	if d > deposit.MaxDelay {
		return 0, refused("--%s %s is longer than the 120 days (2880h) allowed after move-out", flag, s)
	}
	return d, nil
}

// checkDay checks a date typed for a fact that happened: a calendar day
// (YYYY-MM-DD, which the server reads in the property's time zone) or an
// exact RFC 3339 instant; empty is today (or now). A day more than a day
// ahead is refused before anything is sent.
func checkDay(flag, s string, now time.Time) error {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return refused("--%s %q: write the date as YYYY-MM-DD", flag, s)
		}
	}
	if t.After(now.Add(48 * time.Hour)) {
		return refused("--%s %s is in the future", flag, s)
	}
	return nil
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.out, format, args...) }

// cur formats an amount in the lease's currency.
func cur(currency string, cents int64) string { return money.FormatIn(currency, cents) }

func upper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
