// Package tenantlink signs and checks the links that let a tenant open
// their lease's page on `deposits serve` without a password: an HMAC-SHA256
// token binding the lease, the tenant (resident), the purpose and an
// expiry, made with a server secret (DEPOSITS_LINK_SECRET) that the worker
// (which writes the emails) and the server (which checks them) share.
//
// A token is base64url(JSON claims) "." base64url(HMAC). Every way a token
// can be wrong (not a token, tampered, signed with another secret, expired,
// another purpose) is the one error ErrRefused: a caller answers them all
// alike. Forms on the page carry a second token (FormToken) bound to the
// link and the form, so a post needs both.
package tenantlink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// PurposePage is a link to a lease's page.
const PurposePage = "page"

// DefaultTTL is how long a link works: long enough for a dispute to run
// its course; a tenant whose link expired asks for a new one on the page.
const DefaultTTL = 60 * 24 * time.Hour

// MinSecret is the shortest secret accepted, in bytes.
const MinSecret = 32

// ErrRefused is every refusal of a token, whatever was wrong with it.
var ErrRefused = errors.New("this link is not valid: it may have expired; ask for a new one")

// Claims are what a link grants: this tenant may see and answer this lease
// until Expires.
type Claims struct {
	LeaseID    string    `json:"l"`
	ResidentID int64     `json:"r"`
	Purpose    string    `json:"p"`
	Expires    time.Time `json:"-"`
	ExpiresAt  int64     `json:"e"`
}

// Signer makes and checks links.
type Signer struct {
	link, form []byte
	// A manager's links have keys of their own (manager.go): a tenant's
	// link never checks as a manager's, nor the other way round.
	mlink, mform []byte
	// Base is the server's public address (DEPOSITS_PUBLIC_URL), without a
	// trailing slash: links are Base + "/t/" + token.
	Base string
	TTL  time.Duration
	Now  func() time.Time
}

// New returns a signer for a secret of at least MinSecret bytes.
func New(secret, base string) (*Signer, error) {
	if len(secret) < MinSecret {
		return nil, errors.New("DEPOSITS_LINK_SECRET must be at least 32 characters (deposits dev makes one)")
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte("depositflow tenant " + label))
		return m.Sum(nil)
	}
	return &Signer{link: derive("link"), form: derive("form"), mlink: derive("manager link"), mform: derive("manager form"),
		Base: strings.TrimRight(base, "/"), TTL: DefaultTTL, Now: time.Now}, nil
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

var b64 = base64.RawURLEncoding

// Token signs claims; a zero Expires is now plus the TTL.
func (s *Signer) Token(c Claims) string {
	if c.Purpose == "" {
		c.Purpose = PurposePage
	}
	if c.Expires.IsZero() {
		c.Expires = s.now().Add(s.TTL)
	}
	c.ExpiresAt = c.Expires.Unix()
	body, _ := json.Marshal(c) // plain fields always marshal
	payload := b64.EncodeToString(body)
	return payload + "." + b64.EncodeToString(s.mac(s.link, payload))
}

// URL is the link to a lease's page for a tenant.
func (s *Signer) URL(leaseID string, residentID int64) string {
	return s.Base + "/t/" + s.Token(Claims{LeaseID: leaseID, ResidentID: residentID, Purpose: PurposePage})
}

func (s *Signer) mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// Check verifies a token for a purpose and returns its claims, or
// ErrRefused for anything wrong with it.
func (s *Signer) Check(token, purpose string) (Claims, error) {
	c, _, err := s.Inspect(token, purpose)
	return c, err
}

// Inspect is Check, and also says what was wrong, for the audit log only
// (never for the caller): "no secret", "malformed", "bad signature",
// "other purpose", "expired".
func (s *Signer) Inspect(token, purpose string) (Claims, string, error) {
	if s == nil {
		return Claims{}, "no link secret on this server", ErrRefused
	}
	if len(token) > 1024 {
		return Claims{}, "malformed", ErrRefused
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, "malformed", ErrRefused
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(s.link, payload)) {
		return Claims{}, "bad signature", ErrRefused
	}
	body, err := b64.DecodeString(payload)
	if err != nil {
		return Claims{}, "malformed", ErrRefused
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil || c.LeaseID == "" || c.ResidentID <= 0 {
		return Claims{}, "malformed", ErrRefused
	}
	if c.Purpose != purpose {
		return Claims{}, "other purpose", ErrRefused
	}
	c.Expires = time.Unix(c.ExpiresAt, 0).UTC()
	if !s.now().Before(c.Expires) {
		return c, "expired", ErrRefused
	}
	return c, "", nil
}

// FormToken is the per-form token a page puts in a form it serves: bound
// to the link (the whole token) and the form's name, so a post must carry
// both a valid link and the token of that form served under it.
func (s *Signer) FormToken(token, form string) string {
	return b64.EncodeToString(s.mac(s.form, token, form))
}

// CheckForm says whether a posted form token is the one FormToken made.
func (s *Signer) CheckForm(token, form, posted string) bool {
	got, err := b64.DecodeString(posted)
	return err == nil && hmac.Equal(got, s.mac(s.form, token, form))
}

func hmacEqual(a, b []byte) bool { return hmac.Equal(a, b) }
