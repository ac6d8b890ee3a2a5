package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/workflows"
)

// startServe runs `deposits serve` for one test and returns its base URL.
func startServe(t *testing.T) string {
	t.Helper()
	addr, err := freeAddr()
	require.NoError(t, err)
	cmd := exec.Command(bin, "serve", "--listen", addr)
	cmd.Env = cliEnv
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("deposits serve:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 50*time.Millisecond, "deposits serve did not come up:\n%s", &logs)
	// Called through the validator of api/openapi.yaml.
	watchContract(t)
	url, stop, err := checked(url)
	require.NoError(t, err)
	t.Cleanup(stop)
	return url
}

// newKey makes an API key with the CLI, scoped to properties.
func newKey(t *testing.T, name string, properties ...string) string {
	t.Helper()
	args := []string{"apikey", "create", "--name", name}
	for _, p := range properties {
		args = append(args, "--property", p)
	}
	return strings.TrimSpace(must(t, args...))
}

type answer struct {
	status int
	body   map[string]any
	raw    string
	took   time.Duration
}

func (a answer) errCode() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (a answer) errField() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

// call sends a request; body is a string (sent as is) or a value (as JSON).
func call(t *testing.T, method, url, key string, body any) answer {
	t.Helper()
	watchContract(t)
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		require.NoError(t, err)
		r = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, raw: string(raw), took: time.Since(start)}
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s: %s", method, url, raw)
	require.NoError(t, json.Unmarshal(raw, &a.body), "%s %s: %s", method, url, raw)
	return a
}

func expect(t *testing.T, a answer, status int, msg ...any) answer {
	t.Helper()
	require.Equal(t, status, a.status, append([]any{"answer: %s"}, a.raw)...)
	_ = msg
	return a
}

// fingerprint is a digest of every fact table a request could change (not
// the columns the workflow itself keeps up to date).
func fingerprint(t *testing.T) string {
	t.Helper()
	var parts []string
	for _, q := range []string{
		"SELECT property_id, name, manager_email, nsf_fee_cents FROM properties",
		"SELECT property_id, unit_id FROM units",
		"SELECT listing_id, property_id, unit_id, deposit_amount_in_cents FROM listings",
		"SELECT resident_id, email, name, forwarding_address, realized_move_out_date, property_id, external_id FROM residents",
		"SELECT lease_id, property_id, unit_id, listing_id, resident_id, requested_cents, assess_for_seconds, release_after_seconds FROM leases",
		"SELECT * FROM lease_residents",
		"SELECT payment_id, lease_id, amount_in_cents, transaction_date, reference, returned_at FROM payments",
		"SELECT charge_id, lease_id, charge_code_id, amount_in_cents, description, idempotency_key FROM charges",
		"SELECT deposit_id, lease_id, amount_in_cents FROM deposits",
		"SELECT api_key_id, revoked_at FROM api_keys",
	} {
		var s string
		require.NoError(t, pool.QueryRow(context.Background(),
			"SELECT md5(COALESCE(string_agg(t::text, ',' ORDER BY t::text), '')) FROM ("+q+") t").Scan(&s))
		parts = append(parts, s)
	}
	return strings.Join(parts, ":")
}

func today() string { return time.Now().UTC().Format(time.DateOnly) }

// Every endpoint through the real `deposits serve` on the real stack: upserts,
// a lease, payments, a charge, a returned payment, the move-out and the
// reads; every duplicate post is accepted and changes nothing; every
// authentication failure and bad-input class is a 4xx with a JSON error and
// leaves the database exactly as it was.
func TestAPIEndpoints(t *testing.T) {
	url := startServe(t)
	key := newKey(t, "pms-pine", "pine")
	other := newKey(t, "pms-oak", "oak")
	lease := "L-api-1"
	var lat []time.Duration
	ok := func(a answer, status int) answer {
		t.Helper()
		lat = append(lat, a.took)
		return expect(t, a, status)
	}

	// Upserts.
	p := ok(call(t, "POST", url+"/v1/properties", key, map[string]any{"property_id": "pine", "name": "Pine Court", "manager_email": "m@pine.example"}), 200)
	require.Equal(t, "Pine Court", p.body["name"])
	ok(call(t, "POST", url+"/v1/properties", key, map[string]any{"property_id": "pine"}), 200) // name kept
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM properties WHERE property_id = 'pine' AND name = 'Pine Court'"))
	ok(call(t, "POST", url+"/v1/units", key, map[string]any{"property_id": "pine", "unit_id": "1A"}), 200)
	ok(call(t, "POST", url+"/v1/listings", key, map[string]any{"listing_id": "LST-P1", "property_id": "pine", "unit_id": "1A", "deposit_amount_in_cents": 120000}), 200)
	ok(call(t, "POST", url+"/v1/residents", key, map[string]any{"resident_id": "R-1", "property_id": "pine", "email": "ria@example.com", "name": "Ria"}), 200)
	ok(call(t, "POST", url+"/v1/residents", key, map[string]any{"resident_id": "R-2", "property_id": "pine", "email": "sam@example.com", "name": "Sam"}), 200)
	ok(call(t, "POST", url+"/v1/residents", key, map[string]any{"resident_id": "R-2", "property_id": "pine", "email": "sam@example.com", "name": "Sam"}), 200)

	// The lease: started once, the same post again unchanged.
	body := map[string]any{"lease_id": lease, "property_id": "pine", "unit_id": "1A", "listing_id": "LST-P1", "resident_ids": []string{"R-1", "R-2"}, "shares": []int{1, 1}}
	a := ok(call(t, "POST", url+"/v1/leases", key, body), 201)
	require.Equal(t, "started", a.body["status"])
	require.Equal(t, "deposit-"+lease, a.body["workflow_id"])
	a = ok(call(t, "POST", url+"/v1/leases", key, body), 200)
	require.Equal(t, "unchanged", a.body["status"])
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM leases WHERE lease_id = $1", lease))
	require.Eventually(t, func() bool {
		return count(t, "SELECT count(*) FROM charges WHERE lease_id = $1 AND charge_code_id = 'DEPOSIT'", lease) == 1
	}, 20*time.Second, 50*time.Millisecond)

	// A payment, then the same one again.
	pay := map[string]any{"payment_id": "P-1", "transaction_date": today(), "resident_id": "R-2", "amount_in_cents": 70000}
	a = ok(call(t, "POST", url+"/v1/leases/"+lease+"/payments", key, pay), 201)
	require.Equal(t, "recorded", a.body["status"])
	require.Equal(t, true, a.body["signalled"])
	before := fingerprint(t)
	a = ok(call(t, "POST", url+"/v1/leases/"+lease+"/payments", key, pay), 200)
	require.Equal(t, "unchanged", a.body["status"])
	require.Equal(t, before, fingerprint(t))
	ok(call(t, "POST", url+"/v1/leases/"+lease+"/payments", key, map[string]any{"payment_id": "P-2", "transaction_date": today(), "amount_in_cents": 50000}), 201)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM payments p JOIN residents r USING (resident_id) WHERE p.lease_id = $1 AND p.reference = 'P-1' AND r.external_id = 'R-2'", lease))

	// The state, read through the API.
	var st deposit.State
	require.Eventually(t, func() bool {
		a := call(t, "GET", url+"/v1/leases/"+lease, key, nil)
		b, _ := json.Marshal(a.body)
		_ = json.Unmarshal(b, &st)
		return a.status == 200 && st.Stage == deposit.StageHeld
	}, 20*time.Second, 100*time.Millisecond)
	require.EqualValues(t, 120000, st.ExpectedCents)
	require.EqualValues(t, 120000, st.PaidCents)
	require.Len(t, st.Tenants, 2)

	// A charge, once.
	charge := map[string]any{"charge_id": "C-1", "charge_code_id": "UTILITIES", "amount_in_cents": 4550, "description": "Water, March"}
	a = ok(call(t, "POST", url+"/v1/leases/"+lease+"/charges", key, charge), 201)
	require.Equal(t, "arrears", a.body["category"])
	before = fingerprint(t)
	require.Equal(t, "unchanged", ok(call(t, "POST", url+"/v1/leases/"+lease+"/charges", key, charge), 200).body["status"])
	require.Equal(t, before, fingerprint(t))

	// A returned payment, once: the NSF fee is charged.
	a = ok(call(t, "POST", url+"/v1/leases/"+lease+"/payments/P-2/return", key, map[string]any{"reason": "nsf"}), 201)
	require.EqualValues(t, 2500, a.body["nsf_fee_in_cents"])
	before = fingerprint(t)
	require.Equal(t, "unchanged", ok(call(t, "POST", url+"/v1/leases/"+lease+"/payments/P-2/return", key, map[string]any{}), 200).body["status"])
	require.Equal(t, before, fingerprint(t))

	// The move-out, once; another date is refused.
	ok(call(t, "POST", url+"/v1/leases/"+lease+"/move-out", key, map[string]any{"realized_move_out_date": today()}), 201)
	before = fingerprint(t)
	require.Equal(t, "unchanged", ok(call(t, "POST", url+"/v1/leases/"+lease+"/move-out", key, map[string]any{"realized_move_out_date": today()}), 200).body["status"])
	a = ok(call(t, "POST", url+"/v1/leases/"+lease+"/move-out", key, map[string]any{"realized_move_out_date": "2025-01-01"}), 409)
	require.Equal(t, "already_moved_out", a.errCode())
	require.Equal(t, before, fingerprint(t))

	// The tenant's written forwarding address, once; a blank one or a future day is refused.
	fwd := map[string]any{"forwarding_address": "9 Birch Rd, Austin TX", "received_date": today()}
	ok(call(t, "POST", url+"/v1/leases/"+lease+"/forwarding-address", key, fwd), 201)
	before = fingerprint(t)
	require.Equal(t, "unchanged", ok(call(t, "POST", url+"/v1/leases/"+lease+"/forwarding-address", key, fwd), 200).body["status"])
	require.Equal(t, "missing_field", ok(call(t, "POST", url+"/v1/leases/"+lease+"/forwarding-address", key,
		map[string]any{"forwarding_address": " ", "received_date": today()}), 422).errCode())
	ok(call(t, "POST", url+"/v1/leases/"+lease+"/forwarding-address", key, map[string]any{"forwarding_address": "x", "received_date": "2099-01-01"}), 422)
	require.Equal(t, before, fingerprint(t))

	require.Eventually(t, func() bool {
		a := call(t, "GET", url+"/v1/leases/"+lease, key, nil)
		b, _ := json.Marshal(a.body)
		_ = json.Unmarshal(b, &st)
		return !st.MovedOutAt.IsZero() && st.PaidCents == 70000 && st.ArrearsCents == 4550+2500
	}, 20*time.Second, 100*time.Millisecond, "state: %+v", st)

	a = ok(call(t, "GET", url+"/v1/leases/"+lease+"/invoices", key, nil), 200)
	require.Equal(t, lease, a.body["lease_id"])
	require.NotNil(t, a.body["invoices"])

	// Authentication and scope.
	revoked := newKey(t, "pms-gone", "pine")
	must(t, "apikey", "revoke", "pms-gone")
	require.Contains(t, must(t, "apikey", "list"), "pms-pine")
	require.NotContains(t, must(t, "apikey", "list", "-o", "json"), key) // never the key itself
	// Only the key's SHA-256 is stored.
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM api_keys WHERE key_hash = sha256(convert_to($1, 'UTF8'))", key))
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM api_keys t WHERE strpos(t::text, $1) > 0", key))

	before = fingerprint(t)
	goodPay := map[string]any{"payment_id": "P-9", "transaction_date": today(), "amount_in_cents": 100}
	for _, tc := range []struct {
		name, key, method, path string
		body                    any
		status                  int
		code                    string
	}{
		{"no key", "", "POST", "/v1/leases/" + lease + "/payments", goodPay, 401, "unauthenticated"},
		{"unknown key", "dfk_nope", "POST", "/v1/leases/" + lease + "/payments", goodPay, 401, "unauthenticated"},
		{"revoked key", revoked, "POST", "/v1/leases/" + lease + "/payments", goodPay, 401, "unauthenticated"},
		{"other property's lease", other, "POST", "/v1/leases/" + lease + "/payments", goodPay, 404, "lease_not_found"},
		{"other property's read", other, "GET", "/v1/leases/" + lease, nil, 404, "lease_not_found"},
		{"other property's invoices", other, "GET", "/v1/leases/" + lease + "/invoices", nil, 404, "lease_not_found"},
		{"other property upsert", other, "POST", "/v1/properties", map[string]any{"property_id": "pine", "name": "Mine"}, 403, "forbidden"},
		{"other property resident", other, "POST", "/v1/residents", map[string]any{"resident_id": "R-1", "property_id": "pine", "email": "evil@example.com"}, 403, "forbidden"},
		{"other property lease", other, "POST", "/v1/leases", map[string]any{"lease_id": "L-api-x", "property_id": "pine", "unit_id": "1A", "deposit_amount_in_cents": 100, "resident_ids": []string{"R-1"}}, 403, "forbidden"},

		{"bad JSON", key, "POST", "/v1/leases/" + lease + "/payments", `{"payment_id": "P-9",`, 400, "bad_json"},
		{"empty body", key, "POST", "/v1/leases/" + lease + "/payments", ``, 400, "bad_json"},
		{"two objects", key, "POST", "/v1/leases/" + lease + "/payments", `{"payment_id": "P-9"} {}`, 400, "bad_json"},
		{"not an object", key, "POST", "/v1/leases/" + lease + "/payments", `[1, 2]`, 400, "wrong_type"},
		{"unknown field", key, "POST", "/v1/leases/" + lease + "/payments", `{"payment_id": "P-9", "transaction_date": "` + today() + `", "amount_in_cents": 100, "amount": 1}`, 400, "unknown_field"},
		{"amount as a string", key, "POST", "/v1/leases/" + lease + "/payments", `{"payment_id": "P-9", "transaction_date": "` + today() + `", "amount_in_cents": "100"}`, 400, "wrong_type"},
		{"amount with decimals", key, "POST", "/v1/leases/" + lease + "/payments", `{"payment_id": "P-9", "transaction_date": "` + today() + `", "amount_in_cents": 12.5}`, 400, "wrong_type"},
		{"amount beyond int64", key, "POST", "/v1/leases/" + lease + "/payments", `{"payment_id": "P-9", "transaction_date": "` + today() + `", "amount_in_cents": 1e30}`, 400, "wrong_type"},
		{"id as a number", key, "POST", "/v1/leases/" + lease + "/payments", `{"payment_id": 9, "transaction_date": "` + today() + `", "amount_in_cents": 100}`, 400, "wrong_type"},
		{"body too large", key, "POST", "/v1/leases/" + lease + "/charges", `{"charge_id": "C-9", "charge_code_id": "RENT", "amount_in_cents": 1, "description": "` + strings.Repeat("x", 70000) + `"}`, 413, "body_too_large"},
		{"negative amount", key, "POST", "/v1/leases/" + lease + "/payments", map[string]any{"payment_id": "P-9", "transaction_date": today(), "amount_in_cents": -100}, 422, "amount_negative"},
		{"zero amount", key, "POST", "/v1/leases/" + lease + "/payments", map[string]any{"payment_id": "P-9", "transaction_date": today(), "amount_in_cents": 0}, 422, "amount_zero"},
		{"absurd amount", key, "POST", "/v1/leases/" + lease + "/payments", map[string]any{"payment_id": "P-9", "transaction_date": today(), "amount_in_cents": 1000000001}, 422, "amount_too_large"},
		{"absurd charge", key, "POST", "/v1/leases/" + lease + "/charges", map[string]any{"charge_id": "C-9", "charge_code_id": "RENT", "amount_in_cents": 99999999999, "description": "x"}, 422, "amount_too_large"},
		{"negative deposit", key, "POST", "/v1/listings", map[string]any{"listing_id": "LST-P1", "property_id": "pine", "unit_id": "1A", "deposit_amount_in_cents": -1}, 422, "amount_negative"},
		{"payment id with a space", key, "POST", "/v1/leases/" + lease + "/payments", map[string]any{"payment_id": "P 9", "transaction_date": today(), "amount_in_cents": 100}, 422, "invalid_id"},
		{"pounds for a dollar lease", key, "POST", "/v1/leases/" + lease + "/payments", map[string]any{"payment_id": "P-9", "amount_in_cents": 100, "currency": "GBP"}, 422, "wrong_currency"},
		{"a decision by an integration", key, "POST", "/v1/leases/" + lease + "/release", map[string]any{}, 403, "forbidden"},
		{"bad date", key, "POST", "/v1/leases/" + lease + "/payments", map[string]any{"payment_id": "P-9", "transaction_date": "2026-13-01", "amount_in_cents": 100}, 422, "invalid"},
		{"future date", key, "POST", "/v1/leases/" + lease + "/payments", map[string]any{"payment_id": "P-9", "transaction_date": time.Now().Add(72 * time.Hour).UTC().Format(time.DateOnly), "amount_in_cents": 100}, 422, "invalid"},
		{"resident of no lease", key, "POST", "/v1/leases/" + lease + "/payments", map[string]any{"payment_id": "P-9", "transaction_date": today(), "resident_id": "R-404", "amount_in_cents": 100}, 422, "unknown_resident"},
		{"same payment id, other amount", key, "POST", "/v1/leases/" + lease + "/payments", map[string]any{"payment_id": "P-1", "transaction_date": today(), "resident_id": "R-2", "amount_in_cents": 70001}, 409, "duplicate_reference"},
		{"unknown lease", key, "POST", "/v1/leases/L-nobody/payments", goodPay, 404, "lease_not_found"},
		{"unknown lease read", key, "GET", "/v1/leases/L-nobody", nil, 404, "lease_not_found"},
		{"bad lease id", key, "POST", "/v1/leases/L%20x/payments", goodPay, 422, "invalid_id"},
		{"unknown charge code", key, "POST", "/v1/leases/" + lease + "/charges", map[string]any{"charge_id": "C-9", "charge_code_id": "PONY", "amount_in_cents": 100, "description": "x"}, 422, "unknown_charge_code"},
		{"deposit charge code", key, "POST", "/v1/leases/" + lease + "/charges", map[string]any{"charge_id": "C-9", "charge_code_id": "DEPOSIT", "amount_in_cents": 100, "description": "x"}, 422, "deposit_charge_code"},
		{"missing description", key, "POST", "/v1/leases/" + lease + "/charges", map[string]any{"charge_id": "C-9", "charge_code_id": "RENT", "amount_in_cents": 100}, 422, "missing_field"},
		{"same charge id, other amount", key, "POST", "/v1/leases/" + lease + "/charges", map[string]any{"charge_id": "C-1", "charge_code_id": "UTILITIES", "amount_in_cents": 1, "description": "Water, March"}, 409, "duplicate_reference"},
		{"return of an unknown payment", key, "POST", "/v1/leases/" + lease + "/payments/P-404/return", map[string]any{"reason": "nsf"}, 404, "payment_not_found"},
		{"bad return reason", key, "POST", "/v1/leases/" + lease + "/payments/P-1/return", map[string]any{"reason": "bored"}, 422, "invalid"},
		{"move-out on no day", key, "POST", "/v1/leases/" + lease + "/move-out", map[string]any{"realized_move_out_date": "2026-02-30"}, 422, "invalid_date"},
		{"lease of an unknown resident", key, "POST", "/v1/leases", map[string]any{"lease_id": "L-api-x", "property_id": "pine", "unit_id": "1A", "deposit_amount_in_cents": 100, "resident_ids": []string{"R-404"}}, 422, "unknown_resident"},
		{"lease without a deposit", key, "POST", "/v1/leases", map[string]any{"lease_id": "L-api-x", "property_id": "pine", "unit_id": "1A", "resident_ids": []string{"R-1"}}, 422, "invalid"},
		{"lease without residents", key, "POST", "/v1/leases", map[string]any{"lease_id": "L-api-x", "property_id": "pine", "unit_id": "1A", "deposit_amount_in_cents": 100}, 422, "missing_field"},
		{"lease of an absurd deposit", key, "POST", "/v1/leases", map[string]any{"lease_id": "L-api-x", "property_id": "pine", "unit_id": "1A", "deposit_amount_in_cents": 1000000001, "resident_ids": []string{"R-1"}}, 422, "amount_too_large"},
		{"lease with an unknown listing", key, "POST", "/v1/leases", map[string]any{"lease_id": "L-api-x", "property_id": "pine", "unit_id": "1A", "listing_id": "LST-404", "resident_ids": []string{"R-1"}}, 404, "listing_not_found"},
		{"lease of a release too late", key, "POST", "/v1/leases", map[string]any{"lease_id": "L-api-x", "property_id": "pine", "unit_id": "1A", "deposit_amount_in_cents": 100, "resident_ids": []string{"R-1"}, "release_after_seconds": 99999999}, 422, "invalid"},
		{"same lease id, other unit", key, "POST", "/v1/leases", map[string]any{"lease_id": lease, "property_id": "pine", "unit_id": "2B", "deposit_amount_in_cents": 100, "resident_ids": []string{"R-1"}}, 409, "lease_exists"},
		{"resident with a bad email", key, "POST", "/v1/residents", map[string]any{"resident_id": "R-1", "property_id": "pine", "email": "not-an-email"}, 422, "invalid"},
		{"property with a bad id", key, "POST", "/v1/properties", map[string]any{"property_id": "pine tree"}, 422, "invalid_id"},
		{"unknown route", key, "POST", "/v1/leases/" + lease + "/no-such-thing", map[string]any{}, 404, "not_found"},
		// Money moved by hand is a person's: an integration may not (#16).
		{"integration refunds", key, "POST", "/v1/leases/" + lease + "/refunds", map[string]any{"amount_in_cents": 100}, 403, "forbidden"},
		{"integration transfers", key, "POST", "/v1/leases/" + lease + "/transfers", map[string]any{"to_lease_id": "L-x"}, 403, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			audited := count(t, "SELECT count(*) FROM audit_log WHERE accepted = false")
			a := call(t, tc.method, url+tc.path, tc.key, tc.body)
			require.Equal(t, tc.status, a.status, a.raw)
			require.Equal(t, tc.code, a.errCode(), a.raw)
			e := a.body["error"].(map[string]any)
			require.NotEmpty(t, e["message"])
			require.Equal(t, before, fingerprint(t), "a refused request changed the database")
			if tc.status != 404 || tc.code != "not_found" { // an unknown route is no request at all
				require.EqualValues(t, audited+1, count(t, "SELECT count(*) FROM audit_log WHERE accepted = false"), "every refusal is audited, once")
			}
		})
	}
	// The fields of wrong types and unknown fields are named.
	require.Equal(t, "amount_in_cents", call(t, "POST", url+"/v1/leases/"+lease+"/payments", key, `{"amount_in_cents": "1"}`).errField())
	require.Equal(t, "amount", call(t, "POST", url+"/v1/leases/"+lease+"/payments", key, `{"amount": 1}`).errField())
	require.Equal(t, before, fingerprint(t))
	require.EqualValues(t, 5, count(t, "SELECT count(*) FROM audit_log WHERE principal = 'key:pms-pine' AND lease_id = $1 AND accepted AND action IN ('payment.record', 'charge.add')", lease))
	// Every refusal names who was refused, from where.
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM audit_log WHERE NOT accepted AND principal NOT IN ('key:pms-pine', 'key:pms-oak', 'anonymous:') AND lease_id = $1", lease))
	require.EqualValues(t, 0, count(t, "SELECT count(*) FROM audit_log WHERE NOT accepted AND origin = '' AND lease_id = $1", lease))

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("API write latency over %d requests: p50 %v, p95 %v, max %v", len(lat), lat[len(lat)/2], lat[len(lat)*95/100], lat[len(lat)-1])
}

// Only the API drives a lease: from the PMS's first upserts to the refund,
// whose email the tenant receives and whose payout the PMS reads as an invoice.
func TestAPIDrivesLeaseToRefund(t *testing.T) {
	url := startServe(t)
	key := newKey(t, "pms-cedar", "cedar")
	lease := "L-api-refund"
	expect(t, call(t, "POST", url+"/v1/properties", key, map[string]any{"property_id": "cedar", "name": "Cedar Flats"}), 200)
	expect(t, call(t, "POST", url+"/v1/units", key, map[string]any{"property_id": "cedar", "unit_id": "9"}), 200)
	expect(t, call(t, "POST", url+"/v1/listings", key, map[string]any{"listing_id": "LST-C9", "property_id": "cedar", "unit_id": "9", "deposit_amount_in_cents": 90000}), 200)
	expect(t, call(t, "POST", url+"/v1/residents", key, map[string]any{"resident_id": "T-1", "property_id": "cedar", "email": "tia@example.com", "name": "Tia Moss", "forwarding_address": "1 New Rd"}), 200)
	expect(t, call(t, "POST", url+"/v1/leases", key, map[string]any{"lease_id": lease, "property_id": "cedar", "unit_id": "9", "listing_id": "LST-C9",
		"resident_ids": []string{"T-1"}, "assess_for_seconds": 2, "release_after_seconds": 3}), 201)
	expect(t, call(t, "POST", url+"/v1/leases/"+lease+"/payments", key, map[string]any{"payment_id": "PMT-1", "transaction_date": today(), "resident_id": "T-1", "amount_in_cents": 90000}), 201)
	require.Eventually(t, func() bool {
		a := call(t, "GET", url+"/v1/leases/"+lease, key, nil)
		return a.body["stage"] == deposit.StageHeld
	}, 20*time.Second, 100*time.Millisecond)
	// The final charge, then the move-out (its date counts from 00:00 UTC,
	// so the short windows have passed and the deposit is released at once).
	expect(t, call(t, "POST", url+"/v1/leases/"+lease+"/charges", key, map[string]any{"charge_id": "INV-7", "charge_code_id": "CLEANING", "amount_in_cents": 12000, "description": "Oven cleaning"}), 201)
	expect(t, call(t, "POST", url+"/v1/leases/"+lease+"/move-out", key, map[string]any{"realized_move_out_date": today()}), 201)

	var st deposit.State
	require.Eventually(t, func() bool {
		a := call(t, "GET", url+"/v1/leases/"+lease, key, nil)
		b, _ := json.Marshal(a.body)
		_ = json.Unmarshal(b, &st)
		return st.Stage == deposit.StageClosed
	}, 60*time.Second, 200*time.Millisecond)
	require.Equal(t, deposit.OutcomePartiallyRefunded, st.Outcome)
	require.EqualValues(t, 78000, st.RefundCents)

	a := expect(t, call(t, "GET", url+"/v1/leases/"+lease+"/invoices", key, nil), 200)
	inv := a.body["invoices"].([]any)
	require.Len(t, inv, 1)
	first := inv[0].(map[string]any)
	require.Equal(t, "refund", first["kind"])
	require.EqualValues(t, 78000, first["amount_due_in_cents"])
	require.Equal(t, map[string]any{"name": "Tia Moss", "email": "tia@example.com", "address": "1 New Rd"}, first["recipient"])
	// The same refund in the list of what the PMS must pay across its leases.
	a = expect(t, call(t, "GET", url+"/v1/invoices?status=open", key, nil), 200)
	open := a.body["invoices"].([]any)
	require.Len(t, open, 1)
	require.Equal(t, first["invoice_id"], open[0].(map[string]any)["invoice_id"])
	require.Equal(t, lease, open[0].(map[string]any)["lease_id"])

	mails := waitMail(t, lease, 4)
	require.Equal(t, "Your deposit refund of $780.00 has been issued", mails[len(mails)-1].Subject)
	require.Contains(t, mails[len(mails)-1].Text, "Oven cleaning")
	// A closed lease refuses new facts.
	a = call(t, "POST", url+"/v1/leases/"+lease+"/payments", key, map[string]any{"payment_id": "PMT-2", "transaction_date": today(), "amount_in_cents": 100})
	require.Equal(t, 409, a.status, a.raw)
	require.Equal(t, "lease_closed", a.errCode())
}

// An error is RFC 9457 problem details to a client that asks for them
// (Accept: application/problem+json), and {"error": {...}} to any other, as
// before: the same refusal, audited once each time, nothing changed.
func TestErrorsAsProblemDetails(t *testing.T) {
	key := newKey(t, "pms-problems", "pine")
	send := func(accept, auth, path, body string) (*http.Response, map[string]any) {
		req, err := http.NewRequest("POST", serverURL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp, out
	}
	watchContract(t)
	before := fingerprint(t)
	refusals := count(t, "SELECT count(*) FROM audit_log WHERE principal = 'key:pms-problems' AND NOT accepted")
	for _, accept := range []string{"application/problem+json", "application/json, application/problem+json", "application/problem+json; q=0.9, */*; q=0.1"} {
		resp, p := send(accept, key, "/v1/leases/L-nobody/payments", `{"payment_id": "P-1", "amount_in_cents": -5}`)
		require.Equal(t, 422, resp.StatusCode)
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		require.Equal(t, map[string]any{"type": "urn:depositflow:problem:amount_negative", "title": "Amount negative", "status": float64(422),
			"detail": "amount_in_cents must not be negative", "instance": "/v1/leases/L-nobody/payments", "code": "amount_negative",
			"field": "amount_in_cents", "request_id": resp.Header.Get("X-Request-Id")}, p)
	}
	for _, accept := range []string{"", "application/json", "*/*", "application/json, application/problem+json; q=0.5"} {
		resp, e := send(accept, key, "/v1/leases/L-nobody/payments", `{"payment_id": "P-1", "amount_in_cents": -5}`)
		require.Equal(t, 422, resp.StatusCode)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.Equal(t, map[string]any{"error": map[string]any{"code": "amount_negative", "message": "amount_in_cents must not be negative",
			"field": "amount_in_cents"}}, e)
	}
	resp, p := send("application/problem+json", key, "/v1/leases/L-nobody/payments", `{"amount_in_cents": 5}`)
	require.Equal(t, 404, resp.StatusCode)
	require.Equal(t, "lease_not_found", p["code"])
	resp, p = send("application/problem+json", "", "/v1/leases/L-nobody/payments", `{"amount_in_cents": 5}`)
	require.Equal(t, 401, resp.StatusCode)
	require.Equal(t, `Bearer realm="depositflow"`, resp.Header.Get("WWW-Authenticate"))
	require.Equal(t, "urn:depositflow:problem:unauthenticated", p["type"])
	resp, p = send("application/problem+json", key, "/v1/leases/L-nobody/teleport", `{}`)
	require.Equal(t, 404, resp.StatusCode)
	require.Equal(t, "not_found", p["code"])
	require.Equal(t, before, fingerprint(t), "a refusal changed the database")
	require.EqualValues(t, refusals+8, count(t, "SELECT count(*) FROM audit_log WHERE principal = 'key:pms-problems' AND NOT accepted"), "every refusal is audited, in either shape")
}

type reconcileReport struct {
	Checked, Found, Fixed, Started, Errors int
	Advanced                               bool `json:"watermark_advanced"`
	Leases                                 []struct {
		LeaseID string   `json:"lease_id"`
		Fixed   []string `json:"fixed"`
	} `json:"leases"`
}

func reconcileOnce(t *testing.T, args ...string) (reconcileReport, time.Duration) {
	t.Helper()
	start := time.Now()
	out := must(t, append([]string{"reconcile", "-o", "json"}, args...)...)
	took := time.Since(start)
	var r reconcileReport
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	return r, took
}

func (r reconcileReport) fixed(lease string) []string {
	for _, l := range r.Leases {
		if l.LeaseID == lease {
			return l.Fixed
		}
	}
	return nil
}

// Facts written only to the database (a payment by SQL, a move-out date by
// SQL, a lease with no workflow) are found by one reconcile pass and told to
// the workflows; a second pass finds nothing to fix.
func TestReconcilePicksUpWhatWasNotSignalled(t *testing.T) {
	ctx := context.Background()
	// The schedule `deposits setup` made runs every 15 minutes; pause it so
	// that this test's passes are the only ones.
	h := temporal.ScheduleClient().GetHandle(ctx, workflows.ReconcileScheduleID)
	desc, err := h.Describe(ctx)
	require.NoError(t, err)
	require.Equal(t, 15*time.Minute, desc.Schedule.Spec.Intervals[0].Every)
	require.NoError(t, h.Pause(ctx, client.SchedulePauseOptions{Note: "paused by TestReconcilePicksUpWhatWasNotSignalled"}))
	t.Cleanup(func() { _ = h.Unpause(ctx, client.ScheduleUnpauseOptions{}) })

	// Everything earlier tests left is reconciled first.
	first, _ := reconcileOnce(t)
	require.Zero(t, first.Errors)

	lease := "L-rec-sql"
	must(t, "lease", "start", lease, "--property", "elm", "--unit", "2", "--amount", "500", "--tenant-email", "eli@example.com")
	waitFor := func(cond func(deposit.State) bool) deposit.State {
		var s deposit.State
		require.Eventually(t, func() bool { s = status(t, lease); return cond(s) }, 20*time.Second, 100*time.Millisecond)
		return s
	}
	waitFor(func(s deposit.State) bool { return s.ExpectedCents == 50000 })

	// A payment and a move-out written straight to the database, and a lease
	// with no workflow at all.
	_, err = pool.Exec(ctx, `INSERT INTO payments (lease_id, resident_id, amount_in_cents, transaction_date, reference, created_by)
		SELECT lease_id, resident_id, 50000, (now() AT TIME ZONE 'UTC')::date, 'SQL-1', 'psql' FROM leases WHERE lease_id = $1`, lease)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE leases SET realized_move_out_at = date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
		WHERE lease_id = $1`, lease)
	require.NoError(t, err)
	orphan := "L-rec-orphan"
	_, err = pool.Exec(ctx, `WITH p AS (INSERT INTO properties (property_id) VALUES ('elm') ON CONFLICT DO NOTHING),
		u AS (INSERT INTO units (property_id, unit_id) VALUES ('elm', '3') ON CONFLICT DO NOTHING),
		r AS (INSERT INTO residents (email, name) VALUES ('ola@example.com', 'Ola') RETURNING resident_id),
		l AS (INSERT INTO leases (lease_id, property_id, unit_id, resident_id, requested_cents, assess_for_seconds, release_after_seconds)
		      SELECT $1, 'elm', '3', resident_id, 30000, 3600, 7200 FROM r RETURNING lease_id, resident_id)
		INSERT INTO lease_residents (lease_id, resident_id, position) SELECT lease_id, resident_id, 1 FROM l`, orphan)
	require.NoError(t, err)
	require.Equal(t, int64(0), status(t, lease).PaidCents, "nothing was signalled")

	rep, took := reconcileOnce(t)
	t.Logf("reconcile pass with fixes: %v (%+v)", took, rep)
	require.Zero(t, rep.Errors)
	require.True(t, rep.Advanced)
	require.ElementsMatch(t, []string{"payment SQL-1", "move-out " + today()}, rep.fixed(lease))
	require.Equal(t, []string{"started workflow deposit-" + orphan}, rep.fixed(orphan))
	require.GreaterOrEqual(t, rep.Fixed, 3)
	require.Equal(t, 1, rep.Started)

	s := waitFor(func(s deposit.State) bool { return s.PaidCents == 50000 && !s.MovedOutAt.IsZero() })
	require.Equal(t, "SQL-1", s.Payments[0].Reference)
	require.Eventually(t, func() bool { return status(t, orphan).ExpectedCents == 30000 }, 20*time.Second, 100*time.Millisecond)

	// Idempotent: the next passes (on a worker, then in-process) fix nothing.
	again, took := reconcileOnce(t)
	t.Logf("reconcile pass with nothing to fix: %v (%+v)", took, again)
	require.Zero(t, again.Fixed)
	require.Zero(t, again.Errors)
	local, _ := reconcileOnce(t, "--local")
	require.Zero(t, local.Fixed)
	full, _ := reconcileOnce(t, "--full", "--local")
	require.Nil(t, full.fixed(lease))
	require.Nil(t, full.fixed(orphan))

	// The table output says what it found and fixed.
	_, err = pool.Exec(ctx, `INSERT INTO charges (lease_id, resident_id, charge_code_id, amount_in_cents, description)
		SELECT lease_id, resident_id, 'DAMAGE', 1000, 'Chipped tile' FROM leases WHERE lease_id = $1`, lease)
	require.NoError(t, err)
	// ... the payment returned, and a deposit amendment, both by SQL too.
	_, err = pool.Exec(ctx, `UPDATE payments SET returned_at = now(), return_reason = 'nsf', returned_by = 'psql' WHERE lease_id = $1 AND reference = 'SQL-1'`, lease)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO deposits (lease_id, deposit_type, amount_in_cents, source, idempotency_key) VALUES ($1, 'cash', 10000, 'amendment', 'sql-amend-1')`, lease)
	require.NoError(t, err)
	out := must(t, "reconcile")
	require.Contains(t, out, "found 3, fixed 3")
	require.Contains(t, out, lease)
	require.Contains(t, out, "(DAMAGE)")
	require.Contains(t, out, "return of payment SQL-1")
	require.Contains(t, out, "deposit amendment")
	s = waitFor(func(s deposit.State) bool {
		return s.DeductionsCents == 1000 && s.PaidCents == 0 && s.ExpectedCents == 60000
	})
	require.True(t, s.Payments[0].Returned)
	require.Contains(t, must(t, "reconcile"), "found 0, fixed 0")
}

// A PMS export loads with a progress bar; loading it again changes nothing.
func TestImport(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "portfolio.json")
	export := map[string]any{
		"properties": []any{map[string]any{"property_id": "birchwood", "name": "Birchwood", "manager_email": "mgr@birchwood.example"}},
		"units":      []any{map[string]any{"property_id": "birchwood", "unit_id": "1"}, map[string]any{"property_id": "birchwood", "unit_id": "2"}},
		"listings":   []any{map[string]any{"listing_id": "BW-1", "property_id": "birchwood", "unit_id": "1", "deposit_amount_in_cents": 100000}},
		"residents": []any{
			map[string]any{"resident_id": "BR-1", "property_id": "birchwood", "email": "ana.b@example.com", "name": "Ana"},
			map[string]any{"resident_id": "BR-2", "property_id": "birchwood", "email": "bo.b@example.com", "name": "Bo"},
		},
		"leases": []any{
			map[string]any{"lease_id": "L-imp-1", "property_id": "birchwood", "unit_id": "1", "listing_id": "BW-1", "resident_ids": []string{"BR-1"}},
			map[string]any{"lease_id": "L-imp-2", "property_id": "birchwood", "unit_id": "2", "deposit_amount_in_cents": 80000, "resident_ids": []string{"BR-2"}},
		},
		"payments": []any{
			map[string]any{"lease_id": "L-imp-1", "payment_id": "BP-1", "transaction_date": today(), "resident_id": "BR-1", "amount_in_cents": 100000},
			map[string]any{"lease_id": "L-imp-2", "payment_id": "BP-2", "transaction_date": today(), "amount_in_cents": 30000},
		},
		"charges": []any{map[string]any{"lease_id": "L-imp-2", "charge_id": "BC-1", "charge_code_id": "RENT", "amount_in_cents": 5000, "description": "March rent"}},
	}
	b, err := json.Marshal(export)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, b, 0o644))

	r := deposits("import", file)
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "11 items, 6 upserted, 5 written, 0 unchanged, 0 pending")
	require.Contains(t, r.stderr, "import [##############################] 11/11")
	require.Eventually(t, func() bool { return status(t, "L-imp-1").Stage == deposit.StageHeld }, 20*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool { s := status(t, "L-imp-2"); return s.PaidCents == 30000 && s.ArrearsCents == 5000 }, 20*time.Second, 100*time.Millisecond)

	before := fingerprint(t)
	r = deposits("import", file)
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "11 items, 6 upserted, 0 written, 5 unchanged")
	require.Equal(t, before, fingerprint(t), "importing again changed the database")

	// A file with an unknown field is refused before anything is loaded.
	require.NoError(t, os.WriteFile(file, []byte(`{"leases": [], "tenants": []}`), 0o644))
	refusedWith(t, `unknown field "tenants"`, "import", file)
	require.Equal(t, before, fingerprint(t))
}
