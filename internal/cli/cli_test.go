package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// Every command a person runs has an example in its --help.
func TestEveryCommandHasAnExample(t *testing.T) {
	a := &app{}
	walk(a.rootCommand(), func(c *cobra.Command) {
		if !c.Runnable() || c.Hidden || strings.HasPrefix(c.CommandPath(), "deposits completion") || c.Name() == "help" {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no example", c.CommandPath())
		}
		if c.Short == "" {
			t.Errorf("%s has no short description", c.CommandPath())
		}
	})
}

func run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCompletion(t *testing.T) {
	code, out, _ := run("completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_deposits") {
		t.Fatalf("completion bash: exit %d, %q", code, out[:min(len(out), 200)])
	}
}

// Input errors are exit code 1 before anything is contacted; an unreachable
// Temporal is exit code 2.
func TestExitCodes(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("DEPOSITS_CONFIG", filepath.Join(t.TempDir(), "config.json"))
	t.Setenv("DEPOSITS_SERVER", "http://127.0.0.1:1")
	t.Setenv("DEPOSITS_TOKEN", "dfu_not-a-real-token")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "L-1", "-o", "yaml"}, 1, "choose table or json"},
		{[]string{"status"}, 1, "accepts 1 arg"},
		{[]string{"payment", "record", "L-1", "--amount", "12.345"}, 1, "cents take one or two digits"},
		{[]string{"lease", "start", "L-1", "--property", "p", "--unit", "u", "--tenant-email", "a@b.c", "--amount", "5", "--assess-for", "1.5s"}, 1, "whole seconds"},
		{[]string{"keep", "L-1", "--amount", "abc", "--reason", "x"}, 1, "not an amount"},
		{[]string{"list", "--stage", "nowhere"}, 1, "choose one of awaiting_payment"},
		{[]string{"nosuchcommand"}, 1, "unknown command"},
		{[]string{"status", "L-1"}, 2, "cannot reach the depositflow server at http://127.0.0.1:1"},
		{[]string{"setup", "--temporal-address", "127.0.0.1:1"}, 2, "cannot reach Temporal"},
		{[]string{"user", "list"}, 1, "set DATABASE_URL"},
		{[]string{"migrate", "--database-url", "postgres://u:s3cret@[::1"}, 1, "not a PostgreSQL URL"},
	} {
		code, _, errOut := run(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("deposits %s: exit %d, %q; want exit %d with %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
		if strings.Contains(errOut, "s3cret") {
			t.Errorf("deposits %s printed a password: %q", strings.Join(tc.args, " "), errOut)
		}
	}
	// Not signed in is "not allowed" (3), before anything is sent.
	t.Setenv("DEPOSITS_TOKEN", "")
	if code, _, errOut := run("status", "L-1"); code != 3 || !strings.Contains(errOut, "not signed in") {
		t.Errorf("status without a sign-in: exit %d, %q", code, errOut)
	}
}

// deposits login checks the token with the server, then keeps it readable
// by its owner only; a key or a token the server refuses is not kept.
func TestLoginKeepsTheTokenPrivate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Header.Get("Authorization") {
		case "Bearer dfu_good":
			_, _ = w.Write([]byte(`{"kind":"user","name":"ana","roles":["manager"],"properties":["maple"]}`))
		case "Bearer dfk_key":
			_, _ = w.Write([]byte(`{"kind":"key","name":"PMS-1","roles":["integration"],"properties":["*"]}`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthenticated","message":"the token is unknown, expired or revoked"}}`))
		}
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "depositflow", "config.json")
	t.Setenv("DEPOSITS_CONFIG", cfg)
	t.Setenv("DEPOSITS_SERVER", "")
	t.Setenv("DEPOSITS_TOKEN", "")
	login := func(token string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := MainWithInput([]string{"login", "--server", srv.URL}, strings.NewReader(token+"\n"), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, _, errOut := login("dfu_bad"); code != 3 || !strings.Contains(errOut, "unknown, expired or revoked") {
		t.Fatalf("a refused token: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Fatal("a refused token was kept")
	}
	if code, _, errOut := login("dfk_key"); code != 1 || !strings.Contains(errOut, "API key") {
		t.Fatalf("an API key: exit %d, %q", code, errOut)
	}
	code, out, errOut := login("dfu_good")
	if code != 0 || !strings.Contains(out, "Signed in to "+srv.URL+" as ana (manager; properties maple)") {
		t.Fatalf("login: exit %d, %q %q", code, out, errOut)
	}
	fi, err := os.Stat(cfg)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the config is %v (%v), want mode 0600", fi.Mode(), err)
	}
	if code, out, _ := run("whoami"); code != 0 || !strings.Contains(out, "ana: manager, properties maple.") {
		t.Fatalf("whoami after login: exit %d, %q", code, out)
	}
	if code, _, errOut := run("login", "--server", "http://user:pw@example.com"); code != 1 || strings.Contains(errOut, ":pw@") {
		t.Fatalf("a server URL with credentials: exit %d, %q", code, errOut)
	}
}

// No people's command connects to the database or Temporal itself, and no
// file of the CLI imports the workflow package: the server decides.
func TestPeoplesCommandsOnlyAskTheServer(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"github.com/depositflow/depositflow/workflows"`) {
			t.Errorf("%s imports the workflows package", f)
		}
		if strings.Contains(string(b), "DEPOSITS_ROLE") || strings.Contains(string(b), "DEPOSITS_ACTOR") {
			t.Errorf("%s still reads a role or actor from the environment", f)
		}
	}
}
