package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/depositflow/depositflow/db"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/workflows"
)

// Lists across leases, a page at a time, from the database: the lease rows
// (whose stage and dates each lease's workflow mirrors as they change) and
// the refunds and invoices the settlements wrote. Pages are keyset pages:
// a cursor holds the last key of its page and the next page starts after
// it, so a row that exists is listed exactly once, however many rows are
// written while a client pages, and a cursor never expires. Only the
// leases of the caller's properties are listed.

// Page sizes of the lists.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
)

// Stages a list may filter on.
var Stages = []string{deposit.StageAwaitingPayment, deposit.StageHeld, deposit.StageAssessing, deposit.StageReleasePending, deposit.StageBooksDisagree, deposit.StageClosed}

// LeaseFilter narrows a list of leases and says where its page starts.
type LeaseFilter struct {
	Stage      string    `json:"stage,omitempty"`
	PropertyID string    `json:"property_id,omitempty"`
	DueBefore  time.Time `json:"due_before,omitzero"` // release scheduled before it
	Cursor     string    `json:"cursor,omitempty"`    // the next_cursor of the page before; "" for the first
	Limit      int       `json:"limit,omitempty"`     // 0: DefaultPageSize
}

// LeasePage is a page of leases; NextCursor is "" on the last page.
type LeasePage struct {
	Leases     []deposit.ListedLease `json:"leases"`
	NextCursor string                `json:"next_cursor,omitempty"`
}

// InvoiceFilter narrows the list of refunds and invoices across leases.
type InvoiceFilter struct {
	Status     string `json:"status,omitempty"` // "open": refunds still payable and balances still open; "": all
	PropertyID string `json:"property_id,omitempty"`
	Cursor     string `json:"cursor,omitempty"`
	Limit      int    `json:"limit,omitempty"`
}

// InvoicePage is a page of refunds and invoices; NextCursor is "" on the last page.
type InvoicePage struct {
	Invoices   []deposit.Invoice `json:"invoices"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// cursor is what a next_cursor holds: which list it pages and the last
// key of its page. Clients treat it as opaque.
type cursor struct {
	List      string    `json:"l"`
	LeaseID   string    `json:"lease,omitempty"`
	CreatedAt time.Time `json:"at,omitzero"`
	Kind      string    `json:"kind,omitempty"`
	ID        int64     `json:"id,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(list, s string) (cursor, error) {
	var c cursor
	if s == "" {
		return cursor{List: list}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.List != list {
		return c, fail(Invalid, "invalid_cursor", "cursor", "cursor %q is not a next_cursor of this list: start again without one", s)
	}
	return c, nil
}

// pageSize checks a page size; 0 is the default.
func pageSize(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultPageSize, nil
	case limit < 1 || limit > MaxPageSize:
		return 0, fail(Invalid, "invalid", "limit", "limit must be from 1 to %d", MaxPageSize)
	}
	return limit, nil
}

// scope is the caller's properties as the list queries take them.
func (who Principal) scope() (all bool, properties []string) {
	if slices.Contains(who.Properties, "*") {
		return true, []string{}
	}
	return false, append([]string{}, who.Properties...)
}

// ListLeases lists a page of the leases of the caller's properties, by
// lease ID, with the filters of `deposits list`.
func (g *Gateway) ListLeases(ctx context.Context, who Principal, f LeaseFilter) (page LeasePage, err error) {
	defer func() {
		if err != nil && !IsKind(err, Unavailable) {
			g.audit(ctx, who, "", "lease.list", f, err)
		}
	}()
	if err := who.may("read"); err != nil {
		return page, err
	}
	p := db.ListLeasesPageParams{}
	if f.Stage != "" {
		if !slices.Contains(Stages, f.Stage) {
			return page, fail(Invalid, "invalid", "stage", "stage %q: choose one of %s", f.Stage, strings.Join(Stages, ", "))
		}
		p.Stage = pgtype.Text{String: f.Stage, Valid: true}
	}
	if f.PropertyID != "" {
		if err := who.property(f.PropertyID); err != nil {
			return page, err
		}
		p.PropertyID = pgtype.Text{String: f.PropertyID, Valid: true}
	}
	if !f.DueBefore.IsZero() {
		p.DueBefore = &f.DueBefore
	}
	n, err := pageSize(f.Limit)
	if err != nil {
		return page, err
	}
	c, err := decodeCursor("leases", f.Cursor)
	if err != nil {
		return page, err
	}
	p.AfterLeaseID, p.PageSize = c.LeaseID, int32(n+1)
	p.AllProperties, p.Properties = who.scope()
	q, err := g.queries(ctx)
	if err != nil {
		return page, err
	}
	rows, err := q.ListLeasesPage(ctx, p)
	if err != nil {
		return page, unavailable("the database", err)
	}
	page.Leases = []deposit.ListedLease{}
	for i, r := range rows {
		if i == n {
			page.NextCursor = cursor{List: "leases", LeaseID: rows[n-1].LeaseID}.encode()
			break
		}
		page.Leases = append(page.Leases, deposit.ListedLease{LeaseID: r.LeaseID, PropertyID: r.PropertyID, UnitID: r.UnitID,
			Stage: r.Stage, Outcome: r.Outcome, Currency: r.Currency, Jurisdiction: r.Jurisdiction,
			MovedOutAt: when(r.MovedOutAt), ReleaseAt: when(r.ReleaseAt), ClosedAt: when(r.ClosedAt),
			WorkflowID: workflows.WorkflowID(r.LeaseID), StartedAt: r.CreatedAt.UTC()})
	}
	return page, nil
}

// ListInvoices lists a page of the refunds to pay and balances to collect
// across the leases of the caller's properties, oldest first.
func (g *Gateway) ListInvoices(ctx context.Context, who Principal, f InvoiceFilter) (page InvoicePage, err error) {
	defer func() {
		if err != nil && !IsKind(err, Unavailable) {
			g.audit(ctx, who, "", "invoice.list", f, err)
		}
	}()
	if err := who.may("read"); err != nil {
		return page, err
	}
	p := db.ListInvoicesPageParams{}
	switch f.Status {
	case "":
	case "open":
		p.OpenOnly = true
	default:
		return page, fail(Invalid, "invalid", "status", "status %q: choose open, or leave it out for all", f.Status)
	}
	if f.PropertyID != "" {
		if err := who.property(f.PropertyID); err != nil {
			return page, err
		}
		p.PropertyID = pgtype.Text{String: f.PropertyID, Valid: true}
	}
	n, err := pageSize(f.Limit)
	if err != nil {
		return page, err
	}
	c, err := decodeCursor("invoices", f.Cursor)
	if err != nil {
		return page, err
	}
	p.AfterCreatedAt, p.AfterKind, p.AfterID, p.PageSize = c.CreatedAt, c.Kind, c.ID, int32(n+1)
	p.AllProperties, p.Properties = who.scope()
	q, err := g.queries(ctx)
	if err != nil {
		return page, err
	}
	rows, err := q.ListInvoicesPage(ctx, p)
	if err != nil {
		return page, unavailable("the database", err)
	}
	page.Invoices = []deposit.Invoice{}
	for i, r := range rows {
		if i == n {
			last := rows[n-1]
			page.NextCursor = cursor{List: "invoices", CreatedAt: last.CreatedAt, Kind: last.Kind, ID: last.ID}.encode()
			break
		}
		prefix := "refund"
		if r.Kind == "balance_owed" {
			prefix = "invoice"
		}
		page.Invoices = append(page.Invoices, deposit.Invoice{InvoiceID: fmt.Sprintf("%s-%d", prefix, r.ID), LeaseID: r.LeaseID,
			PropertyID: r.PropertyID, Kind: r.Kind, AmountDueInCents: r.AmountCents, Currency: r.Currency, Status: r.Status,
			Recipient: deposit.Recipient{Name: r.RecipientName, Email: r.RecipientEmail, Address: r.RecipientAddress}, CreatedAt: r.CreatedAt})
	}
	return page, nil
}

// when is a time the database may not have, as the zero time.
func when(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
