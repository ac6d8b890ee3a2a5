package rules

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	z, err := LoadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestZonedDeadlines: the law counts calendar days in the property's zone,
// and a deadline is 00:00 there, whatever the clocks do in between.
func TestZonedDeadlines(t *testing.T) {
	b := NewBook(Embedded()...)
	la, london := zone(t, "America/Los_Angeles"), zone(t, "Europe/London")
	for _, c := range []struct {
		name     string
		code     string
		facts    Facts
		due      time.Time
		dueUTC   string // the same instant in UTC, worked out by hand
		dueShown string // as the property's clock shows it
	}{
		{
			// 21 days from 1 March, across the spring-forward of 8 March: 21
			// calendar days are 503 hours, and the deadline is 00:00 PDT.
			name: "US-CA in Los Angeles across the March clock change", code: "US-CA",
			facts: Facts{MovedOut: MidnightIn(d("2026-03-01"), la), Claim: true, Zone: la},
			due:   time.Date(2026, 3, 22, 0, 0, 0, 0, la), dueUTC: "2026-03-22T07:00:00Z", dueShown: "2026-03-22 00:00 PDT",
		},
		{
			// 10 days from 20 October, across the end of summer time on 25
			// October: 00:00 GMT on the 30th.
			name: "GB-ENG in London across the October clock change", code: "GB-ENG",
			facts: Facts{MovedOut: MidnightIn(d("2026-10-20"), london), Zone: london},
			due:   time.Date(2026, 10, 30, 0, 0, 0, 0, london), dueUTC: "2026-10-30T00:00:00Z", dueShown: "2026-10-30 00:00 GMT",
		},
		{
			// A move-out recorded at 23:30 UTC on the 20th is 00:30 BST on the
			// 21st in London: the count starts on the 21st.
			name: "GB-ENG counts from the day in London, not in UTC", code: "GB-ENG",
			facts: Facts{MovedOut: time.Date(2026, 10, 20, 23, 30, 0, 0, time.UTC), Zone: london},
			due:   time.Date(2026, 10, 31, 0, 0, 0, 0, london), dueUTC: "2026-10-31T00:00:00Z", dueShown: "2026-10-31 00:00 GMT",
		},
		{
			// In summer 00:00 in London is 23:00 UTC the day before.
			name: "GB-ENG in summer time", code: "GB-ENG",
			facts: Facts{MovedOut: MidnightIn(d("2026-06-01"), london), Zone: london},
			due:   time.Date(2026, 6, 11, 0, 0, 0, 0, london), dueUTC: "2026-06-10T23:00:00Z", dueShown: "2026-06-11 00:00 BST",
		},
		{
			name: "UTC as a zone", code: "US-CA",
			facts: Facts{MovedOut: d("2026-03-01"), Claim: true, Zone: time.UTC},
			due:   d("2026-03-22"), dueUTC: "2026-03-22T00:00:00Z", dueShown: "2026-03-22 00:00 UTC",
		},
		{
			// The statement went out at 14:10 PDT; the balance is due 00:00 PDT 30
			// days after that day (US-FL), the notice window ends 00:00 PDT 15 days after.
			name: "US-FL: periods from the notice count from its day", code: "US-FL",
			facts: Facts{MovedOut: MidnightIn(d("2026-03-01"), la), StatementAt: time.Date(2026, 3, 11, 14, 10, 0, 0, la), Claim: true, Zone: la},
			due:   time.Date(2026, 4, 10, 0, 0, 0, 0, la), dueUTC: "2026-04-10T07:00:00Z", dueShown: "2026-04-10 00:00 PDT",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := b.For(c.code, c.facts.MovedOut)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Clock(c.facts)
			if !got.Started || !got.RefundDue.Equal(c.due) {
				t.Fatalf("refund due %s, want %s (%s)", got.RefundDue, c.due, got.Why)
			}
			if s := got.RefundDue.UTC().Format(time.RFC3339); s != c.dueUTC {
				t.Errorf("refund due %s UTC, want %s", s, c.dueUTC)
			}
			if s := got.RefundDue.In(c.facts.Zone).Format("2006-01-02 15:04 MST"); s != c.dueShown {
				t.Errorf("refund due %s in the zone, want %s", s, c.dueShown)
			}
		})
	}
	t.Run("the US-CA deadline is 503 hours after the move-out", func(t *testing.T) {
		r, _ := b.For("US-CA", d("2026-03-01"))
		out := MidnightIn(d("2026-03-01"), la)
		if h := r.Clock(Facts{MovedOut: out, Zone: la}).RefundDue.Sub(out).Hours(); h != 21*24-1 {
			t.Errorf("%v hours, want %d: the clocks spring forward on 8 March", h, 21*24-1)
		}
	})
	t.Run("US-FL objection window in the zone", func(t *testing.T) {
		r, _ := b.For("US-FL", d("2026-03-01"))
		got := r.Clock(Facts{MovedOut: MidnightIn(d("2026-03-01"), la), StatementAt: time.Date(2026, 3, 11, 14, 10, 0, 0, la), Claim: true, Zone: la})
		if want := time.Date(2026, 3, 26, 0, 0, 0, 0, la); !got.ObjectionEnds.Equal(want) {
			t.Errorf("objection ends %s, want %s", got.ObjectionEnds, want)
		}
		if want := time.Date(2026, 3, 31, 0, 0, 0, 0, la); !got.StatementDue.Equal(want) {
			t.Errorf("statement due %s, want %s", got.StatementDue, want)
		}
	})
}

// TestNoZoneIsTheClockAsBefore: without a zone every deadline is what it
// was before zones, to the nanosecond, so running workflows replay the same
// timers; with UTC as the zone the deadlines of a move-out are the same.
func TestNoZoneIsTheClockAsBefore(t *testing.T) {
	b := NewBook(Embedded()...)
	notice := time.Date(2026, 3, 11, 14, 10, 0, 0, time.UTC)
	for _, code := range b.Codes() {
		r, err := b.For(code, d("2026-03-01"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []Facts{
			{MovedOut: d("2026-03-01"), ForwardingAt: d("2026-03-05"), Claim: true},
			{MovedOut: d("2026-03-01"), ForwardingAt: d("2026-03-05")},
			{MovedOut: d("2026-03-01"), ForwardingAt: d("2026-02-05"), StatementAt: notice, Claim: true},
		} {
			got := r.Clock(f)
			if f.StatementAt.IsZero() {
				zoned := f
				zoned.Zone = time.UTC
				if z := r.Clock(zoned); z != got {
					t.Errorf("%s: with UTC as the zone %+v, without %+v", code, z, got)
				}
			}
			// What the clock computed before zones: the period added to the instant.
			start := f.MovedOut
			if r.Trigger == TriggerForwarding || r.Trigger == TriggerLaterOf {
				start = latest(f.MovedOut, f.ForwardingAt)
			}
			if r.HasClock() && r.NoClaimReturn == nil && r.ReturnAfterStatement == nil {
				if want := r.Return.From(start); got.RefundDue != want {
					t.Errorf("%s: refund due %s, before zones %s", code, got.RefundDue, want)
				}
			}
			if r.ObjectionWindow != nil && f.Claim && !f.StatementAt.IsZero() {
				if want := notice.AddDate(0, 0, r.ObjectionWindow.Days); got.ObjectionEnds != want {
					t.Errorf("%s: objection ends %s, before zones %s", code, got.ObjectionEnds, want)
				}
			}
		}
	}
}

// TestStartOfDayWhereMidnightIsSkipped: in Santiago the clocks go from
// 23:59:59 on 5 September 2026 to 01:00 on the 6th; the 6th starts at 01:00.
func TestStartOfDayWhereMidnightIsSkipped(t *testing.T) {
	santiago := zone(t, "America/Santiago")
	got := MidnightIn(d("2026-09-06"), santiago)
	if s := got.Format("2006-01-02 15:04 -07"); s != "2026-09-06 01:00 -03" {
		t.Errorf("start of 6 September in Santiago: %s", s)
	}
	if p := (Period{Days: 1}).FromDayIn(MidnightIn(d("2026-09-05"), santiago), santiago); !p.Equal(got) {
		t.Errorf("a day after 5 September: %s, want %s", p, got)
	}
	// An ordinary day, and a day out of range as time.Date allows.
	if got := startOfDay(2026, 3, 32, santiago); got.Format(time.DateTime) != "2026-04-01 00:00:00" {
		t.Errorf("32 March: %s", got)
	}
}

func TestLoadZone(t *testing.T) {
	for _, name := range []string{"", "UTC"} {
		if z := zone(t, name); z != time.UTC {
			t.Errorf("LoadZone(%q) = %v, want time.UTC", name, z)
		}
	}
	for _, name := range []string{"America/Los_Angeles", "Europe/London", "Asia/Tokyo", "Australia/Lord_Howe", "Etc/GMT+5", "America/Argentina/Buenos_Aires"} {
		z := zone(t, name)
		if z.String() != name {
			t.Errorf("LoadZone(%q) is named %q", name, z)
		}
		if zone(t, name) != z {
			t.Errorf("LoadZone(%q) loaded the zone twice", name)
		}
	}
	for name, why := range map[string]string{
		"Europe/Londn":  `unknown time zone "Europe/Londn": give an IANA name such as`,
		"europe/london": "did you mean Europe/London?",
		"Local":         "the machine's, not the property's",
		"PST":           "unknown time zone",
		"../etc/passwd": "unknown time zone",
		"/etc/passwd":   "unknown time zone",
	} {
		if z, err := LoadZone(name); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("LoadZone(%q) = %v, %v; want an error saying %q", name, z, err, why)
		}
	}
}

// TestLoadZoneConcurrently: many goroutines asking for the same zones get
// the same locations (run with -race).
func TestLoadZoneConcurrently(t *testing.T) {
	names := []string{"Pacific/Auckland", "America/Chicago", "Europe/Paris", "Africa/Nairobi"}
	got := make([][]*time.Location, 16)
	var wg sync.WaitGroup
	for g := range got {
		wg.Go(func() {
			for _, name := range names {
				z, err := LoadZone(name)
				if err != nil {
					t.Error(err)
				}
				got[g] = append(got[g], z)
			}
		})
	}
	wg.Wait()
	for g := range got {
		for i := range names {
			if got[g][i] != got[0][i] {
				t.Fatalf("%s loaded twice", names[i])
			}
		}
	}
}

// TestEmbeddedZonesAreTheToolchains: the embedded zones are the Go
// toolchain's own (lib/time/zoneinfo.zip, what time/tzdata embeds). After a
// Go upgrade run go generate ./internal/rules.
func TestEmbeddedZonesAreTheToolchains(t *testing.T) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	zip, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "lib", "time", "zoneinfo.zip"))
	if err != nil {
		t.Skipf("the toolchain has no zoneinfo.zip: %v", err)
	}
	if sum := fmt.Sprintf("%x", sha256.Sum256(zip)); sum != zoneinfoSHA256 {
		t.Errorf("the embedded time zones (tzdata %s) are not this Go toolchain's: run go generate ./internal/rules", zoneinfoRelease)
	}
}
