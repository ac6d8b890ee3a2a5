package tenantlink

import (
	"strings"
	"testing"
	"time"
)

// A manager's link binds the lease, the person, the action and the time,
// under keys of its own: tampered, expired, of another secret, or a
// tenant's link, it is refused; each link is unique.
func TestManagerLinks(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s, err := New(strings.Repeat("k", 32), "https://deposits.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return now }
	c := ManagerClaims{LeaseID: "L-1", User: "kim", UserID: 4, Action: ManagerRelease}
	tok := s.ManagerToken(c)
	got, why, err := s.InspectManager(tok)
	if err != nil || got.LeaseID != "L-1" || got.User != "kim" || got.UserID != 4 || got.Action != ManagerRelease || !got.Expires.Equal(now.Add(ManagerTTL)) {
		t.Fatalf("a fresh link: %+v %s %v", got, why, err)
	}
	if tok == s.ManagerToken(c) {
		t.Fatal("two links of the same claims are the same link")
	}
	if u := s.ManagerURL(c); !strings.HasPrefix(u, "https://deposits.example.com/m/") {
		t.Fatal(u)
	}
	other, _ := New(strings.Repeat("x", 32), "")
	payload, _, _ := strings.Cut(tok, ".")
	expired := c
	expired.Expires = now.Add(-time.Second)
	unknown := c
	unknown.Action = "delete"
	for name, bad := range map[string]string{
		"tampered":       payload + "x." + strings.Split(tok, ".")[1],
		"another secret": other.ManagerToken(c),
		"expired":        s.ManagerToken(expired),
		"unknown action": s.ManagerToken(unknown),
		"a tenant's":     s.Token(Claims{LeaseID: "L-1", ResidentID: 4}),
		"malformed":      "nope",
	} {
		if _, _, err := s.InspectManager(bad); err != ErrRefused {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.Check(tok, PurposePage); err != ErrRefused {
		t.Error("a manager's link opens a tenant's page")
	}
	form := s.ManagerFormToken(tok)
	if !s.CheckManagerForm(tok, form) || s.CheckManagerForm(s.ManagerToken(c), form) || s.CheckManagerForm(tok, s.FormToken(tok, "confirm")) {
		t.Error("the form token is bound to its link")
	}
	if len(TokenHash(tok)) != 32 {
		t.Error("hash")
	}
}
