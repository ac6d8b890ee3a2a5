package e2e

import (
	"testing"
	"time"
)

// Every malformed manager action gets a clear error (exit 1) and leaves the
// lease's workflow history and its database rows exactly as they were.
func TestBadInputChangesNothing(t *testing.T) {
	lease := "L-e2e-bad"
	must(t, "lease", "start", lease, "--property", "birch", "--unit", "3", "--amount", "800", "--tenant-email", "b@example.com")
	must(t, "payment", "record", lease, "--amount", "800", "--ref", "R1")
	tomorrow := time.Now().Add(72 * time.Hour).UTC().Format(time.DateOnly)
	for _, tc := range []struct {
		name string
		want string
		args []string
	}{
		{"too many decimals", "cents take one or two digits", []string{"payment", "record", lease, "--amount", "12.345"}},
		{"negative amount", "must be positive", []string{"payment", "record", lease, "--amount", "-5"}},
		{"zero amount", "more than zero", []string{"payment", "record", lease, "--amount", "0"}},
		{"not a number", "not an amount", []string{"payment", "record", lease, "--amount", "ten dollars"}},
		{"absurd amount", "larger than", []string{"payment", "record", lease, "--amount", "1000000000"}},
		{"bad grouping", "every three digits", []string{"charge", "add", lease, "--code", "RENT", "--amount", "1,00", "--description", "x"}},
		{"unknown lease", "lease L-nobody does not exist", []string{"payment", "record", "L-nobody", "--amount", "5"}},
		{"future date", "in the future", []string{"payment", "record", lease, "--amount", "5", "--date", tomorrow}},
		{"replayed reference, other amount", "already recorded", []string{"payment", "record", lease, "--amount", "5", "--ref", "R1"}},
		{"unknown charge code", "unknown charge code", []string{"charge", "add", lease, "--code", "PONY", "--amount", "5", "--description", "x"}},
		{"deposit code by hand", "made by depositflow", []string{"charge", "add", lease, "--code", "DEPOSIT", "--amount", "5", "--description", "x"}},
		{"missing description", "description is required", []string{"charge", "add", lease, "--code", "RENT", "--amount", "5"}},
		{"keep before move-out", "no move-out yet", []string{"keep", lease, "--amount", "5", "--reason", "x"}},
		{"extend before move-out", "no move-out yet", []string{"extend", lease}},
		{"release before move-out", "no move-out yet", []string{"release", lease}},
		{"approve with nothing pending", "nothing awaiting approval", []string{"approve", lease}},
		{"approve an item that is not there", "nothing awaiting approval", []string{"approve", lease, "--item", "keep:999999"}},
		{"an item that is no item", "write it as kind:id", []string{"approve", lease, "--item", "everything"}},
		{"pounds for a dollar lease", "is in USD, not GBP", []string{"payment", "record", lease, "--amount", "£5"}},
		{"guarantee without guarantor", "needs its guarantor", []string{"deposit", "amend", lease, "--type", "guarantee", "--amount", "100"}},
		{"unknown deposit type", "choose cash, guarantee or prepaid", []string{"deposit", "amend", lease, "--type", "bitcoin", "--amount", "100"}},
		{"return of an unknown payment", "no payment with reference", []string{"payment", "return", lease, "--ref", "NOPE"}},
		{"bad return reason", "choose one of", []string{"payment", "return", lease, "--ref", "R1", "--reason", "bored"}},
		{"move-out in the future", "in the future", []string{"moveout", lease, "--date", tomorrow}},
		{"bad lease id", "letters, digits", []string{"status", "L 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusedCleanly(t, lease, tc.want, func() result { return deposits(tc.args...) })
		})
	}
	t.Run("a viewer's decision", func(t *testing.T) {
		notAllowedCleanly(t, lease, "needs the manager role", func() result { return asUser(t, "vic", []string{"viewer"}, "hold", lease) })
	})
	t.Run("a viewer's fact", func(t *testing.T) {
		notAllowedCleanly(t, lease, "needs the manager role", func() result {
			return asUser(t, "vic", []string{"viewer"}, "payment", "record", lease, "--amount", "5", "--ref", "V-1")
		})
	})

	// An expired request: a decision on a lease that has closed.
	closed := "L-e2e-bad-closed"
	must(t, "lease", "start", closed, "--property", "birch", "--unit", "4", "--amount", "10", "--tenant-email", "c@example.com",
		"--assess-for", "1s", "--release-after", "1s")
	must(t, "payment", "record", closed, "--amount", "10", "--ref", "R1")
	must(t, "moveout", closed, "--date", now())
	waitClosed(t, closed)
	for _, args := range [][]string{
		{"keep", closed, "--amount", "1", "--reason", "late"}, {"extend", closed}, {"release", closed}, {"hold", closed},
		{"payment", "record", closed, "--amount", "5"}, {"charge", "add", closed, "--code", "RENT", "--amount", "5", "--description", "x"},
	} {
		refusedCleanly(t, closed, "closed", func() result { return deposits(args...) })
	}
}
