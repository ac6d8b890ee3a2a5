package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/depositflow/depositflow/db"
)

// Codec sessions: the Temporal Web UI calls a codec server from the
// operator's browser with the browser's cookies, not with a bearer token.
// An admin signs that browser in once with their personal token and gets
// a session (dfs_..., 256 random bits, kept as its SHA-256 in PostgreSQL
// so every API server knows it); the session opens payloads like the token
// would, for at most CodecSessionLife, and ends with the token or the
// person, or at sign-out. Every step is audited.

// CodecSessionPrefix marks a codec session's secret.
const CodecSessionPrefix = "dfs_"

// CodecSessionLife is the longest a codec session lasts: a working day.
const CodecSessionLife = 8 * time.Hour

// CodecSession is a session opened for a browser.
type CodecSession struct {
	Secret    string // the cookie's value, shown once
	User      string
	ExpiresAt time.Time
}

// OpenCodecSession signs a browser in to the codec endpoint as who, who
// must be a person (signed in with their token) allowed to open payloads.
func (g *Gateway) OpenCodecSession(ctx context.Context, who Principal, namespace string) (out CodecSession, err error) {
	defer func() {
		g.audit(ctx, who, "", "payloads.login", map[string]any{"namespace": namespace, "expires_at": out.ExpiresAt}, err)
	}()
	if err := who.may("payloads.decode"); err != nil {
		return out, err
	}
	if who.Kind != KindUser || who.tokenID == 0 {
		return out, fail(Forbidden, "forbidden", "", "only a person signs a browser in to the codec endpoint, with their own token (deposits login)")
	}
	q, err := g.queries(ctx)
	if err != nil {
		return out, err
	}
	secret, hash, err := NewSecret(CodecSessionPrefix)
	if err != nil {
		return out, err
	}
	_, _ = q.ForgetOldCodecSessions(ctx)
	s, err := q.OpenCodecSession(ctx, db.OpenCodecSessionParams{SecretHash: hash, Origin: who.Origin, ExpiresAt: g.now().Add(CodecSessionLife), TokenID: who.tokenID})
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(Unauthenticated, "unauthenticated", "", "the token was revoked or expired meanwhile: sign in again with `deposits login`")
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	return CodecSession{Secret: secret, User: who.Name, ExpiresAt: s.ExpiresAt}, nil
}

// AuthenticateCodecSession finds who a codec session belongs to. An
// unknown, ended or expired session, or one whose token or person was
// revoked, is Unauthenticated.
func (g *Gateway) AuthenticateCodecSession(ctx context.Context, secret, origin string) (Principal, error) {
	if !strings.HasPrefix(secret, CodecSessionPrefix) {
		return Principal{}, fail(Unauthenticated, "unauthenticated", "", "sign this browser in at /codec/login with an admin's token")
	}
	q, err := g.queries(ctx)
	if err != nil {
		return Principal{}, err
	}
	u, err := q.GetUserByCodecSession(ctx, Hash(secret))
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, fail(Unauthenticated, "unauthenticated", "", "the codec session ended, expired or its token was revoked: sign in again at /codec/login")
	}
	if err != nil {
		return Principal{}, unavailable("the database", err)
	}
	return Principal{Kind: KindUser, Name: u.Name, Roles: u.Roles, Properties: u.Properties, Origin: origin, ExpiresAt: &u.ExpiresAt}, nil
}

// EndCodecSession signs a browser out; ending a session already ended
// (or unknown) is no error: the browser is signed out either way.
func (g *Gateway) EndCodecSession(ctx context.Context, who Principal, secret string) (err error) {
	defer func() { g.audit(ctx, who, "", "payloads.logout", map[string]any{}, err) }()
	q, err := g.queries(ctx)
	if err != nil {
		return err
	}
	if _, err := q.EndCodecSession(ctx, Hash(secret)); err != nil {
		return unavailable("the database", err)
	}
	return nil
}
