package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/depositflow/depositflow/internal/deposit"
)

// The README's command blocks are tests (issue #15, item 9). Every block
// marked with a line
//
//	<!-- readme-test: NAME -->
//
// just before its ```sh fence is run as written, in README order, each by
// one bash process (set -Eeuo pipefail: any command that exits non-zero
// fails the test), in one working folder laid out as the repository is
// after `make dev`:
//
//   - bin/deposits is the binary under test, so the README's
//     `export PATH=$PWD/bin:$PATH` finds it; the repository's sources
//     (go.mod, the packages, examples/) are there too, so its `go run`
//     builds them, with the Go of this test (its caches included);
//   - .data/env holds the exports `make dev` writes (TEMPORAL_ADDRESS,
//     TEMPORAL_NAMESPACE, DATABASE_URL, SMTP_URL, DEPOSITS_SERVER,
//     DEPOSITS_API, DEPOSITS_API_KEY), pointing at this package's stack,
//     with DEPOSITS_API_KEY an API key for every property made with
//     `deposits apikey create`, as `make dev` makes its dev key;
//   - the CLI is signed in, as `make dev` signs it in, as the person `dev`
//     with every role on every property: `deposits login` keeps dev's token
//     in the config file of a HOME of the test's own. DEPOSITS_TOKEN is not
//     set: a README line that sets it acts as someone else, as it says.
//
// Blocks after the first run as the reader's shell would after it: with
// the variables of .data/env exported and bin on the PATH. No line is
// rewritten or skipped.
//
// The README's IDs (property willow, listing LST-12A, leases L-100, L-200
// and L-300, resident R-1 of willow, users dev, bea and kim, API key PMS-1)
// are used by no other test of this package, so the README runs as written
// whatever ran before it; a test that takes one of them breaks this one.
//
// After each block the test checks from the database and `deposits status`
// that it did what its comments say. No marked block may name a fixed date:
// the move-out is "now", so the README does the same at any hour (issue
// #15, item 7).

// readmeBlock is one marked block of README.md.
type readmeBlock struct {
	name string
	line int // of the fence, 1-based
	text string
}

var (
	readmeMarker = regexp.MustCompile(`^<!-- readme-test: ([a-z0-9-]+) -->$`)
	fixedDate    = regexp.MustCompile(`\b(19|20)\d\d-\d\d-\d\d\b`)
)

// readmeBlocks returns the marked blocks of a README, in order.
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var blocks []readmeBlock
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	n := 0
	var cur *readmeBlock
	pending := ""
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case pending != "":
			require.Equal(t, "```sh", line, "README.md:%d: the marker readme-test: %s must come just before a ```sh fence", n, pending)
			cur = &readmeBlock{name: pending, line: n}
			pending = ""
		default:
			if m := readmeMarker.FindStringSubmatch(line); m != nil {
				require.False(t, seen[m[1]], "README.md:%d: a second block named %s", n, m[1])
				seen[m[1]] = true
				pending = m[1]
			}
		}
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "README.md: the block %s is not closed", func() string {
		if cur != nil {
			return cur.name
		}
		return ""
	}())
	return blocks
}

// commandPart is a shell line without its trailing comment (a # outside
// quotes that follows a blank or starts the line).
func commandPart(line string) string {
	var quote rune
	prev := ' '
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (prev == ' ' || prev == '\t'):
			return line[:i]
		}
		prev = r
	}
	return line
}

// lockedBuffer keeps a block's standard output and error interleaved in
// the order they were written, for the log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// readmeStack is the working folder and environment the blocks run in.
type readmeStack struct {
	dir string
	env []string
}

// envOf is a variable of the e2e stack's CLI environment.
func envOf(t *testing.T, key string) string {
	t.Helper()
	v := ""
	for _, kv := range cliEnv {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	require.NotEmpty(t, v, "the e2e stack has no %s", key)
	return v
}

// newReadmeStack lays out the folder `make dev` leaves and signs the CLI in as dev.
func newReadmeStack(t *testing.T) readmeStack {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home") // outside the README's view, as ~ is
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.Symlink(bin, filepath.Join(dir, "bin", "deposits")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".data"), 0o700))
	require.NoError(t, os.MkdirAll(home, 0o700))
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	entries, err := os.ReadDir(repo)
	require.NoError(t, err)
	for _, e := range entries {
		switch e.Name() {
		case "bin", ".data", ".git", ".tools":
			continue
		}
		require.NoError(t, os.Symlink(filepath.Join(repo, e.Name()), filepath.Join(dir, e.Name())))
	}

	// The dev API key and the first admin, as `make dev` makes them.
	apiKey := strings.TrimSpace(must(t, "apikey", "create", "--name", "readme-dev", "--all-properties"))
	token, err := addUser("dev", deposit.Roles...)
	require.NoError(t, err)

	vars := [][2]string{
		{"TEMPORAL_ADDRESS", envOf(t, "TEMPORAL_ADDRESS")},
		{"TEMPORAL_NAMESPACE", envOf(t, "TEMPORAL_NAMESPACE")},
		{"DATABASE_URL", envOf(t, "DATABASE_URL")},
		{"SMTP_URL", envOf(t, "SMTP_URL")},
		{"DEPOSITS_SERVER", serverURL},
		{"DEPOSITS_API", serverURL},
		{"DEPOSITS_API_KEY", apiKey},
	}
	// .data/env in the shape `deposits dev` writes it (internal/cli/dev.go).
	line := "export"
	for _, v := range vars {
		if v[0] == "DATABASE_URL" {
			line += fmt.Sprintf(" %s='%s'", v[0], v[1])
		} else {
			line += fmt.Sprintf(" %s=%s", v[0], v[1])
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".data", "env"), []byte(line+"\n"), 0o600))

	// The reader's shell: this process's environment without any of
	// depositflow's settings, a HOME of its own (where `deposits login`
	// keeps the sign-in), .data/env's exports and bin first on the PATH.
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "DEPOSITS_"), strings.HasPrefix(k, "TEMPORAL_"), k == "DATABASE_URL", k == "SMTP_URL",
			k == "MAIL_FROM", k == "HOME", k == "XDG_CONFIG_HOME", k == "BASH_ENV", k == "ENV", k == "PATH", k == "CDPATH":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"PATH="+filepath.Join(dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	// The reader's Go as it is set up for them (its settings and caches
	// live under the HOME this test replaced).
	goEnv, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH", "GOTOOLCHAIN", "GOFLAGS", "GOPROXY", "GOSUMDB").Output()
	require.NoError(t, err)
	for i, v := range strings.Split(strings.TrimRight(string(goEnv), "\n"), "\n") {
		env = append(env, []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOTOOLCHAIN", "GOFLAGS", "GOPROXY", "GOSUMDB"}[i]+"="+v)
	}
	for _, v := range vars {
		env = append(env, v[0]+"="+v[1])
	}

	// Sign the CLI in as dev, as `make dev` does (its config file, mode 0600).
	login := exec.Command(bin, "login", "--server", serverURL)
	login.Env, login.Dir, login.Stdin = env, dir, strings.NewReader(token+"\n")
	out, err := login.CombinedOutput()
	require.NoError(t, err, "deposits login: %s", out)
	fi, err := os.Stat(filepath.Join(home, ".config", "depositflow", "config.json"))
	require.NoError(t, err, "deposits login kept no config where the README says")
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the sign-in is readable by its owner only")
	return readmeStack{dir: dir, env: env}
}

// run runs one block in bash and returns its standard output; the test
// fails if any command of it exits non-zero.
func (s readmeStack) run(t *testing.T, b readmeBlock) string {
	t.Helper()
	for i, l := range strings.Split(b.text, "\n") {
		require.NotRegexp(t, fixedDate, commandPart(l), "README.md:%d: a command names a fixed date, so what it does depends on the day it is run", b.line+1+i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Each command is echoed as written (+ ...) before it runs; the first
	// that fails ends the block with its exit code.
	script := "set -Eeuo pipefail\ntrap 'printf \"+ %s\\n\" \"$BASH_COMMAND\" >&2' DEBUG\n" + b.text
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir, cmd.Env = s.dir, s.env
	var stdout bytes.Buffer
	var all lockedBuffer
	cmd.Stdout = io.MultiWriter(&stdout, &all)
	cmd.Stderr = &all
	err := cmd.Run()
	log := all.String()
	t.Logf("README.md:%d, block %s:\n%s", b.line, b.name, log)
	if err != nil {
		last := ""
		for _, l := range strings.Split(log, "\n") {
			if strings.HasPrefix(l, "+ ") {
				last = strings.TrimPrefix(l, "+ ")
			}
		}
		t.Fatalf("README.md:%d: the block %s failed (%v) at: %s", b.line, b.name, err, last)
	}
	// Every command of the README says what it did, so none may leave it
	// undone for a worker to apply later.
	require.NotContains(t, stdout.String(), "has applied it yet", "a README command's fact was not applied in time")
	require.NotContains(t, stdout.String(), "was not reachable in time")
	return stdout.String()
}

// readmeChecks are what each block's comments claim, checked after it ran.
var readmeChecks = map[string]func(t *testing.T, s readmeStack, out string){
	"managers-day": func(t *testing.T, s readmeStack, out string) {
		require.Contains(t, out, "dev: admin, books_admin, manager, viewer, properties *.")
		st := status(t, "L-100")
		// The move-out is the moment it was typed, not 00:00 of its day:
		// the lease is assessing, with its windows counted from then.
		require.Equal(t, deposit.StageAssessing, st.Stage, "the lease is in its 5-minute assessment window")
		require.WithinDuration(t, time.Now(), st.MovedOutAt, 5*time.Minute, "moveout without --date is now")
		require.Equal(t, st.MovedOutAt.Add(5*time.Minute), st.AssessUntil)
		require.Equal(t, st.MovedOutAt.Add(time.Hour), st.ReleaseAt)
		require.EqualValues(t, 150000, st.ExpectedCents)
		require.EqualValues(t, 150000, st.ReceivedCents)
		require.EqualValues(t, 12000, st.DeductionsCents)
		require.EqualValues(t, 30000, st.KeptCents)
		require.Empty(t, st.Pending)
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM charges WHERE lease_id = 'L-100' AND charge_code_id = 'CLEANING' AND amount_in_cents = 12000"))
		require.EqualValues(t, 2, count(t, "SELECT count(*) FROM payments WHERE lease_id = 'L-100'"))
		mails := waitMail(t, "L-100", 2)
		require.Equal(t, "Receipt: your security deposit of $1,500.00 is held", mails[1].Subject)
		html, err := os.ReadFile(filepath.Join(s.dir, "notice.html"))
		require.NoError(t, err)
		require.Contains(t, string(html), "Carpet cleaning")
		require.Contains(t, string(html), "Burn mark on the kitchen counter")
		requireListed(t, "L-100", deposit.StageAssessing, "--property", "willow")
		require.Contains(t, out, "L-100")
	},
	"decisions": func(t *testing.T, s readmeStack, out string) {
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM properties WHERE property_id = 'willow' AND approval_threshold_cents = 50000 AND manager_email = 'manager@willow.example'"))
		require.Contains(t, out, "pending until a books_admin")
		// Bea approved the keep dev asked for; the lease was settled at once.
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = 'L-100' AND action = 'keep' AND accepted AND principal = 'user:dev' AND request->>'amount_cents' = '20000'"))
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = 'L-100' AND action = 'approve' AND accepted AND principal = 'user:bea'"))
		st := waitClosed(t, "L-100")
		require.Equal(t, deposit.OutcomePartiallyRefunded, st.Outcome)
		require.EqualValues(t, 50000, st.KeptCents)
		require.EqualValues(t, 150000-12000-50000, st.RefundCents)
		require.True(t, st.OnHold)
		kinds := map[string]bool{}
		for _, d := range st.Decisions {
			kinds[d.Kind] = true
		}
		for _, k := range []string{"keep", "approve", "extend", "hold", "release"} {
			require.True(t, kinds[k], "no %s decision on L-100: %+v", k, st.Decisions)
		}
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM refunds WHERE lease_id = 'L-100' AND amount_in_cents = 88000"))
		require.Contains(t, out, "user:bea")
	},
	"money": func(t *testing.T, s readmeStack, out string) {
		st := status(t, "L-200")
		require.Equal(t, deposit.StageHeld, st.Stage, "the lowered cash deposit is paid")
		require.EqualValues(t, 100000, st.ExpectedCents)
		require.EqualValues(t, 100000, st.PaidCents)
		require.EqualValues(t, 500000, st.GuaranteeCents)
		require.EqualValues(t, 2500, st.CreditsCents)
		require.EqualValues(t, 2500, st.ArrearsCents, "the NSF fee")
		require.Equal(t, "parent@example.com", st.PayeeEmail)
		require.Empty(t, st.Pending)
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM payments WHERE lease_id = 'L-200' AND returned_at IS NOT NULL AND return_reason = 'nsf'"))
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM charges WHERE lease_id = 'L-200' AND charge_code_id = 'CREDIT'"), "the credit entered twice is one row")
		require.EqualValues(t, 2, count(t, "SELECT count(*) FROM audit_log WHERE lease_id = 'L-200' AND action = 'approve' AND accepted AND principal = 'user:bea'"))
		require.Contains(t, out, "Conserved")
	},
	"tenant-side": func(t *testing.T, s readmeStack, out string) {
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM evidence WHERE lease_id = 'L-200' AND subject = 'lease' AND side = 'manager' AND content_type = 'application/pdf' AND filename = 'move-in.pdf'"))
		require.Regexp(t, `(?m)^\d+\s+the lease\s+manager\s+move-in\.pdf\s+application/pdf`, out)
		require.Contains(t, out, "Lease L-200 has no disputed item.")
	},
	"team": func(t *testing.T, s readmeStack, out string) {
		require.Contains(t, out, "kim: manager, properties willow.")
		require.Contains(t, out, "exit 3")
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM users WHERE name = 'kim' AND revoked_at IS NOT NULL AND properties = '{willow}' AND roles = '{manager}'"))
		// The first token was used once, then replaced; the second never worked after the revocation.
		require.EqualValues(t, 2, count(t, "SELECT count(*) FROM user_tokens JOIN users USING (user_id) WHERE name = 'kim' AND user_tokens.revoked_at IS NOT NULL"))
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM user_tokens JOIN users USING (user_id) WHERE name = 'kim' AND last_used_at IS NOT NULL"))
		tokens, err := os.ReadFile(filepath.Join(s.dir, "kim.token"))
		require.NoError(t, err)
		require.Regexp(t, `^dfu_\S+\n$`, string(tokens), "user add and rotate print the token alone on standard output")
		require.NotContains(t, out, strings.TrimSpace(string(tokens)), "a token is printed only where it is redirected")
	},
	"api": func(t *testing.T, s readmeStack, out string) {
		var codes []string
		for _, m := range regexp.MustCompile(`(?m)^HTTP (\d{3})$`).FindAllStringSubmatch(out, -1) {
			codes = append(codes, m[1])
		}
		// resident, lease, payment, the same payment, charge, return, move-out, lease, its invoices, willow's
		require.Equal(t, []string{"200", "201", "201", "200", "201", "201", "201", "200", "200", "200"}, codes)
		st := status(t, "L-300")
		require.Equal(t, deposit.StageAssessing, st.Stage)
		require.WithinDuration(t, time.Now(), st.MovedOutAt, 5*time.Minute, "a move-out without a date is now")
		require.EqualValues(t, 0, st.PaidCents, "the payment came back")
		require.EqualValues(t, 12000, st.DeductionsCents)
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM payments WHERE lease_id = 'L-300'"), "the payment posted twice is one row")
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM api_keys WHERE name = 'PMS-1' AND revoked_at IS NOT NULL AND properties = '{willow}'"))
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM payments WHERE lease_id = 'L-300' AND reference = 'PMT-88' AND returned_at IS NOT NULL"))
		require.Contains(t, out, `"lease_id": "L-300"`)
		require.Regexp(t, `"invoice_id": "refund-\d+",\s+"lease_id": "L-100",\s+"property_id": "willow",\s+"kind": "refund",\s+"amount_due_in_cents": 88000`, out)
	},
	"pms-sync": func(t *testing.T, s readmeStack, out string) {
		require.Contains(t, out, "Signed in as key readme-dev (properties [*]).")
		require.Regexp(t, `(?m)^  refund-\d+ +lease L-100 +880\.00 USD pay to Ana Lopez <ana@example\.com>$`, out)
		require.Equal(t, 1, strings.Count(out, "pay to"), "willow owes one refund")
	},
	"books": func(t *testing.T, s readmeStack, out string) {
		require.Contains(t, out, "Ties: the deposits held equal the Security Deposit Liability balance")
		require.Contains(t, out, "3 receipt(s), $2,500.00") // CHK-1042, CHK-1043 and CHK-8 (CHK-7 came back)
		require.Contains(t, out, "already recorded: nothing moved again")
		require.Contains(t, out, "Balanced: debits equal credits")
		require.EqualValues(t, 1, count(t, "SELECT count(*) FROM deposit_batches WHERE property_id = 'willow' AND reference = 'DEP-0001' AND total_cents = 250000"))
		journal, err := os.ReadFile(filepath.Join(s.dir, "journal.csv"))
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(journal), "entry_id,date,property_id,currency,account_number,account_name,debit,credit,lease_id,event,source,memo,posted_at\n"))
		require.Contains(t, out, "1 line(s) matched")
		require.Contains(t, out, "Service charge")
		require.Contains(t, out, "exit 1")
	},
}

func TestREADME(t *testing.T) {
	blocks := readmeBlocks(t, filepath.Join("..", "README.md"))
	var names []string
	for _, b := range blocks {
		names = append(names, b.name)
	}
	require.Equal(t, []string{"managers-day", "decisions", "money", "tenant-side", "team", "api", "pms-sync", "books"}, names, "the README's tested blocks")
	s := newReadmeStack(t)
	for _, b := range blocks {
		// A block builds on the ones before it (the same leases, bea.token):
		// once one fails, the rest would only fail for it.
		if !t.Run(b.name, func(t *testing.T) {
			out := s.run(t, b)
			readmeChecks[b.name](t, s, out)
		}) {
			return
		}
	}
}
