package gateway

import (
	"testing"
	"time"
)

// A cursor gives back the key it was made of, for its own list only; a
// page size is 1 to MaxPageSize, 0 the default.
func TestCursorsAndPageSizes(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 30, 0, 123456000, time.UTC)
	for _, c := range []cursor{{List: "leases", LeaseID: "L-0042"}, {List: "invoices", CreatedAt: at, Kind: "refund", ID: 12}} {
		got, err := decodeCursor(c.List, c.encode())
		if err != nil || got != c {
			t.Errorf("%+v came back as %+v (%v)", c, got, err)
		}
		other := map[string]string{"leases": "invoices", "invoices": "leases"}[c.List]
		if _, err := decodeCursor(other, c.encode()); !IsKind(err, Invalid) {
			t.Errorf("a %s cursor for %s: %v", c.List, other, err)
		}
	}
	for _, s := range []string{"x", "e30", "!!!", "eyJsIjoibGVhc2VzIn0"} {
		c, err := decodeCursor("invoices", s)
		if err == nil {
			t.Errorf("cursor %q read as %+v", s, c)
		}
	}
	if c, err := decodeCursor("leases", ""); err != nil || c.LeaseID != "" {
		t.Errorf("no cursor is the first page: %+v %v", c, err)
	}
	for limit, want := range map[int]int{0: DefaultPageSize, 1: 1, MaxPageSize: MaxPageSize, MaxPageSize + 1: -1, -1: -1} {
		got, err := pageSize(limit)
		if want < 0 && err == nil || want >= 0 && got != want {
			t.Errorf("page size %d: %d %v", limit, got, err)
		}
	}
}
