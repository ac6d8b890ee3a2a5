package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"golang.org/x/time/rate"

	"github.com/depositflow/depositflow/activities"
	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/evidence"
	"github.com/depositflow/depositflow/internal/money"
	"github.com/depositflow/depositflow/internal/statement"
	"github.com/depositflow/depositflow/internal/tenantlink"
	"github.com/depositflow/depositflow/templates"
	"github.com/depositflow/depositflow/workflows"
)

// The tenant's side (issue #17). A tenant acts through the signed link of
// their lease's page (internal/tenantlink): TenantLink turns it into a
// Principal of kind tenant, scoped to that lease and that tenant, which may
// read the lease's page and answer its statement (tenantActions) and
// nothing else. A manager attaches evidence to the lease and its items and
// answers each disputed item. As with every fact, the row is written to
// PostgreSQL first and the signal only wakes the lease's workflow with the
// item's ID.

// Limits of the tenant's side.
const (
	// MaxMessage bounds a tenant's or manager's message on a disputed item.
	MaxMessage = 2000
	// MaxFiles bounds the files sent at once.
	MaxFiles = 10
	// DefaultDisputeExportAfter is how long a disputed item waits,
	// unresolved, before its case may be exported for an adjudicator.
	DefaultDisputeExportAfter = 14 * 24 * time.Hour
)

// linkRefused is every refusal of a tenant's link, whatever was wrong
// (tampered, expired, another lease, a tenant no longer on the lease): the
// same words and kind, so a guess learns nothing.
func linkRefused() *Error {
	return fail(NotFound, "link_not_valid", "", "%s", tenantlink.ErrRefused.Error())
}

// linkRefusals bounds how many refused links reach the audit log: past it
// they are only logged, so nobody can fill the database by guessing.
var linkRefusals = rate.NewLimiter(10, 100)

// TenantLink checks a tenant's link and returns the principal it grants:
// the tenant it names, on the lease it names, until it expires. Every
// refusal is audited (with what was wrong, which the caller never sees)
// and answers alike.
func (g *Gateway) TenantLink(ctx context.Context, token, origin string) (Principal, error) {
	c, why, err := g.Links.Inspect(token, tenantlink.PurposePage)
	if err == nil {
		var q *db.Queries
		if q, err = g.queries(ctx); err != nil {
			return Principal{}, err
		}
		ok, qerr := q.LeaseIsResident(ctx, db.LeaseIsResidentParams{LeaseID: c.LeaseID, ResidentID: c.ResidentID})
		switch {
		case qerr != nil:
			return Principal{}, unavailable("the database", qerr)
		case !ok.Bool:
			why, err = "not a tenant of the lease", tenantlink.ErrRefused
		}
	}
	if err != nil {
		if linkRefusals.Allow() {
			// No lease: a link nobody can trust does not write into a lease's log.
			g.audit(ctx, Principal{Kind: "anonymous", Origin: origin}, "", "tenant.link", map[string]string{"why": why}, linkRefused())
		} else {
			g.log("tenant link refused (not audited: too many)", errors.New(why), "origin", origin)
		}
		return Principal{}, linkRefused()
	}
	exp := c.Expires
	return Principal{Kind: KindTenant, Name: "resident-" + strconv.FormatInt(c.ResidentID, 10), Roles: []string{"tenant"},
		Properties: []string{"*"}, Origin: origin, ExpiresAt: &exp, Lease: c.LeaseID, Resident: c.ResidentID}, nil
}

// TenantItem is an item of the statement the tenant may dispute: a
// deduction, an arrears charge, or an amount a manager kept.
type TenantItem struct {
	Ref         string                    `json:"ref"`  // "charge:12", "keep:3"
	Kind        string                    `json:"kind"` // Deduction, Arrears, Kept
	Description string                    `json:"description"`
	Cents       int64                     `json:"cents"`
	Files       []activities.EvidenceFile `json:"files"`
	Dispute     *deposit.Dispute          `json:"dispute,omitempty"`
	// DisputeFiles are the tenant's own files on the item's dispute.
	DisputeFiles []activities.EvidenceFile `json:"dispute_files,omitempty"`
}

// TenantView is what a lease's page shows: the statement as the emails
// show it, the items with their evidence and disputes, the lease's own
// files (inspection reports), and what the tenant may still do.
type TenantView struct {
	Data       templates.Data            `json:"data"`
	Stage      string                    `json:"stage"`
	Items      []TenantItem              `json:"items"`
	LeaseFiles []activities.EvidenceFile `json:"lease_files"`
	AcceptedAt *time.Time                `json:"accepted_at,omitempty"`
	AcceptedBy string                    `json:"accepted_by,omitempty"`
	// Settled: the deposit was settled; items can no longer be disputed
	// (what was disputed before stays held until resolved).
	Settled  bool  `json:"settled"`
	Resident int64 `json:"resident_id"`
}

// TenantPage reads a lease's page for its tenant (or for a manager who
// may read the lease), from the database alone.
func (g *Gateway) TenantPage(ctx context.Context, who Principal, leaseID string) (TenantView, error) {
	var v TenantView
	q, l, err := g.tenantRead(ctx, who, leaseID)
	if err != nil {
		return v, err
	}
	b, err := activities.ReadBooks(ctx, q, leaseID)
	if err != nil {
		return v, unavailable("the database", err)
	}
	v.Data = b.Data(templates.KindNotice)
	v.Data.ForManager = false
	v.Stage, v.Resident = l.Lease.Stage, who.Resident
	v.AcceptedAt, v.AcceptedBy = l.Lease.StatementAcceptedAt, l.Lease.StatementAcceptedBy
	v.Settled = b.Settled != nil || l.Lease.Stage == deposit.StageClosed
	for _, t := range b.Facts.Tenants {
		if t.ResidentID == who.Resident {
			v.Data.RecipientName = t.Name
		}
	}
	v.Items, v.LeaseFiles = tenantItems(b), []activities.EvidenceFile{}
	for _, f := range b.Evidence {
		if f.Subject == "lease" {
			v.LeaseFiles = append(v.LeaseFiles, f)
		}
	}
	return v, nil
}

// tenantItems are the disputable items of the books, each with its files
// and its dispute.
func tenantItems(b activities.Books) []TenantItem {
	s := b.State()
	files := func(subject string, id int64) []activities.EvidenceFile {
		out := []activities.EvidenceFile{}
		for _, f := range b.Evidence {
			if f.Subject == subject && f.SubjectID == id {
				out = append(out, f)
			}
		}
		return out
	}
	items := []TenantItem{}
	add := func(it TenantItem) {
		for _, d := range b.Disputes {
			if d.Item == it.Ref {
				d := d
				it.Dispute = &d
				it.DisputeFiles = files("dispute", d.DisputeID)
			}
		}
		items = append(items, it)
	}
	for _, c := range s.Charges {
		if c.Category != deposit.CategoryDeduction && c.Category != deposit.CategoryArrears {
			continue
		}
		kind := "Deduction"
		if c.Category == deposit.CategoryArrears {
			kind = "Arrears"
		}
		add(TenantItem{Ref: fmt.Sprintf("charge:%d", c.ChargeID), Kind: kind, Description: c.Description, Cents: c.AmountCents,
			Files: files("charge", c.ChargeID)})
	}
	for _, k := range s.Kept {
		if k.KeepID == 0 {
			continue
		}
		add(TenantItem{Ref: fmt.Sprintf("keep:%d", k.KeepID), Kind: "Kept", Description: k.Reason, Cents: k.AmountCents,
			Files: files("keep", k.KeepID)})
	}
	return items
}

// tenantRead opens a lease for its page: a tenant through their link, or
// anyone who may read the lease.
func (g *Gateway) tenantRead(ctx context.Context, who Principal, leaseID string) (*db.Queries, db.GetLeaseRow, error) {
	if who.Kind != KindTenant {
		return g.readLease(ctx, who, leaseID)
	}
	if err := who.may("tenant.read"); err != nil {
		return nil, db.GetLeaseRow{}, err
	}
	return g.lease(ctx, who, leaseID)
}

// EvidenceContent is one stored file of a lease, for its tenant (through
// their link) or anyone who may read the lease.
func (g *Gateway) EvidenceContent(ctx context.Context, who Principal, leaseID string, id int64) (activities.EvidenceFile, []byte, error) {
	if who.Kind == KindKey {
		// Photos of a home are for the people who decide and the tenant,
		// not for the systems that post facts.
		err := fail(Forbidden, "forbidden", "", "API key %s may not read evidence files: a person signs in (deposits login)", who.Name)
		g.audit(ctx, who, leaseID, "evidence.read", map[string]int64{"evidence_id": id}, err)
		return activities.EvidenceFile{}, nil, err
	}
	q, _, err := g.tenantRead(ctx, who, leaseID)
	if err != nil {
		return activities.EvidenceFile{}, nil, err
	}
	row, err := q.GetEvidence(ctx, db.GetEvidenceParams{EvidenceID: id, LeaseID: leaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		return activities.EvidenceFile{}, nil, fail(NotFound, "evidence_not_found", "evidence_id", "lease %s has no file %d", leaseID, id)
	}
	if err != nil {
		return activities.EvidenceFile{}, nil, unavailable("the database", err)
	}
	if g.Blobs == nil {
		return activities.EvidenceFile{}, nil, unavailable("the evidence store", errors.New("no evidence store configured"))
	}
	data, err := g.Blobs.Get(ctx, row.Sha256)
	if err != nil {
		return activities.EvidenceFile{}, nil, unavailable("the evidence store", err)
	}
	return activities.EvidenceOf(row), data, nil
}

// EvidenceIn is files a manager attaches to a lease, one of its charges
// (by the charge's reference) or one of its keeps (by its number).
type EvidenceIn struct {
	LeaseID string          `json:"lease_id"`
	Charge  string          `json:"charge,omitempty"`
	Keep    int64           `json:"keep,omitempty"`
	Files   []evidence.File `json:"-"`
}

// MarshalJSON is what the audit log keeps: the subject and each file's
// name, type, size and hash, never its content.
func (in EvidenceIn) MarshalJSON() ([]byte, error) {
	type file struct {
		Name, Type, SHA256 string
		Size               int64
	}
	files := []file{}
	for _, f := range in.Files {
		files = append(files, file{f.Name, f.Type, f.SHA256, f.Size})
	}
	return json.Marshal(map[string]any{"lease_id": in.LeaseID, "charge": in.Charge, "keep": in.Keep, "files": files})
}

// AddEvidence stores checked files and records them as evidence of a
// lease, a charge or a keep. The same file on the same subject is one row.
// Everything is checked before anything is stored: a refusal stores nothing.
func (g *Gateway) AddEvidence(ctx context.Context, who Principal, in EvidenceIn) (out []activities.EvidenceFile, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "evidence.add", in, err) }()
	if err := who.may("evidence.add"); err != nil {
		return nil, err
	}
	if err := checkFiles(in.Files, 1); err != nil {
		return nil, err
	}
	q, _, err := g.lease(ctx, who, in.LeaseID)
	if err != nil {
		return nil, err
	}
	subject, id := "lease", int64(0)
	switch {
	case in.Charge != "" && in.Keep != 0:
		return nil, fail(Invalid, "invalid", "charge", "name a charge or a keep, not both")
	case in.Charge != "":
		c, err := q.GetChargeByKey(ctx, pgtype.Text{String: chargeKey(in.LeaseID, in.Charge), Valid: true})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fail(NotFound, "charge_not_found", "charge", "lease %s has no charge %s", in.LeaseID, in.Charge)
		}
		if err != nil {
			return nil, unavailable("the database", err)
		}
		subject, id = "charge", c.ChargeID
	case in.Keep != 0:
		b, err := activities.ReadBooks(ctx, q, in.LeaseID)
		if err != nil {
			return nil, unavailable("the database", err)
		}
		found := false
		for _, k := range b.State().Kept {
			found = found || k.KeepID == in.Keep
		}
		if !found {
			return nil, fail(NotFound, "keep_not_found", "keep", "lease %s has no keep %d (deposits status %s lists them)", in.LeaseID, in.Keep, in.LeaseID)
		}
		subject, id = "keep", in.Keep
	}
	if err := g.putFiles(ctx, in.Files); err != nil {
		return nil, err
	}
	for _, f := range in.Files {
		row, err := q.InsertEvidence(ctx, db.InsertEvidenceParams{LeaseID: in.LeaseID, Subject: subject, SubjectID: id, Side: "manager",
			Sha256: f.SHA256, ContentType: f.Type, SizeBytes: f.Size, Filename: f.Name, UploadedBy: who.by()})
		if err != nil {
			return nil, unavailable("the database", err)
		}
		out = append(out, activities.EvidenceOf(row))
	}
	return out, nil
}

// checkFiles refuses too many files, or one that was not checked.
func checkFiles(files []evidence.File, least int) error {
	if len(files) < least {
		return fail(Invalid, "missing_field", "file", "send at least one file (an image or a PDF)")
	}
	if len(files) > MaxFiles {
		return fail(Invalid, "too_many_files", "file", "send at most %d files at once", MaxFiles)
	}
	for _, f := range files {
		if len(f.SHA256) != 64 || f.Size == 0 || evidence.Sniff(f.Data) != f.Type {
			return fail(Invalid, "invalid_file", "file", "file %q is not an image (JPEG, PNG, GIF, WebP) or a PDF", f.Name)
		}
	}
	return nil
}

// putFiles stores files by their hash (storing one again changes nothing).
func (g *Gateway) putFiles(ctx context.Context, files []evidence.File) error {
	if len(files) == 0 {
		return nil
	}
	if g.Blobs == nil {
		return unavailable("the evidence store", errors.New("no evidence store configured"))
	}
	for _, f := range files {
		if err := g.Blobs.Put(ctx, f); err != nil {
			return unavailable("the evidence store", err)
		}
	}
	return nil
}

// DisputeIn is a tenant disputing one item of the statement, with a
// message and, if they like, their own files.
type DisputeIn struct {
	LeaseID string          `json:"lease_id"`
	Item    string          `json:"item"` // "charge:12", "keep:3"
	Message string          `json:"message"`
	Files   []evidence.File `json:"-"`
}

// DisputeOut is the disputed item, and whether it was disputed before
// with the same message (nothing changed).
type DisputeOut struct {
	Dispute deposit.Dispute
	Again   bool
}

// OpenDispute records a tenant's dispute of an item (and their files),
// then signals the lease's workflow, which emails the manager and holds
// what the deposit covers of the item when it settles. An item can be
// disputed until the deposit is settled; the same dispute sent again
// changes nothing.
func (g *Gateway) OpenDispute(ctx context.Context, who Principal, in DisputeIn) (out DisputeOut, err error) {
	defer func() {
		g.audit(ctx, who, in.LeaseID, "dispute.open", map[string]any{"item": in.Item, "message": in.Message, "files": len(in.Files)}, ignoreNotSignalled(err))
	}()
	if err := who.may("dispute.open"); err != nil {
		return out, err
	}
	in.Message = strings.TrimSpace(in.Message)
	switch {
	case in.Message == "":
		return out, fail(Invalid, "missing_field", "message", "say why you dispute this item")
	case len(in.Message) > MaxMessage:
		return out, fail(Invalid, "too_long", "message", "the message is longer than %d characters", MaxMessage)
	}
	if err := checkFiles(in.Files, 0); err != nil {
		return out, err
	}
	q, _, err := g.lease(ctx, who, in.LeaseID)
	if err != nil {
		return out, err
	}
	b, err := activities.ReadBooks(ctx, q, in.LeaseID)
	if err != nil {
		return out, unavailable("the database", err)
	}
	var item *TenantItem
	for _, it := range tenantItems(b) {
		if it.Ref == in.Item {
			item = &it
		}
	}
	if item == nil {
		return out, fail(NotFound, "item_not_found", "item", "lease %s has no item %q to dispute", in.LeaseID, in.Item)
	}
	subject, idText, _ := strings.Cut(in.Item, ":")
	subjectID, _ := strconv.ParseInt(idText, 10, 64)
	if item.Dispute == nil {
		// Only a workflow that holds disputed money may be told of a
		// dispute: one started before the tenant's side would refund it.
		st, err := g.state(ctx, in.LeaseID)
		if IsKind(err, NotFound) || err == nil && !st.Disputable {
			return out, fail(Conflict, "not_disputable", "item", "the deposit of lease %s cannot be disputed on this page (it began before disputes could be): write to the manager", in.LeaseID)
		}
		if err != nil {
			return out, err
		}
		if err := g.putFiles(ctx, in.Files); err != nil {
			return out, err
		}
	}
	pool, err := g.DB(ctx)
	if err != nil {
		return out, unavailable("the database", err)
	}
	var row db.Dispute
	err = txErr(pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if _, err := q.LockLease(ctx, in.LeaseID); err != nil {
			return err
		}
		if st, err := q.GetSettlement(ctx, in.LeaseID); err == nil {
			return fail(Conflict, "lease_settled", "item", "the deposit of lease %s was settled on %s: items can no longer be disputed here (ask the manager, or your deposit scheme)",
				in.LeaseID, st.CreatedAt.UTC().Format(time.DateOnly))
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		prev, err := q.GetDisputeBySubject(ctx, db.GetDisputeBySubjectParams{LeaseID: in.LeaseID, Subject: subject, SubjectID: subjectID})
		if err == nil {
			if prev.TenantMessage == in.Message {
				row, out.Again = prev, true
				return nil
			}
			return fail(Conflict, "already_disputed", "item", "item %q is already disputed (item %d): the manager answers it", item.Description, prev.DisputeID)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if row, err = q.InsertDispute(ctx, db.InsertDisputeParams{LeaseID: in.LeaseID, ResidentID: who.Resident, Subject: subject, SubjectID: subjectID,
			Description: activities.ItemDescription(itemCategory(item.Kind), item.Description), AmountCents: item.Cents, TenantMessage: in.Message}); err != nil {
			return err
		}
		for _, f := range in.Files {
			if _, err := q.InsertEvidence(ctx, db.InsertEvidenceParams{LeaseID: in.LeaseID, Subject: "dispute", SubjectID: row.DisputeID, Side: "tenant",
				Sha256: f.SHA256, ContentType: f.Type, SizeBytes: f.Size, Filename: f.Name, UploadedBy: who.ID()}); err != nil {
				return err
			}
		}
		return q.TouchLease(ctx, in.LeaseID)
	}))
	if err != nil {
		return out, err
	}
	out.Dispute = activities.DisputeOf(row, nil)
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalDispute, workflows.DisputeSignal{DisputeID: row.DisputeID})
}

func itemCategory(kind string) string {
	switch kind {
	case "Arrears":
		return deposit.CategoryArrears
	case "Kept":
		return "keep"
	}
	return deposit.CategoryDeduction
}

// AcceptStatement records that the tenant accepts the itemized statement
// as it stands; the first acceptance stands.
func (g *Gateway) AcceptStatement(ctx context.Context, who Principal, leaseID string) (at time.Time, err error) {
	defer func() { g.audit(ctx, who, leaseID, "statement.accept", nil, err) }()
	if err := who.may("statement.accept"); err != nil {
		return at, err
	}
	q, _, err := g.lease(ctx, who, leaseID)
	if err != nil {
		return at, err
	}
	row, err := q.AcceptStatement(ctx, db.AcceptStatementParams{LeaseID: leaseID, StatementAcceptedBy: who.ID()})
	if err != nil || row.StatementAcceptedAt == nil {
		return at, unavailable("the database", err)
	}
	return *row.StatementAcceptedAt, nil
}

// Resolutions of a disputed item.
const (
	Concede  = "concede"
	Maintain = "maintain"
	Offer    = "offer"
)

// ResolveIn is a manager's answer to a disputed item.
type ResolveIn struct {
	LeaseID    string `json:"lease_id"`
	DisputeID  int64  `json:"item"`
	Resolution string `json:"resolution"` // concede, maintain, offer
	OfferCents int64  `json:"offer_cents,omitempty"`
	Message    string `json:"message"`
}

// ResolveDispute records a manager's answer to a disputed item, then
// signals the lease's workflow, which emails the tenant and pays back what
// is conceded at once. The same answer again changes nothing; an item
// already conceded, maintained or agreed cannot be answered again.
func (g *Gateway) ResolveDispute(ctx context.Context, who Principal, in ResolveIn) (out DisputeOut, err error) {
	defer func() { g.audit(ctx, who, in.LeaseID, "dispute.resolve", in, ignoreNotSignalled(err)) }()
	if err := who.may("dispute.resolve"); err != nil {
		return out, err
	}
	in.Message = strings.TrimSpace(in.Message)
	status := map[string]string{Concede: deposit.DisputeConceded, Maintain: deposit.DisputeMaintained, Offer: deposit.DisputeOffered}[in.Resolution]
	switch {
	case status == "":
		return out, fail(Invalid, "invalid", "resolution", "resolution %q: choose concede, maintain or offer", in.Resolution)
	case in.Message == "":
		return out, fail(Invalid, "missing_field", "message", "write the tenant a message with the answer")
	case len(in.Message) > MaxMessage:
		return out, fail(Invalid, "too_long", "message", "the message is longer than %d characters", MaxMessage)
	case in.Resolution == Offer:
		if err := CheckCents("offer_cents", in.OfferCents); err != nil {
			return out, err
		}
	case in.OfferCents != 0:
		return out, fail(Invalid, "invalid", "offer_cents", "an amount goes with an offer only")
	}
	q, l, err := g.lease(ctx, who, in.LeaseID)
	if err != nil {
		return out, err
	}
	d, err := q.GetDispute(ctx, db.GetDisputeParams{DisputeID: in.DisputeID, LeaseID: in.LeaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(NotFound, "item_not_found", "item", "lease %s has no disputed item %d (deposits dispute list %s)", in.LeaseID, in.DisputeID, in.LeaseID)
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	if in.Resolution == Offer && in.OfferCents >= d.AmountCents {
		return out, fail(Invalid, "offer_too_large", "offer_cents", "an offer gives back part of the item's %s: to give it all back, concede", money.FormatIn(l.Lease.Currency, d.AmountCents))
	}
	if d.Status == status && d.ManagerMessage == in.Message && (!d.OfferCents.Valid || d.OfferCents.Int64 == in.OfferCents) {
		out.Dispute, out.Again = activities.DisputeOf(d, nil), true
		return out, g.Signal(ctx, in.LeaseID, workflows.SignalDispute, workflows.DisputeSignal{DisputeID: d.DisputeID})
	}
	offer := pgtype.Int8{Int64: in.OfferCents, Valid: in.Resolution == Offer}
	row, err := q.AnswerDispute(ctx, db.AnswerDisputeParams{Status: status, OfferCents: offer, ManagerMessage: in.Message,
		AnsweredBy: who.by(), DisputeID: in.DisputeID, LeaseID: in.LeaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		return out, fail(Conflict, "already_resolved", "item", "item %d is already %s: its answer is final", in.DisputeID, d.Status)
	}
	if err != nil {
		return out, unavailable("the database", err)
	}
	out.Dispute = activities.DisputeOf(row, nil)
	return out, g.Signal(ctx, in.LeaseID, workflows.SignalDispute, workflows.DisputeSignal{DisputeID: row.DisputeID})
}

// AcceptOffer records that the tenant accepts the manager's offer on a
// disputed item, then signals the lease's workflow, which pays the offer
// back at once (or with the settlement). Accepting again changes nothing.
func (g *Gateway) AcceptOffer(ctx context.Context, who Principal, leaseID string, disputeID int64) (out DisputeOut, err error) {
	defer func() {
		g.audit(ctx, who, leaseID, "offer.accept", map[string]int64{"item": disputeID}, ignoreNotSignalled(err))
	}()
	if err := who.may("offer.accept"); err != nil {
		return out, err
	}
	q, _, err := g.lease(ctx, who, leaseID)
	if err != nil {
		return out, err
	}
	row, err := q.AgreeDispute(ctx, db.AgreeDisputeParams{DisputeID: disputeID, LeaseID: leaseID})
	if errors.Is(err, pgx.ErrNoRows) {
		d, gerr := q.GetDispute(ctx, db.GetDisputeParams{DisputeID: disputeID, LeaseID: leaseID})
		switch {
		case errors.Is(gerr, pgx.ErrNoRows):
			return out, fail(NotFound, "item_not_found", "item", "lease %s has no disputed item %d", leaseID, disputeID)
		case gerr != nil:
			return out, unavailable("the database", gerr)
		case d.Status == deposit.DisputeAgreed:
			row, out.Again = d, true
		default:
			return out, fail(Conflict, "no_offer", "item", "item %d has no offer to accept (it is %s)", disputeID, d.Status)
		}
	} else if err != nil {
		return out, unavailable("the database", err)
	}
	out.Dispute = activities.DisputeOf(row, nil)
	return out, g.Signal(ctx, leaseID, workflows.SignalDispute, workflows.DisputeSignal{DisputeID: row.DisputeID})
}

// Disputes lists a lease's disputed items and their files, for a manager.
func (g *Gateway) Disputes(ctx context.Context, who Principal, leaseID string) ([]deposit.Dispute, []activities.EvidenceFile, error) {
	q, _, err := g.readLease(ctx, who, leaseID)
	if err != nil {
		return nil, nil, err
	}
	b, err := activities.ReadBooks(ctx, q, leaseID)
	if err != nil {
		return nil, nil, unavailable("the database", err)
	}
	ds := b.Disputes
	if ds == nil {
		ds = []deposit.Dispute{}
	}
	files := b.Evidence
	if files == nil {
		files = []activities.EvidenceFile{}
	}
	return ds, files, nil
}

// RequestLink emails a tenant of a lease a new link to its page, when the
// address given is theirs. It answers the same whatever the lease or
// address (nothing learnt by asking), and sends at most one email per
// tenant in ten minutes.
func (g *Gateway) RequestLink(ctx context.Context, origin, leaseID, email string) (err error) {
	who := Principal{Kind: "anonymous", Origin: origin}
	email = strings.ToLower(strings.TrimSpace(email))
	var why string
	defer func() {
		if linkRefusals.Allow() {
			g.audit(ctx, who, "", "tenant.link-request", map[string]string{"lease_id": leaseID, "why": why}, err)
		}
	}()
	if !ValidID(leaseID) || email == "" || len(email) > 320 {
		why = "not a lease ID or address"
		return nil
	}
	q, err := g.queries(ctx)
	if err != nil {
		return err
	}
	b, rerr := activities.ReadBooks(ctx, q, leaseID)
	if rerr != nil {
		why = "no such lease"
		return nil
	}
	var resident int64
	for _, t := range b.Facts.Tenants {
		if strings.EqualFold(t.Email, email) {
			resident = t.ResidentID
		}
	}
	if resident == 0 {
		why = "not a tenant's address"
		return nil
	}
	c, err := g.temporal(ctx)
	if err != nil {
		return err
	}
	slot := g.now().UTC().Truncate(10 * time.Minute).Format("200601021504")
	in := workflows.TenantLinkInput{LeaseID: leaseID, ResidentID: resident,
		Key: fmt.Sprintf("%s/email/link-%d-%s", workflows.WorkflowID(leaseID), resident, slot)}
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.TenantLinkWorkflowID(in), TaskQueue: workflows.TaskQueue}, workflows.TenantLinkWorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return unavailable("Temporal", err)
	}
	why = fmt.Sprintf("link emailed to resident %d", resident)
	return nil
}

// DisputeExport is a disputed deposit's case as one evidence pack (the
// statement, the disputed items with both sides' messages and files, the
// timeline), for a manager to send a deposit scheme's adjudicator or a
// small-claims court. It is there once an item is maintained, or has waited
// unresolved for DisputeExportAfter.
func (g *Gateway) DisputeExport(ctx context.Context, who Principal, leaseID string) (pack statement.Pack, err error) {
	defer func() { g.audit(ctx, who, leaseID, "dispute.export", nil, err) }()
	if err := who.may("dispute.export"); err != nil {
		return pack, err
	}
	q, _, err := g.lease(ctx, who, leaseID)
	if err != nil {
		return pack, err
	}
	b, err := activities.ReadBooks(ctx, q, leaseID)
	if err != nil {
		return pack, unavailable("the database", err)
	}
	after := g.DisputeExportAfter
	if after <= 0 {
		after = DefaultDisputeExportAfter
	}
	ready := false
	for _, d := range b.Disputes {
		ready = ready || d.Status == deposit.DisputeMaintained || !d.Resolved() && g.now().Sub(d.OpenedAt) >= after
	}
	if !ready {
		if len(b.Disputes) == 0 {
			return pack, fail(Conflict, "no_dispute", "lease_id", "the tenant of lease %s disputes no item: there is no case to export", leaseID)
		}
		return pack, fail(Conflict, "too_early", "lease_id", "no disputed item of lease %s is maintained or has waited %s unanswered yet: answer it first (deposits dispute resolve)",
			leaseID, HumanDuration(after))
	}
	pack.Statement, pack.Disputes = b.Data(templates.KindStatement), b.Disputes
	pack.Statement.RecipientName = ""
	if g.Blobs == nil {
		return pack, unavailable("the evidence store", errors.New("no evidence store configured"))
	}
	for _, f := range b.Evidence {
		data, err := g.Blobs.Get(ctx, f.SHA256)
		if err != nil {
			return pack, unavailable("the evidence store", err)
		}
		pack.Files = append(pack.Files, statement.PackFile{ID: f.ID, Subject: f.Subject, SubjectID: f.SubjectID, Side: f.Side, Name: f.Name,
			Type: f.Type, SHA256: f.SHA256, At: f.At, Data: data})
	}
	rows, err := q.ListAudit(ctx, leaseID)
	if err != nil {
		return pack, unavailable("the database", err)
	}
	for _, r := range rows {
		if r.Accepted.Valid && !r.Accepted.Bool {
			continue // the timeline is what happened
		}
		pack.Timeline = append(pack.Timeline, deposit.AuditEntry{ID: r.AuditID, At: r.At, Actor: r.Actor, Principal: r.Principal, Action: r.Action, Result: r.Result})
	}
	return pack, nil
}
