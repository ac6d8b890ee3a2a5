package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/evidence"
	"github.com/depositflow/depositflow/internal/pgcluster"
	"github.com/depositflow/depositflow/internal/tenantlink"
)

// The tenant's side of the gateway against a real PostgreSQL (a throwaway
// cluster, or a fresh database on DATABASE_URL). Temporal is away: what is
// recorded is only NotSignalled.

var pool *pgxpool.Pool

func TestMain(m *testing.M) {
	os.Exit(func() int {
		ctx := context.Background()
		url, stop, err := pgcluster.ForTests(ctx, "gateway_test")
		if err != nil {
			fmt.Fprintln(os.Stderr, "PostgreSQL:", err)
			return 1
		}
		defer stop()
		if pool, err = pgxpool.New(ctx, url); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer pool.Close()
		if _, _, err := db.Migrate(ctx, pool); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

const secret = "a-test-secret-of-at-least-32-characters!"

func testGateway(t *testing.T) *Gateway {
	t.Helper()
	links, err := tenantlink.New(secret, "https://deposits.example")
	if err != nil {
		t.Fatal(err)
	}
	url, err := evidence.DefaultURL(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := evidence.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blobs.Close() })
	return &Gateway{
		DB: func(context.Context) (*pgxpool.Pool, error) { return pool, nil },
		Temporal: func(context.Context) (client.Client, error) {
			return nil, errors.New("Temporal is away in these tests")
		},
		SignalWait: time.Millisecond,
		Links:      links, Blobs: blobs,
	}
}

// newLease writes a property, unit, tenant and lease, and returns the
// lease and the tenant.
func newLease(t *testing.T) (string, int64) {
	t.Helper()
	ctx := context.Background()
	q := db.New(pool)
	id := fmt.Sprintf("L-%d", time.Now().UnixNano())
	must(t, q.UpsertProperty(ctx, "maple"))
	must(t, q.UpsertUnit(ctx, db.UpsertUnitParams{PropertyID: "maple", UnitID: "4B"}))
	r, err := q.CreateResident(ctx, db.CreateResidentParams{Email: id + "@example.com", Name: "Ana Lopez"})
	must(t, err)
	_, err = q.CreateLease(ctx, db.CreateLeaseParams{LeaseID: id, PropertyID: "maple", UnitID: "4B", ResidentID: r.ResidentID,
		RequestedCents: pgtype.Int8{Int64: 100000, Valid: true}, AssessForSeconds: 3600, ReleaseAfterSeconds: 7200})
	must(t, err)
	must(t, q.AddLeaseResident(ctx, db.AddLeaseResidentParams{LeaseID: id, ResidentID: r.ResidentID, Position: 1, Share: 1}))
	return id, r.ResidentID
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func countRows(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	must(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// A link opens its own lease for its own tenant; tampered, signed with
// another secret, expired, for another purpose, for someone no longer a
// tenant, or used on another lease, it is refused with the very same
// answer, audited, and nothing else changes.
func TestTenantLinksRefusedAlike(t *testing.T) {
	ctx := context.Background()
	g := testGateway(t)
	lease, resident := newLease(t)
	other, _ := newLease(t)
	token := g.Links.Token(tenantlink.Claims{LeaseID: lease, ResidentID: resident})
	who, err := g.TenantLink(ctx, token, "203.0.113.9")
	must(t, err)
	if who.Kind != KindTenant || who.Lease != lease || who.Resident != resident {
		t.Fatalf("the link grants %+v", who)
	}
	if _, err := g.TenantPage(ctx, who, lease); err != nil {
		t.Fatalf("the tenant's own page: %v", err)
	}

	otherSigner, _ := tenantlink.New(strings.Repeat("x", 40), "")
	payload, sig, _ := strings.Cut(token, ".")
	flipped := []byte(payload)
	flipped[5] ^= 1
	bad := map[string]string{
		"tampered":       string(flipped) + "." + sig,
		"another secret": otherSigner.Token(tenantlink.Claims{LeaseID: lease, ResidentID: resident}),
		"expired":        g.Links.Token(tenantlink.Claims{LeaseID: lease, ResidentID: resident, Expires: time.Now().Add(-time.Minute)}),
		"other purpose":  g.Links.Token(tenantlink.Claims{LeaseID: lease, ResidentID: resident, Purpose: "unsubscribe"}),
		"not a tenant":   g.Links.Token(tenantlink.Claims{LeaseID: lease, ResidentID: resident + 100000}),
		"garbage":        "not-a-token",
	}
	before := countRows(t, "SELECT count(*) FROM audit_log WHERE action = 'tenant.link' AND NOT accepted")
	var first *Error
	for name, tok := range bad {
		_, err := g.TenantLink(ctx, tok, "203.0.113.9")
		var ge *Error
		if !errors.As(err, &ge) {
			t.Fatalf("%s: %v", name, err)
		}
		if first == nil {
			first = ge
		}
		if ge.Kind != first.Kind || ge.Code != first.Code || ge.Msg != first.Msg || ge.Kind != NotFound {
			t.Errorf("%s answers %+v, another %+v", name, ge, first)
		}
	}
	// A good link used on another lease answers the same.
	for _, read := range []func() error{
		func() error { _, err := g.TenantPage(ctx, who, other); return err },
		func() error { _, _, err := g.EvidenceContent(ctx, who, other, 1); return err },
		func() error { _, err := g.AcceptStatement(ctx, who, other); return err },
		func() error {
			_, err := g.OpenDispute(ctx, who, DisputeIn{LeaseID: other, Item: "charge:1", Message: "no"})
			return err
		},
	} {
		var ge *Error
		if err := read(); !errors.As(err, &ge) || ge.Code != first.Code || ge.Msg != first.Msg {
			t.Errorf("another lease answers %v", err)
		}
	}
	if n := countRows(t, "SELECT count(*) FROM audit_log WHERE action = 'tenant.link' AND NOT accepted") - before; n != len(bad) {
		t.Errorf("%d refused links audited, want %d", n, len(bad))
	}
	if n := countRows(t, "SELECT count(*) FROM leases WHERE lease_id = $1 AND statement_accepted_at IS NOT NULL", other); n != 0 {
		t.Error("another lease's statement was accepted")
	}
	if n := countRows(t, "SELECT count(*) FROM disputes WHERE lease_id = $1", other); n != 0 {
		t.Error("another lease's item was disputed")
	}
	// A tenant may only read and answer: never a manager's action.
	for _, action := range []string{"read", "keep", "release", "evidence.add", "dispute.resolve", "charge.add"} {
		if err := who.may(action); !IsKind(err, Forbidden) {
			t.Errorf("a tenant may %s: %v", action, err)
		}
	}
	// And a manager may not act as the tenant.
	manager := Principal{Kind: KindUser, Name: "ma", Roles: []string{"manager"}, Properties: []string{"*"}}
	for action := range tenantActions {
		if action == "forwarding-address" {
			continue // a manager records one the tenant wrote
		}
		if err := manager.may(action); !IsKind(err, Forbidden) {
			t.Errorf("a manager may %s: %v", action, err)
		}
	}
}

// An upload that is not an image or a PDF is refused before anything is
// stored: no file in the store, no row.
func TestEvidenceRefusedStoresNothing(t *testing.T) {
	ctx := context.Background()
	g := testGateway(t)
	lease, _ := newLease(t)
	manager := Principal{Kind: KindUser, Name: "ma", Roles: []string{"manager"}, Properties: []string{"*"}}
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	good, err := evidence.Check("wall.png", strings.NewReader(string(png)), evidence.MaxBytes)
	must(t, err)
	forged := good
	forged.Name, forged.Data = "notes.png", []byte("words, not a photo")
	if _, err := g.AddEvidence(ctx, manager, EvidenceIn{LeaseID: lease, Files: []evidence.File{good, forged}}); !IsKind(err, Invalid) {
		t.Fatalf("a file that is not an image was taken: %v", err)
	}
	if n, _ := g.Blobs.Count(ctx); n != 0 {
		t.Errorf("a refused upload stored %d files", n)
	}
	if n := countRows(t, "SELECT count(*) FROM evidence WHERE lease_id = $1", lease); n != 0 {
		t.Errorf("a refused upload wrote %d rows", n)
	}
	// A tenant may not add the manager's evidence.
	who := Principal{Kind: KindTenant, Name: "resident-1", Lease: lease, Resident: 1, Properties: []string{"*"}}
	if _, err := g.AddEvidence(ctx, who, EvidenceIn{LeaseID: lease, Files: []evidence.File{good}}); !IsKind(err, Forbidden) {
		t.Fatalf("a tenant added evidence: %v", err)
	}
	// The same good file twice is one file and one row.
	for range 2 {
		out, err := g.AddEvidence(ctx, manager, EvidenceIn{LeaseID: lease, Files: []evidence.File{good}})
		must(t, err)
		if len(out) != 1 || out[0].Subject != "lease" {
			t.Fatalf("added %+v", out)
		}
	}
	if n, _ := g.Blobs.Count(ctx); n != 1 {
		t.Errorf("the store holds %d files, want 1", n)
	}
	if n := countRows(t, "SELECT count(*) FROM evidence WHERE lease_id = $1", lease); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
	if _, err := g.AddEvidence(ctx, manager, EvidenceIn{LeaseID: lease, Charge: "NOPE", Files: []evidence.File{good}}); !IsKind(err, NotFound) {
		t.Errorf("evidence of a charge that is not there: %v", err)
	}
}

// A case can be exported once an item is maintained (or waited too long):
// the pack holds the items, both sides' messages and files, and the timeline.
func TestDisputeExport(t *testing.T) {
	ctx := context.Background()
	g := testGateway(t)
	lease, resident := newLease(t)
	q := db.New(pool)
	manager := Principal{Kind: KindUser, Name: "ma", Roles: []string{"manager"}, Properties: []string{"*"}}
	if _, err := g.DisputeExport(ctx, manager, lease); !IsKind(err, Conflict) {
		t.Fatalf("a case with no dispute: %v", err)
	}
	d, err := q.InsertDispute(ctx, db.InsertDisputeParams{LeaseID: lease, ResidentID: resident, Subject: "charge", SubjectID: 1,
		Description: "Deduction: Wall repainting", AmountCents: 8000, TenantMessage: "It was scuffed already"})
	must(t, err)
	if _, err := g.DisputeExport(ctx, manager, lease); !IsKind(err, Conflict) || !strings.Contains(err.Error(), "answer it first") {
		t.Fatalf("a case too early: %v", err)
	}
	if _, err := g.ResolveDispute(ctx, manager, ResolveIn{LeaseID: lease, DisputeID: d.DisputeID, Resolution: Offer, OfferCents: 8000, Message: "all?"}); !IsKind(err, Invalid) {
		t.Fatalf("an offer of the whole item: %v", err)
	}
	out, err := g.ResolveDispute(ctx, manager, ResolveIn{LeaseID: lease, DisputeID: d.DisputeID, Resolution: Maintain, Message: "Fresh paint at move-in"})
	if !IsKind(err, NotSignalled) || out.Dispute.Status != "maintained" {
		t.Fatalf("maintained: %+v %v", out, err)
	}
	if _, err := g.ResolveDispute(ctx, manager, ResolveIn{LeaseID: lease, DisputeID: d.DisputeID, Resolution: Concede, Message: "after all"}); !IsKind(err, Conflict) {
		t.Fatalf("an answer after a final one: %v", err)
	}
	tenant := Principal{Kind: KindTenant, Name: "resident-1", Lease: lease, Resident: resident, Properties: []string{"*"}}
	if _, err := g.DisputeExport(ctx, tenant, lease); !IsKind(err, Forbidden) {
		t.Fatalf("a tenant exported: %v", err)
	}
	pack, err := g.DisputeExport(ctx, manager, lease)
	must(t, err)
	if len(pack.Disputes) != 1 || pack.Disputes[0].ManagerMessage != "Fresh paint at move-in" || len(pack.Timeline) == 0 {
		t.Fatalf("the pack: %+v", pack)
	}
}

// Evidence files are for people and the tenant, not for an integration's key.
func TestEvidenceNotForKeys(t *testing.T) {
	g := testGateway(t)
	lease, _ := newLease(t)
	key := Principal{Kind: KindKey, Name: "PMS-1", Roles: []string{RoleIntegration}, Properties: []string{"*"}}
	if _, _, err := g.EvidenceContent(context.Background(), key, lease, 1); !IsKind(err, Forbidden) {
		t.Fatalf("a key read evidence: %v", err)
	}
}
