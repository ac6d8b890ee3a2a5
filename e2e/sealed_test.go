package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/depositflow/depositflow/internal/pgcluster"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Tenants' data sealed in Temporal (#20): a deployment with a payload key
// ring, here its own namespace, database, worker and server beside the
// suite's, runs a lease whose history holds no tenant's address or name in
// clear, while the tenant still gets their emails; an admin reads the
// history through the server's codec endpoint (the temporal CLI's
// --codec-endpoint, as the Web UI does), and nobody else can.
func TestTenantDataSealedInTemporal(t *testing.T) {
	ctx := context.Background()
	const ns, lease, email, name = "sealed", "L-e2e-sealed", "sealed.tenant@example.com", "Selma Sealed"
	keys := "2026-12:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5e}, 32))

	st := startIsolated(t, ns, "DEPOSITS_PAYLOAD_KEYS="+keys, "DEPOSITS_CODEC_ORIGINS=http://ui.example:8233")
	defer st.stop()
	run, sealedDB, server, admin, manager := st.run, st.db, st.server, st.admin, st.manager

	run("lease", "start", lease, "--property", "maple", "--unit", "9S", "--amount", "700",
		"--tenant-email", email, "--tenant-name", name)
	run("payment", "record", lease, "--amount", "700", "--ref", "CHK-SEAL")
	// The worker opened its sealed inputs: the tenant got the receipt.
	mails := waitMail(t, lease, 2)
	require.Contains(t, mails[len(mails)-1].Header.Get("To"), email)

	// What Temporal stores, byte for byte, holds neither the address nor the name.
	sealedClient, err := client.Dial(client.Options{HostPort: temporalAddress, Namespace: ns})
	require.NoError(t, err)
	defer sealedClient.Close()
	raw := historyBytes(t, sealedClient, "deposit-"+lease)
	require.NotContains(t, string(raw), email)
	require.NotContains(t, string(raw), name)
	require.Contains(t, string(raw), "binary/encrypted")
	// The check can fail: an unsealed lease of the suite's namespace shows its tenant.
	must(t, "lease", "start", "L-e2e-unsealed", "--property", "maple", "--unit", "9U", "--amount", "700",
		"--tenant-email", "open.tenant@example.com")
	require.Eventually(t, func() bool {
		return bytes.Contains(historyBytes(t, temporal, "deposit-L-e2e-unsealed"), []byte("open.tenant@example.com"))
	}, 20*time.Second, 200*time.Millisecond, "an unsealed history shows its tenant")

	// The codec endpoint: admins open, others are refused, browsers of the
	// Web UI's origin get CORS, and every use is audited.
	sealed := sealedPayloadsJSON(t, raw)
	require.NotEmpty(t, sealed)
	call := func(token, origin string) (int, string, http.Header) {
		body, err := json.Marshal(map[string]any{"payloads": sealed})
		require.NoError(t, err)
		req, _ := http.NewRequest("POST", server+"/codec/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", ns)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, body, hdr := call(admin, "http://ui.example:8233")
	require.Equal(t, 200, code, body)
	var opened struct {
		Payloads []struct {
			Metadata map[string][]byte `json:"metadata"`
			Data     []byte            `json:"data"`
		} `json:"payloads"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &opened))
	require.Len(t, opened.Payloads, len(sealed))
	var all []byte
	for _, p := range opened.Payloads {
		require.NotEqual(t, "binary/encrypted", string(p.Metadata["encoding"]))
		all = append(all, p.Data...)
	}
	require.Contains(t, string(all), email)
	require.Equal(t, "http://ui.example:8233", hdr.Get("Access-Control-Allow-Origin"))
	code, body, _ = call(manager, "")
	require.Equal(t, 403, code, body)
	require.Contains(t, body, "needs the admin role")
	code, _, hdr = call("", "http://evil.example")
	require.Equal(t, 401, code)
	require.Empty(t, hdr.Get("Access-Control-Allow-Origin"))
	pre, _ := http.NewRequest("OPTIONS", server+"/codec/decode", nil)
	pre.Header.Set("Origin", "http://ui.example:8233")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(pre)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 204, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")
	var granted, refused int64
	require.NoError(t, sealedDB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE result = 'ok'), count(*) FILTER (WHERE result <> 'ok')
		FROM audit_log WHERE action = 'payloads.decode'`).Scan(&granted, &refused))
	require.EqualValues(t, 1, granted)
	require.EqualValues(t, 1, refused)

	// The temporal CLI, as an operator uses it: without the codec it shows
	// sealed payloads; through the endpoint, with an admin's token, the tenant.
	cli, err := filepath.Abs(filepath.Join("..", ".tools", "temporal"))
	require.NoError(t, err)
	if _, err := os.Stat(cli); err != nil {
		require.Empty(t, os.Getenv("E2E_REQUIRE_TEMPORAL_CLI"), "the temporal CLI is not at %s", cli)
		t.Skipf("no temporal CLI at %s: the codec endpoint was checked over HTTP only", cli)
	}
	// The CLI prints each payload's data in base64: show is all of it, decoded.
	show := func(extra ...string) string {
		args := append([]string{"workflow", "show", "--address", temporalAddress, "--namespace", ns, "--workflow-id", "deposit-" + lease, "-o", "json"}, extra...)
		out, err := exec.Command(cli, args...).Output()
		require.NoError(t, err, "temporal %s", strings.Join(args, " "))
		var doc any
		require.NoError(t, json.Unmarshal(out, &doc))
		var data strings.Builder
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					if s, ok := x.(string); ok && k == "data" {
						b, _ := base64.StdEncoding.DecodeString(s)
						data.Write(b)
						data.WriteByte('\n')
					} else {
						walk(x)
					}
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		walk(doc)
		return data.String()
	}
	require.NotContains(t, show(), email)
	require.Contains(t, show("--codec-endpoint", server+"/codec", "--codec-auth", "Bearer "+admin), email)
}

// historyBytes is a workflow's history as Temporal stores it (protobuf).
func historyBytes(t *testing.T, c client.Client, workflowID string) []byte {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, e)
	}
	b, err := proto.Marshal(&h)
	require.NoError(t, err)
	return b
}

// sealedPayloadsJSON are the sealed payloads of a stored history, as the
// Web UI sends them to a codec server.
func sealedPayloadsJSON(t *testing.T, raw []byte) []any {
	t.Helper()
	var h historypb.History
	require.NoError(t, proto.Unmarshal(raw, &h))
	var out []any
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		if p, ok := m.Interface().(*commonpb.Payload); ok {
			if string(p.Metadata["encoding"]) == "binary/encrypted" {
				md := map[string]string{}
				for k, v := range p.Metadata {
					md[k] = base64.StdEncoding.EncodeToString(v)
				}
				out = append(out, map[string]any{"metadata": md, "data": base64.StdEncoding.EncodeToString(p.Data)})
			}
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message())
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool { walk(mv.Message()); return true })
			case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
				walk(v.Message())
			}
			return true
		})
	}
	walk(h.ProtoReflect())
	return out
}

// isolated is a deployment of its own beside the suite's: a Temporal
// namespace (on the suite's server, or the one extra's TEMPORAL_ADDRESS
// names), a database, a worker and an API server, with extra
// environment; neither's reconcile pass sees the other's leases.
type isolated struct {
	env                    []string // the admin commands' environment
	db                     *pgxpool.Pool
	server, admin, manager string // the API's URL, and two people's tokens
	stops                  []func()
	t                      *testing.T
}

func startIsolated(t *testing.T, ns string, extra ...string) *isolated {
	t.Helper()
	ctx := context.Background()
	st := &isolated{t: t}
	// Its Temporal is the suite's unless extra names another.
	address := temporalAddress
	if a := envValue(extra, "TEMPORAL_ADDRESS"); a != "" {
		address = a
	}
	nsc, err := client.NewNamespaceClient(client.Options{HostPort: address})
	require.NoError(t, err)
	defer nsc.Close()
	err = nsc.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
	if err != nil && !strings.Contains(err.Error(), "already") {
		require.NoError(t, err)
	}
	dbURL, err := pgcluster.CreateDatabase(ctx, envOf(t, "DATABASE_URL"), "e2e_"+ns)
	require.NoError(t, err)
	st.db, err = pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	st.stops = append(st.stops, st.db.Close)
	st.env = append(append(append([]string(nil), cliEnv...), "TEMPORAL_NAMESPACE="+ns, "DATABASE_URL="+dbURL), extra...)
	st.run("migrate")
	// The namespace's search attributes can take a moment to be seen.
	require.Eventually(t, func() bool {
		cmd := exec.Command(bin, "setup")
		cmd.Env = st.env
		return cmd.Run() == nil
	}, 30*time.Second, 500*time.Millisecond)
	st.admin = st.run("user", "add", ns+"-admin", "--role", "admin", "--all-properties")
	st.manager = st.run("user", "add", ns+"-manager", "--role", "manager", "--all-properties")
	tmp := t.TempDir()
	metrics, err := freeAddr()
	require.NoError(t, err)
	w, err := startWorkerWith(st.env, metrics, filepath.Join(tmp, "worker.log"))
	require.NoError(t, err)
	st.stops = append(st.stops, w.stop)
	server, stopServer, err := startServerWith(st.env, filepath.Join(tmp, "serve.log"))
	require.NoError(t, err)
	st.stops = append(st.stops, stopServer)
	st.server = server
	st.env = append(st.env, "DEPOSITS_SERVER="+server, "DEPOSITS_TOKEN="+st.manager)
	return st
}

// run runs deposits in the deployment's environment, as its manager for
// people's commands, and returns what it printed.
func (st *isolated) run(args ...string) string {
	st.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = st.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(st.t, err, "deposits %s: %s", strings.Join(args, " "), stderr.String())
	return strings.TrimSpace(string(out))
}

// stop ends the worker and the server, then closes the database pool.
func (st *isolated) stop() {
	for i := len(st.stops) - 1; i >= 0; i-- {
		st.stops[i]()
	}
}
