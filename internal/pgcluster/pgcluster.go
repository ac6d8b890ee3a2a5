// Package pgcluster runs a throwaway PostgreSQL cluster from the binaries
// installed on the machine, for tests and for `deposits dev` when no
// DATABASE_URL is given. PostgreSQL refuses to run as root, so when we are
// root the cluster runs as the postgres user in a folder that user owns.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running PostgreSQL cluster.
type Cluster struct {
	Dir    string // data folder
	Port   int
	bindir string
	runAs  string // "" or the user the server runs as
}

// BinDir finds the folder holding initdb and pg_ctl: PG_BINDIR, then
// `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("PostgreSQL server binaries not found: install them (apt-get install postgresql) or set DATABASE_URL")
}

// Start initialises the cluster in dir if it is empty and starts it on a free
// loopback port (or on port, when port is not 0). A cluster left running in dir
// by an earlier process is stopped first.
func Start(ctx context.Context, dir string, port int) (*Cluster, error) {
	bindir, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bindir: bindir}
	if os.Geteuid() == 0 {
		c.runAs = "postgres"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := c.chown(dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		if out, err := c.run(ctx, "initdb", "-D", dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
			return nil, fmt.Errorf("initdb: %w\n%s", err, out)
		}
	} else {
		// A server from an earlier run that was killed: stop it so the port and
		// the lock are ours again. An error here only means none was running.
		_, _ = c.run(ctx, "pg_ctl", "-D", dir, "stop", "-m", "immediate", "-w")
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	c.Port = port
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", c.Port, c.Dir)
	logFile := filepath.Join(c.Dir, "server.log")
	if out, err := c.run(ctx, "pg_ctl", "-D", c.Dir, "-l", logFile, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, tail(log, 2000))
	}
	return nil
}

// Restart stops the server (fast shutdown: open connections are cut, as in a
// crash or a failover), waits, and starts it again on the same port.
func (c *Cluster) Restart(ctx context.Context, down time.Duration) error {
	if err := c.Stop(); err != nil {
		return err
	}
	time.Sleep(down)
	return c.start(ctx)
}

// URL is the connection string for database name on this cluster.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

// CreateDatabase creates database name unless it exists and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	return CreateDatabase(ctx, c.URL("postgres"), name)
}

// Stop shuts the cluster down quickly; the data folder stays.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := c.run(ctx, "pg_ctl", "-D", c.Dir, "stop", "-m", "fast", "-w"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// CreateDatabase creates database name through the server at adminURL unless
// it exists, and returns the URL of the new database.
func CreateDatabase(ctx context.Context, adminURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		// CREATE DATABASE takes no parameters; the name is quoted as an identifier.
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", err
		}
	}
	cfg := conn.Config()
	u := fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), name)
	if cfg.Password != "" {
		u = fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", cfg.User, cfg.Password, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), name)
	}
	return u, nil
}

func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bindir, prog)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	// The server pg_ctl forks stays in this process group otherwise, and a
	// Ctrl-C on `deposits dev` would reach it before we stop it cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = c.Dir
	err := cmd.Run()
	return out.Bytes(), err
}

// chown gives dir and its parents' access to the user the server runs as.
func (c *Cluster) chown(dir string) error {
	if c.runAs == "" {
		return nil
	}
	u, err := user.Lookup(c.runAs)
	if err != nil {
		return fmt.Errorf("PostgreSQL refuses to run as root and there is no %q user to run it as: %w", c.runAs, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return err
	}
	// The server must be able to reach its folder through every parent.
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, st.Mode().Perm()|0o001); err != nil {
				return err
			}
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// ForTests gives a test package a database of its own: a new database on the
// server at DATABASE_URL when that is set, otherwise a fresh cluster in a
// temporary folder. stop removes what it started.
func ForTests(ctx context.Context, name string) (url string, stop func(), err error) {
	url, _, stop, err = ForTestsCluster(ctx, name)
	return url, stop, err
}

// ForTestsCluster is ForTests that also returns the cluster it started (nil
// when DATABASE_URL was used), for tests that restart the database.
func ForTestsCluster(ctx context.Context, name string) (url string, c *Cluster, stop func(), err error) {
	if admin := os.Getenv("DATABASE_URL"); admin != "" {
		name = fmt.Sprintf("%s_%d", name, time.Now().UnixNano())
		url, err := CreateDatabase(ctx, admin, name)
		return url, nil, func() {}, err
	}
	dir, err := os.MkdirTemp("", "depositflow-pg-")
	if err != nil {
		return "", nil, nil, err
	}
	c, err = Start(ctx, dir, 0)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, nil, err
	}
	url, err = c.CreateDatabase(ctx, name)
	return url, c, func() { _ = c.Stop(); os.RemoveAll(dir) }, err
}
