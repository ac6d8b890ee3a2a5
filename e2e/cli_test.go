package e2e

import (
	"encoding/json"
	"testing"
	"time"

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
		{[]string{"email", "log", lease}, "SENT AGAIN", &[]map[string]any{}},
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

	// The email log says what went out, from the outbox (recorded a moment
	// after the mail server took the message).
	var log []struct {
		Kind            string  `json:"kind"`
		Recipient       string  `json:"recipient"`
		MessageID       string  `json:"message_id"`
		SentAt          *string `json:"sent_at"`
		Attempts        int     `json:"attempts"`
		AttemptsInDoubt int     `json:"attempts_in_doubt"`
	}
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal([]byte(must(t, "email", "log", lease, "-o", "json")), &log))
		return len(log) == 2 && log[0].SentAt != nil && log[1].SentAt != nil
	}, 30*time.Second, 200*time.Millisecond, "two emails recorded sent")
	for i, kind := range []string{"request", "receipt"} {
		require.Equal(t, kind, log[i].Kind)
		require.Equal(t, "f@example.com", log[i].Recipient)
		require.Equal(t, 1, log[i].Attempts)
		require.Equal(t, 0, log[i].AttemptsInDoubt)
	}
	require.Contains(t, must(t, "email", "log", lease), "<"+log[1].MessageID+">")
	refusedWith(t, "lease L-e2e-nobody does not exist", "email", "log", "L-e2e-nobody")

	// The email preview renders from the live state without sending anything.
	before := len(mailFor(t, lease))
	out := must(t, "email", "preview", "receipt", "--lease", lease, "--text")
	require.Contains(t, out, "Subject: Receipt: your security deposit of $250.00 is held")
	require.Contains(t, must(t, "email", "preview", "notice", "--lease", lease), "<html")
	refusedWith(t, "no email of kind", "email", "preview", "postcard", "--lease", lease)
	require.Len(t, mailFor(t, lease), before)
}
