package tenantlink

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"time"
)

// A property's manager gets links in their alerts and reminders (issue #16):
// "Release now" and "Extend a week", which act once, as them, after they
// confirm on the page the link opens, and "Open this security deposit",
// which shows the lease to them read-only until it expires. A manager's
// token binds the lease, the person (by name and ID), the action and an
// expiry, under keys of its own: it opens nothing under /t/, and a tenant's
// token opens nothing under /m/.

// Manager link actions.
const (
	ManagerRelease = "release"
	ManagerExtend  = "extend"
	ManagerOpen    = "open"
)

// ManagerTTL is how long a manager's link works: two weeks, past the next
// reminder (10, 5 and 1 days before the release), so the newest email's
// links always work.
const ManagerTTL = 14 * 24 * time.Hour

// ManagerClaims are what a manager's link grants: this person may take
// this action on this lease until Expires.
type ManagerClaims struct {
	LeaseID   string    `json:"l"`
	User      string    `json:"u"`
	UserID    int64     `json:"i"`
	Action    string    `json:"a"`
	Nonce     string    `json:"n"` // each link is a link of its own, used once
	Expires   time.Time `json:"-"`
	ExpiresAt int64     `json:"e"`
}

// ManagerToken signs a manager's claims; a zero Expires is now plus
// ManagerTTL, an empty Nonce a random one.
func (s *Signer) ManagerToken(c ManagerClaims) string {
	if c.Expires.IsZero() {
		c.Expires = s.now().Add(ManagerTTL)
	}
	if c.Nonce == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		c.Nonce = b64.EncodeToString(b)
	}
	c.ExpiresAt = c.Expires.Unix()
	body, _ := json.Marshal(c) // plain fields always marshal
	payload := b64.EncodeToString(body)
	return payload + "." + b64.EncodeToString(s.mac(s.mlink, payload))
}

// ManagerURL is a manager's link: Base + "/m/" + token.
func (s *Signer) ManagerURL(c ManagerClaims) string { return s.Base + "/m/" + s.ManagerToken(c) }

// InspectManager checks a manager's token and returns its claims, or
// ErrRefused with what was wrong, for the audit log only: "no secret",
// "malformed", "bad signature", "unknown action", "expired".
func (s *Signer) InspectManager(token string) (ManagerClaims, string, error) {
	if s == nil {
		return ManagerClaims{}, "no link secret on this server", ErrRefused
	}
	if len(token) > 1024 {
		return ManagerClaims{}, "malformed", ErrRefused
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return ManagerClaims{}, "malformed", ErrRefused
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmacEqual(got, s.mac(s.mlink, payload)) {
		return ManagerClaims{}, "bad signature", ErrRefused
	}
	body, err := b64.DecodeString(payload)
	if err != nil {
		return ManagerClaims{}, "malformed", ErrRefused
	}
	var c ManagerClaims
	if err := json.Unmarshal(body, &c); err != nil || c.LeaseID == "" || c.User == "" || c.UserID <= 0 {
		return ManagerClaims{}, "malformed", ErrRefused
	}
	switch c.Action {
	case ManagerRelease, ManagerExtend, ManagerOpen:
	default:
		return ManagerClaims{}, "unknown action", ErrRefused
	}
	c.Expires = time.Unix(c.ExpiresAt, 0).UTC()
	if !s.now().Before(c.Expires) {
		return c, "expired", ErrRefused
	}
	return c, "", nil
}

// TokenHash is what the database keeps of a link that was used: its
// SHA-256, never the link.
func TokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ManagerFormToken is the token of the confirmation form a manager's link
// opens: a post needs the link and the form served under it.
func (s *Signer) ManagerFormToken(token string) string {
	return b64.EncodeToString(s.mac(s.mform, token, "confirm"))
}

// CheckManagerForm says whether a posted form token is ManagerFormToken's.
func (s *Signer) CheckManagerForm(token, posted string) bool {
	got, err := b64.DecodeString(posted)
	return err == nil && hmacEqual(got, s.mac(s.mform, token, "confirm"))
}
