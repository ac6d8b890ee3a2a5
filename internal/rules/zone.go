package rules

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

//go:generate go run gen_zoneinfo.go

// LoadZone returns the IANA time zone of that name ("America/Los_Angeles",
// "Europe/London"); the empty name and "UTC" are UTC, the zone of a property
// that names none. The zones come from the database embedded in the binary
// (zoneinfo_data.go, the Go toolchain's copy of tzdata), never from the
// machine, so every worker running one binary computes the same deadlines,
// with or without /usr/share/zoneinfo and whatever its version:
// time.LoadLocation would read $ZONEINFO and the system's zoneinfo first,
// and fall back to time/tzdata only where those are missing. Locations are
// loaded once per name and shared; LoadZone is safe for concurrent use and
// deterministic, so workflow code may call it.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	zoneCache.Lock()
	defer zoneCache.Unlock()
	if zone, ok := zoneCache.byName[name]; ok {
		return zone, nil
	}
	db, err := embeddedZones()
	if err != nil {
		return nil, err
	}
	data, err := db.read(name)
	if err != nil {
		return nil, err
	}
	zone, err := time.LoadLocationFromTZData(name, data)
	if err != nil {
		return nil, fmt.Errorf("time zone %s: %w", name, err)
	}
	zoneCache.byName[name] = zone
	return zone, nil
}

// zoneCache holds the zones loaded so far, by name.
var zoneCache = struct {
	sync.Mutex
	byName map[string]*time.Location
}{byName: map[string]*time.Location{}}

// zoneDB is the embedded database: the zip's files by zone name.
type zoneDB struct {
	files   map[string]*zip.File
	byLower map[string]string // "europe/london": "Europe/London", to suggest a spelling
}

// embeddedZones opens the embedded zip once.
var embeddedZones = sync.OnceValues(func() (*zoneDB, error) {
	gz, err := base64.StdEncoding.DecodeString(zoneinfoZip)
	if err != nil {
		return nil, fmt.Errorf("embedded time zones: %w", err)
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("embedded time zones: %w", err)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("embedded time zones: %w", err)
	}
	archive, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, fmt.Errorf("embedded time zones: %w", err)
	}
	db := &zoneDB{files: map[string]*zip.File{}, byLower: map[string]string{}}
	for _, f := range archive.File {
		db.files[f.Name] = f
		db.byLower[strings.ToLower(f.Name)] = f.Name
	}
	return db, nil
})

// read returns the TZif data of a zone, refusing a name the database lacks.
func (db *zoneDB) read(name string) ([]byte, error) {
	f, ok := db.files[name]
	if !ok {
		if name == "Local" {
			return nil, fmt.Errorf("time zone %q is the machine's, not the property's: give an IANA name such as America/Los_Angeles, America/New_York, Europe/London or UTC", name)
		}
		hint := ""
		if spelled, ok := db.byLower[strings.ToLower(strings.TrimSpace(name))]; ok {
			hint = fmt.Sprintf(" (did you mean %s?)", spelled)
		}
		return nil, fmt.Errorf("unknown time zone %q%s: give an IANA name such as America/Los_Angeles, America/New_York, Europe/London or UTC", name, hint)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("time zone %s: %w", name, err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// MidnightIn is the first instant, in zone, of the calendar day date names,
// read in date's own location: a move-out stored as 00:00 UTC of 1 March
// 2026 is 1 March in any zone, 00:00 PST for America/Los_Angeles. A nil zone
// is UTC.
func MidnightIn(date time.Time, zone *time.Location) time.Time {
	if zone == nil {
		zone = time.UTC
	}
	y, m, d := date.Date()
	return startOfDay(y, m, d, zone)
}

// startOfDay is the first instant of a calendar day in zone: 00:00, or the
// end of the clock change where the clocks jump over midnight that day
// (America/Santiago in September: 23:59:59 is followed by 01:00). The day
// may be out of range, as for time.Date: 32 March is 1 April.
func startOfDay(year int, month time.Month, day int, zone *time.Location) time.Time {
	noon := time.Date(year, month, day, 12, 0, 0, 0, zone)
	year, month, day = noon.Date()
	t := time.Date(year, month, day, 0, 0, 0, 0, zone)
	if _, _, d := t.Date(); d != day {
		// time.Date chose the instant before the jump, on the day before.
		_, t = t.ZoneBounds()
		t = t.In(zone)
	}
	return t
}
