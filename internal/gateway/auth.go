package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
)

// Credentials. A person signs in with a personal token (dfu_...), an
// integration with an API key (dfk_...). Both are 256 random bits shown
// once; the database keeps only their SHA-256, so a copy of it signs no one in.

// Prefixes make a leaked credential easy to recognise (and to scan for).
const (
	TokenPrefix = "dfu_"
	KeyPrefix   = "dfk_"
)

// DefaultTokenLife is how long a personal token works unless told otherwise.
const DefaultTokenLife = 90 * 24 * time.Hour

// MaxTokenLife is the longest a token may live.
const MaxTokenLife = 400 * 24 * time.Hour

// NewSecret returns a new random credential with the prefix, and its hash,
// the only form stored.
func NewSecret(prefix string) (secret string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, Hash(secret), nil
}

// Hash is how a credential is stored and looked up.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Shown is the part of a credential that may be shown (in lists, in logs):
// its prefix and the first six characters.
func Shown(secret string) string {
	if len(secret) < len(KeyPrefix)+6 {
		return secret
	}
	return secret[:len(KeyPrefix)+6]
}

// Authenticate finds who a bearer credential belongs to. An unknown,
// expired or revoked credential is Unauthenticated, at once: nothing is
// cached.
func (g *Gateway) Authenticate(ctx context.Context, bearer, origin string) (Principal, error) {
	bearer = strings.TrimSpace(bearer)
	if !strings.HasPrefix(bearer, TokenPrefix) && !strings.HasPrefix(bearer, KeyPrefix) {
		return Principal{}, fail(Unauthenticated, "unauthenticated", "", "send a credential: Authorization: Bearer dfu_... (a person's token, `deposits login`) or dfk_... (an integration's API key)")
	}
	q, err := g.queries(ctx)
	if err != nil {
		return Principal{}, err
	}
	hash := Hash(bearer)
	switch {
	case strings.HasPrefix(bearer, TokenPrefix):
		u, err := q.GetUserByTokenHash(ctx, hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return Principal{}, fail(Unauthenticated, "unauthenticated", "", "the token is unknown, expired or revoked: sign in again with `deposits login` (an admin makes tokens with `deposits user rotate`)")
		}
		if err != nil {
			return Principal{}, unavailable("the database", err)
		}
		_ = q.TouchUserToken(context.WithoutCancel(ctx), u.TokenID)
		return Principal{Kind: KindUser, Name: u.Name, Roles: u.Roles, Properties: u.Properties, Origin: origin, ExpiresAt: &u.ExpiresAt, tokenID: u.TokenID}, nil
	case strings.HasPrefix(bearer, KeyPrefix):
		k, err := q.GetAPIKeyByHash(ctx, hash)
		// The lookup is by the hash of 256 random bits; the comparison is
		// constant-time all the same.
		if errors.Is(err, pgx.ErrNoRows) || err == nil && subtle.ConstantTimeCompare(k.KeyHash, hash) != 1 {
			return Principal{}, fail(Unauthenticated, "unauthenticated", "", "the API key is unknown or revoked")
		}
		if err != nil {
			return Principal{}, unavailable("the database", err)
		}
		_ = q.TouchAPIKey(context.WithoutCancel(ctx), k.ApiKeyID)
		return Principal{Kind: KindKey, Name: k.Name, Roles: []string{RoleIntegration}, Properties: k.Properties, Origin: origin}, nil
	}
	return Principal{}, fail(Unauthenticated, "unauthenticated", "", "the credential is not a person's token nor an API key")
}

// Who describes the caller.
func (g *Gateway) Who(ctx context.Context, who Principal) deposit.Who {
	return deposit.Who{Kind: who.Kind, Name: who.Name, Roles: who.Roles, Properties: who.Properties, ExpiresAt: who.ExpiresAt}
}

// User management: admin commands run where the database is (`deposits
// user ...`), like migrate. They act as a local principal and are audited.

// UserIn is a person to add.
type UserIn struct {
	Name       string
	Roles      []string
	Properties []string // "*" for every property
	TokenLife  time.Duration
	// Email is where a manager's alerts and reminders go ("" for none).
	Email string
}

// NewUser is a person added, with their first token (shown once).
type NewUser struct {
	User      db.User
	Token     string
	ExpiresAt time.Time
}

var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// AddUser adds a person with roles and properties and returns their first token.
func (g *Gateway) AddUser(ctx context.Context, who Principal, in UserIn) (out NewUser, err error) {
	defer func() {
		g.audit(ctx, who, "", "user.add", map[string]any{"name": in.Name, "roles": in.Roles, "properties": in.Properties}, err)
	}()
	if !userName.MatchString(in.Name) {
		return out, fail(Invalid, "invalid", "name", "name %q: use 1 to 64 letters, digits, '.', '_', '-' or '@'", in.Name)
	}
	if len(in.Roles) == 0 {
		return out, fail(Invalid, "missing_field", "role", "give the person's role(s): --role %s", strings.Join(deposit.Roles, "|"))
	}
	for _, r := range in.Roles {
		if !slices.Contains(deposit.Roles, r) {
			return out, fail(Invalid, "invalid", "role", "role %q: choose %s", r, strings.Join(deposit.Roles, ", "))
		}
	}
	slices.Sort(in.Roles)
	in.Roles = slices.Compact(in.Roles)
	if len(in.Properties) == 0 {
		if len(in.Roles) == 1 && in.Roles[0] == deposit.RoleAdmin {
			in.Properties = []string{"*"}
		} else {
			return out, fail(Invalid, "missing_field", "property", "give the properties the person acts on: --property P (repeat) or --all-properties")
		}
	}
	for _, p := range in.Properties {
		if p != "*" && !ValidID(p) {
			return out, fail(Invalid, "invalid_id", "property", "property %q: use 1 to 64 letters, digits, '.', '_' or '-'", p)
		}
	}
	if in.TokenLife, err = tokenLife(in.TokenLife); err != nil {
		return out, err
	}
	if in.Email != "" {
		addr, err := mail.ParseAddress(in.Email)
		if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") || len(addr.Address) > 254 {
			return out, fail(Invalid, "invalid", "email", "email %q is not an email address", in.Email)
		}
		in.Email = addr.Address
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		u, err := q.CreateUser(ctx, db.CreateUserParams{Name: in.Name, Roles: in.Roles, Properties: in.Properties, CreatedBy: who.ID()})
		if IsUniqueViolation(err) {
			return fail(Conflict, "user_exists", "name", "a user named %s exists: `deposits user rotate %s` gives them a new token", in.Name, in.Name)
		}
		if err != nil {
			return err
		}
		if in.Email != "" {
			if u, err = q.SetUserEmail(ctx, db.SetUserEmailParams{Name: u.Name, Email: in.Email}); err != nil {
				return err
			}
		}
		out.User = u
		out.Token, out.ExpiresAt, err = newToken(ctx, q, u.UserID, g.now().Add(in.TokenLife))
		return err
	})
	return out, txErr(err)
}

// tokenLife is how long a new token lives: DefaultTokenLife unless told,
// from a minute to MaxTokenLife.
func tokenLife(life time.Duration) (time.Duration, error) {
	if life == 0 {
		return DefaultTokenLife, nil
	}
	if life < time.Minute || life > MaxTokenLife {
		return 0, fail(Invalid, "invalid", "expires", "a token lives from a minute to 400 days")
	}
	return life, nil
}

func newToken(ctx context.Context, q *db.Queries, userID int64, expires time.Time) (string, time.Time, error) {
	token, hash, err := NewSecret(TokenPrefix)
	if err != nil {
		return "", time.Time{}, err
	}
	t, err := q.CreateUserToken(ctx, db.CreateUserTokenParams{UserID: userID, TokenHash: hash, TokenPrefix: Shown(token), ExpiresAt: expires})
	return token, t.ExpiresAt, err
}

// RotateUser revokes a person's tokens and gives them a new one.
func (g *Gateway) RotateUser(ctx context.Context, who Principal, name string, life time.Duration) (out NewUser, err error) {
	defer func() { g.audit(ctx, who, "", "user.rotate", map[string]any{"name": name}, err) }()
	if life, err = tokenLife(life); err != nil {
		return out, err
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		u, err := q.GetUserByName(ctx, name)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && u.RevokedAt != nil {
			return fail(NotFound, "user_not_found", "name", "no active user named %s", name)
		}
		if err != nil {
			return err
		}
		if _, err := q.RevokeUserTokens(ctx, u.UserID); err != nil {
			return err
		}
		out.User = u
		out.Token, out.ExpiresAt, err = newToken(ctx, q, u.UserID, g.now().Add(life))
		return err
	})
	return out, txErr(err)
}

// SetUserEmail sets where a person's alerts go ("" for nowhere): a
// manager's alerts and reminders, with their one-click links.
func (g *Gateway) SetUserEmail(ctx context.Context, who Principal, name, email string) (err error) {
	defer func() { g.audit(ctx, who, "", "user.email", map[string]any{"name": name, "email": email}, err) }()
	if email != "" {
		addr, perr := mail.ParseAddress(email)
		if perr != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") || len(addr.Address) > 254 {
			return fail(Invalid, "invalid", "email", "email %q is not an email address", email)
		}
		email = addr.Address
	}
	q, err := g.queries(ctx)
	if err != nil {
		return err
	}
	_, err = q.SetUserEmail(ctx, db.SetUserEmailParams{Name: name, Email: email})
	if errors.Is(err, pgx.ErrNoRows) {
		return fail(NotFound, "user_not_found", "name", "no active user named %s", name)
	}
	if err != nil {
		return unavailable("the database", err)
	}
	return nil
}

// RevokeUser revokes a person and every token of theirs, at once.
func (g *Gateway) RevokeUser(ctx context.Context, who Principal, name string) (err error) {
	defer func() { g.audit(ctx, who, "", "user.revoke", map[string]any{"name": name}, err) }()
	pool, err := g.DB(ctx)
	if err != nil {
		return unavailable("the database", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		u, err := q.RevokeUser(ctx, name)
		if errors.Is(err, pgx.ErrNoRows) {
			return fail(NotFound, "user_not_found", "name", "no active user named %s", name)
		}
		if err != nil {
			return err
		}
		_, err = q.RevokeUserTokens(ctx, u.UserID)
		return err
	})
	return txErr(err)
}

// UserRow is a person as listed: never their tokens, only when the newest
// that still works expires and when one was last used.
type UserRow struct {
	Name           string     `json:"name"`
	Roles          []string   `json:"roles"`
	Properties     []string   `json:"properties"`
	Email          string     `json:"email,omitempty"`
	CreatedBy      string     `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	RevokedAt      *time.Time `json:"revoked_at,omitempty"`
	TokenExpiresAt *time.Time `json:"token_expires_at,omitempty"`
	LastUsedAt     *time.Time `json:"last_used_at,omitempty"`
}

// Users lists the people.
func (g *Gateway) Users(ctx context.Context) ([]UserRow, error) {
	q, err := g.queries(ctx)
	if err != nil {
		return nil, err
	}
	users, err := q.ListUsers(ctx)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	tokens, err := q.ListLiveTokens(ctx)
	if err != nil {
		return nil, unavailable("the database", err)
	}
	out := []UserRow{}
	for _, u := range users {
		r := UserRow{Name: u.Name, Roles: u.Roles, Properties: u.Properties, Email: u.Email, CreatedBy: u.CreatedBy, CreatedAt: u.CreatedAt, RevokedAt: u.RevokedAt}
		for _, t := range tokens {
			if t.UserID != u.UserID {
				continue
			}
			if r.TokenExpiresAt == nil || t.ExpiresAt.After(*r.TokenExpiresAt) {
				r.TokenExpiresAt = &t.ExpiresAt
			}
			if t.LastUsedAt != nil && (r.LastUsedAt == nil || t.LastUsedAt.After(*r.LastUsedAt)) {
				r.LastUsedAt = t.LastUsedAt
			}
		}
		out = append(out, r)
	}
	return out, nil
}
