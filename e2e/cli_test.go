package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every read command prints an aligned table for people and stable JSON for
// scripts.
func TestReadCommandsInBothFormats(t *testing.T) {
	lease := "L-e2e-formats"
	must(t, "lease", "start", lease, "--property", "fir", "--unit", "9", "--amount", "250", "--tenant-email", "f@example.com")
	must(t, "payment", "record", lease, "--amount", "250", "--ref", "F1")
	for _, tc := range []struct {
		args  []string
		table string // a header or label the table shows
		json  any    // what the JSON decodes into
	}{
		{[]string{"status", lease}, "Cash deposit", &map[string]any{}},
		{[]string{"list", "--property", "fir"}, "RELEASE AT", &[]map[string]any{}},
		{[]string{"audit", lease}, "ACTOR", &[]map[string]any{}},
		{[]string{"ledger", lease}, "Conserved", &map[string]any{}},
		{[]string{"charge", "codes"}, "COUNTS AS", &[]map[string]any{}},
	} {
		out := must(t, tc.args...)
		require.Contains(t, out, tc.table, "%v", tc.args)
		js := must(t, append(tc.args, "-o", "json")...)
		require.NoError(t, json.Unmarshal([]byte(js), tc.json), "%v: %s", tc.args, js)
		refusedWith(t, "choose table or json", append(tc.args, "-o", "xml")...)
	}
	var s map[string]any
	require.NoError(t, json.Unmarshal([]byte(must(t, "status", lease, "-o", "json")), &s))
	for _, key := range []string{"lease_id", "stage", "expected_cents", "received_cents", "deductions_cents", "arrears_cents", "refund_cents", "balance_owed_cents"} {
		require.Contains(t, s, key)
	}
	require.Equal(t, "held", s["stage"])

	// The email preview renders from the live state without sending anything.
	before := len(mailFor(t, lease))
	out := must(t, "email", "preview", "receipt", "--lease", lease, "--text")
	require.Contains(t, out, "Subject: Receipt: your security deposit of $250.00 is held")
	require.Contains(t, must(t, "email", "preview", "notice", "--lease", lease), "<html")
	refusedWith(t, "no email of kind", "email", "preview", "postcard", "--lease", lease)
	require.Len(t, mailFor(t, lease), before)
}
