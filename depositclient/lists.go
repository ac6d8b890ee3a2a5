package depositclient

import (
	"context"
	"iter"
	"net/url"
	"strconv"
	"time"
)

// The lists across leases page with cursors: each page's NextCursor asks
// for the next, until one comes without it. A lease or invoice that exists
// is listed once however many are written while a client pages, and a
// cursor does not expire. Leases and Invoices page for you.

// LeaseFilter narrows GET /v1/leases (the filters of `deposits list`).
type LeaseFilter struct {
	Stage      string    // awaiting_payment, held, assessing, release_pending, books_disagree, closed
	PropertyID string    // one of the caller's properties
	DueBefore  time.Time // release scheduled before it
	Limit      int       // a page's size: 1 to 500; 0, the server's default (100)
}

// ListedLease is a lease of a list (schema ListedLease).
type ListedLease struct {
	LeaseID      string    `json:"lease_id"`
	PropertyID   string    `json:"property_id"`
	UnitID       string    `json:"unit_id"`
	Stage        string    `json:"stage"`
	Outcome      string    `json:"outcome,omitempty"`
	Currency     string    `json:"currency"`
	Jurisdiction string    `json:"jurisdiction"`
	MovedOutAt   time.Time `json:"moved_out_at,omitzero"`
	ReleaseAt    time.Time `json:"release_at,omitzero"`
	ClosedAt     time.Time `json:"closed_at,omitzero"`
	WorkflowID   string    `json:"workflow_id"`
	StartedAt    time.Time `json:"started_at"`
}

// LeasePage is a page of leases (schema LeasePage).
type LeasePage struct {
	Leases     []ListedLease `json:"leases"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// InvoiceFilter narrows GET /v1/invoices.
type InvoiceFilter struct {
	Status     string // "open": refunds still payable and balances still open; "": all
	PropertyID string
	Limit      int // a page's size: 1 to 500; 0, the server's default (100)
}

// InvoicePage is a page of invoices (schema InvoicePage).
type InvoicePage struct {
	Invoices   []Invoice `json:"invoices"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// LeasesPage reads one page of leases: cursor "" for the first, then the
// NextCursor of the page before.
func (c *Client) LeasesPage(ctx context.Context, f LeaseFilter, cursor string) (LeasePage, error) {
	q := url.Values{}
	setIf(q, "stage", f.Stage)
	setIf(q, "property_id", f.PropertyID)
	if !f.DueBefore.IsZero() {
		q.Set("due_before", f.DueBefore.UTC().Format(time.RFC3339))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	setIf(q, "cursor", cursor)
	var out LeasePage
	return out, c.Get(ctx, "/v1/leases", q, &out)
}

// Leases lists every lease the filter keeps, a page at a time; it stops
// at the first error, which it yields.
func (c *Client) Leases(ctx context.Context, f LeaseFilter) iter.Seq2[ListedLease, error] {
	return pages(func(cursor string) ([]ListedLease, string, error) {
		p, err := c.LeasesPage(ctx, f, cursor)
		return p.Leases, p.NextCursor, err
	})
}

// InvoicesPage reads one page of invoices: cursor "" for the first, then
// the NextCursor of the page before.
func (c *Client) InvoicesPage(ctx context.Context, f InvoiceFilter, cursor string) (InvoicePage, error) {
	q := url.Values{}
	setIf(q, "status", f.Status)
	setIf(q, "property_id", f.PropertyID)
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	setIf(q, "cursor", cursor)
	var out InvoicePage
	return out, c.Get(ctx, "/v1/invoices", q, &out)
}

// Invoices lists every refund to pay and balance to collect the filter
// keeps, across the caller's leases, oldest first, a page at a time; it
// stops at the first error, which it yields.
func (c *Client) Invoices(ctx context.Context, f InvoiceFilter) iter.Seq2[Invoice, error] {
	return pages(func(cursor string) ([]Invoice, string, error) {
		p, err := c.InvoicesPage(ctx, f, cursor)
		return p.Invoices, p.NextCursor, err
	})
}

// pages walks a list page by page.
func pages[T any](page func(cursor string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		cursor := ""
		for {
			items, next, err := page(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			cursor = next
		}
	}
}

// setIf sets a query parameter that has a value.
func setIf(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}
