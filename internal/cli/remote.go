package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/depositflow/depositflow/depositclient"
	"github.com/depositflow/depositflow/internal/deposit"
	"github.com/depositflow/depositflow/internal/gateway"
)

// People's commands call the server as the person signed in: deposits login
// keeps the server's address and the person's token in their config
// directory (mode 0600); DEPOSITS_SERVER and DEPOSITS_TOKEN override it.

// config is what deposits login keeps.
type config struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

// configPath is where the config lives: $XDG_CONFIG_HOME/depositflow (or
// the OS's equivalent), DEPOSITS_CONFIG to choose another file.
func configPath() (string, error) {
	if p := os.Getenv("DEPOSITS_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "depositflow", "config.json"), nil
}

func readConfig() (config, error) {
	var c config
	p, err := configPath()
	if err != nil {
		return c, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

// writeConfig keeps the config readable by its owner only: it holds a token.
func writeConfig(c config) (string, error) {
	p, err := configPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// api is the client of the server, as the person signed in.
func (a *app) api() (*depositclient.Client, error) {
	c, err := readConfig()
	if err != nil {
		return nil, refused("reading your deposits config: %v", err)
	}
	server := firstOf(a.server, os.Getenv("DEPOSITS_SERVER"), c.Server)
	token := firstOf(os.Getenv("DEPOSITS_TOKEN"), c.Token)
	if server == "" || token == "" {
		return nil, notAllowed("you are not signed in: run `deposits login --server URL` with the token an admin gave you (deposits user add)")
	}
	return depositclient.New(server, token), nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// remoteErr gives a server's answer its exit code.
func remoteErr(err error) error {
	var ae *depositclient.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		switch {
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			return &exitError{code: ExitNotAllowed, err: ae}
		case ae.Status >= 500:
			return &exitError{code: ExitUnavailable, err: ae}
		}
		return &exitError{code: ExitRefused, err: ae}
	case errors.Is(err, depositclient.ErrUnreachable):
		return &exitError{code: ExitUnavailable, err: err}
	}
	return err
}

// get reads a JSON resource of the server into out.
func (a *app) get(ctx context.Context, path string, query url.Values, out any) error {
	c, err := a.api()
	if err != nil {
		return err
	}
	return remoteErr(c.Get(ctx, path, query, out))
}

// post sends a write to the server; the status says how it went (201
// recorded, 200 unchanged, 202 recorded but the workflow not told yet).
func (a *app) post(ctx context.Context, path string, body any, key string, out any) (int, error) {
	c, err := a.api()
	if err != nil {
		return 0, err
	}
	status, err := c.Post(ctx, path, body, key, out)
	return status, remoteErr(err)
}

// leaseState reads a lease's deposit from the server.
func (a *app) leaseState(ctx context.Context, leaseID string) (deposit.State, error) {
	var s deposit.State
	if err := checkID("lease", leaseID); err != nil {
		return s, err
	}
	err := a.get(ctx, depositclient.LeasePath(leaseID), nil, &s)
	return s, err
}

// waitFor polls the lease's state until done accepts it, so a command can
// print the state after its fact was applied. The fact is durable either
// way; this only decides what is printed. ok is false when no worker showed
// it in time (one may be restarting).
func (a *app) waitFor(ctx context.Context, leaseID string, done func(deposit.State) bool) (s deposit.State, ok bool) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := a.leaseState(ctx, leaseID)
		if err == nil && done(s) {
			return s, true
		}
		if time.Now().After(deadline) {
			return s, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// notYetApplied is printed when the worker did not show a recorded fact in time.
func (a *app) notYetApplied(leaseID string) {
	a.printf("No deposits worker has applied it yet (one may be restarting); `deposits status %s` shows it once one has.\n", leaseID)
}

// printWritten prints what a write did, for scripts (-o json): the
// server's answer and, when a worker showed it in time, the lease's state
// after it.
func (a *app) printWritten(answer any, s deposit.State, applied bool) error {
	out := struct {
		Result any            `json:"result"`
		State  *deposit.State `json:"state,omitempty"`
	}{Result: answer}
	if applied {
		out.State = &s
	}
	return a.printJSON(out)
}

// recorded words the outcome of a write the server took but could not yet
// tell the lease's workflow (202): it is in the database, and reconcile
// delivers it.
func (a *app) recorded(status int, leaseID string) bool {
	if status == http.StatusAccepted {
		a.printf("Recorded; the lease's workflow was not reachable in time and will be told by the next reconcile pass (`deposits status %s`).\n", leaseID)
		return false
	}
	return true
}

func (a *app) loginCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login --server URL",
		Short: "Sign in to a depositflow server with your personal token (read from standard input)",
		Long: `Sign in as yourself: paste the token an admin gave you (deposits user add or
rotate) at the prompt, or pipe it on standard input. The token is checked with
the server, then kept with the server's address in your config directory
(mode 0600). DEPOSITS_SERVER and DEPOSITS_TOKEN override what is kept.`,
		Example: `  deposits login --server https://deposits.example.com
  deposits login --server http://localhost:8081 < ana.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			server := firstOf(a.server, os.Getenv("DEPOSITS_SERVER"))
			if server == "" {
				return refused("give the server: --server URL (or DEPOSITS_SERVER)")
			}
			u, err := url.Parse(server)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				return refused("--server %q: give the server's address, e.g. https://deposits.example.com (no credentials in it)", redact(server))
			}
			token, err := a.readToken()
			if err != nil {
				return err
			}
			var who deposit.Who
			if err := remoteErr(depositclient.New(server, token).Get(cmd.Context(), "/v1/me", nil, &who)); err != nil {
				return err
			}
			if who.Kind != gateway.KindUser {
				return refused("that is an integration's API key, not a person's token: people sign in with the token of `deposits user add`")
			}
			p, err := writeConfig(config{Server: strings.TrimRight(server, "/"), Token: token})
			if err != nil {
				return refused("cannot keep your sign-in: %v", err)
			}
			a.printf("Signed in to %s as %s (%s; properties %s). Kept in %s.\n", server, who.Name, strings.Join(who.Roles, ", "), strings.Join(who.Properties, ", "), p)
			return nil
		},
	}
	return cmd
}

// readToken reads a token from a terminal prompt (not echoed) or from
// standard input.
func (a *app) readToken() (string, error) {
	var token string
	if f, ok := a.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.errOut, "Token: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.errOut)
		if err != nil {
			return "", refused("reading the token: %v", err)
		}
		token = string(b)
	} else {
		line, err := bufio.NewReader(a.in).ReadString('\n')
		if err != nil && line == "" {
			return "", refused("give the token on standard input (deposits login --server URL < my.token)")
		}
		token = line
	}
	token = strings.TrimSpace(token)
	if strings.HasPrefix(token, gateway.KeyPrefix) {
		return "", refused("that is an integration's API key, not a person's token: people sign in with the token of `deposits user add`")
	}
	if !strings.HasPrefix(token, gateway.TokenPrefix) {
		return "", refused("that is not a depositflow token (they start with %s)", gateway.TokenPrefix)
	}
	return token, nil
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		Short:   "Forget your sign-in on this machine",
		Example: `  deposits logout`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := configPath()
			if err != nil {
				return refused("%v", err)
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return refused("%v", err)
			}
			a.printf("Signed out (removed %s). An admin revokes a token for good with `deposits user revoke`.\n", p)
			return nil
		},
	}
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "whoami [-o json]",
		Short:   "Show who you are signed in as: your roles and properties",
		Example: `  deposits whoami`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(); err != nil {
				return err
			}
			var who deposit.Who
			if err := a.get(cmd.Context(), "/v1/me", nil, &who); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(who)
			}
			a.printf("%s: %s, properties %s.\n", who.Name, strings.Join(who.Roles, ", "), strings.Join(who.Properties, ", "))
			return nil
		},
	}
}

// redact hides the password of a URL, for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
