package tenantlink

import (
	"strings"
	"testing"
	"time"
)

func TestLinksAreBoundToLeaseTenantPurposeAndTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s, err := New(strings.Repeat("k", 32), "https://deposits.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return now }
	tok := s.Token(Claims{LeaseID: "L-1", ResidentID: 7})
	c, err := s.Check(tok, PurposePage)
	if err != nil || c.LeaseID != "L-1" || c.ResidentID != 7 || !c.Expires.Equal(now.Add(DefaultTTL)) {
		t.Fatalf("a fresh link: %+v, %v", c, err)
	}
	if u := s.URL("L-1", 7); !strings.HasPrefix(u, "https://deposits.example.com/t/") {
		t.Fatalf("URL %s", u)
	}

	other, _ := New(strings.Repeat("x", 32), "")
	other.Now = s.Now
	payload, sig, _ := strings.Cut(tok, ".")
	forged := other.Token(Claims{LeaseID: "L-2", ResidentID: 7})
	fp, _, _ := strings.Cut(forged, ".")
	expired := s.Token(Claims{LeaseID: "L-1", ResidentID: 7, Expires: now.Add(-time.Second)})
	refused := map[string]string{
		"empty":               "",
		"garbage":             "not-a-token",
		"tampered signature":  payload + "." + sig[:len(sig)-2] + "AA",
		"other lease payload": fp + "." + sig,
		"other secret":        forged,
		"expired":             expired,
		"other purpose":       s.Token(Claims{LeaseID: "L-1", ResidentID: 7, Purpose: "export"}),
		"no resident":         s.Token(Claims{LeaseID: "L-1"}),
		"too long":            strings.Repeat("a", 2000),
	}
	for name, tok := range refused {
		if _, err := s.Check(tok, PurposePage); err != ErrRefused {
			t.Errorf("%s: want ErrRefused, got %v", name, err)
		}
	}
	// Passing the expiry refuses a link that worked.
	s.Now = func() time.Time { return now.Add(DefaultTTL) }
	if _, err := s.Check(tok, PurposePage); err != ErrRefused {
		t.Errorf("at its expiry: %v", err)
	}

	ft := s.FormToken(tok, "dispute")
	if !s.CheckForm(tok, "dispute", ft) || s.CheckForm(tok, "accept", ft) || s.CheckForm(expired, "dispute", ft) || s.CheckForm(tok, "dispute", "") {
		t.Error("a form token must be bound to its link and its form")
	}
	if _, err := New("short", ""); err == nil {
		t.Error("a short secret must be refused")
	}
}
