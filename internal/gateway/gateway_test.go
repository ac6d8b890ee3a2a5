package gateway

import (
	"strings"
	"testing"

	"github.com/depositflow/depositflow/internal/deposit"
)

// Who may do what, as the server enforces it.
func TestPermissions(t *testing.T) {
	viewer := Principal{Kind: KindUser, Name: "vi", Roles: []string{deposit.RoleViewer}, Properties: []string{"maple"}}
	manager := Principal{Kind: KindUser, Name: "ma", Roles: []string{deposit.RoleManager}, Properties: []string{"maple"}}
	books := Principal{Kind: KindUser, Name: "bo", Roles: []string{deposit.RoleBooksAdmin}, Properties: []string{"*"}}
	admin := Principal{Kind: KindUser, Name: "ad", Roles: []string{deposit.RoleAdmin}, Properties: []string{"*"}}
	key := Principal{Kind: KindKey, Name: "PMS-1", Roles: []string{RoleIntegration}, Properties: []string{"maple"}}
	system := System("reconcile")
	for _, tc := range []struct {
		who     Principal
		allowed []string
	}{
		{viewer, []string{"read", "books.read"}},
		{manager, []string{"read", "books.read", "lease.start", "listing.add", "property.upsert", "resident.upsert", "payment.record", "payment.return", "charge.add", "moveout", "forwarding-address",
			"deposit.amend", "extend", "keep", "release", "hold", "decline", "evidence.add", "dispute.resolve", "dispute.export",
			"transfer", "refund.partial", "invoice.add", "invoice.apply"}},
		{books, []string{"read", "approve", "decline", "property.set", "property.ok", "books.read", "books.deposit", "books.refund_paid", "books.reconcile"}},
		{admin, []string{"read", "recheck_books", "books.read", "payloads.decode"}},
		{key, []string{"read", "lease.start", "listing.add", "property.upsert", "resident.upsert", "payment.record", "payment.return", "charge.add", "moveout", "forwarding-address", "invoice.add"}},
		{system, []string{"read", "lease.start", "listing.add", "property.upsert", "resident.upsert", "payment.record", "payment.return", "charge.add", "moveout", "forwarding-address", "invoice.add"}},
	} {
		for action := range permissions {
			err := tc.who.may(action)
			want := contains(tc.allowed, action)
			if (err == nil) != want {
				t.Errorf("%s may %s: %v, want allowed=%v", tc.who.describe(), action, err, want)
			}
			if err != nil && (!IsKind(err, Forbidden) || !strings.Contains(err.Error(), "may not "+action)) {
				t.Errorf("%s refused %s without saying so: %v", tc.who.describe(), action, err)
			}
		}
	}
	// A refusal names the role that is missing.
	if err := viewer.may("keep"); err == nil || !strings.Contains(err.Error(), "needs the manager role") {
		t.Errorf("viewer keep: %v", err)
	}
	if err := key.may("approve"); err == nil || !strings.Contains(err.Error(), "integrations record facts") {
		t.Errorf("key approve: %v", err)
	}
	if err := (Principal{Kind: KindUser, Name: "x"}).may("nosuch"); err == nil {
		t.Error("an unknown action was allowed")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// A property outside a principal's scope is refused whether it exists or
// not, naming the principal's own properties only.
func TestPropertyScope(t *testing.T) {
	p := Principal{Kind: KindUser, Name: "ma", Roles: []string{deposit.RoleManager}, Properties: []string{"maple", "birch"}}
	if !p.Covers("maple") || p.Covers("oak") {
		t.Fatal("scope")
	}
	err := p.property("oak")
	if !IsKind(err, Forbidden) || !strings.Contains(err.Error(), "may not act on property oak (its properties: maple, birch)") {
		t.Errorf("oak: %v", err)
	}
	if err := p.property("bad id"); !IsKind(err, Invalid) {
		t.Errorf("a bad ID: %v", err)
	}
	if !(Principal{Properties: []string{"*"}}).Covers("anything") {
		t.Error("* covers every property")
	}
}

// A lease started before decisions were checked against the database reads
// one role: the one that allows the decision.
func TestLegacyRole(t *testing.T) {
	both := Principal{Roles: []string{deposit.RoleBooksAdmin, deposit.RoleManager}}
	for kind, want := range map[string]string{Extend: "manager", Keep: "manager", Approve: "books_admin", Decline: "books_admin"} {
		if got := legacyRole(kind, both); got != want {
			t.Errorf("%s: %s, want %s", kind, got, want)
		}
	}
}

// A decision's content is checked before anything is sent, and is the same
// content however it is asked for again.
func TestDecisionContent(t *testing.T) {
	for _, tc := range []struct {
		d    Decision
		want string
	}{
		{Decision{Kind: Extend}, "extend by 1 to 120 days"},
		{Decision{Kind: Extend, Days: 121}, "extend by 1 to 120 days"},
		{Decision{Kind: Keep, AmountCents: 100}, "give a reason"},
		{Decision{Kind: Keep, Reason: "x"}, "must be more than zero"},
		{Decision{Kind: Keep, All: true, AmountCents: 5, Reason: "x"}, "either an amount or all"},
		{Decision{Kind: Keep, AmountCents: 5, Reason: strings.Repeat("x", 501)}, "longer than 500"},
		{Decision{Kind: Approve, Item: "everything"}, "write it as kind:id"},
		{Decision{Kind: Approve, Item: "keep:x"}, "write it as kind:id"},
		{Decision{Kind: "pay-me"}, "no decision"},
	} {
		if _, err := tc.d.content(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.d, err, tc.want)
		}
	}
	c, err := Decision{Kind: Keep, AmountCents: 30000, Reason: "  Burn mark  "}.content()
	if err != nil || c["reason"] != "Burn mark" || c["amount_cents"] != int64(30000) {
		t.Errorf("keep content: %v %v", c, err)
	}
	if _, err := (Decision{Kind: Approve, Item: "charge:34"}).content(); err != nil {
		t.Errorf("approve charge:34: %v", err)
	}
}

// A key made from a fact's content is stable and tells facts apart.
func TestContentKey(t *testing.T) {
	a, b := contentKey("L-1", "CLEANING", int64(12000), "Carpet"), contentKey("L-1", "CLEANING", int64(12000), "Carpet")
	if a != b || !ValidID(a) {
		t.Errorf("%s %s", a, b)
	}
	if a == contentKey("L-1", "CLEANING", int64(12001), "Carpet") || a == contentKey("L-2", "CLEANING", int64(12000), "Carpet") {
		t.Error("two facts share a key")
	}
}
