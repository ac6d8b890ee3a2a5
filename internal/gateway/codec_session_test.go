package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A browser's codec session against a real PostgreSQL: only an admin's
// token opens one; it authenticates as that admin until it ends, expires,
// or its token or person is revoked; it never outlives its token; and
// every step is audited.
func TestCodecSessions(t *testing.T) {
	ctx := context.Background()
	g := testGateway(t)
	root := Principal{Kind: KindLocal, Name: "root", Roles: []string{"admin"}, Properties: []string{"*"}}
	suffix := fmt.Sprint(time.Now().UnixNano())
	n := 0
	person := func(role string, life time.Duration) (string, Principal) {
		n++
		name := fmt.Sprintf("%s-codec-%d-%s", role, n, suffix)
		u, err := g.AddUser(ctx, root, UserIn{Name: name, Roles: []string{role}, Properties: []string{"*"}, TokenLife: life})
		must(t, err)
		who, err := g.Authenticate(ctx, u.Token, "10.0.0.9")
		must(t, err)
		return name, who
	}
	adminName, admin := person("admin", 24*time.Hour)
	audited := func(action, result string) int {
		return countRows(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND actor = $2 AND accepted = $3`, action, adminName, result == "ok")
	}

	s, err := g.OpenCodecSession(ctx, admin, "default")
	must(t, err)
	if s.User != adminName || len(s.Secret) < 40 || s.Secret[:4] != CodecSessionPrefix {
		t.Fatalf("session %+v", s)
	}
	if life := time.Until(s.ExpiresAt); life > CodecSessionLife || life < CodecSessionLife-time.Minute {
		t.Fatalf("a session lives %v, want %v", life, CodecSessionLife)
	}
	who, err := g.AuthenticateCodecSession(ctx, s.Secret, "10.0.0.9")
	must(t, err)
	if who.Name != adminName || who.may("payloads.decode") != nil {
		t.Fatalf("the session signs in %+v", who)
	}
	if n := countRows(t, `SELECT count(*) FROM codec_sessions WHERE secret_hash = $1`, Hash(s.Secret)); n != 1 {
		t.Fatalf("%d sessions stored by the secret's hash", n)
	}
	if n := countRows(t, `SELECT count(*) FROM codec_sessions c WHERE strpos(c::text, $1) > 0`, s.Secret[len(CodecSessionPrefix):]); n != 0 {
		t.Fatal("the secret is stored")
	}
	if audited("payloads.login", "ok") != 1 {
		t.Fatal("the sign-in is not audited")
	}

	// Unknown, forged and ended sessions sign no one in.
	for _, bad := range []string{"", "dfs_nope", s.Secret + "x", "dfu_" + s.Secret[4:]} {
		if _, err := g.AuthenticateCodecSession(ctx, bad, ""); !IsKind(err, Unauthenticated) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	must(t, g.EndCodecSession(ctx, who, s.Secret))
	if _, err := g.AuthenticateCodecSession(ctx, s.Secret, ""); !IsKind(err, Unauthenticated) {
		t.Fatalf("an ended session: %v", err)
	}
	must(t, g.EndCodecSession(ctx, who, s.Secret)) // signing out twice is signing out
	if audited("payloads.logout", "ok") != 2 {
		t.Fatal("the sign-outs are not audited")
	}

	// Only admins, and only people: a manager and an API key are refused, audited.
	managerName, manager := person("manager", 24*time.Hour)
	if _, err := g.OpenCodecSession(ctx, manager, "default"); !IsKind(err, Forbidden) {
		t.Fatalf("a manager opened a session: %v", err)
	}
	if n := countRows(t, `SELECT count(*) FROM audit_log WHERE action = 'payloads.login' AND actor = $1 AND NOT accepted`, managerName); n != 1 {
		t.Fatalf("%d refusals audited", n)
	}
	if _, err := g.OpenCodecSession(ctx, Principal{Kind: KindKey, Name: "pms", Roles: []string{"admin"}, Properties: []string{"*"}}, "default"); !IsKind(err, Forbidden) {
		t.Fatalf("a key opened a session: %v", err)
	}
	if n := countRows(t, `SELECT count(*) FROM codec_sessions s JOIN user_tokens t USING (token_id) JOIN users u USING (user_id) WHERE u.name = $1`, managerName); n != 0 {
		t.Fatal("a refused sign-in stored a session")
	}

	// A session never outlives its token, and ends when its person is revoked.
	_, short := person("admin", time.Hour)
	s2, err := g.OpenCodecSession(ctx, short, "default")
	must(t, err)
	if !s2.ExpiresAt.Equal(*short.ExpiresAt) {
		t.Fatalf("the session ends %v, its token %v", s2.ExpiresAt, *short.ExpiresAt)
	}
	s3, err := g.OpenCodecSession(ctx, admin, "default")
	must(t, err)
	must(t, g.RevokeUser(ctx, root, adminName))
	if _, err := g.AuthenticateCodecSession(ctx, s3.Secret, ""); !IsKind(err, Unauthenticated) {
		t.Fatalf("a revoked person's session: %v", err)
	}
	if _, err := g.OpenCodecSession(ctx, admin, "default"); !IsKind(err, Unauthenticated) {
		t.Fatalf("a revoked person's token opened a session: %v", err)
	}
}
