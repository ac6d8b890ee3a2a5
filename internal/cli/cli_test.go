package cli

import (
	"bytes"
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
		{[]string{"status", "L-1", "--temporal-address", "127.0.0.1:1"}, 2, "cannot reach Temporal"},
		{[]string{"ledger", "L-1"}, 1, "set DATABASE_URL"},
	} {
		code, _, errOut := run(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("deposits %s: exit %d, %q; want exit %d with %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
	}
}
