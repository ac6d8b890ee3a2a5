package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/internal/deposit"
)

// The ways around a books_admin that a review found, each closed: a
// deduction entered before the move-out, arrears instead of a deduction
// after it, a move-out dated ahead, several charges sent at once, and a
// tenant's contact details changed instead of the payee.
func TestApprovalCannotBeDodged(t *testing.T) {
	lease := "L-e2e-dodge"
	must(t, "lease", "start", lease, "--property", "linden", "--unit", "1", "--amount", "1,000",
		"--tenant-email", "ida@example.com", "--assess-for", "1h", "--release-after", "2h")
	must(t, "property", "set", "linden", "--approval-threshold", "500.00")
	must(t, "payment", "record", lease, "--amount", "1000", "--ref", "D-1")

	// Before the move-out: 400.00 of damage applies, 200.00 more waits.
	must(t, "charge", "add", lease, "--code", "DAMAGE", "--amount", "400", "--description", "Door", "--ref", "DMG-1")
	out := must(t, "charge", "add", lease, "--code", "DAMAGE", "--amount", "200", "--description", "Window", "--ref", "DMG-2")
	require.Contains(t, out, "approval threshold")
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM charges WHERE lease_id = $1 AND approval = 'pending'", lease))

	// A move-out dated ahead is refused and changes nothing.
	refusedCleanly(t, lease, "is in the future", func() result {
		return deposits("moveout", lease, "--date", time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339))
	})
	must(t, "moveout", lease)
	require.Eventually(t, func() bool { return status(t, lease).Stage == deposit.StageAssessing }, 30*time.Second, 200*time.Millisecond)

	// After the move-out, rent a person adds counts as well: it waits.
	out = must(t, "charge", "add", lease, "--code", "RENT", "--amount", "50", "--description", "Rent for the last week", "--ref", "RENT-9")
	require.Contains(t, out, "approval threshold")
	require.EqualValues(t, 2, count(t, "SELECT count(*) FROM charges WHERE lease_id = $1 AND approval = 'pending'", lease))
	require.Eventually(t, func() bool { return len(status(t, lease).Pending) == 2 }, 20*time.Second, 100*time.Millisecond)
	require.EqualValues(t, 40000, status(t, lease).DeductionsCents, "only the first deduction counts")

	// A keep now waits too: the total (650.00 with what waits) is past the threshold.
	require.Contains(t, must(t, "keep", lease, "--amount", "10", "--reason", "Key not returned"), "pending until a books_admin")

	// The same decision sent sixteen times at once under one idempotency
	// key, straight to the server (the CLI would retry a 503 away), is one
	// decision, and every sender gets its answer.
	at16(t, func(int) *http.Request {
		req, _ := http.NewRequest("POST", serverURL+"/v1/leases/"+lease+"/extend", strings.NewReader(`{"days":1}`))
		req.Header.Set("Idempotency-Key", "dodge-extend")
		return req
	}, 200)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND request_key = 'dodge-extend'", lease))

	// Sixteen charges of 50.00 sent at once, straight to the server, under
	// 500.00: ten fit, six wait, whatever order they land in.
	other := "L-e2e-dodge-2"
	must(t, "lease", "start", other, "--property", "linden", "--unit", "2", "--amount", "1,000", "--tenant-email", "jon@example.com")
	at16(t, func(i int) *http.Request {
		body := fmt.Sprintf(`{"charge_code_id":"DAMAGE","amount_in_cents":5000,"description":"Room %d","charge_id":"ROOM-%d"}`, i, i)
		req, _ := http.NewRequest("POST", serverURL+"/v1/leases/"+other+"/charges", strings.NewReader(body))
		return req
	}, 201)
	require.EqualValues(t, 16, count(t, "SELECT count(*) FROM charges WHERE lease_id = $1 AND charge_code_id = 'DAMAGE'", other))
	require.EqualValues(t, 6, count(t, "SELECT count(*) FROM charges WHERE lease_id = $1 AND charge_code_id = 'DAMAGE' AND approval = 'pending'", other))
}

// Where a refund goes follows the tenant's contact details: a person may
// not change those of a tenant whose lease holds money (that is a payee
// change, which a books_admin approves); the PMS may, and the lease's audit
// log shows it.
func TestContactChangeIsAPayeeChange(t *testing.T) {
	url := serverURL
	key := newKey(t, "pms-contacts", "hazel")
	tenant := map[string]any{"resident_id": "R-77", "property_id": "hazel", "email": "jo@example.com", "name": "Jo Park"}
	expect(t, call(t, "POST", url+"/v1/residents", key, tenant), 200)
	lease := "L-e2e-contact"
	expect(t, call(t, "POST", url+"/v1/residents", key, map[string]any{"resident_id": "R-78", "property_id": "hazel", "email": "lu@example.com"}), 200)
	expect(t, call(t, "POST", url+"/v1/leases", key, map[string]any{"lease_id": lease, "property_id": "hazel", "unit_id": "3",
		"resident_ids": []string{"R-77", "R-78"}, "deposit_amount_in_cents": 80000}), 201)
	token, err := addUserScoped("kit", []string{"manager"}, "hazel")
	require.NoError(t, err)

	// Before any money: the manager corrects a typo.
	tenant["email"] = "jo.park@example.com"
	expect(t, call(t, "POST", url+"/v1/residents", token, tenant), 200)

	// Co-tenants paying the same amount on the same day, without IDs, are
	// two payments; the same one sent again is one.
	expect(t, call(t, "POST", url+"/v1/leases/"+lease+"/payments", key, map[string]any{"resident_id": "R-77", "amount_in_cents": 40000}), 201)
	expect(t, call(t, "POST", url+"/v1/leases/"+lease+"/payments", key, map[string]any{"resident_id": "R-78", "amount_in_cents": 40000}), 201)
	expect(t, call(t, "POST", url+"/v1/leases/"+lease+"/payments", key, map[string]any{"resident_id": "R-78", "amount_in_cents": 40000}), 200)
	require.EqualValues(t, 2, count(t, "SELECT count(DISTINCT resident_id) FROM payments WHERE lease_id = $1", lease))

	before := count(t, "SELECT count(*) FROM residents WHERE email = 'jo.park@example.com' AND forwarding_address = ''")
	tenant["forwarding_address"] = "9 Elsewhere St"
	a := call(t, "POST", url+"/v1/residents", token, tenant)
	require.Equal(t, 403, a.status, a.raw)
	require.Equal(t, "payee_change_needs_approval", a.errCode())
	require.Contains(t, a.raw, lease)
	require.Equal(t, before, count(t, "SELECT count(*) FROM residents WHERE email = 'jo.park@example.com' AND forwarding_address = ''"))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'resident.upsert' AND principal = 'user:kit' AND NOT accepted", lease))

	// The PMS, the book of the tenant's contacts, may; the lease's audit log shows it.
	expect(t, call(t, "POST", url+"/v1/residents", key, tenant), 200)
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM residents WHERE external_id = 'R-77' AND forwarding_address = '9 Elsewhere St'"))
	require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = $1 AND action = 'resident.upsert' AND principal = 'key:pms-contacts' AND accepted", lease))
}

// at16 sends sixteen requests at once as the e2e manager and wants each
// answered with status.
func at16(t *testing.T, request func(i int) *http.Request, status int) {
	t.Helper()
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := request(i)
			req.Header.Set("Authorization", "Bearer "+users["e2e-manager"])
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	for _, st := range statuses {
		require.Equal(t, status, st, "%v", statuses)
	}
}
