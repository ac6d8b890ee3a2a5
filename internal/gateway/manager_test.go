package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/tenantlink"
)

// A manager's one-click links against a real PostgreSQL: each refusal
// (tampered, expired, a tenant's link, a revoked person, one who lost the
// property, a link used before, a lease settled) is clear, audited, and
// changes nothing; Temporal away, a link is not used up.

func newManager(t *testing.T, g *Gateway, properties ...string) string {
	t.Helper()
	name := fmt.Sprintf("kim-%d", time.Now().UnixNano())
	_, err := g.AddUser(context.Background(), Principal{Kind: KindLocal, Name: "root", Roles: []string{"admin"}, Properties: []string{"*"}},
		UserIn{Name: name, Roles: []string{"manager"}, Properties: properties, Email: name + "@maple.example"})
	must(t, err)
	return name
}

func managerToken(t *testing.T, g *Gateway, lease, user, action string) string {
	t.Helper()
	u, err := db.New(pool).GetUserByName(context.Background(), user)
	must(t, err)
	return g.Links.ManagerToken(tenantlink.ManagerClaims{LeaseID: lease, User: u.Name, UserID: u.UserID, Action: action})
}

func refusedWithCode(t *testing.T, err error, code string) {
	t.Helper()
	ge, ok := err.(*Error)
	if !ok || ge.Code != code {
		t.Fatalf("want a refusal %s, got %v", code, err)
	}
}

func auditCount(t *testing.T, lease, code string) int {
	return countRows(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'manager.link' AND NOT accepted AND result LIKE $2", lease, "%"+code+"%")
}

func TestManagerLinks(t *testing.T) {
	ctx := context.Background()
	g := testGateway(t)
	lease, resident := newLease(t)
	kim := newManager(t, g, "maple")
	uses := func() int {
		return countRows(t, "SELECT count(*) FROM manager_link_uses WHERE lease_id = $1", lease)
	}

	// A valid link shows the lease to the person it was sent to.
	release := managerToken(t, g, lease, kim, tenantlink.ManagerRelease)
	v, err := g.ManagerLink(ctx, release, "203.0.113.7")
	must(t, err)
	if v.Action != "release" || v.User != kim || v.Data.TenantName != "Ana Lopez" || v.Data.LeaseID != lease || v.UsedAt != nil {
		t.Fatalf("view: %+v", v)
	}
	open := managerToken(t, g, lease, kim, tenantlink.ManagerOpen)
	_, err = g.ManagerLink(ctx, open, "203.0.113.7")
	must(t, err)
	_, err = g.ManagerLink(ctx, open, "203.0.113.7")
	must(t, err) // an open link opens again until it expires
	if n := countRows(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'manager.link.open' AND accepted AND principal = $2", lease, "user:"+kim); n != 2 {
		t.Fatalf("opens audited: %d", n)
	}
	_, err = g.ManagerLinkAct(ctx, open, "203.0.113.7")
	refusedWithCode(t, err, "read_only")

	// Tampered, expired, a tenant's link as a manager's, a manager's as a
	// tenant's: not valid, audited (without a lease: nobody can trust it).
	before := countRows(t, "SELECT count(*) FROM audit_log WHERE action = 'manager.link' AND lease_id = '' AND NOT accepted")
	tampered := release[:len(release)-4] + "AAAA"
	_, err = g.ManagerLink(ctx, tampered, "203.0.113.7")
	refusedWithCode(t, err, "link_not_valid")
	past := *g.Links
	past.Now = func() time.Time { return time.Now().Add(-tenantlink.ManagerTTL - time.Hour) }
	u, err := db.New(pool).GetUserByName(ctx, kim)
	must(t, err)
	expired := past.ManagerToken(tenantlink.ManagerClaims{LeaseID: lease, User: kim, UserID: u.UserID, Action: tenantlink.ManagerRelease})
	_, err = g.ManagerLinkAct(ctx, expired, "203.0.113.7")
	refusedWithCode(t, err, "link_not_valid")
	tenants := g.Links.Token(tenantlink.Claims{LeaseID: lease, ResidentID: resident})
	_, err = g.ManagerLinkAct(ctx, tenants, "203.0.113.7")
	refusedWithCode(t, err, "link_not_valid")
	_, err = g.TenantLink(ctx, release, "203.0.113.7")
	refusedWithCode(t, err, "link_not_valid")
	if n := countRows(t, "SELECT count(*) FROM audit_log WHERE action = 'manager.link' AND lease_id = '' AND NOT accepted") - before; n != 3 {
		t.Fatalf("refused links audited: %d", n)
	}

	// Temporal away: nothing reached the lease, the link is not used up.
	_, err = g.ManagerLinkAct(ctx, release, "203.0.113.7")
	if !IsKind(err, Unavailable) {
		t.Fatalf("Temporal away: %v", err)
	}
	if uses() != 0 {
		t.Fatal("a link that did not reach the lease stays usable")
	}

	// Used before (as a confirmed POST records it): refused, nothing more done.
	hash := tenantlink.TokenHash(release)
	_, err = db.New(pool).UseManagerLink(ctx, db.UseManagerLinkParams{TokenHash: hash, LeaseID: lease, UserName: kim, Action: "release"})
	must(t, err)
	must(t, db.New(pool).FinishManagerLinkUse(ctx, db.FinishManagerLinkUseParams{TokenHash: hash, Result: "released it"}))
	v, err = g.ManagerLink(ctx, release, "203.0.113.7")
	must(t, err)
	if v.UsedAt == nil || v.UsedWhat != "released it" {
		t.Fatalf("a used link's page says so: %+v", v)
	}
	decisions := countRows(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'release'", lease)
	_, err = g.ManagerLinkAct(ctx, release, "203.0.113.7")
	refusedWithCode(t, err, "link_used")
	if uses() != 1 || countRows(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'release'", lease) != decisions {
		t.Fatal("a used link changed something")
	}
	if auditCount(t, lease, "already used") != 1 {
		t.Fatal("the reuse is not audited")
	}

	// A release while an item awaits approval: refused, the link not used up.
	waiting := managerToken(t, g, lease, kim, tenantlink.ManagerRelease)
	_, err = pool.Exec(ctx, `INSERT INTO keeps (lease_id, amount_in_cents, reason, requested_by, status, idempotency_key)
		VALUES ($1, 10000, 'Blinds', 'kim', 'pending', $1 || '/keep-test')`, lease)
	must(t, err)
	_, err = g.ManagerLinkAct(ctx, waiting, "203.0.113.7")
	refusedWithCode(t, err, "awaiting_approval")
	if countRows(t, "SELECT count(*) FROM manager_link_uses WHERE token_hash = $1", tenantlink.TokenHash(waiting)) != 0 {
		t.Fatal("a release refused for a pending item uses the link up")
	}
	_, err = pool.Exec(ctx, `UPDATE keeps SET status = 'declined' WHERE lease_id = $1`, lease)
	must(t, err)

	// Where alerts go is an admin's to change, checked and audited.
	root := Principal{Kind: KindLocal, Name: "root", Roles: []string{"admin"}, Properties: []string{"*"}}
	refusedWithCode(t, g.SetUserEmail(ctx, root, kim, "not an address"), "invalid")
	refusedWithCode(t, g.SetUserEmail(ctx, root, "nobody-"+kim, "a@b.example"), "user_not_found")
	must(t, g.SetUserEmail(ctx, root, kim, "kim@elsewhere.example"))
	if countRows(t, "SELECT count(*) FROM users WHERE name = $1 AND email = 'kim@elsewhere.example'", kim) != 1 ||
		countRows(t, "SELECT count(*) FROM audit_log WHERE action = 'user.email' AND request->>'name' = $1", kim) != 2 {
		t.Fatal("the email is set and every attempt audited")
	}

	// A person who lost the property, or was revoked: refused, audited.
	extend := managerToken(t, g, lease, kim, tenantlink.ManagerExtend)
	elsewhere := newManager(t, g, "birch")
	_, err = g.ManagerLinkAct(ctx, managerToken(t, g, lease, elsewhere, tenantlink.ManagerExtend), "203.0.113.7")
	refusedWithCode(t, err, "link_revoked")
	must(t, g.RevokeUser(ctx, Principal{Kind: KindLocal, Name: "root", Roles: []string{"admin"}, Properties: []string{"*"}}, kim))
	_, err = g.ManagerLinkAct(ctx, extend, "203.0.113.7")
	refusedWithCode(t, err, "link_revoked")
	_, err = g.ManagerLink(ctx, open, "203.0.113.7")
	refusedWithCode(t, err, "link_revoked")
	if auditCount(t, lease, "no longer") != 3 {
		t.Fatalf("revoked and out-of-scope links audited: %d", auditCount(t, lease, "no longer"))
	}

	// A lease that moved on (settled): refused, audited.
	pat := newManager(t, g, "maple")
	_, err = pool.Exec(ctx, "UPDATE leases SET stage = 'closed' WHERE lease_id = $1", lease)
	must(t, err)
	_, err = g.ManagerLinkAct(ctx, managerToken(t, g, lease, pat, tenantlink.ManagerRelease), "203.0.113.7")
	refusedWithCode(t, err, "lease_moved_on")
	if auditCount(t, lease, "already settled") != 1 || uses() != 1 {
		t.Fatal("a settled lease's link is audited and uses nothing")
	}
}

// A manager's message to the tenant: checked, never stored when refused.
func TestCheckMessage(t *testing.T) {
	for _, bad := range []string{"bell\a", "esc\x1b[31m", "nul\x00", "bidi \u202e", string(make([]byte, 0)) + "\xff"} {
		if _, err := CheckMessage(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	long := make([]rune, MaxTenantMessage+1)
	for i := range long {
		long[i] = 'é'
	}
	if _, err := CheckMessage(string(long)); err == nil {
		t.Error("a message too long accepted")
	}
	got, err := CheckMessage("  Thank you,\r\n\tAna\r\n  ")
	if err != nil || got != "Thank you,\n\tAna" {
		t.Errorf("%q %v", got, err)
	}
	if got, err := CheckMessage(string(long[:MaxTenantMessage])); err != nil || len([]rune(got)) != MaxTenantMessage {
		t.Error("a message of the longest length refused")
	}
}
